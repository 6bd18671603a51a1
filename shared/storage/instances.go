// Package storage keeps the product's records in DynamoDB. Each method is
// the fewest round trips its step needs; uniqueness and idempotency come from
// conditional writes, never from a read followed by a write.
package storage

import (
	"context"
	"errors"
	"fmt"
	"sort"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/guance/aliyun-marketplace/shared/activation"
)

// DynamoDB is the part of the DynamoDB client the stores use.
type DynamoDB interface {
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
}

// Attribute names the store owns beyond the fields of activation.Instance.
const (
	instanceKey = "instanceId"
	// lastOrderSeq is the last order id padded to a fixed width, so that a
	// condition can compare order ids as numbers while they stay strings.
	lastOrderSeq = "lastOrderSeq"
)

// Instances stores activation.Instance items, one per marketplace instance,
// keyed by instanceId.
type Instances struct {
	db    DynamoDB
	table string
}

// NewInstances returns the store for the instances table.
func NewInstances(db DynamoDB, table string) *Instances {
	return &Instances{db: db, table: table}
}

func (s *Instances) key(id string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{instanceKey: &types.AttributeValueMemberS{Value: id}}
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
	item[lastOrderSeq] = &types.AttributeValueMemberS{Value: activation.OrderSortKey(inst.LastOrderID)}

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
	entry, err := attributevalue.MarshalWithOptions([]activation.HistoryEntry{c.Entry(c.To)}, func(o *attributevalue.EncoderOptions) { o.OmitEmptyTime = true })
	if err != nil {
		return expression.Expression{}, err
	}
	update := expression.
		Set(name("updatedAt"), expression.Value(c.At)).
		Set(name("history"), expression.ListAppend(name("history"), expression.Value(entry)))

	cond := name(instanceKey).AttributeExists().And(statusIn(c.From))
	if c.To != "" {
		update = update.Set(name("status"), expression.Value(c.To))
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
		cond = cond.
			And(name("appliedOrders." + c.OrderID).AttributeNotExists()).
			And(expression.Or(name(lastOrderSeq).AttributeNotExists(), name(lastOrderSeq).LessThan(expression.Value(seq))))
		update = update.
			Set(name("lastOrderId"), expression.Value(c.OrderID)).
			Set(name(lastOrderSeq), expression.Value(seq)).
			Set(name("applied."+activation.OrderKey(c.OrderID)), expression.Value(c.At))
	}
	if c.RequestID != "" {
		cond = cond.And(name("applied." + activation.RequestKey(c.RequestID)).AttributeNotExists())
		update = update.Set(name("applied."+activation.RequestKey(c.RequestID)), expression.Value(c.At))
	}
	if c.OrderID == "" && c.RequestID == "" && !c.ExpiredOn.IsZero() {
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
