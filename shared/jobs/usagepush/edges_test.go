package usagepush_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/guance/aliyun-marketplace/shared/domain/activation"
	"github.com/guance/aliyun-marketplace/shared/domain/metering"
	"github.com/guance/aliyun-marketplace/shared/jobs/usagepush"
)

var h0 = time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)

// TestReleasedWhileFrozen guards against what a review found: the usual end of an unpaid instance is
// expiredInstance (frozen) and, days later, releaseInstance. SpanOf only
// pauses when the status is frozen or a restore followed the freeze, so
// once the status is released the freeze vanishes: the cursor that was
// waiting at the frozen window resumes, every frozen hour whose deadline
// passed is reported late (false MeteringWindowsLostAlarm) and the frozen
// hours still within their deadline are pushed: usage after the expiry.
func TestReleasedWhileFrozen(t *testing.T) {
	inst := activation.Instance{
		ID: "i-1", Status: activation.StatusReleased,
		MeteredFrom: h0.Add(-time.Hour), MeteredUntil: h0, // waiting at 10:00, the window of the freeze
		FrozenAt:   h0.Add(30 * time.Minute),  // expired 10:30
		ReleasedAt: h0.Add(150 * time.Minute), // released 12:30
	}
	now := h0.Add(160 * time.Minute) // 12:40
	p := metering.PlanWindows(inst.MeteredUntil, usagepush.SpanOf(inst), now)
	if len(p.Due) > 0 || len(p.Late) > 0 {
		t.Fatalf("frozen 10:30, released 12:30: due %v (pushed after the expiry), late %v (alarmed as lost), skipped %v", p.Due, p.Late, p.Skipped)
	}
}

// TestSecondFreezeKeepsTheFirst guards against what a review found: SpanOf keeps only the last freeze.
// Frozen 10:30, renewed 10:50, frozen again 11:02: the 10:00 window
// overlapped the first freeze (the rule: not billed) but the run at 11:05
// sees only the second one and pushes it.
func TestSecondFreezeKeepsTheFirst(t *testing.T) {
	inst := activation.Instance{
		ID: "i-1", Status: activation.StatusFrozen,
		MeteredFrom: h0.Add(-time.Hour), MeteredUntil: h0,
		FrozenAt: h0.Add(62 * time.Minute), RestoredAt: h0.Add(50 * time.Minute), Freezes: 2, Restores: 1,
	}
	p := metering.PlanWindows(inst.MeteredUntil, usagepush.SpanOf(inst), h0.Add(65*time.Minute))
	if fmt.Sprint(p.Due) != "[]" {
		t.Fatalf("the 10:00 window overlapped the 10:30-10:50 freeze, yet it is due: %v", p.Due)
	}
}
