package storage

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/guance/aliyun-marketplace/shared/domain/activation"
	"github.com/guance/aliyun-marketplace/shared/domain/guance"
	"github.com/guance/aliyun-marketplace/shared/domain/outbox"
	"github.com/guance/aliyun-marketplace/shared/domain/session"
)

// Records keeps the Guance records of the flows (accounts, billing center
// accounts, cloud account links, workspaces) and writes each flow's step
// with the instance it changes, in one transaction.
//
// Keys of the accounts table: "guance#<username>" (a Guance account),
// "guance-email#<email>" (the guard that makes an email unique),
// "billing#<username>" (a billing center account), "cloud#aliyun#<uid>"
// (a cloud account link). Workspaces have their own table, keyed by id and
// listed through its indexes.
type Records struct {
	db     RecordsDB
	tables Tables
}

// NewRecords returns the store over tables.
func NewRecords(db RecordsDB, tables Tables) *Records { return &Records{db: db, tables: tables} }

// Keys of the accounts table.
func guanceKey(username string) string  { return "guance#" + username }
func emailGuardKey(email string) string { return "guance-email#" + email }
func billingID(username string) string  { return "billing#" + username }
func cloudKey(uid string) string        { return "cloud#" + guance.CloudAliyun + "#" + uid }

// put is a transaction item that creates item under key, refusing if the
// key exists.
func (s *Records) put(table string, item map[string]types.AttributeValue) (types.TransactWriteItem, error) {
	fresh, err := notExists()
	if err != nil {
		return types.TransactWriteItem{}, err
	}
	return types.TransactWriteItem{Put: &types.Put{
		TableName: aws.String(table), Item: item,
		ConditionExpression: fresh.Condition(), ExpressionAttributeNames: fresh.Names(),
	}}, nil
}

func withID(v any, id string) (map[string]types.AttributeValue, error) {
	item, err := attributevalue.MarshalMapWithOptions(v, func(o *attributevalue.EncoderOptions) { o.OmitEmptyTime = true })
	if err != nil {
		return nil, err
	}
	item[idAttr] = str(id)
	return item, nil
}

// Register writes a new buyer's registration in one TransactWriteItems:
// the Guance account and its email guard, the billing center account, the
// cloud account link, the workspace, the instance moved from pending to
// activated (conditioned on it still being pending, active and the
// buyer's), the session's draft and the welcome mail. Any refusal cancels
// all; the error says which invariant refused.
func (s *Records) Register(ctx context.Context, r guance.Registration, step session.Step, mail *outbox.Item) error {
	var items []types.TransactWriteItem
	add := func(item types.TransactWriteItem, err error) error {
		if err != nil {
			return err
		}
		items = append(items, item)
		return nil
	}
	account, err := withID(r.Account, guanceKey(r.Account.Username))
	if err != nil {
		return fmt.Errorf("marshal account: %w", err)
	}
	billing, err := withID(r.Billing, billingID(r.Billing.Username))
	if err != nil {
		return fmt.Errorf("marshal billing account: %w", err)
	}
	link, err := withID(guance.CloudLink{Cloud: guance.CloudAliyun, UID: r.UID, BillingAccount: r.Billing.Username, Instances: []string{r.Instance}, Seq: 1, LinkedAt: r.At}, cloudKey(r.UID))
	if err != nil {
		return fmt.Errorf("marshal cloud link: %w", err)
	}
	workspace, err := attributevalue.MarshalMapWithOptions(r.Workspace, func(o *attributevalue.EncoderOptions) { o.OmitEmptyTime = true })
	if err != nil {
		return fmt.Errorf("marshal workspace: %w", err)
	}
	guard := map[string]types.AttributeValue{idAttr: str(emailGuardKey(r.Account.Email)), "username": str(r.Account.Username)}
	for _, err := range []error{
		add(s.put(s.tables.Accounts, account)),                                           // 0
		add(s.put(s.tables.Accounts, guard)),                                             // 1
		add(s.put(s.tables.Accounts, billing)),                                           // 2
		add(s.put(s.tables.Accounts, link)),                                              // 3
		add(s.put(s.tables.Workspaces, workspace)),                                       // 4
		add(s.settleFirst(r.UID, r.Instance, r.Workspace, r.At)),                         // 5
		add(draftUpdate(s.tables.Sessions, step.SessionID, step.Flow, step.Draft, r.At)), // 6
	} {
		if err != nil {
			return err
		}
	}
	if mail != nil {
		if err := add(outboxPut(s.tables.Outbox, *mail)); err != nil {
			return err
		}
	}
	err = transact(ctx, s.db, &dynamodb.TransactWriteItemsInput{TransactItems: items})
	switch i := canceledAt(err); {
	case err == nil:
		return nil
	case i == 0, i == 2:
		return guance.ErrUsernameTaken
	case i == 1:
		return guance.ErrEmailTaken
	case i == 3:
		return guance.ErrUIDLinked
	case i == 5:
		return s.whyNotActivatable(ctx, r.Instance, r.UID, reasonItem(err, 5))
	case i == 6:
		return session.ErrNotFound
	}
	return fmt.Errorf("register: %w", err)
}

// settleFirst moves a pending instance to activated with its first
// workspace: conditioned on it being the buyer's, pending and active.
func (s *Records) settleFirst(uid, instance string, ws guance.Workspace, at time.Time) (types.TransactWriteItem, error) {
	name, value := expression.Name, expression.Value
	cond := name(instanceKey).AttributeExists().
		And(name("aliUid").Equal(value(uid))).
		And(name("status").Equal(value(activation.StatusActive))).
		And(name("progress").Equal(value(activation.ProgressPending)))
	return s.settling(instance, cond, ws.BillingAccount, ws.ID, ws.Site, at)
}

// refusedInstance is the instance as it was when it refused a write: the
// refusal's old item when DynamoDB returned it, otherwise a consistent
// read (the refusal path only).
func (s *Records) refusedInstance(ctx context.Context, id string, old map[string]types.AttributeValue) (activation.Instance, error) {
	if len(old) == 0 {
		out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(s.tables.Instances), Key: map[string]types.AttributeValue{instanceKey: str(id)}, ConsistentRead: aws.Bool(true)})
		if err != nil {
			return activation.Instance{}, fmt.Errorf("read instance %s: %w", id, err)
		}
		old = out.Item
	}
	if len(old) == 0 {
		return activation.Instance{}, activation.ErrInstanceNotFound
	}
	inst, err := unmarshalInstance(old)
	if err != nil {
		return activation.Instance{}, fmt.Errorf("unmarshal instance %s: %w", id, err)
	}
	return inst, nil
}

// whyNotActivatable reads why the instance refused: from the refusal's old
// item when DynamoDB returned it, otherwise with a read (the refusal path
// only).
func (s *Records) whyNotActivatable(ctx context.Context, id, uid string, old map[string]types.AttributeValue) error {
	inst, err := s.refusedInstance(ctx, id, old)
	if err != nil {
		return err
	}
	if err := inst.CheckActivatable(uid); err != nil {
		return err
	}
	// It has become activatable again since the refusal: a race; say it
	// was taken, the buyer retries.
	return activation.ErrNotPending
}
