// Package runner is the skeleton every scheduled job's run shares: the
// lease that keeps two runs apart, the time a run has left, the waits it
// makes while the marketplace throttles, and work done a few at a time.
package runner

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"sync"
	"time"

	"github.com/guance/aliyun-marketplace/shared/domain/marketplace"
)

// ErrOutOfTime stops a run cleanly: what it did stands, and the next run
// takes up the rest.
var ErrOutOfTime = errors.New("run: out of time")

// Leases keep two runs of a job apart (the instances table's lease items).
type Leases interface {
	// Acquire takes the lease for holder until until, unless another
	// holder has it and it has not expired (ok false); cursor is what the
	// last holder left.
	Acquire(ctx context.Context, name, holder string, now, until time.Time) (cursor string, ok bool, err error)
	// Release gives it back, leaving cursor for the next holder.
	Release(ctx context.Context, name, holder, cursor string) error
}

// Under runs do under the lease name, or skips (with no error) when
// another run holds it. do gets the cursor the last run left and returns
// the next run's. The lease goes back even when ctx is spent, and its
// failure is joined to do's.
func Under(ctx context.Context, leases Leases, name string, now time.Time, do func(cursor string) (next string, err error)) (skipped bool, err error) {
	holder := NewHolder()
	cursor, ok, err := leases.Acquire(ctx, name, holder, now, LeaseUntil(ctx, now))
	if err != nil || !ok {
		return err == nil, err
	}
	next, err := do(cursor)
	if rerr := leases.Release(context.WithoutCancel(ctx), name, holder, next); rerr != nil {
		err = errors.Join(err, rerr)
	}
	return false, err
}

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

// Pacing is how a run spends its time. Zero fields take the defaults.
type Pacing struct {
	// Margin is kept before the run's deadline, to stop cleanly and give
	// the lease back (default 10 s).
	Margin time.Duration
	// Backoff is the first wait after the marketplace throttles; it
	// doubles, up to MaxBackoff (defaults 200 ms and 5 s).
	Backoff, MaxBackoff time.Duration
	// Sleep waits (tests replace it); default Wait.
	Sleep func(ctx context.Context, d time.Duration) error
}

func (p Pacing) margin() time.Duration { return or(p.Margin, 10*time.Second) }

func or(d, fallback time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return fallback
}

// Late reports whether the run must stop now to end cleanly.
func (p Pacing) Late(ctx context.Context) bool {
	if ctx.Err() != nil {
		return true
	}
	deadline, ok := ctx.Deadline()
	return ok && time.Until(deadline) < p.margin()
}

// Pause waits d, unless the run would be late after it (or ctx ends):
// ErrOutOfTime then.
func (p Pacing) Pause(ctx context.Context, d time.Duration) error {
	if deadline, ok := ctx.Deadline(); ok && time.Until(deadline) < p.margin()+d {
		return ErrOutOfTime
	}
	sleep := p.Sleep
	if sleep == nil {
		sleep = Wait
	}
	if err := sleep(ctx, d); err != nil {
		return ErrOutOfTime
	}
	return nil
}

// Waits returns the waits of one throttled call in turn: Backoff,
// doubling, at most MaxBackoff.
func (p Pacing) Waits() func() time.Duration {
	next, limit := or(p.Backoff, 200*time.Millisecond), or(p.MaxBackoff, 5*time.Second)
	return func() time.Duration {
		d := next
		next = min(next*2, limit)
		return d
	}
}

// WhileThrottled makes call, and again after a growing wait while the
// marketplace throttles it (marketplace.ErrThrottled), for as long as the
// run has time (ErrOutOfTime when it has not). throttled is told of each
// throttled answer.
func (p Pacing) WhileThrottled(ctx context.Context, call func() error, throttled func()) error {
	waits := p.Waits()
	for {
		err := call()
		if !errors.Is(err, marketplace.ErrThrottled) {
			return err
		}
		throttled()
		if err := p.Pause(ctx, waits()); err != nil {
			return err
		}
	}
}

// Parallel runs work on items, n at a time, in order. It stops handing
// out items once more says no or work returns an error, waits for those
// under way, and returns the first error. work handles what it can
// itself; an error it returns stops the lot.
func Parallel[T any](n int, items []T, more func() bool, work func(T) error) error {
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
	)
	failed := func() bool {
		mu.Lock()
		defer mu.Unlock()
		return first != nil
	}
	feed := make(chan T)
	for range max(n, 1) {
		wg.Go(func() {
			for item := range feed {
				if err := work(item); err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
				}
			}
		})
	}
	for _, item := range items {
		if failed() || !more() {
			break
		}
		feed <- item
	}
	close(feed)
	wg.Wait()
	return first
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
