package storage

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/guance/aliyun-marketplace/shared/domain/guance"
)

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

// CreateBilling records a billing center account on its own, as one that
// existed before the marketplace (the local stack's demo customer, tests);
// the username must be free. Registration writes its accounts in its own
// transaction.
func (s *Accounts) CreateBilling(ctx context.Context, a guance.BillingAccount) error {
	item, err := withID(a, billingID(a.Username))
	if err != nil {
		return fmt.Errorf("marshal billing account: %w", err)
	}
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
		TableName: aws.String(s.table), Key: idKey(billingID(username)),
		ProjectionExpression: proj.Projection(), ExpressionAttributeNames: proj.Names(),
	})
	if err != nil {
		return "", false, fmt.Errorf("read billing account: %w", err)
	}
	email := stringOf(out.Item["email"])
	return email, email != "", nil
}
