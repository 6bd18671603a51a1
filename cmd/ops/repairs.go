package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"strconv"
	"time"

	"github.com/guance/aliyun-marketplace/shared/adapters/storage"
	"github.com/guance/aliyun-marketplace/shared/domain/activation"
	"github.com/guance/aliyun-marketplace/shared/domain/audit"
	"github.com/guance/aliyun-marketplace/shared/domain/metering"
	"github.com/guance/aliyun-marketplace/shared/domain/outbox"
)

// Every repair reads the record, says what it would do, and does it only
// with -apply: then as the operator, with their reason, through the
// product's conditional writes (a product write landing between the read
// and the repair wins, and the repair says so).

// asOperator is the context of an applied repair.
func (t *tool) asOperator(ctx context.Context, r *repairFlags) context.Context {
	return audit.WithOperator(ctx, audit.Operator{Who: t.operator, Why: r.reason})
}

// dryRun ends a repair that was not applied.
func (t *tool) dryRun() error {
	fmt.Fprintln(t.out, "dry run: nothing changed; add -apply -reason \"...\" to do it")
	return nil
}

// refused explains a repair the record refused.
func refused(err error) error {
	if errors.Is(err, storage.ErrNotAsSeen) {
		return fmt.Errorf("%w (nothing changed)", err)
	}
	return err
}

func (t *tool) requeueMail(ctx context.Context, args []string) error {
	r, args, err := parseRepair("requeue-mail", args, nil)
	if err != nil {
		return err
	}
	id, err := one("requeue-mail", args, "a mail id (ops todo lists the dead ones)")
	if err != nil {
		return err
	}
	m, ok, err := t.op.Mail(ctx, id)
	switch {
	case err != nil:
		return err
	case !ok:
		return fmt.Errorf("no mail %s (a mail is kept %d days after it is sent or dies)", id, int(outbox.Keep.Hours()/24))
	case m.State != outbox.StateDead:
		return fmt.Errorf("mail %s is %s, not dead: nothing to requeue", id, m.State)
	case m.Kind == outbox.KindCode:
		return storage.ErrCodeGone
	}
	fmt.Fprintf(t.out, "mail %s (%s to %s) died after %s: %s\nwould: put it back to be sent by the next reconciliation, its attempts from zero\n",
		m.ID, m.Kind, maskAddress(m.To), attempts(m.Attempts), m.LastError)
	if !r.apply {
		return t.dryRun()
	}
	if err := t.op.RequeueMail(t.asOperator(ctx, r), id, t.now()); err != nil {
		return refused(err)
	}
	fmt.Fprintln(t.out, "done: queued; ops run reconcile -apply sends it now")
	return nil
}

// parseWindow reads a window's start: RFC 3339 or epoch seconds.
func parseWindow(s string) (time.Time, error) {
	if at, err := time.Parse(time.RFC3339, s); err == nil {
		return at.UTC(), nil
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return time.Unix(n, 0).UTC(), nil
	}
	return time.Time{}, fmt.Errorf("window %q: give its start as 2026-12-04T08:00:00Z or in epoch seconds", s)
}

// window requeues or marks a metering window.
func (t *tool) window(ctx context.Context, cmd string, args []string) error {
	r, args, err := parseRepair(cmd, args, nil)
	if err != nil {
		return err
	}
	want := 2
	if cmd == "mark-window" {
		want = 3
	}
	if len(args) != want {
		return fmt.Errorf("%s takes: <instance id> <window start>%s", cmd, map[bool]string{true: " pushed|written-off"}[want == 3])
	}
	at, err := parseWindow(args[1])
	if err != nil {
		return err
	}
	p, ok, err := t.op.Window(ctx, args[0], at)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("instance %s has no decided window at %s (ops show %s lists them)", args[0], stamp(at), args[0])
	}
	state := fmt.Sprintf("window %s of instance %s is %s", stamp(at), p.InstanceID, p.State)
	if p.Reason != "" {
		state += " (" + p.Reason + ")"
	}
	fmt.Fprintln(t.out, state)
	// What -apply would refuse, the dry run refuses too.
	switch p.State {
	case metering.PushRefused, metering.PushUncertain, metering.PushLate:
	default:
		return fmt.Errorf("only a refused, uncertain or late window is repaired; this one is %s", p.State)
	}
	deadline := at.Add(metering.Window + metering.Deadline)
	var to metering.PushState
	if cmd == "mark-window" {
		to = metering.PushState(args[2])
		if to != metering.PushPushed && to != metering.PushWrittenOff {
			return fmt.Errorf("mark a window pushed (the buyer's bill shows it) or written-off (it will not be billed), not %q", args[2])
		}
		fmt.Fprintf(t.out, "would: mark it %s (say in the reason what you checked with the marketplace)\n", to)
	} else {
		if !t.now().Before(deadline) {
			return fmt.Errorf("the window's deadline (%s) has passed: the marketplace would refuse it; mark it pushed or written-off instead", stamp(deadline))
		}
		fmt.Fprintf(t.out, "would: send it again with the next metering run (deadline %s)\n", stamp(deadline))
	}
	if !r.apply {
		return t.dryRun()
	}
	ctx = t.asOperator(ctx, r)
	if cmd == "mark-window" {
		err = t.op.MarkWindow(ctx, p, to, t.now())
	} else {
		err = t.op.RequeueWindow(ctx, p, t.now())
	}
	if err != nil {
		return refused(err)
	}
	fmt.Fprintln(t.out, "done")
	return nil
}

// reask asks the marketplace about one instance and applies its answer,
// as the reconciliation's comparison does.
func (t *tool) reask(ctx context.Context, args []string) error {
	r, args, err := parseRepair("reask", args, nil)
	if err != nil {
		return err
	}
	id, err := one("reask", args, "an instance id")
	if err != nil {
		return err
	}
	inst, ok, err := t.op.Instance(ctx, id)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("no instance %s: the reconciliation recovers one the marketplace notifies us of", id)
	}
	market, err := t.market.Describe(ctx, id)
	if errors.Is(err, activation.ErrUnknownToMarket) {
		return fmt.Errorf("the marketplace has no instance %s: nothing is applied over an empty answer; ask the marketplace's support", id)
	}
	if err != nil {
		return fmt.Errorf("ask the marketplace about instance %s: %w", id, err)
	}
	fmt.Fprintf(t.out, "we hold:          %s, SKU %s, expires %s\n", inst.Status, inst.SKU, stamp(inst.ExpiredOn))
	fmt.Fprintf(t.out, "marketplace says: %s, SKU %s, ends %s\n", market.Status, market.SKU, stamp(market.EndOn))
	would := wouldApply(inst, market)
	if would == "" {
		fmt.Fprintln(t.out, "nothing to do: we hold what the marketplace says")
		return nil
	}
	fmt.Fprintf(t.out, "would: %s\n", would)
	if !r.apply {
		return t.dryRun()
	}
	ctx = t.asOperator(ctx, r)
	said, err := t.domain.MarketSays(ctx, inst, market.Status)
	if err != nil {
		return err
	}
	held := activation.AlreadyApplied
	if market.Status != activation.MarketClosed {
		if held, err = t.domain.MarketHolds(ctx, inst, market); err != nil {
			return err
		}
	}
	if err := t.op.Record(ctx, id, "reask", map[string]string{"marketStatus": string(market.Status), "status": changed(said), "sku": changed(held)}, t.now()); err != nil {
		return err
	}
	now, _, err := t.op.Instance(ctx, id)
	if err != nil {
		return err
	}
	fmt.Fprintf(t.out, "done: the instance is %s, SKU %s\n", now.Status, now.SKU)
	return nil
}

// changed says what an outcome did, for the trail.
func changed(o activation.Outcome) string {
	if o == activation.Applied {
		return "changed"
	}
	return "unchanged"
}

// attempts is a count of attempts in words.
func attempts(n int) string {
	if n == 1 {
		return "1 attempt"
	}
	return fmt.Sprintf("%d attempts", n)
}

// wouldApply says what the marketplace's answer changes (MarketSays and
// MarketHolds decide it, each conditioned on the instance as read).
func wouldApply(inst activation.Instance, market activation.MarketInstance) string {
	var what string
	switch {
	case market.Status == activation.MarketClosed && inst.Status != activation.StatusReleased:
		what = "release it"
	case market.Status == activation.MarketExpired && inst.Status == activation.StatusActive:
		what = "freeze it"
	case market.Status == activation.MarketOpened && inst.Status == activation.StatusFrozen:
		what = "restore it"
	case inst.DisputedAction != "":
		what = "settle the disputed " + string(inst.DisputedAction) + " as the marketplace's status says"
	}
	if market.Status != activation.MarketClosed && inst.Status != activation.StatusReleased && market.SKU != "" && !market.Holds(inst.SKU, inst.BillableItems) {
		if what != "" {
			what += ", and "
		}
		what += "take the marketplace's SKU and billable items"
	}
	return what
}

func (t *tool) releaseWorkspace(ctx context.Context, args []string) error {
	r, args, err := parseRepair("release-workspace", args, nil)
	if err != nil {
		return err
	}
	id, err := one("release-workspace", args, "a workspace id (wksp_...)")
	if err != nil {
		return err
	}
	ws, ok, err := t.op.Workspace(ctx, id)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("no workspace %s", id)
	}
	if ws.Settlement.Instance == "" {
		return fmt.Errorf("workspace %s is settled by its billing center account already: nothing to release", id)
	}
	inst, ok, err := t.op.Instance(ctx, ws.Settlement.Instance)
	if err != nil {
		return err
	}
	if !ok || inst.Status != activation.StatusReleased {
		return fmt.Errorf("workspace %s is settled through instance %s, which is not released: it stays (the release's effects move it)", id, ws.Settlement.Instance)
	}
	fmt.Fprintf(t.out, "workspace %s (%s) is still settled through released instance %s\nwould: settle it by its billing center account again, and take it off the instance\n", ws.ID, ws.Name, inst.ID)
	if !r.apply {
		return t.dryRun()
	}
	if err := t.op.ReleaseWorkspace(t.asOperator(ctx, r), ws, inst, t.now()); err != nil {
		return refused(err)
	}
	fmt.Fprintln(t.out, "done")
	return nil
}

// republish puts events on the bus again (a consumer lost them, or the
// bus refused them): one purchase's since a time, or every purchase's
// between two times (-from, -to: the arrival times an events dead-letter
// message names). Consumers de-duplicate on the event's id.
func (t *tool) republish(ctx context.Context, args []string) error {
	var since time.Duration
	var fromArg, toArg string
	r, args, err := parseRepair("republish", args, func(fs *flag.FlagSet) {
		fs.DurationVar(&since, "since", 24*time.Hour, "one purchase's events of the last")
		fs.StringVar(&fromArg, "from", "", "every purchase's events from (RFC 3339)")
		fs.StringVar(&toArg, "to", "", "... to (RFC 3339; default now)")
	})
	if err != nil {
		return err
	}
	var list []audit.Event
	var which, record string
	if fromArg != "" {
		if len(args) != 0 {
			return errors.New("republish -from takes no instance: it is every purchase's events in the time range")
		}
		from, to, err := timeRange(fromArg, toArg, t.now())
		if err != nil {
			return err
		}
		if list, err = t.trail.Between(ctx, from, to); err != nil {
			return err
		}
		which, record = fmt.Sprintf("every purchase from %s to %s", stamp(from), stamp(to)), storage.NoPurchase
	} else {
		id, err := one("republish", args, "an instance id (or -from, -to for every purchase)")
		if err != nil {
			return err
		}
		all, err := t.trail.Events(ctx, id, 0)
		if err != nil {
			return err
		}
		if len(all) == 0 {
			if _, ok, err := t.op.Instance(ctx, id); err != nil {
				return err
			} else if !ok {
				return fmt.Errorf("no instance %s (find one with: find ...)", id)
			}
		}
		from := t.now().Add(-since)
		for _, ev := range all {
			if !ev.At.Before(from) {
				list = append(list, ev)
			}
		}
		which, record = fmt.Sprintf("instance %s since %s", id, stamp(from)), id
	}
	fmt.Fprintf(t.out, "would: put %d events of %s on the bus again (same ids: consumers de-duplicate)\n", len(list), which)
	if !r.apply || len(list) == 0 {
		return t.dryRun()
	}
	taken, refused := 0, 0
	for start := 0; start < len(list); start += audit.BusBatch {
		batch := list[start:min(start+audit.BusBatch, len(list))]
		puts, err := t.bus.Put(ctx, batch)
		if err != nil {
			return fmt.Errorf("after %d events: %w", taken, err)
		}
		for i, put := range puts {
			switch put.Outcome {
			case audit.Taken:
				taken++
			case audit.Refused:
				refused++
				fmt.Fprintf(t.out, "refused for good: %s (%s)\n", batch[i], put.Code)
			}
		}
	}
	detail := map[string]string{"events": strconv.Itoa(len(list)), "taken": strconv.Itoa(taken)}
	if fromArg != "" {
		detail["range"] = which
	}
	if err := t.op.Record(t.asOperator(ctx, r), record, "republish", detail, t.now()); err != nil {
		return err
	}
	fmt.Fprintf(t.out, "done: the bus took %d of %d\n", taken, len(list))
	if taken < len(list) {
		return fmt.Errorf("the bus did not take %d events (%d refused for good): run it again, or see why", len(list)-taken, refused)
	}
	return nil
}

// timeRange reads -from and -to (to defaults to now).
func timeRange(from, to string, now time.Time) (time.Time, time.Time, error) {
	f, err := time.Parse(time.RFC3339, from)
	if err != nil {
		return time.Time{}, time.Time{}, fmt.Errorf("-from %q: give a time as 2026-12-04T08:00:00Z", from)
	}
	t := now
	if to != "" {
		if t, err = time.Parse(time.RFC3339, to); err != nil {
			return time.Time{}, time.Time{}, fmt.Errorf("-to %q: give a time as 2026-12-04T09:00:00Z", to)
		}
	}
	if !f.Before(t) {
		return time.Time{}, time.Time{}, errors.New("-from must be before -to")
	}
	if t.Sub(f) > 7*24*time.Hour {
		return time.Time{}, time.Time{}, errors.New("at most 7 days at once (each run reads the whole trail table)")
	}
	return f.UTC(), t.UTC(), nil
}

// runJob runs the reconciliation or the metering now (Lambda Invoke):
// the run takes the job's lease, so it never overlaps a scheduled one.
func (t *tool) runJob(ctx context.Context, args []string) error {
	r, args, err := parseRepair("run", args, nil)
	if err != nil {
		return err
	}
	job, err := one("run", args, "reconcile or metering")
	if err != nil {
		return err
	}
	function, ok := t.jobs[job]
	if !ok || function == "" {
		return fmt.Errorf("run %s: the jobs are reconcile and metering", job)
	}
	fmt.Fprintf(t.out, "would: invoke %s now and print its summary\n", function)
	if !r.apply {
		return t.dryRun()
	}
	out, err := t.invoker.Invoke(ctx, function)
	outcome := "ok"
	if err != nil {
		outcome = "failed"
	}
	if rerr := t.op.Record(t.asOperator(ctx, r), storage.NoPurchase, "run", map[string]string{"job": job, "outcome": outcome}, t.now()); rerr != nil {
		return errors.Join(err, rerr)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(t.out, "done: %s\n", out)
	return nil
}
