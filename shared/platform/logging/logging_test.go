package logging

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"testing"

	"github.com/aws/aws-lambda-go/lambdacontext"
)

func TestRequestIDOnEveryLine(t *testing.T) {
	var buf bytes.Buffer
	log := New(&buf, slog.LevelInfo).With("fn", "spi")
	log.InfoContext(WithRequestID(context.Background(), "req-1"), "hello", "n", 1)
	log.DebugContext(context.Background(), "hidden")
	log.InfoContext(context.Background(), "no id")

	lines := bytes.Split(bytes.TrimSpace(buf.Bytes()), []byte("\n"))
	if len(lines) != 2 {
		t.Fatalf("got %d lines: %s", len(lines), buf.String())
	}
	var first, second map[string]any
	if err := json.Unmarshal(lines[0], &first); err != nil {
		t.Fatal(err)
	}
	_ = json.Unmarshal(lines[1], &second)
	if first["requestId"] != "req-1" || first["fn"] != "spi" || first["msg"] != "hello" {
		t.Errorf("first line %v", first)
	}
	if _, ok := second["requestId"]; ok {
		t.Errorf("second line has a request id: %v", second)
	}
}

// TestInvocationIDs: a non-HTTP invocation's lines carry Lambda's request
// id from the invocation's context, and every line its trace id.
func TestInvocationIDs(t *testing.T) {
	var buf bytes.Buffer
	ctx := lambdacontext.NewContext(context.Background(), &lambdacontext.LambdaContext{AwsRequestID: "inv-1"})
	//lint:ignore SA1029 the key aws-lambda-go's runtime client puts the trace header under
	ctx = context.WithValue(ctx, traceIDKey, "Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1")
	New(&buf, slog.LevelInfo).InfoContext(ctx, "run")
	var line map[string]any
	if err := json.Unmarshal(buf.Bytes(), &line); err != nil {
		t.Fatal(err)
	}
	if line["requestId"] != "inv-1" || line["traceId"] != "Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1" {
		t.Fatalf("line %v", line)
	}
}

func TestLevel(t *testing.T) {
	for name, want := range map[string]slog.Level{"": slog.LevelInfo, "INFO": slog.LevelInfo, "TRACE": slog.LevelDebug, "debug": slog.LevelDebug,
		"WARN": slog.LevelWarn, "ERROR": slog.LevelError, "FATAL": slog.LevelError, "loud": slog.LevelInfo} {
		if got := Level(name); got != want {
			t.Errorf("Level(%q) = %v, want %v", name, got, want)
		}
	}
}
