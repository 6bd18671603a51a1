// Package logging sets up JSON logs (log/slog) that carry the request id of
// the invocation they belong to.
package logging

import (
	"context"
	"io"
	"log/slog"
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
	if id := RequestID(ctx); id != "" {
		r.AddAttrs(slog.String("requestId", id))
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
