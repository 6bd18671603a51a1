package activation

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/guance/aliyun-marketplace/shared/domain/marketplace"
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
	upgraded := Instance{Status: StatusActive, Orders: map[string]string{OrderCreate: "10"}, UpgradedAt: t0.Add(-time.Hour), Upgrades: 1, UpgradeDigest: UpgradeDigest("sku-a", nil)}
	orderless := Change{Action: marketplace.ActionUpgradeInstance, From: Live, SKU: "sku-a", Digest: UpgradeDigest("sku-a", nil),
		Guard: &Guard{After: "upgradedAt", Settled: true, Seen: 1}}
	raced := orderless
	raced.Guard = &Guard{After: "upgradedAt", Settled: true, Seen: 0}
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
		{"a renewal of a frozen instance", &frozen, withGuard(Change{OrderKind: OrderRenew, OrderID: "21", From: Live, To: StatusActive}, "frozenAt", StatusFrozen), Contested, nil},
		{"dispute recorded before", &disputed, Change{Action: marketplace.ActionExpiredInstance, From: []Status{StatusActive}, Dispute: true}, Disputed, nil},
		{"orderless upgrade repeated", &upgraded, orderless, AlreadyApplied, nil},
		// The marketplace agreed, but another upgrade landed while it was asked.
		{"orderless upgrade overtaken while settling", &upgraded, withDigest(raced, "other"), Superseded, nil},
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

func withDigest(c Change, digest string) Change {
	c.Digest = digest
	return c
}

func TestUpgradeDigest(t *testing.T) {
	a := UpgradeDigest("sku", map[string]string{"Count": "2", "Num": "3"})
	if b := UpgradeDigest("sku", map[string]string{"Num": "3", "Count": "2"}); a != b {
		t.Fatal("the digest depends on the order of the items")
	}
	for _, other := range []string{
		UpgradeDigest("sku", map[string]string{"Count": "2", "Num": "4"}),
		UpgradeDigest("sku2", map[string]string{"Count": "2", "Num": "3"}),
		UpgradeDigest("sku", map[string]string{"Count": "2Num3"}),
		UpgradeDigest("sku", nil),
	} {
		if other == a {
			t.Fatal("two different upgrades share a digest")
		}
	}
}

// TestApplyNotification: the documented failed notification (orderPay, a
// JSON object with no token and no requestId) is recorded once per order,
// as made when the marketplace made it; an instance we never heard of is
// recovered from the marketplace first; anything else is refused.
func TestApplyNotification(t *testing.T) {
	now := time.Date(2026, 11, 26, 3, 0, 0, 0, time.UTC)
	made := now.Add(-3 * time.Hour)
	doc := marketplace.FailedNotification{ID: "deab3673236843a3b378c7d8d25c5f01", Action: "orderPay", CreatedAt: made,
		Message: `{"productCode":"cmgj00001","orderId":"123456","orderBizId":"111222","action":"orderPay","aliUid":"12211222211","skuId":"cmgj00001-prepay"}`}

	store := &fakeStore{}
	svc := &Service{Store: store, Now: func() time.Time { return now }, Log: quiet}
	if outcome, err := svc.ApplyNotification(context.Background(), doc); err != nil || outcome != Applied {
		t.Fatalf("documented notification: %s %v", outcome, err)
	}
	if got := store.payments[0]; got.id != "111222" || got.key != "order-123456" || got.call.OrderID != "123456" || !got.call.At.Equal(made) {
		t.Fatalf("recorded %+v", got)
	}

	unknown := &fakeStore{missing: true}
	records := &fakeRecords{record: MarketRecord{InstanceID: "111222", OrderID: "123456", AliUID: "12211222211", Status: MarketOpened}}
	svc = &Service{Store: unknown, Records: records, Now: func() time.Time { return now }, Log: quiet}
	if _, err := svc.ApplyNotification(context.Background(), doc); err != nil {
		t.Fatalf("unknown instance: %v", err)
	}
	if unknown.inst.ID != "111222" || unknown.inst.AliUID != "12211222211" || len(unknown.payments) != 1 {
		t.Fatalf("not recovered: %+v, %d payments", unknown.inst, len(unknown.payments))
	}
	svc.Records = &fakeRecords{err: ErrMarketUnavailable}
	unknown.missing, unknown.payments = true, nil
	if _, err := svc.ApplyNotification(context.Background(), doc); !errors.Is(err, ErrMarketUnavailable) {
		t.Fatalf("recovery failing: %v", err)
	}

	for _, bad := range []marketplace.FailedNotification{
		{ID: "1", Action: "releaseInstance", Message: `{"action":"releaseInstance","instanceId":"1"}`},
		{ID: "2", Action: "orderPay", Message: `{"action":"orderPay","orderBizId":"1"}`},
		{ID: "3", Action: "orderPay", Message: `[1]`},
	} {
		if _, err := svc.ApplyNotification(context.Background(), bad); err == nil {
			t.Errorf("notification %s taken", bad.ID)
		}
	}
	// The action may come only beside the message.
	bare := doc
	bare.Message = `{"productCode":"cmgj00001","orderId":"123456","orderBizId":"111222","aliUid":"12211222211"}`
	store = &fakeStore{}
	svc = &Service{Store: store, Now: func() time.Time { return now }, Log: quiet}
	if _, err := svc.ApplyNotification(context.Background(), bare); err != nil {
		t.Fatalf("action beside the message: %v", err)
	}
}

// TestNotificationOfAnotherProduct: the failed notifications list every
// product of the ISV's account. One of a product this stack does not sell
// is left alone (ErrOtherProduct: not applied, so never confirmed), by
// its own productCode or, when it names none, by the recovered record's.
func TestNotificationOfAnotherProduct(t *testing.T) {
	now := time.Date(2026, 11, 26, 3, 0, 0, 0, time.UTC)
	other := marketplace.FailedNotification{ID: "n1", Action: "orderPay", CreatedAt: now.Add(-time.Hour),
		Message: `{"productCode":"cmjj00099999","orderId":"900001","orderBizId":"777001","action":"orderPay","aliUid":"12211222211"}`}
	unnamed := other
	unnamed.Message = `{"orderId":"900001","orderBizId":"777001","action":"orderPay","aliUid":"12211222211"}`
	ours := other
	ours.Message = `{"productCode":"cmgj00053362","orderId":"900001","orderBizId":"777001","action":"orderPay","aliUid":"12211222211"}`
	record := func(product string) *fakeRecords {
		return &fakeRecords{record: MarketRecord{InstanceID: "777001", OrderID: "900001", AliUID: "12211222211", ProductCode: product, Status: MarketOpened}}
	}
	tests := []struct {
		name     string
		n        marketplace.FailedNotification
		record   string
		products []string
		other    bool
	}{
		{"another product by its code", other, "cmjj00099999", []string{"cmgj00053362"}, true},
		{"no code, the record says another", unnamed, "cmjj00099999", []string{"cmgj00053362"}, true},
		{"no code, the record says none", unnamed, "", []string{"cmgj00053362"}, true},
		{"ours", ours, "cmgj00053362", []string{"cmgj00053362"}, false},
		{"no code, the record says ours", unnamed, "cmgj00053362", []string{"cmgj00053362"}, false},
		{"every product taken when none is set", other, "cmjj00099999", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			store := &fakeStore{missing: true}
			svc := &Service{Store: store, Records: record(tt.record), Products: tt.products, Now: func() time.Time { return now }, Log: quiet}
			_, err := svc.ApplyNotification(context.Background(), tt.n)
			if got := errors.Is(err, ErrOtherProduct); got != tt.other || (!tt.other && err != nil) {
				t.Fatalf("err %v; want another product: %v", err, tt.other)
			}
			if tt.other && (store.inst.ID != "" || len(store.payments) != 0) {
				t.Fatalf("another product's notification recorded: %+v, %d payments", store.inst, len(store.payments))
			}
		})
	}
}

type fakeRecords struct {
	record MarketRecord
	err    error
}

func (r *fakeRecords) Record(context.Context, string) (MarketRecord, error) { return r.record, r.err }

func withGuard(c Change, after string, when Status) Change {
	c.Guard = &Guard{After: after, When: when}
	return c
}

// fakeStore applies changes to one in-memory instance with the same rules
// as the DynamoDB store: the condition is Explain's reading.
type fakeStore struct {
	inst       Instance
	changes    []Change
	superseded []Change
	err        error
	missing    bool // no instance yet: payments refused until one is created
	payments   []payment
}

type payment struct {
	id, key string
	call    Call
}

func (s *fakeStore) Create(_ context.Context, inst Instance) (Instance, bool, error) {
	s.inst, s.missing = inst, false
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
	if c.Guard != nil && !c.Guard.Settled && c.Guard.When != "" && s.inst.Status == c.Guard.When {
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

func (s *fakeStore) RecordPayment(_ context.Context, id, key string, call Call) (Outcome, error) {
	if s.missing {
		return "", ErrInstanceNotFound
	}
	s.payments = append(s.payments, payment{id, key, call})
	return Applied, s.err
}

func (s *fakeStore) Get(context.Context, string) (Instance, error) { return s.inst, s.err }

func (s *fakeStore) Superseded(_ context.Context, _ string, c Change) error {
	s.superseded = append(s.superseded, c)
	return nil
}

type fakeMarket struct {
	status MarketStatus
	err    error
	asked  int
}

func (m *fakeMarket) Describe(_ context.Context, id string) (MarketInstance, error) {
	m.asked++
	return MarketInstance{InstanceID: id, Status: m.status}, m.err
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func TestChangeForMapsMessages(t *testing.T) {
	now := time.Date(2026, 11, 26, 3, 0, 0, 0, time.UTC)
	exp := time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		msg  marketplace.Message
		want Change
	}{
		{&marketplace.RenewInstance{InstanceID: "1", OrderID: "9", ExpiredOn: exp}, Change{Action: "renewInstance", OrderKind: OrderRenew, OrderID: "9", From: Live, To: StatusActive, ExpiredOn: exp, Guard: &Guard{After: "frozenAt", When: StatusFrozen}, At: now}},
		{&marketplace.UpgradeInstance{InstanceID: "1", OrderID: "9", SKU: "s"}, Change{Action: "upgradeInstance", OrderKind: OrderUpgrade, OrderID: "9", From: Live, SKU: "s", At: now}},
		{&marketplace.ExpiredInstance{InstanceID: "1"}, Change{Action: "expiredInstance", From: []Status{StatusActive}, To: StatusFrozen, Guard: &Guard{After: "restoredAt", Ask: true}, At: now}},
		{&marketplace.ReleaseInstance{InstanceID: "1", OrderID: "7"}, Change{Action: "releaseInstance", From: Live, To: StatusReleased, Note: "7", At: now}},
		{&marketplace.RefundRenewInstance{InstanceID: "1", ExpiredOn: exp}, Change{Action: "refundRenewInstance", From: Live, ExpiredOn: exp, At: now}},
		{&marketplace.ResumeInstance{InstanceID: "1"}, Change{Action: "resumeInstance", From: []Status{StatusFrozen}, To: StatusActive, Guard: &Guard{After: "frozenAt", Ask: true}, At: now}},
	}
	for _, tt := range tests {
		id, got, err := ChangeFor(tt.msg, now)
		if err != nil || id != "1" || !equalChange(got, tt.want) {
			t.Errorf("%T: got %s %+v, %v\nwant %+v", tt.msg, id, got, err, tt.want)
		}
	}
}

// TestContestedCalls: a call without an order id (and a renewal lifting
// a freeze) is put to the marketplace's word every time: applied when its
// record agrees, refused (ErrMarketDisagrees: the marketplace calls again)
// when it does not, recorded for the reconciliation when the marketplace
// cannot be asked (a freeze or a resume), refused when it cannot and the
// call carries an order. A repeat, or a status the instance cannot leave,
// asks nothing.
func TestContestedCalls(t *testing.T) {
	now := time.Date(2026, 11, 26, 3, 0, 0, 0, time.UTC)
	expire, resume := &marketplace.ExpiredInstance{InstanceID: "1"}, &marketplace.ResumeInstance{InstanceID: "1"}
	renew := &marketplace.RenewInstance{InstanceID: "1", OrderID: "30"}
	active := Instance{Status: StatusActive, RestoredAt: now.Add(-48 * time.Hour), Orders: map[string]string{OrderRenew: "20"}}
	frozen := Instance{Status: StatusFrozen, FrozenAt: now.Add(-time.Minute), Orders: map[string]string{OrderRenew: "20"}}
	released := Instance{Status: StatusReleased}
	tests := []struct {
		name       string
		msg        marketplace.Message
		start      Instance
		market     *fakeMarket
		want       Outcome
		wantErr    error
		wantStatus Status
		wantAsked  int
	}{
		{"expire, the marketplace says expired", expire, active, &fakeMarket{status: MarketExpired}, Applied, nil, StatusFrozen, 1},
		// Long after the last restore too: a replayed URL has no age.
		{"expire (or its replay), the marketplace says opened", expire, active, &fakeMarket{status: MarketOpened}, "", ErrMarketDisagrees, StatusActive, 1},
		{"expire of a frozen instance: a repeat", expire, frozen, &fakeMarket{}, AlreadyApplied, nil, StatusFrozen, 0},
		{"expire of a released instance", expire, released, &fakeMarket{}, Superseded, nil, StatusReleased, 0},
		{"resume, the marketplace says opened", resume, frozen, &fakeMarket{status: MarketOpened}, Applied, nil, StatusActive, 1},
		{"resume (or its replay), the marketplace says expired", resume, frozen, &fakeMarket{status: MarketExpired}, "", ErrMarketDisagrees, StatusFrozen, 1},
		{"expire, the marketplace unreachable: recorded", expire, active, &fakeMarket{err: ErrMarketUnavailable}, Disputed, nil, StatusActive, 1},
		{"renewal of an active instance: no question", renew, active, &fakeMarket{}, Applied, nil, StatusActive, 0},
		{"renewal lifting a freeze, the marketplace says opened", renew, frozen, &fakeMarket{status: MarketOpened}, Applied, nil, StatusActive, 1},
		// A retry of a renewal sent before the freeze.
		{"renewal lifting a freeze, the marketplace says expired", renew, frozen, &fakeMarket{status: MarketExpired}, "", ErrMarketDisagrees, StatusFrozen, 1},
		{"renewal lifting a freeze, the marketplace unreachable", renew, frozen, &fakeMarket{err: ErrMarketUnavailable}, "", ErrMarketUnavailable, StatusFrozen, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			store := &fakeStore{inst: tt.start}
			svc := &Service{Store: store, Market: tt.market, Now: func() time.Time { return now }, Log: quiet}
			res, err := svc.Handle(context.Background(), tt.msg)
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) {
				t.Fatalf("err %v, want %v", err, tt.wantErr)
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
	if (a.Guard == nil) != (b.Guard == nil) || a.Guard != nil && *a.Guard != *b.Guard {
		return false
	}
	return a.Action == b.Action && a.OrderKind == b.OrderKind && a.OrderID == b.OrderID && a.To == b.To &&
		a.ExpiredOn.Equal(b.ExpiredOn) && a.SKU == b.SKU && a.Note == b.Note && a.At.Equal(b.At) && len(a.BillableItems) == len(b.BillableItems)
}

// TestMarketHolds: the record shows an upgrade when its SKU is the same
// and every item it lists among its components has the same value; what
// it does not list it says nothing of.
func TestMarketHolds(t *testing.T) {
	record := MarketInstance{SKU: "sku-b", Components: map[string]string{"Count": "8", "package_version": "x"}}
	for _, tt := range []struct {
		name  string
		sku   string
		items map[string]string
		want  bool
	}{
		{"same SKU, no items", "sku-b", nil, true},
		{"same SKU, same item", "sku-b", map[string]string{"Count": "8"}, true},
		{"same SKU, an item it does not list", "sku-b", map[string]string{"Num": "3"}, true},
		{"same SKU, an item it lists otherwise", "sku-b", map[string]string{"Count": "4"}, false},
		{"another SKU", "sku-a", nil, false},
	} {
		if got := record.Holds(tt.sku, tt.items); got != tt.want {
			t.Errorf("%s: %v", tt.name, got)
		}
	}
	if (MarketInstance{SKU: "s"}).Holds("s", map[string]string{"Count": "1"}) != true {
		t.Error("a record without components: the SKU alone speaks")
	}
}

// TestInstanceSets: an upgrade's repeat is known by the last upgrade's
// digest, or before any upgrade by the purchase's own SKU and items.
func TestInstanceSets(t *testing.T) {
	bought := Instance{SKU: "sku-a", BillableItems: map[string]string{"Count": "2"}}
	if !bought.Sets(UpgradeDigest("sku-a", map[string]string{"Count": "2"})) || bought.Sets(UpgradeDigest("sku-a", nil)) {
		t.Fatal("before any upgrade, the purchase decides")
	}
	upgraded := bought
	upgraded.UpgradeDigest = UpgradeDigest("sku-b", nil)
	if !upgraded.Sets(UpgradeDigest("sku-b", nil)) || upgraded.Sets(UpgradeDigest("sku-a", map[string]string{"Count": "2"})) {
		t.Fatal("after an upgrade, its digest decides")
	}
}
