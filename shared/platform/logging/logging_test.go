package logging

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"testing"
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
