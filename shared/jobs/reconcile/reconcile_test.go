package reconcile_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/guance/aliyun-marketplace/cmd/devstack/dynamotest"
	"github.com/guance/aliyun-marketplace/cmd/devstack/localstack"
	"github.com/guance/aliyun-marketplace/cmd/devstack/simulator"
	"github.com/guance/aliyun-marketplace/shared/adapters/marketapi"
	"github.com/guance/aliyun-marketplace/shared/adapters/storage"
	"github.com/guance/aliyun-marketplace/shared/domain/activation"
	"github.com/guance/aliyun-marketplace/shared/domain/marketplace"
	"github.com/guance/aliyun-marketplace/shared/domain/marketplace/marketplacetest"
	"github.com/guance/aliyun-marketplace/shared/domain/outbox"
	"github.com/guance/aliyun-marketplace/shared/jobs/reconcile"
	"github.com/guance/aliyun-marketplace/shared/jobs/runner"
	"github.com/guance/aliyun-marketplace/shared/platform/metrics"
)

// reconcileFixture is the reconciliation over the wire: the embedded
// DynamoDB, the simulator's Market OpenAPI through the official SDK, the
// real stores, service and outbox deliverer (with a mailer that records).
type reconcileFixture struct {
	db        *dynamotest.Server
	market    *simulator.Market
	instances *storage.Instances
	records   *storage.Store
	tables    storage.Tables
	service   *activation.Service
	mails     *recordingMailer
	metrics   *bytes.Buffer
	logs      *bytes.Buffer
}

type recordingMailer struct {
	mu   sync.Mutex
	sent []outbox.Item
	fail bool
}

func (m *recordingMailer) SendOutbox(_ context.Context, item outbox.Item, _ string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail {
		return errors.New("mail refused")
	}
	m.sent = append(m.sent, item)
	return nil
}

func newReconcileFixture(t testing.TB) *reconcileFixture {
	db := dynamotest.Start(t)
	market := simulator.NewMarket()
	api := httptest.NewServer(&simulator.OpenAPI{Market: market, AccessKeyID: localstack.LocalMarketAccessKeyID, AccessKeySecret: localstack.LocalMarketAccessKeySecret})
	t.Cleanup(api.Close)
	tables := storage.Tables{Instances: db.Tables["InstancesTable"], Sessions: db.Tables["SessionsTable"], Accounts: db.Tables["AccountsTable"], Workspaces: db.Tables["WorkspacesTable"], Outbox: db.Tables["OutboxTable"], Audit: db.Tables["AuditTable"]}
	f := &reconcileFixture{db: db, market: market, tables: tables, mails: &recordingMailer{}, metrics: &bytes.Buffer{}, logs: &bytes.Buffer{}}
	f.instances = db.Store().Instances()
	f.records = storage.New(db.Client(), tables)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	client, err := marketapi.New(marketapi.Config{Endpoint: api.URL, Region: "cn-hangzhou", AccessKeyID: localstack.LocalMarketAccessKeyID, AccessKeySecret: localstack.LocalMarketAccessKeySecret, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	f.service = activation.NewService(f.instances, client, log)
	f.service.Effects = &activation.Effects{Store: f.records.Effects(), Log: log}
	f.service.Records = client
	return f
}

func (f *reconcileFixture) reconciler() *reconcile.Reconciler {
	log := slog.New(slog.NewTextHandler(f.logs, nil))
	client, _ := f.service.Market.(*marketapi.Client)
	sealer, _ := outbox.NewSealer("a-test-secret-of-enough-length")
	return &reconcile.Reconciler{
		Queue: f.db.Store().Queue(), Instances: f.instances, Market: client,
		Domain: f.service, Effects: f.service.Effects,
		Outbox: &outbox.Deliverer{Store: f.db.Store().Outbox(), Mailer: f.mails, Sealer: sealer,
			Now: time.Now, Log: log, Metrics: metrics.NewRecorder(io.Discard, "test"), Margin: time.Second},
		Pacing: runner.Pacing{Backoff: time.Millisecond},
		Now:    time.Now, Log: log, Metrics: metrics.NewRecorder(f.metrics, "test"),
	}
}

// bought is a purchase the marketplace knows and our SPI recorded, made
// age ago (so its first check is due).
func (f *reconcileFixture) bought(t testing.TB, age time.Duration) string {
	t.Helper()
	at := time.Now().Add(-age)
	p := f.market.Buy(simulator.SampleUID, at)
	f.market.Opened(p.InstanceID, "")
	f.service.Now = func() time.Time { return at }
	defer func() { f.service.Now = time.Now }()
	params := simulator.SampleParams(marketplace.ActionCreateInstance, p.InstanceID, at)
	params["orderId"] = p.OrderID
	msg, err := marketplace.Decode(params)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.service.Handle(context.Background(), msg); err != nil {
		t.Fatal(err)
	}
	return p.InstanceID
}

func (f *reconcileFixture) instance(t testing.TB, id string) activation.Instance {
	t.Helper()
	inst, err := f.instances.Get(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return inst
}

func (f *reconcileFixture) run(t testing.TB, ctx context.Context) reconcile.Summary {
	t.Helper()
	s, err := f.reconciler().Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestReconcilePendingActivations: each case the marketplace can report
// of an activation left pending, in one run.
func TestReconcilePendingActivations(t *testing.T) {
	f := newReconcileFixture(t)
	ctx := context.Background()
	closed := f.bought(t, 2*time.Hour)
	f.market.SetStatus(closed, "CLOSED")
	expired := f.bought(t, 2*time.Hour)
	f.market.SetStatus(expired, "EXPIRED")
	// Frozen (two hours ago) by an expiredInstance the marketplace no
	// longer stands by.
	stale := f.bought(t, 2*time.Hour)
	f.market.SetStatus(stale, "EXPIRED")
	f.handle(t, time.Now().Add(-2*time.Hour), marketplace.Params{"action": "expiredInstance", "instanceId": stale})
	f.market.SetStatus(stale, "OPENED")
	fine := f.bought(t, 2*time.Hour)
	fresh := f.bought(t, time.Minute) // not due yet
	old := f.bought(t, 8*24*time.Hour)

	s := f.run(t, ctx)
	if got := s.Steps[reconcile.StepPending]; got.Examined != 5 || got.Changed != 3 || got.Abandoned != 1 || got.Failed != 0 {
		t.Fatalf("pending step %+v", got)
	}
	for id, want := range map[string]activation.Status{closed: activation.StatusReleased, expired: activation.StatusFrozen, stale: activation.StatusActive, fine: activation.StatusActive, fresh: activation.StatusActive} {
		if got := f.instance(t, id).Status; got != want {
			t.Errorf("%s: %s, want %s", id, got, want)
		}
	}
	if inst := f.instance(t, closed); inst.Awaiting != "" {
		t.Errorf("a released instance is still pending: %+v", inst)
	}
	if inst := f.instance(t, fine); !inst.CheckAt.After(time.Now().Add(5 * time.Hour)) {
		t.Errorf("the next check of an unchanged one: %v", inst.CheckAt)
	}
	if inst := f.instance(t, old); inst.Awaiting != activation.AwaitingAbandoned {
		t.Errorf("a week-old one: %+v", inst)
	}
	if !strings.Contains(f.metrics.String(), `"ActivationsAbandoned":1`) {
		t.Errorf("the abandoned one is not counted: %s", f.metrics.String())
	}
	// Calls only for the due ones (the week-old one is asked before it
	// is given up: it may have closed), none for the fresh one; and the
	// week-old one, abandoned, once more by its daily comparison; and
	// once by the SPI, for the stale freeze when it came.
	if calls := f.market.Calls()["DescribeInstanceForIsv"]; calls != 7 {
		t.Errorf("%d DescribeInstanceForIsv calls, want 7", calls)
	}
	// The next run finds nothing due.
	s = f.run(t, ctx)
	if got := s.Steps[reconcile.StepPending]; got.Examined != 0 {
		t.Fatalf("second run %+v", got)
	}
}

// TestReconcileFailedNotifications: the messages the marketplace failed
// to deliver (orderPay, listed as the documented JSON with no token and no
// requestId) are applied once per order, as made when they were made, and
// confirmed; one for a purchase we never heard of is recovered from the
// marketplace's record first; one the marketplace itself cannot describe
// stays listed and is counted on each run.
func TestReconcileFailedNotifications(t *testing.T) {
	f := newReconcileFixture(t)
	ctx := context.Background()
	known := f.bought(t, time.Minute)
	made := time.Now().Add(-3 * time.Hour).Truncate(time.Millisecond)
	f.market.QueueFailed(known, made)
	f.market.QueueFailed(known, made)                               // listed twice: one payment of one order
	lost := f.market.Buy("12211222211", time.Now().Add(-time.Hour)) // createInstance never reached us
	f.market.QueueFailed(lost.InstanceID, made)
	doc := marketplacetest.Load().FailedNotification.Item // for a purchase nobody knows
	f.market.QueueNotification(simulator.FailedNotification{ID: doc.NotificationRequestID, Action: doc.Action, Message: doc.Message, CreateTime: time.UnixMilli(doc.CreateTime)})

	s := f.run(t, ctx)
	if got := s.Steps[reconcile.StepNotifications]; got.Examined != 4 || got.Changed != 3 || got.Failed != 1 {
		t.Fatalf("notifications step %+v", got)
	}
	inst := f.instance(t, known)
	if call := inst.LastCalls[marketplace.ActionOrderPay]; !call.At.Equal(made) {
		t.Fatalf("orderPay recorded as %+v, want made at %v", call, made)
	}
	recovered := f.instance(t, lost.InstanceID)
	if recovered.AliUID != "12211222211" || recovered.LastCalls[marketplace.ActionOrderPay].OrderID != lost.OrderID {
		t.Fatalf("the unknown purchase was not recovered and paid: %+v", recovered)
	}
	left, total := f.market.FailedNotifications(1, 10)
	if total != 1 || left[0].ID != doc.NotificationRequestID {
		t.Fatalf("left unconfirmed: %+v", left)
	}
	if s := f.run(t, ctx); s.Steps[reconcile.StepNotifications].Failed != 1 {
		t.Fatalf("second run %+v", s.Steps[reconcile.StepNotifications])
	}
}

// TestReconcileFindsLostLifecycleCalls: a lifecycle call the marketplace
// made and never delivered is listed nowhere; the daily comparison of a
// live instance with DescribeInstanceForIsv finds it and applies it, a
// bounded number a run, and a released one leaves the comparisons.
func TestReconcileFindsLostLifecycleCalls(t *testing.T) {
	f := newReconcileFixture(t)
	ctx := context.Background()
	released := f.bought(t, 2*24*time.Hour)
	f.activated(t, released)
	f.market.LoseCall(marketplace.Params{"action": "releaseInstance", "instanceId": released})
	frozen := f.bought(t, 2*24*time.Hour)
	f.activated(t, frozen)
	f.market.LoseCall(marketplace.Params{"action": "expiredInstance", "instanceId": frozen})
	fine := f.bought(t, 2*24*time.Hour)
	f.activated(t, fine)
	f.market.Opened(fine, "")
	young := f.bought(t, time.Hour) // compared tomorrow
	f.activated(t, young)
	f.market.SetStatus(young, "CLOSED")

	s := f.run(t, ctx)
	if got := s.Steps[reconcile.StepAudit]; got.Examined != 3 || got.Changed != 2 || got.Failed != 0 {
		t.Fatalf("audit step %+v", got)
	}
	for id, want := range map[string]activation.Status{released: activation.StatusReleased, frozen: activation.StatusFrozen, fine: activation.StatusActive, young: activation.StatusActive} {
		if got := f.instance(t, id).Status; got != want {
			t.Errorf("%s: %s, want %s", id, got, want)
		}
	}
	if inst := f.instance(t, released); inst.Audit != "" {
		t.Errorf("a released instance is still compared: %+v", inst)
	}
	if inst := f.instance(t, fine); !inst.AuditAt.After(time.Now().Add(23 * time.Hour)) {
		t.Errorf("the next comparison of an unchanged one: %v", inst.AuditAt)
	}
	if !strings.Contains(f.metrics.String(), `"LifecycleCallsRecovered":1`) {
		t.Errorf("the recovered calls are not counted: %s", f.metrics.String())
	}
	if s := f.run(t, ctx); s.Steps[reconcile.StepAudit].Examined != 0 {
		t.Fatalf("the second run compared again: %+v", s.Steps[reconcile.StepAudit])
	}

	// Bounded: 7 due, 5 a run.
	for range 7 {
		f.activated(t, f.bought(t, 2*24*time.Hour))
	}
	r := f.reconciler()
	r.AuditPerRun = 5
	before := f.market.Calls()["DescribeInstanceForIsv"]
	if s, err := r.Run(ctx); err != nil || s.Steps[reconcile.StepAudit].Examined != 5 {
		t.Fatalf("%+v %v", s.Steps[reconcile.StepAudit], err)
	}
	if calls := f.market.Calls()["DescribeInstanceForIsv"] - before; calls != 5 {
		t.Fatalf("%d DescribeInstanceForIsv calls for a bound of 5", calls)
	}
	if s, err := r.Run(ctx); err != nil || s.Steps[reconcile.StepAudit].Examined != 2 {
		t.Fatalf("the rest: %+v %v", s.Steps[reconcile.StepAudit], err)
	}
}

// TestReconcileSettlesDisputes: a freeze recorded as disputed (the
// marketplace could not be asked at the time) is settled by its word.
func TestReconcileSettlesDisputes(t *testing.T) {
	f := newReconcileFixture(t)
	ctx := context.Background()
	id := f.bought(t, time.Minute)
	// A renewal, then an expiredInstance while the OpenAPI is down:
	// recorded as disputed.
	if _, err := f.service.Handle(ctx, &marketplace.RenewInstance{InstanceID: id, OrderID: "299999999999999", ExpiredOn: time.Now().Add(400 * 24 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
	down := *f.service
	down.Market = unavailable{}
	if res, err := down.Handle(ctx, &marketplace.ExpiredInstance{InstanceID: id}); err != nil || res.Outcome != activation.Disputed {
		t.Fatalf("%+v %v", res, err)
	}
	f.market.SetStatus(id, "EXPIRED") // the marketplace stands by the freeze
	r := f.reconciler()
	s, err := r.Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// Fresh effects wait a minute for the call that made them: none yet.
	if s.Steps[reconcile.StepEffects].Examined != 0 {
		t.Fatalf("%+v", s.Steps)
	}
	// Within the grace the record may not show the call yet: left due.
	r.Now = func() time.Time { return time.Now().Add(2 * time.Minute) }
	if s, err = r.Run(ctx); err != nil || s.Steps[reconcile.StepEffects].Changed != 0 || f.instance(t, id).DisputedAction == "" {
		t.Fatalf("%+v %v", s.Steps, err)
	}
	r.Now = func() time.Time { return time.Now().Add(activation.DefaultAuditGrace + time.Minute) }
	if s, err = r.Run(ctx); err != nil || s.Steps[reconcile.StepEffects].Changed != 1 {
		t.Fatalf("%+v %v", s.Steps, err)
	}
	inst := f.instance(t, id)
	if inst.Status != activation.StatusFrozen || inst.DisputedAction != "" || inst.Effects != "" {
		t.Fatalf("after the dispute was settled: %+v", inst)
	}
}

type unavailable struct{}

func (unavailable) Describe(context.Context, string) (activation.MarketInstance, error) {
	return activation.MarketInstance{}, activation.ErrMarketUnavailable
}

// TestReconcileOutbox: mails still waiting are sent; one that keeps
// failing is declared dead after its last attempt.
func TestReconcileOutbox(t *testing.T) {
	f := newReconcileFixture(t)
	ctx := context.Background()
	store := f.db.Store().Outbox()
	due := outbox.New(outbox.KindWelcome, "a@example.com", "en", map[string]string{"username": "a"}, time.Now().Add(-time.Hour), outbox.Keep)
	if err := store.Put(ctx, due); err != nil {
		t.Fatal(err)
	}
	s := f.run(t, ctx)
	if got := s.Steps[reconcile.StepOutbox]; got.Changed != 1 || len(f.mails.sent) != 1 {
		t.Fatalf("outbox step %+v, %d sent", got, len(f.mails.sent))
	}
	failing := outbox.New(outbox.KindWelcome, "b@example.com", "en", nil, time.Now().Add(-time.Hour), outbox.Keep)
	failing.Attempts = outbox.MaxAttempts - 1
	if err := store.Put(ctx, failing); err != nil {
		t.Fatal(err)
	}
	f.mails.fail = true
	s = f.run(t, ctx)
	if got := s.Steps[reconcile.StepOutbox]; got.Dead != 1 {
		t.Fatalf("outbox step %+v", got)
	}
}

// TestReconcileBacksOffWhenThrottled: the OpenAPI's flow control slows the
// run down instead of failing it.
func TestReconcileBacksOffWhenThrottled(t *testing.T) {
	f := newReconcileFixture(t)
	id := f.bought(t, 2*time.Hour)
	f.market.SetStatus(id, "CLOSED")
	f.market.Throttle(3)
	s := f.run(t, context.Background())
	if s.Throttled != 3 || s.Steps[reconcile.StepPending].Changed != 1 || f.instance(t, id).Status != activation.StatusReleased {
		t.Fatalf("%+v", s)
	}
}

// TestConcurrentRunsDoTheWorkOnce: two runs at once, one holds the lease;
// each pending activation is asked about once.
func TestConcurrentRunsDoTheWorkOnce(t *testing.T) {
	f := newReconcileFixture(t)
	for range 20 {
		f.bought(t, 2*time.Hour)
	}
	var wg sync.WaitGroup
	summaries := make([]reconcile.Summary, 2)
	for i := range summaries {
		wg.Go(func() { summaries[i] = f.run(t, context.Background()) })
	}
	wg.Wait()
	if summaries[0].Skipped == summaries[1].Skipped {
		t.Fatalf("both runs skipped or both ran: %+v", summaries)
	}
	if calls := f.market.Calls()["DescribeInstanceForIsv"]; calls != 20 {
		t.Fatalf("%d calls for 20 pending activations", calls)
	}
	// The lease is given back: a later run goes ahead.
	if s := f.run(t, context.Background()); s.Skipped {
		t.Fatal("the lease was not given back")
	}
}

// TestKilledRunIsResumed: a run that dies holding the lease blocks no one
// past its lease; a run out of time stops cleanly where it was, and the
// next finishes.
func TestKilledRunIsResumed(t *testing.T) {
	f := newReconcileFixture(t)
	for range 30 {
		f.bought(t, 2*time.Hour)
	}
	// A run that died: its lease holds until it expires.
	q := f.db.Store().Queue()
	if _, ok, err := q.Acquire(context.Background(), "reconcile", "dead-run", time.Now(), time.Now().Add(time.Minute)); err != nil || !ok {
		t.Fatal(err)
	}
	if s := f.run(t, context.Background()); !s.Skipped {
		t.Fatal("a live lease was taken")
	}
	r := f.reconciler()
	r.Now = func() time.Time { return time.Now().Add(2 * time.Minute) } // the dead run's lease is over
	// Out of time after a few items (each answer takes 40 ms, one at a time).
	r.Market, r.Concurrency = slowMarket{Market: r.Market, delay: 40 * time.Millisecond}, 1
	// 500 ms for 30 answers of 40 ms: some, not all, even on a loaded
	// machine.
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	r.Pacing.Margin = 500 * time.Millisecond
	first, err := r.Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if first.Finished || first.Resume == "" {
		t.Fatalf("the short run finished: %+v", first)
	}
	r.Pacing.Margin = 0
	second, err := r.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	done := first.Steps[reconcile.StepPending].Examined + second.Steps[reconcile.StepPending].Examined
	if !second.Finished || done != 30 {
		t.Fatalf("first %+v, second %+v", first.Steps, second.Steps)
	}
}

type slowMarket struct {
	reconcile.Market
	delay time.Duration
}

func (m slowMarket) Describe(ctx context.Context, id string) (activation.MarketInstance, error) {
	time.Sleep(m.delay)
	return m.Market.Describe(ctx, id)
}

// BenchmarkReconcile10000Pending is one run over 10,000 pending
// activations due for a check (and 2,000 activated instances beside them)
// in the embedded DynamoDB, against the simulator's OpenAPI: its time, its
// DynamoDB round trips and its OpenAPI calls, which grow with the pending
// activations and not with the other instances. Run with -benchtime=1x.
func BenchmarkReconcile10000Pending(b *testing.B) {
	const pending, activated = 10000, 2000
	f := newReconcileFixture(b)
	ctx := context.Background()
	at := time.Now().Add(-2 * time.Hour)
	for i := range pending + activated {
		p := f.market.Buy(simulator.SampleUID, at)
		f.market.Opened(p.InstanceID, "")
		inst := activation.Instance{
			ID: p.InstanceID, AliUID: p.AliUID, Status: activation.StatusActive, Progress: activation.ProgressPending,
			Awaiting: activation.AwaitingActivation, CheckAt: at.Add(time.Hour).Truncate(time.Second),
			Orders: map[string]string{activation.OrderCreate: p.OrderID}, CreatedAt: at, UpdatedAt: at,
		}
		if i >= pending {
			inst.Progress, inst.Awaiting, inst.CheckAt, inst.Workspaces, inst.BillingAccount = activation.ProgressActivated, "", time.Time{}, []string{"wksp_x"}, "acme"
		}
		if _, _, err := f.instances.Create(ctx, inst); err != nil {
			b.Fatal(err)
		}
	}
	var summary reconcile.Summary
	for b.Loop() {
		f.db.ResetRoundTrips()
		before := f.market.Calls()["DescribeInstanceForIsv"]
		start := time.Now()
		summary = f.run(b, ctx)
		b.ReportMetric(time.Since(start).Seconds(), "s/run")
		b.ReportMetric(float64(f.db.RoundTrips()), "ddb-calls/run")
		b.ReportMetric(float64(f.market.Calls()["DescribeInstanceForIsv"]-before), "describe-calls/run")
	}
	if got := summary.Steps[reconcile.StepPending]; got.Examined != pending || got.Failed != 0 {
		b.Fatalf("%+v", got)
	}
}
