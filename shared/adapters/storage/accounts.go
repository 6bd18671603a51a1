package storage

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/guance/aliyun-marketplace/shared/domain/guance"
)

// The accounts table: Guance accounts ("guance#<username>"), the guards
// that make an email unique ("guance-email#<email>"), billing center
// accounts ("billing#<username>") and cloud account links
// ("cloud#aliyun#<uid>"); usernames and emails in lower case.

func guanceKey(username string) string  { return "guance#" + username }
func emailGuardKey(email string) string { return "guance-email#" + email }
func billingID(username string) string  { return "billing#" + username }
func cloudKey(uid string) string        { return "cloud#" + guance.CloudAliyun + "#" + uid }

// newAccount is a Guance account's two items: the account and its email's
// guard, each refused if taken.
func (t *tx) newAccount(a guance.Account) {
	account, err := withID(a, guanceKey(a.Username))
	t.fail(err)
	t.put(t.s.t.Accounts, account, idAttr, because(guance.ErrUsernameTaken))
	guard := idKey(emailGuardKey(a.Email))
	guard["username"] = str(a.Username)
	t.put(t.s.t.Accounts, guard, idAttr, because(guance.ErrEmailTaken))
}

// link reads the cloud account link of uid, consistently.
func (s *Store) link(ctx context.Context, uid string) (guance.CloudLink, bool, error) {
	item, err := s.get(ctx, s.t.Accounts, idKey(cloudKey(uid)))
	if err != nil {
		return guance.CloudLink{}, false, fmt.Errorf("read cloud link: %w", err)
	}
	if len(item) == 0 {
		return guance.CloudLink{}, false, nil
	}
	var link guance.CloudLink
	if err := attributevalue.UnmarshalMap(item, &link); err != nil {
		return guance.CloudLink{}, false, fmt.Errorf("unmarshal cloud link: %w", err)
	}
	return link, true, nil
}

// usernameByEmail finds the Guance account of an email through its guard.
func (s *Store) usernameByEmail(ctx context.Context, email string) (string, bool, error) {
	item, err := s.get(ctx, s.t.Accounts, idKey(emailGuardKey(email)))
	if err != nil {
		return "", false, fmt.Errorf("read email guard: %w", err)
	}
	username := stringOf(item["username"])
	return username, username != "", nil
}

// guanceAccount reads a Guance account by username (lower case).
func (s *Store) guanceAccount(ctx context.Context, username string) (guance.Account, bool, error) {
	item, err := s.get(ctx, s.t.Accounts, idKey(guanceKey(username)))
	if err != nil {
		return guance.Account{}, false, fmt.Errorf("read Guance account: %w", err)
	}
	if len(item) == 0 {
		return guance.Account{}, false, nil
	}
	var a guance.Account
	if err := attributevalue.UnmarshalMap(item, &a); err != nil {
		return guance.Account{}, false, fmt.Errorf("unmarshal Guance account: %w", err)
	}
	return a, true, nil
}

// ErrAccountExists means the username is taken.
var ErrAccountExists = errors.New("the username is taken")

// Accounts are the billing center accounts, for the code sender (an
// account's email) and for seeding accounts that existed before.
type Accounts struct{ st *Store }

// CreateBilling records a billing center account on its own, as one that
// existed before the marketplace (the local stack's demo customer, tests);
// the username must be free. Registration writes its accounts in its own
// transaction.
func (s *Accounts) CreateBilling(ctx context.Context, a guance.BillingAccount) error {
	item, err := withID(a, billingID(a.Username))
	if err != nil {
		return fmt.Errorf("marshal billing account: %w", err)
	}
	refused, err := s.st.putNew(ctx, s.st.t.Accounts, item, idAttr)
	switch {
	case err != nil:
		return fmt.Errorf("create billing account: %w", err)
	case refused:
		return ErrAccountExists
	}
	return nil
}

// BillingEmail returns the email on file for username (already normalized).
func (s *Accounts) BillingEmail(ctx context.Context, username string) (string, bool, error) {
	proj, err := expression.NewBuilder().WithProjection(expression.NamesList(expression.Name("email"))).Build()
	if err != nil {
		return "", false, err
	}
	out, err := s.st.db.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: aws.String(s.st.t.Accounts), Key: idKey(billingID(username)),
		ProjectionExpression: proj.Projection(), ExpressionAttributeNames: proj.Names(),
	})
	if err != nil {
		return "", false, fmt.Errorf("read billing account: %w", err)
	}
	email := stringOf(out.Item["email"])
	return email, email != "", nil
}

// Links are the cloud account links, for the SSO page.
type Links struct{ st *Store }

// Link reads the cloud account link of uid, consistently.
func (s *Links) Link(ctx context.Context, uid string) (guance.CloudLink, bool, error) {
	return s.st.link(ctx, uid)
}
