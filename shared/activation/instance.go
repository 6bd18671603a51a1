// Package activation is the product's domain: a marketplace instance from the
// purchase (createInstance) through its lifecycle, and the pending activation
// that the buyer completes on our pages.
package activation

import (
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/guance/aliyun-marketplace/shared/marketplace"
)

// Status is where an instance stands in the marketplace's lifecycle.
type Status string

const (
	// StatusActive is a usable instance.
	StatusActive Status = "active"
	// StatusFrozen is an instance in arrears or past its term: data is kept,
	// use is stopped until renewInstance or resumeInstance.
	StatusFrozen Status = "frozen"
	// StatusReleased is a closed instance. It is final.
	StatusReleased Status = "released"
)

// Progress is how far the buyer got in activating the instance.
type Progress string

const (
	// ProgressPending is an instance bought but not yet tied to a workspace.
	ProgressPending Progress = "pending"
	// ProgressActivated is an instance whose UID is linked to a billing
	// center account and which settles a workspace.
	ProgressActivated Progress = "activated"
)

// Workspace is the Guance workspace an activated instance settles.
type Workspace struct {
	ID   string `dynamodbav:"id"`
	Name string `dynamodbav:"name"`
	// Site is where the workspace lives (see package sites); fixed at creation.
	Site string `dynamodbav:"site"`
}

// ErrInstanceNotFound means no instance is recorded under the id.
var ErrInstanceNotFound = errors.New("instance not found")

// Instance is one purchase on the marketplace, keyed by the marketplace's
// instance id (orderBizId), which we also answer as our own.
type Instance struct {
	ID            string            `dynamodbav:"instanceId"`
	AliUID        string            `dynamodbav:"aliUid"`
	ProductCode   string            `dynamodbav:"productCode"`
	SKU           string            `dynamodbav:"skuId"`
	Trial         bool              `dynamodbav:"trial"`
	ExpiredOn     time.Time         `dynamodbav:"expiredOn,omitempty"`
	Template      string            `dynamodbav:"template,omitempty"`
	BillableItems map[string]string `dynamodbav:"billableItems,omitempty"`
	Status        Status            `dynamodbav:"status"`
	Progress      Progress          `dynamodbav:"progress"`
	// Workspace is set when the activation completes, in the same
	// transaction that links the UID to the billing center account.
	Workspace *Workspace `dynamodbav:"workspace,omitempty"`
	// LastOrderID is the newest order applied; older orders arriving late
	// are stale and change nothing.
	LastOrderID string `dynamodbav:"lastOrderId"`
	// Applied makes repeated calls no-ops: it maps the idempotency key of
	// every applied call (see OrderKey and RequestKey) to when it was
	// applied. A map rather than a set, so that a condition can test one
	// key by its path; never empty, since createInstance applies an order.
	Applied map[string]time.Time `dynamodbav:"applied"`
	// History lists every call that changed the instance, oldest first.
	History   []HistoryEntry `dynamodbav:"history"`
	CreatedAt time.Time      `dynamodbav:"createdAt"`
	UpdatedAt time.Time      `dynamodbav:"updatedAt"`
}

// HistoryEntry records one applied call.
type HistoryEntry struct {
	Action    marketplace.Action `dynamodbav:"action"`
	OrderID   string             `dynamodbav:"orderId,omitempty"`
	RequestID string             `dynamodbav:"requestId,omitempty"`
	Status    Status             `dynamodbav:"status,omitempty"`
	At        time.Time          `dynamodbav:"at"`
}

// OrderNewer reports whether order id a was placed after b. Order ids are
// decimal numbers kept as strings, so a longer id is the larger one.
func OrderNewer(a, b string) bool {
	a, b = strings.TrimLeft(a, "0"), strings.TrimLeft(b, "0")
	if len(a) != len(b) {
		return len(a) > len(b)
	}
	return a > b
}

// OrderSortKey pads an order id so that strings compare like the numbers:
// the store keeps it beside the id for conditional writes.
func OrderSortKey(id string) string {
	const width = 32
	id = strings.TrimLeft(id, "0")
	if len(id) >= width {
		return id
	}
	return strings.Repeat("0", width-len(id)) + id
}

// Change is what one lifecycle call does to an instance. The store applies
// it in one conditional write; when the condition fails, Explain tells why.
type Change struct {
	Action marketplace.Action
	// OrderID, when set, makes the change apply once and only if the order
	// is newer than the last applied one; it then becomes the last order.
	OrderID string
	// RequestID, when set, makes the change apply once.
	RequestID string
	// From lists the statuses the instance must be in.
	From []Status
	// To is the new status; empty keeps it.
	To Status
	// ExpiredOn is the new expiry; zero keeps it. Without an order or
	// request key, a change that sets it applies only if it differs, so a
	// repeat changes nothing.
	ExpiredOn     time.Time
	SKU           string
	BillableItems map[string]string
	// Note is an order id to keep in the history without gating on it.
	Note string
	At   time.Time
}

// Entry is the history entry the change appends.
func (c Change) Entry(status Status) HistoryEntry {
	order := c.OrderID
	if order == "" {
		order = c.Note
	}
	return HistoryEntry{Action: c.Action, OrderID: order, RequestID: c.RequestID, Status: status, At: c.At}
}

// Outcome says what a call did.
type Outcome string

const (
	// Applied: the call changed the instance.
	Applied Outcome = "applied"
	// AlreadyApplied: the same call, or one with the same effect, came before.
	AlreadyApplied Outcome = "already-applied"
	// Superseded: the call is out of date (an older order after a newer one,
	// or any change after release) and was acknowledged without effect.
	Superseded Outcome = "superseded"
)

// Explain tells why a change's condition failed, given the instance as it
// was at that moment (nil when there is none). It is the single place that
// turns a refused conditional write into an answer.
func Explain(old *Instance, c Change) (Outcome, error) {
	switch {
	case old == nil:
		return "", ErrInstanceNotFound
	case c.RequestID != "" && applied(old.Applied, RequestKey(c.RequestID)):
		return AlreadyApplied, nil
	case c.OrderID != "" && applied(old.Applied, OrderKey(c.OrderID)):
		return AlreadyApplied, nil
	case c.OrderID != "" && !OrderNewer(c.OrderID, old.LastOrderID):
		return Superseded, nil
	case c.To != "" && old.Status == c.To:
		return AlreadyApplied, nil
	case !slices.Contains(c.From, old.Status):
		return Superseded, nil
	case c.OrderID == "" && c.RequestID == "" && !c.ExpiredOn.IsZero() && c.ExpiredOn.Equal(old.ExpiredOn):
		return AlreadyApplied, nil
	}
	return "", errors.New("conditional write refused for no known reason")
}

// OrderKey is the idempotency key of a call that carries an order id.
func OrderKey(orderID string) string { return "order:" + orderID }

// RequestKey is the idempotency key of a message carrying a requestId.
func RequestKey(requestID string) string { return "request:" + requestID }

func applied(ids map[string]time.Time, id string) bool {
	_, ok := ids[id]
	return ok
}

// Activated reports whether the buyer finished activating: the UID is
// linked and a workspace is settled through this instance.
func (i Instance) Activated() bool {
	return i.Progress == ProgressActivated && i.Workspace != nil
}
