// Package storage keeps the product's records in DynamoDB. Each method is
// the fewest round trips its step needs; uniqueness and idempotency come from
// conditional writes, never from a read followed by a write. Expressions are
// built with the SDK's expression builder throughout.
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

// DynamoDB is the part of the DynamoDB client the stores use.
type DynamoDB interface {
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
	TransactWriteItems(ctx context.Context, in *dynamodb.TransactWriteItemsInput, opts ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error)
}

// Attribute names the instances store owns beyond the fields of
// activation.Instance.
const (
	instanceKey = "instanceId"
	// orderSeq maps an order kind to its last order id padded to a fixed
	// width, so that a condition compares order ids as numbers while they
	// stay strings.
	orderSeq = "orderSeq"
)

// paymentTTL is how long an orderPay request id is remembered: far longer
// than the marketplace goes on retrying a message.
const paymentTTL = 30 * 24 * time.Hour

// Instances stores activation.Instance items, one per marketplace instance,
// keyed by instanceId. The same table holds the orderPay idempotency keys
// ("payment#<instance>#<requestId>"), which expire by TTL.
type Instances struct {
	db    DynamoDB
	table string
}

// NewInstances returns the store for the instances table.
func NewInstances(db DynamoDB, table string) *Instances {
	return &Instances{db: db, table: table}
}

func (s *Instances) key(id string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{instanceKey: str(id)}
}

func marshalInstance(inst activation.Instance) (map[string]types.AttributeValue, error) {
	return attributevalue.MarshalMapWithOptions(inst, func(o *attributevalue.EncoderOptions) { o.OmitEmptyTime = true })
}

func unmarshalInstance(item map[string]types.AttributeValue) (activation.Instance, error) {
	var inst activation.Instance
	err := attributevalue.UnmarshalMap(item, &inst)
	return inst, err
}

// Create records inst unless its id is taken, in one write. It is an
// UpdateItem rather than a PutItem because the refused write then returns
// the existing item (ReturnValuesOnConditionCheckFailure), so a repeated
// createInstance costs one round trip too.
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
	expr, err := expression.NewBuilder().
		WithUpdate(update).
		WithCondition(expression.AttributeNotExists(expression.Name(instanceKey))).
		Build()
	if err != nil {
		return activation.Instance{}, false, fmt.Errorf("build create of instance %s: %w", inst.ID, err)
	}
	_, err = s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                           aws.String(s.table),
		Key:                                 s.key(inst.ID),
		UpdateExpression:                    expr.Update(),
		ConditionExpression:                 expr.Condition(),
		ExpressionAttributeNames:            expr.Names(),
		ExpressionAttributeValues:           expr.Values(),
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	})
	var refused *types.ConditionalCheckFailedException
	switch {
	case err == nil:
		return inst, true, nil
	case errors.As(err, &refused):
		existing, err := unmarshalInstance(refused.Item)
		if err != nil {
			return activation.Instance{}, false, fmt.Errorf("unmarshal existing instance %s: %w", inst.ID, err)
		}
		return existing, false, nil
	default:
		return activation.Instance{}, false, fmt.Errorf("write instance %s: %w", inst.ID, err)
	}
}

// Get reads one instance with a strongly consistent read.
func (s *Instances) Get(ctx context.Context, id string) (activation.Instance, error) {
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:      aws.String(s.table),
		Key:            s.key(id),
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return activation.Instance{}, fmt.Errorf("read instance %s: %w", id, err)
	}
	if len(out.Item) == 0 {
		return activation.Instance{}, fmt.Errorf("read instance %s: %w", id, activation.ErrInstanceNotFound)
	}
	inst, err := unmarshalInstance(out.Item)
	if err != nil {
		return activation.Instance{}, fmt.Errorf("unmarshal instance %s: %w", id, err)
	}
	return inst, nil
}

// Apply makes change in one conditional UpdateItem. When the condition
// refuses the write, the item as it was comes back with the refusal and
// activation.Explain says why, so no second round trip is needed.
func (s *Instances) Apply(ctx context.Context, id string, change activation.Change) (activation.Outcome, error) {
	expr, err := changeExpression(change)
	if err != nil {
		return "", fmt.Errorf("build %s of instance %s: %w", change.Action, id, err)
	}
	_, err = s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                           aws.String(s.table),
		Key:                                 s.key(id),
		UpdateExpression:                    expr.Update(),
		ConditionExpression:                 expr.Condition(),
		ExpressionAttributeNames:            expr.Names(),
		ExpressionAttributeValues:           expr.Values(),
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	})
	var refused *types.ConditionalCheckFailedException
	switch {
	case err == nil && change.Dispute:
		return activation.Disputed, nil
	case err == nil:
		return activation.Applied, nil
	case errors.As(err, &refused):
		var old *activation.Instance
		if len(refused.Item) > 0 {
			inst, err := unmarshalInstance(refused.Item)
			if err != nil {
				return "", fmt.Errorf("unmarshal instance %s: %w", id, err)
			}
			old = &inst
		}
		return activation.Explain(old, change)
	default:
		return "", fmt.Errorf("update instance %s: %w", id, err)
	}
}

// changeExpression turns a change into its update and the condition under
// which it applies; activation.Explain is the reading of the same rules.
func changeExpression(c activation.Change) (expression.Expression, error) {
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
		return expression.NewBuilder().WithUpdate(update).WithCondition(cond).Build()
	}
	if c.Dispute {
		// The call is kept for the reconciliation, not applied.
		cond = cond.And(expression.Or(name("disputedAction").AttributeNotExists(), name("disputedAction").NotEqual(expression.Value(c.Action))))
		update = due(update.Set(name("disputedAction"), expression.Value(c.Action)).Set(name("disputedAt"), expression.Value(c.At)))
		return expression.NewBuilder().WithUpdate(update).WithCondition(cond).Build()
	}

	call, err := attributevalue.MarshalWithOptions(c.Call(), func(o *attributevalue.EncoderOptions) { o.OmitEmptyTime = true })
	if err != nil {
		return expression.Expression{}, err
	}
	update = update.Set(name("lastCalls."+string(c.Action)), expression.Value(call))
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
	case c.Guard != nil:
		cond = cond.And(expression.Or(name(c.Guard.After).AttributeNotExists(),
			name(c.Guard.After).LessThan(expression.Value(epoch(c.Guard.Since)))))
		if c.Guard.UnlessOrder != "" {
			cond = cond.And(name(orderSeq + "." + c.Guard.UnlessOrder).AttributeNotExists())
		}
	}
	if c.Digest != "" {
		// An upgrade: what it set, when, and how many there were, for the
		// upgrades without an order id that come after it.
		update = update.Set(name("upgradeDigest"), expression.Value(c.Digest)).
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
	return expression.NewBuilder().WithUpdate(update).WithCondition(cond).Build()
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
// instance must exist (its last orderPay is noted) and the request id must
// be new (its key item, which expires, is written).
func (s *Instances) RecordPayment(ctx context.Context, id, requestID string, call activation.Call) (activation.Outcome, error) {
	name := expression.Name
	callValue, err := attributevalue.Marshal(call)
	if err != nil {
		return "", err
	}
	noted, err := expression.NewBuilder().
		WithCondition(name(instanceKey).AttributeExists()).
		WithUpdate(expression.Set(name("lastCalls."+string(marketplace.ActionOrderPay)), expression.Value(callValue)).Set(name("updatedAt"), expression.Value(call.At))).
		Build()
	if err != nil {
		return "", err
	}
	once, err := expression.NewBuilder().WithCondition(name(instanceKey).AttributeNotExists()).Build()
	if err != nil {
		return "", err
	}
	err = transact(ctx, s.db, &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
		{Update: &types.Update{
			TableName: aws.String(s.table), Key: s.key(id),
			UpdateExpression: noted.Update(), ConditionExpression: noted.Condition(),
			ExpressionAttributeNames: noted.Names(), ExpressionAttributeValues: noted.Values(),
		}},
		{Put: &types.Put{
			TableName: aws.String(s.table),
			Item: map[string]types.AttributeValue{
				instanceKey: str("payment#" + id + "#" + requestID),
				"orderId":   str(call.OrderID),
				"at":        str(call.At.UTC().Format(time.RFC3339)),
				expiresAt:   epoch(call.At.Add(paymentTTL)),
			},
			ConditionExpression: once.Condition(), ExpressionAttributeNames: once.Names(),
		}},
	}})
	switch failed := canceledAt(err); {
	case err == nil:
		return activation.Applied, nil
	case failed == 0:
		return "", fmt.Errorf("orderPay of instance %s: %w", id, activation.ErrInstanceNotFound)
	case failed == 1:
		return activation.AlreadyApplied, nil
	}
	return "", fmt.Errorf("record orderPay of instance %s: %w", id, err)
}
