package storage

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/guance/aliyun-marketplace/shared/domain/guance"
)

// What a Guance console reads: an account to sign in, and its workspaces.

// WorkspacesByOwner is the workspaces table's index by owner.
const WorkspacesByOwner = "byOwner"

// GuanceAccount reads a Guance account by username (lower case).
func (s *Records) GuanceAccount(ctx context.Context, username string) (guance.Account, bool, error) {
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(s.tables.Accounts), Key: idKey(guanceKey(username)), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return guance.Account{}, false, fmt.Errorf("read Guance account: %w", err)
	}
	if len(out.Item) == 0 {
		return guance.Account{}, false, nil
	}
	var a guance.Account
	if err := attributevalue.UnmarshalMap(out.Item, &a); err != nil {
		return guance.Account{}, false, fmt.Errorf("unmarshal Guance account: %w", err)
	}
	return a, true, nil
}

// WorkspacesOwnedBy lists a Guance account's workspaces through the byOwner
// index, oldest first (paginated).
func (s *Records) WorkspacesOwnedBy(ctx context.Context, owner string) ([]guance.Workspace, error) {
	expr, err := expression.NewBuilder().WithKeyCondition(expression.Key("owner").Equal(expression.Value(owner))).Build()
	if err != nil {
		return nil, err
	}
	in := &dynamodb.QueryInput{
		TableName: aws.String(s.tables.Workspaces), IndexName: aws.String(WorkspacesByOwner),
		KeyConditionExpression: expr.KeyCondition(), ExpressionAttributeNames: expr.Names(), ExpressionAttributeValues: expr.Values(),
	}
	var list []guance.Workspace
	for {
		out, err := s.db.Query(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("query workspaces by owner: %w", err)
		}
		for _, item := range out.Items {
			var ws guance.Workspace
			if err := attributevalue.UnmarshalMap(item, &ws); err != nil {
				return nil, fmt.Errorf("unmarshal workspace: %w", err)
			}
			list = append(list, ws)
		}
		if len(out.LastEvaluatedKey) == 0 {
			return list, nil
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
}
