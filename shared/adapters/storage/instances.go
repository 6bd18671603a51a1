package storage

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/guance/aliyun-marketplace/shared/domain/activation"
	"github.com/guance/aliyun-marketplace/shared/domain/marketplace"
)

// The instances table: one item per marketplace instance, keyed by
// instanceId (activation.Instance), beside the orderPay idempotency keys
// ("payment#<instance>#<key>", which expire) and the runs' leases
// ("lease#<name>").

// Attribute names the instances table holds beyond the fields of
// activation.Instance.
const (
	instanceKey = "instanceId"
	// orderSeq maps an order kind to its last order id padded to a fixed
	// width, so that a condition compares order ids as numbers while they
	// stay strings.
	orderSeq = "orderSeq"
)

// The instances table's indexes (see template.yaml).
const (
	PendingActivationsIndex = "pendingActivations"
	EffectsDueIndex         = "effectsDue"
	LiveAuditIndex          = "liveAudit"
	MeteringDueIndex        = "meteringDue"
	InstancesByUID          = "byAliUid"
	InstancesByAccount      = "byBillingAccount"
)

// paymentTTL is how long an orderPay request id is remembered: far longer
// than the marketplace goes on retrying a message.
const paymentTTL = 30 * 24 * time.Hour

func instanceKeyOf(id string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{instanceKey: str(id)}
}

func marshalInstance(inst activation.Instance) (map[string]types.AttributeValue, error) {
	return marshal(inst)
}

func unmarshalInstance(item map[string]types.AttributeValue) (activation.Instance, error) {
	var inst activation.Instance
	err := attributevalue.UnmarshalMap(item, &inst)
	return inst, err
}

// instance reads one instance with a strongly consistent read.
func (s *Store) instance(ctx context.Context, id string) (activation.Instance, error) {
	item, err := s.get(ctx, s.t.Instances, instanceKeyOf(id))
	if err != nil {
		return activation.Instance{}, fmt.Errorf("read instance %s: %w", id, err)
	}
	if len(item) == 0 {
		return activation.Instance{}, fmt.Errorf("read instance %s: %w", id, activation.ErrInstanceNotFound)
	}
	inst, err := unmarshalInstance(item)
	if err != nil {
		return activation.Instance{}, fmt.Errorf("unmarshal instance %s: %w", id, err)
	}
	return inst, nil
}

// refusedInstance is the instance as it was when it refused a write: the
// refusal's old item when DynamoDB returned it, otherwise a consistent
// read (the refusal path only).
func (s *Store) refusedInstance(ctx context.Context, id string, old map[string]types.AttributeValue) (activation.Instance, error) {
	if len(old) == 0 {
		return s.instance(ctx, id)
	}
	inst, err := unmarshalInstance(old)
	if err != nil {
		return activation.Instance{}, fmt.Errorf("unmarshal instance %s: %w", id, err)
	}
	return inst, nil
}

// otherLiveInstances reports whether the instance's UID has another
// instance that is not released (the byAliUid index; a UID has few).
func (s *Store) otherLiveInstances(ctx context.Context, inst activation.Instance) (bool, error) {
	expr, err := expression.NewBuilder().WithKeyCondition(expression.Key("aliUid").Equal(expression.Value(inst.AliUID))).Build()
	if err != nil {
		return false, err
	}
	found := false
	err = s.query(ctx, &dynamodb.QueryInput{
		TableName: aws.String(s.t.Instances), IndexName: aws.String(InstancesByUID),
		KeyConditionExpression: expr.KeyCondition(), ExpressionAttributeNames: expr.Names(), ExpressionAttributeValues: expr.Values(),
	}, func(item map[string]types.AttributeValue) (bool, error) {
		found = stringOf(item[instanceKey]) != inst.ID && stringOf(item["status"]) != string(activation.StatusReleased)
		return found, nil
	})
	if err != nil {
		return false, fmt.Errorf("query the instances of a UID: %w", err)
	}
	return found, nil
}

// Instances stores activation.Instance items for the SPI and the pages.
type Instances struct{ st *Store }

// Create records inst unless its id is taken, with its creation's event,
// in one transaction. The instance's part is an update rather than a put
// because the refused write then returns the existing item
// (ReturnValuesOnConditionCheckFailure), so a repeated createInstance
// costs one round trip too.
func (s *Instances) Create(ctx context.Context, inst activation.Instance) (activation.Instance, bool, error) {
	item, err := marshalInstance(inst)
	if err != nil {
		return activation.Instance{}, false, fmt.Errorf("marshal instance %s: %w", inst.ID, err)
	}
	delete(item, instanceKey)
	seqs := map[string]types.AttributeValue{}
	for kind, id := range inst.Orders {
		seqs[kind] = str(activation.OrderSortKey(id))
	}
	item[orderSeq] = &types.AttributeValueMemberM{Value: seqs}

	names := make([]string, 0, len(item))
	for name := range item {
		names = append(names, name)
	}
	sort.Strings(names) // a stable expression reads better in logs and tests
	var update expression.UpdateBuilder
	for _, name := range names {
		update = update.Set(expression.Name(name), expression.Value(item[name]))
	}
	var existing activation.Instance
	t := s.st.tx()
	t.update(s.st.t.Instances, instanceKeyOf(inst.ID), expression.AttributeNotExists(expression.Name(instanceKey)), update,
		func(ctx context.Context, old map[string]types.AttributeValue) error {
			got, err := s.st.refusedInstance(ctx, inst.ID, old)
			if err != nil {
				return err
			}
			existing = got
			return errAlreadyApplied
		})
	t.audit(inst.CreatedEvent())
	switch err := t.run(ctx, "create instance "+inst.ID); {
	case errors.Is(err, errAlreadyApplied):
		return existing, false, nil
	case err != nil:
		return activation.Instance{}, false, err
	}
	return inst, true, nil
}

// Get reads one instance with a strongly consistent read.
func (s *Instances) Get(ctx context.Context, id string) (activation.Instance, error) {
	return s.st.instance(ctx, id)
}

// Apply makes change in one conditional UpdateItem. When the condition
// refuses the write, the item as it was comes back with the refusal and
// activation.Explain says why, so no second round trip is needed.
//
// The change's event is written in the same transaction; a call that came
// after what it would change (Superseded) is recorded on its own, once.
func (s *Instances) Apply(ctx context.Context, id string, change activation.Change) (activation.Outcome, error) {
	cond, update := changeExpression(change)
	var refusedAs map[string]types.AttributeValue
	t := s.st.tx()
	t.update(s.st.t.Instances, instanceKeyOf(id), cond, update, func(_ context.Context, old map[string]types.AttributeValue) error {
		refusedAs = old
		return errAlreadyApplied
	})
	t.audit(change.Event(id))
	switch err := t.run(ctx, fmt.Sprintf("%s of instance %s", change.Action, id)); {
	case err == nil && change.Dispute:
		return activation.Disputed, nil
	case err == nil:
		return activation.Applied, nil
	case !errors.Is(err, errAlreadyApplied):
		return "", err
	}
	var old *activation.Instance
	if len(refusedAs) > 0 {
		inst, err := unmarshalInstance(refusedAs)
		if err != nil {
			return "", fmt.Errorf("unmarshal instance %s: %w", id, err)
		}
		old = &inst
	}
	outcome, err := activation.Explain(old, change)
	if err == nil && outcome == activation.Superseded {
		err = s.Superseded(ctx, id, change)
	}
	return outcome, err
}

// Superseded records a lifecycle call that came after what it would
// change, once per call.
func (s *Instances) Superseded(ctx context.Context, id string, change activation.Change) error {
	return s.st.note(ctx, change.SupersededEvent(id))
}

// changeExpression turns a change into the condition under which it
// applies and its update; activation.Explain is the reading of the same
// rules.
func changeExpression(c activation.Change) (expression.ConditionBuilder, expression.UpdateBuilder) {
	name := expression.Name
	cond := name(instanceKey).AttributeExists().And(statusIn(c.From))
	update := expression.Set(name("updatedAt"), expression.Value(c.At))

	// A move, or a dispute, is due to be followed (see activation.Effects).
	due := func(u expression.UpdateBuilder) expression.UpdateBuilder {
		return u.Set(name("effects"), expression.Value(activation.EffectsDue)).
			Set(name("effectsAt"), expression.Value(epoch(c.At))).
			Add(name("effectsSeq"), expression.Value(1))
	}
	if c.ClearDispute {
		cond = cond.And(name("disputedAction").Equal(expression.Value(c.Action)))
		update = update.Set(name("disputedAction"), expression.Value(""))
		return cond, update
	}
	if c.Dispute {
		// The call is kept for the reconciliation, not applied.
		cond = cond.And(expression.Or(name("disputedAction").AttributeNotExists(), name("disputedAction").NotEqual(expression.Value(c.Action))))
		update = due(update.Set(name("disputedAction"), expression.Value(c.Action)).Set(name("disputedAt"), expression.Value(c.At)))
		return cond, update
	}

	update = update.Set(name("lastCalls."+string(c.Action)), expression.Value(c.Call()))
	if c.To != activation.StatusReleased {
		// An instance recorded before the comparison with the marketplace
		// existed joins it with its next call.
		update = update.Set(name("audit"), expression.IfNotExists(name("audit"), expression.Value(activation.AuditLive))).
			Set(name("auditAt"), expression.IfNotExists(name("auditAt"), expression.Value(epoch(c.At.Add(activation.DefaultAuditEvery)))))
	}
	if c.To != "" {
		// An authoritative move settles any dispute. (Cleared by an empty
		// value rather than REMOVE: the local DynamoDB ignores REMOVE of a
		// top-level attribute, and this must behave the same there.)
		update = update.Set(name("status"), expression.Value(c.To)).Set(name("disputedAction"), expression.Value(""))
		update = due(update)
		switch c.To {
		case activation.StatusReleased:
			// A released instance is no longer a pending activation; its
			// usage is billed up to now.
			update = update.Remove(name("awaiting")).Remove(name("checkAt")).
				Remove(name("audit")).Remove(name("auditAt")).
				Set(name("releasedAt"), expression.Value(epoch(c.At)))
		case activation.StatusFrozen:
			update = update.Set(name("frozenAt"), expression.Value(epoch(c.At))).Add(name("freezes"), expression.Value(1))
		case activation.StatusActive:
			update = update.Set(name("restoredAt"), expression.Value(epoch(c.At))).Add(name("restores"), expression.Value(1))
		}
	}
	switch {
	case c.Guard != nil && c.Guard.Settled && c.Guard.Seen == 0:
		cond = cond.And(name(c.Guard.Counter()).AttributeNotExists())
	case c.Guard != nil && c.Guard.Settled:
		cond = cond.And(name(c.Guard.Counter()).Equal(expression.Value(c.Guard.Seen)))
	case c.Guard != nil && c.Guard.When != "":
		cond = cond.And(name("status").NotEqual(expression.Value(c.Guard.When)))
	}
	if c.Digest != "" {
		// An upgrade: what it set, when, and how many there were, for the
		// upgrades without an order id that come after it.
		none := expression.Value("")
		update = update.
			Set(name("upgradeDigest3"), expression.IfNotExists(name("upgradeDigest2"), none)).
			Set(name("upgradeDigest2"), expression.IfNotExists(name("upgradeDigest1"), none)).
			Set(name("upgradeDigest1"), expression.IfNotExists(name("upgradeDigest"), none)).
			Set(name("upgradeDigest"), expression.Value(c.Digest)).
			Set(name("upgradedAt"), expression.Value(epoch(c.At))).
			Add(name("upgrades"), expression.Value(1))
		if c.OrderID == "" {
			// Without an order id, only the digest tells a repeat.
			cond = cond.And(expression.Or(name("upgradeDigest").AttributeNotExists(), name("upgradeDigest").NotEqual(expression.Value(c.Digest))))
		}
	}
	if !c.ExpiredOn.IsZero() {
		update = update.Set(name("expiredOn"), expression.Value(c.ExpiredOn))
	}
	if c.SKU != "" {
		update = update.Set(name("skuId"), expression.Value(c.SKU))
	}
	if c.BillableItems != nil {
		update = update.Set(name("billableItems"), expression.Value(c.BillableItems))
	}
	if c.OrderID != "" {
		seq := activation.OrderSortKey(c.OrderID)
		path := orderSeq + "." + c.OrderKind
		cond = cond.And(expression.Or(name(path).AttributeNotExists(), name(path).LessThan(expression.Value(seq))))
		update = update.
			Set(name("orders."+c.OrderKind), expression.Value(c.OrderID)).
			Set(name(path), expression.Value(seq))
	}
	if c.OrderID == "" && !c.ExpiredOn.IsZero() {
		// Nothing else makes a repeat a no-op: require that it changes the expiry.
		cond = cond.And(name("expiredOn").NotEqual(expression.Value(c.ExpiredOn)))
	}
	return cond, update
}

func statusIn(statuses []activation.Status) expression.ConditionBuilder {
	conds := make([]expression.ConditionBuilder, len(statuses))
	for i, s := range statuses {
		conds[i] = expression.Name("status").Equal(expression.Value(s))
	}
	if len(conds) == 1 {
		return conds[0]
	}
	return expression.Or(conds[0], conds[1], conds[2:]...)
}

// RecordPayment records an orderPay message in one transaction: the
// instance must exist (its last orderPay is noted) and the key (the
// message's requestId, or its order for a failed notification) must be
// new (its item, which expires, is written).
func (s *Instances) RecordPayment(ctx context.Context, id, key string, call activation.Call) (activation.Outcome, error) {
	name := expression.Name
	callValue, err := attributevalue.Marshal(call)
	if err != nil {
		return "", err
	}
	t := s.st.tx()
	t.update(s.st.t.Instances, instanceKeyOf(id), name(instanceKey).AttributeExists(),
		expression.Set(name("lastCalls."+string(marketplace.ActionOrderPay)), expression.Value(callValue)).Set(name("updatedAt"), expression.Value(call.At)),
		because(fmt.Errorf("orderPay of instance %s: %w", id, activation.ErrInstanceNotFound)))
	t.put(s.st.t.Instances, map[string]types.AttributeValue{
		instanceKey: str("payment#" + id + "#" + key),
		"orderId":   str(call.OrderID),
		"at":        str(call.At.UTC().Format(time.RFC3339)),
		expiresAt:   epoch(call.At.Add(paymentTTL)),
	}, instanceKey, because(errAlreadyApplied))
	t.audit(activation.PaidEvent(id, call))
	switch err := t.run(ctx, "record orderPay of instance "+id); {
	case err == nil:
		return activation.Applied, nil
	case errors.Is(err, errAlreadyApplied):
		return activation.AlreadyApplied, nil
	default:
		return "", err
	}
}
