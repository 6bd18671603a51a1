package activation

import (
	"errors"
	"time"

	"github.com/guance/aliyun-marketplace/shared/domain/marketplace"
)

// MarketStatus is an instance's status as the Market OpenAPI tells it.
type MarketStatus string

// The statuses of DescribeInstanceForIsv.
const (
	MarketOpening MarketStatus = "OPENING"
	MarketOpened  MarketStatus = "OPENED"
	MarketExpired MarketStatus = "EXPIRED"
	MarketClosed  MarketStatus = "CLOSED"
)

var (
	// ErrUnknownToMarket means the marketplace knows no such instance or order.
	ErrUnknownToMarket = errors.New("unknown to the marketplace")
	// ErrMarketUnavailable means the Market OpenAPI gave no usable answer:
	// worth asking again later.
	ErrMarketUnavailable = errors.New("market openapi unavailable")
	// ErrMarketDisagrees means the marketplace's record does not show what
	// a call without an order id asks for (yet): the call is refused, so
	// that it comes again once the record caught up, or stops if stale.
	ErrMarketDisagrees = errors.New("the marketplace's record does not show this change")
)

// MarketInstance is what DescribeInstanceForIsv says of an instance.
type MarketInstance struct {
	InstanceID  string
	OrderID     string
	ProductCode string
	SKU         string
	Status      MarketStatus
	Trial       bool
	EndOn       time.Time // zero when not given
	// Components are the instance's billable items as ComponentJson tells
	// them (flat JSON, values as text); nil when it gave none.
	Components map[string]string
}

// Holds tells whether the marketplace's record shows an instance on sku
// with items: the same SKU, and every item it lists among its components
// with the same value (an item it does not list, it says nothing of).
func (m MarketInstance) Holds(sku string, items map[string]string) bool {
	if m.SKU != sku {
		return false
	}
	for name, value := range items {
		if got, ok := m.Components[name]; ok && got != value {
			return false
		}
	}
	return true
}

// MarketRecord is what the Market OpenAPI says of an instance and its
// order, when createInstance never reached us.
type MarketRecord struct {
	InstanceID  string
	OrderID     string
	AliUID      string
	ProductCode string
	SKU         string
	Status      MarketStatus
	Trial       bool
	EndOn       time.Time
}

// Recovered is the instance createInstance would have recorded, rebuilt
// from the marketplace's own record, with the marketplace's status.
func Recovered(r MarketRecord, now time.Time) Instance {
	status := StatusActive
	switch r.Status {
	case MarketExpired:
		status = StatusFrozen
	case MarketClosed:
		status = StatusReleased
	}
	now = now.UTC()
	inst := Instance{
		ID: r.InstanceID, AliUID: r.AliUID, ProductCode: r.ProductCode, SKU: r.SKU, Trial: r.Trial,
		ExpiredOn: r.EndOn.UTC(), Status: status, Progress: ProgressPending,
		Orders: map[string]string{OrderCreate: r.OrderID},
		// The record says where it came from: no SPI call made it.
		LastCalls: map[marketplace.Action]Call{ActionRecovered: {OrderID: r.OrderID, At: now}},
		CreatedAt: now, UpdatedAt: now,
	}
	if status == StatusFrozen {
		inst.FrozenAt = now.Truncate(time.Second)
	}
	if status != StatusReleased {
		// A pending activation like any other: the buyer is on the page
		// now, and the reconciliation checks it if they leave it there.
		inst.Awaiting, inst.CheckAt = AwaitingActivation, now.Add(DefaultFirstCheck).Truncate(time.Second)
		inst.Audit, inst.AuditAt = AuditLive, now.Add(DefaultAuditEvery).Truncate(time.Second)
	}
	return inst
}

// ActionRecovered names, among the calls, the recovery of a lost
// createInstance from the Market OpenAPI.
const ActionRecovered marketplace.Action = "recoveredFromOpenAPI"
