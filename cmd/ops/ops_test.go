package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/guance/aliyun-marketplace/cmd/devstack/dynamotest"
	"github.com/guance/aliyun-marketplace/cmd/devstack/eventbus"
	"github.com/guance/aliyun-marketplace/cmd/devstack/localstack"
	"github.com/guance/aliyun-marketplace/cmd/devstack/simulator"
	"github.com/guance/aliyun-marketplace/schemas"
	"github.com/guance/aliyun-marketplace/shared/adapters/storage"
	"github.com/guance/aliyun-marketplace/shared/domain/activation"
	"github.com/guance/aliyun-marketplace/shared/domain/audit"
	"github.com/guance/aliyun-marketplace/shared/domain/marketplace"
	"github.com/guance/aliyun-marketplace/shared/domain/metering"
	"github.com/guance/aliyun-marketplace/shared/domain/outbox"
)

// session is the tool on a local stack of its own: the embedded
// DynamoDB with the template's tables, the simulator's OpenAPI, and the
// stand-ins of EventBridge and Lambda Invoke, all over the wire, as
// -local reaches make dev.
type session struct {
	t       *testing.T
	store   *storage.Store
	market  *simulator.Market
	bus     *eventbus.Bus
	mu      sync.Mutex
	invoked []string
	tool    *tool
}

func newSession(t *testing.T) *session {
	db := dynamotest.Start(t)
	s := &session{t: t, store: db.Store(), market: simulator.NewMarket(), bus: &eventbus.Bus{}}
	openapi := httptest.NewServer(&simulator.OpenAPI{Market: s.market, AccessKeyID: localstack.LocalMarketAccessKeyID, AccessKeySecret: localstack.LocalMarketAccessKeySecret})
	t.Cleanup(openapi.Close)
	apis := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if name, ok := strings.CutPrefix(r.URL.Path, "/2015-03-31/functions/"); ok {
			s.mu.Lock()
			s.invoked = append(s.invoked, strings.TrimSuffix(name, "/invocations"))
			s.mu.Unlock()
			_, _ = io.WriteString(w, `{"mailsSent":1}`)
			return
		}
		s.bus.ServeHTTP(w, r)
	}))
	t.Cleanup(apis.Close)
	s.tool = localTarget(localstack.Endpoints{DynamoDB: db.URL, MarketAPI: openapi.URL, AWS: apis.URL}).tool()
	s.tool.operator = "local:ana"
	return s
}

// ops runs one command line and returns what it printed.
func (s *session) ops(line ...string) (string, error) {
	var out bytes.Buffer
	s.tool.out = &out
	err := s.tool.run(context.Background(), line[0], line[1:])
	return out.String(), err
}

func (s *session) must(line ...string) string {
	s.t.Helper()
	out, err := s.ops(line...)
	if err != nil {
		s.t.Fatalf("ops %s: %v\n%s", strings.Join(line, " "), err, out)
	}
	return out
}

func contains(t *testing.T, what, out string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(out, w) {
			t.Fatalf("%s: no %q in:\n%s", what, w, out)
		}
	}
}

// purchase is a purchase the marketplace made and we applied.
func (s *session) purchase(uid string) simulator.Purchase {
	s.t.Helper()
	p := s.market.Buy(uid, time.Now())
	s.market.Opened(p.InstanceID, "https://example.com/sso")
	svc := activation.NewService(s.store.Instances(), nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if _, err := svc.Handle(context.Background(), &marketplace.CreateInstance{
		InstanceID: p.InstanceID, AliUID: uid, OrderID: p.OrderID, ProductCode: p.ProductCode, SKU: p.SKU, ExpiredOn: p.EndOn,
	}); err != nil {
		s.t.Fatal(err)
	}
	return p
}

func (s *session) instance(id string) activation.Instance {
	s.t.Helper()
	inst, err := s.store.Instances().Get(context.Background(), id)
	if err != nil {
		s.t.Fatal(err)
	}
	return inst
}

// operatorActions are an instance's operator events, by action.
func (s *session) operatorActions(instance string) map[string]audit.Event {
	s.t.Helper()
	list, err := s.store.Trail().Events(context.Background(), instance, 0)
	if err != nil {
		s.t.Fatal(err)
	}
	out := map[string]audit.Event{}
	for _, ev := range list {
		if ev.Kind == audit.OperatorAction {
			out[ev.Detail["action"]] = ev
		}
	}
	return out
}

// TestFindAndShow: a purchase is found by its instance id, its order id
// and its UID; shown with its trail; the UID masked.
func TestFindAndShow(t *testing.T) {
	s := newSession(t)
	uid := "1234567890123"
	p := s.purchase(uid)
	for _, q := range []string{p.InstanceID, p.OrderID, uid} {
		contains(t, "find "+q, s.must("find", q), p.InstanceID, "active")
	}
	if _, err := s.ops("find", "999999"); err == nil || !strings.Contains(err.Error(), "no instance, order or Alibaba Cloud UID 999999") {
		t.Fatalf("find nothing: %v", err)
	}
	out := s.must("show", p.InstanceID)
	contains(t, "show", out, "Instance "+p.InstanceID, marketplace.MaskUID(uid), string(audit.PurchaseCreated), "create "+p.OrderID, "order="+p.OrderID)
	if strings.Contains(out, uid) {
		t.Fatalf("show prints the whole UID:\n%s", out)
	}
	if _, err := s.ops("show"); err == nil {
		t.Fatal("show without an id")
	}
}

// TestReask: the marketplace froze an instance and the call never
// reached us. The dry run says so and changes nothing; -apply without a
// reason is refused; with one, the instance is frozen through the
// product's own move, and the trail names the operator and the reason.
func TestReask(t *testing.T) {
	s := newSession(t)
	p := s.purchase("1234567890123")
	s.market.SetStatus(p.InstanceID, "EXPIRED")
	contains(t, "dry run", s.must("reask", p.InstanceID), "freeze it", "dry run")
	if got := s.instance(p.InstanceID).Status; got != activation.StatusActive {
		t.Fatalf("a dry run changed the instance: %s", got)
	}
	if _, err := s.ops("reask", p.InstanceID, "-apply"); err == nil || !strings.Contains(err.Error(), "-reason") {
		t.Fatalf("-apply without a reason: %v", err)
	}
	s.must("reask", p.InstanceID, "-apply", "-reason", "expiredInstance never reached us")
	if got := s.instance(p.InstanceID).Status; got != activation.StatusFrozen {
		t.Fatalf("after reask: %s", got)
	}
	ev := s.operatorActions(p.InstanceID)["reask"]
	if ev.Actor != "operator:local:ana" || ev.Reason != "expiredInstance never reached us" || ev.Detail["status"] != "changed" {
		t.Fatalf("the operator's event: %+v", ev)
	}
	list, _ := s.store.Trail().Events(context.Background(), p.InstanceID, 0)
	var frozen bool
	for _, e := range list {
		frozen = frozen || (e.Kind == audit.PurchaseFrozen && e.Actor == "operator:local:ana")
	}
	if !frozen {
		t.Fatalf("no Purchase Frozen by the operator on the trail: %+v", list)
	}
	// Asked again: nothing to do.
	contains(t, "again", s.must("reask", p.InstanceID), "nothing to do: we hold what the marketplace says")
	// Applied with nothing to do: nothing is written.
	count := func() int {
		list, _ := s.store.Trail().Events(context.Background(), p.InstanceID, 0)
		return len(list)
	}
	before := count()
	s.must("reask", p.InstanceID, "-apply", "-reason", "again")
	if count() != before {
		t.Fatal("a reask with nothing to do wrote an event")
	}
	if _, err := s.ops("reask", "5799999"); err == nil {
		t.Fatal("reask of no instance")
	}
}

// TestTodoAndRepairs: a dead mail and a refused window are listed; each
// repair takes them off the list; the marketplace's failed notifications
// are listed until the reconciliation applies them.
func TestTodoAndRepairs(t *testing.T) {
	s := newSession(t)
	ctx := context.Background()
	p := s.purchase("1234567890123")
	now := time.Now()
	m := outbox.New(outbox.KindWelcome, "buyer@example.com", "en", map[string]string{"username": "buyer"}, now, outbox.Keep)
	m.Instance = p.InstanceID
	ob := s.store.Outbox()
	if err := ob.Put(ctx, m); err != nil {
		t.Fatal(err)
	}
	claimed, err := ob.Claim(ctx, m.ID, outbox.NewClaim(), now)
	if err != nil {
		t.Fatal(err)
	}
	claimed.Attempts = outbox.MaxAttempts
	if _, err := ob.Failed(ctx, claimed, "MessageRejected", now); err != nil {
		t.Fatal(err)
	}
	window := now.Truncate(time.Hour).Add(-time.Hour)
	if _, err := s.store.Pushes().Create(ctx, metering.Push{InstanceID: p.InstanceID, Window: window.Unix(), State: metering.PushSending, Record: "{}", UpdatedAt: now}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.store.Pushes().Move(ctx, []metering.Push{{InstanceID: p.InstanceID, Window: window.Unix(), State: metering.PushSending}}, metering.PushSending, metering.PushRefused, "InvalidParameter", now); err != nil {
		t.Fatal(err)
	}
	s.market.QueueFailed(p.InstanceID, now)

	todo := s.must("todo")
	contains(t, "todo", todo, "ops requeue-mail "+m.ID, "ops requeue-window "+p.InstanceID, "orderPay")
	if strings.Contains(todo, "buyer@example.com") {
		t.Fatalf("todo prints an address:\n%s", todo)
	}
	// Repairs are dry runs by default.
	contains(t, "requeue dry run", s.must("requeue-mail", m.ID), "b***@example.com", "dry run")
	if got, _, _ := s.tool.op.Mail(ctx, m.ID); got.State != outbox.StateDead {
		t.Fatalf("a dry run requeued: %s", got.State)
	}
	s.must("requeue-mail", m.ID, "-apply", "-reason", "mailbox fixed")
	if got, _, _ := s.tool.op.Mail(ctx, m.ID); got.State != outbox.StatePending || got.Attempts != 0 {
		t.Fatalf("requeued: %+v", got)
	}
	if _, err := s.ops("requeue-mail", m.ID, "-apply", "-reason", "twice"); err == nil {
		t.Fatal("a pending mail requeued")
	}
	stamp := window.UTC().Format(time.RFC3339)
	s.must("mark-window", p.InstanceID, stamp, "written-off", "-apply", "-reason", "checked with the marketplace: not billed")
	if got, _, _ := s.tool.op.Window(ctx, p.InstanceID, window); got.State != metering.PushWrittenOff {
		t.Fatalf("marked: %+v", got)
	}
	if _, err := s.ops("mark-window", p.InstanceID, stamp, "pushed", "-apply", "-reason", "again"); err == nil {
		t.Fatal("a written-off window marked again")
	}
	todo = s.must("todo")
	if strings.Contains(todo, m.ID) || strings.Contains(todo, "requeue-window") {
		t.Fatalf("repaired, still listed:\n%s", todo)
	}
	for _, action := range []string{"requeue-mail", "mark-window"} {
		if ev := s.operatorActions(p.InstanceID)[action]; ev.Actor != "operator:local:ana" || ev.Reason == "" {
			t.Fatalf("%s: %+v", action, ev)
		}
	}
	if _, err := s.ops("release-workspace", "wksp_none"); err == nil || !strings.Contains(err.Error(), "no workspace") {
		t.Fatalf("release of no workspace: %v", err)
	}
}

// TestRepublishAndRun: a purchase's events go on the bus again with their
// ids (and each is what its schema says); a job runs through Lambda
// Invoke; both are on the trail.
func TestRepublishAndRun(t *testing.T) {
	s := newSession(t)
	p := s.purchase("1234567890123")
	contains(t, "dry run", s.must("republish", p.InstanceID), "would: put 1 events", "dry run")
	if len(s.bus.Events()) != 0 {
		t.Fatal("a dry run published")
	}
	s.must("republish", p.InstanceID, "-since", "1h", "-apply", "-reason", "the console lost its queue")
	got := s.bus.Events()
	if len(got) != 1 || got[0].DetailType != string(audit.PurchaseCreated) {
		t.Fatalf("published: %+v", got)
	}
	var detail audit.Published
	if err := json.Unmarshal(got[0].Detail, &detail); err != nil || !strings.HasPrefix(detail.ID, p.InstanceID+"/") {
		t.Fatalf("detail %s: %v", got[0].Detail, err)
	}
	if err := schemas.Validate(got[0].DetailType, got[0].Detail); err != nil {
		t.Fatal(err)
	}
	s.must("run", "reconcile", "-apply", "-reason", "send the requeued mail now")
	if len(s.invoked) != 1 || s.invoked[0] != "ReconcileFunction" {
		t.Fatalf("invoked %v", s.invoked)
	}
	if ev := s.operatorActions(storage.NoPurchase)["run"]; ev.Detail["job"] != "reconcile" || ev.Detail["outcome"] != "ok" {
		t.Fatalf("run on the trail: %+v", ev)
	}
	if _, err := s.ops("run", "everything", "-apply", "-reason", "x"); err == nil {
		t.Fatal("run of no job")
	}
}

// TestRealMainNeedsAStack: the tool says which stack it needs.
func TestRealMainNeedsAStack(t *testing.T) {
	var out, errOut bytes.Buffer
	if err := realMain(context.Background(), []string{"todo"}, &out, &errOut); err == nil || !strings.Contains(err.Error(), "-local") {
		t.Fatalf("no stack: %v", err)
	}
	if err := realMain(context.Background(), []string{"-local", "-stack", "x", "todo"}, &out, &errOut); err == nil {
		t.Fatal("both")
	}
}

// TestRepublishARange: every purchase's events between two times (what an
// events dead-letter message names) go on the bus again; the range is
// checked.
func TestRepublishARange(t *testing.T) {
	s := newSession(t)
	a, b := s.purchase("1234567890123"), s.purchase("1234567890124")
	from := time.Now().Add(-time.Minute).UTC().Format(time.RFC3339)
	out := s.must("republish", "-from", from, "-apply", "-reason", "dead-letter message of the events function")
	contains(t, "republish", out, "would: put 2 events of every purchase", "the bus took 2 of 2")
	seen := map[string]bool{}
	for _, e := range s.bus.Events() {
		var d audit.Published
		_ = json.Unmarshal(e.Detail, &d)
		seen[d.Instance] = true
	}
	if !seen[a.InstanceID] || !seen[b.InstanceID] {
		t.Fatalf("published %v", seen)
	}
	for _, bad := range [][]string{
		{"republish", "-from", "yesterday"},
		{"republish", "-from", from, "-to", "2020-01-01T00:00:00Z"},
		{"republish", "-from", "2026-01-01T00:00:00Z", "-to", "2026-02-01T00:00:00Z"},
		{"republish", "-from", from, a.InstanceID},
	} {
		if _, err := s.ops(bad...); err == nil {
			t.Errorf("%v taken", bad)
		}
	}
}

// TestDryRunsRefuseWhatApplyWould: a window that is not refused,
// uncertain or late, one past its deadline for a requeue, a fate that is
// not one: the dry run says so, as -apply would.
func TestDryRunsRefuseWhatApplyWould(t *testing.T) {
	s := newSession(t)
	ctx := context.Background()
	p := s.purchase("1234567890123")
	now := time.Now()
	pushedAt := now.Truncate(time.Hour).Add(-time.Hour)
	lateAt := pushedAt.Add(-2 * time.Hour)
	for _, w := range []struct {
		at    time.Time
		state metering.PushState
	}{{pushedAt, metering.PushPushed}, {lateAt, metering.PushLate}} {
		if _, err := s.store.Pushes().Create(ctx, metering.Push{InstanceID: p.InstanceID, Window: w.at.Unix(), State: w.state, Record: "{}", UpdatedAt: now}); err != nil {
			t.Fatal(err)
		}
	}
	for _, line := range [][]string{
		{"requeue-window", p.InstanceID, pushedAt.UTC().Format(time.RFC3339)},
		{"mark-window", p.InstanceID, pushedAt.UTC().Format(time.RFC3339), "pushed"},
		{"requeue-window", p.InstanceID, lateAt.UTC().Format(time.RFC3339)},
		{"mark-window", p.InstanceID, lateAt.UTC().Format(time.RFC3339), "billed"},
		{"republish", "5799999"},
	} {
		if out, err := s.ops(line...); err == nil {
			t.Errorf("%v: a dry run that -apply would refuse passed:\n%s", line, out)
		}
	}
	contains(t, "a late window marked", s.must("mark-window", p.InstanceID, lateAt.UTC().Format(time.RFC3339), "written-off"), "would: mark it written-off")
}
