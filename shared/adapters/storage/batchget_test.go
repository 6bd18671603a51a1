package storage

import (
	"context"
	"errors"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// leavingDB answers each BatchGetItem with its first key and leaves the
// rest unprocessed (as DynamoDB does when it throttles), or leaves
// everything when stuck.
type leavingDB struct {
	DB    // the rest is never called
	calls int
	stuck bool
}

func (l *leavingDB) BatchGetItem(_ context.Context, in *dynamodb.BatchGetItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error) {
	l.calls++
	out := &dynamodb.BatchGetItemOutput{Responses: map[string][]map[string]types.AttributeValue{}, UnprocessedKeys: map[string]types.KeysAndAttributes{}}
	for table, ka := range in.RequestItems {
		if l.stuck {
			out.UnprocessedKeys[table] = ka
			continue
		}
		out.Responses[table] = append(out.Responses[table], ka.Keys[0])
		if len(ka.Keys) > 1 {
			out.UnprocessedKeys[table] = types.KeysAndAttributes{Keys: ka.Keys[1:]}
		}
	}
	return out, nil
}

// TestBatchGet: keys left unprocessed are asked for again until every one
// is read; keys that stay unprocessed end in ErrBusy, not a loop.
func TestBatchGet(t *testing.T) {
	keys := []map[string]types.AttributeValue{idKey("a"), idKey("b"), idKey("c")}
	db := &leavingDB{}
	found, err := New(db, Tables{}).batchGet(context.Background(), map[string]types.KeysAndAttributes{"T": {Keys: keys}})
	if err != nil || len(found["T"]) != 3 || db.calls != 3 {
		t.Fatalf("%v: %d items in %d calls, want 3 in 3", err, len(found["T"]), db.calls)
	}
	stuck := &leavingDB{stuck: true}
	if _, err := New(stuck, Tables{}).batchGet(context.Background(), map[string]types.KeysAndAttributes{"T": {Keys: keys}}); !errors.Is(err, ErrBusy) || stuck.calls != batchGetTries {
		t.Fatalf("stuck: %v after %d calls, want ErrBusy after %d", err, stuck.calls, batchGetTries)
	}
}
