package activation

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/guance/aliyun-marketplace/shared/domain/marketplace"
)

// Store keeps instances. Each method is one conditional write (or one
// transaction), which is what makes every call idempotent under retries
// and races.
type Store interface {
	// Create records inst unless an instance with its id exists, and returns
	// the instance as stored (the existing one when it was not created).
	Create(ctx context.Context, inst Instance) (stored Instance, created bool, err error)
	// Apply makes change to the instance id in one conditional write,
	// with its event (Change.Event); a call it finds Superseded is
	// recorded too.
	Apply(ctx context.Context, id string, change Change) (Outcome, error)
	// Superseded records a call found out of date without a write
	// (Change.SupersededEvent), once per call.
	Superseded(ctx context.Context, id string, change Change) error
	// RecordPayment records an orderPay message once per key (PaymentKey), for
	// an instance that exists.
	RecordPayment(ctx context.Context, id, requestID string, call Call) (Outcome, error)
	// Get reads the instance (consistently).
	Get(ctx context.Context, id string) (Instance, error)
}

// Market tells what the marketplace itself says of an instance now
// (DescribeInstanceForIsv): ErrUnknownToMarket when it knows none,
// ErrMarketUnavailable when it could not say.
type Market interface {
	Describe(ctx context.Context, id string) (MarketInstance, error)
}

// Follower carries a status move of an instance over to what depends on
// it (the workspaces settled through it, its cloud account link, the mail
// to its billing center account); see Effects.
type Follower interface {
	Follow(ctx context.Context, id string) error
}

// DefaultFirstCheck is how long after createInstance the reconciliation
// first asks the marketplace about an activation still pending.
const DefaultFirstCheck = time.Hour

// DefaultAuditEvery is how often the reconciliation compares a live
// instance with what the marketplace says of it.
const DefaultAuditEvery = 24 * time.Hour

// MarketRecords rebuilds an instance from the marketplace's own record,
// when createInstance never reached us.
type MarketRecords interface {
	Record(ctx context.Context, id string) (MarketRecord, error)
}

// Service applies marketplace calls to instances.
type Service struct {
	Store Store
	// Market settles calls without an order id that contradict the order
	// history; nil records them as disputed at once.
	Market Market
	// Effects follows every status move; nil leaves them to the
	// reconciliation (the move flags the instance as due).
	Effects Follower
	// FirstCheck: see DefaultFirstCheck (NewService sets it; zero checks
	// at once, as the local stack does).
	FirstCheck time.Duration
	// FirstAudit is when a new instance is first compared with the
	// marketplace: see DefaultAuditEvery (NewService sets it).
	FirstAudit time.Duration
	// Records recovers an instance a failed notification names and we
	// never heard of; nil leaves such a notification unapplied.
	Records MarketRecords
	// Products are the product codes this stack sells. One ISV account
	// (one ISV key) serves every product of the ISV: a createInstance of
	// another product is refused, and a failed notification of one is left
	// listed for its own backend (ErrOtherProduct). Empty takes all.
	Products []string
	Now      func() time.Time
	Log      *slog.Logger
}

// NewService returns a Service on store with the real clock.
func NewService(store Store, market Market, log *slog.Logger) *Service {
	return &Service{Store: store, Market: market, FirstCheck: DefaultFirstCheck, FirstAudit: DefaultAuditEvery, Now: time.Now, Log: log}
}

// Result is what a call did: Instance is set for createInstance.
type Result struct {
	Outcome  Outcome
	Instance *Instance
}

// Handle applies one decoded SPI message (see marketplace.Decode).
func (s *Service) Handle(ctx context.Context, msg marketplace.Message) (Result, error) {
	now := s.Now().UTC()
	switch m := msg.(type) {
	case *marketplace.CreateInstance:
		return s.create(ctx, m, now)
	case *marketplace.OrderPay:
		// Keyed on the order it pays, not the call's requestId: the same
		// payment may come again as a failed notification (our answer
		// lost), which has no requestId, and must not count twice.
		outcome, err := s.Store.RecordPayment(ctx, m.InstanceID, PaymentKey(m.OrderID), Call{OrderID: m.OrderID, At: now})
		if err != nil {
			return Result{}, fmt.Errorf("orderPay of instance %s: %w", m.InstanceID, err)
		}
		return Result{Outcome: outcome}, nil
	}
	return s.lifecycle(ctx, msg, now)
}

// ApplyNotification applies a message the marketplace failed to deliver
// (DescribeFailedNotifications: orderPay only), as made when the
// marketplace made it. It came over the signed OpenAPI, so it has no token
// to check, and no requestId: the order it pays is its idempotency key
// (one payment per order), the same whether the message arrives once or
// is listed again because its confirmation was lost. An instance we never
// heard of (its createInstance lost too) is recovered from the
// marketplace's record first.
func (s *Service) ApplyNotification(ctx context.Context, n marketplace.FailedNotification) (Outcome, error) {
	params, err := marketplace.ParseMessage(n.Message)
	if err != nil {
		return "", err
	}
	if params["action"] == "" {
		params["action"] = n.Action
	}
	m, err := marketplace.DecodeNotification(params)
	if err != nil {
		return "", err
	}
	if !s.sells(m.ProductCode) {
		return "", fmt.Errorf("orderPay of instance %s, product %q: %w", m.InstanceID, m.ProductCode, ErrOtherProduct)
	}
	at := s.Now().UTC()
	if !n.CreatedAt.IsZero() && n.CreatedAt.Before(at) {
		at = n.CreatedAt.UTC()
	}
	key := PaymentKey(m.OrderID)
	call := Call{OrderID: m.OrderID, At: at, Notification: true}
	outcome, err := s.Store.RecordPayment(ctx, m.InstanceID, key, call)
	if errors.Is(err, ErrInstanceNotFound) && s.Records != nil {
		record, rerr := s.Records.Record(ctx, m.InstanceID)
		if rerr != nil {
			return "", fmt.Errorf("orderPay of instance %s, unknown here: %w", m.InstanceID, rerr)
		}
		if !s.Sells(record.ProductCode) {
			return "", fmt.Errorf("orderPay of instance %s, unknown here, product %q: %w", m.InstanceID, record.ProductCode, ErrOtherProduct)
		}
		if _, _, err := s.Store.Create(ctx, Recovered(record, s.Now())); err != nil {
			return "", fmt.Errorf("recover instance %s: %w", m.InstanceID, err)
		}
		s.Log.WarnContext(ctx, "instance recovered from the Market OpenAPI for a failed notification", "instanceId", m.InstanceID)
		outcome, err = s.Store.RecordPayment(ctx, m.InstanceID, key, call)
	}
	if err != nil {
		return "", fmt.Errorf("orderPay of instance %s: %w", m.InstanceID, err)
	}
	return outcome, nil
}

// PaymentKey is the idempotency key of an orderPay: the order it pays (one
// payment per order), whether it came as an SPI call or as a failed
// notification.
func PaymentKey(orderID string) string { return "order-" + orderID }

// ErrOtherProduct marks a failed notification of a product this stack
// does not sell: left for that product's own backend.
var ErrOtherProduct = errors.New("a product this stack does not sell")

// sells tells whether code is one of Products (an empty code, or no
// Products, says nothing against it).
func (s *Service) sells(code string) bool {
	return code == "" || s.Sells(code)
}

// Sells tells whether this stack sells the product code (any, without
// Products).
func (s *Service) Sells(code string) bool {
	return len(s.Products) == 0 || slices.Contains(s.Products, code)
}

// lifecycle applies a lifecycle call other than createInstance.
func (s *Service) lifecycle(ctx context.Context, msg marketplace.Message, now time.Time) (Result, error) {
	id, change, err := ChangeFor(msg, now)
	if err != nil {
		return Result{}, err
	}
	outcome := Contested
	if change.Guard == nil || !change.Guard.Ask {
		if outcome, err = s.Store.Apply(ctx, id, change); err != nil {
			return Result{}, fmt.Errorf("%s instance %s: %w", change.Action, id, err)
		}
	}
	if outcome == Contested {
		outcome, err = s.settle(ctx, id, change)
		if err != nil {
			return Result{}, fmt.Errorf("%s instance %s: %w", change.Action, id, err)
		}
	}
	if err := s.follow(ctx, id, change, outcome); err != nil {
		return Result{}, err
	}
	return Result{Outcome: outcome}, nil
}

// follow carries out a status move's effects, on the call that made it
// and on every repeat of it: a call that failed halfway is retried by the
// marketplace, and the repeat finishes the work. (What a call cannot
// finish in time, the reconciliation does.)
func (s *Service) follow(ctx context.Context, id string, change Change, outcome Outcome) error {
	if s.Effects == nil || change.To == "" || (outcome != Applied && outcome != AlreadyApplied) {
		return nil
	}
	if err := s.Effects.Follow(ctx, id); err != nil {
		return fmt.Errorf("%s instance %s: effects: %w", change.Action, id, err)
	}
	return nil
}

// settle puts a contested call to the marketplace's word: applied if its
// record agrees (conditioned on no opposite move since it was asked);
// refused with ErrMarketDisagrees if not, so that the marketplace calls
// again (its record may lag the call: nothing promises it is written
// first) and a stale call is refused until it stops. A freeze or a resume
// the marketplace cannot be asked about is recorded as disputed for the
// reconciliation; an upgrade or a renewal is refused (the marketplace
// calls again). What the instance itself settles (a repeat, a status it
// cannot leave) is answered without asking.
func (s *Service) settle(ctx context.Context, id string, change Change) (Outcome, error) {
	inst, err := s.Store.Get(ctx, id)
	if err != nil {
		return "", err
	}
	upgrade := change.Action == marketplace.ActionUpgradeInstance
	switch {
	case upgrade && inst.Sets(change.Digest):
		return AlreadyApplied, nil
	case upgrade && inst.Replaced(change.Digest):
		s.Log.InfoContext(ctx, "an upgrade applied before and replaced since came again: answered, not applied", "instanceId", id)
		return Superseded, s.Store.Superseded(ctx, id, change)
	case change.OrderID == "" && change.To != "" && inst.Status == change.To:
		return AlreadyApplied, nil
	case !slices.Contains(change.From, inst.Status):
		return Superseded, s.Store.Superseded(ctx, id, change)
	}
	seen := inst.moves(change.Guard.Counter())
	var market MarketInstance
	err = ErrMarketUnavailable
	if s.Market != nil {
		market, err = s.Market.Describe(ctx, id)
	}
	var agrees bool
	switch {
	case upgrade:
		agrees = market.Holds(change.SKU, change.BillableItems)
	case change.To == StatusActive:
		agrees = market.Status == MarketOpened
	default:
		agrees = market.Status == MarketExpired
	}
	switch {
	case err == nil && agrees:
		change.Guard = &Guard{After: change.Guard.After, Settled: true, Seen: seen}
		return s.Store.Apply(ctx, id, change)
	case err == nil:
		s.Log.InfoContext(ctx, "call refused: the marketplace's record does not show it (yet)", "action", change.Action, "instanceId", id, "marketStatus", market.Status)
		return "", fmt.Errorf("%s: %w", change.Action, ErrMarketDisagrees)
	case upgrade || change.OrderID != "":
		// Nothing but the marketplace can place it: refused, so that
		// the marketplace calls again.
		return "", fmt.Errorf("%s, contested: %w", change.Action, err)
	}
	s.Log.WarnContext(ctx, "contested call recorded for the reconciliation: the marketplace could not be asked", "action", change.Action, "instanceId", id, "error", errorKind(err))
	dispute := Change{Action: change.Action, From: change.From, Dispute: true, At: change.At}
	return s.Store.Apply(ctx, id, dispute)
}

// errorKind names an error without its text, which for a network failure
// can hold a signed URL.
func errorKind(err error) string {
	switch {
	case errors.Is(err, ErrMarketUnavailable):
		return "MarketUnavailable"
	case errors.Is(err, ErrUnknownToMarket):
		return "UnknownToMarket"
	}
	return "Error"
}

func (s *Service) create(ctx context.Context, m *marketplace.CreateInstance, now time.Time) (Result, error) {
	if !s.Sells(m.ProductCode) {
		return Result{}, fmt.Errorf("createInstance %s of product %q: %w", m.InstanceID, m.ProductCode, ErrOtherProduct)
	}
	inst := Instance{
		ID:            m.InstanceID,
		AliUID:        m.AliUID,
		ProductCode:   m.ProductCode,
		SKU:           m.SKU,
		Trial:         m.Trial,
		ExpiredOn:     m.ExpiredOn.UTC(),
		Template:      m.Template,
		BillableItems: m.BillableItems,
		Status:        StatusActive,
		Progress:      ProgressPending,
		Orders:        map[string]string{OrderCreate: m.OrderID},
		Awaiting:      AwaitingActivation,
		CheckAt:       now.Add(s.FirstCheck).Truncate(time.Second),
		LastCalls:     map[marketplace.Action]Call{marketplace.ActionCreateInstance: {OrderID: m.OrderID, At: now}},
		Audit:         AuditLive,
		AuditAt:       now.Add(s.FirstAudit).Truncate(time.Second),
		CreatedAt:     now,
		UpdatedAt:     now,
	}
	stored, created, err := s.Store.Create(ctx, inst)
	if err != nil {
		return Result{}, fmt.Errorf("create instance %s: %w", m.InstanceID, err)
	}
	outcome := Applied
	if !created {
		outcome = AlreadyApplied
	}
	return Result{Outcome: outcome, Instance: &stored}, nil
}

// Live is every status but released: nothing brings a released instance back.
var Live = []Status{StatusActive, StatusFrozen}

// ChangeFor maps a lifecycle message to the change it makes, with its
// guard.
func ChangeFor(msg marketplace.Message, now time.Time) (string, Change, error) {
	switch m := msg.(type) {
	case *marketplace.RenewInstance:
		// For pay-as-you-go a renewal means the arrears were paid: restore.
		// Renewals are ordered among themselves only, so one lifting a
		// freeze asks the marketplace first: a late retry of a renewal
		// sent before the freeze must not lift it.
		return m.InstanceID, Change{Action: marketplace.ActionRenewInstance, OrderKind: OrderRenew, OrderID: m.OrderID, From: Live, To: StatusActive, ExpiredOn: m.ExpiredOn.UTC(),
			Guard: &Guard{After: "frozenAt", When: StatusFrozen}, At: now}, nil
	case *marketplace.UpgradeInstance:
		change := Change{Action: marketplace.ActionUpgradeInstance, OrderKind: OrderUpgrade, OrderID: m.OrderID, From: Live,
			SKU: m.SKU, BillableItems: m.BillableItems, Digest: UpgradeDigest(m.SKU, m.BillableItems), At: now}
		if m.OrderID == "" {
			// Both documented samples carry no order id. Nothing tells
			// such an upgrade from a late retry of an older one (nor from
			// a replay: the token carries no time), so the marketplace's
			// own record decides, every time.
			change.Guard = &Guard{After: "upgradedAt", Ask: true}
		}
		return m.InstanceID, change, nil
	case *marketplace.ExpiredInstance:
		// No order id, no time: a retry or a replay of it is told from a
		// fresh one by the marketplace only.
		return m.InstanceID, Change{Action: marketplace.ActionExpiredInstance, From: []Status{StatusActive}, To: StatusFrozen, Guard: &Guard{After: "restoredAt", Ask: true}, At: now}, nil
	case *marketplace.ResumeInstance:
		return m.InstanceID, Change{Action: marketplace.ActionResumeInstance, From: []Status{StatusFrozen}, To: StatusActive, Guard: &Guard{After: "frozenAt", Ask: true}, At: now}, nil
	case *marketplace.ReleaseInstance:
		return m.InstanceID, Change{Action: marketplace.ActionReleaseInstance, From: Live, To: StatusReleased, Note: m.OrderID, At: now}, nil
	case *marketplace.RefundRenewInstance:
		return m.InstanceID, Change{Action: marketplace.ActionRefundRenewInstance, From: Live, ExpiredOn: m.ExpiredOn.UTC(), At: now}, nil
	}
	return "", Change{}, fmt.Errorf("no lifecycle change for %T", msg)
}
