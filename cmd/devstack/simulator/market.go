package simulator

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/guance/aliyun-marketplace/shared/domain/marketplace"
	"github.com/guance/aliyun-marketplace/shared/domain/metering"
)

// Market is the marketplace's own record of what was bought: the
// instances and orders that the simulator's OpenAPI answers about and its
// Purchased Services page lists.
type Market struct {
	mu        sync.Mutex
	instances map[string]*Purchase
	orders    map[string]*Purchase
	next      int64
	// failed are the notifications the marketplace gave up delivering.
	failed   []FailedNotification
	throttle int
	calls    map[string]int
	metering meteringState
	// listing maps each billable item's meteringAssit to its Key.
	listing map[string]string
	// Now is the market's clock (tests move it).
	Now func() time.Time
}

// Purchase is one bought instance, as the marketplace sees it.
type Purchase struct {
	InstanceID  string
	OrderID     string
	AliUID      string
	ProductCode string
	SKU         string
	// Status is the OpenAPI's: OPENING, OPENED, EXPIRED or CLOSED;
	// StatusAt is when it last changed.
	Status    string
	StatusAt  time.Time
	EndOn     time.Time
	CreatedOn time.Time
	// AuthURL is what our createInstance answered; empty when the callback
	// was lost (or not sent).
	AuthURL string
	// Components are the billable items as the last purchase or upgrade
	// set them (DescribeInstanceForIsv's ComponentJson).
	Components map[string]string
}

// NewMarket returns an empty market whose ids start after the sample ids.
func NewMarket() *Market {
	return &Market{instances: map[string]*Purchase{}, orders: map[string]*Purchase{}, next: 5700000, Now: time.Now}
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
	if create, err := marketplace.Decode(params); err == nil {
		p.Components = create.(*marketplace.CreateInstance).BillableItems
	}
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
		p.Status, p.StatusAt = "EXPIRED", m.Now()
	case marketplace.ActionRenewInstance, marketplace.ActionResumeInstance:
		if p.Status != "CLOSED" {
			p.Status, p.StatusAt = "OPENED", m.Now()
		}
	case marketplace.ActionReleaseInstance:
		p.Status, p.StatusAt = "CLOSED", m.Now()
	case marketplace.ActionUpgradeInstance:
		// The marketplace's record shows the upgrade before it calls.
		if up, err := marketplace.Decode(params); err == nil {
			up := up.(*marketplace.UpgradeInstance)
			p.SKU, p.Components = up.SKU, up.BillableItems
		}
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

// SetStatus moves an instance's status on the marketplace's side alone,
// with no SPI call: what the reconciliation must find out by asking.
func (m *Market) SetStatus(id, status string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	p, ok := m.instances[id]
	if ok {
		p.Status, p.StatusAt = status, m.Now()
	}
	return ok
}

// FailedNotification is a message SPI call (orderPay) the marketplace
// gave up delivering, as DescribeFailedNotifications lists it.
type FailedNotification struct {
	ID     string // NotificationRequestId
	Action string
	// Message is the documented JSON object of the message's parameters:
	// no token, no requestId.
	Message    string
	CreateTime time.Time
}

// QueueFailed records an orderPay of the purchase as delivered to no one:
// it waits in DescribeFailedNotifications until confirmed. Only the
// message SPI is listed there; a lifecycle call the marketplace fails to
// deliver is lost (see LoseCall).
func (m *Market) QueueFailed(instanceID string, now time.Time) (FailedNotification, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	p, ok := m.instances[instanceID]
	if !ok {
		return FailedNotification{}, false
	}
	m.next++
	message, _ := json.Marshal(map[string]string{
		"productCode": p.ProductCode, "orderId": p.OrderID, "orderBizId": p.InstanceID,
		"action": string(marketplace.ActionOrderPay), "aliUid": p.AliUID, "skuId": p.SKU,
	})
	n := FailedNotification{ID: fmt.Sprintf("%032x", m.next), Action: string(marketplace.ActionOrderPay), Message: string(message), CreateTime: now}
	m.failed = append(m.failed, n)
	return n, true
}

// QueueNotification lists n as it is, for a test that brings one from the
// documentation.
func (m *Market) QueueNotification(n FailedNotification) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.failed = append(m.failed, n)
}

// LoseCall is a lifecycle call the marketplace made on its side and never
// delivered (our SPI failed every retry): its status moves as the call
// says, and nothing is listed anywhere. Only the reconciliation's
// comparison with DescribeInstanceForIsv finds it.
func (m *Market) LoseCall(params marketplace.Params) bool {
	if _, ok := m.Instance(params["instanceId"]); !ok {
		return false
	}
	m.Applied(params)
	return true
}

// FailedNotifications is one page (from 1) of the unconfirmed ones, oldest
// first, and how many there are.
func (m *Market) FailedNotifications(page, size int) ([]FailedNotification, int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	total := len(m.failed)
	from := (max(page, 1) - 1) * size
	if size <= 0 || from >= total {
		return nil, total
	}
	return append([]FailedNotification(nil), m.failed[from:min(from+size, total)]...), total
}

// Confirm takes a failed notification off the list.
func (m *Market) Confirm(id string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	for i, n := range m.failed {
		if n.ID == id {
			m.failed = append(m.failed[:i], m.failed[i+1:]...)
			return true
		}
	}
	return false
}

// Throttle makes the next n OpenAPI calls answer Service.Flow.Control.
func (m *Market) Throttle(n int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.throttle = n
}

// call counts one OpenAPI call of action and says whether it is throttled.
func (m *Market) call(action string) (throttled bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.calls == nil {
		m.calls = map[string]int{}
	}
	m.calls[action]++
	if m.throttle > 0 {
		m.throttle--
		return true
	}
	return false
}

// Calls are the OpenAPI calls answered so far, by action.
func (m *Market) Calls() map[string]int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return maps.Clone(m.calls)
}

// Metering: what PushMeteringData took.

// Pushed is one accepted record, as billed.
type Pushed struct {
	InstanceID         string
	StartTime, EndTime int64
	Entities           map[string]int64
	At                 time.Time
}

// meteringState is the market's record of pushed usage.
type meteringState struct {
	pushed   []Pushed
	lastCall map[string]time.Time // per instance: its last accepted call
	fail     []string             // codes the next calls answer
	drop     int                  // the next calls are taken, then the connection dropped
}

// FailNextPush makes the next PushMeteringData calls answer these codes.
func (m *Market) FailNextPush(codes ...string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.metering.fail = append(m.metering.fail, codes...)
}

// DropNextPushes makes the next n calls be billed, and their answers
// lost (the connection drops): the caller cannot know they landed.
func (m *Market) DropNextPushes(n int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.metering.drop += n
}

// Pushed lists every record billed so far.
func (m *Market) Pushed() []Pushed {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]Pushed(nil), m.metering.pushed...)
}

// Billed sums an instance's billed usage per item.
func (m *Market) Billed(instanceID string) map[string]int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := map[string]int64{}
	for _, p := range m.metering.pushed {
		if p.InstanceID == instanceID {
			for k, v := range p.Entities {
				out[k] += v
			}
		}
	}
	return out
}

// meteringRecord is a record as PushMeteringData takes it: the
// documented example, every value a string.
type meteringRecord struct {
	InstanceID string           `json:"InstanceId"`
	StartTime  string           `json:"StartTime"`
	EndTime    string           `json:"EndTime"`
	Entities   []meteringEntity `json:"Entities"`
}

type meteringEntity struct {
	Key    string `json:"Key"`
	Value  string `json:"Value"`
	Assist string `json:"meteringAssit"`
}

// SetListing is the product's billable items as published: each
// meteringAssit with its Key. A record naming another is refused; with no
// listing, any meteringAssit given is taken.
func (m *Market) SetListing(listing map[string]string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.listing = maps.Clone(listing)
}

// pushMetering applies a PushMeteringData call the way the marketplace's
// documentation describes it: Metering exactly as the example (a JSON
// array; every value a string; each entity a documented Key, a value of 0
// or more, and its meteringAssit), at most 100 records, one product, a
// window wider than 5 minutes, an hourly window before the end of the
// next hour, one call per instance per 60 seconds, no usage after the
// instance closed. code is empty when the call is taken; drop says to
// lose its answer.
func (m *Market) pushMetering(raw string, now time.Time) (code string, drop bool) {
	const invalid = "Invalid.Parameter.Metering"
	var records []meteringRecord
	dec := json.NewDecoder(strings.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&records); err != nil || len(records) == 0 {
		return invalid, false // numbers where strings belong land here too
	}
	if len(records) > 100 {
		return "Metering.Data.Exceeded", false
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.metering.fail) > 0 {
		code, m.metering.fail = m.metering.fail[0], m.metering.fail[1:]
		return code, false
	}
	product := ""
	for _, r := range records {
		p, ok := m.instances[r.InstanceID]
		start, serr := strconv.ParseInt(r.StartTime, 10, 64)
		end, eerr := strconv.ParseInt(r.EndTime, 10, 64)
		switch {
		case !ok, serr != nil, eerr != nil:
			return invalid, false
		case product != "" && p.ProductCode != product:
			return invalid, false
		case end-start <= 300 || end > now.Unix():
			return invalid, false
		case end-start == 3600 && now.Unix() > end+3600:
			return invalid, false
		}
		product = p.ProductCode
		for _, e := range r.Entities {
			v, err := strconv.ParseInt(e.Value, 10, 64)
			switch {
			case !slices.Contains(metering.Keys, e.Key), err != nil, v < 0, e.Assist == "":
				return invalid, false
			case m.listing != nil && m.listing[e.Assist] != e.Key:
				return invalid, false
			}
		}
		if last, ok := m.metering.lastCall[r.InstanceID]; ok && now.Sub(last) < 60*time.Second {
			return "Service.Flow.Control", false
		}
	}
	if m.metering.lastCall == nil {
		m.metering.lastCall = map[string]time.Time{}
	}
	for _, r := range records {
		m.metering.lastCall[r.InstanceID] = now
		p := m.instances[r.InstanceID]
		start, _ := strconv.ParseInt(r.StartTime, 10, 64)
		end, _ := strconv.ParseInt(r.EndTime, 10, 64)
		if (p.Status == "CLOSED" || p.Status == "EXPIRED") && !p.StatusAt.IsZero() && start >= p.StatusAt.Unix() {
			continue // usage after the instance closed is not billed
		}
		billed := Pushed{InstanceID: r.InstanceID, StartTime: start, EndTime: end, Entities: map[string]int64{}, At: now}
		for _, e := range r.Entities {
			v, _ := strconv.ParseInt(e.Value, 10, 64)
			billed.Entities[e.Key] += v
		}
		m.metering.pushed = append(m.metering.pushed, billed)
	}
	if m.metering.drop > 0 {
		m.metering.drop--
		return "", true
	}
	return "", false
}

// BuyProduct is Buy for another product (metering takes one product a
// call).
func (m *Market) BuyProduct(uid, product string, now time.Time) Purchase {
	p := m.Buy(uid, now)
	m.mu.Lock()
	defer m.mu.Unlock()
	m.instances[p.InstanceID].ProductCode = product
	return *m.instances[p.InstanceID]
}
