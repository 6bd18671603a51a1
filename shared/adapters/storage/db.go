// Package storage keeps the product's records in DynamoDB. Its transactions
// span tables, so it is one package: a Store holds the client and the
// tables, each consumer gets a small type of its own (Instances, Sessions,
// Codes, Bindings, Effects, ...), and they share the unexported helpers
// of this file, the transaction builder (tx.go) and one file per table.
// Each method is the fewest round trips its step needs; uniqueness and
// idempotency come from conditional writes, never from a read followed by
// a write. Expressions are built with the SDK's expression builder.
package storage

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"
)

// DB is the part of the DynamoDB client the stores use.
type DB interface {
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	PutItem(ctx context.Context, in *dynamodb.PutItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
	Query(ctx context.Context, in *dynamodb.QueryInput, opts ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
	BatchGetItem(ctx context.Context, in *dynamodb.BatchGetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error)
	TransactWriteItems(ctx context.Context, in *dynamodb.TransactWriteItemsInput, opts ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error)
}

// NewClient returns a DynamoDB client. The local DynamoDB-compatible server
// sends no CRC32 header, so response checksums are checked only when no
// local endpoint is configured.
func NewClient(cfg aws.Config) *dynamodb.Client {
	local := os.Getenv("AWS_ENDPOINT_URL_DYNAMODB") != ""
	return dynamodb.NewFromConfig(cfg, func(o *dynamodb.Options) {
		o.DisableValidateResponseChecksum = local
	})
}

// Store is the product's tables over one client. Its methods hand each
// consumer the view it needs.
type Store struct {
	db DB
	t  Tables
}

// New returns the store of tables over db.
func New(db DB, t Tables) *Store { return &Store{db: db, t: t} }

// updated is what one conditional UpdateItem came to.
type updated struct {
	// New is the item after the write, when asked for (returnNew).
	New map[string]types.AttributeValue
	// Refused says the condition failed; Old is then the item as it was,
	// when asked for (returnOld) and the server returns it.
	Refused bool
	Old     map[string]types.AttributeValue
}

// update makes one UpdateItem of table's key with expr (its update and
// condition). A failed condition is no error: Refused says so.
func (s *Store) update(ctx context.Context, table string, key map[string]types.AttributeValue, expr expression.Expression, returnOld, returnNew bool) (updated, error) {
	in := &dynamodb.UpdateItemInput{
		TableName: aws.String(table), Key: key,
		UpdateExpression: expr.Update(), ConditionExpression: expr.Condition(),
		ExpressionAttributeNames: expr.Names(), ExpressionAttributeValues: expr.Values(),
	}
	if returnOld {
		in.ReturnValuesOnConditionCheckFailure = types.ReturnValuesOnConditionCheckFailureAllOld
	}
	if returnNew {
		in.ReturnValues = types.ReturnValueAllNew
	}
	out, err := s.db.UpdateItem(ctx, in)
	var refused *types.ConditionalCheckFailedException
	switch {
	case errors.As(err, &refused):
		return updated{Refused: true, Old: refused.Item}, nil
	case err != nil:
		return updated{}, err
	}
	return updated{New: out.Attributes}, nil
}

// get reads one item consistently (empty when there is none).
func (s *Store) get(ctx context.Context, table string, key map[string]types.AttributeValue) (map[string]types.AttributeValue, error) {
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(table), Key: key, ConsistentRead: aws.Bool(true)})
	if err != nil {
		return nil, err
	}
	return out.Item, nil
}

// query runs a query to its last page, handing each page's items to each.
func (s *Store) query(ctx context.Context, in *dynamodb.QueryInput, each func(item map[string]types.AttributeValue) (stop bool, err error)) error {
	for {
		out, err := s.db.Query(ctx, in)
		if err != nil {
			return err
		}
		for _, item := range out.Items {
			if stop, err := each(item); stop || err != nil {
				return err
			}
		}
		if len(out.LastEvaluatedKey) == 0 {
			return nil
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
}

// queryAll runs a query to its end and reads every item as a T.
func queryAll[T any](ctx context.Context, s *Store, in *dynamodb.QueryInput) ([]T, error) {
	var list []T
	err := s.query(ctx, in, func(item map[string]types.AttributeValue) (bool, error) {
		v, err := itemAs[T](item)
		list = append(list, v)
		return err != nil, err
	})
	return list, err
}

// itemAs reads an item as a T.
func itemAs[T any](item map[string]types.AttributeValue) (T, error) {
	var v T
	if err := attributevalue.UnmarshalMap(item, &v); err != nil {
		return v, fmt.Errorf("unmarshal %T: %w", v, err)
	}
	return v, nil
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

// batchGetTries bounds how often batchGet asks for what was left.
const batchGetTries = 8

// batchGet runs one BatchGetItem request (at most 100 keys) to the end
// and returns the items per table. DynamoDB leaves keys unprocessed when
// it throttles; they are asked for again after a wait that doubles, as
// the SDK's documentation advises, rather than at once.
func (s *Store) batchGet(ctx context.Context, req map[string]types.KeysAndAttributes) (map[string][]map[string]types.AttributeValue, error) {
	found := map[string][]map[string]types.AttributeValue{}
	wait := 25 * time.Millisecond
	for try := 1; ; try++ {
		out, err := s.db.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{RequestItems: req})
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
func (s *Store) transact(ctx context.Context, items []types.TransactWriteItem) error {
	in := &dynamodb.TransactWriteItemsInput{TransactItems: items}
	for attempt := 0; ; attempt++ {
		_, err := s.db.TransactWriteItems(ctx, in)
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

// putNew creates item in table unless its key (whose partition attribute
// is keyAttr) is taken (refused).
func (s *Store) putNew(ctx context.Context, table string, item map[string]types.AttributeValue, keyAttr string) (refused bool, err error) {
	fresh, err := expression.NewBuilder().WithCondition(expression.AttributeNotExists(expression.Name(keyAttr))).Build()
	if err != nil {
		return false, err
	}
	_, err = s.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(table), Item: item, ConditionExpression: fresh.Condition(), ExpressionAttributeNames: fresh.Names()})
	var cond *types.ConditionalCheckFailedException
	if errors.As(err, &cond) {
		return true, nil
	}
	return false, err
}
