package storage_test

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	miniserver "github.com/truora/minidyn/server"

	"github.com/guance/aliyun-marketplace/shared/activation"
	"github.com/guance/aliyun-marketplace/shared/dynamotest"
	"github.com/guance/aliyun-marketplace/shared/marketplace"
	"github.com/guance/aliyun-marketplace/shared/storage"
)

var t0 = time.Date(2026, 11, 26, 3, 0, 0, 0, time.UTC)

func newStore(t *testing.T) (*storage.Instances, *dynamotest.Server) {
	db := dynamotest.Start(t)
	return storage.NewInstances(db.Client(), db.Tables["InstancesTable"]), db
}

func sample() activation.Instance {
	return activation.Instance{
		ID: "5604018", AliUID: "1234567890123456", ProductCode: "cmgj00053362", SKU: "cmgj00053362-postpay",
		ExpiredOn: time.Date(2099, 1, 1, 0, 0, 0, 0, time.UTC), BillableItems: map[string]string{"Count": "2"},
		Status: activation.StatusActive, Progress: activation.ProgressPending,
		LastOrderID: "205060317920890", Applied: map[string]time.Time{"order:205060317920890": t0},
		History:   []activation.HistoryEntry{{Action: marketplace.ActionCreateInstance, OrderID: "205060317920890", Status: activation.StatusActive, At: t0}},
		CreatedAt: t0, UpdatedAt: t0,
	}
}

func TestCreateIsOneWriteAndIdempotent(t *testing.T) {
	store, db := newStore(t)
	ctx := context.Background()
	inst := sample()

	stored, created, err := store.Create(ctx, inst)
	if err != nil || !created || !reflect.DeepEqual(stored, inst) {
		t.Fatalf("first Create = %+v, %v, %v", stored, created, err)
	}
	if n := db.RoundTrips(); n != 1 {
		t.Errorf("first create took %d round trips, want 1", n)
	}

	db.ResetRoundTrips()
	changed := inst
	changed.AliUID = "9999999999999999"
	changed.CreatedAt = t0.Add(time.Hour)
	stored, created, err = store.Create(ctx, changed)
	if err != nil || created {
		t.Fatalf("repeat Create = %v, %v", created, err)
	}
	if n := db.RoundTrips(); n != 1 {
		t.Errorf("repeat create took %d round trips, want 1", n)
	}
	if !reflect.DeepEqual(stored, inst) {
		t.Fatalf("repeat returned\n%+v\nwant the first instance\n%+v", stored, inst)
	}

	got, err := store.Get(ctx, inst.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, inst) {
		t.Fatalf("Get = %+v\nwant %+v", got, inst)
	}
}

func TestCreateWithoutExpiry(t *testing.T) {
	store, _ := newStore(t)
	inst := sample()
	inst.ExpiredOn = time.Time{}
	inst.BillableItems = nil
	if _, _, err := store.Create(context.Background(), inst); err != nil {
		t.Fatal(err)
	}
	got, err := store.Get(context.Background(), inst.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !got.ExpiredOn.IsZero() || got.BillableItems != nil {
		t.Fatalf("got expiry %v items %v, want none", got.ExpiredOn, got.BillableItems)
	}
}

func TestGetUnknown(t *testing.T) {
	store, _ := newStore(t)
	if _, err := store.Get(context.Background(), "404"); !errors.Is(err, activation.ErrInstanceNotFound) {
		t.Fatalf("err = %v, want ErrInstanceNotFound", err)
	}
}

// TestApplySequence plays a lifecycle in order and out of order against the
// real conditional writes, checking each outcome, the state after it, and
// that every step is a single round trip.
func TestApplySequence(t *testing.T) {
	store, db := newStore(t)
	ctx := context.Background()
	if _, _, err := store.Create(ctx, sample()); err != nil {
		t.Fatal(err)
	}
	later := time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC)
	live := []activation.Status{activation.StatusActive, activation.StatusFrozen}
	steps := []struct {
		name       string
		change     activation.Change
		want       activation.Outcome
		wantStatus activation.Status
		wantExpiry time.Time
		wantOrder  string
	}{
		{"freeze", activation.Change{Action: "expiredInstance", From: []activation.Status{activation.StatusActive}, To: activation.StatusFrozen},
			activation.Applied, activation.StatusFrozen, sample().ExpiredOn, "205060317920890"},
		{"freeze again", activation.Change{Action: "expiredInstance", From: []activation.Status{activation.StatusActive}, To: activation.StatusFrozen},
			activation.AlreadyApplied, activation.StatusFrozen, sample().ExpiredOn, "205060317920890"},
		{"renew restores", activation.Change{Action: "renewInstance", OrderID: "205060317920892", From: live, To: activation.StatusActive, ExpiredOn: later},
			activation.Applied, activation.StatusActive, later, "205060317920892"},
		{"same renew again", activation.Change{Action: "renewInstance", OrderID: "205060317920892", From: live, To: activation.StatusActive, ExpiredOn: later},
			activation.AlreadyApplied, activation.StatusActive, later, "205060317920892"},
		{"older renew arrives late", activation.Change{Action: "renewInstance", OrderID: "205060317920891", From: live, To: activation.StatusActive, ExpiredOn: t0},
			activation.Superseded, activation.StatusActive, later, "205060317920892"},
		{"shorter id is older", activation.Change{Action: "upgradeInstance", OrderID: "99999999999999", From: live, SKU: "x"},
			activation.Superseded, activation.StatusActive, later, "205060317920892"},
		{"refund of renewal", activation.Change{Action: "refundRenewInstance", From: live, ExpiredOn: sample().ExpiredOn},
			activation.Applied, activation.StatusActive, sample().ExpiredOn, "205060317920892"},
		{"refund again", activation.Change{Action: "refundRenewInstance", From: live, ExpiredOn: sample().ExpiredOn},
			activation.AlreadyApplied, activation.StatusActive, sample().ExpiredOn, "205060317920892"},
		{"paid message", activation.Change{Action: "orderPay", RequestID: "r1", Note: "205060317920893", From: []activation.Status{activation.StatusActive, activation.StatusFrozen, activation.StatusReleased}},
			activation.Applied, activation.StatusActive, sample().ExpiredOn, "205060317920892"},
		{"paid message again", activation.Change{Action: "orderPay", RequestID: "r1", Note: "205060317920893", From: []activation.Status{activation.StatusActive, activation.StatusFrozen, activation.StatusReleased}},
			activation.AlreadyApplied, activation.StatusActive, sample().ExpiredOn, "205060317920892"},
		{"release", activation.Change{Action: "releaseInstance", From: live, To: activation.StatusReleased},
			activation.Applied, activation.StatusReleased, sample().ExpiredOn, "205060317920892"},
		{"release again", activation.Change{Action: "releaseInstance", From: live, To: activation.StatusReleased},
			activation.AlreadyApplied, activation.StatusReleased, sample().ExpiredOn, "205060317920892"},
		{"renew after release", activation.Change{Action: "renewInstance", OrderID: "205060317920899", From: live, To: activation.StatusActive, ExpiredOn: later},
			activation.Superseded, activation.StatusReleased, sample().ExpiredOn, "205060317920892"},
		{"resume after release", activation.Change{Action: "resumeInstance", From: []activation.Status{activation.StatusFrozen}, To: activation.StatusActive},
			activation.Superseded, activation.StatusReleased, sample().ExpiredOn, "205060317920892"},
	}
	wantHistory := 1
	for _, step := range steps {
		db.ResetRoundTrips()
		step.change.At = t0
		got, err := store.Apply(ctx, "5604018", step.change)
		if err != nil {
			t.Fatalf("%s: %v", step.name, err)
		}
		if got != step.want {
			t.Errorf("%s: outcome %s, want %s", step.name, got, step.want)
		}
		if n := db.RoundTrips(); n != 1 {
			t.Errorf("%s: %d round trips, want 1", step.name, n)
		}
		inst, err := store.Get(ctx, "5604018")
		if err != nil {
			t.Fatal(err)
		}
		if got == activation.Applied {
			wantHistory++
		}
		if inst.Status != step.wantStatus || !inst.ExpiredOn.Equal(step.wantExpiry) || inst.LastOrderID != step.wantOrder || len(inst.History) != wantHistory {
			t.Errorf("%s: status %s expiry %v last order %s history %d; want %s %v %s %d", step.name,
				inst.Status, inst.ExpiredOn, inst.LastOrderID, len(inst.History), step.wantStatus, step.wantExpiry, step.wantOrder, wantHistory)
		}
	}
}

func TestApplyUnknownInstance(t *testing.T) {
	store, _ := newStore(t)
	_, err := store.Apply(context.Background(), "404", activation.Change{Action: "expiredInstance", From: []activation.Status{activation.StatusActive}, To: activation.StatusFrozen, At: t0})
	if !errors.Is(err, activation.ErrInstanceNotFound) {
		t.Fatalf("err = %v, want ErrInstanceNotFound", err)
	}
}

func TestStoreFailuresAreErrors(t *testing.T) {
	store, db := newStore(t)
	db.Engine.EmulateFailure(miniserver.FailureConditionInternalServerError)
	if _, _, err := store.Create(context.Background(), sample()); err == nil {
		t.Fatal("Create succeeded while DynamoDB fails")
	}
	if _, err := store.Apply(context.Background(), "5604018", activation.Change{Action: "expiredInstance", From: []activation.Status{activation.StatusActive}, To: activation.StatusFrozen, At: t0}); err == nil || errors.Is(err, activation.ErrInstanceNotFound) {
		t.Fatalf("Apply err = %v, want a store failure", err)
	}
}
