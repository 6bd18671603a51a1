// Package usagepush is the scheduled metering run: it decides the due
// hourly windows of every activated instance (a push record each, written
// once), then pushes the pending records to the marketplace with
// PushMeteringData, each at most once: marked sending before the call and
// final after it, and never sent again from sending.
package usagepush

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/guance/aliyun-marketplace/shared/domain/activation"
	"github.com/guance/aliyun-marketplace/shared/domain/marketplace"
	"github.com/guance/aliyun-marketplace/shared/domain/metering"
	"github.com/guance/aliyun-marketplace/shared/jobs/runner"
	"github.com/guance/aliyun-marketplace/shared/platform/logging"
	"github.com/guance/aliyun-marketplace/shared/platform/metrics"
)

// Instances are the activated instances and the run's lease.
type Instances interface {
	runner.Leases
	MeteringDue(ctx context.Context, upTo time.Time, after string, limit int) ([]activation.Instance, string, error)
	AdvanceMetering(ctx context.Context, id string, from, to time.Time, done bool) error
}

// UsageReader reads the usage records of workspaces, windows and items.
type UsageReader interface {
	Get(ctx context.Context, workspaces []string, windows []time.Time, items []string) (usage []metering.Usage, bad int, err error)
}

// Pushes keeps the push records.
type Pushes interface {
	Create(ctx context.Context, p metering.Push) (bool, error)
	Unsent(ctx context.Context, state metering.PushState) ([]metering.Push, error)
	Move(ctx context.Context, list []metering.Push, from, to metering.PushState, reason string, at time.Time) (bool, error)
	Fill(ctx context.Context, p metering.Push, record string, at time.Time) (bool, error)
}

// Market is PushMeteringData.
type Market interface {
	PushMeteringData(ctx context.Context, metering string) error
}

// Meter runs one metering pass: decide the due windows of every activated
// instance (a push record each), then push the pending records, each at
// most once.
type Meter struct {
	Instances Instances
	Usage     UsageReader
	Pushes    Pushes
	Market    Market
	Mapping   metering.Mapping
	// Stuck is how long a record may stay sending before it is declared
	// uncertain (a run died during its call): longer than a run
	// (default 20 minutes).
	Stuck time.Duration
	// Pacing is the margin kept before the deadline and the waits while
	// PushMeteringData throttles (defaults: 10 s; 1 s doubling to 30 s).
	Pacing  runner.Pacing
	Now     func() time.Time
	Log     *slog.Logger
	Metrics *metrics.Recorder
}

// Summary is what a run did.
type Summary struct {
	Skipped bool `json:"skipped,omitempty"`
	// Off: no billable item is mapped (METERING_ITEMS empty, not prod).
	Off       bool `json:"off,omitempty"`
	Instances int  `json:"instances"`
	Decided   int  `json:"windowsDecided"`
	Empty     int  `json:"windowsEmpty"`
	// FilledLate are windows an earlier run decided empty whose usage
	// came late, before their deadline: pushed now.
	FilledLate int   `json:"windowsFilledLate,omitempty"`
	Late       int   `json:"windowsLate"`
	Pushed     int   `json:"windowsPushed"`
	Refused    int   `json:"windowsRefused"`
	Uncertain  int   `json:"windowsUncertain"`
	Calls      int   `json:"calls"`
	Throttled  int   `json:"throttled"`
	Finished   bool  `json:"finished"`
	TookMs     int64 `json:"tookMs"`
	// LagMinutes is how long ago the oldest window not yet final ended
	// (see lag), after the run.
	LagMinutes float64 `json:"lagMinutes"`
	// lagMeasured: the gauge is sent only when measured (a zero sent for
	// a lag unknown would clear its alarm).
	lagMeasured bool
}

const leaseName = "metering"

// errStopPushing ends this run's pushing (the marketplace out of reach,
// or throttling on and on): the records stay pending for the next run.
var errStopPushing = errors.New("metering: pushing stopped for this run")

// maxThrottledAttempts bounds the tries of one call under flow control.
const maxThrottledAttempts = 6

// Run runs one pass under the lease.
func (m *Meter) Run(ctx context.Context) (Summary, error) {
	if len(m.Mapping) == 0 {
		m.Log.WarnContext(ctx, "metering off: METERING_ITEMS maps no billable item")
		return Summary{Off: true}, nil
	}
	start := m.Now()
	var s Summary
	skipped, err := runner.Under(ctx, m.Instances, leaseName, start, func(string) (string, error) {
		// What earlier runs left pending goes first (its deadline is the
		// nearest), then the windows decided now.
		err := m.push(ctx, &s)
		if err == nil {
			err = m.decide(ctx, &s)
		}
		if err == nil {
			err = m.lookAgain(ctx, start.UTC(), &s)
		}
		if err == nil {
			err = m.push(ctx, &s)
		}
		if errors.Is(err, runner.ErrOutOfTime) {
			return "", nil
		}
		s.Finished = err == nil
		return "", err
	})
	if skipped {
		m.Log.InfoContext(ctx, "metering skipped: another run holds the lease")
		return Summary{Skipped: true}, nil
	}
	s.TookMs = m.Now().Sub(start).Milliseconds()
	if lag, lagErr := m.lag(ctx); lagErr != nil {
		m.Log.WarnContext(ctx, "metering lag not measured", logging.Err(lagErr))
	} else {
		s.LagMinutes, s.lagMeasured = lag.Minutes(), true
	}
	m.report(ctx, s)
	return s, err
}

// lag is how long ago the oldest window not yet final ended: the oldest
// of the windows still to be decided (the instance furthest behind) and
// of those decided and not yet sent. A window is normally final within
// Grace of its end; MeteringLagMinutes past Grace + Deadline means
// windows are being lost (the alarm on it).
func (m *Meter) lag(ctx context.Context) (time.Duration, error) {
	now := m.Now().UTC()
	var oldest time.Time
	behind, _, err := m.Instances.MeteringDue(ctx, now.Add(-metering.Window-metering.Grace), "", 1)
	if err != nil {
		return 0, err
	}
	if len(behind) > 0 && !behind[0].MeteredUntil.IsZero() {
		oldest = behind[0].MeteredUntil
	}
	pending, err := m.Pushes.Unsent(ctx, metering.PushPending)
	if err != nil {
		return 0, err
	}
	for _, p := range pending {
		if start := time.Unix(p.Window, 0); oldest.IsZero() || start.Before(oldest) {
			oldest = start
		}
	}
	if oldest.IsZero() {
		return 0, nil
	}
	return max(0, now.Sub(oldest.Add(metering.Window))), nil
}

func (m *Meter) late(ctx context.Context) bool { return m.Pacing.Late(ctx) }

// pacing is the run's pacing with the metering's defaults.
func (m *Meter) pacing() runner.Pacing {
	p := m.Pacing
	if p.Backoff <= 0 {
		p.Backoff = time.Second
	}
	if p.MaxBackoff <= 0 {
		p.MaxBackoff = 30 * time.Second
	}
	return p
}

// decide writes the push record of every due window of every instance
// whose cursor is behind, and moves the cursors on.
func (m *Meter) decide(ctx context.Context, s *Summary) error {
	now := m.Now().UTC()
	after := ""
	for {
		if m.late(ctx) {
			return runner.ErrOutOfTime
		}
		list, next, err := m.Instances.MeteringDue(ctx, now.Add(-metering.Window-metering.Grace), after, 200)
		if err != nil {
			return err
		}
		for _, inst := range list {
			if m.late(ctx) {
				return runner.ErrOutOfTime
			}
			s.Instances++
			if err := m.decideInstance(ctx, inst, now, s); err != nil {
				// One instance's trouble never stops the run.
				m.Log.WarnContext(ctx, "metering windows not decided", "instanceId", inst.ID, logging.Err(err))
			}
		}
		if next == "" {
			return nil
		}
		after = next
	}
}

// lookAgain looks again at the windows decided empty, until their
// deadline: usage written after the window was decided (the platform was
// late) is pushed then, since nothing went out for the window. (Usage
// written late for a window already pushed is not: a window is pushed
// once.) Windows decided since this run began were read just now and are
// left for the next run.
func (m *Meter) lookAgain(ctx context.Context, runStart time.Time, s *Summary) error {
	empty, err := m.Pushes.Unsent(ctx, metering.PushEmpty)
	if err != nil {
		return err
	}
	now := m.Now().UTC()
	items := m.Mapping.Items()
	for _, p := range empty {
		if m.late(ctx) {
			return runner.ErrOutOfTime
		}
		if !p.UpdatedAt.Before(runStart) {
			continue
		}
		w := time.Unix(p.Window, 0).UTC()
		if !now.Add(2 * time.Minute).Before(w.Add(metering.Window + metering.Deadline)) {
			// Too near its deadline to push: empty for good.
			if _, err := m.Pushes.Move(ctx, []metering.Push{p}, metering.PushEmpty, metering.PushEmpty, "", now); err != nil {
				return err
			}
			continue
		}
		members, ids := metering.ParseMembers(p.Members)
		usage, _, err := m.Usage.Get(ctx, ids, []time.Time{w}, items)
		if err != nil {
			return err
		}
		rec, ok, _ := metering.Aggregate(p.InstanceID, w, members, usage, m.Mapping)
		if !ok {
			continue
		}
		b, err := json.Marshal(rec)
		if err != nil {
			return err
		}
		if filled, err := m.Pushes.Fill(ctx, p, string(b), now); err != nil {
			return err
		} else if filled {
			s.FilledLate++
			m.Log.WarnContext(ctx, "usage written after its window was decided: pushed late", "instanceId", p.InstanceID, "window", p.Window)
		}
	}
	return nil
}

// SpanOf is what decides an instance's billable windows.
func SpanOf(inst activation.Instance) metering.Span {
	span := metering.Span{From: inst.MeteredFrom}
	if !inst.ReleasedAt.IsZero() {
		span.Until = inst.ReleasedAt
	}
	frozenLast := !inst.FrozenAt.IsZero() && !inst.RestoredAt.After(inst.FrozenAt)
	switch {
	case frozenLast && !span.Until.IsZero():
		// Released while frozen (the usual end of an unpaid instance):
		// billing ended at the freeze.
		if inst.FrozenAt.Before(span.Until) {
			span.Until = inst.FrozenAt
		}
	case frozenLast:
		span.PausedFrom = inst.FrozenAt
	case !inst.FrozenAt.IsZero():
		// Frozen, then restored: those hours are not billed.
		span.PausedFrom, span.PausedTo = inst.FrozenAt, inst.RestoredAt
	}
	return span
}

func (m *Meter) decideInstance(ctx context.Context, inst activation.Instance, now time.Time, s *Summary) error {
	plan := metering.PlanWindows(inst.MeteredUntil, SpanOf(inst), now)
	members, ids := metering.ParseMembers(inst.MeteredWorkspaces)
	var usage []metering.Usage
	if len(plan.Due) > 0 {
		list, bad, err := m.Usage.Get(ctx, ids, plan.Due, m.Mapping.Items())
		if err != nil {
			return err
		}
		if bad > 0 {
			m.Log.ErrorContext(ctx, "usage records unreadable or out of range: not billed", "instanceId", inst.ID, "records", bad)
			m.Metrics.Add("MeteringUsageUnreadable", float64(bad), nil)
		}
		usage = list
	}
	record := func(w time.Time, state metering.PushState, rec *metering.Record) error {
		p := metering.Push{InstanceID: inst.ID, Window: w.Unix(), State: state, Product: inst.ProductCode, UpdatedAt: now}
		if state == metering.PushEmpty {
			p.Members = inst.MeteredWorkspaces
		}
		if rec != nil {
			b, err := json.Marshal(rec)
			if err != nil {
				return err
			}
			p.Record = string(b)
		}
		created, err := m.Pushes.Create(ctx, p)
		if err == nil && created {
			s.Decided++
		}
		return err
	}
	for _, w := range plan.Due {
		rec, ok, unmapped := metering.Aggregate(inst.ID, w, members, usage, m.Mapping)
		if len(unmapped) > 0 {
			m.Log.WarnContext(ctx, "usage items without a billable item", "instanceId", inst.ID, "items", unmapped)
		}
		state, recp := metering.PushPending, &rec
		if !ok {
			state, recp = metering.PushEmpty, nil
			s.Empty++
		}
		if err := record(w, state, recp); err != nil {
			return err
		}
	}
	for _, w := range plan.Late {
		s.Late++
		m.Log.ErrorContext(ctx, "metering window late: past its deadline, not billed", "instanceId", inst.ID, "window", w.Unix())
		if err := record(w, metering.PushLate, nil); err != nil {
			return err
		}
	}
	for _, w := range plan.Skipped {
		if err := record(w, metering.PushSkipped, nil); err != nil {
			return err
		}
	}
	// Every window up to Next has its record: the cursor moves on. A
	// released instance whose last billable window is decided leaves.
	done := !inst.ReleasedAt.IsZero() && !plan.Next.Before(inst.ReleasedAt)
	if plan.Next.Equal(inst.MeteredUntil) && !done {
		return nil
	}
	return m.Instances.AdvanceMetering(ctx, inst.ID, inst.MeteredUntil, plan.Next, done)
}

// push sends the pending records, in calls within the limits; declares
// uncertain the records a dead run left sending.
func (m *Meter) push(ctx context.Context, s *Summary) error {
	now := m.Now().UTC()
	stuck, err := m.Pushes.Unsent(ctx, metering.PushSending)
	if err != nil {
		return err
	}
	stuckAfter := m.Stuck
	if stuckAfter <= 0 {
		stuckAfter = 20 * time.Minute
	}
	for _, p := range stuck {
		if now.Sub(p.UpdatedAt) < stuckAfter {
			continue // another run's call under way
		}
		if ok, err := m.Pushes.Move(ctx, []metering.Push{p}, metering.PushSending, metering.PushUncertain, "a run stopped during its call", now); err != nil {
			return err
		} else if ok {
			s.Uncertain++
			m.Log.ErrorContext(ctx, "metering window uncertain: a run stopped during its call", "instanceId", p.InstanceID, "window", p.Window)
		}
	}
	pending, err := m.Pushes.Unsent(ctx, metering.PushPending)
	if err != nil {
		return err
	}
	var list []metering.Pending
	byKey := map[string]metering.Push{}
	for _, p := range pending {
		var rec metering.Record
		if err := json.Unmarshal([]byte(p.Record), &rec); err != nil {
			m.Log.ErrorContext(ctx, "push record unreadable", "instanceId", p.InstanceID, "window", p.Window)
			continue
		}
		if now.After(time.Unix(rec.EndTime, 0).Add(metering.Deadline)) {
			// Decided in time, but never sent before its deadline.
			if ok, err := m.Pushes.Move(ctx, []metering.Push{p}, metering.PushPending, metering.PushLate, "past its deadline before it was sent", now); err != nil {
				return err
			} else if ok {
				s.Late++
				m.Log.ErrorContext(ctx, "metering window late: past its deadline, not billed", "instanceId", p.InstanceID, "window", p.Window)
			}
			continue
		}
		list = append(list, metering.Pending{Product: p.Product, Record: rec})
		byKey[fmt.Sprint(p.InstanceID, "/", p.Window)] = p
	}
	for _, call := range metering.Batch(list) {
		if m.late(ctx) {
			return runner.ErrOutOfTime
		}
		var recs []metering.Record
		var pushes []metering.Push
		for _, p := range call {
			recs = append(recs, p.Record)
			pushes = append(pushes, byKey[fmt.Sprint(p.Record.InstanceID, "/", p.Record.StartTime)])
		}
		if err := m.pushCall(ctx, recs, pushes, s); errors.Is(err, errStopPushing) {
			return nil
		} else if err != nil {
			return err
		}
	}
	return nil
}

// pastDeadline moves to late the records whose deadline is too near for a
// call (a minute's margin), and returns the others.
func (m *Meter) pastDeadline(ctx context.Context, recs []metering.Record, pushes []metering.Push, s *Summary) ([]metering.Record, []metering.Push, error) {
	now := m.Now().UTC()
	var keepR []metering.Record
	var keepP []metering.Push
	for i, rec := range recs {
		if now.Add(time.Minute).Before(time.Unix(rec.EndTime, 0).Add(metering.Deadline)) {
			keepR, keepP = append(keepR, rec), append(keepP, pushes[i])
			continue
		}
		if ok, err := m.Pushes.Move(ctx, pushes[i:i+1], metering.PushPending, metering.PushLate, "past its deadline before it was sent", now); err != nil {
			return nil, nil, err
		} else if ok {
			s.Late++
			m.Log.ErrorContext(ctx, "metering window late: past its deadline, not billed", "instanceId", rec.InstanceID, "window", rec.StartTime)
		}
	}
	return keepR, keepP, nil
}

// split halves a call by instance: the first half of its instances, in
// the order they come, and the rest (an instance's records stay together).
// A call of two or more instances always gives two calls smaller than it.
func split(recs []metering.Record, pushes []metering.Push) (a, b []metering.Record, pa, pb []metering.Push) {
	var ids []string
	for _, rec := range recs {
		if !slices.Contains(ids, rec.InstanceID) {
			ids = append(ids, rec.InstanceID)
		}
	}
	first := ids[:len(ids)/2]
	for i, rec := range recs {
		if slices.Contains(first, rec.InstanceID) {
			a, pa = append(a, rec), append(pa, pushes[i])
		} else {
			b, pb = append(b, rec), append(pb, pushes[i])
		}
	}
	return a, b, pa, pb
}

// verdict is what a PushMeteringData answer means for its records.
type verdict int

const (
	taken     verdict = iota // billed: pushed
	notSent                  // certainly did nothing (no connection, no client): pending again
	throttled                // flow control: pending again, after a wait
	refused                  // refused outright: never sent again, alarmed
	halve                    // a bad record among several instances: find it by halves
	unknown                  // may have been billed: uncertain, never sent again, alarmed
)

// judge reads a call's answer.
func judge(err error, recs []metering.Record) verdict {
	switch {
	case err == nil:
		return taken
	case errors.Is(err, marketplace.ErrThrottled):
		return throttled
	case !marketplace.Sent(err):
		return notSent
	}
	if api, ok := marketplace.Refused(err); ok {
		if api.Code == marketplace.CodeInvalidMetering && recs[0].InstanceID != recs[len(recs)-1].InstanceID {
			return halve
		}
		return refused
	}
	return unknown
}

// pushCall sends one call's records: marked sending before the call and
// final after it (settle), so that nothing is ever sent twice.
func (m *Meter) pushCall(ctx context.Context, recs []metering.Record, pushes []metering.Push, s *Summary) error {
	waits, attempts := m.pacing().Waits(), 0
	for {
		// Never send what its deadline has passed (a wait for flow
		// control may have taken it there).
		var err error
		if recs, pushes, err = m.pastDeadline(ctx, recs, pushes, s); err != nil || len(recs) == 0 {
			return err
		}
		callErr, sent, err := m.send(ctx, recs, pushes, s)
		if err != nil || !sent {
			return err
		}
		v := judge(callErr, recs)
		if err := m.settle(ctx, v, pushes, callErr, s); err != nil {
			return err
		}
		switch v {
		case notSent:
			// A marketplace out of reach is left to the next run.
			m.Log.WarnContext(ctx, "the marketplace is out of reach: pushing resumes next run", logging.Err(callErr))
			return errStopPushing
		case throttled:
			// Throttling on and on is left to the next run too.
			s.Throttled++
			if attempts++; attempts >= maxThrottledAttempts || m.pacing().Pause(ctx, waits()) != nil {
				return errStopPushing
			}
		case halve:
			// A refusal certainly did nothing: find the bad record by
			// halves, so the others are billed.
			a, b, pa, pb := split(recs, pushes)
			if err := m.pushCall(ctx, a, pa, s); err != nil {
				return err
			}
			return m.pushCall(ctx, b, pb, s)
		default:
			return nil
		}
	}
}

// send marks the call's records sending (false: another run took them)
// and calls PushMeteringData: callErr is its answer.
func (m *Meter) send(ctx context.Context, recs []metering.Record, pushes []metering.Push, s *Summary) (callErr error, sent bool, err error) {
	body, err := json.Marshal(recs)
	if err != nil {
		return nil, false, err
	}
	if ok, err := m.Pushes.Move(ctx, pushes, metering.PushPending, metering.PushSending, "", m.Now().UTC()); err != nil || !ok {
		return nil, false, err
	}
	s.Calls++
	return m.Market.PushMeteringData(ctx, string(body)), true, nil
}

// settle moves a call's records from sending to where the answer puts
// them: each transition written once, whatever the run's own deadline
// (it is what stops a second push).
func (m *Meter) settle(ctx context.Context, v verdict, pushes []metering.Push, callErr error, s *Summary) error {
	record, at := context.WithoutCancel(ctx), m.Now().UTC()
	move := func(to metering.PushState, reason string) error {
		_, err := m.Pushes.Move(record, pushes, metering.PushSending, to, reason, at)
		return err
	}
	switch v {
	case taken:
		if err := move(metering.PushPushed, ""); err != nil {
			return err
		}
		s.Pushed += len(pushes)
		m.Metrics.Add("MeteringWindowsPushed", float64(len(pushes)), nil)
	case notSent, throttled, halve:
		return move(metering.PushPending, "")
	case refused:
		api, _ := marketplace.Refused(callErr)
		if err := move(metering.PushRefused, api.Code); err != nil {
			return err
		}
		s.Refused += len(pushes)
		m.Metrics.Add("MeteringWindowsRefused", float64(len(pushes)), nil)
		m.Log.ErrorContext(ctx, "metering windows refused", "code", api.Code, "windows", len(pushes))
		if api.Code == marketplace.CodePermissionDenied {
			// Its own alarm: no window will be taken until the key is
			// replaced, and the cause is always the same.
			m.Metrics.Count("MeteringPermissionDenied", nil)
			m.Log.ErrorContext(ctx, "PushMeteringData refused the caller: it cannot be called with a RAM sub-account's AccessKey; "+
				"store the main account's AccessKey in the MarketAccessKeyId/Secret parameters (README, Deploying)", "code", api.Code)
		}
	case unknown:
		if err := move(metering.PushUncertain, "outcome unknown: "+callErr.Error()); err != nil {
			return err
		}
		s.Uncertain += len(pushes)
		m.Log.ErrorContext(ctx, "metering windows uncertain: the call's outcome is unknown", "windows", len(pushes), logging.Err(callErr))
	}
	return nil
}

func (m *Meter) report(ctx context.Context, s Summary) {
	// A gauge, sent every run, so that its alarm sees it rise.
	if s.lagMeasured {
		m.Metrics.Add("MeteringLagMinutes", s.LagMinutes, nil)
	}
	if s.Late > 0 {
		m.Metrics.Add("MeteringWindowsLate", float64(s.Late), nil)
	}
	if s.Uncertain > 0 {
		m.Metrics.Add("MeteringWindowsUncertain", float64(s.Uncertain), nil)
	}
	m.Log.InfoContext(ctx, "metering run", "instances", s.Instances, "decided", s.Decided, "empty", s.Empty, "filledLate", s.FilledLate, "late", s.Late,
		"pushed", s.Pushed, "refused", s.Refused, "uncertain", s.Uncertain, "calls", s.Calls, "throttled", s.Throttled, "finished", s.Finished, "tookMs", s.TookMs)
}
