package dynamolocal_test

import (
	"context"
	"errors"
	"net/http/httptest"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/guance/aliyun-marketplace/cmd/devstack/dynamolocal"
)

func s(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }

// start serves a table "t" (key id) with a sparse index "due" on the
// attribute due.
func start(t *testing.T) *dynamodb.Client {
	ts := httptest.NewServer(dynamolocal.New())
	t.Cleanup(ts.Close)
	c := dynamodb.New(dynamodb.Options{Region: "us-east-1", BaseEndpoint: aws.String(ts.URL),
		Credentials: credentials.NewStaticCredentialsProvider("local", "local", ""), DisableValidateResponseChecksum: true})
	_, err := c.CreateTable(context.Background(), &dynamodb.CreateTableInput{
		TableName: aws.String("t"), BillingMode: types.BillingModePayPerRequest,
		AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String("id"), AttributeType: types.ScalarAttributeTypeS}, {AttributeName: aws.String("due"), AttributeType: types.ScalarAttributeTypeS}},
		KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String("id"), KeyType: types.KeyTypeHash}},
		GlobalSecondaryIndexes: []types.GlobalSecondaryIndex{{IndexName: aws.String("due"),
			KeySchema:  []types.KeySchemaElement{{AttributeName: aws.String("due"), KeyType: types.KeyTypeHash}},
			Projection: &types.Projection{ProjectionType: types.ProjectionTypeKeysOnly}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func item(t *testing.T, c *dynamodb.Client, id string) map[string]types.AttributeValue {
	out, err := c.GetItem(context.Background(), &dynamodb.GetItemInput{TableName: aws.String("t"), Key: map[string]types.AttributeValue{"id": s(id)}})
	if err != nil {
		t.Fatal(err)
	}
	return out.Item
}

func inIndex(t *testing.T, c *dynamodb.Client) int {
	out, err := c.Query(context.Background(), &dynamodb.QueryInput{TableName: aws.String("t"), IndexName: aws.String("due"),
		KeyConditionExpression: aws.String("#d = :d"), ExpressionAttributeNames: map[string]string{"#d": "due"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":d": s("yes")}})
	if err != nil {
		t.Fatal(err)
	}
	return len(out.Items)
}

func TestRemoveAndEmptiedSets(t *testing.T) {
	c := start(t)
	ctx := context.Background()
	for _, id := range []string{"a", "b"} {
		if _, err := c.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String("t"), Item: map[string]types.AttributeValue{
			"id": s(id), "due": s("yes"), "keep": s("k"), "tags": &types.AttributeValueMemberSS{Value: []string{"x"}},
		}}); err != nil {
			t.Fatal(err)
		}
	}
	if n := inIndex(t, c); n != 2 {
		t.Fatalf("%d in the index", n)
	}
	// An UpdateItem removing the index key and emptying the set.
	if _, err := c.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: aws.String("t"), Key: map[string]types.AttributeValue{"id": s("a")},
		UpdateExpression:          aws.String("SET keep = :v REMOVE #d DELETE tags :t"),
		ExpressionAttributeNames:  map[string]string{"#d": "due"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":v": s("k2"), ":t": &types.AttributeValueMemberSS{Value: []string{"x"}}},
	}); err != nil {
		t.Fatal(err)
	}
	a := item(t, c, "a")
	if _, ok := a["due"]; ok {
		t.Fatal("REMOVE was ignored")
	}
	if _, ok := a["tags"]; ok {
		t.Fatal("an emptied set stayed")
	}
	if a["keep"].(*types.AttributeValueMemberS).Value != "k2" {
		t.Fatal("the SET was lost")
	}
	// The same in a transaction.
	if _, err := c.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{{Update: &types.Update{
		TableName: aws.String("t"), Key: map[string]types.AttributeValue{"id": s("b")}, UpdateExpression: aws.String("REMOVE due"),
	}}}}); err != nil {
		t.Fatal(err)
	}
	if _, ok := item(t, c, "b")["due"]; ok {
		t.Fatal("REMOVE in a transaction was ignored")
	}
	if n := inIndex(t, c); n != 0 {
		t.Fatalf("%d still in the sparse index", n)
	}
	// A refused update removes nothing.
	_, err := c.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: aws.String("t"), Key: map[string]types.AttributeValue{"id": s("a")},
		UpdateExpression: aws.String("REMOVE keep"), ConditionExpression: aws.String("attribute_exists(nothing)")})
	if err == nil {
		t.Fatal("the condition held")
	}
	if _, ok := item(t, c, "a")["keep"]; !ok {
		t.Fatal("a refused update removed an attribute")
	}
}

// TestTransactionTokenIsIdempotent: as DynamoDB does for ten minutes, a
// TransactWriteItems sent again with the same ClientRequestToken (the SDK
// sets one, and keeps it across its retries) after it succeeded succeeds
// again without applying twice; the same token with other items is
// refused. Without this, a retry after a lost answer fails its own
// conditions here where AWS answers success.
func TestTransactionTokenIsIdempotent(t *testing.T) {
	c := start(t)
	ctx := context.Background()
	put := func(token, id string) error {
		_, err := c.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{ClientRequestToken: aws.String(token), TransactItems: []types.TransactWriteItem{{Put: &types.Put{
			TableName: aws.String("t"), Item: map[string]types.AttributeValue{"id": s(id), "n": &types.AttributeValueMemberN{Value: "1"}},
			ConditionExpression: aws.String("attribute_not_exists(id)"),
		}}}})
		return err
	}
	if err := put("token-1", "a"); err != nil {
		t.Fatal(err)
	}
	if err := put("token-1", "a"); err != nil {
		t.Fatalf("the same transaction, the same token: %v", err)
	}
	var canceled *types.TransactionCanceledException
	if err := put("token-2", "a"); !errors.As(err, &canceled) {
		t.Fatalf("another token: its condition holds: %v", err)
	}
	var mismatch *types.IdempotentParameterMismatchException
	if err := put("token-1", "b"); !errors.As(err, &mismatch) {
		t.Fatalf("the same token, other items: %v", err)
	}
}
