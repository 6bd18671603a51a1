package usagepush_test

// A window decided late is on the trail like every other.

import (
	"context"
	"testing"
	"time"

	"github.com/guance/aliyun-marketplace/cmd/devstack/jobtest"
	"github.com/guance/aliyun-marketplace/cmd/devstack/simulator"
	"github.com/guance/aliyun-marketplace/shared/domain/audit"
	"github.com/guance/aliyun-marketplace/shared/domain/metering"
)

// TestLateWindowIsOnTheTrail: a metering run that comes after a
// window's deadline (the runs failed for a few hours) decides it late at
// once; the record and its "Metering Window Late" event are one write, so
// the bus hears it and `ops todo` (the attention index), where
// MeteringWindowsLostAlarm sends the operator, lists it.
func TestLateWindowIsOnTheTrail(t *testing.T) {
	f := jobtest.NewMeteringFixture(t)
	h := f.Now
	id := f.Activated(t, simulator.SampleProductCode, h.Add(-time.Minute), "wksp_a")
	f.Use(t, "wksp_a", "host", h, 5)
	f.Advance(4 * time.Hour)
	s := f.Run(t)
	if p := f.Push(t, id, h); p.State != metering.PushLate {
		t.Fatalf("window %s (summary %+v)", p.State, s)
	}
	list, err := f.DB.Store().Trail().Events(context.Background(), id, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range list {
		if ev.Kind == audit.WindowLate {
			return
		}
	}
	attention, _ := f.DB.Store().Trail().Attention(context.Background(), h.Add(-24*time.Hour))
	t.Fatalf("window decided late (summary late=%d): no %q event on the trail (%d events), %d in the attention index", s.Late, audit.WindowLate, len(list), len(attention))
}
