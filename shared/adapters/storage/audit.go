package storage

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/guance/aliyun-marketplace/shared/domain/audit"
)

// The audit table: one item per business event (audit.Event), keyed by
// (instanceId, eventId), expiring after audit.Retention. Its indexes find
// a purchase by an order id (byOrder) and list the events a person must
// look at (attention, sparse). Its stream (new images, inserts) is what
// the events function publishes.

// The audit table's key and indexes (see template.yaml).
const (
	eventKey       = "eventId"
	AuditByOrder   = "byOrder"
	AttentionIndex = "attention"
)

// errNoAuditTable is a write that must leave an event, in a function whose
// configuration names no audit table: refused rather than left unrecorded.
var errNoAuditTable = errors.New("storage: no audit table configured (AUDIT_TABLE)")

// audit adds ev to the transaction: it is written with the change it
// records, or not at all. Who made it is settled when the transaction
// runs (audit.Event.By: an operator's context names them).
func (t *tx) audit(events ...audit.Event) {
	if t.s.t.Audit == "" {
		t.fail(errNoAuditTable)
		return
	}
	for _, ev := range events {
		t.events = append(t.events, len(t.items))
		item, err := marshal(ev)
		t.fail(err)
		t.putAlways(t.s.t.Audit, item)
	}
}

// attribute rewrites the transaction's events for ctx's operator, if any.
func (t *tx) attribute(ctx context.Context) {
	op, ok := audit.OperatorOf(ctx)
	if !ok {
		return
	}
	for _, i := range t.events {
		put := t.items[i].Put
		var ev audit.Event
		if err := attributevalue.UnmarshalMap(put.Item, &ev); err != nil {
			t.fail(err)
			return
		}
		item, err := marshal(ev.By(audit.WithOperator(ctx, op)))
		t.fail(err)
		put.Item = item
	}
}

// note writes one event on its own, once: its id is the call's (a repeat
// finds it there, and is done).
func (s *Store) note(ctx context.Context, ev audit.Event) error {
	if s.t.Audit == "" {
		return errNoAuditTable
	}
	item, err := marshal(ev.By(ctx))
	if err != nil {
		return err
	}
	fresh, err := expression.NewBuilder().WithCondition(expression.AttributeNotExists(expression.Name(eventKey))).Build()
	if err != nil {
		return err
	}
	_, err = s.db.PutItem(ctx, &dynamodb.PutItemInput{
		TableName: aws.String(s.t.Audit), Item: item,
		ConditionExpression: fresh.Condition(), ExpressionAttributeNames: fresh.Names(),
	})
	var exists *types.ConditionalCheckFailedException
	if err != nil && !errors.As(err, &exists) {
		return fmt.Errorf("record %s of instance %s: %w", ev.Kind, ev.Instance, err)
	}
	return nil
}

// Trail reads the audit trail.
type Trail struct{ st *Store }

// Events lists an instance's events, oldest first: the last limit of
// them when limit > 0.
func (s *Trail) Events(ctx context.Context, instance string, limit int) ([]audit.Event, error) {
	expr, err := expression.NewBuilder().WithKeyCondition(expression.Key(instanceKey).Equal(expression.Value(instance))).Build()
	if err != nil {
		return nil, err
	}
	list, err := queryAll[audit.Event](ctx, s.st, &dynamodb.QueryInput{
		TableName: aws.String(s.st.t.Audit), KeyConditionExpression: expr.KeyCondition(),
		ExpressionAttributeNames: expr.Names(), ExpressionAttributeValues: expr.Values(), ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return nil, fmt.Errorf("read the trail of instance %s: %w", instance, err)
	}
	slices.SortStableFunc(list, byTime)
	if limit > 0 && len(list) > limit {
		list = list[len(list)-limit:]
	}
	return list, nil
}

// byTime orders events by time, then key: the ids are time-ordered but
// for a superseded call's, which is named by the call.
func byTime(a, b audit.Event) int {
	if c := a.At.Compare(b.At); c != 0 {
		return c
	}
	return strings.Compare(a.Key(), b.Key())
}

// Between lists every purchase's events from from to to, in time order.
// It reads the whole table (a Scan): for a repair now and then, such as
// publishing again what an events dead-letter message names.
func (s *Trail) Between(ctx context.Context, from, to time.Time) ([]audit.Event, error) {
	expr, err := expression.NewBuilder().WithFilter(expression.Name("at").Between(expression.Value(from.Unix()), expression.Value(to.Unix()))).Build()
	if err != nil {
		return nil, err
	}
	// The product never scans, so DB has no Scan: the operator's client
	// (the SDK's) has.
	scanner, ok := s.st.db.(dynamodb.ScanAPIClient)
	if !ok {
		return nil, errors.New("read the trail by time: this client cannot scan")
	}
	var list []audit.Event
	p := dynamodb.NewScanPaginator(scanner, &dynamodb.ScanInput{
		TableName: aws.String(s.st.t.Audit), FilterExpression: expr.Filter(),
		ExpressionAttributeNames: expr.Names(), ExpressionAttributeValues: expr.Values(),
	})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("read the trail from %s to %s: %w", from, to, err)
		}
		for _, item := range page.Items {
			ev, err := itemAs[audit.Event](item)
			if err != nil {
				return nil, err
			}
			list = append(list, ev)
		}
	}
	slices.SortStableFunc(list, byTime)
	return list, nil
}

// ByOrder finds the instance an order id belongs to, from the trail
// (ok false when no event names it).
func (s *Trail) ByOrder(ctx context.Context, orderID string) (string, bool, error) {
	expr, err := expression.NewBuilder().WithKeyCondition(expression.Key("orderId").Equal(expression.Value(orderID))).Build()
	if err != nil {
		return "", false, err
	}
	out, err := s.st.db.Query(ctx, &dynamodb.QueryInput{
		TableName: aws.String(s.st.t.Audit), IndexName: aws.String(AuditByOrder), Limit: aws.Int32(1),
		KeyConditionExpression: expr.KeyCondition(), ExpressionAttributeNames: expr.Names(), ExpressionAttributeValues: expr.Values(),
	})
	if err != nil {
		return "", false, fmt.Errorf("find order %s: %w", orderID, err)
	}
	if len(out.Items) == 0 {
		return "", false, nil
	}
	return stringOf(out.Items[0][instanceKey]), true, nil
}

// Attention lists the events a person must look at, newest first, since
// since (audit.Kind.NeedsAPerson; whether each still needs one is for the
// caller to read from its record).
func (s *Trail) Attention(ctx context.Context, since time.Time) ([]audit.Event, error) {
	expr, err := expression.NewBuilder().WithKeyCondition(
		expression.Key("attention").Equal(expression.Value(audit.AttentionOpen)).And(expression.Key("at").GreaterThanEqual(expression.Value(since.Unix())))).Build()
	if err != nil {
		return nil, err
	}
	list, err := queryAll[audit.Event](ctx, s.st, &dynamodb.QueryInput{
		TableName: aws.String(s.st.t.Audit), IndexName: aws.String(AttentionIndex), ScanIndexForward: aws.Bool(false),
		KeyConditionExpression: expr.KeyCondition(), ExpressionAttributeNames: expr.Names(), ExpressionAttributeValues: expr.Values(),
	})
	if err != nil {
		return nil, fmt.Errorf("list the events that need a person: %w", err)
	}
	return list, nil
}
