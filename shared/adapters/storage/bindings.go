package storage

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/guance/aliyun-marketplace/shared/domain/activation"
	"github.com/guance/aliyun-marketplace/shared/domain/guance"
	"github.com/guance/aliyun-marketplace/shared/domain/metering"
	"github.com/guance/aliyun-marketplace/shared/domain/outbox"
	"github.com/guance/aliyun-marketplace/shared/domain/session"
)

// Bindings reads and writes what the binding pages need: the purchase and
// its link, the billing center account's workspaces, and the three
// transactions (bind billing, settle a workspace, create one).
type Bindings struct{ st *Store }

// Purchase reads, in one consistent BatchGetItem, the instance and the
// cloud account link of its UID (linked is false when there is none).
func (s *Bindings) Purchase(ctx context.Context, instanceID, uid string) (inst activation.Instance, link guance.CloudLink, linked bool, err error) {
	t := s.st.t
	found, err := s.st.batchGet(ctx, map[string]types.KeysAndAttributes{
		t.Instances: {Keys: []map[string]types.AttributeValue{instanceKeyOf(instanceID)}, ConsistentRead: aws.Bool(true)},
		t.Accounts:  {Keys: []map[string]types.AttributeValue{idKey(cloudKey(uid))}, ConsistentRead: aws.Bool(true)},
	})
	if err != nil {
		return inst, link, false, fmt.Errorf("read purchase %s: %w", instanceID, err)
	}
	if len(found[t.Instances]) == 0 {
		return inst, link, false, fmt.Errorf("read purchase %s: %w", instanceID, activation.ErrInstanceNotFound)
	}
	if inst, err = unmarshalInstance(found[t.Instances][0]); err != nil {
		return inst, link, false, fmt.Errorf("unmarshal instance %s: %w", instanceID, err)
	}
	if items := found[t.Accounts]; len(items) > 0 {
		if err := attributevalue.UnmarshalMap(items[0], &link); err != nil {
			return inst, link, false, fmt.Errorf("unmarshal cloud link: %w", err)
		}
		linked = true
	}
	return inst, link, linked, nil
}

// Workspaces lists the billing center account's workspaces, with those of
// ids read consistently (see Store.workspacesOf).
func (s *Bindings) Workspaces(ctx context.Context, account string, ids []string) ([]guance.Workspace, error) {
	return s.st.workspacesOf(ctx, account, ids)
}

// Workspace reads one workspace, consistently.
func (s *Bindings) Workspace(ctx context.Context, id string) (guance.Workspace, bool, error) {
	return s.st.workspace(ctx, id)
}

// UsernameByEmail finds the Guance account of an email through its guard.
func (s *Bindings) UsernameByEmail(ctx context.Context, email string) (string, bool, error) {
	return s.st.usernameByEmail(ctx, email)
}

// BindBilling links the buyer's UID and instance to an existing billing
// center account, in one transaction: the account must exist; the link is
// created, or must already name that account; the instance moves from
// pending to billing-bound (it must be the buyer's and active); the
// session's draft records it.
func (s *Bindings) BindBilling(ctx context.Context, b guance.BillingBind, step session.Step) error {
	name, value := expression.Name, expression.Value
	t := s.st.tx()
	t.check(s.st.t.Accounts, idKey(billingID(b.Account)), name(idAttr).AttributeExists(), because(guance.ErrNoSuchAccount))
	t.update(s.st.t.Accounts, idKey(cloudKey(b.UID)),
		expression.Or(name(idAttr).AttributeNotExists(), name("billingAccount").Equal(value(b.Account))),
		expression.Set(name("cloud"), value(guance.CloudAliyun)).
			Set(name("uid"), value(b.UID)).
			Set(name("billingAccount"), value(b.Account)).
			Set(name("linkedAt"), expression.IfNotExists(name("linkedAt"), value(b.At))).
			Add(name("instances"), value(set(b.Instance))).
			Add(name("seq"), value(1)),
		because(guance.ErrUIDLinked))
	t.update(s.st.t.Instances, instanceKeyOf(b.Instance),
		name(instanceKey).AttributeExists().
			And(name("aliUid").Equal(value(b.UID))).
			And(name("status").Equal(value(activation.StatusActive))).
			And(name("progress").Equal(value(activation.ProgressPending))),
		expression.Set(name("progress"), value(activation.ProgressBillingBound)).
			Set(name("billingAccount"), value(b.Account)).
			Set(name("updatedAt"), value(b.At)),
		func(ctx context.Context, old map[string]types.AttributeValue) error {
			return s.st.whyNotActivatable(ctx, b.Instance, b.UID, old)
		})
	t.draft(step, b.At)
	t.audit(b.Event())
	return t.run(ctx, "bind billing center account")
}

// errActivatedMeanwhile refuses a settlement written as the purchase's
// first when another one was first: it is written again as a later one.
var errActivatedMeanwhile = errors.New("storage: the purchase was activated meanwhile")

// asFirstOrNot runs a settlement's transaction (build) as the purchase's
// first when activates says so; when another settlement got there first,
// once more as a later one.
func asFirstOrNot(ctx context.Context, activates bool, build func(activates bool) *tx, what string) error {
	err := build(activates).run(ctx, what)
	if errors.Is(err, errActivatedMeanwhile) {
		err = build(false).run(ctx, what)
	}
	return err
}

// SettleWorkspace settles an existing workspace of the billing center
// account through the buyer's instance, in one transaction with the
// instance's activation and the link's check.
func (s *Bindings) SettleWorkspace(ctx context.Context, st guance.Settle) error {
	name, value := expression.Name, expression.Value
	settlement, err := attributevalue.Marshal(guance.ByInstance(st.UID, st.Instance))
	if err != nil {
		return err
	}
	return asFirstOrNot(ctx, st.Activates, func(activates bool) *tx {
		st.Activates = activates
		t := s.st.tx()
		t.update(s.st.t.Workspaces, idKey(st.WorkspaceID),
			name("billingAccount").Equal(value(st.Account)).And(name("settlement.type").Equal(value(guance.SettledByBillingCenter))),
			expression.Set(name("settlement"), value(settlement)),
			func(ctx context.Context, old map[string]types.AttributeValue) error {
				return s.whyNotSettable(ctx, st.WorkspaceID, st.Account, st.UID, st.Instance, old)
			})
		t.settleInstance(st.Account, st.UID, st.Instance, st.WorkspaceID, st.Site, st.At, activates)
		t.keepLink(st.Account, st.UID, st.Instance)
		t.audit(st.Events()...)
		return t
	}, "settle workspace")
}

// CreateWorkspace creates a workspace settled through the buyer's
// instance, owned by an existing Guance account (which must exist) or by
// one registered with it (username and email guards), in one transaction
// with the instance's activation, the link's check and the session's
// draft. The workspace's id comes from the draft, so the same form sent
// twice creates it once: the repeat finds it, settled through this
// purchase, and is done.
func (s *Bindings) CreateWorkspace(ctx context.Context, c guance.NewWorkspace, step session.Step, mail *outbox.Item) error {
	ws, err := marshal(c.Workspace)
	if err != nil {
		return fmt.Errorf("marshal workspace: %w", err)
	}
	return asFirstOrNot(ctx, c.Activates, func(activates bool) *tx {
		c.Activates = activates
		t := s.st.tx()
		t.put(s.st.t.Workspaces, ws, idAttr, func(ctx context.Context, _ map[string]types.AttributeValue) error {
			// The id is taken: by this very form, sent before, if the
			// workspace is settled through this purchase.
			got, ok, err := s.st.workspace(ctx, c.Workspace.ID)
			if err != nil {
				return err
			}
			if ok && got.Settlement == guance.ByInstance(c.UID, c.Instance) {
				return nil
			}
			return fmt.Errorf("create workspace: the generated id %s is taken", c.Workspace.ID)
		})
		t.settleInstance(c.Workspace.BillingAccount, c.UID, c.Instance, c.Workspace.ID, c.Workspace.Site, c.At, activates)
		t.keepLink(c.Workspace.BillingAccount, c.UID, c.Instance)
		t.draft(step, c.At)
		if c.NewAccount != nil {
			t.newAccount(*c.NewAccount)
			if mail != nil {
				t.mail(*mail)
			}
		} else {
			t.check(s.st.t.Accounts, idKey(guanceKey(c.Workspace.Owner)), expression.Name(idAttr).AttributeExists(), because(guance.ErrNoSuchAccount))
		}
		t.audit(c.Events()...)
		return t
	}, "create workspace")
}

// settleInstance is the instance's part of a workspace's settlement: it
// becomes (or stays) activated under the billing center account, with the
// workspace among those it settles. It must be the buyer's and active, and
// either bound to this account already, or pending for a UID linked to it
// (a later purchase of an activated buyer).
func (t *tx) settleInstance(account, uid, instance, workspaceID, site string, at time.Time, activates bool) {
	name, value := expression.Name, expression.Value
	// Bound to this account, and not activated longer ago than a session
	// may go on adding workspaces (whichever session asks).
	mine := name("billingAccount").Equal(value(account)).
		And(expression.Or(name("progress").Equal(value(activation.ProgressBillingBound)),
			name("progress").Equal(value(activation.ProgressActivated)).And(name("activatedAt").GreaterThanEqual(value(at.Add(-activation.AfterActivation).Unix())))))
	fresh := name("progress").Equal(value(activation.ProgressPending)).And(name("billingAccount").AttributeNotExists())
	cond := name(instanceKey).AttributeExists().
		And(name("aliUid").Equal(value(uid))).
		And(name("status").Equal(value(activation.StatusActive))).
		And(expression.Or(mine, fresh))
	t.settling(instance, cond, account, workspaceID, site, at, activates, func(ctx context.Context, old map[string]types.AttributeValue) error {
		return t.s.whyNotSettling(ctx, instance, uid, account, old)
	})
}

// settling is the instance's write when a workspace is settled through it,
// under cond: activated under account, its login site kept if it has one,
// the workspace on its list and metered from at, no longer a pending
// activation awaiting a check.
//
// The instance item names each workspace it settles, so it must stay
// bounded: the write itself refuses a workspace beyond
// MaxWorkspacesPerInstance (not a read before it, which concurrent binds
// would all pass). It counts them in settledCount rather than testing the
// list's size, which DynamoDB cannot take of a list not there yet in a way
// the embedded one also follows; every settling adds a workspace new to
// the list (the workspace's own write refuses a repeat, which is then done),
// and only a released instance's list shrinks.
//
// Written as the purchase's first (activates), it also requires that the
// purchase is not activated yet, so that exactly one settlement records
// the activation: refused with errActivatedMeanwhile otherwise.
func (t *tx) settling(instance string, cond expression.ConditionBuilder, account, workspaceID, site string, at time.Time, activates bool, why refusal) {
	name, value := expression.Name, expression.Value
	room := expression.Or(name("settledCount").AttributeNotExists(),
		name("settledCount").LessThan(value(guance.MaxWorkspacesPerInstance)))
	if activates {
		cond = cond.And(name("progress").NotEqual(value(activation.ProgressActivated)))
	}
	t.update(t.s.t.Instances, instanceKeyOf(instance), cond.And(room),
		expression.Set(name("progress"), value(activation.ProgressActivated)).
			Set(name("billingAccount"), value(account)).
			Set(name("loginSite"), expression.IfNotExists(name("loginSite"), value(site))).
			Set(name("activatedAt"), expression.IfNotExists(name("activatedAt"), value(at.Unix()))).
			Set(name("updatedAt"), value(at)).
			Add(name("workspaces"), value(set(workspaceID))).
			Add(name("settledCount"), value(1)).
			Remove(name("awaiting")).Remove(name("checkAt")).
			Set(name("metering"), value(activation.MeteringOn)).
			Set(name("meteredFrom"), expression.IfNotExists(name("meteredFrom"), value(epoch(at)))).
			Set(name("meteredUntil"), expression.IfNotExists(name("meteredUntil"), value(epoch(metering.Ceil(at))))).
			Add(name("meteredWorkspaces"), value(set(metering.FormatMember(workspaceID, at)))),
		func(ctx context.Context, old map[string]types.AttributeValue) error {
			inst, err := t.s.refusedInstance(ctx, instance, old)
			if err != nil {
				return fmt.Errorf("read why instance %s refused: %w", instance, err)
			}
			if inst.SettledCount >= guance.MaxWorkspacesPerInstance {
				return guance.ErrTooManyWorkspaces
			}
			if activates && inst.Progress == activation.ProgressActivated {
				return errActivatedMeanwhile
			}
			return why(ctx, old)
		})
}

// keepLink is the cloud link's part: it must still name the account, and
// now counts the instance among those bound through it.
func (t *tx) keepLink(account, uid, instance string) {
	name, value := expression.Name, expression.Value
	t.update(t.s.t.Accounts, idKey(cloudKey(uid)), name("billingAccount").Equal(value(account)),
		expression.Add(name("instances"), value(set(instance))).Add(name("seq"), value(1)),
		because(guance.ErrLinkChanged))
}

// whyNotSettable reads why a workspace refused its settlement: nil when
// it is settled through this very purchase (a retried bind that went
// through).
func (s *Bindings) whyNotSettable(ctx context.Context, id, account, uid, instance string, old map[string]types.AttributeValue) error {
	var ws guance.Workspace
	if len(old) == 0 {
		got, ok, err := s.st.workspace(ctx, id)
		if err != nil {
			return err
		}
		if !ok {
			return guance.ErrWorkspaceGone
		}
		ws = got
	} else if err := attributevalue.UnmarshalMap(old, &ws); err != nil {
		return fmt.Errorf("unmarshal workspace: %w", err)
	}
	switch {
	case ws.BillingAccount != account:
		return guance.ErrWorkspaceGone
	case ws.Settlement == guance.ByInstance(uid, instance):
		return nil
	}
	return guance.ErrWorkspaceSettled
}

// whyNotSettling reads why the instance refused to settle a workspace.
func (s *Store) whyNotSettling(ctx context.Context, id, uid, account string, old map[string]types.AttributeValue) error {
	inst, err := s.refusedInstance(ctx, id, old)
	if err != nil {
		return err
	}
	switch {
	case inst.AliUID != uid:
		return activation.ErrNotYours
	case inst.Status != activation.StatusActive:
		return activation.ErrNotLive
	case inst.BillingAccount != "" && inst.BillingAccount != account:
		return guance.ErrOtherBilling
	case inst.Progress == activation.ProgressActivated:
		return activation.ErrActivationOver
	}
	return activation.ErrNotPending
}
