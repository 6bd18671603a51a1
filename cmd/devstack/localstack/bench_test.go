package localstack_test

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"
)

var initDuration = regexp.MustCompile(`Init Duration: ([0-9.]+) ms`)

// BenchmarkColdStart starts a fresh emulator process for each invocation:
// ms/cold-invoke is process start to answer (what a first request waits
// for locally), init-ms is the emulator's own Init Duration.
func BenchmarkColdStart(b *testing.B) {
	setup(b)
	dynamoURL := startDynamoDBB(b)
	event, err := os.ReadFile(filepath.Join(stack.root, "events", "expired-instance.json"))
	if err != nil {
		b.Fatal(err)
	}
	var total time.Duration
	var inits float64
	for b.Loop() {
		start := time.Now()
		pool := newPoolB(b, dynamoURL, 1)
		res, err := pool.Invoke(context.Background(), event)
		if err != nil {
			b.Fatal(err)
		}
		total += time.Since(start)
		if m := initDuration.FindStringSubmatch(res.Report); m != nil {
			v, _ := strconv.ParseFloat(m[1], 64)
			inits += v
		}
		pool.Close()
	}
	b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "ms/cold-invoke")
	b.ReportMetric(inits/float64(b.N), "init-ms")
}

// BenchmarkWarmInvoke reuses one emulator process, as Lambda reuses a warm
// execution environment.
func BenchmarkWarmInvoke(b *testing.B) {
	setup(b)
	pool := newPoolB(b, startDynamoDBB(b), 1)
	event, err := os.ReadFile(filepath.Join(stack.root, "events", "create-instance.json"))
	if err != nil {
		b.Fatal(err)
	}
	if _, err := pool.Invoke(context.Background(), event); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := pool.Invoke(context.Background(), event); err != nil {
			b.Fatal(err)
		}
	}
}
