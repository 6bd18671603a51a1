package metering

import (
	"math"
	"testing"
)

// TestAggregateNeverOverflows guards against what a review found: the per-item sum is an unchecked int64. Two
// usage records whose amounts are each within int64 (a platform bug, a
// forged record: UsageWriterPolicy lets the writer put any number) wrap
// around to a negative Value. The marketplace refuses a negative Value,
// and since one call carries up to 100 instances' records, the whole call
// is refused and never resent (see the localstack review test
// TestOneBadRecordDoesNotRefuseTheOthers).
func TestAggregateNeverOverflows(t *testing.T) {
	members := []Member{{WorkspaceID: "wksp_a", Since: h0.Add(-Window)}, {WorkspaceID: "wksp_b", Since: h0.Add(-Window)}}
	usage := []Usage{
		{WorkspaceID: "wksp_a", Item: "host", WindowStart: h0.Unix(), Amount: math.MaxInt64/2 + 1},
		{WorkspaceID: "wksp_b", Item: "host", WindowStart: h0.Unix(), Amount: math.MaxInt64/2 + 1},
	}
	rec, ok, _ := Aggregate("i-1", h0, members, usage, Mapping{"host": {Key: "Unit", Assist: "c-Unit-1"}})
	if ok && rec.Entities[0].Value < 0 {
		t.Fatalf("two in-range amounts summed to a negative Value %d: the record (and its whole call) will be refused", rec.Entities[0].Value)
	}
}
