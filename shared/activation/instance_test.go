package activation

import (
	"context"
	"errors"
	"io"
	"log/slog"
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
		Status: StatusActive, ExpiredOn: t0,
		Orders:     map[string]string{OrderCreate: "10", OrderRenew: "20", OrderUpgrade: "30"},
		RestoredAt: t0.Add(-time.Hour),
	}
	frozen := *inst
	frozen.Status = StatusFrozen
	frozen.FrozenAt = t0.Add(-time.Minute)
	released := *inst
	released.Status = StatusReleased
	disputed := *inst
	disputed.DisputedAction, disputed.DisputedAt = marketplace.ActionExpiredInstance, t0
	freeze := Change{Action: marketplace.ActionExpiredInstance, From: []Status{StatusActive}, To: StatusFrozen}
	resume := Change{Action: marketplace.ActionResumeInstance, From: []Status{StatusFrozen}, To: StatusActive}
	tests := []struct {
		name    string
		old     *Instance
		change  Change
		want    Outcome
		wantErr error
	}{
		{"no instance", nil, Change{From: Live}, "", ErrInstanceNotFound},
		{"same renewal", inst, Change{OrderKind: OrderRenew, OrderID: "20", From: Live}, AlreadyApplied, nil},
		{"older renewal", inst, Change{OrderKind: OrderRenew, OrderID: "19", From: Live}, Superseded, nil},
		// The kinds are apart: a renewal is not older than an upgrade.
		{"renewal refused for another reason", inst, Change{OrderKind: OrderRenew, OrderID: "25", From: []Status{StatusFrozen}}, Superseded, nil},
		{"already frozen", &frozen, freeze, AlreadyApplied, nil},
		{"already released", &released, Change{From: Live, To: StatusReleased}, AlreadyApplied, nil},
		{"freeze after release", &released, freeze, Superseded, nil},
		{"resume an active one", inst, resume, AlreadyApplied, nil},
		{"same expiry again", inst, Change{From: Live, ExpiredOn: t0}, AlreadyApplied, nil},
		{"freeze soon after a restore", inst, withGuard(freeze, "restoredAt", t0.Add(-24*time.Hour)), Contested, nil},
		{"resume soon after a freeze", &frozen, withGuard(resume, "frozenAt", t0.Add(-24*time.Hour)), Contested, nil},
		{"dispute recorded before", &disputed, Change{Action: marketplace.ActionExpiredInstance, From: []Status{StatusActive}, Dispute: true}, Disputed, nil},
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
	if _, err := Explain(inst, Change{OrderKind: OrderRenew, OrderID: "21", From: Live}); err == nil {
		t.Fatal("an unexplained refusal must be an error")
	}
}

func withGuard(c Change, after string, since time.Time) Change {
	c.Guard = &Guard{After: after, Since: since}
	return c
}

// fakeStore applies changes to one in-memory instance with the same rules
// as the DynamoDB store: the condition is Explain's reading.
type fakeStore struct {
	inst    Instance
	changes []Change
	err     error
}

func (s *fakeStore) Create(_ context.Context, inst Instance) (Instance, bool, error) {
	s.inst = inst
	return inst, true, s.err
}

func (s *fakeStore) Apply(_ context.Context, _ string, c Change) (Outcome, error) {
	if s.err != nil {
		return "", s.err
	}
	s.changes = append(s.changes, c)
	if c.Guard != nil && c.Guard.Settled && s.inst.moves(c.Guard.Counter()) != c.Guard.Seen {
		return Superseded, nil
	}
	if c.Guard != nil && !c.Guard.Settled && s.inst.movedAfter(c.Guard.After, c.Guard.Since) {
		return Contested, nil
	}
	if c.Dispute {
		s.inst.DisputedAction, s.inst.DisputedAt = c.Action, c.At
		return Disputed, nil
	}
	if c.To != "" {
		s.inst.Status = c.To
	}
	return Applied, nil
}

func (s *fakeStore) RecordPayment(context.Context, string, string, Call) (Outcome, error) {
	return Applied, s.err
}

func (s *fakeStore) Get(context.Context, string) (Instance, error) { return s.inst, s.err }

type fakeMarket struct {
	status MarketStatus
	err    error
	asked  int
}

func (m *fakeMarket) InstanceStatus(context.Context, string) (MarketStatus, error) {
	m.asked++
	return m.status, m.err
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func TestChangeForMapsMessages(t *testing.T) {
	now := time.Date(2026, 11, 26, 3, 0, 0, 0, time.UTC)
	edge := now.Add(-24 * time.Hour)
	exp := time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		msg  marketplace.Message
		want Change
	}{
		{&marketplace.RenewInstance{InstanceID: "1", OrderID: "9", ExpiredOn: exp}, Change{Action: "renewInstance", OrderKind: OrderRenew, OrderID: "9", From: Live, To: StatusActive, ExpiredOn: exp, At: now}},
		{&marketplace.UpgradeInstance{InstanceID: "1", OrderID: "9", SKU: "s"}, Change{Action: "upgradeInstance", OrderKind: OrderUpgrade, OrderID: "9", From: Live, SKU: "s", At: now}},
		{&marketplace.ExpiredInstance{InstanceID: "1"}, Change{Action: "expiredInstance", From: []Status{StatusActive}, To: StatusFrozen, Guard: &Guard{After: "restoredAt", Since: edge}, At: now}},
		{&marketplace.ReleaseInstance{InstanceID: "1", OrderID: "7"}, Change{Action: "releaseInstance", From: Live, To: StatusReleased, Note: "7", At: now}},
		{&marketplace.RefundRenewInstance{InstanceID: "1", ExpiredOn: exp}, Change{Action: "refundRenewInstance", From: Live, ExpiredOn: exp, At: now}},
		{&marketplace.ResumeInstance{InstanceID: "1"}, Change{Action: "resumeInstance", From: []Status{StatusFrozen}, To: StatusActive, Guard: &Guard{After: "frozenAt", Since: edge}, At: now}},
	}
	for _, tt := range tests {
		id, got, err := ChangeFor(tt.msg, now, 24*time.Hour)
		if err != nil || id != "1" || !equalChange(got, tt.want) {
			t.Errorf("%T: got %s %+v, %v\nwant %+v", tt.msg, id, got, err, tt.want)
		}
	}
}

// TestContestedCalls: an expiredInstance or resumeInstance that the order
// history contradicts is settled by the marketplace's word, and recorded
// for the reconciliation when the marketplace cannot be asked.
func TestContestedCalls(t *testing.T) {
	now := time.Date(2026, 11, 26, 3, 0, 0, 0, time.UTC)
	tests := []struct {
		name       string
		msg        marketplace.Message
		start      Instance
		market     *fakeMarket
		want       Outcome
		wantStatus Status
		wantAsked  int
	}{
		{"late expire, marketplace says opened", &marketplace.ExpiredInstance{InstanceID: "1"},
			Instance{Status: StatusActive, RestoredAt: now.Add(-time.Hour)}, &fakeMarket{status: MarketOpened}, Superseded, StatusActive, 1},
		{"expire after a restore, marketplace says expired", &marketplace.ExpiredInstance{InstanceID: "1"},
			Instance{Status: StatusActive, RestoredAt: now.Add(-time.Hour)}, &fakeMarket{status: MarketExpired}, Applied, StatusFrozen, 1},
		{"expire long after the last restore: no question", &marketplace.ExpiredInstance{InstanceID: "1"},
			Instance{Status: StatusActive, RestoredAt: now.Add(-48 * time.Hour)}, &fakeMarket{}, Applied, StatusFrozen, 0},
		{"late resume, marketplace says expired", &marketplace.ResumeInstance{InstanceID: "1"},
			Instance{Status: StatusFrozen, FrozenAt: now.Add(-time.Minute)}, &fakeMarket{status: MarketExpired}, Superseded, StatusFrozen, 1},
		{"resume, marketplace says opened", &marketplace.ResumeInstance{InstanceID: "1"},
			Instance{Status: StatusFrozen, FrozenAt: now.Add(-time.Minute)}, &fakeMarket{status: MarketOpened}, Applied, StatusActive, 1},
		{"marketplace unreachable: recorded", &marketplace.ExpiredInstance{InstanceID: "1"},
			Instance{Status: StatusActive, RestoredAt: now.Add(-time.Hour)}, &fakeMarket{err: ErrMarketUnavailable}, Disputed, StatusActive, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			store := &fakeStore{inst: tt.start}
			svc := &Service{Store: store, Market: tt.market, Now: func() time.Time { return now }, Log: quiet}
			res, err := svc.Handle(context.Background(), tt.msg)
			if err != nil {
				t.Fatal(err)
			}
			if res.Outcome != tt.want || store.inst.Status != tt.wantStatus || tt.market.asked != tt.wantAsked {
				t.Fatalf("outcome %s status %s asked %d; want %s %s %d", res.Outcome, store.inst.Status, tt.market.asked, tt.want, tt.wantStatus, tt.wantAsked)
			}
			if tt.want == Disputed && store.inst.DisputedAction != marketplace.ActionExpiredInstance {
				t.Fatalf("dispute not recorded: %q", store.inst.DisputedAction)
			}
		})
	}
}

func TestServiceCreateAndErrors(t *testing.T) {
	now := time.Date(2026, 11, 26, 3, 0, 0, 0, time.UTC)
	store := &fakeStore{}
	svc := &Service{Store: store, Now: func() time.Time { return now }, Log: quiet}
	res, err := svc.Handle(context.Background(), &marketplace.CreateInstance{InstanceID: "5", AliUID: "1234567890123456", OrderID: "3"})
	if err != nil || res.Outcome != Applied || res.Instance == nil {
		t.Fatalf("create: %+v %v", res, err)
	}
	if c := store.inst; c.Status != StatusActive || c.Progress != ProgressPending || c.Orders[OrderCreate] != "3" || c.LastCalls[marketplace.ActionCreateInstance].At != now {
		t.Fatalf("created %+v", c)
	}
	store.err = errors.New("throttled")
	if _, err := svc.Handle(context.Background(), &marketplace.RenewInstance{InstanceID: "1", OrderID: "4"}); err == nil || !errors.Is(err, store.err) {
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
	if (a.Guard == nil) != (b.Guard == nil) || a.Guard != nil && (a.Guard.After != b.Guard.After || !a.Guard.Since.Equal(b.Guard.Since)) {
		return false
	}
	return a.Action == b.Action && a.OrderKind == b.OrderKind && a.OrderID == b.OrderID && a.To == b.To &&
		a.ExpiredOn.Equal(b.ExpiredOn) && a.SKU == b.SKU && a.Note == b.Note && a.At.Equal(b.At) && len(a.BillableItems) == len(b.BillableItems)
}
