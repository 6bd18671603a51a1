package localstack_test

import (
	"context"
	"encoding/json"
	"net/url"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/guance/aliyun-marketplace/cmd/devstack/eventbus"
	"github.com/guance/aliyun-marketplace/cmd/devstack/localstack"
	"github.com/guance/aliyun-marketplace/cmd/devstack/simulator"
	"github.com/guance/aliyun-marketplace/shared/domain/marketplace"
)

// consumer reads the bus as the rest of Guance would: a rule on the
// source, de-duplicating on the detail's id (publishing is at least once).
type consumer struct {
	seen  map[string]bool
	kinds []string
	dups  int
}

func (c *consumer) read(events []eventbus.Event, instance string) {
	c.seen, c.kinds, c.dups = map[string]bool{}, nil, 0
	for _, e := range events {
		if e.Source != "guance.aliyun-marketplace" {
			continue
		}
		var d struct{ ID, InstanceID string }
		_ = json.Unmarshal(e.Detail, &d)
		if d.InstanceID != instance {
			continue
		}
		if c.seen[d.ID] {
			c.dups++
			continue
		}
		c.seen[d.ID] = true
		c.kinds = append(c.kinds, e.DetailType)
	}
}

// TestBusinessEventsReachTheBus: a purchase's lifecycle, as the
// marketplace calls it and the buyer opens it, reaches the business
// event bus in its order, each event once for a consumer that
// de-duplicates, each detail valid against its kind's schema (the
// harness checks that of every event of every stack test); an event the
// bus refuses once arrives when the stream hands the batch over again.
func TestBusinessEventsReachTheBus(t *testing.T) {
	s := startStack(t)
	var refusals atomic.Int32
	s.Bus.Refuse = func(detailType string) string {
		if detailType == "Purchase Renewed" && refusals.Add(1) == 1 {
			return "ThrottlingException"
		}
		return ""
	}
	b := newBuyer(t)
	if code, _ := b.post(s.SimulatorURL+"/buy", url.Values{"uid": {simulator.SampleUID}, "agree": {"1"}}); code != 200 {
		t.Fatalf("buy: %d", code)
	}
	id := s.Market.Purchases()[0].InstanceID
	if code, _ := b.get(s.APIURL + "/aliyun/sso?" + marketplace.VerifyParams(id, time.Now()).Signed(localstack.ISVKey()).Encode()); code != 200 {
		t.Fatalf("sso: %d", code)
	}
	client := &simulator.Client{SPIURL: s.APIURL + "/aliyun/spi", Key: localstack.ISVKey()}
	ctx := context.Background()
	call := func(p marketplace.Params) {
		t.Helper()
		ex, err := client.Call(ctx, p, false)
		if err != nil || ex.Status != 200 {
			t.Fatalf("%s: %v %+v", p["action"], err, ex)
		}
	}
	renew := simulator.SampleParams(marketplace.ActionRenewInstance, id, time.Now())
	call(renew)
	s.Market.SetStatus(id, "EXPIRED")
	call(simulator.SampleParams(marketplace.ActionExpiredInstance, id, time.Now()))
	s.Market.SetStatus(id, "CLOSED")
	call(simulator.SampleParams(marketplace.ActionReleaseInstance, id, time.Now()))
	renew["orderId"] = "200000000000001" // an older renewal, after the release
	call(renew)

	want := []string{"Purchase Created", "Session Opened", "Purchase Renewed", "Purchase Frozen", "Purchase Released", "Lifecycle Call Superseded"}
	c := &consumer{}
	deadline := time.Now().Add(20 * time.Second)
	for {
		c.read(s.Bus.Events(), id)
		if len(c.kinds) >= len(want) || time.Now().After(deadline) {
			break
		}
		select {
		case <-s.Bus.Changed():
		case <-time.After(time.Second):
		}
	}
	// The refused renewal came again after the batch was handed over:
	// what was published after it in that batch comes again too, which
	// the consumer drops by id.
	if refusals.Load() < 2 {
		t.Errorf("the refused event was not published again (%d attempts)", refusals.Load())
	}
	got := slices.Clone(c.kinds)
	slices.Sort(got)
	sorted := slices.Clone(want)
	slices.Sort(sorted)
	if !slices.Equal(got, sorted) {
		t.Fatalf("events %v, want %v", c.kinds, want)
	}
	t.Logf("events of the purchase, as consumed: %v (%d duplicates dropped)", c.kinds, c.dups)
}
