package logging

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/url"
	"syscall"

	"github.com/aws/smithy-go"
)

// Err is the log attribute for err: what failed, never the values an error
// from outside can carry. An AWS error is logged as its service, operation
// and code (SES's message can name the recipient; a DynamoDB validation
// message can quote a key); a network error as its operation and kind (a
// *url.Error holds the whole URL, and a signed URL holds an AccessKeyId and
// a signature). The product's own error texts never hold personal data, so
// they are logged as they are.
func Err(err error) slog.Attr { return slog.String("error", Describe(err)) }

// Describe is the text Err logs.
func Describe(err error) string {
	if err == nil {
		return ""
	}
	var api smithy.APIError
	var op *smithy.OperationError
	var uerr *url.Error
	prefix := ""
	if errors.As(err, &op) {
		prefix = op.Service() + "." + op.Operation() + ": "
	}
	switch {
	case errors.As(err, &api):
		return prefix + api.ErrorCode()
	case errors.As(err, &uerr):
		return prefix + "network " + uerr.Op + ": " + NetworkKind(uerr.Err)
	case errors.Is(err, context.DeadlineExceeded):
		return prefix + "timeout"
	case errors.Is(err, context.Canceled):
		return prefix + "canceled"
	case prefix != "":
		return prefix + "failed"
	}
	return err.Error()
}

// NetworkKind names a transport failure without its addresses.
func NetworkKind(err error) string {
	var nerr net.Error
	var dns *net.DNSError
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &nerr) && nerr.Timeout():
		return "timeout"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.ECONNRESET):
		return "connection reset"
	case errors.As(err, &dns):
		return "name not resolved"
	case errors.Is(err, context.Canceled):
		return "canceled"
	}
	return "transport error"
}
