package storage

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// tx builds one TransactWriteItems in which every item names what its
// refusal means: a failed condition cancels them all, and the one that
// refused explains it (instead of a position in a list). The first error
// met while building is kept, and returned by run.
type tx struct {
	s     *Store
	items []types.TransactWriteItem
	why   []refusal
	err   error
	// events are the positions of the audit events among items.
	events []int
}

// refusal turns an item's failed condition into the answer, given the
// item as it was (old: empty when the server did not return it).
type refusal func(ctx context.Context, old map[string]types.AttributeValue) error

// because is a refusal that always means err.
func because(err error) refusal {
	return func(context.Context, map[string]types.AttributeValue) error { return err }
}

func (s *Store) tx() *tx { return &tx{s: s} }

func (t *tx) add(item types.TransactWriteItem, why refusal) {
	t.items = append(t.items, item)
	t.why = append(t.why, why)
}

// fail keeps the first building error.
func (t *tx) fail(err error) {
	if t.err == nil && err != nil {
		t.err = err
	}
}

// put creates item, refused (why) if its key is taken.
func (t *tx) put(table string, item map[string]types.AttributeValue, keyAttr string, why refusal) {
	fresh, err := expression.NewBuilder().WithCondition(expression.AttributeNotExists(expression.Name(keyAttr))).Build()
	t.fail(err)
	t.add(types.TransactWriteItem{Put: &types.Put{
		TableName: aws.String(table), Item: item,
		ConditionExpression: fresh.Condition(), ExpressionAttributeNames: fresh.Names(),
	}}, why)
}

// putAlways writes item whatever is there (it cannot be refused).
func (t *tx) putAlways(table string, item map[string]types.AttributeValue) {
	t.add(types.TransactWriteItem{Put: &types.Put{TableName: aws.String(table), Item: item}}, nil)
}

// check requires cond of table's key, refused (why) if it does not hold.
func (t *tx) check(table string, key map[string]types.AttributeValue, cond expression.ConditionBuilder, why refusal) {
	expr, err := expression.NewBuilder().WithCondition(cond).Build()
	t.fail(err)
	t.add(types.TransactWriteItem{ConditionCheck: &types.ConditionCheck{
		TableName: aws.String(table), Key: key,
		ConditionExpression: expr.Condition(), ExpressionAttributeNames: expr.Names(), ExpressionAttributeValues: expr.Values(),
	}}, why)
}

// update applies upd to table's key under cond, refused (why, given the
// item as it was) if cond fails.
func (t *tx) update(table string, key map[string]types.AttributeValue, cond expression.ConditionBuilder, upd expression.UpdateBuilder, why refusal) {
	expr, err := expression.NewBuilder().WithCondition(cond).WithUpdate(upd).Build()
	t.fail(err)
	t.add(types.TransactWriteItem{Update: &types.Update{
		TableName: aws.String(table), Key: key,
		UpdateExpression: expr.Update(), ConditionExpression: expr.Condition(),
		ExpressionAttributeNames: expr.Names(), ExpressionAttributeValues: expr.Values(),
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	}}, why)
}

// upsert applies upd to table's key, whether or not the item exists (it
// cannot be refused).
func (t *tx) upsert(table string, key map[string]types.AttributeValue, upd expression.UpdateBuilder) {
	expr, err := expression.NewBuilder().WithUpdate(upd).Build()
	t.fail(err)
	t.add(types.TransactWriteItem{Update: &types.Update{
		TableName: aws.String(table), Key: key, UpdateExpression: expr.Update(),
		ExpressionAttributeNames: expr.Names(), ExpressionAttributeValues: expr.Values(),
	}}, nil)
}

// remove deletes table's key under cond, refused (why) if cond fails.
func (t *tx) remove(table string, key map[string]types.AttributeValue, cond *expression.ConditionBuilder, why refusal) {
	del := &types.Delete{TableName: aws.String(table), Key: key}
	if cond != nil {
		expr, err := expression.NewBuilder().WithCondition(*cond).Build()
		t.fail(err)
		del.ConditionExpression, del.ExpressionAttributeNames, del.ExpressionAttributeValues = expr.Condition(), expr.Names(), expr.Values()
	}
	t.add(types.TransactWriteItem{Delete: del}, why)
}

// run writes the transaction. A failed condition is answered by its
// item's refusal; any other failure is wrapped with what (the step's
// name).
func (t *tx) run(ctx context.Context, what string) error {
	t.attribute(ctx)
	if t.err != nil {
		return fmt.Errorf("%s: %w", what, t.err)
	}
	if len(t.items) == 0 {
		return nil
	}
	err := t.s.transact(ctx, t.items)
	if err == nil {
		return nil
	}
	if i := canceledAt(err); i >= 0 && t.why[i] != nil {
		return t.why[i](ctx, reasonItem(err, i))
	}
	return fmt.Errorf("%s: %w", what, err)
}
