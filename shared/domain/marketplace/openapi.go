package marketplace

import (
	"errors"
	"fmt"
	"strings"
)

// What a Market OpenAPI call came to, as the jobs that make them decide on
// it: the adapter that calls the OpenAPI returns these, and the jobs need
// not know it.

var (
	// ErrNotSent marks a failed call that never reached the OpenAPI (no
	// connection was made, no client could be built): it certainly did
	// nothing, and may be made again.
	ErrNotSent = errors.New("the request was not sent")
	// ErrThrottled marks the OpenAPI's flow control: the call did
	// nothing; wait, then make it again.
	ErrThrottled = errors.New("the marketplace asks to slow down")
)

// The OpenAPI's error codes the product acts on.
const (
	// CodeFlowControl is the OpenAPI's throttling.
	CodeFlowControl = "Service.Flow.Control"
	// CodePermissionDenied is PushMeteringData's refusal of the caller,
	// for example a RAM sub-account's AccessKey, which it never accepts.
	CodePermissionDenied = "Permission.Denied"
	// CodeInvalidMetering refuses a call's Metering (one bad record
	// refuses the whole call).
	CodeInvalidMetering = "Invalid.Parameter.Metering"
)

// APIError is an answer of the OpenAPI that refuses a call.
type APIError struct {
	Action    string
	Status    int
	Code      string
	Message   string
	RequestID string
}

// Error names the action, status, code and request id, not the message:
// the OpenAPI's messages can quote the string it signed, AccessKeyId
// included (SignatureDoesNotMatch), and errors end up in logs.
func (e *APIError) Error() string {
	return fmt.Sprintf("market openapi %s: %d %s (request %s)", e.Action, e.Status, e.Code, e.RequestID)
}

// Is makes a throttling answer ErrThrottled.
func (e *APIError) Is(target error) bool {
	return target == ErrThrottled && (e.Code == CodeFlowControl || strings.HasPrefix(e.Code, "Throttling"))
}

// Refused reports whether err is the OpenAPI refusing the call outright
// (an answer below 500 other than flow control): the call did nothing,
// and the same call would be refused again.
func Refused(err error) (*APIError, bool) {
	var api *APIError
	if errors.As(err, &api) && api.Status < 500 && !errors.Is(err, ErrThrottled) {
		return api, true
	}
	return nil, false
}

// Sent reports whether a failed call may have reached the OpenAPI: an
// answer came, or the failure came after a connection was made (a
// timeout waiting for the answer).
func Sent(err error) bool { return !errors.Is(err, ErrNotSent) }
