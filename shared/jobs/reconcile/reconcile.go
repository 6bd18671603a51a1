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
	PendingDue(ctx context.Context, now time.Time, after string, limit int) ([]activation.Instance, string, error)
	EffectsDue(ctx context.Context, before time.Time, after string, limit int) ([]string, string, error)
	Recheck(ctx context.Context, id string, at time.Time) (bool, error)
	Abandon(ctx context.Context, id string, at time.Time) (bool, error)
	AuditDue(ctx context.Context, now time.Time, limit int) ([]string, error)
	Reaudit(ctx context.Context, id string, next time.Time, done bool) error
	Acquire(ctx context.Context, name, holder string, now, until time.Time) (cursor string, ok bool, err error)
	Release(ctx context.Context, name, holder, cursor string) error
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

	CheckEvery   time.Duration
	AbandonAfter time.Duration
	// AuditEvery is how long a live instance waits between two
	// comparisons with the marketplace (activation.DefaultAuditEvery);
	// AuditPerRun bounds them a run (DefaultAuditPerRun).
	AuditEvery  time.Duration
	AuditPerRun int
	// Margin is the time kept before the run's deadline, to stop cleanly
	// and give the lease back.
	Margin time.Duration
	// OutboxLimit bounds the mails one run tries.
	OutboxLimit int
	// Concurrency is how many pending activations are checked at once
	// (default 8).
	Concurrency int
	// Backoff is the first wait after the OpenAPI's throttling; it
	// doubles, up to a few seconds.
	Backoff time.Duration

	Now     func() time.Time
	Sleep   func(ctx context.Context, d time.Duration) error
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

// errOutOfTime stops a step cleanly.
var errOutOfTime = errors.New("reconcile: out of time")

// run is one run's state.
type run struct {
	*Reconciler
	mu      sync.Mutex // the summary's counts, from the workers
	summary Summary
	stopAt  cursor
}

// Run runs the reconciliation once.
func (r *Reconciler) Run(ctx context.Context) (Summary, error) {
	start := r.Now()
	holder := runner.NewHolder()
	saved, ok, err := r.Queue.Acquire(ctx, leaseName, holder, start, runner.LeaseUntil(ctx, start))
	if err != nil {
		return Summary{}, err
	}
	if !ok {
		r.Log.InfoContext(ctx, "reconciliation skipped: another run holds the lease")
		return Summary{Skipped: true}, nil
	}
	var from cursor
	_ = json.Unmarshal([]byte(saved), &from) // an unreadable cursor starts over
	x := &run{Reconciler: r, summary: Summary{Steps: map[string]Tally{}}}
	for _, step := range steps {
		x.summary.Steps[step] = Tally{}
	}
	runErr := x.steps(ctx, from)
	resume := ""
	if errors.Is(runErr, errOutOfTime) {
		runErr = nil
		b, _ := json.Marshal(x.stopAt)
		resume = string(b)
	} else {
		x.summary.Finished = runErr == nil
	}
	x.summary.Resume = resume
	// The lease goes back even when the run's context is spent.
	if err := r.Queue.Release(context.WithoutCancel(ctx), leaseName, holder, resume); err != nil {
		runErr = errors.Join(runErr, err)
	}
	x.summary.TookMs = r.Now().Sub(start).Milliseconds()
	x.report(ctx)
	return x.summary, runErr
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
	if err == nil || errors.Is(err, errOutOfTime) {
		return err
	}
	x.Log.ErrorContext(ctx, "reconciliation step failed", "step", step, logging.Err(err))
	x.Metrics.Count("ReconcileStepsFailed", nil)
	x.tally(step, func(t *Tally) { t.Failed++ })
	return nil
}

// late reports whether the run must stop now to end cleanly.
func (x *run) late(ctx context.Context) bool {
	if ctx.Err() != nil {
		return true
	}
	deadline, ok := ctx.Deadline()
	return ok && time.Until(deadline) < x.margin()
}

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
	before := x.Now().Add(-DefaultEffectsGrace)
	after := ""
	for {
		if x.late(ctx) {
			return errOutOfTime
		}
		ids, next, err := x.Queue.EffectsDue(ctx, before, after, pageSize)
		if err != nil {
			return err
		}
		for _, id := range ids {
			if x.late(ctx) {
				return errOutOfTime
			}
			x.tally(StepEffects, func(t *Tally) { t.Examined++ })
			changed, err := x.effectsOf(ctx, id)
			switch {
			case errors.Is(err, errOutOfTime):
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
			return errOutOfTime
		}
		list, next, err := x.Queue.PendingDue(ctx, now, after, pendingPage)
		if err != nil {
			return err
		}
		work := make(chan activation.Instance)
		var (
			wg       sync.WaitGroup
			mu       sync.Mutex
			outOfRun bool
			listErr  error
		)
		for range x.concurrency() {
			wg.Go(func() {
				for inst := range work {
					err := x.check(ctx, inst, now)
					if err == nil {
						continue
					}
					if errors.Is(err, errOutOfTime) {
						mu.Lock()
						outOfRun = true
						mu.Unlock()
						continue
					}
					x.Log.WarnContext(ctx, "pending activation not checked", "instanceId", inst.ID, logging.Err(err))
					x.tally(StepPending, func(t *Tally) { t.Failed++ })
					// Asked again after the usual wait, not at once.
					if _, err := x.Queue.Recheck(ctx, inst.ID, now.Add(x.checkEvery())); err != nil {
						mu.Lock()
						listErr = err
						mu.Unlock()
					}
				}
			})
		}
		for _, inst := range list {
			mu.Lock()
			stop := outOfRun || listErr != nil
			if !stop && x.late(ctx) {
				outOfRun, stop = true, true
			}
			mu.Unlock()
			if stop {
				break
			}
			x.tally(StepPending, func(t *Tally) { t.Examined++ })
			work <- inst
		}
		close(work)
		wg.Wait()
		switch {
		case listErr != nil:
			return listErr
		case outOfRun:
			return errOutOfTime
		case next == "":
			return nil
		}
		after = next
	}
}

// check handles one pending activation.
func (x *run) check(ctx context.Context, inst activation.Instance, now time.Time) error {
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
	if status != activation.MarketClosed && now.Sub(inst.CreatedAt) > x.abandonAfter() {
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
	_, err = x.Queue.Recheck(ctx, inst.ID, now.Add(x.checkEvery()))
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
	ids, err := x.Queue.AuditDue(ctx, now, x.auditPerRun())
	if err != nil {
		return err
	}
	next := now.Add(x.auditEvery())
	for _, id := range ids {
		if x.late(ctx) {
			return errOutOfTime
		}
		x.tally(StepAudit, func(t *Tally) { t.Examined++ })
		changed, err := x.compare(ctx, id, next)
		switch {
		case errors.Is(err, errOutOfTime):
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
	if outcome == activation.Applied {
		x.Log.WarnContext(ctx, "instance brought in line with the marketplace: a lifecycle call never reached us", "instanceId", id, "marketStatus", market.Status)
		x.Metrics.Count("LifecycleCallsRecovered", nil)
	}
	return outcome == activation.Applied, x.Queue.Reaudit(ctx, id, next, market.Status == activation.MarketClosed)
}

func (x *run) throttled(ctx context.Context, call func() error) error {
	wait := x.Backoff
	if wait <= 0 {
		wait = 200 * time.Millisecond
	}
	for {
		x.mu.Lock()
		x.summary.MarketCalls++
		x.mu.Unlock()
		err := call()
		if !errors.Is(err, marketplace.ErrThrottled) {
			return err
		}
		x.mu.Lock()
		x.summary.Throttled++
		x.mu.Unlock()
		if deadline, ok := ctx.Deadline(); ok && time.Until(deadline) < x.margin()+wait {
			return errOutOfTime
		}
		if err := x.sleep(ctx, wait); err != nil {
			return errOutOfTime
		}
		wait = min(wait*2, 5*time.Second)
	}
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
			return errOutOfTime
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
				if errors.Is(err, errOutOfTime) {
					return err
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
		return errOutOfTime
	}
	limit := x.OutboxLimit
	if limit <= 0 {
		limit = 200
	}
	r, err := x.Outbox.Sweep(ctx, limit)
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
		attrs = append(attrs, slog.Group(step, "examined", t.Examined, "changed", t.Changed, "failed", t.Failed))
		for name, n := range map[string]int{"Examined": t.Examined, "Changed": t.Changed, "Failed": t.Failed} {
			x.Metrics.Add("Reconcile"+name, float64(n), map[string]string{"Step": step})
		}
	}
	x.Log.InfoContext(ctx, "reconciliation run", attrs...)
}

func (r *Reconciler) margin() time.Duration {
	if r.Margin > 0 {
		return r.Margin
	}
	return 10 * time.Second
}

func (r *Reconciler) concurrency() int {
	if r.Concurrency > 0 {
		return r.Concurrency
	}
	return 8
}

func (r *Reconciler) auditEvery() time.Duration {
	if r.AuditEvery > 0 {
		return r.AuditEvery
	}
	return activation.DefaultAuditEvery
}

func (r *Reconciler) auditPerRun() int {
	if r.AuditPerRun > 0 {
		return r.AuditPerRun
	}
	return DefaultAuditPerRun
}

func (r *Reconciler) checkEvery() time.Duration {
	if r.CheckEvery > 0 {
		return r.CheckEvery
	}
	return DefaultCheckEvery
}

func (r *Reconciler) abandonAfter() time.Duration {
	if r.AbandonAfter > 0 {
		return r.AbandonAfter
	}
	return DefaultAbandonAfter
}

func (r *Reconciler) sleep(ctx context.Context, d time.Duration) error {
	if r.Sleep != nil {
		return r.Sleep(ctx, d)
	}
	return runner.Wait(ctx, d)
}
