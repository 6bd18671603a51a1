package usagepush_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"gopkg.in/yaml.v3"

	"github.com/guance/aliyun-marketplace/cmd/devstack/dynamotest"
	"github.com/guance/aliyun-marketplace/cmd/devstack/jobtest"
	"github.com/guance/aliyun-marketplace/cmd/devstack/simulator"
	"github.com/guance/aliyun-marketplace/shared/adapters/storage"
	"github.com/guance/aliyun-marketplace/shared/domain/activation"
	"github.com/guance/aliyun-marketplace/shared/domain/metering"
)

// rawUsage writes a usage item as the platform's role can (PutItem, any
// attributes): the key and the attributes need not agree.
func rawUsage(t testing.TB, f *jobtest.MeteringFixture, id string, attrs map[string]types.AttributeValue) {
	t.Helper()
	item := map[string]types.AttributeValue{"id": &types.AttributeValueMemberS{Value: id}}
	for k, v := range attrs {
		item[k] = v
	}
	if _, err := f.DB.Client().PutItem(context.Background(), &dynamodb.PutItemInput{TableName: aws.String(f.Tables["UsageTable"]), Item: item}); err != nil {
		t.Fatal(err)
	}
}

func setInstance(t testing.TB, f *jobtest.MeteringFixture, id, update string, values map[string]types.AttributeValue) {
	t.Helper()
	if _, err := f.DB.Client().UpdateItem(context.Background(), &dynamodb.UpdateItemInput{
		TableName: aws.String(f.Tables["InstancesTable"]), Key: map[string]types.AttributeValue{"instanceId": &types.AttributeValueMemberS{Value: id}},
		UpdateExpression: aws.String(update), ExpressionAttributeNames: map[string]string{"#s": "status"}, ExpressionAttributeValues: values,
	}); err != nil {
		t.Fatal(err)
	}
}

func n(v int64) types.AttributeValue  { return &types.AttributeValueMemberN{Value: fmt.Sprint(v)} }
func s(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }

// TestLateUsageIsStillBilled guards against what a review found: a window is decided once, at the
// first run Grace or more after it ends. Usage the platform writes after
// that (here at 11:33, still before the window's deadline, 12:00) was
// never read again: not billed, and nothing counted, logged or alarmed.
// Now a window decided empty is looked at again until its deadline, and
// the run that pushes it counts it as filled late.
func TestLateUsageIsStillBilled(t *testing.T) {
	f := jobtest.NewMeteringFixture(t)
	h := f.Now // 10:00
	id := f.Activated(t, simulator.SampleProductCode, h.Add(-time.Minute), "wksp_a")
	f.Advance(time.Hour + metering.Grace) // 11:30: decided, nothing there yet: "empty"
	if s := f.Run(t); s.Empty != 1 {
		t.Fatalf("11:30: %+v, want the window decided empty", s)
	}
	f.Advance(3 * time.Minute) // 11:33: the platform's hourly write lands
	f.Use(t, "wksp_a", "host", h, 7)
	var sum struct{ late, refused, uncertain, filled, empty int }
	for range 3 {
		f.Advance(10 * time.Minute)
		s := f.Run(t)
		sum.late += s.Late
		sum.refused += s.Refused
		sum.uncertain += s.Uncertain
		sum.filled += s.FilledLate
		sum.empty += s.Empty
	}
	if got := f.Market.Billed(id)["Unit"]; got != 7 && sum.late+sum.refused+sum.uncertain == 0 {
		t.Fatalf("usage written 3 min after its window was decided (27 min before its deadline): billed %d of 7, push record %q, summaries %+v, metrics %q: lost without a trace",
			got, f.Push(t, id, h).State, sum, f.Metrics.String())
	}
	if got := f.Market.Billed(id)["Unit"]; got != 7 || sum.filled != 1 || sum.empty != 0 {
		t.Fatalf("billed %d of 7; later runs %+v: want one window filled late and no other counted empty", got, sum)
	}
}

// TestMalformedUsageDoesNotStallTheInstance guards against what a review found: one usage item the decoder
// cannot read (amount 1.5: the README says "whole number", nothing
// enforces it) makes Usage.Get fail for the whole instance: decideInstance
// returns an error that decide only logs (Warn), the run returns nil (no
// Lambda error, MeteringErrorsAlarm silent), and the window stays
// undecided until its deadline passes; then it is recorded "late" and
// every other workspace's correct usage of that window is lost with it.
func TestMalformedUsageDoesNotStallTheInstance(t *testing.T) {
	f := jobtest.NewMeteringFixture(t)
	h := f.Now
	id := f.Activated(t, simulator.SampleProductCode, h.Add(-time.Minute), "wksp_a", "wksp_b")
	f.Use(t, "wksp_a", "host", h, 3)
	rawUsage(t, f, storage.UsageID("wksp_b", h.Unix(), "host"), map[string]types.AttributeValue{
		"workspaceId": s("wksp_b"), "item": s("host"), "windowStart": n(h.Unix()), "amount": &types.AttributeValueMemberN{Value: "1.5"},
	})
	f.Advance(time.Hour + metering.Grace)
	var errs int
	var late int
	for range 8 { // 11:05 .. 12:15
		s, err := f.Meter().Run(context.Background())
		if err != nil {
			errs++
		}
		late += s.Late
		f.Advance(10 * time.Minute)
	}
	if got := f.Market.Billed(id)["Unit"]; got != 3 {
		t.Fatalf("wksp_b's one malformed record: wksp_a's 3 hosts billed %d; run errors %d, 10:00 window %q, late %d", got, errs, f.Push(t, id, h).State, late)
	}
}

// TestOneBadRecordDoesNotRefuseTheOthers guards against what a review found: Batch packs up to 100
// instances into a call; the marketplace validates the call as a whole,
// so one invalid record has every other instance's record refused with
// it, and refused records are never sent again: the others' correct usage
// would be lost. Here A is an instance the marketplace does not know (its
// record is refused), between B and C; the call is split until A's record
// is alone, and only it is refused.
func TestOneBadRecordDoesNotRefuseTheOthers(t *testing.T) {
	f := jobtest.NewMeteringFixture(t)
	h := f.Now
	b := f.Activated(t, simulator.SampleProductCode, h.Add(-time.Minute), "wksp_b")
	a := b + "0" // sorts between B and C, unknown to the marketplace
	if _, _, err := f.Instances.Create(context.Background(), activation.Instance{
		ID: a, AliUID: simulator.SampleUID, ProductCode: simulator.SampleProductCode, Status: activation.StatusActive, Progress: activation.ProgressActivated,
		Workspaces: []string{"wksp_a"}, Metering: activation.MeteringOn, MeteredFrom: h.Add(-time.Minute), MeteredUntil: h,
		MeteredWorkspaces: []string{metering.FormatMember("wksp_a", h.Add(-time.Minute))}, CreatedAt: h, UpdatedAt: h,
	}); err != nil {
		t.Fatal(err)
	}
	c := f.Activated(t, simulator.SampleProductCode, h.Add(-time.Minute), "wksp_c")
	for _, ws := range []string{"wksp_a", "wksp_b", "wksp_c"} {
		f.Use(t, ws, "host", h, 5)
	}
	f.Advance(time.Hour + metering.Grace)
	s := f.Run(t)
	if s.Refused != 1 || s.Pushed != 2 || f.Market.Billed(b)["Unit"] != 5 || f.Market.Billed(c)["Unit"] != 5 {
		t.Fatalf("B billed %d, C billed %d of 5 each; A %q (%s); %+v", f.Market.Billed(b)["Unit"], f.Market.Billed(c)["Unit"], f.Push(t, a, h).State, f.Push(t, a, h).Reason, s)
	}
	if p := f.Push(t, a, h); p.State != metering.PushRefused || p.Reason != "Invalid.Parameter.Metering" {
		t.Fatalf("A: %q (%s)", p.State, p.Reason)
	}
}

// TestRetryNeverCrossesTheDeadline guards against what a review found: push checks the deadline
// once, with the clock read when push starts; after Service.Flow.Control
// the call is retried after the backoff without looking again. A record
// that crossed its deadline meanwhile is sent anyway and refused (and with
// it every other record of the call), recorded as "refused" rather than
// "late".
func TestRetryNeverCrossesTheDeadline(t *testing.T) {
	f := jobtest.NewMeteringFixture(t)
	h := f.Now
	id := f.Activated(t, simulator.SampleProductCode, h.Add(-time.Minute), "wksp_a")
	f.Use(t, "wksp_a", "host", h, 5)
	f.Advance(time.Hour + 59*time.Minute + 45*time.Second) // 11:59:45, the 10:00 window's deadline is 12:00
	f.Market.FailNextPush("Service.Flow.Control")
	m := f.Meter()
	m.Pacing.Backoff = 30 * time.Second // the cap the code itself uses
	m.Pacing.Sleep = func(_ context.Context, d time.Duration) error { f.Advance(d); return nil }
	s, err := m.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if p := f.Push(t, id, h); p.State != metering.PushLate || s.Calls > 1 {
		t.Fatalf("retried at %s, past the 12:00 deadline: %d calls, state %q reason %q", f.Now.Format("15:04:05"), s.Calls, p.State, p.Reason)
	}
}

// TestRefusedAlarmSeesRefusals guards against what a review found: MeteringWindowsRefused is
// emitted with the dimension Code; MeteringWindowsLostAlarm reads the
// metric with no dimensions. In CloudWatch those are different metrics:
// the alarm's "refused" term is always empty, refused windows never alarm.
func TestRefusedAlarmSeesRefusals(t *testing.T) {
	f := jobtest.NewMeteringFixture(t)
	h := f.Now
	f.Activated(t, simulator.SampleProductCode, h.Add(-time.Minute), "wksp_a")
	f.Use(t, "wksp_a", "host", h, 5)
	f.Advance(time.Hour + metering.Grace)
	f.Market.FailNextPush("Permission.Denied")
	if s := f.Run(t); s.Refused != 1 {
		t.Fatalf("%+v", s)
	}
	emitted := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(f.Metrics.String()), "\n") {
		var l struct {
			AWS struct {
				CloudWatchMetrics []struct {
					Dimensions [][]string
					Metrics    []struct{ Name string }
				}
			} `json:"_aws"`
		}
		if json.Unmarshal([]byte(line), &l) != nil {
			continue
		}
		for _, m := range l.AWS.CloudWatchMetrics {
			for _, x := range m.Metrics {
				d := append([]string(nil), m.Dimensions[0]...)
				sort.Strings(d)
				emitted[x.Name] = strings.Join(d, ",")
			}
		}
	}
	text, err := os.ReadFile(dynamotest.TemplatePath())
	if err != nil {
		t.Fatal(err)
	}
	var tmpl struct {
		Resources map[string]struct {
			Properties struct {
				Metrics []struct {
					MetricStat *struct {
						Metric struct {
							MetricName string `yaml:"MetricName"`
							Dimensions []struct {
								Name string `yaml:"Name"`
							} `yaml:"Dimensions"`
						} `yaml:"Metric"`
					} `yaml:"MetricStat"`
				} `yaml:"Metrics"`
			} `yaml:"Properties"`
		} `yaml:"Resources"`
	}
	if err := yaml.Unmarshal(text, &tmpl); err != nil {
		t.Fatal(err)
	}
	if len(tmpl.Resources["MeteringWindowsLostAlarm"].Properties.Metrics) == 0 {
		t.Fatal("MeteringWindowsLostAlarm not read from the template")
	}
	for _, m := range tmpl.Resources["MeteringWindowsLostAlarm"].Properties.Metrics {
		if m.MetricStat == nil || m.MetricStat.Metric.MetricName != "MeteringWindowsRefused" {
			continue
		}
		var want []string
		for _, d := range m.MetricStat.Metric.Dimensions {
			want = append(want, d.Name)
		}
		sort.Strings(want)
		if got, ok := emitted["MeteringWindowsRefused"]; !ok || got != strings.Join(want, ",") {
			t.Fatalf("MeteringWindowsRefused emitted with dimensions [%s]; the alarm reads it with [%s]: it never sees a refusal", got, strings.Join(want, ","))
		}
	}
	// Permission.Denied (a RAM sub-account's key) raises its own alarm,
	// read without dimensions as it is emitted.
	var alarm struct {
		Resources map[string]struct {
			Properties struct {
				MetricName string        `yaml:"MetricName"`
				Dimensions []interface{} `yaml:"Dimensions"`
			} `yaml:"Properties"`
		} `yaml:"Resources"`
	}
	if err := yaml.Unmarshal(text, &alarm); err != nil {
		t.Fatal(err)
	}
	denied := alarm.Resources["MeteringPermissionDeniedAlarm"].Properties
	if got, ok := emitted["MeteringPermissionDenied"]; !ok || got != "" || denied.MetricName != "MeteringPermissionDenied" || len(denied.Dimensions) != 0 {
		t.Fatalf("MeteringPermissionDenied emitted %v with [%s]; the alarm reads %q with %v", ok, got, denied.MetricName, denied.Dimensions)
	}
}

// TestUsageKeyWinsOverAttributes guards against what a review found: the metering reads usage
// by key (workspace#window#item) but sums by the item's attributes. A
// record stored under the "host" key whose item attribute says "log_gb"
// (a platform bug; PutItem cannot be forced to agree) is billed as StorageGigaByte
// on top of the real log_gb record: billed twice.
func TestUsageKeyWinsOverAttributes(t *testing.T) {
	f := jobtest.NewMeteringFixture(t)
	h := f.Now
	id := f.Activated(t, simulator.SampleProductCode, h.Add(-time.Minute), "wksp_a")
	f.Use(t, "wksp_a", "log_gb", h, 10)
	rawUsage(t, f, storage.UsageID("wksp_a", h.Unix(), "host"), map[string]types.AttributeValue{
		"workspaceId": s("wksp_a"), "item": s("log_gb"), "windowStart": n(h.Unix()), "amount": n(10),
	})
	f.Advance(time.Hour + metering.Grace)
	f.Run(t)
	if got := f.Market.Billed(id); got["StorageGigaByte"] != 10 {
		t.Fatalf("10 GB of logs used, billed %v", got)
	}
}

// TestReleasedWhileFrozenOverTheWire guards against what a review found: expired (frozen) at 10:30,
// released at 12:30, the usual end of an unpaid instance. The 10:00 window
// is reported late (a false lost-usage alarm) and the 11:00 window, wholly
// inside the freeze, is pushed and billed.
func TestReleasedWhileFrozenOverTheWire(t *testing.T) {
	f := jobtest.NewMeteringFixture(t)
	h := f.Now
	id := f.Activated(t, simulator.SampleProductCode, h.Add(-time.Minute), "wksp_a")
	for i := range 3 {
		f.Use(t, "wksp_a", "host", h.Add(time.Duration(i)*time.Hour), 1)
	}
	setInstance(t, f, id, "SET #s = :st, frozenAt = :at", map[string]types.AttributeValue{":st": s("frozen"), ":at": n(h.Add(30 * time.Minute).Unix())})
	f.Advance(time.Hour + metering.Grace) // 11:05: frozen, the cursor waits at 10:00
	f.Run(t)
	setInstance(t, f, id, "SET #s = :st, releasedAt = :at", map[string]types.AttributeValue{":st": s("released"), ":at": n(h.Add(150 * time.Minute).Unix())})
	f.Advance(95 * time.Minute) // 12:40
	sm := f.Run(t)
	if len(f.Market.Pushed()) > 0 || sm.Late > 0 {
		t.Fatalf("frozen from 10:30: billed %v, late %d (10:00 %q, 11:00 %q)", f.Market.Pushed(), sm.Late, f.Push(t, id, h).State, f.Push(t, id, h.Add(time.Hour)).State)
	}
}

// TestLostAlarmFillsMissingMetrics guards against what a review found: the three metrics are emitted
// only in periods where they are non-zero, and in CloudWatch metric math a
// term without a datapoint makes "refused + late + uncertain" have none
// either (FILL(x, 0) is the remedy). The sum has a value only in a period
// where all three occur; with the refused term never matching (see
// TestRefusedAlarmSeesRefusals) it has none at all, and
// TreatMissingData notBreaching keeps the alarm OK: late and uncertain
// windows never alarm either.
func TestLostAlarmFillsMissingMetrics(t *testing.T) {
	text, err := os.ReadFile(dynamotest.TemplatePath())
	if err != nil {
		t.Fatal(err)
	}
	var tmpl struct {
		Resources map[string]struct {
			Properties struct {
				Metrics []struct {
					ID         string `yaml:"Id"`
					Expression string `yaml:"Expression"`
				} `yaml:"Metrics"`
			} `yaml:"Properties"`
		} `yaml:"Resources"`
	}
	if err := yaml.Unmarshal(text, &tmpl); err != nil {
		t.Fatal(err)
	}
	for _, m := range tmpl.Resources["MeteringWindowsLostAlarm"].Properties.Metrics {
		if m.Expression == "" {
			continue
		}
		for _, term := range []string{"refused", "late", "uncertain"} {
			if !strings.Contains(m.Expression, "FILL("+term) {
				t.Errorf("expression %q: %s is not FILLed; a period without %s windows yields no value", m.Expression, term, term)
			}
		}
	}
}
