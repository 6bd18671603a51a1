// Package audit is the trail of a purchase: every business event that
// changes a purchase or what it settles is an Event, an item of its own
// written in the same transaction as the change (no event without its
// change, no change without its event), kept for Retention. The events are
// also what the rest of Guance hears: each is published to an EventBridge
// bus with its Kind as the detail type (see Publisher).
//
// An event holds no personal data beyond what the purchase's record
// already holds: ids, states and the billing center account's username,
// never an address, a code, a session id or a token.
package audit

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"strings"
	"time"
)

// Retention is how long an event is kept (its TTL): thirteen months, a
// yearly subscription's whole term and a month to look into its end. The
// logs keep 90 days; the trail is what answers "what happened to this
// purchase" after that.
const Retention = 396 * 24 * time.Hour

// Kind is what happened, named as the business event the rest of Guance
// receives (its EventBridge detail type).
type Kind string

// The kinds of events.
const (
	// The marketplace's lifecycle calls, as applied.
	PurchaseCreated   Kind = "Purchase Created"
	PurchaseRecovered Kind = "Purchase Recovered"
	PurchaseRenewed   Kind = "Purchase Renewed"
	PurchaseUpgraded  Kind = "Purchase Upgraded"
	RenewalRefunded   Kind = "Purchase Renewal Refunded"
	PurchaseFrozen    Kind = "Purchase Frozen"
	PurchaseRestored  Kind = "Purchase Restored"
	PurchaseReleased  Kind = "Purchase Released"
	OrderPaid         Kind = "Order Paid"
	// A call kept for the reconciliation instead of applied, its
	// settlement, and a call that came after what it would change.
	CallDisputed   Kind = "Lifecycle Call Disputed"
	DisputeSettled Kind = "Lifecycle Dispute Settled"
	CallSuperseded Kind = "Lifecycle Call Superseded"

	// The buyer's activation.
	SessionOpened       Kind = "Session Opened"
	AccountRegistered   Kind = "Account Registered"
	BillingAccountBound Kind = "Billing Account Bound"
	PurchaseActivated   Kind = "Purchase Activated"
	WorkspaceSettled    Kind = "Workspace Settled"
	ActivationAbandoned Kind = "Activation Abandoned"
	BillingCodeAsked    Kind = "Billing Center Code Requested"

	// The lifecycle's effects on what the purchase settles.
	WorkspaceSuspended Kind = "Workspace Suspended"
	WorkspaceRestored  Kind = "Workspace Restored"
	WorkspaceReleased  Kind = "Workspace Released"
	CloudLinkRemoved   Kind = "Cloud Account Unlinked"

	// The outbox's mails.
	MailQueued Kind = "Mail Queued"
	MailSent   Kind = "Mail Sent"
	MailDead   Kind = "Mail Dead"

	// Pay-as-you-go metering windows, once decided.
	WindowPushed    Kind = "Metering Window Pushed"
	WindowRefused   Kind = "Metering Window Refused"
	WindowUncertain Kind = "Metering Window Uncertain"
	WindowLate      Kind = "Metering Window Late"
	WindowRequeued  Kind = "Metering Window Requeued"
	WindowMarked    Kind = "Metering Window Marked"

	// A person's repair (the operator's tool).
	OperatorAction Kind = "Operator Action"
)

// Kinds lists every kind, in the order above: each has a JSON schema of
// its detail under schemas/events.
var Kinds = []Kind{
	PurchaseCreated, PurchaseRecovered, PurchaseRenewed, PurchaseUpgraded, RenewalRefunded,
	PurchaseFrozen, PurchaseRestored, PurchaseReleased, OrderPaid,
	CallDisputed, DisputeSettled, CallSuperseded,
	SessionOpened, AccountRegistered, BillingAccountBound, PurchaseActivated, WorkspaceSettled,
	ActivationAbandoned, BillingCodeAsked,
	WorkspaceSuspended, WorkspaceRestored, WorkspaceReleased, CloudLinkRemoved,
	MailQueued, MailSent, MailDead,
	WindowPushed, WindowRefused, WindowUncertain, WindowLate, WindowRequeued, WindowMarked,
	OperatorAction,
}

// NeedsAPerson tells the kinds a person must look at: their events carry
// Attention, which puts them in the trail's attention index (the
// operator's tool lists those whose record still stands so).
func (k Kind) NeedsAPerson() bool {
	switch k {
	case CallDisputed, ActivationAbandoned, MailDead, WindowRefused, WindowUncertain, WindowLate:
		return true
	}
	return false
}

// Slug is the kind in lower case with dashes ("purchase-created"): its
// schema's file name, and the part of an event id that names it.
func (k Kind) Slug() string { return strings.ReplaceAll(strings.ToLower(string(k)), " ", "-") }

// Who made a change.
const (
	ActorMarketplace    = "marketplace"    // a lifecycle call (SPI)
	ActorNotification   = "notification"   // a failed notification, applied by the reconciliation
	ActorReconciliation = "reconciliation" // the marketplace's record, read by the reconciliation
	ActorBuyer          = "buyer"          // the buyer, on our pages
	ActorEffects        = "effects"        // a move's consequences, carried out
	ActorOutbox         = "outbox"         // the mail deliverer
	ActorMetering       = "metering"       // the metering run
	// ActorOperator is a person's event as the bus carries it; on the
	// trail it is "operator:<who>".
	ActorOperator  = "operator"
	operatorPrefix = ActorOperator + ":"
)

// AttentionOpen is the Attention of an event a person must look at.
const AttentionOpen = "open"

// Event is one business event of a purchase.
type Event struct {
	// Instance is the purchase (the marketplace's instance id): the
	// trail's partition.
	Instance string `dynamodbav:"instanceId" json:"instanceId"`
	// ID orders the instance's events (its time first) and, with
	// Instance, names the event once: a consumer de-duplicates on it.
	ID    string    `dynamodbav:"eventId" json:"-"`
	Kind  Kind      `dynamodbav:"kind" json:"-"`
	At    time.Time `dynamodbav:"at,unixtime" json:"at"`
	Actor string    `dynamodbav:"actor" json:"actor"`
	// What the event is about, each when it applies.
	Action         string    `dynamodbav:"action,omitempty" json:"action,omitempty"`
	OrderID        string    `dynamodbav:"orderId,omitempty" json:"orderId,omitempty"`
	Status         string    `dynamodbav:"status,omitempty" json:"status,omitempty"`
	BillingAccount string    `dynamodbav:"billingAccount,omitempty" json:"billingAccount,omitempty"`
	Workspace      string    `dynamodbav:"workspaceId,omitempty" json:"workspaceId,omitempty"`
	Site           string    `dynamodbav:"site,omitempty" json:"site,omitempty"`
	Mail           string    `dynamodbav:"mailId,omitempty" json:"mailId,omitempty"`
	MailKind       string    `dynamodbav:"mailKind,omitempty" json:"mailKind,omitempty"`
	Window         time.Time `dynamodbav:"window,unixtime,omitempty" json:"window,omitzero"`
	// Reason is why: a refusal's, a dead mail's, or the operator's own
	// words.
	Reason string `dynamodbav:"reason,omitempty" json:"reason,omitempty"`
	// Detail holds the kind's other values (a SKU, an expiry).
	Detail map[string]string `dynamodbav:"detail,omitempty" json:"detail,omitempty"`
	// Attention is AttentionOpen for a kind a person must look at.
	Attention string    `dynamodbav:"attention,omitempty" json:"-"`
	ExpiresAt time.Time `dynamodbav:"expiresAt,unixtime" json:"-"`
}

// New is an event of kind about instance at at, by actor, with a fresh
// id and its expiry.
func New(kind Kind, instance, actor string, at time.Time) Event {
	at = at.UTC()
	ev := Event{Instance: instance, Kind: kind, At: at, Actor: actor, ID: NewID(kind, at), ExpiresAt: at.Add(Retention)}
	if kind.NeedsAPerson() {
		ev.Attention = AttentionOpen
	}
	return ev
}

// NewID is an event id: its time (sortable), its kind, and a random part
// that keeps two events of one instance in one transaction apart.
func NewID(kind Kind, at time.Time) string {
	var b [5]byte
	_, _ = rand.Read(b[:])
	return at.UTC().Format("20060102T150405.000000Z") + "_" + kind.Slug() + "_" + hex.EncodeToString(b[:])
}

// Key names the event once across every purchase: the id a consumer
// de-duplicates on.
func (e Event) Key() string { return e.Instance + "/" + e.ID }

// Operator is a person's repair, as the context of the writes it makes:
// every event they write names the operator, and carries their reason.
type Operator struct {
	Who string // their identity (an IAM principal's ARN, or a local name)
	Why string // the reason they gave
}

type operatorKey struct{}

// WithOperator marks ctx as an operator's: the events of the writes made
// with it name them and their reason.
func WithOperator(ctx context.Context, op Operator) context.Context {
	return context.WithValue(ctx, operatorKey{}, op)
}

// OperatorOf is the operator of ctx, if any.
func OperatorOf(ctx context.Context) (Operator, bool) {
	op, ok := ctx.Value(operatorKey{}).(Operator)
	return op, ok
}

// By sets who made the change: the operator of ctx when there is one (the
// actor then names them, and the reason is theirs), actor otherwise.
func (e Event) By(ctx context.Context) Event {
	if op, ok := OperatorOf(ctx); ok {
		e.Actor = operatorPrefix + op.Who
		if e.Reason == "" {
			e.Reason = op.Why
		}
	}
	return e
}

// IsOperator tells whether an actor is a person's.
func IsOperator(actor string) bool { return strings.HasPrefix(actor, operatorPrefix) }
