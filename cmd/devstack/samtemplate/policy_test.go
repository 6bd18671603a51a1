package samtemplate_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"path/filepath"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/guance/aliyun-marketplace/cmd/devstack/samtemplate"
	"github.com/guance/aliyun-marketplace/shared/adapters/storage"
	"github.com/guance/aliyun-marketplace/shared/domain/activation"
	"github.com/guance/aliyun-marketplace/shared/domain/marketplace"
	"github.com/guance/aliyun-marketplace/shared/endpoints/callback"
)

// grants reads a function's inline policy statements from template.yaml as
// "action Resource" strings, Resource being the logical id of a table
// (InstancesTable) or of one of its indexes (InstancesTable/index/x).
func grants(t *testing.T, function string) map[string]bool {
	t.Helper()
	statements, err := samtemplate.Statements(filepath.Join("..", "..", "..", "template.yaml"), function)
	if err != nil {
		t.Fatal(err)
	}
	return samtemplate.Grants(statements)
}

// recordingDB answers every call with success and notes the IAM action
// and table each one (and each item of a transaction) needs.
type recordingDB struct {
	storage.DB // the calls the SPI never makes
	needs      []string
}

func (r *recordingDB) GetItem(_ context.Context, in *dynamodb.GetItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	r.needs = append(r.needs, "dynamodb:GetItem "+aws.ToString(in.TableName))
	return &dynamodb.GetItemOutput{}, nil
}

func (r *recordingDB) UpdateItem(_ context.Context, in *dynamodb.UpdateItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	r.needs = append(r.needs, "dynamodb:UpdateItem "+aws.ToString(in.TableName))
	return &dynamodb.UpdateItemOutput{}, nil
}

func (r *recordingDB) TransactWriteItems(_ context.Context, in *dynamodb.TransactWriteItemsInput, _ ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error) {
	for _, it := range in.TransactItems {
		switch {
		case it.Put != nil:
			r.needs = append(r.needs, "dynamodb:PutItem "+aws.ToString(it.Put.TableName))
		case it.Update != nil:
			r.needs = append(r.needs, "dynamodb:UpdateItem "+aws.ToString(it.Update.TableName))
		case it.Delete != nil:
			r.needs = append(r.needs, "dynamodb:DeleteItem "+aws.ToString(it.Delete.TableName))
		case it.ConditionCheck != nil:
			r.needs = append(r.needs, "dynamodb:ConditionCheckItem "+aws.ToString(it.ConditionCheck.TableName))
		}
	}
	return &dynamodb.TransactWriteItemsOutput{}, nil
}

// TestReconcilePolicyCoversFailedOrderPay: an orderPay is recorded by
// Instances.RecordPayment, a TransactWriteItems whose items include a Put
// on the instances table (the order's idempotency key) and the event on
// the audit trail. The reconciliation applies a failed one
// (Service.ApplyNotification, the documented message: no token, no
// requestId) and the SPI a delivered one (callback.Apply): each
// function's role must grant what its path issues, or every orderPay is
// refused in AWS and retried for ever.
func TestReconcilePolicyCoversFailedOrderPay(t *testing.T) {
	const key = "an-isv-key"
	params := marketplace.Params{
		"action": "orderPay", "orderBizId": "5700001",
		"aliUid": "1234567890123456", "orderId": "200000000000001", "productCode": "cmgj00053362", "skuId": "cmgj00053362-postpay",
	}
	message, err := json.Marshal(params)
	if err != nil {
		t.Fatal(err)
	}
	newService := func() (*activation.Service, *recordingDB) {
		db := &recordingDB{}
		return activation.NewService(storage.New(db, storage.Tables{Instances: "InstancesTable", Audit: "AuditTable"}).Instances(), nil, slog.New(slog.NewTextHandler(io.Discard, nil))), db
	}
	check := func(function string, db *recordingDB) {
		t.Helper()
		if len(db.needs) == 0 {
			t.Fatalf("%s: no call recorded", function)
		}
		granted := grants(t, function)
		for _, need := range db.needs {
			if !granted[need] {
				t.Errorf("an orderPay applied by %s issues %q, which its policy does not grant", function, need)
			}
		}
	}
	service, db := newService()
	if _, err := service.ApplyNotification(context.Background(), marketplace.FailedNotification{ID: "n-1", Action: "orderPay", Message: string(message)}); err != nil {
		t.Fatal(err)
	}
	check("ReconcileFunction", db)

	params["requestId"] = "0123456789abcdef0123456789abcdef"
	params["token"] = marketplace.Sign(params, key)
	service, db = newService()
	if _, _, err := callback.Apply(context.Background(), params, service, key); err != nil {
		t.Fatal(err)
	}
	check("MarketplaceCallbackFunction", db)
}
