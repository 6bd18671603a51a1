package localstack

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/guance/aliyun-marketplace/shared/domain/guance"
	"github.com/guance/aliyun-marketplace/shared/domain/password"
)

// Customer is an existing Guance customer put into the local tables: a
// billing center account, the Guance account that owns its workspaces,
// and those workspaces. Locally there is no Guance platform to make them,
// and the binding path needs them.
type Customer struct {
	Billing  string // billing center username; codes go to <Billing>@billing.example
	Owner    string // Guance username; email <Owner>@example.com
	Password string // the owner's password, for the local console login; empty for none
	// Workspaces are the account's workspaces, settled by the billing
	// center unless Settlement says otherwise.
	Workspaces []guance.Workspace
}

// BillingEmail and OwnerEmail are where the customer's mail goes.
func (c Customer) BillingEmail() string { return c.Billing + "@billing.example" }
func (c Customer) OwnerEmail() string   { return c.Owner + "@example.com" }

// DemoCustomer is the customer `make dev` starts with: one workspace free
// to bind, one settled by another Alibaba Cloud account.
var DemoCustomer = Customer{
	Billing: "demo-billing", Owner: "demo-owner", Password: "Guance-demo-1",
	Workspaces: []guance.Workspace{
		{ID: "wksp_demo_production", Name: "Production", Lang: "en", Site: "cn1"},
		{ID: "wksp_demo_partner", Name: "Partner shop", Lang: "zh", Site: "cn4", Settlement: guance.ByInstance("1999999999999999", "5999999")},
	},
}

// PutCustomer writes the customer's records, in the layout the functions
// read (shared/storage). Records already there are left as they are, so a
// second run changes nothing.
func PutCustomer(ctx context.Context, db *dynamodb.Client, c Customer) error {
	account := guance.Account{Username: c.Owner, Email: c.OwnerEmail(), Lang: "en", CreatedAt: time.Now().UTC()}
	if c.Password != "" {
		hash, err := password.Hash(c.Password, password.Default)
		if err != nil {
			return err
		}
		account.PasswordHash = hash
	}
	type record struct {
		table, id string
		v         any
	}
	records := []record{
		{"AccountsTable", "billing#" + c.Billing, guance.BillingAccount{Username: c.Billing, Email: c.BillingEmail(), Lang: "en", CreatedAt: account.CreatedAt}},
		{"AccountsTable", "guance#" + c.Owner, account},
		{"AccountsTable", "guance-email#" + c.OwnerEmail(), map[string]string{"username": c.Owner}},
	}
	for i, ws := range c.Workspaces {
		ws.Owner, ws.BillingAccount = c.Owner, c.Billing
		if ws.Settlement.Type == "" {
			ws.Settlement = guance.Settlement{Type: guance.SettledByBillingCenter}
		}
		ws.CreatedAt = account.CreatedAt.Add(time.Duration(i) * time.Second)
		records = append(records, record{"WorkspacesTable", "", ws})
	}
	for _, r := range records {
		item, err := attributevalue.MarshalMap(r.v)
		if err != nil {
			return err
		}
		if r.id != "" {
			item["id"] = &types.AttributeValueMemberS{Value: r.id}
		}
		_, err = db.PutItem(ctx, &dynamodb.PutItemInput{
			TableName: aws.String(r.table), Item: item, ConditionExpression: aws.String("attribute_not_exists(id)"),
		})
		var exists *types.ConditionalCheckFailedException
		if err != nil && !errors.As(err, &exists) {
			return fmt.Errorf("put the customer's %s: %w", r.table, err)
		}
	}
	return nil
}
