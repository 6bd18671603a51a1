package activation

import (
	"time"

	"github.com/guance/aliyun-marketplace/shared/domain/audit"
	"github.com/guance/aliyun-marketplace/shared/domain/marketplace"
)

// CreatedEvent is the trail's record of an instance's creation: by the
// marketplace's createInstance, or recovered from its record when that
// call was lost.
func (i Instance) CreatedEvent() audit.Event {
	kind, action := audit.PurchaseCreated, marketplace.ActionCreateInstance
	if _, ok := i.LastCalls[ActionRecovered]; ok {
		kind, action = audit.PurchaseRecovered, ActionRecovered
	}
	ev := audit.New(kind, i.ID, audit.ActorMarketplace, i.CreatedAt)
	ev.Action, ev.OrderID, ev.Status = string(action), i.Orders[OrderCreate], string(i.Status)
	ev.Detail = map[string]string{"skuId": i.SKU, "productCode": i.ProductCode}
	if !i.ExpiredOn.IsZero() {
		ev.Detail["expiredOn"] = i.ExpiredOn.UTC().Format(time.RFC3339)
	}
	if i.Trial {
		ev.Detail["trial"] = "true"
	}
	return ev
}

// Event is the trail's record of the change, once applied to instance: a
// lifecycle call (or the marketplace's record, read by the
// reconciliation), a dispute kept, or a dispute settled.
func (c Change) Event(instance string) audit.Event {
	actor := audit.ActorMarketplace
	switch c.Action {
	case ActionMarketClosed, ActionMarketExpired, ActionMarketOpened, ActionMarketUpgrade:
		actor = audit.ActorReconciliation
	}
	kind := audit.PurchaseRenewed
	switch {
	case c.Dispute:
		kind = audit.CallDisputed
	case c.ClearDispute:
		kind = audit.DisputeSettled
	default:
		switch c.Action {
		case marketplace.ActionUpgradeInstance, ActionMarketUpgrade:
			kind = audit.PurchaseUpgraded
		case marketplace.ActionRefundRenewInstance:
			kind = audit.RenewalRefunded
		case marketplace.ActionExpiredInstance, ActionMarketExpired:
			kind = audit.PurchaseFrozen
		case marketplace.ActionResumeInstance, ActionMarketOpened:
			kind = audit.PurchaseRestored
		case marketplace.ActionReleaseInstance, ActionMarketClosed:
			kind = audit.PurchaseReleased
		}
	}
	ev := audit.New(kind, instance, actor, c.At)
	ev.Action, ev.OrderID, ev.Status = string(c.Action), c.Call().OrderID, string(c.To)
	detail := map[string]string{}
	if c.SKU != "" {
		detail["skuId"] = c.SKU
	}
	if !c.ExpiredOn.IsZero() {
		detail["expiredOn"] = c.ExpiredOn.UTC().Format(time.RFC3339)
	}
	if len(detail) > 0 {
		ev.Detail = detail
	}
	return ev
}

// SupersededEvent is the trail's record of a lifecycle call that came
// after what it would change (an older order, a call after the release):
// answered, applied to nothing. Its id is the call's own, so a call the
// marketplace repeats is recorded once.
func (c Change) SupersededEvent(instance string) audit.Event {
	ev := audit.New(audit.CallSuperseded, instance, audit.ActorMarketplace, c.At)
	ev.ID = "call_" + string(c.Action) + "_" + c.callKey()
	ev.Action, ev.OrderID = string(c.Action), c.Call().OrderID
	return ev
}

// callKey names the call among the instance's calls of its action: its
// order, else what it sets.
func (c Change) callKey() string {
	switch {
	case c.OrderID != "":
		return c.OrderID
	case c.Digest != "":
		return c.Digest
	case !c.ExpiredOn.IsZero():
		return c.ExpiredOn.UTC().Format("20060102T150405Z")
	case c.Note != "":
		return c.Note
	}
	return c.At.UTC().Format("20060102T15Z") // one an hour at most
}

// PaidEvent is the trail's record of an orderPay: from the SPI, or a
// failed notification applied by the reconciliation.
func PaidEvent(instance string, call Call) audit.Event {
	actor := audit.ActorMarketplace
	if call.Notification {
		actor = audit.ActorNotification
	}
	ev := audit.New(audit.OrderPaid, instance, actor, call.At)
	ev.Action, ev.OrderID = string(marketplace.ActionOrderPay), call.OrderID
	return ev
}

// The trail's records of a move's effects, carried out.

// WorkspaceReleasedEvent: a workspace settled through the released
// instance went back to billing center settlement (data kept).
func (i Instance) WorkspaceReleasedEvent(workspace string, at time.Time) audit.Event {
	ev := audit.New(audit.WorkspaceReleased, i.ID, audit.ActorEffects, at)
	ev.Workspace, ev.BillingAccount = workspace, i.BillingAccount
	return ev
}

// WorkspaceMarkedEvent: a workspace settled through the instance was
// suspended by its freeze, or restored.
func WorkspaceMarkedEvent(instance, workspace string, suspended bool, at time.Time) audit.Event {
	kind := audit.WorkspaceRestored
	if suspended {
		kind = audit.WorkspaceSuspended
	}
	ev := audit.New(kind, instance, audit.ActorEffects, at)
	ev.Workspace = workspace
	return ev
}

// LinkRemovedEvent: the released instance was the last live one of its
// Alibaba Cloud account, whose link to a billing center account went.
func (i Instance) LinkRemovedEvent(account string, at time.Time) audit.Event {
	ev := audit.New(audit.CloudLinkRemoved, i.ID, audit.ActorEffects, at)
	ev.BillingAccount = account
	return ev
}

// AbandonedEvent: the reconciliation gave up on a pending activation.
func AbandonedEvent(instance string, at time.Time) audit.Event {
	return audit.New(audit.ActivationAbandoned, instance, audit.ActorReconciliation, at)
}
