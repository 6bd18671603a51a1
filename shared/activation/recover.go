package activation

import (
	"time"

	"github.com/guance/aliyun-marketplace/shared/marketplace"
)

// MarketRecord is what the Market OpenAPI says of an instance and its
// order, when createInstance never reached us.
type MarketRecord struct {
	InstanceID  string
	OrderID     string
	AliUID      string
	ProductCode string
	SKU         string
	// Status is the OpenAPI's: OPENING, OPENED, EXPIRED or CLOSED.
	Status string
	Trial  bool
	EndOn  time.Time
}

// Recovered is the instance createInstance would have recorded, rebuilt
// from the marketplace's own record, with the marketplace's status.
func Recovered(r MarketRecord, now time.Time) Instance {
	status := StatusActive
	switch r.Status {
	case "EXPIRED":
		status = StatusFrozen
	case "CLOSED":
		status = StatusReleased
	}
	now = now.UTC()
	return Instance{
		ID: r.InstanceID, AliUID: r.AliUID, ProductCode: r.ProductCode, SKU: r.SKU, Trial: r.Trial,
		ExpiredOn: r.EndOn.UTC(), Status: status, Progress: ProgressPending,
		LastOrderID: r.OrderID,
		Applied:     map[string]time.Time{OrderKey(r.OrderID): now},
		// The history says where the record came from: no SPI call made it.
		History:   []HistoryEntry{{Action: marketplace.Action("recoveredFromOpenAPI"), OrderID: r.OrderID, Status: status, At: now}},
		CreatedAt: now, UpdatedAt: now,
	}
}
