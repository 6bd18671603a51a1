// Package reconcile is the scheduled reconciliation: it finishes what the
// request paths could not (a status move's effects cut short, a dispute
// the marketplace could not settle at once), asks the marketplace about
// activations left pending, compares live instances with what the
// marketplace says of them (a lifecycle call that never reached us),
// applies the messages the marketplace failed to deliver, and sends the
// mails still waiting in the outbox.
//
// A run is bounded in time, holds a lease so that two never overlap, and
// never stops for one bad item: it counts it and goes on. What a run
// leaves, the next one takes up from where it stopped.
package reconcile

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/guance/aliyun-marketplace/shared/domain/activation"
	"github.com/guance/aliyun-marketplace/shared/domain/marketplace"
	"github.com/guance/aliyun-marketplace/shared/domain/outbox"
	"github.com/guance/aliyun-marketplace/shared/jobs/runner"
	"github.com/guance/aliyun-marketplace/shared/platform/logging"
	"github.com/guance/aliyun-marketplace/shared/platform/metrics"
)

// Queue is the work list and the lease, in the instances table.
type Queue interface {
	runner.Leases
	PendingDue(ctx context.Context, now time.Time, after string, limit int) ([]activation.Instance, string, error)
	EffectsDue(ctx context.Context, before time.Time, after string, limit int) ([]string, string, error)
	Recheck(ctx context.Context, id string, at time.Time) (bool, error)
	Abandon(ctx context.Context, id string, at time.Time) (bool, error)
	AuditDue(ctx context.Context, now time.Time, limit int) ([]string, error)
	Reaudit(ctx context.Context, id string, next time.Time, done bool) error
}

// Instances reads one instance, consistently.
type Instances interface {
	Get(ctx context.Context, id string) (activation.Instance, error)
}

// Market is the Market OpenAPI.
type Market interface {
	Describe(ctx context.Context, id string) (activation.MarketInstance, error)
	FailedNotifications(ctx context.Context, page, size int) ([]marketplace.FailedNotification, int, error)
	ConfirmNotification(ctx context.Context, id string) error
}

// Domain applies the marketplace's word and its failed notifications
// (activation.Service).
type Domain interface {
	MarketSays(ctx context.Context, inst activation.Instance, status activation.MarketStatus) (activation.Outcome, error)
	MarketHolds(ctx context.Context, inst activation.Instance, market activation.MarketInstance) (activation.Outcome, error)
	ApplyNotification(ctx context.Context, n marketplace.FailedNotification) (activation.Outcome, error)
}

// Follower carries out an instance's due effects (activation.Effects).
type Follower interface {
	Follow(ctx context.Context, id string) error
}

// Outbox delivers what is due (outbox.Deliverer).
type Outbox interface {
	Sweep(ctx context.Context, limit int) (outbox.Result, error)
}

// Steps of a run, in order.
const (
	StepEffects       = "effects"
	StepPending       = "pending"
	StepAudit         = "audit"
	StepNotifications = "notifications"
	StepOutbox        = "outbox"
)

var steps = []string{StepOutbox, StepEffects, StepPending, StepAudit, StepNotifications}

// Defaults.
const (
	// DefaultCheckEvery is how long a pending activation waits between
	// two questions to the marketplace.
	DefaultCheckEvery = 6 * time.Hour
	// DefaultAbandonAfter is the age at which a pending activation is
	// given up (and counted).
	DefaultAbandonAfter = 7 * 24 * time.Hour
	// DefaultEffectsGrace leaves fresh moves to the call that made them.
	DefaultEffectsGrace = time.Minute
	// DefaultAuditPerRun bounds the live instances a run compares with
	// the marketplace (one DescribeInstanceForIsv each).
	DefaultAuditPerRun = 50
	// DefaultConcurrency is how many pending activations are checked at
	// once.
	DefaultConcurrency = 8
	// DefaultOutboxLimit bounds the mails one run tries.
	DefaultOutboxLimit = 200
	leaseName          = "reconcile"
	pageSize           = 100
	// pendingPage is larger: a page is checked in parallel.
	pendingPage = 500
)

// Reconciler runs the reconciliation.
type Reconciler struct {
	Queue     Queue
	Instances Instances
	Market    Market
	Domain    Domain
	Effects   Follower
	Outbox    Outbox

	// Settings pace the run; zero fields take their defaults
	// (Settings.withDefaults).
	Settings
	// Pacing is the margin kept before the deadline and the waits while
	// the OpenAPI throttles (runner.Pacing's defaults).
	Pacing runner.Pacing

	Now     func() time.Time
	Log     *slog.Logger
	Metrics *metrics.Recorder
}

// Tally counts what one step did.
type Tally struct {
	Examined  int `json:"examined"`
	Changed   int `json:"changed"`
	Failed    int `json:"failed"`
	Abandoned int `json:"abandoned,omitempty"`
	Dead      int `json:"dead,omitempty"`
	// Skipped are failed notifications of another product, left listed.
	Skipped int `json:"skipped,omitempty"`
}

// Summary is what a run did.
type Summary struct {
	// Skipped: another run holds the lease.
	Skipped bool             `json:"skipped,omitempty"`
	Steps   map[string]Tally `json:"steps"`
	// Finished is false when the run stopped for time; Resume says where
	// the next one starts.
	Finished bool   `json:"finished"`
	Resume   string `json:"resume,omitempty"`
	TookMs   int64  `json:"tookMs"`
	// MarketCalls counts the OpenAPI calls, Throttled those it refused
	// for flow control (each is tried again after a wait).
	MarketCalls int `json:"marketCalls"`
	Throttled   int `json:"throttled,omitempty"`
}

// cursor is where the next run starts: the step after the one a run ran
// out of time in. No position inside a step is kept: what a step did has
// left its index or list (a pending activation's next check is later, a
// carried-out effect is off the index, a confirmed notification is off
// the list), so starting the step over loses nothing.
type cursor struct {
	Step string `json:"step"`
}

// run is one run's state.
type run struct {
	*Reconciler
	// Settings are the Reconciler's with their defaults.
	Settings
	mu      sync.Mutex // the summary's counts, from the workers
	summary Summary
	stopAt  cursor
}

// Run runs the reconciliation once.
func (r *Reconciler) Run(ctx context.Context) (Summary, error) {
	start := r.Now()
	x := &run{Reconciler: r, summary: Summary{Steps: map[string]Tally{}}}
	x.Settings = r.Settings.withDefaults()
	for _, step := range steps {
		x.summary.Steps[step] = Tally{}
	}
	skipped, err := runner.Under(ctx, r.Queue, leaseName, start, func(saved string) (string, error) {
		var from cursor
		_ = json.Unmarshal([]byte(saved), &from) // an unreadable cursor starts over
		err := x.steps(ctx, from)
		if errors.Is(err, runner.ErrOutOfTime) {
			b, _ := json.Marshal(x.stopAt)
			x.summary.Resume = string(b)
			return x.summary.Resume, nil
		}
		x.summary.Finished = err == nil
		return "", err
	})
	if skipped {
		r.Log.InfoContext(ctx, "reconciliation skipped: another run holds the lease")
		return Summary{Skipped: true}, nil
	}
	x.summary.TookMs = r.Now().Sub(start).Milliseconds()
	x.report(ctx)
	return x.summary, err
}

// steps runs every step once, from the one a cursor names.
func (x *run) steps(ctx context.Context, from cursor) error {
	// The outbox first, every run: it needs no OpenAPI, so a marketplace
	// that throttles never holds up the mails.
	if err := x.runStep(ctx, StepOutbox); err != nil {
		x.stopAt = from
		return err
	}
	rotation := []string{StepEffects, StepPending, StepAudit, StepNotifications}
	first := 0
	for i, s := range rotation {
		if s == from.Step {
			first = i
		}
	}
	for i := range rotation {
		step := rotation[(first+i)%len(rotation)]
		if err := x.runStep(ctx, step); err != nil {
			// The next run starts with the next step, so that a step
			// that keeps running out of time (the OpenAPI throttling)
			// never starves the others; the one cut short lost nothing
			// (what it did left its window) and comes round again.
			x.stopAt = cursor{Step: rotation[(first+i+1)%len(rotation)]}
			return err
		}
	}
	return nil
}

// runStep runs one step. Only running out of time is returned: a step
// that cannot even list its work (the table or the OpenAPI down) is
// logged and counted, and the others still run.
func (x *run) runStep(ctx context.Context, step string) error {
	var err error
	switch step {
	case StepEffects:
		err = x.effects(ctx)
	case StepPending:
		err = x.pending(ctx)
	case StepAudit:
		err = x.audit(ctx)
	case StepNotifications:
		err = x.notifications(ctx)
	case StepOutbox:
		err = x.outbox(ctx)
	}
	if err == nil || errors.Is(err, runner.ErrOutOfTime) {
		return err
	}
	x.Log.ErrorContext(ctx, "reconciliation step failed", "step", step, logging.Err(err))
	x.Metrics.Count("ReconcileStepsFailed", nil)
	x.tally(step, func(t *Tally) { t.Failed++ })
	return nil
}

// late reports whether the run must stop now to end cleanly.
func (x *run) late(ctx context.Context) bool { return x.Pacing.Late(ctx) }

func (x *run) tally(step string, f func(*Tally)) {
	x.mu.Lock()
	defer x.mu.Unlock()
	t := x.summary.Steps[step]
	f(&t)
	x.summary.Steps[step] = t
}

// effects finishes the moves whose effects are due, settling disputes
// with the marketplace first.
func (x *run) effects(ctx context.Context) error {
	before := x.Now().Add(-x.EffectsGrace)
	after := ""
	for {
		if x.late(ctx) {
			return runner.ErrOutOfTime
		}
		ids, next, err := x.Queue.EffectsDue(ctx, before, after, pageSize)
		if err != nil {
			return err
		}
		for _, id := range ids {
			if x.late(ctx) {
				return runner.ErrOutOfTime
			}
			x.tally(StepEffects, func(t *Tally) { t.Examined++ })
			changed, err := x.effectsOf(ctx, id)
			switch {
			case errors.Is(err, runner.ErrOutOfTime):
				return err
			case err != nil:
				x.Log.WarnContext(ctx, "effects not carried out", "instanceId", id, logging.Err(err))
				x.tally(StepEffects, func(t *Tally) { t.Failed++ })
			case changed:
				x.tally(StepEffects, func(t *Tally) { t.Changed++ })
			}
		}
		if next == "" {
			return nil
		}
		after = next
	}
}

func (x *run) effectsOf(ctx context.Context, id string) (bool, error) {
	inst, err := x.Instances.Get(ctx, id)
	if err != nil {
		return false, err
	}
	if inst.DisputedAction != "" && inst.Status != activation.StatusReleased {
		if x.fresh(inst.DisputedAt) {
			// The record may not show the disputed call yet: asked at a
			// later run (the instance stays due).
			return false, nil
		}
		market, err := x.ask(ctx, id)
		if err != nil {
			return false, err
		}
		if _, err := x.Domain.MarketSays(ctx, inst, market.Status); err != nil {
			return false, err
		}
		return true, nil // MarketSays followed the effects
	}
	if err := x.Effects.Follow(ctx, id); err != nil {
		return false, err
	}
	return true, nil
}

// pending asks the marketplace about each pending activation whose check
// is due, and gives up those past AbandonAfter. A page's activations are
// checked Concurrency at a time (the OpenAPI's flow control slows them
// down when it must).
func (x *run) pending(ctx context.Context) error {
	now := x.Now()
	after := ""
	for {
		if x.late(ctx) {
			return runner.ErrOutOfTime
		}
		list, next, err := x.Queue.PendingDue(ctx, now, after, pendingPage)
		if err != nil {
			return err
		}
		more := func() bool {
			if x.late(ctx) {
				return false
			}
			x.tally(StepPending, func(t *Tally) { t.Examined++ })
			return true
		}
		err = runner.Parallel(x.Concurrency, list, more, func(inst activation.Instance) error {
			err := x.check(ctx, inst, now)
			if err == nil || errors.Is(err, runner.ErrOutOfTime) {
				return err
			}
			x.Log.WarnContext(ctx, "pending activation not checked", "instanceId", inst.ID, logging.Err(err))
			x.tally(StepPending, func(t *Tally) { t.Failed++ })
			// Asked again after the usual wait, not at once.
			_, err = x.Queue.Recheck(ctx, inst.ID, now.Add(x.CheckEvery))
			return err
		})
		switch {
		case err != nil:
			return err
		case x.late(ctx):
			return runner.ErrOutOfTime
		case next == "":
			return nil
		}
		after = next
	}
}

// fresh tells whether at is within AuditGrace: the marketplace's record
// may not show what happened then yet, and must not undo it.
func (x *run) fresh(at time.Time) bool {
	return !at.IsZero() && at.Add(x.AuditGrace).After(x.Now())
}

// check handles one pending activation.
func (x *run) check(ctx context.Context, inst activation.Instance, now time.Time) error {
	if x.fresh(inst.LastMoveAt()) {
		// Moved moments ago: asked once the record surely shows it.
		_, err := x.Queue.Recheck(ctx, inst.ID, inst.LastMoveAt().Add(x.AuditGrace).Truncate(time.Second).Add(time.Second))
		return err
	}
	market, err := x.ask(ctx, inst.ID)
	if err != nil {
		return err
	}
	status := market.Status
	outcome, err := x.Domain.MarketSays(ctx, inst, status)
	if err != nil {
		return err
	}
	if outcome == activation.Applied {
		x.tally(StepPending, func(t *Tally) { t.Changed++ })
		x.Log.InfoContext(ctx, "pending activation brought in line with the marketplace", "instanceId", inst.ID, "marketStatus", status)
	}
	if status != activation.MarketClosed && now.Sub(inst.CreatedAt) > x.AbandonAfter {
		abandoned, err := x.Queue.Abandon(ctx, inst.ID, now)
		if err != nil {
			return err
		}
		if abandoned {
			x.Log.WarnContext(ctx, "pending activation abandoned", "instanceId", inst.ID, "age", now.Sub(inst.CreatedAt).Round(time.Hour).String())
			x.tally(StepPending, func(t *Tally) { t.Abandoned++ })
			x.Metrics.Count("ActivationsAbandoned", nil)
		}
		return nil
	}
	// A released one is no longer pending: the recheck finds nothing.
	_, err = x.Queue.Recheck(ctx, inst.ID, now.Add(x.CheckEvery))
	return err
}

// ask calls DescribeInstanceForIsv, backing off while the OpenAPI
// throttles (Service.Flow.Control) for as long as the run has time.
func (x *run) ask(ctx context.Context, id string) (activation.MarketInstance, error) {
	var market activation.MarketInstance
	err := x.throttled(ctx, func() error {
		var err error
		market, err = x.Market.Describe(ctx, id)
		return err
	})
	return market, err
}

// audit compares up to AuditPerRun live instances, those due the
// longest, with what the marketplace says of them now: a lifecycle call
// that never reached us (the marketplace retries its calls, then gives
// up, and lists only message SPI calls as failed notifications) shows as
// a status we do not hold. Pending activations are left to the pending
// step, which asks about them more often.
func (x *run) audit(ctx context.Context) error {
	now := x.Now()
	ids, err := x.Queue.AuditDue(ctx, now, x.AuditPerRun)
	if err != nil {
		return err
	}
	next := now.Add(x.AuditEvery)
	for _, id := range ids {
		if x.late(ctx) {
			return runner.ErrOutOfTime
		}
		x.tally(StepAudit, func(t *Tally) { t.Examined++ })
		changed, err := x.compare(ctx, id, next)
		switch {
		case errors.Is(err, runner.ErrOutOfTime):
			return err
		case err != nil:
			x.Log.WarnContext(ctx, "instance not compared with the marketplace", "instanceId", id, logging.Err(err))
			x.tally(StepAudit, func(t *Tally) { t.Failed++ })
			// Asked again at the next comparison, not at once.
			if err := x.Queue.Reaudit(ctx, id, next, false); err != nil {
				return err
			}
		case changed:
			x.tally(StepAudit, func(t *Tally) { t.Changed++ })
		}
	}
	return nil
}

// compare brings one live instance in line with the marketplace.
func (x *run) compare(ctx context.Context, id string, next time.Time) (bool, error) {
	inst, err := x.Instances.Get(ctx, id)
	if err != nil {
		return false, err
	}
	if inst.Status == activation.StatusReleased {
		return false, x.Queue.Reaudit(ctx, id, next, true)
	}
	if inst.Awaiting == activation.AwaitingActivation {
		return false, x.Queue.Reaudit(ctx, id, next, false)
	}
	if x.fresh(inst.LastMoveAt()) {
		// Moved moments ago: compared once the record surely shows it.
		return false, x.Queue.Reaudit(ctx, id, inst.LastMoveAt().Add(x.AuditGrace).Truncate(time.Second).Add(time.Second), false)
	}
	market, err := x.ask(ctx, id)
	if errors.Is(err, activation.ErrUnknownToMarket) {
		// Never released over an answer that holds no record: a person
		// looks (the log line names it), and it is asked again later.
		x.Log.ErrorContext(ctx, "live instance unknown to the marketplace", "instanceId", id)
		return false, x.Queue.Reaudit(ctx, id, next, false)
	}
	if err != nil {
		return false, err
	}
	outcome, err := x.Domain.MarketSays(ctx, inst, market.Status)
	if err != nil {
		return false, err
	}
	changed := outcome == activation.Applied
	if changed {
		x.Log.WarnContext(ctx, "instance brought in line with the marketplace: a lifecycle call never reached us", "instanceId", id, "marketStatus", market.Status)
		x.Metrics.Count("LifecycleCallsRecovered", nil)
	}
	if market.Status != activation.MarketClosed {
		outcome, err := x.Domain.MarketHolds(ctx, inst, market)
		if err != nil {
			return changed, err
		}
		if outcome == activation.Applied {
			x.Log.WarnContext(ctx, "instance brought in line with the marketplace: an upgrade never reached us", "instanceId", id)
			x.Metrics.Count("LifecycleCallsRecovered", nil)
			changed = true
		}
	}
	return changed, x.Queue.Reaudit(ctx, id, next, market.Status == activation.MarketClosed)
}

// throttled makes one OpenAPI call, waiting out its flow control for as
// long as the run has time, and counts it.
func (x *run) throttled(ctx context.Context, call func() error) error {
	return x.Pacing.WhileThrottled(ctx, func() error {
		x.mu.Lock()
		x.summary.MarketCalls++
		x.mu.Unlock()
		return call()
	}, func() {
		x.mu.Lock()
		x.summary.Throttled++
		x.mu.Unlock()
	})
}

// notifications applies the messages the marketplace failed to deliver
// (DescribeFailedNotifications), then confirms each applied one.
// Confirmed ones leave the list; one that cannot be applied stays, and is
// tried once a run.
func (x *run) notifications(ctx context.Context) error {
	page := 1
	seen := map[string]bool{}
	for {
		if x.late(ctx) {
			return runner.ErrOutOfTime
		}
		var list []marketplace.FailedNotification
		err := x.throttled(ctx, func() error {
			var err error
			list, _, err = x.Market.FailedNotifications(ctx, page, pageSize)
			return err
		})
		if err != nil {
			return err
		}
		fresh := 0
		for _, n := range list {
			if seen[n.ID] {
				continue // kept earlier in this run
			}
			seen[n.ID] = true
			fresh++
			x.tally(StepNotifications, func(t *Tally) { t.Examined++ })
			if err := x.apply(ctx, n); err != nil {
				if errors.Is(err, runner.ErrOutOfTime) {
					return err
				}
				if errors.Is(err, activation.ErrOtherProduct) {
					// Another product's: left listed for its own backend.
					x.tally(StepNotifications, func(t *Tally) { t.Skipped++ })
					continue
				}
				x.Log.WarnContext(ctx, "failed notification not applied", "action", n.Action, logging.Err(err))
				x.tally(StepNotifications, func(t *Tally) { t.Failed++ })
				continue
			}
			x.tally(StepNotifications, func(t *Tally) { t.Changed++ })
		}
		switch {
		case len(list) < pageSize && fresh == 0:
			return nil // the last page, and nothing new on it
		case fresh == 0:
			page++ // a full page of kept ones: look past it
		}
	}
}

func (x *run) apply(ctx context.Context, n marketplace.FailedNotification) error {
	if _, err := x.Domain.ApplyNotification(ctx, n); err != nil {
		return fmt.Errorf("apply %s notification: %w", n.Action, err)
	}
	return x.throttled(ctx, func() error { return x.Market.ConfirmNotification(ctx, n.ID) })
}

// outbox sends what is due, with the outbox's own backoff and dead count.
func (x *run) outbox(ctx context.Context) error {
	if x.late(ctx) {
		return runner.ErrOutOfTime
	}
	r, err := x.Outbox.Sweep(ctx, x.OutboxLimit)
	x.tally(StepOutbox, func(t *Tally) {
		t.Examined += r.Sent + r.Failed + r.Dead + r.Skipped
		t.Changed += r.Sent
		t.Failed += r.Failed
		t.Dead += r.Dead
	})
	return err
}

// report logs the summary and puts its counts in metrics.
func (x *run) report(ctx context.Context) {
	attrs := []any{"finished", x.summary.Finished, "tookMs", x.summary.TookMs, "marketCalls", x.summary.MarketCalls}
	for _, step := range steps {
		t := x.summary.Steps[step]
		attrs = append(attrs, slog.Group(step, "examined", t.Examined, "changed", t.Changed, "failed", t.Failed, "skipped", t.Skipped))
		for name, n := range map[string]int{"Examined": t.Examined, "Changed": t.Changed, "Failed": t.Failed} {
			x.Metrics.Add("Reconcile"+name, float64(n), map[string]string{"Step": step})
		}
	}
	x.Log.InfoContext(ctx, "reconciliation run", attrs...)
}
