package storage

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/guance/aliyun-marketplace/shared/verification"
)

// Codes keeps verification codes ("code#<purpose>#<key>") and the counters
// of the sending limits ("rate#<scope>#<value>#<window start>"), each with
// an expiresAt TTL. Codes stay a day past their validity so that a late try
// reads "expired" rather than "no code".
type Codes struct {
	db    TableDB
	table string
}

// NewCodes returns the store for the verification table.
func NewCodes(db TableDB, table string) *Codes {
	return &Codes{db: db, table: table}
}

func codeID(purpose verification.Purpose, key string) string {
	return "code#" + string(purpose) + "#" + key
}

func num(n int64) types.AttributeValue {
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(n, 10)}
}

func str(s string) types.AttributeValue { return &types.AttributeValueMemberS{Value: s} }

// counter is one limit's count in its current fixed window.
type counter struct {
	limit string // as in verification.LimitError
	id    string
	max   int
	end   time.Time
}

func counters(rec verification.Record, client verification.Client, limits verification.Limits, now time.Time) []counter {
	hour := now.Truncate(time.Hour)
	day := now.Truncate(24 * time.Hour)
	window := func(scope, value string, start time.Time) string {
		return "rate#" + scope + "#" + value + "#" + strconv.FormatInt(start.Unix(), 10)
	}
	cs := []counter{
		{"address-hour", window("address", rec.Key, hour), limits.PerAddressHour, hour.Add(time.Hour)},
		{"address-day", window("address-day", rec.Key, day), limits.PerAddressDay, day.Add(24 * time.Hour)},
	}
	if client.SessionID != "" {
		cs = append(cs, counter{"session", window("session", client.SessionID, hour), limits.PerSessionHour, hour.Add(time.Hour)})
	}
	if client.IP != "" {
		cs = append(cs, counter{"client", window("client", client.IP, hour), limits.PerClientHour, hour.Add(time.Hour)})
	}
	return cs
}

// Issue writes the code and counts it against every limit in one
// TransactWriteItems: the cooldown and each cap are conditions of the same
// write, so concurrent sends cannot slip past them.
func (s *Codes) Issue(ctx context.Context, rec verification.Record, client verification.Client, limits verification.Limits, now time.Time) error {
	items := []types.TransactWriteItem{{Put: &types.Put{
		TableName: aws.String(s.table),
		Item: map[string]types.AttributeValue{
			sessionKey:   str(codeID(rec.Purpose, rec.Key)),
			"hash":       str(rec.Hash),
			"sentAt":     num(rec.SentAt.Unix()),
			"validUntil": num(rec.ExpiresAt.Unix()),
			"attempts":   num(0),
			expiresAt:    epoch(rec.ExpiresAt.Add(24 * time.Hour)),
		},
		ConditionExpression:                 aws.String("attribute_not_exists(id) OR sentAt <= :edge"),
		ExpressionAttributeValues:           map[string]types.AttributeValue{":edge": num(now.Add(-verification.Cooldown).Unix())},
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	}}}
	cs := counters(rec, client, limits, now)
	for _, c := range cs {
		items = append(items, types.TransactWriteItem{Update: &types.Update{
			TableName:                 aws.String(s.table),
			Key:                       map[string]types.AttributeValue{sessionKey: str(c.id)},
			UpdateExpression:          aws.String("SET expiresAt = if_not_exists(expiresAt, :ttl) ADD #count :one"),
			ConditionExpression:       aws.String("attribute_not_exists(#count) OR #count < :max"),
			ExpressionAttributeNames:  map[string]string{"#count": "count"},
			ExpressionAttributeValues: map[string]types.AttributeValue{":ttl": epoch(c.end.Add(time.Hour)), ":one": num(1), ":max": num(int64(c.max))},
		}})
	}
	_, err := s.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: items})
	var canceled *types.TransactionCanceledException
	if !errors.As(err, &canceled) {
		if err != nil {
			return fmt.Errorf("issue %s code: %w", rec.Purpose, err)
		}
		return nil
	}
	for i, reason := range canceled.CancellationReasons {
		if aws.ToString(reason.Code) != "ConditionalCheckFailed" {
			continue
		}
		if i == 0 {
			return &verification.LimitError{Limit: "cooldown", RetryAfter: retryAfter(s.sentAt(ctx, rec, reason.Item, now).Add(verification.Cooldown), now)}
		}
		c := cs[i-1]
		return &verification.LimitError{Limit: c.limit, RetryAfter: retryAfter(c.end, now)}
	}
	return fmt.Errorf("issue %s code: %w", rec.Purpose, err)
}

// sentAt is when the code still in its cooldown was sent: from the refused
// write's old item, which DynamoDB returns; a server that returns none
// (the local one) costs a read on this refusal path only.
func (s *Codes) sentAt(ctx context.Context, rec verification.Record, old map[string]types.AttributeValue, now time.Time) time.Time {
	if len(old) == 0 {
		out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{
			TableName: aws.String(s.table), Key: map[string]types.AttributeValue{sessionKey: str(codeID(rec.Purpose, rec.Key))}, ConsistentRead: aws.Bool(true),
		})
		if err != nil {
			return now
		}
		old = out.Item
	}
	if secs := numberOf(old["sentAt"]); secs > 0 {
		return time.Unix(secs, 0)
	}
	return now
}

// retryAfter is the wait until t, in whole seconds, at least one.
func retryAfter(t, now time.Time) time.Duration {
	d := t.Sub(now).Round(time.Second)
	if d < time.Second {
		d = time.Second
	}
	return d
}

// Revoke deletes the code (if it is still this one) and gives back its
// counts, in one transaction.
func (s *Codes) Revoke(ctx context.Context, rec verification.Record, client verification.Client, now time.Time) error {
	items := []types.TransactWriteItem{{Delete: &types.Delete{
		TableName:                 aws.String(s.table),
		Key:                       map[string]types.AttributeValue{sessionKey: str(codeID(rec.Purpose, rec.Key))},
		ConditionExpression:       aws.String("attribute_not_exists(id) OR #hash = :hash"),
		ExpressionAttributeNames:  map[string]string{"#hash": "hash"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":hash": str(rec.Hash)},
	}}}
	for _, c := range counters(rec, client, verification.Limits{}, now) {
		items = append(items, types.TransactWriteItem{Update: &types.Update{
			TableName:                 aws.String(s.table),
			Key:                       map[string]types.AttributeValue{sessionKey: str(c.id)},
			UpdateExpression:          aws.String("ADD #count :minus"),
			ConditionExpression:       aws.String("#count > :zero"),
			ExpressionAttributeNames:  map[string]string{"#count": "count"},
			ExpressionAttributeValues: map[string]types.AttributeValue{":minus": num(-1), ":zero": num(0)},
		}})
	}
	if _, err := s.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: items}); err != nil {
		return fmt.Errorf("revoke %s code: %w", rec.Purpose, err)
	}
	return nil
}

// Consume accepts the code in one conditional write when it matches, is
// unused, valid and not dead. Otherwise the refusal's old item says why, and
// a wrong code costs one of the tries (a second, conditional write).
func (s *Codes) Consume(ctx context.Context, purpose verification.Purpose, key, hash string, now time.Time) error {
	id := map[string]types.AttributeValue{sessionKey: str(codeID(purpose, key))}
	_, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                           aws.String(s.table),
		Key:                                 id,
		UpdateExpression:                    aws.String("SET consumedAt = :now"),
		ConditionExpression:                 aws.String("attribute_exists(id) AND attribute_not_exists(consumedAt) AND validUntil > :now AND attempts < :max AND #hash = :hash"),
		ExpressionAttributeNames:            map[string]string{"#hash": "hash"},
		ExpressionAttributeValues:           map[string]types.AttributeValue{":now": num(now.Unix()), ":max": num(verification.MaxAttempts), ":hash": str(hash)},
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	})
	var refused *types.ConditionalCheckFailedException
	if err == nil {
		return nil
	}
	if !errors.As(err, &refused) {
		return fmt.Errorf("check %s code: %w", purpose, err)
	}
	old := refused.Item
	switch {
	case len(old) == 0 || old["consumedAt"] != nil:
		return verification.ErrNoCode
	case numberOf(old["validUntil"]) <= now.Unix():
		return verification.ErrCodeExpired
	case numberOf(old["attempts"]) >= verification.MaxAttempts:
		return verification.ErrCodeDead
	}
	return s.countWrongTry(ctx, purpose, id)
}

func (s *Codes) countWrongTry(ctx context.Context, purpose verification.Purpose, id map[string]types.AttributeValue) error {
	cond := expression.Name("attempts").LessThan(expression.Value(verification.MaxAttempts)).
		And(expression.Name("consumedAt").AttributeNotExists())
	expr, err := expression.NewBuilder().WithCondition(cond).WithUpdate(expression.Add(expression.Name("attempts"), expression.Value(1))).Build()
	if err != nil {
		return err
	}
	out, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: aws.String(s.table), Key: id,
		UpdateExpression: expr.Update(), ConditionExpression: expr.Condition(),
		ExpressionAttributeNames: expr.Names(), ExpressionAttributeValues: expr.Values(),
		ReturnValues: types.ReturnValueUpdatedNew,
	})
	var refused *types.ConditionalCheckFailedException
	if errors.As(err, &refused) {
		// Another wrong try, or the right one, got there first.
		return verification.ErrCodeDead
	}
	if err != nil {
		return fmt.Errorf("count wrong %s code: %w", purpose, err)
	}
	return &verification.WrongCodeError{Remaining: verification.MaxAttempts - int(numberOf(out.Attributes["attempts"]))}
}

func numberOf(av types.AttributeValue) int64 {
	n, ok := av.(*types.AttributeValueMemberN)
	if !ok {
		return 0
	}
	v, _ := strconv.ParseInt(n.Value, 10, 64)
	return v
}
