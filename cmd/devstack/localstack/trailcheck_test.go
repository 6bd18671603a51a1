package localstack_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/guance/aliyun-marketplace/cmd/devstack/localstack"
	"github.com/guance/aliyun-marketplace/cmd/devstack/simulator"
	"github.com/guance/aliyun-marketplace/shared/domain/marketplace"
)

// TestTrailCheckFindsAChangeWithoutItsEvent: the check every stack test
// ends with sees a lifecycle call's change with its event, and a change
// made around the product's writes (a hand edit of an instance) without
// one.
func TestTrailCheckFindsAChangeWithoutItsEvent(t *testing.T) {
	s := startStack(t)
	trail, _ := trails.Load(s)
	check := trail.(*localstack.TrailCheck)
	client := &simulator.Client{SPIURL: s.APIURL + "/aliyun/spi", Key: localstack.ISVKey()}
	if _, err := client.Call(context.Background(), simulator.SampleParams(marketplace.ActionCreateInstance, "5604018", time.Now()), false); err != nil {
		t.Fatal(err)
	}
	if v := check.Violations(); len(v) != 0 || check.Changes == 0 {
		t.Fatalf("createInstance: %v (%d changes seen)", v, check.Changes)
	}
	_, err := localstack.DynamoDBClient(s.DynamoDBURL).UpdateItem(context.Background(), &dynamodb.UpdateItemInput{
		TableName: aws.String("InstancesTable"), Key: map[string]types.AttributeValue{"instanceId": &types.AttributeValueMemberS{Value: "5604018"}},
		UpdateExpression:          aws.String("SET #s = :s"),
		ExpressionAttributeNames:  map[string]string{"#s": "status"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":s": &types.AttributeValueMemberS{Value: "frozen"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	v := check.Violations()
	if len(v) != 1 || !strings.Contains(v[0], "instanceId=5604018") || !strings.Contains(v[0], "status") {
		t.Fatalf("a hand edit: %v", v)
	}
}
