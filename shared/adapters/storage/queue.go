package storage

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/guance/aliyun-marketplace/shared/domain/activation"
)

// Queue reads the instances the scheduled jobs work on, through the
// instances table's sparse indexes (never a Scan), and keeps the runs'
// leases.
type Queue struct{ st *Store }

// PendingDue returns up to limit pending activations whose check is due
// (checkAt <= now), oldest check first, from the cursor after (empty: the
// start). next is empty when there are no more.
func (q *Queue) PendingDue(ctx context.Context, now time.Time, after string, limit int) (list []activation.Instance, next string, err error) {
	items, next, err := q.query(ctx, PendingActivationsIndex, "awaiting", activation.AwaitingActivation, "checkAt", now, after, limit)
	if err != nil {
		return nil, "", fmt.Errorf("read pending activations: %w", err)
	}
	for _, item := range items {
		inst, err := unmarshalInstance(item)
		if err != nil {
			return nil, "", fmt.Errorf("unmarshal pending activation: %w", err)
		}
		list = append(list, inst)
	}
	return list, next, nil
}

// EffectsDue returns up to limit ids of instances whose effects are due
// since before or earlier.
func (q *Queue) EffectsDue(ctx context.Context, before time.Time, after string, limit int) (ids []string, next string, err error) {
	items, next, err := q.query(ctx, EffectsDueIndex, "effects", activation.EffectsDue, "effectsAt", before, after, limit)
	if err != nil {
		return nil, "", fmt.Errorf("read instances with effects due: %w", err)
	}
	for _, item := range items {
		ids = append(ids, stringOf(item[instanceKey]))
	}
	return ids, next, nil
}

// AuditDue returns up to limit ids of live instances whose comparison
// with the marketplace is due (auditAt <= now), the longest due first.
func (q *Queue) AuditDue(ctx context.Context, now time.Time, limit int) ([]string, error) {
	items, _, err := q.query(ctx, LiveAuditIndex, "audit", activation.AuditLive, "auditAt", now, "", limit)
	if err != nil {
		return nil, fmt.Errorf("read instances due for a comparison with the marketplace: %w", err)
	}
	ids := make([]string, 0, len(items))
	for _, item := range items {
		ids = append(ids, stringOf(item[instanceKey]))
	}
	return ids, nil
}

// Reaudit sets when a live instance is compared with the marketplace
// next, or (done) takes it off the comparisons: it was released. Nothing
// happens to an instance that left them meanwhile.
func (q *Queue) Reaudit(ctx context.Context, id string, next time.Time, done bool) error {
	update := expression.Set(expression.Name("auditAt"), expression.Value(epoch(next)))
	if done {
		update = expression.Remove(expression.Name("audit")).Remove(expression.Name("auditAt"))
	}
	expr, err := expression.NewBuilder().
		WithCondition(expression.Name("audit").Equal(expression.Value(activation.AuditLive))).
		WithUpdate(update).Build()
	if err != nil {
		return err
	}
	if _, err := q.st.update(ctx, q.st.t.Instances, instanceKeyOf(id), expr, false, false); err != nil {
		return fmt.Errorf("set the next comparison of instance %s: %w", id, err)
	}
	return nil
}

func (q *Queue) query(ctx context.Context, index, hash, value, rangeAttr string, upTo time.Time, after string, limit int) ([]map[string]types.AttributeValue, string, error) {
	key := expression.Key(hash).Equal(expression.Value(value)).
		And(expression.Key(rangeAttr).LessThanEqual(expression.Value(epoch(upTo))))
	expr, err := expression.NewBuilder().WithKeyCondition(key).Build()
	if err != nil {
		return nil, "", err
	}
	start, err := decodeCursor(after)
	if err != nil {
		return nil, "", err
	}
	out, err := q.st.db.Query(ctx, &dynamodb.QueryInput{
		TableName: aws.String(q.st.t.Instances), IndexName: aws.String(index),
		KeyConditionExpression: expr.KeyCondition(), ExpressionAttributeNames: expr.Names(), ExpressionAttributeValues: expr.Values(),
		ExclusiveStartKey: start, Limit: aws.Int32(int32(limit)),
	})
	if err != nil {
		return nil, "", err
	}
	next, err := encodeCursor(out.LastEvaluatedKey)
	return out.Items, next, err
}

// A cursor is a query's LastEvaluatedKey, opaque to the caller.
func encodeCursor(key map[string]types.AttributeValue) (string, error) {
	if len(key) == 0 {
		return "", nil
	}
	typed := map[string][2]string{}
	for name, av := range key {
		switch v := av.(type) {
		case *types.AttributeValueMemberS:
			typed[name] = [2]string{"S", v.Value}
		case *types.AttributeValueMemberN:
			typed[name] = [2]string{"N", v.Value}
		default:
			return "", fmt.Errorf("cursor: key attribute %s of an unexpected type", name)
		}
	}
	b, err := json.Marshal(typed)
	return base64.RawURLEncoding.EncodeToString(b), err
}

func decodeCursor(cursor string) (map[string]types.AttributeValue, error) {
	if cursor == "" {
		return nil, nil
	}
	b, err := base64.RawURLEncoding.DecodeString(cursor)
	if err != nil {
		return nil, errors.New("cursor: not one of ours")
	}
	var typed map[string][2]string
	if err := json.Unmarshal(b, &typed); err != nil {
		return nil, errors.New("cursor: not one of ours")
	}
	key := map[string]types.AttributeValue{}
	for name, tv := range typed {
		if tv[0] == "N" {
			key[name] = &types.AttributeValueMemberN{Value: tv[1]}
		} else {
			key[name] = &types.AttributeValueMemberS{Value: tv[1]}
		}
	}
	return key, nil
}

// whilePending makes an update of a pending activation, if it still is one.
func (q *Queue) whilePending(ctx context.Context, id string, update expression.UpdateBuilder) (bool, error) {
	expr, err := expression.NewBuilder().
		WithCondition(expression.Name("awaiting").Equal(expression.Value(activation.AwaitingActivation))).
		WithUpdate(update).Build()
	if err != nil {
		return false, err
	}
	res, err := q.st.update(ctx, q.st.t.Instances, instanceKeyOf(id), expr, false, false)
	if err != nil {
		return false, fmt.Errorf("update pending activation %s: %w", id, err)
	}
	return !res.Refused, nil // refused: activated or released meanwhile
}

// Recheck sets when a pending activation is checked next. false: it is no
// longer pending.
func (q *Queue) Recheck(ctx context.Context, id string, at time.Time) (bool, error) {
	return q.whilePending(ctx, id, expression.Set(expression.Name("checkAt"), expression.Value(epoch(at))))
}

// Abandon marks a pending activation as given up, with its event: it
// leaves the checks (and stays findable under "abandoned"). false: it is
// no longer pending.
func (q *Queue) Abandon(ctx context.Context, id string, at time.Time) (bool, error) {
	t := q.st.tx()
	t.update(q.st.t.Instances, instanceKeyOf(id), expression.Name("awaiting").Equal(expression.Value(activation.AwaitingActivation)),
		expression.Set(expression.Name("awaiting"), expression.Value(activation.AwaitingAbandoned)).
			Set(expression.Name("abandonedAt"), expression.Value(at)),
		because(errAlreadyApplied))
	t.audit(activation.AbandonedEvent(id, at))
	switch err := t.run(ctx, "abandon pending activation "+id); {
	case errors.Is(err, errAlreadyApplied):
		return false, nil // activated or released meanwhile
	case err != nil:
		return false, err
	}
	return true, nil
}

// leaseKey is the lease's item in the instances table.
func leaseKey(name string) map[string]types.AttributeValue {
	return instanceKeyOf("lease#" + name)
}

// Acquire takes the lease name for holder (NewHolder) until until, unless
// another holder has it and it has not expired (ok false). It returns the
// cursor the last holder left.
func (q *Queue) Acquire(ctx context.Context, name, holder string, now, until time.Time) (cursor string, ok bool, err error) {
	expr, err := expression.NewBuilder().
		WithCondition(expression.Or(expression.Name("holder").AttributeNotExists(),
			expression.Name("until").LessThan(expression.Value(epoch(now))))).
		WithUpdate(expression.Set(expression.Name("holder"), expression.Value(holder)).
			Set(expression.Name("until"), expression.Value(epoch(until)))).
		Build()
	if err != nil {
		return "", false, err
	}
	res, err := q.st.update(ctx, q.st.t.Instances, leaseKey(name), expr, false, true)
	switch {
	case err != nil:
		return "", false, fmt.Errorf("take lease %s: %w", name, err)
	case res.Refused:
		return "", false, nil
	}
	return stringOf(res.New["cursor"]), true, nil
}

// Release gives the lease back, leaving cursor for the next holder.
// Nothing happens if holder lost it meanwhile (it expired and was taken).
func (q *Queue) Release(ctx context.Context, name, holder, cursor string) error {
	expr, err := expression.NewBuilder().
		WithCondition(expression.Name("holder").Equal(expression.Value(holder))).
		WithUpdate(expression.Set(expression.Name("cursor"), expression.Value(cursor)).
			Remove(expression.Name("holder")).Remove(expression.Name("until"))).
		Build()
	if err != nil {
		return err
	}
	// Refused: the lease was lost meanwhile (it expired and was taken).
	if _, err := q.st.update(ctx, q.st.t.Instances, leaseKey(name), expr, false, false); err != nil {
		return fmt.Errorf("give lease %s back: %w", name, err)
	}
	return nil
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
	// Refused: another run moved it.
	if _, err := q.st.update(ctx, q.st.t.Instances, instanceKeyOf(id), expr, false, false); err != nil {
		return fmt.Errorf("advance metering of instance %s: %w", id, err)
	}
	return nil
}
