package activation

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/guance/aliyun-marketplace/shared/marketplace"
)

func TestOrderNewer(t *testing.T) {
	tests := []struct {
		a, b string
		want bool
	}{
		{"205060317920891", "205060317920890", true},
		{"205060317920890", "205060317920891", false},
		{"205060317920890", "205060317920890", false},
		{"1000", "999", true},
		{"999", "1000", false},
		{"0010", "9", true},
		{"1", "", true},
	}
	for _, tt := range tests {
		if got := OrderNewer(tt.a, tt.b); got != tt.want {
			t.Errorf("OrderNewer(%q, %q) = %v", tt.a, tt.b, got)
		}
		if tt.a != "" && tt.b != "" && (OrderSortKey(tt.a) > OrderSortKey(tt.b)) != tt.want {
			t.Errorf("OrderSortKey disagrees with OrderNewer for %q, %q", tt.a, tt.b)
		}
	}
}

func TestExplain(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	inst := &Instance{
		Status: StatusActive, LastOrderID: "20", ExpiredOn: t0,
		Applied: map[string]time.Time{OrderKey("20"): t0, RequestKey("r1"): t0},
	}
	frozen := *inst
	frozen.Status = StatusFrozen
	released := *inst
	released.Status = StatusReleased
	live := []Status{StatusActive, StatusFrozen}
	tests := []struct {
		name    string
		old     *Instance
		change  Change
		want    Outcome
		wantErr error
	}{
		{"no instance", nil, Change{From: live}, "", ErrInstanceNotFound},
		{"same request", inst, Change{RequestID: "r1", From: live}, AlreadyApplied, nil},
		{"same order", inst, Change{OrderID: "20", From: live}, AlreadyApplied, nil},
		{"older order", inst, Change{OrderID: "19", From: live}, Superseded, nil},
		{"already frozen", &frozen, Change{From: []Status{StatusActive}, To: StatusFrozen}, AlreadyApplied, nil},
		{"already released", &released, Change{From: live, To: StatusReleased}, AlreadyApplied, nil},
		{"freeze after release", &released, Change{From: []Status{StatusActive}, To: StatusFrozen}, Superseded, nil},
		{"resume an active one", inst, Change{From: []Status{StatusFrozen}, To: StatusActive}, AlreadyApplied, nil},
		{"same expiry again", inst, Change{From: live, ExpiredOn: t0}, AlreadyApplied, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Explain(tt.old, tt.change)
			if got != tt.want || !errors.Is(err, tt.wantErr) {
				t.Fatalf("Explain = %q, %v; want %q, %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
	// A refusal that none of the rules explains is an error, not a guess.
	if _, err := Explain(inst, Change{OrderID: "21", From: live}); err == nil {
		t.Fatal("an unexplained refusal must be an error")
	}
}

type recordingStore struct {
	created *Instance
	id      string
	change  Change
	err     error
}

func (s *recordingStore) Create(_ context.Context, inst Instance) (Instance, bool, error) {
	s.created = &inst
	return inst, true, s.err
}

func (s *recordingStore) Apply(_ context.Context, id string, c Change) (Outcome, error) {
	s.id, s.change = id, c
	return Applied, s.err
}

func TestServiceMapsMessages(t *testing.T) {
	now := time.Date(2026, 11, 26, 3, 0, 0, 0, time.UTC)
	exp := time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC)
	live := []Status{StatusActive, StatusFrozen}
	tests := []struct {
		msg  any
		id   string
		want Change
	}{
		{&marketplace.RenewInstance{InstanceID: "1", OrderID: "9", ExpiredOn: exp}, "1", Change{Action: "renewInstance", OrderID: "9", From: live, To: StatusActive, ExpiredOn: exp, At: now}},
		{&marketplace.UpgradeInstance{InstanceID: "1", OrderID: "9", SKU: "s"}, "1", Change{Action: "upgradeInstance", OrderID: "9", From: live, SKU: "s", At: now}},
		{&marketplace.ExpiredInstance{InstanceID: "1"}, "1", Change{Action: "expiredInstance", From: []Status{StatusActive}, To: StatusFrozen, At: now}},
		{&marketplace.ReleaseInstance{InstanceID: "1", OrderID: "7"}, "1", Change{Action: "releaseInstance", From: live, To: StatusReleased, Note: "7", At: now}},
		{&marketplace.RefundRenewInstance{InstanceID: "1", ExpiredOn: exp}, "1", Change{Action: "refundRenewInstance", From: live, ExpiredOn: exp, At: now}},
		{&marketplace.ResumeInstance{InstanceID: "1"}, "1", Change{Action: "resumeInstance", From: []Status{StatusFrozen}, To: StatusActive, At: now}},
		{&marketplace.OrderPay{InstanceID: "2", RequestID: "r", OrderID: "8"}, "2", Change{Action: "orderPay", RequestID: "r", Note: "8", From: []Status{StatusActive, StatusFrozen, StatusReleased}, At: now}},
	}
	for _, tt := range tests {
		store := &recordingStore{}
		svc := &Service{Store: store, Now: func() time.Time { return now }}
		if _, err := svc.Handle(context.Background(), tt.msg); err != nil {
			t.Fatal(err)
		}
		if store.id != tt.id || !equalChange(store.change, tt.want) {
			t.Errorf("%T: got %s %+v, want %s %+v", tt.msg, store.id, store.change, tt.id, tt.want)
		}
	}

	store := &recordingStore{}
	svc := &Service{Store: store, Now: func() time.Time { return now }}
	res, err := svc.Handle(context.Background(), &marketplace.CreateInstance{InstanceID: "5", AliUID: "1234567890123456", OrderID: "3"})
	if err != nil || res.Outcome != Applied || res.Instance == nil {
		t.Fatalf("create: %+v %v", res, err)
	}
	if c := store.created; c.Status != StatusActive || c.Progress != ProgressPending || c.LastOrderID != "3" || len(c.History) != 1 || c.Applied[OrderKey("3")] != now {
		t.Fatalf("created %+v", c)
	}

	store.err = errors.New("throttled")
	if _, err := svc.Handle(context.Background(), &marketplace.ExpiredInstance{InstanceID: "1"}); err == nil || !errors.Is(err, store.err) {
		t.Fatalf("store error not passed on: %v", err)
	}
}

func equalChange(a, b Change) bool {
	if len(a.From) != len(b.From) {
		return false
	}
	for i := range a.From {
		if a.From[i] != b.From[i] {
			return false
		}
	}
	a.From, b.From = nil, nil
	return a.Action == b.Action && a.OrderID == b.OrderID && a.RequestID == b.RequestID && a.To == b.To &&
		a.ExpiredOn.Equal(b.ExpiredOn) && a.SKU == b.SKU && a.Note == b.Note && a.At.Equal(b.At) && len(a.BillableItems) == len(b.BillableItems)
}
