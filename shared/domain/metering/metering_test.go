package metering

import (
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/guance/aliyun-marketplace/shared/domain/marketplace/marketplacetest"
)

var h0 = time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC) // a window boundary

func hours(from time.Time, n ...int) []time.Time {
	var out []time.Time
	for _, i := range n {
		out = append(out, from.Add(time.Duration(i)*time.Hour))
	}
	return out
}

func TestPlanWindows(t *testing.T) {
	for _, tt := range []struct {
		name               string
		cursor             time.Time
		span               Span
		now                time.Time
		due, late, skipped []time.Time
		next               time.Time
	}{
		{"nothing closed yet", h0, Span{From: h0}, h0.Add(time.Hour + Grace - time.Second), nil, nil, nil, h0},
		{"one closed, usage complete", h0, Span{From: h0}, h0.Add(time.Hour + Grace), hours(h0, 0), nil, nil, h0.Add(time.Hour)},
		{"activation mid-window: the straddling one is not billed", h0, Span{From: h0.Add(10 * time.Minute)}, h0.Add(2*time.Hour + Grace), hours(h0, 1), nil, nil, h0.Add(2 * time.Hour)},
		{"past the deadline: late", h0, Span{From: h0}, h0.Add(3*time.Hour + time.Minute), nil, hours(h0, 0, 1), nil, h0.Add(2 * time.Hour)},
		{"one due, one late", h0, Span{From: h0}, h0.Add(2*time.Hour + Grace), hours(h0, 1), hours(h0, 0), nil, h0.Add(2 * time.Hour)},
		{"released mid-window: that window and after are not billed", h0, Span{From: h0, Until: h0.Add(90 * time.Minute)}, h0.Add(2*time.Hour + Grace), nil, hours(h0, 0), hours(h0, 1), h0.Add(2 * time.Hour)},
		{"frozen mid-window: wait while frozen", h0, Span{From: h0, PausedFrom: h0.Add(90 * time.Minute)}, h0.Add(4*time.Hour + Grace), hours(h0, 0)[:0], hours(h0, 0), nil, h0.Add(time.Hour)},
		{"frozen then restored: the frozen hours are skipped", h0, Span{From: h0, PausedFrom: h0.Add(90 * time.Minute), PausedTo: h0.Add(150 * time.Minute)}, h0.Add(4*time.Hour + Grace), hours(h0, 3), hours(h0, 0), hours(h0, 1, 2), h0.Add(4 * time.Hour)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := PlanWindows(tt.cursor, tt.span, tt.now)
			if fmt.Sprint(p.Due) != fmt.Sprint(tt.due) || fmt.Sprint(p.Late) != fmt.Sprint(tt.late) || fmt.Sprint(p.Skipped) != fmt.Sprint(tt.skipped) || !p.Next.Equal(tt.next) {
				t.Fatalf("due %v late %v skipped %v next %v", p.Due, p.Late, p.Skipped, p.Next)
			}
		})
	}
}

func TestAggregate(t *testing.T) {
	m := Mapping{"host": {Key: "Unit", Assist: "c-Unit-1"}, "log_gb": {Key: "StorageGigaByte", Assist: "c-StorageGigaByte-2"}}
	members := []Member{{"wksp_a", h0.Add(-time.Hour)}, {"wksp_b", h0.Add(10 * time.Minute)}}
	usage := []Usage{
		{WorkspaceID: "wksp_a", Item: "host", WindowStart: h0.Unix(), Amount: 3},
		{WorkspaceID: "wksp_a", Item: "log_gb", WindowStart: h0.Unix(), Amount: 7},
		{WorkspaceID: "wksp_b", Item: "host", WindowStart: h0.Unix(), Amount: 100},              // settled mid-window: from the next one
		{WorkspaceID: "wksp_a", Item: "host", WindowStart: h0.Add(time.Hour).Unix(), Amount: 4}, // another window
		{WorkspaceID: "wksp_a", Item: "apm", WindowStart: h0.Unix(), Amount: 1},                 // not a billable item
		{WorkspaceID: "wksp_z", Item: "host", WindowStart: h0.Unix(), Amount: 50},               // not settled through it
	}
	rec, ok, unmapped := Aggregate("5700001", h0, members, usage, m)
	want := fmt.Sprintf("{5700001 %d %d [{StorageGigaByte 7 c-StorageGigaByte-2} {Unit 3 c-Unit-1}]}", h0.Unix(), h0.Add(time.Hour).Unix())
	if !ok || fmt.Sprint(rec) != want || fmt.Sprint(unmapped) != "[apm]" {
		t.Fatalf("%v %v %v", rec, ok, unmapped)
	}
	rec, ok, _ = Aggregate("5700001", h0.Add(time.Hour), members, append(usage, Usage{WorkspaceID: "wksp_b", Item: "host", WindowStart: h0.Add(time.Hour).Unix(), Amount: 100}), m)
	if !ok || rec.Entities[0].Value != 104 {
		t.Fatalf("the next window counts both: %v", rec)
	}
	if _, ok, _ := Aggregate("5700001", h0.Add(5*time.Hour), members, usage, m); ok {
		t.Fatal("a window without usage has no record")
	}
}

func TestBatch(t *testing.T) {
	var records []Pending
	for i := range 250 { // 250 instances of one product, one window each
		records = append(records, Pending{Product: "p1", Record: Record{InstanceID: fmt.Sprint(1000 + i), StartTime: h0.Unix()}})
	}
	for i := range 3 { // another product
		records = append(records, Pending{Product: "p2", Record: Record{InstanceID: fmt.Sprint(9000 + i), StartTime: h0.Unix()}})
	}
	for w := range 120 { // one instance with more windows than a call holds
		records = append(records, Pending{Product: "p3", Record: Record{InstanceID: "7", StartTime: h0.Add(time.Duration(w) * time.Hour).Unix()}})
	}
	calls := Batch(records)
	var sizes []int
	for _, c := range calls {
		sizes = append(sizes, len(c))
		product, seen := c[0].Product, map[string]bool{}
		for _, p := range c {
			if p.Product != product {
				t.Fatal("two products in one call")
			}
			seen[p.Record.InstanceID] = true
		}
		for _, other := range calls {
			if &other[0] == &c[0] {
				continue
			}
			for _, p := range other {
				if seen[p.Record.InstanceID] && p.Product == product {
					t.Fatalf("instance %s in two calls", p.Record.InstanceID)
				}
			}
		}
	}
	// RecordsPerCall (50) a call: each record's window moves with its
	// event on the trail, in one transaction of at most 100 items.
	if fmt.Sprint(sizes) != "[50 50 50 50 50 3 50]" {
		t.Fatalf("calls of %v records", sizes)
	}
	if last := calls[6]; last[0].Record.StartTime != h0.Unix() || last[49].Record.StartTime != h0.Add(49*time.Hour).Unix() {
		t.Fatal("an instance keeps its oldest windows for this run")
	}
}

func TestParseMapping(t *testing.T) {
	m, err := ParseMapping(" host=Unit:cmapi1-Unit-1, log_gb=StorageGigaByte:cmapi1-StorageGigaByte-2 ")
	if err != nil || m["host"] != (BillableItem{Key: "Unit", Assist: "cmapi1-Unit-1"}) || m["log_gb"] != (BillableItem{Key: "StorageGigaByte", Assist: "cmapi1-StorageGigaByte-2"}) {
		t.Fatalf("%v %v", m, err)
	}
	if _, err := ParseMapping(ExampleMapping); err != nil {
		t.Fatalf("the documented example: %v", err)
	}
	for _, bad := range []string{
		"", "host", "host=", "=Key",
		"host=Unit",               // no meteringAssit: the docs require it
		"host=HostCount:c-1",      // a key the docs do not name
		"host=unit:c-1",           // keys are case-sensitive
		"host=Unit:c 1",           // not a listing's code
		"a=Unit:c-1,a=Period:c-2", // one usage item twice
		"a=Unit:c-1,b=Period:c-1", // one billable item for two
	} {
		if _, err := ParseMapping(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// TestRecordsAreWrittenAsDocumented: the marketplace asks that Metering
// follow its example exactly: every value a string, meteringAssit present.
func TestRecordsAreWrittenAsDocumented(t *testing.T) {
	example := marketplacetest.Load().Metering.Example
	var records []Record
	if err := json.Unmarshal([]byte(example), &records); err != nil {
		t.Fatal(err)
	}
	again, err := json.Marshal(records)
	if err != nil || string(again) != example {
		t.Fatalf("the documented example written back:\n%s\nwant\n%s", again, example)
	}
	for _, e := range records[0].Entities {
		if !slices.Contains(Keys, e.Key) {
			t.Fatalf("the example's key %q is not among Keys", e.Key)
		}
	}
	if !slices.Equal(Keys, marketplacetest.Load().Metering.Keys) {
		t.Fatalf("Keys %v, documented %v", Keys, marketplacetest.Load().Metering.Keys)
	}
}

func TestMember(t *testing.T) {
	m, ok := ParseMember(FormatMember("wksp_a", h0))
	if !ok || m.WorkspaceID != "wksp_a" || !m.Since.Equal(h0) {
		t.Fatalf("%v %v", m, ok)
	}
	for _, bad := range []string{"", "wksp_a", "@1", "wksp_a@x"} {
		if _, ok := ParseMember(bad); ok {
			t.Errorf("%q read", bad)
		}
	}
}
