// Package logging sets up JSON logs (log/slog) that carry the request id and
// the trace id of the invocation they belong to, at the level the function's
// logging configuration sets.
package logging

import (
	"context"
	"io"
	"log/slog"
	"strings"

	"github.com/aws/aws-lambda-go/lambdacontext"
)

type requestIDKey struct{}

type apiRequestIDKey struct{}

// WithRequestID returns ctx carrying the Lambda request id that every log
// line written with it will show.
func WithRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, requestIDKey{}, id)
}

// WithAPIRequestID returns ctx carrying API Gateway's request id, the one
// its access log shows, so that access log lines and function log lines
// can be joined.
func WithAPIRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, apiRequestIDKey{}, id)
}

// RequestID returns the Lambda request id carried by ctx, or "".
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}

// APIRequestID returns API Gateway's request id carried by ctx, or "".
func APIRequestID(ctx context.Context) string {
	id, _ := ctx.Value(apiRequestIDKey{}).(string)
	return id
}

// New returns a JSON logger writing to w at level.
func New(w io.Writer, level slog.Leveler) *slog.Logger {
	return slog.New(requestIDHandler{slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level})})
}

// requestIDHandler adds the context's request ids to each record.
type requestIDHandler struct{ slog.Handler }

func (h requestIDHandler) Handle(ctx context.Context, r slog.Record) error {
	id := RequestID(ctx)
	if lc, ok := lambdacontext.FromContext(ctx); id == "" && ok {
		id = lc.AwsRequestID // a non-HTTP function's invocation
	}
	if id != "" {
		r.AddAttrs(slog.String("requestId", id))
	}
	if trace := TraceID(ctx); trace != "" {
		r.AddAttrs(slog.String("traceId", trace))
	}
	if id := APIRequestID(ctx); id != "" {
		r.AddAttrs(slog.String("apiRequestId", id))
	}
	return h.Handler.Handle(ctx, r)
}

func (h requestIDHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return requestIDHandler{h.Handler.WithAttrs(attrs)}
}

func (h requestIDHandler) WithGroup(name string) slog.Handler {
	return requestIDHandler{h.Handler.WithGroup(name)}
}

// traceIDKey is the key the Lambda runtime client (aws-lambda-go) puts an
// invocation's X-Ray trace header under in the handler's context.
const traceIDKey = "x-amzn-trace-id"

// TraceID returns the invocation's X-Ray trace header carried by ctx, or "".
func TraceID(ctx context.Context) string {
	id, _ := ctx.Value(traceIDKey).(string)
	return id
}

// Level is the level Lambda asks for in AWS_LAMBDA_LOG_LEVEL (set from the
// function's ApplicationLogLevel): lines below it would be dropped by
// Lambda anyway, so they are not even written. Empty or unknown: INFO.
func Level(name string) slog.Level {
	switch strings.ToUpper(name) {
	case "TRACE", "DEBUG":
		return slog.LevelDebug
	case "WARN":
		return slog.LevelWarn
	case "ERROR", "FATAL":
		return slog.LevelError
	}
	return slog.LevelInfo
}
