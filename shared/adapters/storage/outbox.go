package storage

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/guance/aliyun-marketplace/shared/domain/audit"
	"github.com/guance/aliyun-marketplace/shared/domain/outbox"
)

// The outbox table: outbox.Item mails under "mail#<random id>". Pending
// items carry the attribute "due" (always dueShard) and "dueAt", which put
// them in the sparse index DueIndex; delivered and dead ones drop both.

// DueIndex is the outbox table's sparse index of pending mails by due time.
const DueIndex = "due"

// dueShard is the partition of the outbox's sparse "due" index: pending
// mails carry it, delivered ones drop it. One partition is plenty for the
// mail volume of activations.
const dueShard = "pending"

func marshalOutbox(item outbox.Item) (map[string]types.AttributeValue, error) {
	av, err := marshal(item)
	if err != nil {
		return nil, fmt.Errorf("marshal outbox mail: %w", err)
	}
	return av, nil
}

// pendingMail is a new outbox item as written: due at once.
func pendingMail(item outbox.Item) (map[string]types.AttributeValue, error) {
	av, err := marshalOutbox(item)
	if err != nil {
		return nil, err
	}
	av["due"] = str(dueShard)
	return av, nil
}

// outbox writes a new mail with the change it reports.
func (t *tx) outbox(item outbox.Item) {
	av, err := pendingMail(item)
	t.fail(err)
	t.putAlways(t.s.t.Outbox, av)
}

// mail writes a new mail with the change it reports, and its queueing on
// the purchase's trail.
func (t *tx) mail(item outbox.Item) {
	t.outbox(item)
	if item.Audited() {
		t.audit(item.Event(audit.MailQueued, audit.ActorBuyer, item.CreatedAt))
	}
}

// outboxOnce writes a new mail with the change it reports, once: refused
// (why) if its id is there already; its queueing goes on the trail (by
// actor).
func (t *tx) outboxOnce(item outbox.Item, actor string, why refusal) {
	av, err := pendingMail(item)
	t.fail(err)
	t.put(t.s.t.Outbox, av, idAttr, why)
	if item.Audited() {
		t.audit(item.Event(audit.MailQueued, actor, item.CreatedAt))
	}
}

// Outbox keeps the mails that must arrive.
type Outbox struct{ st *Store }

// Put writes a new item on its own (a mail that reports no other write),
// with its queueing on the trail.
func (s *Outbox) Put(ctx context.Context, item outbox.Item) error {
	t := s.st.tx()
	t.outbox(item)
	if item.Audited() {
		t.audit(item.Event(audit.MailQueued, audit.ActorOutbox, item.CreatedAt))
	}
	return t.run(ctx, "put outbox mail")
}

// Claim takes a due pending item for outbox.Lease and counts the attempt.
func (s *Outbox) Claim(ctx context.Context, id, claim string, now time.Time) (outbox.Item, error) {
	name, value := expression.Name, expression.Value
	expr, err := expression.NewBuilder().
		WithCondition(name("state").Equal(value(outbox.StatePending)).
			And(name("dueAt").LessThanEqual(value(now.Unix()))).
			And(expression.Or(name("claimedUntil").AttributeNotExists(), name("claimedUntil").LessThan(value(now.Unix()))))).
		WithUpdate(expression.Add(name("attempts"), value(1)).
			Set(name("claim"), value(claim)).
			Set(name("claimedUntil"), value(now.Add(outbox.Lease).Unix()))).
		Build()
	if err != nil {
		return outbox.Item{}, err
	}
	res, err := s.st.update(ctx, s.st.t.Outbox, idKey(id), expr, true, true)
	switch {
	case err != nil:
		return outbox.Item{}, fmt.Errorf("claim outbox mail: %w", err)
	case res.Refused && len(res.Old) == 0:
		return outbox.Item{}, outbox.ErrNotFound
	case res.Refused:
		return outbox.Item{}, outbox.ErrNotDue
	}
	var item outbox.Item
	if err := attributevalue.UnmarshalMap(res.New, &item); err != nil {
		return outbox.Item{}, fmt.Errorf("unmarshal outbox mail: %w", err)
	}
	return item, nil
}

// Sent marks the claimed item delivered, drops its sealed secret and its
// place in the due index, and keeps it outbox.Keep for inspection.
func (s *Outbox) Sent(ctx context.Context, item outbox.Item, now time.Time) error {
	done := item
	done.State, done.SentAt, done.ExpiresAt = outbox.StateSent, now.UTC(), now.Add(outbox.Keep).UTC()
	return s.settle(ctx, item, done, now)
}

// Failed puts the claimed item back with its next due time, or marks it
// dead once it failed outbox.MaxAttempts times.
func (s *Outbox) Failed(ctx context.Context, item outbox.Item, reason string, now time.Time) (bool, error) {
	if item.Attempts >= outbox.MaxAttempts {
		dead := item
		dead.State, dead.LastError, dead.ExpiresAt = outbox.StateDead, reason, now.Add(outbox.Keep).UTC()
		return true, s.settle(ctx, item, dead, now)
	}
	name, value := expression.Name, expression.Value
	expr, err := expression.NewBuilder().
		WithCondition(name("state").Equal(value(outbox.StatePending)).And(name("claim").Equal(value(item.Claim)))).
		WithUpdate(expression.Set(name("lastError"), value(reason)).
			Set(name("dueAt"), value(now.Add(outbox.Backoff(item.Attempts)).Unix())).
			Set(name("claimedUntil"), value(0))).
		Build()
	if err != nil {
		return false, err
	}
	res, err := s.st.update(ctx, s.st.t.Outbox, idKey(item.ID), expr, false, false)
	switch {
	case err != nil:
		return false, fmt.Errorf("update outbox mail: %w", err)
	case res.Refused:
		return false, outbox.ErrNotDue
	}
	return false, nil
}

// settle replaces a claimed item by its final form: a put of the whole
// item, so that what a delivered mail no longer needs (the sealed secret,
// the due index's attributes, the claim) is gone rather than left behind.
// (A put, not an update with REMOVE, also because the local DynamoDB
// ignores REMOVE of a top-level attribute.) Its fate goes on the
// purchase's trail in the same transaction.
func (s *Outbox) settle(ctx context.Context, claimed, final outbox.Item, at time.Time) error {
	final.Sealed, final.DueAt, final.Claim, final.ClaimedUntil = "", time.Time{}, "", time.Time{}
	av, err := marshalOutbox(final)
	if err != nil {
		return err
	}
	name, value := expression.Name, expression.Value
	cond, err := expression.NewBuilder().
		WithCondition(name("state").Equal(value(outbox.StatePending)).And(name("claim").Equal(value(claimed.Claim)))).
		Build()
	if err != nil {
		return err
	}
	t := s.st.tx()
	t.add(types.TransactWriteItem{Put: &types.Put{
		TableName: aws.String(s.st.t.Outbox), Item: av,
		ConditionExpression: cond.Condition(), ExpressionAttributeNames: cond.Names(), ExpressionAttributeValues: cond.Values(),
	}}, because(outbox.ErrNotDue))
	if final.Audited() {
		kind := audit.MailSent
		if final.State == outbox.StateDead {
			kind = audit.MailDead
		}
		t.audit(final.Event(kind, audit.ActorOutbox, at))
	}
	return t.run(ctx, "settle outbox mail")
}

// Due lists pending items due by now through the sparse index, oldest
// first, following pages until limit.
func (s *Outbox) Due(ctx context.Context, now time.Time, limit int) ([]string, error) {
	name, value := expression.Name, expression.Value
	expr, err := expression.NewBuilder().
		WithKeyCondition(expression.Key("due").Equal(value(dueShard)).And(expression.Key("dueAt").LessThanEqual(value(now.Unix())))).
		WithProjection(expression.NamesList(name(idAttr))).
		Build()
	if err != nil {
		return nil, err
	}
	var ids []string
	in := &dynamodb.QueryInput{
		TableName: aws.String(s.st.t.Outbox), IndexName: aws.String(DueIndex),
		KeyConditionExpression: expr.KeyCondition(), ProjectionExpression: expr.Projection(),
		ExpressionAttributeNames: expr.Names(), ExpressionAttributeValues: expr.Values(),
		Limit: aws.Int32(int32(min(limit, 100))),
	}
	for len(ids) < limit {
		out, err := s.st.db.Query(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("query due outbox mails: %w", err)
		}
		for _, item := range out.Items {
			ids = append(ids, stringOf(item[idAttr]))
		}
		if len(out.LastEvaluatedKey) == 0 {
			break
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
	if len(ids) > limit {
		ids = ids[:limit]
	}
	return ids, nil
}
