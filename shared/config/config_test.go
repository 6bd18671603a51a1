package config

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/aws-sdk-go-v2/service/ssm/types"
)

type fakeSSM struct {
	calls int
	in    *ssm.GetParameterInput
	value string
	err   error
}

func (f *fakeSSM) GetParameter(_ context.Context, in *ssm.GetParameterInput, _ ...func(*ssm.Options)) (*ssm.GetParameterOutput, error) {
	f.calls++
	f.in = in
	if f.err != nil {
		return nil, f.err
	}
	return &ssm.GetParameterOutput{Parameter: &types.Parameter{Value: aws.String(f.value)}}, nil
}

func TestSecret(t *testing.T) {
	tests := []struct {
		name      string
		direct    string
		parameter string
		ssm       *fakeSSM
		want      string
		wantErr   string
		wantCalls int
	}{
		{name: "variable wins, no SSM call", direct: "k1", parameter: "/p", ssm: &fakeSSM{value: "k2"}, want: "k1"},
		{name: "from Parameter Store", parameter: "/app/isv-key", ssm: &fakeSSM{value: "k2"}, want: "k2", wantCalls: 1},
		{name: "neither set", ssm: &fakeSSM{}, wantErr: "set TEST_SECRET or TEST_SECRET_PARAMETER"},
		{name: "SSM fails", parameter: "/p", ssm: &fakeSSM{err: errors.New("AccessDenied")}, wantErr: "read parameter /p: AccessDenied", wantCalls: 1},
		{name: "empty parameter", parameter: "/p", ssm: &fakeSSM{value: ""}, wantErr: "parameter /p is empty", wantCalls: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("TEST_SECRET", tt.direct)
			t.Setenv("TEST_SECRET_PARAMETER", tt.parameter)
			got, err := Secret(context.Background(), func() ParameterReader { return tt.ssm }, "TEST_SECRET")
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				if strings.Contains(err.Error(), "k2") {
					t.Fatal("error shows the secret")
				}
			} else if err != nil || got != tt.want {
				t.Fatalf("got %q, %v; want %q", got, err, tt.want)
			}
			if tt.ssm.calls != tt.wantCalls {
				t.Fatalf("%d SSM calls, want %d", tt.ssm.calls, tt.wantCalls)
			}
			if tt.ssm.in != nil && !aws.ToBool(tt.ssm.in.WithDecryption) {
				t.Fatal("SecureString read without decryption")
			}
		})
	}
}

func TestDurationAndBool(t *testing.T) {
	t.Setenv("D", "")
	if d, err := Duration("D", 5*time.Minute); err != nil || d != 5*time.Minute {
		t.Fatal(d, err)
	}
	t.Setenv("D", "90s")
	if d, err := Duration("D", 0); err != nil || d != 90*time.Second {
		t.Fatal(d, err)
	}
	for _, bad := range []string{"5", "-1m", "soon"} {
		t.Setenv("D", bad)
		if _, err := Duration("D", 0); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	t.Setenv("B", "")
	if b, err := Bool("B", true); err != nil || !b {
		t.Fatal(b, err)
	}
	t.Setenv("B", "false")
	if b, err := Bool("B", true); err != nil || b {
		t.Fatal(b, err)
	}
	t.Setenv("B", "yes")
	if _, err := Bool("B", true); err == nil {
		t.Fatal("yes accepted")
	}
}
