package usagepush_test

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/guance/aliyun-marketplace/cmd/devstack/jobtest"
	"github.com/guance/aliyun-marketplace/cmd/devstack/simulator"
	"github.com/guance/aliyun-marketplace/shared/adapters/storage"
	"github.com/guance/aliyun-marketplace/shared/domain/metering"
)

// TestMeteringPushesEachWindowOnce: usage summed per billable item over
// the instance's workspaces, pushed once its window is complete, and never
// again; an unmapped usage item is not billed.
func TestMeteringPushesEachWindowOnce(t *testing.T) {
	f := jobtest.NewMeteringFixture(t)
	h := f.Now // 10:00
	id := f.Activated(t, simulator.SampleProductCode, h.Add(-30*time.Minute), "wksp_a", "wksp_b")
	f.Use(t, "wksp_a", "host", h, 3)
	f.Use(t, "wksp_b", "host", h, 4)
	f.Use(t, "wksp_a", "log_gb", h, 10)
	f.Use(t, "wksp_a", "apm", h, 99)
	if err := f.Usage.Put(context.Background(), metering.Usage{WorkspaceID: "wksp_a", Item: "host", WindowStart: h.Unix(), Amount: 1}); err != storage.ErrUsageExists {
		t.Fatalf("a second record of one workspace, item and window: %v", err)
	}
	f.Advance(time.Hour + metering.Grace - time.Minute) // 11:29: the 10:00 window is not complete yet
	if s := f.Run(t); s.Pushed != 0 {
		t.Fatalf("pushed before its usage was complete: %+v", s)
	}
	f.Advance(time.Minute) // 11:30
	s := f.Run(t)
	if s.Pushed != 1 || s.Calls != 1 {
		t.Fatalf("%+v", s)
	}
	if got := f.Market.Billed(id); got["Unit"] != 7 || got["StorageGigaByte"] != 10 || len(got) != 2 {
		t.Fatalf("billed %v", got)
	}
	for range 3 {
		f.Advance(10 * time.Minute)
		f.Run(t)
	}
	if n := len(f.Market.Pushed()); n != 1 {
		t.Fatalf("%d records billed, want 1", n)
	}
	if p := f.Push(t, id, h); p.State != metering.PushPushed {
		t.Fatalf("push record %+v", p)
	}
}

// TestMeteringLimits: more than 100 instances and two products make
// several calls, each within the limits.
func TestMeteringLimits(t *testing.T) {
	f := jobtest.NewMeteringFixture(t)
	h := f.Now
	for i := range 130 {
		ws := fmt.Sprintf("wksp_%03d", i)
		product := simulator.SampleProductCode
		if i%10 == 0 {
			product = "cmgj00099999"
		}
		f.Activated(t, product, h.Add(-time.Minute), ws)
		f.Use(t, ws, "host", h, int64(i))
	}
	f.Advance(time.Hour + metering.Grace)
	s := f.Run(t)
	// 117 of one product (50 + 50 + 17), 13 of the other.
	if s.Pushed != 130 || s.Calls != 4 || len(f.Market.Pushed()) != 130 {
		t.Fatalf("%+v, %d billed", s, len(f.Market.Pushed()))
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
			f := jobtest.NewMeteringFixture(t)
			h := f.Now
			id := f.Activated(t, simulator.SampleProductCode, h.Add(-time.Minute), "wksp_a")
			f.Use(t, "wksp_a", "host", h, 5)
			f.Advance(time.Hour + metering.Grace)
			f.Market.FailNextPush(tt.codes...)
			s := f.Run(t)
			p := f.Push(t, id, h)
			if p.State != tt.state || s.Throttled != tt.throttled || len(f.Market.Pushed()) != tt.billed {
				t.Fatalf("state %s (%s), %+v, %d billed", p.State, p.Reason, s, len(f.Market.Pushed()))
			}
			if tt.state == metering.PushRefused && (p.Reason != tt.codes[0] || !strings.Contains(f.Metrics.String(), `"MeteringWindowsRefused":1`)) {
				t.Fatalf("reason %q, metrics %s", p.Reason, f.Metrics.String())
			}
			f.Advance(10 * time.Minute)
			if s := f.Run(t); s.Calls != 0 {
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
	f := jobtest.NewMeteringFixture(t)
	h := f.Now
	id := f.Activated(t, simulator.SampleProductCode, h.Add(-time.Minute), "wksp_a")
	f.Use(t, "wksp_a", "host", h, 5)
	f.Advance(time.Hour + metering.Grace)
	f.Market.DropNextPushes(1)
	s := f.Run(t)
	if s.Uncertain != 1 || f.Push(t, id, h).State != metering.PushUncertain || !strings.Contains(f.Metrics.String(), "MeteringWindowsUncertain") {
		t.Fatalf("%+v %+v", s, f.Push(t, id, h))
	}
	for range 3 {
		f.Advance(10 * time.Minute)
		f.Run(t)
	}
	if n := len(f.Market.Pushed()); n != 1 {
		t.Fatalf("billed %d times", n)
	}

	// A run that died between marking and recording.
	other := f.Activated(t, simulator.SampleProductCode, f.Now.Add(-time.Minute), "wksp_b")
	w := metering.Ceil(f.Now)
	f.Use(t, "wksp_b", "host", w, 2)
	f.Advance(w.Add(time.Hour + metering.Grace).Sub(f.Now))
	m := f.Meter()
	m.Market = dyingMarket{}
	died := make(chan struct{})
	go func() {
		defer close(died)
		_, _ = m.Run(context.Background())
	}()
	<-died
	if p := f.Push(t, other, w); p.State != metering.PushSending {
		t.Fatalf("after the dying run: %+v", p)
	}
	f.Advance(30 * time.Minute)
	s = f.Run(t)
	if s.Uncertain != 1 || s.Calls != 0 || f.Push(t, other, w).State != metering.PushUncertain {
		t.Fatalf("%+v %+v", s, f.Push(t, other, w))
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
	f := jobtest.NewMeteringFixture(t)
	h := f.Now
	id := f.Activated(t, simulator.SampleProductCode, h.Add(-time.Minute), "wksp_a")
	for i := range 4 {
		f.Use(t, "wksp_a", "host", h.Add(time.Duration(i)*time.Hour), 1)
	}
	// Released at 12:30: the 10:00 and 11:00 windows billable, not 12:00.
	_, err := f.DB.Client().UpdateItem(context.Background(), &dynamodb.UpdateItemInput{
		TableName: aws.String(f.Tables["InstancesTable"]), Key: map[string]types.AttributeValue{"instanceId": &types.AttributeValueMemberS{Value: id}},
		UpdateExpression:          aws.String("SET releasedAt = :r, #s = :released"),
		ExpressionAttributeNames:  map[string]string{"#s": "status"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":r": &types.AttributeValueMemberN{Value: fmt.Sprint(h.Add(150 * time.Minute).Unix())}, ":released": &types.AttributeValueMemberS{Value: "released"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	f.Advance(2*time.Hour + metering.Grace) // 12:30: 10:00 is past its deadline (12:00), 11:00 is due
	s := f.Run(t)
	if s.Late != 1 || s.Pushed != 1 || f.Push(t, id, h).State != metering.PushLate || !strings.Contains(f.Metrics.String(), "MeteringWindowsLate") {
		t.Fatalf("%+v", s)
	}
	f.Advance(time.Hour) // 13:30: the 12:00 window decided, after the release
	f.Run(t)
	if p := f.Push(t, id, h.Add(2*time.Hour)); p.State != metering.PushSkipped {
		t.Fatalf("the window of the release: %+v", p)
	}
	inst, _ := f.Instances.Get(context.Background(), id)
	if inst.Metering != "" {
		t.Fatalf("a released instance stays metered: %+v", inst)
	}
	if n := len(f.Market.Pushed()); n != 1 {
		t.Fatalf("billed %d windows", n)
	}
}

// TestConcurrentMeteringRuns: two runs at once push each window once.
func TestConcurrentMeteringRuns(t *testing.T) {
	f := jobtest.NewMeteringFixture(t)
	h := f.Now
	for i := range 30 {
		ws := fmt.Sprintf("wksp_%02d", i)
		f.Activated(t, simulator.SampleProductCode, h.Add(-time.Minute), ws)
		f.Use(t, ws, "host", h, 1)
	}
	f.Advance(time.Hour + metering.Grace)
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() { f.Run(t) })
	}
	wg.Wait()
	f.Run(t)
	if n := len(f.Market.Pushed()); n != 30 {
		t.Fatalf("billed %d records for 30 windows", n)
	}
}

// BenchmarkMetering2000Instances is one run with 2,000 settled instances
// whose workspaces have a day of hourly usage in the table: its time, its
// OpenAPI calls and DynamoDB round trips.
func BenchmarkMetering2000Instances(b *testing.B) {
	const instances = 2000
	f := jobtest.NewMeteringFixture(b)
	day := f.Now.Add(-24 * time.Hour)
	var ids []string
	var writes []types.WriteRequest
	flush := func() {
		if len(writes) == 0 {
			return
		}
		if _, err := f.DB.Client().BatchWriteItem(context.Background(), &dynamodb.BatchWriteItemInput{RequestItems: map[string][]types.WriteRequest{f.Tables["UsageTable"]: writes}}); err != nil {
			b.Fatal(err)
		}
		writes = nil
	}
	for i := range instances {
		ws := fmt.Sprintf("wksp_b%05d", i)
		ids = append(ids, f.Activated(b, simulator.SampleProductCode, day.Add(-time.Minute), ws))
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
	q := f.DB.Store().Queue()
	for _, id := range ids {
		if err := q.AdvanceMetering(context.Background(), id, day, f.Now.Add(-time.Hour), false); err != nil {
			b.Fatal(err)
		}
	}
	f.Advance(metering.Grace)
	for b.Loop() {
		f.DB.ResetRoundTrips()
		calls := f.Market.Calls()["PushMeteringData"]
		start := time.Now()
		s := f.Run(b)
		b.ReportMetric(time.Since(start).Seconds(), "s/run")
		b.ReportMetric(float64(f.Market.Calls()["PushMeteringData"]-calls), "push-calls/run")
		b.ReportMetric(float64(f.DB.RoundTrips()), "ddb-calls/run")
		if s.Pushed != instances {
			b.Fatalf("%+v", s)
		}
	}
}

// TestMeteringLag: the gauge is how long ago the oldest window not yet
// final ended: a window pending because the marketplace is down ages run
// after run; once it is pushed, nothing is behind.
func TestMeteringLag(t *testing.T) {
	f := jobtest.NewMeteringFixture(t)
	h := f.Now
	f.Activated(t, simulator.SampleProductCode, h.Add(-time.Minute), "wksp_a")
	f.Use(t, "wksp_a", "host", h, 5)
	f.Advance(time.Hour + metering.Grace) // 11:30: the 10:00 window is decided
	f.Market.FailNextPush("Service.Flow.Control", "Service.Flow.Control", "Service.Flow.Control", "Service.Flow.Control", "Service.Flow.Control", "Service.Flow.Control", "Service.Flow.Control")
	s := f.Run(t)
	if s.Pushed != 0 || s.LagMinutes != 30 {
		t.Fatalf("pending after a throttled run: %+v", s)
	}
	if !strings.Contains(f.Metrics.String(), `"MeteringLagMinutes":30`) {
		t.Fatalf("gauge not sent: %s", f.Metrics.String())
	}
	f.Advance(10 * time.Minute)
	if s := f.Run(t); s.Pushed != 1 || s.LagMinutes != 0 {
		t.Fatalf("after the push: %+v", s)
	}
}
