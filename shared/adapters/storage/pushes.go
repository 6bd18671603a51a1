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

	"github.com/guance/aliyun-marketplace/shared/domain/metering"
)

// The metering table: one push record per instance and hourly window
// (metering.Push), keyed by (instanceId, window); the sparse index unsent
// lists those not final.

// UnsentIndex is the metering table's index of the records not final.
const UnsentIndex = "unsent"

// Pushes keeps the push records.
type Pushes struct{ st *Store }

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
	if ev, ok := p.Event(p.State, p.Reason, p.UpdatedAt); ok {
		// Decided final at once (a window found past its deadline): the
		// record and its event in one write, like every other move.
		t := s.st.tx()
		t.put(s.st.t.Metering, item, instanceKey, because(errAlreadyApplied))
		t.audit(ev)
		switch err := t.run(ctx, "create push record"); {
		case errors.Is(err, errAlreadyApplied):
			return false, nil
		case err != nil:
			return false, err
		}
		return true, nil
	}
	refused, err := s.st.putNew(ctx, s.st.t.Metering, item, instanceKey)
	if err != nil {
		return false, fmt.Errorf("create push record: %w", err)
	}
	return !refused, nil
}

// Get reads the push record of an instance's window, consistently; ok is
// false while the window is undecided.
func (s *Pushes) Get(ctx context.Context, instance string, window time.Time) (p metering.Push, ok bool, err error) {
	item, err := s.st.get(ctx, s.st.t.Metering, pushKey(instance, window.Unix()))
	if err != nil {
		return metering.Push{}, false, fmt.Errorf("read push record: %w", err)
	}
	if len(item) == 0 {
		return metering.Push{}, false, nil
	}
	if err := attributevalue.UnmarshalMap(item, &p); err != nil {
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
	list, err := queryAll[metering.Push](ctx, s.st, &dynamodb.QueryInput{TableName: aws.String(s.st.t.Metering), IndexName: aws.String(UnsentIndex),
		KeyConditionExpression: expr.KeyCondition(), ExpressionAttributeNames: expr.Names(), ExpressionAttributeValues: expr.Values()})
	if err != nil {
		return nil, fmt.Errorf("query unsent pushes: %w", err)
	}
	return list, nil
}

// Move moves records from one state to another in one transaction (at
// most 100 items: metering.RecordsPerCall records, each with its event on
// the trail when it reaches a state the trail keeps), each conditioned on
// being in from: a call's records go to sending together before it, and
// to their end together after it. A refused move changes none (ok false).
func (s *Pushes) Move(ctx context.Context, list []metering.Push, from, to metering.PushState, reason string, at time.Time) (bool, error) {
	t := s.st.tx()
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
		t.update(s.st.t.Metering, pushKey(p.InstanceID, p.Window), expression.Name("state").Equal(expression.Value(from)), update, because(errAlreadyApplied))
		if ev, ok := p.Event(to, reason, at); ok {
			t.audit(ev)
		}
	}
	switch err := t.run(ctx, fmt.Sprintf("move push records %s to %s", from, to)); {
	case errors.Is(err, errAlreadyApplied):
		return false, nil // another run moved them
	case err != nil:
		return false, err
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
	res, err := s.st.update(ctx, s.st.t.Metering, pushKey(p.InstanceID, p.Window), expr, false, false)
	if err != nil {
		return false, fmt.Errorf("fill push record: %w", err)
	}
	return !res.Refused, nil
}
