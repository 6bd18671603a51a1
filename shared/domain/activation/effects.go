package activation

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// EffectsStore is what following a status move needs of the records.
type EffectsStore interface {
	Get(ctx context.Context, id string) (Instance, error)
	// ReleaseStep puts up to n of a released instance's workspaces back on
	// billing center settlement in one transaction. With the last of them
	// the same transaction takes the instance off its cloud account link
	// (the link goes with its last live instance), writes the notice to
	// the billing center account, and marks the effects done. done says
	// whether that last step happened.
	ReleaseStep(ctx context.Context, inst Instance, n int) (done bool, err error)
	// MarkWorkspace sets a workspace settled through the instance as
	// suspended or not, unless a later move (seq) marked it already.
	MarkWorkspace(ctx context.Context, workspaceID, instanceID string, suspended bool, seq int) error
	// EffectsDone takes the instance off the effectsDue index, unless a
	// later move flagged it again (EffectsSeq changed).
	EffectsDone(ctx context.Context, inst Instance) error
}

// ReleaseChunk is how many workspaces one release transaction puts back:
// DynamoDB takes 100 items a transaction, each workspace comes with its
// event on the trail, and the last one also holds the instance, the link,
// the notice and their events.
const ReleaseChunk = 45

// Effects carries an instance's status move over to what depends on it:
//
//   - released: every workspace settled through it goes back to billing
//     center settlement (in chunks, the last one atomic with the rest), the
//     cloud account link loses it (and goes when it was the last live
//     instance), the billing center account is mailed (through the outbox);
//   - frozen: its workspaces are suspended for arrears, data kept;
//   - active again (renewed, resumed): they are restored.
//
// The move itself flagged the instance (Instance.Effects) in the write
// that made it, so work cut short by a crash or a deadline is found and
// finished by the next call or by the reconciliation; every step is a
// conditional write that a repeat turns into a no-op.
type Effects struct {
	Store EffectsStore
	Log   *slog.Logger
	// Concurrency bounds the workspace writes in flight (default 8).
	Concurrency int
	// Margin is the time kept before ctx's deadline: work that would run
	// past it is left to the next pass (default 2 s).
	Margin time.Duration
}

// Follow carries out the instance's due effects, as far as time allows.
// An instance with nothing due costs one read.
func (e *Effects) Follow(ctx context.Context, id string) error {
	for range 1000 { // a bound, far above any instance's number of steps
		if e.late(ctx) {
			e.Log.InfoContext(ctx, "effects left for the reconciliation: out of time", "instanceId", id)
			return nil
		}
		inst, err := e.Store.Get(ctx, id)
		if err != nil {
			return fmt.Errorf("read instance %s: %w", id, err)
		}
		if inst.Effects != EffectsDue {
			return nil
		}
		if inst.Status == StatusReleased {
			done, err := e.Store.ReleaseStep(ctx, inst, ReleaseChunk)
			if err != nil {
				return fmt.Errorf("release the workspaces of instance %s: %w", id, err)
			}
			if done {
				e.Log.InfoContext(ctx, "instance released: workspaces back on billing center settlement", "instanceId", id, "workspaces", inst.ReleasedWorkspaces+len(inst.Workspaces))
				return nil
			}
			continue
		}
		if err := e.markWorkspaces(ctx, inst); err != nil {
			return err
		}
		if inst.DisputedAction != "" {
			// Only the marketplace can settle a dispute; the
			// reconciliation asks it, and the flag stays until then.
			return nil
		}
		if err := e.Store.EffectsDone(ctx, inst); err != nil {
			return fmt.Errorf("finish the effects of instance %s: %w", id, err)
		}
		// Read again: a later move may have flagged it meanwhile.
	}
	return fmt.Errorf("effects of instance %s: too many steps", id)
}

// markWorkspaces suspends (frozen) or restores (active) the instance's
// workspaces, several at a time.
func (e *Effects) markWorkspaces(ctx context.Context, inst Instance) error {
	suspended := inst.Status == StatusFrozen
	limit := e.Concurrency
	if limit <= 0 {
		limit = 8
	}
	sem := make(chan struct{}, limit)
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
	)
	for _, ws := range inst.Workspaces {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			if err := e.Store.MarkWorkspace(ctx, ws, inst.ID, suspended, inst.EffectsSeq); err != nil {
				mu.Lock()
				if firstErr == nil {
					firstErr = fmt.Errorf("mark workspace %s of instance %s: %w", ws, inst.ID, err)
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return firstErr
}

func (e *Effects) late(ctx context.Context) bool {
	deadline, ok := ctx.Deadline()
	if !ok {
		return ctx.Err() != nil
	}
	margin := e.Margin
	if margin <= 0 {
		margin = 2 * time.Second
	}
	return time.Until(deadline) < margin
}
