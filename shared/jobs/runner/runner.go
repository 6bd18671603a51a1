// Package runner is what every scheduled job's run shares: the lease that
// keeps two runs apart, the time a run has left, and the waits it makes
// while the marketplace throttles.
package runner

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"time"
)

// NewHolder is a fresh lease holder token: a run's own.
func NewHolder() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b) // never fails on supported platforms (crypto/rand)
	return hex.EncodeToString(b)
}

// LeaseUntil is until when a scheduled run started at now holds its lease
// if it dies without giving it back: its invocation's deadline and a
// second (no run of it can still be going then), or 15 minutes (Lambda's
// longest) without a deadline.
func LeaseUntil(ctx context.Context, now time.Time) time.Time {
	if deadline, ok := ctx.Deadline(); ok {
		return now.Add(time.Until(deadline) + time.Second) // on the caller's clock
	}
	return now.Add(15 * time.Minute)
}

// Wait waits d, or less if ctx ends first (its error then).
func Wait(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
