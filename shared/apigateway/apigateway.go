// Package apigateway runs a net/http handler as a Lambda function behind an
// API Gateway HTTP API (payload format 2.0). The same handler serves tests
// and the local stack, so nothing about it is Lambda-only.
package apigateway

import (
	"context"
	"log/slog"
	"net/http"
	"os"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/awslabs/aws-lambda-go-api-proxy/core"
	"github.com/awslabs/aws-lambda-go-api-proxy/httpadapter"

	"github.com/guance/aliyun-marketplace/shared/logging"
)

// Handler adapts h to payload 2.0 events. Each request's context carries the
// Lambda request id, so its log lines can be found together.
func Handler(h http.Handler) func(context.Context, events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
	return httpadapter.NewV2(withRequestID(h)).ProxyWithContext
}

// Start serves h as the Lambda function's handler. It does not return.
func Start(h http.Handler) {
	lambda.Start(Handler(h))
}

func withRequestID(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := ""
		if lc, ok := core.GetRuntimeContextFromContextV2(r.Context()); ok && lc != nil {
			id = lc.AwsRequestID
		}
		if id == "" {
			if gw, ok := core.GetAPIGatewayV2ContextFromContext(r.Context()); ok {
				id = gw.RequestID
			}
		}
		if id != "" {
			r = r.WithContext(logging.WithRequestID(r.Context(), id))
		}
		h.ServeHTTP(w, r)
	})
}

// Main is the whole of a function's main: JSON logs on standard output,
// build the handler from configuration (at cold start), then serve. A
// function that cannot be built logs why and exits, and Lambda reports the
// failed init.
func Main(build func(ctx context.Context, log *slog.Logger) (http.Handler, error)) {
	log := logging.New(os.Stdout, slog.LevelInfo)
	handler, err := build(context.Background(), log)
	if err != nil {
		log.Error("cannot start", "error", err.Error())
		os.Exit(1)
	}
	Start(handler)
}
