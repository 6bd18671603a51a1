package function

// An HTTP function is a net/http handler run as a Lambda function behind
// an API Gateway HTTP API (payload format 2.0). The same handler serves
// tests and the local stack, so nothing about it is Lambda-only.

import (
	"context"
	"net/http"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/awslabs/aws-lambda-go-api-proxy/core"
	"github.com/awslabs/aws-lambda-go-api-proxy/httpadapter"

	"github.com/guance/aliyun-marketplace/shared/platform/logging"
)

// HTTPHandler adapts h to payload 2.0 events. Each request's context carries the
// Lambda request id, so its log lines can be found together.
func HTTPHandler(h http.Handler) func(context.Context, events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
	return httpadapter.NewV2(withRequestID(h)).ProxyWithContext
}

// StartHTTP serves h as the Lambda function's handler. It does not return.
func StartHTTP(h http.Handler) {
	lambda.Start(HTTPHandler(h))
}

// withRequestID puts both request ids in the request's context: Lambda's,
// which the platform's own log lines carry, and API Gateway's, which the
// access log carries.
func withRequestID(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		if lc, ok := core.GetRuntimeContextFromContextV2(ctx); ok && lc != nil && lc.AwsRequestID != "" {
			ctx = logging.WithRequestID(ctx, lc.AwsRequestID)
		}
		if gw, ok := core.GetAPIGatewayV2ContextFromContext(ctx); ok && gw.RequestID != "" {
			ctx = logging.WithAPIRequestID(ctx, gw.RequestID)
		}
		h.ServeHTTP(w, r.WithContext(ctx))
	})
}

// HTTP is the whole of an HTTP function's main: build the handler (see
// Make) and serve it behind the payload 2.0 adapter.
func HTTP(build Build[http.Handler]) {
	StartHTTP(Make(build))
}
