package localstack_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/guance/aliyun-marketplace/cmd/devstack/dynamotest"
	"github.com/guance/aliyun-marketplace/cmd/devstack/localstack"
	"github.com/guance/aliyun-marketplace/cmd/devstack/simulator"
	"github.com/guance/aliyun-marketplace/shared/adapters/marketapi"
	"github.com/guance/aliyun-marketplace/shared/adapters/storage"
	"github.com/guance/aliyun-marketplace/shared/domain/activation"
	"github.com/guance/aliyun-marketplace/shared/domain/metering"
	"github.com/guance/aliyun-marketplace/shared/jobs/usagepush"
	"github.com/guance/aliyun-marketplace/shared/platform/metrics"
)

// meteringFixture is the metering over the wire: the embedded DynamoDB,
// the simulator's PushMeteringData through the SDK, the real stores; one
// clock for both sides, which the tests move.
type meteringFixture struct {
	db        *dynamotest.Server
	market    *simulator.Market
	instances *storage.Instances
	usage     *storage.Usage
	pushes    *storage.Pushes
	client    *marketapi.Client
	tables    map[string]string
	mu        sync.Mutex
	now       time.Time
	metrics   *bytes.Buffer
}

var meteringMapping = metering.Mapping{"host": {Key: "Unit", Assist: "cmgj00053362-Unit-1"}, "log_gb": {Key: "StorageGigaByte", Assist: "cmgj00053362-StorageGigaByte-2"}}

func newMeteringFixture(t testing.TB) *meteringFixture {
	db := dynamotest.Start(t)
	f := &meteringFixture{db: db, market: simulator.NewMarket(), tables: db.Tables, metrics: &bytes.Buffer{},
		now: time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)}
	f.market.Now = f.clock
	api := httptest.NewServer(&simulator.OpenAPI{Market: f.market, AccessKeyID: localstack.LocalMarketAccessKeyID, AccessKeySecret: localstack.LocalMarketAccessKeySecret})
	t.Cleanup(api.Close)
	client, err := marketapi.New(marketapi.Config{Endpoint: api.URL, AccessKeyID: localstack.LocalMarketAccessKeyID, AccessKeySecret: localstack.LocalMarketAccessKeySecret, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	f.client = client
	f.instances = db.Store().Instances()
	f.usage = db.Store().Usage()
	f.pushes = db.Store().Pushes()
	return f
}

func (f *meteringFixture) clock() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

func (f *meteringFixture) advance(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.now = f.now.Add(d)
}

func (f *meteringFixture) meter() *usagepush.Meter {
	return &usagepush.Meter{
		Instances: f.db.Store().Queue(), Usage: f.usage, Pushes: f.pushes,
		Market: f.client, Mapping: meteringMapping, Backoff: time.Millisecond,
		Now: f.clock, Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Metrics: metrics.NewRecorder(f.metrics, "test"),
	}
}

func (f *meteringFixture) run(t testing.TB) usagepush.Summary {
	t.Helper()
	s, err := f.meter().Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// activated is an instance bought, activated at `at` with one workspace
// per id, and known to the marketplace.
func (f *meteringFixture) activated(t testing.TB, product string, at time.Time, workspaces ...string) string {
	t.Helper()
	p := f.market.BuyProduct(simulator.SampleUID, product, at)
	var members []string
	for _, ws := range workspaces {
		members = append(members, metering.FormatMember(ws, at))
	}
	if _, _, err := f.instances.Create(context.Background(), activation.Instance{
		ID: p.InstanceID, AliUID: p.AliUID, ProductCode: product, Status: activation.StatusActive, Progress: activation.ProgressActivated,
		Workspaces: workspaces, Metering: activation.MeteringOn, MeteredFrom: at, MeteredUntil: metering.Ceil(at), MeteredWorkspaces: members,
		Orders: map[string]string{activation.OrderCreate: p.OrderID}, CreatedAt: at, UpdatedAt: at,
	}); err != nil {
		t.Fatal(err)
	}
	return p.InstanceID
}

func (f *meteringFixture) use(t testing.TB, ws, item string, window time.Time, amount int64) {
	t.Helper()
	if err := f.usage.Put(context.Background(), metering.Usage{WorkspaceID: ws, Item: item, WindowStart: window.Unix(), Amount: amount}); err != nil {
		t.Fatal(err)
	}
}

func (f *meteringFixture) push(t testing.TB, instance string, window time.Time) metering.Push {
	t.Helper()
	out, err := f.db.Client().GetItem(context.Background(), &dynamodb.GetItemInput{TableName: aws.String(f.tables["MeteringTable"]),
		Key: map[string]types.AttributeValue{"instanceId": &types.AttributeValueMemberS{Value: instance}, "window": &types.AttributeValueMemberN{Value: fmt.Sprint(window.Unix())}}})
	if err != nil {
		t.Fatal(err)
	}
	var p metering.Push
	_ = attributevalue.UnmarshalMap(out.Item, &p)
	return p
}

// TestMeteringPushesEachWindowOnce: usage summed per billable item over
// the instance's workspaces, pushed once its window is complete, and never
// again; an unmapped usage item is not billed.
func TestMeteringPushesEachWindowOnce(t *testing.T) {
	f := newMeteringFixture(t)
	h := f.now // 10:00
	id := f.activated(t, simulator.SampleProductCode, h.Add(-30*time.Minute), "wksp_a", "wksp_b")
	f.use(t, "wksp_a", "host", h, 3)
	f.use(t, "wksp_b", "host", h, 4)
	f.use(t, "wksp_a", "log_gb", h, 10)
	f.use(t, "wksp_a", "apm", h, 99)
	if err := f.usage.Put(context.Background(), metering.Usage{WorkspaceID: "wksp_a", Item: "host", WindowStart: h.Unix(), Amount: 1}); err != storage.ErrUsageExists {
		t.Fatalf("a second record of one workspace, item and window: %v", err)
	}
	f.advance(time.Hour + metering.Grace - time.Minute) // 11:29: the 10:00 window is not complete yet
	if s := f.run(t); s.Pushed != 0 {
		t.Fatalf("pushed before its usage was complete: %+v", s)
	}
	f.advance(time.Minute) // 11:30
	s := f.run(t)
	if s.Pushed != 1 || s.Calls != 1 {
		t.Fatalf("%+v", s)
	}
	if got := f.market.Billed(id); got["Unit"] != 7 || got["StorageGigaByte"] != 10 || len(got) != 2 {
		t.Fatalf("billed %v", got)
	}
	for range 3 {
		f.advance(10 * time.Minute)
		f.run(t)
	}
	if n := len(f.market.Pushed()); n != 1 {
		t.Fatalf("%d records billed, want 1", n)
	}
	if p := f.push(t, id, h); p.State != metering.PushPushed {
		t.Fatalf("push record %+v", p)
	}
}

// TestMeteringLimits: more than 100 instances and two products make
// several calls, each within the limits.
func TestMeteringLimits(t *testing.T) {
	f := newMeteringFixture(t)
	h := f.now
	for i := range 130 {
		ws := fmt.Sprintf("wksp_%03d", i)
		product := simulator.SampleProductCode
		if i%10 == 0 {
			product = "cmgj00099999"
		}
		f.activated(t, product, h.Add(-time.Minute), ws)
		f.use(t, ws, "host", h, int64(i))
	}
	f.advance(time.Hour + metering.Grace)
	s := f.run(t)
	// 117 of one product (100 + 17), 13 of the other.
	if s.Pushed != 130 || s.Calls != 3 || len(f.market.Pushed()) != 130 {
		t.Fatalf("%+v, %d billed", s, len(f.market.Pushed()))
	}
}

// TestMeteringRefusalsAndFlowControl: a refused window is kept with the
// reason and never sent again; flow control is waited out.
func TestMeteringRefusalsAndFlowControl(t *testing.T) {
	for _, tt := range []struct {
		codes     []string
		state     metering.PushState
		billed    int
		throttled int
	}{
		{[]string{"Invalid.Parameter.Metering"}, metering.PushRefused, 0, 0},
		{[]string{"Metering.Data.Exceeded"}, metering.PushRefused, 0, 0},
		{[]string{"Permission.Denied"}, metering.PushRefused, 0, 0},
		{[]string{"Service.Flow.Control", "Service.Flow.Control"}, metering.PushPushed, 1, 2},
	} {
		t.Run(tt.codes[0], func(t *testing.T) {
			f := newMeteringFixture(t)
			h := f.now
			id := f.activated(t, simulator.SampleProductCode, h.Add(-time.Minute), "wksp_a")
			f.use(t, "wksp_a", "host", h, 5)
			f.advance(time.Hour + metering.Grace)
			f.market.FailNextPush(tt.codes...)
			s := f.run(t)
			p := f.push(t, id, h)
			if p.State != tt.state || s.Throttled != tt.throttled || len(f.market.Pushed()) != tt.billed {
				t.Fatalf("state %s (%s), %+v, %d billed", p.State, p.Reason, s, len(f.market.Pushed()))
			}
			if tt.state == metering.PushRefused && (p.Reason != tt.codes[0] || !strings.Contains(f.metrics.String(), `"MeteringWindowsRefused":1`)) {
				t.Fatalf("reason %q, metrics %s", p.Reason, f.metrics.String())
			}
			f.advance(10 * time.Minute)
			if s := f.run(t); s.Calls != 0 {
				t.Fatalf("sent again: %+v", s)
			}
		})
	}
}

// TestMeteringNeverPushesTwice: a call whose answer is lost (it was
// billed) leaves the window uncertain: never sent again, alarmed. A run
// that died during its call leaves its records sending: the next run
// declares them uncertain, and does not send them.
func TestMeteringNeverPushesTwice(t *testing.T) {
	f := newMeteringFixture(t)
	h := f.now
	id := f.activated(t, simulator.SampleProductCode, h.Add(-time.Minute), "wksp_a")
	f.use(t, "wksp_a", "host", h, 5)
	f.advance(time.Hour + metering.Grace)
	f.market.DropNextPushes(1)
	s := f.run(t)
	if s.Uncertain != 1 || f.push(t, id, h).State != metering.PushUncertain || !strings.Contains(f.metrics.String(), "MeteringWindowsUncertain") {
		t.Fatalf("%+v %+v", s, f.push(t, id, h))
	}
	for range 3 {
		f.advance(10 * time.Minute)
		f.run(t)
	}
	if n := len(f.market.Pushed()); n != 1 {
		t.Fatalf("billed %d times", n)
	}

	// A run that died between marking and recording.
	other := f.activated(t, simulator.SampleProductCode, f.now.Add(-time.Minute), "wksp_b")
	w := metering.Ceil(f.now)
	f.use(t, "wksp_b", "host", w, 2)
	f.advance(w.Add(time.Hour + metering.Grace).Sub(f.now))
	m := f.meter()
	m.Market = dyingMarket{}
	died := make(chan struct{})
	go func() {
		defer close(died)
		_, _ = m.Run(context.Background())
	}()
	<-died
	if p := f.push(t, other, w); p.State != metering.PushSending {
		t.Fatalf("after the dying run: %+v", p)
	}
	f.advance(30 * time.Minute)
	s = f.run(t)
	if s.Uncertain != 1 || s.Calls != 0 || f.push(t, other, w).State != metering.PushUncertain {
		t.Fatalf("%+v %+v", s, f.push(t, other, w))
	}
}

// dyingMarket is a run's process dying during the call: nothing after
// it runs (not even the lease's release).
type dyingMarket struct{}

func (dyingMarket) PushMeteringData(context.Context, string) error {
	runtime.Goexit()
	return nil
}

// TestMeteringLateAndReleased: a window past its deadline is not pushed
// (late, alarmed); a release mid-window stops billing there, and the
// instance leaves the metering once its last window is decided.
func TestMeteringLateAndReleased(t *testing.T) {
	f := newMeteringFixture(t)
	h := f.now
	id := f.activated(t, simulator.SampleProductCode, h.Add(-time.Minute), "wksp_a")
	for i := range 4 {
		f.use(t, "wksp_a", "host", h.Add(time.Duration(i)*time.Hour), 1)
	}
	// Released at 12:30: the 10:00 and 11:00 windows billable, not 12:00.
	_, err := f.db.Client().UpdateItem(context.Background(), &dynamodb.UpdateItemInput{
		TableName: aws.String(f.tables["InstancesTable"]), Key: map[string]types.AttributeValue{"instanceId": &types.AttributeValueMemberS{Value: id}},
		UpdateExpression:          aws.String("SET releasedAt = :r, #s = :released"),
		ExpressionAttributeNames:  map[string]string{"#s": "status"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":r": &types.AttributeValueMemberN{Value: fmt.Sprint(h.Add(150 * time.Minute).Unix())}, ":released": &types.AttributeValueMemberS{Value: "released"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	f.advance(2*time.Hour + metering.Grace) // 12:30: 10:00 is past its deadline (12:00), 11:00 is due
	s := f.run(t)
	if s.Late != 1 || s.Pushed != 1 || f.push(t, id, h).State != metering.PushLate || !strings.Contains(f.metrics.String(), "MeteringWindowsLate") {
		t.Fatalf("%+v", s)
	}
	f.advance(time.Hour) // 13:30: the 12:00 window decided, after the release
	f.run(t)
	if p := f.push(t, id, h.Add(2*time.Hour)); p.State != metering.PushSkipped {
		t.Fatalf("the window of the release: %+v", p)
	}
	inst, _ := f.instances.Get(context.Background(), id)
	if inst.Metering != "" {
		t.Fatalf("a released instance stays metered: %+v", inst)
	}
	if n := len(f.market.Pushed()); n != 1 {
		t.Fatalf("billed %d windows", n)
	}
}

// TestConcurrentMeteringRuns: two runs at once push each window once.
func TestConcurrentMeteringRuns(t *testing.T) {
	f := newMeteringFixture(t)
	h := f.now
	for i := range 30 {
		ws := fmt.Sprintf("wksp_%02d", i)
		f.activated(t, simulator.SampleProductCode, h.Add(-time.Minute), ws)
		f.use(t, ws, "host", h, 1)
	}
	f.advance(time.Hour + metering.Grace)
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() { f.run(t) })
	}
	wg.Wait()
	f.run(t)
	if n := len(f.market.Pushed()); n != 30 {
		t.Fatalf("billed %d records for 30 windows", n)
	}
}

// BenchmarkMetering2000Instances is one run with 2,000 settled instances
// whose workspaces have a day of hourly usage in the table: its time, its
// OpenAPI calls and DynamoDB round trips.
func BenchmarkMetering2000Instances(b *testing.B) {
	const instances = 2000
	f := newMeteringFixture(b)
	day := f.now.Add(-24 * time.Hour)
	var ids []string
	var writes []types.WriteRequest
	flush := func() {
		if len(writes) == 0 {
			return
		}
		if _, err := f.db.Client().BatchWriteItem(context.Background(), &dynamodb.BatchWriteItemInput{RequestItems: map[string][]types.WriteRequest{f.tables["UsageTable"]: writes}}); err != nil {
			b.Fatal(err)
		}
		writes = nil
	}
	for i := range instances {
		ws := fmt.Sprintf("wksp_b%05d", i)
		ids = append(ids, f.activated(b, simulator.SampleProductCode, day.Add(-time.Minute), ws))
		for hour := range 24 {
			w := day.Add(time.Duration(hour) * time.Hour)
			item, _ := attributevalue.MarshalMap(metering.Usage{WorkspaceID: ws, Item: "host", WindowStart: w.Unix(), Amount: 2})
			item["id"] = &types.AttributeValueMemberS{Value: storage.UsageID(ws, w.Unix(), "host")}
			writes = append(writes, types.WriteRequest{PutRequest: &types.PutRequest{Item: item}})
			if len(writes) == 25 {
				flush()
			}
		}
	}
	flush()
	// The day's windows are all decided but the last: each instance has
	// one window due now.
	q := f.db.Store().Queue()
	for _, id := range ids {
		if err := q.AdvanceMetering(context.Background(), id, day, f.now.Add(-time.Hour), false); err != nil {
			b.Fatal(err)
		}
	}
	f.advance(metering.Grace)
	for b.Loop() {
		f.db.ResetRoundTrips()
		calls := f.market.Calls()["PushMeteringData"]
		start := time.Now()
		s := f.run(b)
		b.ReportMetric(time.Since(start).Seconds(), "s/run")
		b.ReportMetric(float64(f.market.Calls()["PushMeteringData"]-calls), "push-calls/run")
		b.ReportMetric(float64(f.db.RoundTrips()), "ddb-calls/run")
		if s.Pushed != instances {
			b.Fatalf("%+v", s)
		}
	}
}
