package storage_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/guance/aliyun-marketplace/cmd/devstack/dynamotest"
	"github.com/guance/aliyun-marketplace/shared/adapters/storage"
	"github.com/guance/aliyun-marketplace/shared/domain/activation"
	"github.com/guance/aliyun-marketplace/shared/domain/audit"
	"github.com/guance/aliyun-marketplace/shared/domain/guance"
	"github.com/guance/aliyun-marketplace/shared/domain/marketplace"
	"github.com/guance/aliyun-marketplace/shared/domain/metering"
	"github.com/guance/aliyun-marketplace/shared/domain/outbox"
)

var ana = audit.Operator{Who: "arn:aws:iam::111122223333:user/ana", Why: "address fixed after the bounce"}

func asOperator() context.Context { return audit.WithOperator(context.Background(), ana) }

// operatorEvents are the trail's operator actions of an instance, by
// what they did.
func operatorEvents(t *testing.T, trail *storage.Trail, instance string) map[string]audit.Event {
	t.Helper()
	list, err := trail.Events(context.Background(), instance, 0)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]audit.Event{}
	for _, ev := range list {
		if ev.Kind == audit.OperatorAction {
			out[ev.Detail["action"]] = ev
		}
	}
	return out
}

// deadMail is a welcome mail of instance given up after its last attempt.
func deadMail(t *testing.T, ob *storage.Outbox, instance string) outbox.Item {
	t.Helper()
	ctx := context.Background()
	m := outbox.New(outbox.KindWelcome, "a@example.com", "en", map[string]string{"username": "alice"}, t0, outbox.Keep)
	m.Instance = instance
	if err := ob.Put(ctx, m); err != nil {
		t.Fatal(err)
	}
	claimed, err := ob.Claim(ctx, m.ID, outbox.NewClaim(), t0)
	if err != nil {
		t.Fatal(err)
	}
	claimed.Attempts = outbox.MaxAttempts
	if dead, err := ob.Failed(ctx, claimed, "MessageRejected", t0); err != nil || !dead {
		t.Fatalf("dead %v %v", dead, err)
	}
	return m
}

// TestRequeueMail: a dead mail goes back to pending, due now, its
// attempts from zero, in the due index, where the reconciliation's sweep
// finds it and the deliverer can claim it; its events name the operator
// and the reason. Two operators at once: one wins. A code's mail, a mail
// not dead, a repair without an operator: refused.
func TestRequeueMail(t *testing.T) {
	db := startDB(t)
	st := db.Store()
	ob, op := st.Outbox(), st.Operator()
	m := deadMail(t, ob, "5700001")
	now := t0.Add(time.Hour)
	if err := op.RequeueMail(context.Background(), m.ID, now); !errors.Is(err, storage.ErrNoOperator) {
		t.Fatalf("without an operator: %v", err)
	}
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Go(func() { errs[i] = op.RequeueMail(asOperator(), m.ID, now) })
	}
	wg.Wait()
	won := 0
	for _, err := range errs {
		switch {
		case err == nil:
			won++
		case !errors.Is(err, storage.ErrNotAsSeen) && !isConflict(err):
			t.Fatalf("requeue: %v", err)
		}
	}
	if won != 1 {
		t.Fatalf("%d of 4 concurrent requeues went through, want 1", won)
	}
	due, err := ob.Due(context.Background(), now, 10)
	if err != nil || len(due) != 1 || due[0] != m.ID {
		t.Fatalf("due after the requeue: %v %v", due, err)
	}
	claimed, err := ob.Claim(context.Background(), m.ID, outbox.NewClaim(), now)
	if err != nil || claimed.Attempts != 1 || claimed.State != outbox.StatePending {
		t.Fatalf("the deliverer's claim: %+v %v", claimed, err)
	}
	ev := operatorEvents(t, st.Trail(), "5700001")["requeue-mail"]
	if ev.Actor != "operator:"+ana.Who || ev.Reason != ana.Why || ev.Detail["mailId"] != m.ID {
		t.Fatalf("the operator's event: %+v", ev)
	}
	if err := op.RequeueMail(asOperator(), m.ID, now); !errors.Is(err, storage.ErrNotAsSeen) {
		t.Fatalf("a mail that is not dead: %v", err)
	}
	code := outbox.New(outbox.KindCode, "b@example.com", "en", nil, t0, time.Hour)
	_ = ob.Put(context.Background(), code)
	c, _ := ob.Claim(context.Background(), code.ID, outbox.NewClaim(), t0)
	c.Attempts = outbox.MaxAttempts
	_, _ = ob.Failed(context.Background(), c, "Expired", t0)
	if err := op.RequeueMail(asOperator(), code.ID, now); !errors.Is(err, storage.ErrCodeGone) {
		t.Fatalf("a code's mail: %v", err)
	}
}

// TestWindowRepairs: an uncertain window within its deadline is requeued
// (pending, in the unsent index, for the next run); one past it is
// refused, and marked written off instead; a window the metering moved
// since the operator read it is refused (the product's write wins).
func TestWindowRepairs(t *testing.T) {
	db := startDB(t)
	st := db.Store()
	pushes, op := st.Pushes(), st.Operator()
	ctx := context.Background()
	window := t0.Truncate(time.Hour)
	for i, state := range []metering.PushState{metering.PushUncertain, metering.PushLate, metering.PushRefused} {
		if _, err := pushes.Create(ctx, metering.Push{InstanceID: "5700001", Window: window.Add(time.Duration(i) * time.Hour).Unix(), State: state, Record: "{}", UpdatedAt: t0}); err != nil {
			t.Fatal(err)
		}
	}
	get := func(i int) metering.Push {
		p, ok, err := op.Window(ctx, "5700001", window.Add(time.Duration(i)*time.Hour))
		if err != nil || !ok {
			t.Fatalf("window %d: %v", i, err)
		}
		return p
	}
	inTime := window.Add(metering.Window + 10*time.Minute)
	if err := op.RequeueWindow(asOperator(), get(0), inTime); err != nil {
		t.Fatal(err)
	}
	unsent, _ := pushes.Unsent(ctx, metering.PushPending)
	if p := get(0); p.State != metering.PushPending || len(unsent) != 1 {
		t.Fatalf("requeued: %+v, unsent %v", p, unsent)
	}
	late := get(1)
	if err := op.RequeueWindow(asOperator(), late, window.Add(5*time.Hour)); !errors.Is(err, storage.ErrPastDeadline) {
		t.Fatalf("past its deadline: %v", err)
	}
	if err := op.MarkWindow(asOperator(), late, metering.PushWrittenOff, window.Add(5*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if p := get(1); p.State != metering.PushWrittenOff {
		t.Fatalf("written off: %+v", p)
	}
	// The metering moves the refused window meanwhile (a run that found
	// it billed): the operator's mark, on what they read, is refused.
	seen := get(2)
	if _, err := pushes.Move(ctx, []metering.Push{seen}, metering.PushRefused, metering.PushPushed, "", t0); err != nil {
		t.Fatal(err)
	}
	if err := op.MarkWindow(asOperator(), seen, metering.PushWrittenOff, window.Add(5*time.Hour)); !errors.Is(err, storage.ErrNotAsSeen) {
		t.Fatalf("a window moved meanwhile: %v", err)
	}
	if p := get(2); p.State != metering.PushPushed {
		t.Fatalf("the product's write lost: %+v", p)
	}
	kinds := map[audit.Kind]int{}
	list, _ := st.Trail().Events(ctx, "5700001", 0)
	for _, ev := range list {
		kinds[ev.Kind]++
	}
	if kinds[audit.WindowRequeued] != 1 || kinds[audit.WindowMarked] != 1 || kinds[audit.OperatorAction] != 2 || kinds[audit.WindowPushed] != 1 {
		t.Fatalf("trail %v", kinds)
	}
}

// TestReleaseAStuckWorkspace: a workspace a release left settled through
// its instance goes back to billing center settlement and off the list;
// one the release's own effects got to first is refused (the product's
// write wins), and nothing is released twice.
func TestReleaseAStuckWorkspace(t *testing.T) {
	f := newRecords(t)
	ctx := context.Background()
	f.existing(t)
	f.instance(t, "7000001", uidA, nil)
	f.bind(t, "7000001", uidA)
	ids := f.settled(t, "7000001", uidA, 2)
	// The release lands; its effects have not run yet.
	svc := f.service()
	svc.Effects = nil
	if res, err := svc.Handle(ctx, &marketplace.ReleaseInstance{InstanceID: "7000001"}); err != nil || res.Outcome != activation.Applied {
		t.Fatalf("%v %v", res, err)
	}
	op := f.records.Operator()
	inst, _, _ := op.Instance(ctx, "7000001")
	ws := f.workspace(t, ids[0])
	if err := op.ReleaseWorkspace(asOperator(), ws, inst, t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if got := f.workspace(t, ids[0]); got.Settlement.Type != guance.SettledByBillingCenter {
		t.Fatalf("workspace %+v", got.Settlement)
	}
	inst, _, _ = op.Instance(ctx, "7000001")
	if len(inst.Workspaces) != 1 || inst.Workspaces[0] != ids[1] {
		t.Fatalf("the list %v", inst.Workspaces)
	}
	// The effects finish the rest, the workspace the operator released
	// untouched.
	if err := (&activation.Effects{Store: f.records.Effects(), Log: quiet}).Follow(ctx, "7000001"); err != nil {
		t.Fatal(err)
	}
	if err := op.ReleaseWorkspace(asOperator(), f.workspace(t, ids[1]), inst, t0.Add(time.Hour)); !errors.Is(err, storage.ErrNotAsSeen) {
		t.Fatalf("a workspace the effects released first: %v", err)
	}
	released := 0
	list, _ := f.records.Trail().Events(ctx, "7000001", 0)
	for _, ev := range list {
		if ev.Kind == audit.WorkspaceReleased {
			released++
		}
	}
	if released != 2 {
		t.Fatalf("%d Workspace Released events, want 2", released)
	}
}

func startDB(t *testing.T) *dynamotest.Server { return dynamotest.Start(t) }

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// isConflict tells a transaction that collided with another at once
// (DynamoDB's TransactionConflict): it changed nothing.
func isConflict(err error) bool {
	var canceled *types.TransactionCanceledException
	return errors.As(err, &canceled)
}
