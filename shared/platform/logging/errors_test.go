package logging

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"syscall"
	"testing"

	"github.com/aws/smithy-go"
)

func TestDescribeKeepsValuesOut(t *testing.T) {
	signed := "https://market.aliyuncs.com/?AccessKeyId=LTAIsecret&Signature=abc%3D&InstanceId=1"
	tests := []struct {
		name    string
		err     error
		want    string
		secrets []string
	}{
		{
			name: "SES refusal naming the recipient",
			err: fmt.Errorf("send mail through SES: %w", &smithy.OperationError{ServiceID: "SES", OperationName: "SendEmail",
				Err: &smithy.GenericAPIError{Code: "MessageRejected", Message: "Email address is not verified: buyer@example.com"}}),
			want: "SES.SendEmail: MessageRejected", secrets: []string{"buyer@example.com"},
		},
		{
			name:    "network failure with a signed URL",
			err:     fmt.Errorf("market openapi: %w", &url.Error{Op: "Post", URL: signed, Err: &net.OpError{Op: "dial", Err: syscall.ECONNREFUSED}}),
			want:    "network Post: connection refused",
			secrets: []string{"LTAIsecret", "Signature"},
		},
		{
			name: "DynamoDB timeout inside an operation",
			err: &smithy.OperationError{ServiceID: "DynamoDB", OperationName: "GetItem",
				Err: &url.Error{Op: "Post", URL: "http://127.0.0.1:8000/", Err: context.DeadlineExceeded}},
			want: "DynamoDB.GetItem: network Post: timeout",
		},
		{name: "own error", err: errors.New("read instance 5604018: instance not found"), want: "read instance 5604018: instance not found"},
		{name: "none", err: nil, want: ""},
	}
	for _, tt := range tests {
		got := Describe(tt.err)
		if got != tt.want {
			t.Errorf("%s: %q, want %q", tt.name, got, tt.want)
		}
		for _, s := range tt.secrets {
			if strings.Contains(got, s) {
				t.Errorf("%s: %q leaks %q", tt.name, got, s)
			}
		}
	}
}
