package activation

import (
	"context"
	"fmt"
	"maps"
	"time"

	"github.com/guance/aliyun-marketplace/shared/domain/marketplace"
)

// The actions under which the reconciliation records the moves it makes
// on the marketplace's word (there was no SPI call to name them).
const (
	ActionMarketClosed  marketplace.Action = "marketClosed"
	ActionMarketExpired marketplace.Action = "marketExpired"
	ActionMarketOpened  marketplace.Action = "marketOpened"
	ActionMarketUpgrade marketplace.Action = "marketUpgrade"
)

// DefaultAuditGrace is how long after a move of its own an instance is
// left out of the comparison with the marketplace: a record read just
// after a call may not show it yet (nothing promises the marketplace
// writes its record before it calls), and must not undo it.
const DefaultAuditGrace = time.Hour

// LastMoveAt is when the instance last changed status or was upgraded
// (zero if never).
func (i *Instance) LastMoveAt() time.Time {
	var last time.Time
	for _, at := range []time.Time{i.FrozenAt, i.RestoredAt, i.UpgradedAt} {
		if at.After(last) {
			last = at
		}
	}
	return last
}

// MarketHolds brings a live instance's SKU and billable items in line with
// the marketplace's record, for the reconciliation: an upgrade that never
// reached us shows as a SKU (or a listed component) we do not hold. Only
// the items we hold are taken from the record's components (which may
// list more than the billable items). An upgrade landing meanwhile wins.
func (s *Service) MarketHolds(ctx context.Context, inst Instance, market MarketInstance) (Outcome, error) {
	if inst.Status == StatusReleased || market.SKU == "" || market.Holds(inst.SKU, inst.BillableItems) {
		return AlreadyApplied, nil
	}
	items := maps.Clone(inst.BillableItems)
	for name := range items {
		if value, ok := market.Components[name]; ok {
			items[name] = value
		}
	}
	change := Change{Action: ActionMarketUpgrade, From: Live, SKU: market.SKU, BillableItems: items,
		Digest: UpgradeDigest(market.SKU, items), Guard: &Guard{After: "upgradedAt", Settled: true, Seen: inst.Upgrades}, At: s.Now().UTC()}
	outcome, err := s.Store.Apply(ctx, inst.ID, change)
	if err != nil {
		return "", fmt.Errorf("%s instance %s: %w", change.Action, inst.ID, err)
	}
	return outcome, nil
}

// MarketSays brings the instance in line with what the marketplace says of
// it now (DescribeInstanceForIsv), for the reconciliation: CLOSED releases
// it, EXPIRED freezes an active one, OPENED restores a frozen one (a
// freeze the marketplace no longer stands by). Each move is conditioned on
// the instance as read: a renewal or a freeze landing meanwhile wins. A
// dispute the status answers is settled, the move made or not.
func (s *Service) MarketSays(ctx context.Context, inst Instance, status MarketStatus) (Outcome, error) {
	now := s.Now().UTC()
	var change Change
	switch {
	case status == MarketClosed && inst.Status != StatusReleased:
		change = Change{Action: ActionMarketClosed, From: Live, To: StatusReleased, At: now}
	case status == MarketExpired && inst.Status == StatusActive:
		change = Change{Action: ActionMarketExpired, From: []Status{StatusActive}, To: StatusFrozen,
			Guard: &Guard{After: "restoredAt", Settled: true, Seen: inst.Restores}, At: now}
	case status == MarketOpened && inst.Status == StatusFrozen:
		change = Change{Action: ActionMarketOpened, From: []Status{StatusFrozen}, To: StatusActive,
			Guard: &Guard{After: "frozenAt", Settled: true, Seen: inst.Freezes}, At: now}
	case inst.DisputedAction != "":
		// The instance already is what the marketplace says: the disputed
		// call does not stand.
		change = Change{Action: inst.DisputedAction, From: Live, ClearDispute: true, At: now}
	default:
		return AlreadyApplied, nil
	}
	outcome, err := s.Store.Apply(ctx, inst.ID, change)
	if err != nil {
		return "", fmt.Errorf("%s instance %s: %w", change.Action, inst.ID, err)
	}
	if change.ClearDispute && outcome == Applied {
		s.Log.InfoContext(ctx, "dispute settled: the marketplace's status stands", "action", change.Action, "instanceId", inst.ID, "marketStatus", status)
	}
	if err := s.follow(ctx, inst.ID, Change{To: inst.Status}, outcome); err != nil {
		return "", err
	}
	return outcome, nil
}
