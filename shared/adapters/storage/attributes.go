package storage

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"
)

// Attribute names shared by the tables whose key is a generic id.
const (
	// idAttr is the partition key of the sessions, verification,
	// accounts and outbox tables.
	idAttr = "id"
	// expiresAt is the TTL attribute (epoch seconds) of short-lived items.
	expiresAt = "expiresAt"
)

func str(s string) types.AttributeValue { return &types.AttributeValueMemberS{Value: s} }

func num(n int64) types.AttributeValue {
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(n, 10)}
}

func epoch(t time.Time) types.AttributeValue { return num(t.Unix()) }

func idKey(id string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{idAttr: str(id)}
}

func numberOf(av types.AttributeValue) int64 {
	n, ok := av.(*types.AttributeValueMemberN)
	if !ok {
		return 0
	}
	v, _ := strconv.ParseInt(n.Value, 10, 64)
	return v
}

func stringOf(av types.AttributeValue) string {
	s, ok := av.(*types.AttributeValueMemberS)
	if !ok {
		return ""
	}
	return s.Value
}

// canceledAt is the index of the first item whose condition refused a
// canceled transaction, or -1 (no cancellation, or none for a condition).
func canceledAt(err error) int {
	var canceled *types.TransactionCanceledException
	if !errors.As(err, &canceled) {
		return -1
	}
	for i, reason := range canceled.CancellationReasons {
		if aws.ToString(reason.Code) == "ConditionalCheckFailed" {
			return i
		}
	}
	return -1
}

// reasonItem is the old item DynamoDB returned with the refusal of item i
// of a canceled transaction (ReturnValuesOnConditionCheckFailure), if any.
func reasonItem(err error, i int) map[string]types.AttributeValue {
	var canceled *types.TransactionCanceledException
	if !errors.As(err, &canceled) || i < 0 || i >= len(canceled.CancellationReasons) {
		return nil
	}
	return canceled.CancellationReasons[i].Item
}

// conflicted reports whether a transaction lost a race with another one
// writing the same item at the same moment (TransactionConflict), which
// means a concurrent twin of this very request got there first.
func conflicted(err error) bool {
	var canceled *types.TransactionCanceledException
	if errors.As(err, &canceled) {
		for _, reason := range canceled.CancellationReasons {
			if aws.ToString(reason.Code) == "TransactionConflict" {
				return true
			}
		}
	}
	var api smithy.APIError
	return errors.As(err, &api) && api.ErrorCode() == "TransactionConflictException"
}

// batchGetter is the part of the client batchGet needs.
type batchGetter interface {
	BatchGetItem(ctx context.Context, in *dynamodb.BatchGetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error)
}

// batchGetTries bounds how often batchGet asks for what was left.
const batchGetTries = 8

// batchGet runs one BatchGetItem request (at most 100 keys) to the end
// and returns the items per table. DynamoDB leaves keys unprocessed when
// it throttles; they are asked for again after a wait that doubles, as
// the SDK's documentation advises, rather than at once.
func batchGet(ctx context.Context, db batchGetter, req map[string]types.KeysAndAttributes) (map[string][]map[string]types.AttributeValue, error) {
	found := map[string][]map[string]types.AttributeValue{}
	wait := 25 * time.Millisecond
	for try := 1; ; try++ {
		out, err := db.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{RequestItems: req})
		if err != nil {
			return nil, err
		}
		for table, items := range out.Responses {
			found[table] = append(found[table], items...)
		}
		if req = out.UnprocessedKeys; len(req) == 0 {
			return found, nil
		}
		if try == batchGetTries {
			return nil, fmt.Errorf("%w: keys still unprocessed after %d tries", ErrBusy, try)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(wait):
		}
		wait = min(2*wait, time.Second)
	}
}

// ErrBusy means a transaction kept colliding with others writing the same
// items at the same moment; nothing was written and the request can be
// tried again.
var ErrBusy = errors.New("storage: busy with concurrent writes, try again")

// transactRetries is how often a transaction that collided is tried again.
const transactRetries = 3

// transact runs a write transaction, trying it again when it collided
// with another one on the same items (TransactionConflict): the retry
// then sees what the other wrote, and its conditions say what happened.
func transact(ctx context.Context, db DynamoDB, in *dynamodb.TransactWriteItemsInput) error {
	for attempt := 0; ; attempt++ {
		_, err := db.TransactWriteItems(ctx, in)
		if err == nil || !conflicted(err) || canceledAt(err) >= 0 {
			return err
		}
		if attempt == transactRetries {
			return fmt.Errorf("%w: %w", ErrBusy, err)
		}
		wait := time.Duration(10+rand.IntN(40)) * time.Millisecond << attempt
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
	}
}
