package storage

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// BillingAccount is a billing center account as the accounts table keeps it.
type BillingAccount struct {
	Username string `dynamodbav:"username"`
	Email    string `dynamodbav:"email"`
	Phone    string `dynamodbav:"phone,omitempty"`
	Company  string `dynamodbav:"company,omitempty"`
}

// ErrAccountExists means the username is taken.
var ErrAccountExists = errors.New("the username is taken")

// Accounts stores billing center accounts under "billing#<username>"
// (usernames in lower case).
type Accounts struct {
	db    TableDB
	table string
}

// NewAccounts returns the store for the accounts table.
func NewAccounts(db TableDB, table string) *Accounts {
	return &Accounts{db: db, table: table}
}

func billingKey(username string) map[string]types.AttributeValue {
	return idKey("billing#" + username)
}

// CreateBilling records a new account; the username must be free.
func (s *Accounts) CreateBilling(ctx context.Context, a BillingAccount) error {
	item, err := attributevalue.MarshalMap(a)
	if err != nil {
		return fmt.Errorf("marshal billing account: %w", err)
	}
	item[idAttr] = billingKey(a.Username)[idAttr]
	fresh, err := notExists()
	if err != nil {
		return err
	}
	_, err = s.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(s.table), Item: item, ConditionExpression: fresh.Condition(), ExpressionAttributeNames: fresh.Names()})
	var refused *types.ConditionalCheckFailedException
	if errors.As(err, &refused) {
		return ErrAccountExists
	}
	if err != nil {
		return fmt.Errorf("create billing account: %w", err)
	}
	return nil
}

// BillingEmail returns the email on file for username (already normalized).
func (s *Accounts) BillingEmail(ctx context.Context, username string) (string, bool, error) {
	proj, err := expression.NewBuilder().WithProjection(expression.NamesList(expression.Name("email"))).Build()
	if err != nil {
		return "", false, err
	}
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: aws.String(s.table), Key: billingKey(username),
		ProjectionExpression: proj.Projection(), ExpressionAttributeNames: proj.Names(),
	})
	if err != nil {
		return "", false, fmt.Errorf("read billing account: %w", err)
	}
	email := stringOf(out.Item["email"])
	return email, email != "", nil
}
