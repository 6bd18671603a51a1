package storage

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/guance/aliyun-marketplace/shared/domain/activation"
	"github.com/guance/aliyun-marketplace/shared/domain/metering"
)

// Indexes of metering (see template.yaml).
const (
	MeteringDueIndex = "meteringDue"
	UnsentIndex      = "unsent"
)

// ErrUsageExists refuses a second usage record of a workspace, item and
// window.
var ErrUsageExists = errors.New("usage of this workspace, item and window is recorded already")

// Usage is the usage table: the platform's hourly usage per workspace and
// item, one item per (workspace, window, usage item) under the key
// id = "<workspaceId>#<window start, 10 digits>#<item>": the platform's
// PutItem is conditioned on the key being new, and the metering reads the
// records it needs by key (BatchGetItem), never by scanning.
type Usage struct {
	db    RecordsDB
	table string
}

// NewUsage returns the usage table's store.
func NewUsage(db RecordsDB, table string) *Usage { return &Usage{db: db, table: table} }

// UsageID is a usage record's key.
func UsageID(workspaceID string, windowStart int64, item string) string {
	return fmt.Sprintf("%s#%010d#%s", workspaceID, windowStart, item)
}

// Put records one usage record, once (the platform's own write is the
// same PutItem with the same condition).
func (s *Usage) Put(ctx context.Context, u metering.Usage) error {
	item, err := attributevalue.MarshalMap(u)
	if err != nil {
		return err
	}
	item[idAttr] = str(UsageID(u.WorkspaceID, u.WindowStart, u.Item))
	_, err = s.db.PutItem(ctx, &dynamodb.PutItemInput{
		TableName: aws.String(s.table), Item: item,
		ConditionExpression: aws.String("attribute_not_exists(id)"),
	})
	var refused *types.ConditionalCheckFailedException
	if errors.As(err, &refused) {
		return ErrUsageExists
	}
	if err != nil {
		return fmt.Errorf("put usage: %w", err)
	}
	return nil
}

// Get reads the usage records of these workspaces, windows and items
// (those that exist), 100 keys a batch. The workspace, window and item
// come from the key asked for, never from the item's own attributes; an
// item whose amount is unreadable or out of range is left out and counted
// in bad (one corrupt record must not hold up the others).
func (s *Usage) Get(ctx context.Context, workspaces []string, windows []time.Time, items []string) (list []metering.Usage, bad int, err error) {
	type want struct {
		ws, item string
		window   int64
	}
	asked := map[string]want{}
	var keys []map[string]types.AttributeValue
	for _, ws := range workspaces {
		for _, w := range windows {
			for _, item := range items {
				id := UsageID(ws, w.Unix(), item)
				asked[id] = want{ws: ws, item: item, window: w.Unix()}
				keys = append(keys, idKey(id))
			}
		}
	}
	for len(keys) > 0 {
		n := min(len(keys), 100)
		batch := keys[:n]
		keys = keys[n:]
		found, err := batchGet(ctx, s.db, map[string]types.KeysAndAttributes{s.table: {Keys: batch}})
		if err != nil {
			return nil, 0, fmt.Errorf("read usage: %w", err)
		}
		for _, item := range found[s.table] {
			w, ok := asked[stringOf(item[idAttr])]
			var amount int64
			if !ok || attributevalue.Unmarshal(item["amount"], &amount) != nil || amount < 0 || amount > metering.MaxAmount {
				bad++
				continue
			}
			list = append(list, metering.Usage{WorkspaceID: w.ws, Item: w.item, WindowStart: w.window, Amount: amount})
		}
	}
	return list, bad, nil
}

// Pushes is the metering table: the push records.
type Pushes struct {
	db    RecordsDB
	table string
}

// NewPushes returns the metering table's store.
func NewPushes(db RecordsDB, table string) *Pushes { return &Pushes{db: db, table: table} }

func pushKey(instance string, window int64) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{instanceKey: str(instance), "window": num(window)}
}

// Create writes a window's push record unless one exists: the decision
// about a window is taken once. created is false when it existed.
func (s *Pushes) Create(ctx context.Context, p metering.Push) (bool, error) {
	switch p.State {
	case metering.PushPending:
		p.Unsent = metering.PushPending
	case metering.PushEmpty:
		// Looked at again until its deadline: usage written late
		// still gets billed.
		p.Unsent = metering.PushEmpty
	}
	item, err := attributevalue.MarshalMap(p)
	if err != nil {
		return false, err
	}
	_, err = s.db.PutItem(ctx, &dynamodb.PutItemInput{
		TableName: aws.String(s.table), Item: item,
		ConditionExpression: aws.String("attribute_not_exists(instanceId)"),
	})
	var refused *types.ConditionalCheckFailedException
	switch {
	case errors.As(err, &refused):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("create push record: %w", err)
	}
	return true, nil
}

// Get reads the push record of an instance's window, consistently; ok is
// false while the window is undecided.
func (s *Pushes) Get(ctx context.Context, instance string, window time.Time) (p metering.Push, ok bool, err error) {
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(s.table), Key: pushKey(instance, window.Unix()), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return metering.Push{}, false, fmt.Errorf("read push record: %w", err)
	}
	if len(out.Item) == 0 {
		return metering.Push{}, false, nil
	}
	if err := attributevalue.UnmarshalMap(out.Item, &p); err != nil {
		return metering.Push{}, false, fmt.Errorf("unmarshal push record: %w", err)
	}
	return p, true, nil
}

// Unsent lists the records in a state of the unsent index (pending or
// sending), oldest window first.
func (s *Pushes) Unsent(ctx context.Context, state metering.PushState) ([]metering.Push, error) {
	expr, err := expression.NewBuilder().WithKeyCondition(expression.Key("unsent").Equal(expression.Value(state))).Build()
	if err != nil {
		return nil, err
	}
	in := &dynamodb.QueryInput{TableName: aws.String(s.table), IndexName: aws.String(UnsentIndex),
		KeyConditionExpression: expr.KeyCondition(), ExpressionAttributeNames: expr.Names(), ExpressionAttributeValues: expr.Values()}
	var list []metering.Push
	for {
		out, err := s.db.Query(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("query unsent pushes: %w", err)
		}
		for _, item := range out.Items {
			var p metering.Push
			if err := attributevalue.UnmarshalMap(item, &p); err != nil {
				return nil, fmt.Errorf("unmarshal push record: %w", err)
			}
			list = append(list, p)
		}
		if len(out.LastEvaluatedKey) == 0 {
			return list, nil
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
}

// Move moves records from one state to another in one transaction (at
// most 100), each conditioned on being in from: a call's records go to
// sending together before it, and to their end together after it. A
// refused move changes none (ok false).
func (s *Pushes) Move(ctx context.Context, list []metering.Push, from, to metering.PushState, reason string, at time.Time) (bool, error) {
	var items []types.TransactWriteItem
	for _, p := range list {
		update := expression.Set(expression.Name("state"), expression.Value(to)).Set(expression.Name("updatedAt"), expression.Value(at))
		switch to {
		case metering.PushPending, metering.PushSending:
			update = update.Set(expression.Name("unsent"), expression.Value(to))
		default:
			update = update.Remove(expression.Name("unsent"))
		}
		if reason != "" {
			update = update.Set(expression.Name("reason"), expression.Value(reason))
		}
		expr, err := expression.NewBuilder().WithCondition(expression.Name("state").Equal(expression.Value(from))).WithUpdate(update).Build()
		if err != nil {
			return false, err
		}
		items = append(items, types.TransactWriteItem{Update: &types.Update{
			TableName: aws.String(s.table), Key: pushKey(p.InstanceID, p.Window),
			UpdateExpression: expr.Update(), ConditionExpression: expr.Condition(),
			ExpressionAttributeNames: expr.Names(), ExpressionAttributeValues: expr.Values(),
		}})
	}
	if len(items) == 0 {
		return true, nil
	}
	err := transact(ctx, s.db, &dynamodb.TransactWriteItemsInput{TransactItems: items})
	if canceledAt(err) >= 0 {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("move push records %s to %s: %w", from, to, err)
	}
	return true, nil
}

// Fill gives an empty window the record of usage written late: it becomes
// pending (if it is still empty).
func (s *Pushes) Fill(ctx context.Context, p metering.Push, record string, at time.Time) (bool, error) {
	expr, err := expression.NewBuilder().
		WithCondition(expression.Name("state").Equal(expression.Value(metering.PushEmpty))).
		WithUpdate(expression.Set(expression.Name("state"), expression.Value(metering.PushPending)).
			Set(expression.Name("unsent"), expression.Value(metering.PushPending)).
			Set(expression.Name("record"), expression.Value(record)).
			Set(expression.Name("updatedAt"), expression.Value(at))).
		Build()
	if err != nil {
		return false, err
	}
	_, err = s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: aws.String(s.table), Key: pushKey(p.InstanceID, p.Window),
		UpdateExpression: expr.Update(), ConditionExpression: expr.Condition(),
		ExpressionAttributeNames: expr.Names(), ExpressionAttributeValues: expr.Values(),
	})
	var refused *types.ConditionalCheckFailedException
	if errors.As(err, &refused) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("fill push record: %w", err)
	}
	return true, nil
}

// MeteringDue lists activated instances whose next window to decide
// starts at or before upTo (the meteringDue index), from after.
func (q *Queue) MeteringDue(ctx context.Context, upTo time.Time, after string, limit int) ([]activation.Instance, string, error) {
	items, next, err := q.query(ctx, MeteringDueIndex, "metering", activation.MeteringOn, "meteredUntil", upTo, after, limit)
	if err != nil {
		return nil, "", fmt.Errorf("read instances due for metering: %w", err)
	}
	var list []activation.Instance
	for _, item := range items {
		inst, err := unmarshalInstance(item)
		if err != nil {
			return nil, "", fmt.Errorf("unmarshal instance: %w", err)
		}
		list = append(list, inst)
	}
	return list, next, nil
}

// AdvanceMetering moves an instance's metering cursor from from to to,
// if no other run moved it; done takes it out of metering (a released
// instance whose last billable window is decided).
func (q *Queue) AdvanceMetering(ctx context.Context, id string, from, to time.Time, done bool) error {
	name := expression.Name
	update := expression.Set(name("meteredUntil"), expression.Value(epoch(to)))
	if done {
		update = expression.Remove(name("metering")).Remove(name("meteredUntil"))
	}
	expr, err := expression.NewBuilder().
		WithCondition(name("meteredUntil").Equal(expression.Value(epoch(from)))).
		WithUpdate(update).Build()
	if err != nil {
		return err
	}
	_, err = q.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: aws.String(q.table), Key: map[string]types.AttributeValue{instanceKey: str(id)},
		UpdateExpression: expr.Update(), ConditionExpression: expr.Condition(),
		ExpressionAttributeNames: expr.Names(), ExpressionAttributeValues: expr.Values(),
	})
	var refused *types.ConditionalCheckFailedException
	if err != nil && !errors.As(err, &refused) {
		return fmt.Errorf("advance metering of instance %s: %w", id, err)
	}
	return nil
}
