package storage

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/guance/aliyun-marketplace/shared/domain/activation"
	"github.com/guance/aliyun-marketplace/shared/domain/audit"
	"github.com/guance/aliyun-marketplace/shared/domain/guance"
	"github.com/guance/aliyun-marketplace/shared/domain/metering"
	"github.com/guance/aliyun-marketplace/shared/domain/outbox"
)

// Operator is the operator's tool's view of the records: what it reads to
// find and show a purchase, and its repairs. A repair is the product's
// own kind of conditional write, conditioned on the record being as the
// operator saw it (a product write landing meanwhile wins: the repair is
// refused with ErrNotAsSeen), with its events, which name the operator
// and their reason (audit.WithOperator on the context; a repair without
// them is refused).
type Operator struct{ st *Store }

// Operator is the operator's tool's view.
func (s *Store) Operator() *Operator { return &Operator{s} }

// Why a repair was refused.
var (
	// ErrNotAsSeen: the record changed since the operator read it (or is
	// not one the repair applies to): read it again.
	ErrNotAsSeen = errors.New("the record is not as it was read: show it again")
	// ErrNoOperator: a repair needs who makes it and why.
	ErrNoOperator = errors.New("a repair needs the operator and a reason")
	// ErrCodeGone: a verification code's mail cannot be sent again: its
	// code was dropped when it died (and it expired); the buyer asks for
	// a new one.
	ErrCodeGone = errors.New("a code's mail cannot be sent again: its code is gone; the buyer asks for a new one")
	// ErrPastDeadline: the window's deadline has passed: the marketplace
	// would refuse it; mark it instead.
	ErrPastDeadline = errors.New("the window is past its deadline: the marketplace would refuse it; mark it instead")
)

// NoPurchase is the trail partition of an operator's action that is no
// one purchase's (running a job).
const NoPurchase = "-"

func operator(ctx context.Context) error {
	if op, ok := audit.OperatorOf(ctx); !ok || op.Who == "" || op.Why == "" {
		return ErrNoOperator
	}
	return nil
}

// action is the operator's event of a repair: what (action) on which
// purchase, with its details; who and why are the context's operator's.
func action(ctx context.Context, instance, what string, detail map[string]string, at time.Time) audit.Event {
	ev := audit.New(audit.OperatorAction, instance, "", at).By(ctx)
	ev.Detail = map[string]string{"action": what}
	for k, v := range detail {
		ev.Detail[k] = v
	}
	return ev
}

// --- Reads ------------------------------------------------------------------

// Instance reads an instance (ok false: none).
func (o *Operator) Instance(ctx context.Context, id string) (activation.Instance, bool, error) {
	inst, err := o.st.instance(ctx, id)
	if errors.Is(err, activation.ErrInstanceNotFound) {
		return activation.Instance{}, false, nil
	}
	return inst, err == nil, err
}

// InstancesOf lists the instances of an Alibaba Cloud account (byAliUid)
// or bound to a billing center account (byBillingAccount), oldest first.
func (o *Operator) InstancesOf(ctx context.Context, index, key string) ([]string, error) {
	attr := map[string]string{InstancesByUID: "aliUid", InstancesByAccount: "billingAccount"}[index]
	if attr == "" {
		return nil, fmt.Errorf("no index %q", index)
	}
	expr, err := expression.NewBuilder().WithKeyCondition(expression.Key(attr).Equal(expression.Value(key))).Build()
	if err != nil {
		return nil, err
	}
	var ids []string
	err = o.st.query(ctx, &dynamodb.QueryInput{
		TableName: aws.String(o.st.t.Instances), IndexName: aws.String(index),
		KeyConditionExpression: expr.KeyCondition(), ExpressionAttributeNames: expr.Names(), ExpressionAttributeValues: expr.Values(),
	}, func(item map[string]types.AttributeValue) (bool, error) {
		ids = append(ids, stringOf(item[instanceKey]))
		return false, nil
	})
	if err != nil {
		return nil, fmt.Errorf("query %s: %w", index, err)
	}
	return ids, nil
}

// Workspace reads a workspace (ok false: none).
func (o *Operator) Workspace(ctx context.Context, id string) (guance.Workspace, bool, error) {
	return o.st.workspace(ctx, id)
}

// Mail reads an outbox item (ok false: none, or expired).
func (o *Operator) Mail(ctx context.Context, id string) (outbox.Item, bool, error) {
	item, err := o.st.get(ctx, o.st.t.Outbox, idKey(id))
	if err != nil || len(item) == 0 {
		return outbox.Item{}, false, err
	}
	var m outbox.Item
	if err := attributevalue.UnmarshalMap(item, &m); err != nil {
		return outbox.Item{}, false, fmt.Errorf("unmarshal outbox mail: %w", err)
	}
	return m, true, nil
}

// Windows lists an instance's decided metering windows, newest first (at
// most limit).
func (o *Operator) Windows(ctx context.Context, instance string, limit int) ([]metering.Push, error) {
	expr, err := expression.NewBuilder().WithKeyCondition(expression.Key(instanceKey).Equal(expression.Value(instance))).Build()
	if err != nil {
		return nil, err
	}
	out, err := o.st.db.Query(ctx, &dynamodb.QueryInput{
		TableName: aws.String(o.st.t.Metering), ScanIndexForward: aws.Bool(false), Limit: aws.Int32(int32(limit)),
		KeyConditionExpression: expr.KeyCondition(), ExpressionAttributeNames: expr.Names(), ExpressionAttributeValues: expr.Values(),
	})
	if err != nil {
		return nil, fmt.Errorf("query the windows of instance %s: %w", instance, err)
	}
	list := make([]metering.Push, 0, len(out.Items))
	for _, item := range out.Items {
		var p metering.Push
		if err := attributevalue.UnmarshalMap(item, &p); err != nil {
			return nil, fmt.Errorf("unmarshal push record: %w", err)
		}
		list = append(list, p)
	}
	return list, nil
}

// Window reads one window's push record (ok false: undecided).
func (o *Operator) Window(ctx context.Context, instance string, window time.Time) (metering.Push, bool, error) {
	return o.st.Pushes().Get(ctx, instance, window)
}

// --- Repairs ----------------------------------------------------------------

// RequeueMail puts a dead mail back to be sent: pending, due now, its
// attempts counted from zero, kept Keep more. The reconciliation's next
// run sends it (the outbox's stream reports new mails only). Refused for
// a code's mail (its code is gone) and for a mail that is not dead.
func (o *Operator) RequeueMail(ctx context.Context, id string, now time.Time) error {
	if err := operator(ctx); err != nil {
		return err
	}
	m, ok, err := o.Mail(ctx, id)
	switch {
	case err != nil:
		return err
	case !ok || m.State != outbox.StateDead:
		return fmt.Errorf("requeue mail %s: %w", id, ErrNotAsSeen)
	case m.Kind == outbox.KindCode:
		return ErrCodeGone
	}
	name, value := expression.Name, expression.Value
	t := o.st.tx()
	t.update(o.st.t.Outbox, idKey(id), name("state").Equal(value(outbox.StateDead)),
		expression.Set(name("state"), value(outbox.StatePending)).
			Set(name("due"), value(dueShard)).
			Set(name("dueAt"), value(now.Unix())).
			Set(name("attempts"), value(0)).
			Set(name(expiresAt), value(now.Add(outbox.Keep).Unix())).
			Remove(name("claim")).Remove(name("claimedUntil")).Remove(name("sentAt")),
		because(ErrNotAsSeen))
	if m.Instance != "" {
		t.audit(m.Event(audit.MailQueued, audit.ActorOutbox, now), action(ctx, m.Instance, "requeue-mail", map[string]string{"mailId": id}, now))
	} else {
		t.audit(action(ctx, NoPurchase, "requeue-mail", map[string]string{"mailId": id}, now))
	}
	return t.run(ctx, "requeue mail "+id)
}

// RequeueWindow puts a refused, uncertain or late window back to be sent,
// if its deadline has not passed: pending, in the unsent index. Refused
// when the window moved since it was read (seen).
func (o *Operator) RequeueWindow(ctx context.Context, seen metering.Push, now time.Time) error {
	if err := operator(ctx); err != nil {
		return err
	}
	switch seen.State {
	case metering.PushRefused, metering.PushUncertain, metering.PushLate:
	default:
		return fmt.Errorf("requeue a %s window: %w", seen.State, ErrNotAsSeen)
	}
	if deadline := time.Unix(seen.Window, 0).Add(metering.Window + metering.Deadline); !now.Before(deadline) {
		return ErrPastDeadline
	}
	return o.moveWindow(ctx, seen, metering.PushPending, audit.WindowRequeued, "requeue-window", now)
}

// MarkWindow records a window's fate after the operator checked it with
// the marketplace: pushed (it was billed) or written off (it will not
// be). From refused, uncertain or late, as it was read (seen).
func (o *Operator) MarkWindow(ctx context.Context, seen metering.Push, to metering.PushState, now time.Time) error {
	if err := operator(ctx); err != nil {
		return err
	}
	if to != metering.PushPushed && to != metering.PushWrittenOff {
		return fmt.Errorf("mark a window %s: only %s or %s", to, metering.PushPushed, metering.PushWrittenOff)
	}
	switch seen.State {
	case metering.PushRefused, metering.PushUncertain, metering.PushLate:
	default:
		return fmt.Errorf("mark a %s window: %w", seen.State, ErrNotAsSeen)
	}
	return o.moveWindow(ctx, seen, to, audit.WindowMarked, "mark-window", now)
}

func (o *Operator) moveWindow(ctx context.Context, seen metering.Push, to metering.PushState, kind audit.Kind, what string, now time.Time) error {
	name, value := expression.Name, expression.Value
	update := expression.Set(name("state"), value(to)).Set(name("updatedAt"), value(now))
	if to == metering.PushPending {
		update = update.Set(name("unsent"), value(metering.PushPending))
	}
	t := o.st.tx()
	t.update(o.st.t.Metering, pushKey(seen.InstanceID, seen.Window), name("state").Equal(value(seen.State)), update, because(ErrNotAsSeen))
	ev := audit.New(kind, seen.InstanceID, audit.ActorMetering, now)
	ev.Window, ev.Status = time.Unix(seen.Window, 0).UTC(), string(to)
	window := strconv.FormatInt(seen.Window, 10)
	t.audit(ev, action(ctx, seen.InstanceID, what, map[string]string{"window": time.Unix(seen.Window, 0).UTC().Format(time.RFC3339), "from": string(seen.State), "to": string(to)}, now))
	return t.run(ctx, fmt.Sprintf("%s %s of instance %s", what, window, seen.InstanceID))
}

// ReleaseWorkspace puts a workspace stuck on a released instance's
// settlement back on billing center settlement (what the release's
// effects would have done), and off the instance's list: conditioned on
// the workspace still settled through it and the instance released.
func (o *Operator) ReleaseWorkspace(ctx context.Context, ws guance.Workspace, inst activation.Instance, now time.Time) error {
	if err := operator(ctx); err != nil {
		return err
	}
	if ws.Settlement.Instance != inst.ID || inst.Status != activation.StatusReleased {
		return fmt.Errorf("release workspace %s: %w", ws.ID, ErrNotAsSeen)
	}
	name, value := expression.Name, expression.Value
	t := o.st.tx()
	t.backToBillingCenter(ws.ID, inst.ID, because(ErrNotAsSeen))
	t.update(o.st.t.Instances, instanceKeyOf(inst.ID), name("status").Equal(value(activation.StatusReleased)),
		expression.Delete(name("workspaces"), value(set(ws.ID))).Set(name("updatedAt"), value(now)),
		because(ErrNotAsSeen))
	t.audit(inst.WorkspaceReleasedEvent(ws.ID, now), action(ctx, inst.ID, "release-workspace", map[string]string{"workspaceId": ws.ID}, now))
	return t.run(ctx, "release workspace "+ws.ID)
}

// Record writes the operator's event of an action that changes no record
// itself (a job run, events published again, the marketplace asked):
// instance is NoPurchase for none.
func (o *Operator) Record(ctx context.Context, instance, what string, detail map[string]string, now time.Time) error {
	if err := operator(ctx); err != nil {
		return err
	}
	t := o.st.tx()
	t.audit(action(ctx, instance, what, detail, now))
	return t.run(ctx, "record "+what)
}
