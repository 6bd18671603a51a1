package simulator

import (
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/guance/aliyun-marketplace/shared/marketplace"
)

// Market is the marketplace's own record of what was bought: the
// instances and orders that the simulator's OpenAPI answers about and its
// Purchased Services page lists.
type Market struct {
	mu        sync.Mutex
	instances map[string]*Purchase
	orders    map[string]*Purchase
	next      int64
}

// Purchase is one bought instance, as the marketplace sees it.
type Purchase struct {
	InstanceID  string
	OrderID     string
	AliUID      string
	ProductCode string
	SKU         string
	// Status is the OpenAPI's: OPENING, OPENED, EXPIRED or CLOSED.
	Status    string
	EndOn     time.Time
	CreatedOn time.Time
	// AuthURL is what our createInstance answered; empty when the callback
	// was lost (or not sent).
	AuthURL string
}

// NewMarket returns an empty market whose ids start after the sample ids.
func NewMarket() *Market {
	return &Market{instances: map[string]*Purchase{}, orders: map[string]*Purchase{}, next: 5700000}
}

// Buy records a new purchase by uid and returns it.
func (m *Market) Buy(uid string, now time.Time) Purchase {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.next++
	p := &Purchase{
		InstanceID:  fmt.Sprint(m.next),
		OrderID:     fmt.Sprintf("2%014d", now.UnixMilli()%1e14+m.next%1000),
		AliUID:      uid,
		ProductCode: SampleProductCode,
		SKU:         SampleSKU,
		Status:      "OPENING",
		EndOn:       time.Date(2099, 1, 1, 0, 0, 0, 0, time.UTC),
		CreatedOn:   now,
	}
	m.instances[p.InstanceID] = p
	m.orders[p.OrderID] = p
	return *p
}

// Record notes a purchase made outside Buy (a createInstance sent from the
// console), so that the OpenAPI knows it too.
func (m *Market) Record(params marketplace.Params, now time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	id := params["orderBizId"]
	if _, ok := m.instances[id]; ok || id == "" {
		return
	}
	p := &Purchase{InstanceID: id, OrderID: params["orderId"], AliUID: params["aliUid"], ProductCode: params["productCode"], SKU: params["skuId"], Status: "OPENING", CreatedOn: now}
	if t, err := marketplace.ParseTime(params["expiredOn"]); err == nil {
		p.EndOn = t
	}
	m.instances[id] = p
	m.orders[p.OrderID] = p
}

// Opened notes our createInstance answer.
func (m *Market) Opened(instanceID, authURL string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if p, ok := m.instances[instanceID]; ok {
		p.Status, p.AuthURL = "OPENED", authURL
	}
}

// Applied moves an instance's status after a lifecycle call we accepted.
func (m *Market) Applied(params marketplace.Params) {
	m.mu.Lock()
	defer m.mu.Unlock()
	p, ok := m.instances[params["instanceId"]]
	if !ok {
		return
	}
	switch marketplace.Action(params["action"]) {
	case marketplace.ActionExpiredInstance:
		p.Status = "EXPIRED"
	case marketplace.ActionRenewInstance, marketplace.ActionResumeInstance:
		if p.Status != "CLOSED" {
			p.Status = "OPENED"
		}
	case marketplace.ActionReleaseInstance:
		p.Status = "CLOSED"
	}
}

// Instance returns the purchase with the instance id.
func (m *Market) Instance(id string) (Purchase, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	p, ok := m.instances[id]
	if !ok {
		return Purchase{}, false
	}
	return *p, true
}

// Order returns the purchase with the order id.
func (m *Market) Order(id string) (Purchase, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	p, ok := m.orders[id]
	if !ok {
		return Purchase{}, false
	}
	return *p, true
}

// Purchases lists every purchase, newest first.
func (m *Market) Purchases() []Purchase {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]Purchase, 0, len(m.instances))
	for _, p := range m.instances {
		out = append(out, *p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].CreatedOn.After(out[j].CreatedOn) })
	return out
}
