// Package activation is the product's domain: a marketplace instance from the
// purchase (createInstance) through its lifecycle, and the pending activation
// that the buyer completes on our pages.
package activation

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/guance/aliyun-marketplace/shared/domain/marketplace"
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

// Progress is how far the buyer got in activating the instance. It only
// moves forward.
type Progress string

const (
	// ProgressPending is an instance bought but not yet tied to an account.
	ProgressPending Progress = "pending"
	// ProgressBillingBound is an instance whose UID is linked to a billing
	// center account, with no workspace settled through it yet.
	ProgressBillingBound Progress = "billing-bound"
	// ProgressActivated is an instance that settles at least one workspace.
	ProgressActivated Progress = "activated"
)

// Values of Instance.Awaiting and Instance.Effects.
const (
	AwaitingActivation = "activation"
	AwaitingAbandoned  = "abandoned"
	EffectsDue         = "due"
	MeteringOn         = "on"
	AuditLive          = "live"
)

// ErrInstanceNotFound means no instance is recorded under the id.
var ErrInstanceNotFound = errors.New("instance not found")

// Instance is one purchase on the marketplace, keyed by the marketplace's
// instance id (orderBizId), which we also answer as our own.
//
// The item stays bounded whatever the marketplace sends: the last order of
// each kind instead of every order, the last call of each action instead of
// a growing history (the full trail is in the logs), and orderPay's
// idempotency keys as items of their own that expire.
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
	// BillingAccount is the billing center account the instance was bound
	// to (billing-bound and after).
	BillingAccount string `dynamodbav:"billingAccount,omitempty"`
	// Workspaces are the workspaces settled through this instance.
	Workspaces []string `dynamodbav:"workspaces,stringset,omitempty"`
	// LoginSite is the site of the first workspace settled through the
	// instance: where Login Without Password sends an activated buyer.
	LoginSite string `dynamodbav:"loginSite,omitempty"`
	// Orders is the last order id applied of each kind ("create",
	// "renew", "upgrade"). Kinds are separate so that an upgrade never
	// makes a renewal look stale.
	Orders map[string]string `dynamodbav:"orders"`
	// FrozenAt and RestoredAt are the last freeze and the last restore
	// (renewal or resume).
	FrozenAt   time.Time `dynamodbav:"frozenAt,unixtime,omitempty"`
	RestoredAt time.Time `dynamodbav:"restoredAt,unixtime,omitempty"`
	// Freezes and Restores count the moves, so that a write can require
	// that no move happened since a read (times can tie within a second).
	Freezes  int `dynamodbav:"freezes,omitempty"`
	Restores int `dynamodbav:"restores,omitempty"`
	// UpgradedAt, Upgrades and UpgradeDigest are the last upgrade, the
	// count of them and what it set (see UpgradeDigest): an upgrade
	// without an order id is checked against them.
	UpgradedAt    time.Time `dynamodbav:"upgradedAt,unixtime,omitempty"`
	Upgrades      int       `dynamodbav:"upgrades,omitempty"`
	UpgradeDigest string    `dynamodbav:"upgradeDigest,omitempty"`
	// UpgradeDigest1 to 3 are what the three upgrades before the last set
	// (newest first): a late retry or a replay of one of them is known
	// without asking anyone.
	UpgradeDigest1 string `dynamodbav:"upgradeDigest1,omitempty"`
	UpgradeDigest2 string `dynamodbav:"upgradeDigest2,omitempty"`
	UpgradeDigest3 string `dynamodbav:"upgradeDigest3,omitempty"`
	// DisputedAction is an expiredInstance or resumeInstance the Market
	// OpenAPI could not be asked about (empty: none); the reconciliation
	// settles it.
	DisputedAction marketplace.Action `dynamodbav:"disputedAction,omitempty"`
	DisputedAt     time.Time          `dynamodbav:"disputedAt,omitempty"`
	// Awaiting puts a pending activation in the pendingActivations index
	// ("activation"; "abandoned" once past the age the reconciliation
	// gives up at), checked by the reconciliation from CheckAt on. Both
	// go when the instance is activated or released.
	Awaiting string    `dynamodbav:"awaiting,omitempty"`
	CheckAt  time.Time `dynamodbav:"checkAt,unixtime,omitempty"`
	// Audit ("live") puts a live instance in the liveAudit index, by
	// AuditAt: the reconciliation compares what the marketplace says of
	// it (DescribeInstanceForIsv) with what we hold, a bounded number a
	// run, to find the lifecycle calls that never reached us. It goes
	// once the instance is released.
	Audit   string    `dynamodbav:"audit,omitempty"`
	AuditAt time.Time `dynamodbav:"auditAt,unixtime,omitempty"`
	// Effects ("due") puts the instance in the effectsDue index: a status
	// move (or a dispute) whose consequences for the workspaces, the link
	// and the mail are not all carried out yet. EffectsSeq counts the
	// moves, so that finishing one never hides a later one.
	Effects    string    `dynamodbav:"effects,omitempty"`
	EffectsAt  time.Time `dynamodbav:"effectsAt,unixtime,omitempty"`
	EffectsSeq int       `dynamodbav:"effectsSeq,omitempty"`
	// SettledCount counts the workspaces ever settled through the
	// instance: the bound on its item (guance.MaxWorkspacesPerInstance)
	// is checked on it in the settling write.
	SettledCount int `dynamodbav:"settledCount,omitempty"`
	// ActivatedAt is when its first workspace was settled.
	ActivatedAt time.Time `dynamodbav:"activatedAt,unixtime,omitempty"`
	// ReleasedWorkspaces counts the workspaces that went back to billing
	// center settlement when the instance was released.
	ReleasedWorkspaces int `dynamodbav:"releasedWorkspaces,omitempty"`
	// ReleasedAt is when it was released: usage after it is not billed.
	ReleasedAt time.Time `dynamodbav:"releasedAt,unixtime,omitempty"`
	// Metering ("on") puts an activated instance in the meteringDue
	// index, by MeteredUntil: the start of the first window not yet
	// decided. MeteredFrom is the activation; MeteredWorkspaces are the
	// workspaces ever settled through it, each with when
	// (metering.FormatMember): a release takes them off Workspaces, and
	// their last windows are still billed.
	Metering          string    `dynamodbav:"metering,omitempty"`
	MeteredUntil      time.Time `dynamodbav:"meteredUntil,unixtime,omitempty"`
	MeteredFrom       time.Time `dynamodbav:"meteredFrom,unixtime,omitempty"`
	MeteredWorkspaces []string  `dynamodbav:"meteredWorkspaces,stringset,omitempty"`
	// LastCalls is the last applied call of each action.
	LastCalls map[marketplace.Action]Call `dynamodbav:"lastCalls"`
	CreatedAt time.Time                   `dynamodbav:"createdAt"`
	UpdatedAt time.Time                   `dynamodbav:"updatedAt"`
}

// Call records one applied call.
type Call struct {
	OrderID string    `dynamodbav:"orderId,omitempty"`
	At      time.Time `dynamodbav:"at"`
	// Notification: it came as a failed notification the reconciliation
	// applied, not as an SPI call (not stored).
	Notification bool `dynamodbav:"-"`
}

// Order kinds: each kind's ids are compared only with their own.
const (
	OrderCreate  = "create"
	OrderRenew   = "renew"
	OrderUpgrade = "upgrade"
)

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

// Guard makes a change wait for the marketplace's word where nothing else
// can place it. A call without an order id carries no time either (its
// token signs only its parameters, so a captured one is valid forever):
// a retried or replayed expiredInstance must not freeze a paid-up
// instance, nor a resumeInstance restore one in arrears, nor an
// upgradeInstance undo a later upgrade. And a renewal (ordered only among
// renewals) must not lift a freeze made after it was sent.
type Guard struct {
	// After names the opposite move: "restoredAt" (for a freeze),
	// "frozenAt" (for a resume or a renewal) or "upgradedAt" (for an
	// upgrade); its counter conditions the settled write.
	After string
	// Ask sends the change to the marketplace's word every time, without
	// trying it alone first.
	Ask bool
	// When contests the change only while the instance is in this status
	// (a renewal of a frozen instance); it goes ahead alone otherwise.
	When Status
	// Settled, once the marketplace agreed, makes the change apply only if
	// no opposite move happened since the marketplace was asked (the
	// count of them is still Seen), so a renewal landing meanwhile wins.
	Settled bool
	Seen    int
}

// Counter is the attribute counting the moves Guard.After times.
func (g Guard) Counter() string {
	switch g.After {
	case "frozenAt":
		return "freezes"
	case "upgradedAt":
		return "upgrades"
	}
	return "restores"
}

// Change is what one lifecycle call does to an instance. The store applies
// it in one conditional write; when the condition fails, Explain tells why.
type Change struct {
	Action marketplace.Action
	// OrderKind and OrderID, when set, make the change apply once and only
	// if the order is newer than the last applied order of its kind.
	OrderKind string
	OrderID   string
	// From lists the statuses the instance must be in.
	From []Status
	// To is the new status; empty keeps it.
	To Status
	// Guard, when set, sends the change to the marketplace's word (see
	// Guard).
	Guard *Guard
	// ExpiredOn is the new expiry; zero keeps it. Without an order, a
	// change that sets it applies only if it differs, so a repeat changes
	// nothing.
	ExpiredOn     time.Time
	SKU           string
	BillableItems map[string]string
	// Digest, set on upgrades, names what the change sets (UpgradeDigest):
	// without an order id, a change whose digest the instance has already
	// is a repeat.
	Digest string
	// Dispute records the call for the reconciliation instead of applying
	// it.
	Dispute bool
	// ClearDispute settles a dispute of Action without a move: the
	// marketplace's status is the instance's already.
	ClearDispute bool
	// Note is an order id to keep with the call without gating on it.
	Note string
	At   time.Time
}

// Call is the record the change leaves in LastCalls.
func (c Change) Call() Call {
	order := c.OrderID
	if order == "" {
		order = c.Note
	}
	return Call{OrderID: order, At: c.At}
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
	// Contested: the call's guard refused it; only the marketplace can say
	// whether it stands (see Guard).
	Contested Outcome = "contested"
	// Disputed: the call was recorded for the reconciliation to settle.
	Disputed Outcome = "disputed"
)

// Explain tells why a change's condition failed, given the instance as it
// was at that moment (nil when there is none). It is the single place that
// turns a refused conditional write into an answer.
func Explain(old *Instance, c Change) (Outcome, error) {
	switch {
	case old == nil:
		return "", ErrInstanceNotFound
	case c.OrderID != "" && old.Orders[c.OrderKind] == c.OrderID:
		return AlreadyApplied, nil
	case c.OrderID != "" && !OrderNewer(c.OrderID, old.Orders[c.OrderKind]):
		return Superseded, nil
	case c.To != "" && old.Status == c.To:
		return AlreadyApplied, nil
	case !slices.Contains(c.From, old.Status):
		return Superseded, nil
	case c.OrderID == "" && c.Digest != "" && old.UpgradeDigest == c.Digest:
		return AlreadyApplied, nil
	case c.Dispute && old.DisputedAction == c.Action:
		return Disputed, nil
	case c.ClearDispute:
		return AlreadyApplied, nil // settled meanwhile
	case c.Guard != nil && c.Guard.Settled && old.moves(c.Guard.Counter()) != c.Guard.Seen:
		return Superseded, nil
	case c.Guard != nil && !c.Guard.Settled && c.Guard.When != "" && old.Status == c.Guard.When:
		return Contested, nil
	case c.OrderID == "" && !c.ExpiredOn.IsZero() && c.ExpiredOn.Equal(old.ExpiredOn):
		return AlreadyApplied, nil
	}
	return "", errors.New("conditional write refused for no known reason")
}

// moves is how many freezes ("freezes"), restores ("restores") or
// upgrades ("upgrades") the instance had.
func (i *Instance) moves(counter string) int {
	switch counter {
	case "freezes":
		return i.Freezes
	case "upgrades":
		return i.Upgrades
	}
	return i.Restores
}

// Replaced tells whether an upgrade with digest was applied before and
// another since: a late retry or a replay of it.
func (i *Instance) Replaced(digest string) bool {
	return digest != "" && (digest == i.UpgradeDigest1 || digest == i.UpgradeDigest2 || digest == i.UpgradeDigest3)
}

// Sets tells whether the instance already has what an upgrade with digest
// sets: the last upgrade set it, or (before any) the purchase did.
func (i *Instance) Sets(digest string) bool {
	if i.UpgradeDigest != "" {
		return i.UpgradeDigest == digest
	}
	return UpgradeDigest(i.SKU, i.BillableItems) == digest
}

// UpgradeDigest names what an upgrade sets: its SKU and billable items,
// in a stable order. Two upgrades that set the same are one.
func UpgradeDigest(sku string, items map[string]string) string {
	h := sha256.New()
	h.Write([]byte(sku))
	for _, name := range slices.Sorted(maps.Keys(items)) {
		h.Write([]byte{0})
		h.Write([]byte(name))
		h.Write([]byte{0})
		h.Write([]byte(items[name]))
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// Activated reports whether the buyer finished activating: a workspace is
// settled through this instance.
func (i Instance) Activated() bool {
	return i.Progress == ProgressActivated && len(i.Workspaces) > 0
}

// Why an instance cannot be activated now.
var (
	// ErrNotYours: the instance was bought by another Alibaba Cloud account.
	ErrNotYours = errors.New("the instance was bought by another account")
	// ErrNotPending: the instance was bound or activated already.
	ErrNotPending = errors.New("the instance was bound or activated already")
	// ErrNotLive: the instance is released, or frozen for arrears.
	ErrNotLive = errors.New("the instance is released or frozen")
	// ErrActivationOver: the instance was activated longer ago than a
	// session may go on settling workspaces through it (AfterActivation):
	// its workspaces are managed in the console now, whichever session
	// asks.
	ErrActivationOver = errors.New("the instance's activation is over")
)

// AfterActivation is how long after its activation workspaces may still
// be bound or created through an instance from our pages (by any of its
// sessions): long enough to add another at once, no longer.
const AfterActivation = 15 * time.Minute

// Unavailable reports whether err says the buyer can no longer act on the
// instance at all (not theirs, released or frozen, or unknown): the flows
// answer these alike, with a way back to the marketplace.
func Unavailable(err error) bool {
	return errors.Is(err, ErrNotYours) || errors.Is(err, ErrNotLive) || errors.Is(err, ErrInstanceNotFound)
}

// CheckActivatable says whether the buyer with uid may activate the
// instance now: bought by uid, still pending, and active.
func (i Instance) CheckActivatable(uid string) error {
	switch {
	case i.AliUID != uid:
		return ErrNotYours
	case i.Status != StatusActive:
		return ErrNotLive
	case i.Progress != ProgressPending:
		return ErrNotPending
	}
	return nil
}
