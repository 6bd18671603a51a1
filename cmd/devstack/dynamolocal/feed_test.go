package dynamolocal_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/guance/aliyun-marketplace/cmd/devstack/dynamolocal"
)

// TestChangeFeed: every write that changes an item of a subscribed table
// is one record, in the order the writes were made, whatever the request
// (a put, an update, a delete, a transaction, a batch); a refused write or
// one that changes nothing is none; other tables' writes are not there.
func TestChangeFeed(t *testing.T) {
	srv := dynamolocal.New()
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	c := dynamodb.New(dynamodb.Options{Region: "us-east-1", BaseEndpoint: aws.String(ts.URL),
		Credentials: credentials.NewStaticCredentialsProvider("local", "local", ""), DisableValidateResponseChecksum: true})
	ctx := context.Background()
	for _, name := range []string{"t", "other"} {
		if _, err := c.CreateTable(ctx, &dynamodb.CreateTableInput{
			TableName: aws.String(name), BillingMode: types.BillingModePayPerRequest,
			AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String("id"), AttributeType: types.ScalarAttributeTypeS}},
			KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String("id"), KeyType: types.KeyTypeHash}},
		}); err != nil {
			t.Fatal(err)
		}
	}
	feed := srv.Subscribe("t")
	key := func(id string) map[string]types.AttributeValue { return map[string]types.AttributeValue{"id": s(id)} }
	must := func(_ any, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(c.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String("t"), Item: map[string]types.AttributeValue{"id": s("a"), "v": s("1")}}))
	must(c.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String("other"), Item: map[string]types.AttributeValue{"id": s("x")}}))
	must(c.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: aws.String("t"), Key: key("a"), UpdateExpression: aws.String("SET v = :v"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":v": s("2")}}))
	// Changes nothing: no record.
	must(c.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: aws.String("t"), Key: key("a"), UpdateExpression: aws.String("SET v = :v"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":v": s("2")}}))
	// Refused: no record.
	if _, err := c.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String("t"), Item: map[string]types.AttributeValue{"id": s("a")},
		ConditionExpression: aws.String("attribute_not_exists(id)")}); err == nil {
		t.Fatal("the conditional put went through")
	}
	must(c.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
		{Put: &types.Put{TableName: aws.String("t"), Item: map[string]types.AttributeValue{"id": s("b")}}},
		{Delete: &types.Delete{TableName: aws.String("t"), Key: key("a")}},
	}}))
	must(c.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{RequestItems: map[string][]types.WriteRequest{
		"t": {{PutRequest: &types.PutRequest{Item: map[string]types.AttributeValue{"id": s("c")}}}},
	}}))
	waitCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	got, err := feed.Next(waitCtx, 100)
	if err != nil {
		t.Fatal(err)
	}
	var seen []string
	for i, ch := range got {
		seen = append(seen, fmt.Sprintf("%s %s", ch.Event, ch.Keys["id"]))
		if i > 0 && ch.Seq <= got[i-1].Seq {
			t.Errorf("records out of order: %d after %d", ch.Seq, got[i-1].Seq)
		}
	}
	want := []string{`INSERT {"S":"a"}`, `MODIFY {"S":"a"}`, `INSERT {"S":"b"}`, `REMOVE {"S":"a"}`, `INSERT {"S":"c"}`}
	if fmt.Sprint(seen) != fmt.Sprint(want) {
		t.Fatalf("records %v, want %v", seen, want)
	}
	if got[1].Old == nil || got[1].New == nil || string(got[1].New["v"]) != `{"S":"2"}` {
		t.Fatalf("the MODIFY's images: %v %v", got[1].Old, got[1].New)
	}
}
