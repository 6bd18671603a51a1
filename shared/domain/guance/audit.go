package guance

import (
	"time"

	"github.com/guance/aliyun-marketplace/shared/domain/audit"
)

// The trail's records of the buyer's activation: what was registered,
// bound and settled, under which billing center account (the purchase's
// record holds its name), never an address or an owner's name.

// Events are a registration's: the accounts, the purchase activated, its
// first workspace settled.
func (r Registration) Events() []audit.Event {
	reg := audit.New(audit.AccountRegistered, r.Instance, audit.ActorBuyer, r.At)
	reg.BillingAccount, reg.Detail = r.Billing.Username, map[string]string{"accounts": "billing-center,guance"}
	return append([]audit.Event{reg}, settledEvents(r.Instance, r.Billing.Username, r.Workspace.ID, r.Workspace.Site, true, true, r.At)...)
}

// Event is a billing center account's binding.
func (b BillingBind) Event() audit.Event {
	ev := audit.New(audit.BillingAccountBound, b.Instance, audit.ActorBuyer, b.At)
	ev.BillingAccount = b.Account
	return ev
}

// Events are an existing workspace's settlement; activates says it is the
// purchase's first (Settle.Activates).
func (s Settle) Events() []audit.Event {
	return settledEvents(s.Instance, s.Account, s.WorkspaceID, s.Site, false, s.Activates, s.At)
}

// Events are a new workspace's creation and settlement, with the Guance
// account registered for it if there is one.
func (n NewWorkspace) Events() []audit.Event {
	var out []audit.Event
	if n.NewAccount != nil {
		reg := audit.New(audit.AccountRegistered, n.Instance, audit.ActorBuyer, n.At)
		reg.BillingAccount, reg.Detail = n.Workspace.BillingAccount, map[string]string{"accounts": "guance"}
		out = append(out, reg)
	}
	return append(out, settledEvents(n.Instance, n.Workspace.BillingAccount, n.Workspace.ID, n.Workspace.Site, true, n.Activates, n.At)...)
}

func settledEvents(instance, account, workspace, site string, created, activates bool, at time.Time) []audit.Event {
	var out []audit.Event
	if activates {
		act := audit.New(audit.PurchaseActivated, instance, audit.ActorBuyer, at)
		act.BillingAccount, act.Workspace, act.Site = account, workspace, site
		out = append(out, act)
	}
	ws := audit.New(audit.WorkspaceSettled, instance, audit.ActorBuyer, at)
	ws.BillingAccount, ws.Workspace, ws.Site = account, workspace, site
	ws.Detail = map[string]string{"created": boolText(created)}
	return append(out, ws)
}

func boolText(b bool) string {
	if b {
		return "true"
	}
	return "false"
}
