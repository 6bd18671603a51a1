package activation

import (
	"context"
	"fmt"
	"time"

	"github.com/guance/aliyun-marketplace/shared/marketplace"
)

// Store keeps instances. Create and Apply are each one conditional write,
// which is what makes every call idempotent under retries and races.
type Store interface {
	// Create records inst unless an instance with its id exists, and returns
	// the instance as stored (the existing one when it was not created).
	Create(ctx context.Context, inst Instance) (stored Instance, created bool, err error)
	// Apply makes change to the instance id in one conditional write.
	Apply(ctx context.Context, id string, change Change) (Outcome, error)
}

// Service applies marketplace calls to instances.
type Service struct {
	Store Store
	Now   func() time.Time
}

// NewService returns a Service on store with the real clock.
func NewService(store Store) *Service {
	return &Service{Store: store, Now: time.Now}
}

// Result is what a call did: Instance is set for createInstance.
type Result struct {
	Outcome  Outcome
	Instance *Instance
}

// Handle applies one decoded SPI message (see marketplace.Decode).
func (s *Service) Handle(ctx context.Context, msg any) (Result, error) {
	now := s.Now().UTC()
	if create, ok := msg.(*marketplace.CreateInstance); ok {
		return s.create(ctx, create, now)
	}
	id, change, err := changeFor(msg, now)
	if err != nil {
		return Result{}, err
	}
	outcome, err := s.Store.Apply(ctx, id, change)
	if err != nil {
		return Result{}, fmt.Errorf("%s instance %s: %w", change.Action, id, err)
	}
	return Result{Outcome: outcome}, nil
}

func (s *Service) create(ctx context.Context, m *marketplace.CreateInstance, now time.Time) (Result, error) {
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
		LastOrderID:   m.OrderID,
		Applied:       map[string]time.Time{OrderKey(m.OrderID): now},
		History:       []HistoryEntry{{Action: marketplace.ActionCreateInstance, OrderID: m.OrderID, Status: StatusActive, At: now}},
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

// live is every status but released: nothing brings a released instance back.
var live = []Status{StatusActive, StatusFrozen}

// changeFor maps a lifecycle message to the change it makes.
func changeFor(msg any, now time.Time) (string, Change, error) {
	switch m := msg.(type) {
	case *marketplace.RenewInstance:
		// For pay-as-you-go a renewal means the arrears were paid: restore.
		return m.InstanceID, Change{Action: marketplace.ActionRenewInstance, OrderID: m.OrderID, From: live, To: StatusActive, ExpiredOn: m.ExpiredOn.UTC(), At: now}, nil
	case *marketplace.UpgradeInstance:
		return m.InstanceID, Change{Action: marketplace.ActionUpgradeInstance, OrderID: m.OrderID, From: live, SKU: m.SKU, BillableItems: m.BillableItems, At: now}, nil
	case *marketplace.ExpiredInstance:
		return m.InstanceID, Change{Action: marketplace.ActionExpiredInstance, From: []Status{StatusActive}, To: StatusFrozen, At: now}, nil
	case *marketplace.ReleaseInstance:
		return m.InstanceID, Change{Action: marketplace.ActionReleaseInstance, From: live, To: StatusReleased, Note: m.OrderID, At: now}, nil
	case *marketplace.RefundRenewInstance:
		return m.InstanceID, Change{Action: marketplace.ActionRefundRenewInstance, From: live, ExpiredOn: m.ExpiredOn.UTC(), At: now}, nil
	case *marketplace.ResumeInstance:
		return m.InstanceID, Change{Action: marketplace.ActionResumeInstance, From: []Status{StatusFrozen}, To: StatusActive, At: now}, nil
	case *marketplace.OrderPay:
		// A paid order is recorded whatever the status; the payment itself
		// changes nothing the buyer sees.
		return m.InstanceID, Change{Action: marketplace.ActionOrderPay, RequestID: m.RequestID, Note: m.OrderID, From: []Status{StatusActive, StatusFrozen, StatusReleased}, At: now}, nil
	}
	return "", Change{}, fmt.Errorf("no lifecycle change for %T", msg)
}
