package runner

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestWait: a wait ends when its time is up, or early with the context's
// error when the context ends first.
func TestWait(t *testing.T) {
	if err := Wait(context.Background(), time.Millisecond); err != nil {
		t.Fatalf("a wait that ran out: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := Wait(ctx, time.Hour); !errors.Is(err, context.Canceled) {
		t.Fatalf("a wait whose context ended: %v", err)
	}
}

func TestLeaseUntil(t *testing.T) {
	now := time.Now()
	if got := LeaseUntil(context.Background(), now); got.Sub(now) != 15*time.Minute {
		t.Fatalf("without a deadline: %v", got.Sub(now))
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if got := LeaseUntil(ctx, now).Sub(now); got < time.Minute || got > time.Minute+2*time.Second {
		t.Fatalf("with a deadline a minute away: %v", got)
	}
	if a, b := NewHolder(), NewHolder(); a == b || len(a) != 16 {
		t.Fatalf("holders %q %q", a, b)
	}
}
