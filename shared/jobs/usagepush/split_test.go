package usagepush

import (
	"strings"
	"testing"

	"github.com/guance/aliyun-marketplace/shared/domain/metering"
)

// TestSplit: a refused call of several instances splits into two smaller
// calls, each instance's records on one side, whatever the order and the
// number of records of each (an instance with more records than the
// others once kept the whole call on one side, and it was sent again and
// again).
func TestSplit(t *testing.T) {
	tests := []struct{ call, a, b string }{
		{"AAB", "AA", "B"},
		{"ABB", "A", "BB"},
		{"AB", "A", "B"},
		{"AAAB", "AAA", "B"},
		{"ABC", "A", "BC"},
		{"AABBCCD", "AABB", "CCD"},
	}
	for _, tt := range tests {
		var recs []metering.Record
		var pushes []metering.Push
		for i, id := range tt.call {
			recs = append(recs, metering.Record{InstanceID: string(id), StartTime: int64(i)})
			pushes = append(pushes, metering.Push{InstanceID: string(id), Window: int64(i)})
		}
		a, b, pa, pb := split(recs, pushes)
		ids := func(recs []metering.Record, pushes []metering.Push) string {
			var sb strings.Builder
			for i, r := range recs {
				if pushes[i].InstanceID != r.InstanceID || pushes[i].Window != r.StartTime {
					t.Fatalf("%s: record %d and its push record parted", tt.call, i)
				}
				sb.WriteString(r.InstanceID)
			}
			return sb.String()
		}
		if got, want := ids(a, pa)+"|"+ids(b, pb), tt.a+"|"+tt.b; got != want {
			t.Errorf("split %s: %s, want %s", tt.call, got, want)
		}
	}
}
