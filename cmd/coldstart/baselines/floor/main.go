// Command floor is the cold-start floor of a function that uses DynamoDB:
// bare plus the AWS SDK's default configuration and a DynamoDB client at
// init, and one DynamoDB call (DescribeTable of TABLE_NAME) per event. No
// function of the project that reads DynamoDB can start faster than this,
// so it is what their cold starts are compared with.
package main

import (
	"context"
	"fmt"
	"log"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
)

func main() {
	cfg, err := config.LoadDefaultConfig(context.Background())
	if err != nil {
		log.Fatalf("load AWS configuration: %v", err)
	}
	// As storage.NewClient: the local DynamoDB-compatible server sends
	// no CRC32 header, so the check is off only against a local endpoint.
	local := os.Getenv("AWS_ENDPOINT_URL_DYNAMODB") != ""
	client := dynamodb.NewFromConfig(cfg, func(o *dynamodb.Options) {
		o.DisableValidateResponseChecksum = local
	})
	table := os.Getenv("TABLE_NAME")

	lambda.Start(func(ctx context.Context) (string, error) {
		out, err := client.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(table)})
		if err != nil {
			return "", fmt.Errorf("describe table %s: %w", table, err)
		}
		return aws.ToString(out.Table.TableName), nil
	})
}
