package dynamolocal_test

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// TestExclusiveStartKeyOfAnItemThatLeftTheIndex: DynamoDB resumes a
// Query strictly after the ExclusiveStartKey's position, whether or not an
// item is still there: when that item left the sparse index (the
// reconciliation's normal case: the last item of a page was processed),
// the next page must not start over from the first row.
func TestExclusiveStartKeyOfAnItemThatLeftTheIndex(t *testing.T) {
	c := start(t)
	ctx := context.Background()
	for _, id := range []string{"a", "b", "c"} {
		if _, err := c.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String("t"), Item: map[string]types.AttributeValue{"id": s(id), "due": s("yes")}}); err != nil {
			t.Fatal(err)
		}
	}
	query := func(start map[string]types.AttributeValue) *dynamodb.QueryOutput {
		out, err := c.Query(ctx, &dynamodb.QueryInput{TableName: aws.String("t"), IndexName: aws.String("due"),
			KeyConditionExpression: aws.String("#d = :d"), ExpressionAttributeNames: map[string]string{"#d": "due"},
			ExpressionAttributeValues: map[string]types.AttributeValue{":d": s("yes")}, Limit: aws.Int32(2), ExclusiveStartKey: start})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	first := query(nil) // a, b
	// b was processed and left the index; a stays (its work failed).
	if _, err := c.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: aws.String("t"), Key: map[string]types.AttributeValue{"id": s("b")}, UpdateExpression: aws.String("REMOVE #d"), ExpressionAttributeNames: map[string]string{"#d": "due"}}); err != nil {
		t.Fatal(err)
	}
	second := query(first.LastEvaluatedKey)
	var ids []string
	for _, it := range second.Items {
		ids = append(ids, it["id"].(*types.AttributeValueMemberS).Value)
	}
	if len(ids) != 1 || ids[0] != "c" {
		t.Errorf("the page after b: %v, want [c] (AWS resumes after the key's position)", ids)
	}
}
