package storage

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/guance/aliyun-marketplace/shared/domain/activation"
	"github.com/guance/aliyun-marketplace/shared/domain/guance"
	"github.com/guance/aliyun-marketplace/shared/domain/metering"
	"github.com/guance/aliyun-marketplace/shared/domain/session"
)

// RecordsDB is the part of the DynamoDB client the records store uses.
type RecordsDB interface {
	DynamoDB
	PutItem(ctx context.Context, in *dynamodb.PutItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	BatchGetItem(ctx context.Context, in *dynamodb.BatchGetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error)
	Query(ctx context.Context, in *dynamodb.QueryInput, opts ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
}

// WorkspacesByBilling is the workspaces table's index by billing center
// account.
const WorkspacesByBilling = "byBillingAccount"

// Purchase reads, in one consistent BatchGetItem, the instance and the
// cloud account link of its UID (linked is false when there is none).
func (s *Records) Purchase(ctx context.Context, instanceID, uid string) (inst activation.Instance, link guance.CloudLink, linked bool, err error) {
	keys := map[string]types.KeysAndAttributes{
		s.tables.Instances: {Keys: []map[string]types.AttributeValue{{instanceKey: str(instanceID)}}, ConsistentRead: aws.Bool(true)},
		s.tables.Accounts:  {Keys: []map[string]types.AttributeValue{idKey(cloudKey(uid))}, ConsistentRead: aws.Bool(true)},
	}
	found, err := batchGet(ctx, s.db, keys)
	if err != nil {
		return inst, link, false, fmt.Errorf("read purchase %s: %w", instanceID, err)
	}
	if len(found[s.tables.Instances]) == 0 {
		return inst, link, false, fmt.Errorf("read purchase %s: %w", instanceID, activation.ErrInstanceNotFound)
	}
	if inst, err = unmarshalInstance(found[s.tables.Instances][0]); err != nil {
		return inst, link, false, fmt.Errorf("unmarshal instance %s: %w", instanceID, err)
	}
	if items := found[s.tables.Accounts]; len(items) > 0 {
		if err := attributevalue.UnmarshalMap(items[0], &link); err != nil {
			return inst, link, false, fmt.Errorf("unmarshal cloud link: %w", err)
		}
		linked = true
	}
	return inst, link, linked, nil
}

// Link reads the cloud account link of uid, consistently.
func (s *Records) Link(ctx context.Context, uid string) (guance.CloudLink, bool, error) {
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(s.tables.Accounts), Key: idKey(cloudKey(uid)), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return guance.CloudLink{}, false, fmt.Errorf("read cloud link: %w", err)
	}
	if len(out.Item) == 0 {
		return guance.CloudLink{}, false, nil
	}
	var link guance.CloudLink
	if err := attributevalue.UnmarshalMap(out.Item, &link); err != nil {
		return guance.CloudLink{}, false, fmt.Errorf("unmarshal cloud link: %w", err)
	}
	return link, true, nil
}

// UsernameByEmail finds the Guance account of an email through its guard.
func (s *Records) UsernameByEmail(ctx context.Context, email string) (string, bool, error) {
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(s.tables.Accounts), Key: idKey(emailGuardKey(email)), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return "", false, fmt.Errorf("read email guard: %w", err)
	}
	username := stringOf(out.Item["username"])
	return username, username != "", nil
}

// Workspaces lists the billing center account's workspaces through the
// index (paginated), adding those of ids the index may not show yet: an
// index is eventually consistent, and a workspace this purchase just
// created or settled must show. ids are read consistently, and win.
func (s *Records) Workspaces(ctx context.Context, account string, ids []string) ([]guance.Workspace, error) {
	expr, err := expression.NewBuilder().WithKeyCondition(expression.Key("billingAccount").Equal(expression.Value(account))).Build()
	if err != nil {
		return nil, err
	}
	byID := map[string]guance.Workspace{}
	var order []string
	in := &dynamodb.QueryInput{
		TableName: aws.String(s.tables.Workspaces), IndexName: aws.String(WorkspacesByBilling),
		KeyConditionExpression: expr.KeyCondition(), ExpressionAttributeNames: expr.Names(), ExpressionAttributeValues: expr.Values(),
	}
	for {
		out, err := s.db.Query(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("query workspaces: %w", err)
		}
		for _, item := range out.Items {
			var ws guance.Workspace
			if err := attributevalue.UnmarshalMap(item, &ws); err != nil {
				return nil, fmt.Errorf("unmarshal workspace: %w", err)
			}
			byID[ws.ID] = ws
			order = append(order, ws.ID)
		}
		if len(out.LastEvaluatedKey) == 0 {
			break
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
	if len(ids) > 0 {
		fresh, err := s.workspacesByID(ctx, ids)
		if err != nil {
			return nil, err
		}
		for _, ws := range fresh {
			if ws.BillingAccount != account {
				continue
			}
			if _, seen := byID[ws.ID]; !seen {
				order = append(order, ws.ID)
			}
			byID[ws.ID] = ws
		}
	}
	list := make([]guance.Workspace, 0, len(order))
	for _, id := range order {
		list = append(list, byID[id])
	}
	sort.SliceStable(list, func(i, j int) bool { return list[i].CreatedAt.Before(list[j].CreatedAt) })
	return list, nil
}

// workspacesByID reads workspaces consistently, 100 keys a batch.
func (s *Records) workspacesByID(ctx context.Context, ids []string) ([]guance.Workspace, error) {
	var list []guance.Workspace
	for start := 0; start < len(ids); start += 100 {
		var keys []map[string]types.AttributeValue
		for _, id := range ids[start:min(start+100, len(ids))] {
			keys = append(keys, idKey(id))
		}
		found, err := batchGet(ctx, s.db, map[string]types.KeysAndAttributes{s.tables.Workspaces: {Keys: keys, ConsistentRead: aws.Bool(true)}})
		if err != nil {
			return nil, fmt.Errorf("read workspaces: %w", err)
		}
		for _, item := range found[s.tables.Workspaces] {
			var ws guance.Workspace
			if err := attributevalue.UnmarshalMap(item, &ws); err != nil {
				return nil, fmt.Errorf("unmarshal workspace: %w", err)
			}
			list = append(list, ws)
		}
	}
	return list, nil
}

// Workspace reads one workspace, consistently.
func (s *Records) Workspace(ctx context.Context, id string) (guance.Workspace, bool, error) {
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(s.tables.Workspaces), Key: idKey(id), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return guance.Workspace{}, false, fmt.Errorf("read workspace: %w", err)
	}
	if len(out.Item) == 0 {
		return guance.Workspace{}, false, nil
	}
	var ws guance.Workspace
	if err := attributevalue.UnmarshalMap(out.Item, &ws); err != nil {
		return guance.Workspace{}, false, fmt.Errorf("unmarshal workspace: %w", err)
	}
	return ws, true, nil
}

// BindBilling links the buyer's UID and instance to an existing billing
// center account, in one transaction: the account must exist; the link is
// created, or must already name that account; the instance moves from
// pending to billing-bound (it must be the buyer's and active); the
// session's draft records it.
func (s *Records) BindBilling(ctx context.Context, b guance.BillingBind, step session.Step) error {
	name, value := expression.Name, expression.Value
	exists, err := expression.NewBuilder().WithCondition(name(idAttr).AttributeExists()).Build()
	if err != nil {
		return err
	}
	link, err := expression.NewBuilder().
		WithCondition(expression.Or(name(idAttr).AttributeNotExists(), name("billingAccount").Equal(value(b.Account)))).
		WithUpdate(expression.Set(name("cloud"), value(guance.CloudAliyun)).
			Set(name("uid"), value(b.UID)).
			Set(name("billingAccount"), value(b.Account)).
			Set(name("linkedAt"), expression.IfNotExists(name("linkedAt"), value(b.At))).
			Add(name("instances"), value(&types.AttributeValueMemberSS{Value: []string{b.Instance}})).
			Add(name("seq"), value(1))).
		Build()
	if err != nil {
		return err
	}
	inst, err := expression.NewBuilder().
		WithCondition(name(instanceKey).AttributeExists().
			And(name("aliUid").Equal(value(b.UID))).
			And(name("status").Equal(value(activation.StatusActive))).
			And(name("progress").Equal(value(activation.ProgressPending)))).
		WithUpdate(expression.Set(name("progress"), value(activation.ProgressBillingBound)).
			Set(name("billingAccount"), value(b.Account)).
			Set(name("updatedAt"), value(b.At))).
		Build()
	if err != nil {
		return err
	}
	draft, err := draftUpdate(s.tables.Sessions, step.SessionID, step.Flow, step.Draft, b.At)
	if err != nil {
		return err
	}
	err = transact(ctx, s.db, &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
		{ConditionCheck: &types.ConditionCheck{TableName: aws.String(s.tables.Accounts), Key: idKey(billingID(b.Account)),
			ConditionExpression: exists.Condition(), ExpressionAttributeNames: exists.Names()}},
		{Update: &types.Update{TableName: aws.String(s.tables.Accounts), Key: idKey(cloudKey(b.UID)),
			UpdateExpression: link.Update(), ConditionExpression: link.Condition(), ExpressionAttributeNames: link.Names(), ExpressionAttributeValues: link.Values()}},
		{Update: &types.Update{TableName: aws.String(s.tables.Instances), Key: map[string]types.AttributeValue{instanceKey: str(b.Instance)},
			UpdateExpression: inst.Update(), ConditionExpression: inst.Condition(), ExpressionAttributeNames: inst.Names(), ExpressionAttributeValues: inst.Values(),
			ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld}},
		draft,
	}})
	switch i := canceledAt(err); {
	case err == nil:
		return nil
	case i == 0:
		return guance.ErrNoSuchAccount
	case i == 1:
		return guance.ErrUIDLinked
	case i == 2:
		return s.whyNotActivatable(ctx, b.Instance, b.UID, reasonItem(err, 2))
	case i == 3:
		return session.ErrNotFound
	}
	return fmt.Errorf("bind billing center account: %w", err)
}

// settleInstance is the instance's part of a workspace's settlement: it
// becomes (or stays) activated under the billing center account, with the
// workspace among those it settles. It must be the buyer's and active, and
// either bound to this account already, or pending for a UID linked to it
// (a later purchase of an activated buyer).
func (s *Records) settleInstance(account, uid, instance, workspaceID, site string, at time.Time) (types.TransactWriteItem, error) {
	name, value := expression.Name, expression.Value
	mine := name("billingAccount").Equal(value(account)).
		And(expression.Or(name("progress").Equal(value(activation.ProgressBillingBound)), name("progress").Equal(value(activation.ProgressActivated))))
	fresh := name("progress").Equal(value(activation.ProgressPending)).And(name("billingAccount").AttributeNotExists())
	cond := name(instanceKey).AttributeExists().
		And(name("aliUid").Equal(value(uid))).
		And(name("status").Equal(value(activation.StatusActive))).
		And(expression.Or(mine, fresh))
	return s.settling(instance, cond, account, workspaceID, site, at)
}

// settling is the instance's write when a workspace is settled through it,
// under cond: activated under account, its login site kept if it has one,
// the workspace on its list and metered from at, no longer a pending
// activation awaiting a check. A refusal returns the item as it was.
func (s *Records) settling(instance string, cond expression.ConditionBuilder, account, workspaceID, site string, at time.Time) (types.TransactWriteItem, error) {
	name, value := expression.Name, expression.Value
	expr, err := expression.NewBuilder().WithCondition(cond).
		WithUpdate(expression.Set(name("progress"), value(activation.ProgressActivated)).
			Set(name("billingAccount"), value(account)).
			Set(name("loginSite"), expression.IfNotExists(name("loginSite"), value(site))).
			Set(name("updatedAt"), value(at)).
			Add(name("workspaces"), value(&types.AttributeValueMemberSS{Value: []string{workspaceID}})).
			Remove(name("awaiting")).Remove(name("checkAt")).
			Set(name("metering"), value(activation.MeteringOn)).
			Set(name("meteredFrom"), expression.IfNotExists(name("meteredFrom"), value(epoch(at)))).
			Set(name("meteredUntil"), expression.IfNotExists(name("meteredUntil"), value(epoch(metering.Ceil(at))))).
			Add(name("meteredWorkspaces"), value(&types.AttributeValueMemberSS{Value: []string{metering.FormatMember(workspaceID, at)}}))).
		Build()
	if err != nil {
		return types.TransactWriteItem{}, err
	}
	return types.TransactWriteItem{Update: &types.Update{
		TableName: aws.String(s.tables.Instances), Key: map[string]types.AttributeValue{instanceKey: str(instance)},
		UpdateExpression: expr.Update(), ConditionExpression: expr.Condition(), ExpressionAttributeNames: expr.Names(), ExpressionAttributeValues: expr.Values(),
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	}}, nil
}

// keepLink is the cloud link's part: it must still name the account, and
// now counts the instance among those bound through it.
func (s *Records) keepLink(account, uid, instance string) (types.TransactWriteItem, error) {
	name, value := expression.Name, expression.Value
	expr, err := expression.NewBuilder().
		WithCondition(name("billingAccount").Equal(value(account))).
		WithUpdate(expression.Add(name("instances"), value(&types.AttributeValueMemberSS{Value: []string{instance}})).Add(name("seq"), value(1))).
		Build()
	if err != nil {
		return types.TransactWriteItem{}, err
	}
	return types.TransactWriteItem{Update: &types.Update{
		TableName: aws.String(s.tables.Accounts), Key: idKey(cloudKey(uid)),
		UpdateExpression: expr.Update(), ConditionExpression: expr.Condition(), ExpressionAttributeNames: expr.Names(), ExpressionAttributeValues: expr.Values(),
	}}, nil
}

// SettleWorkspace settles an existing workspace of the billing center
// account through the buyer's instance, in one transaction with the
// instance's activation and the link's check.
func (s *Records) SettleWorkspace(ctx context.Context, st guance.Settle) error {
	name, value := expression.Name, expression.Value
	settlement, err := attributevalue.Marshal(guance.ByInstance(st.UID, st.Instance))
	if err != nil {
		return err
	}
	ws, err := expression.NewBuilder().
		WithCondition(name("billingAccount").Equal(value(st.Account)).
			And(name("settlement.type").Equal(value(guance.SettledByBillingCenter)))).
		WithUpdate(expression.Set(name("settlement"), value(settlement))).
		Build()
	if err != nil {
		return err
	}
	inst, err := s.settleInstance(st.Account, st.UID, st.Instance, st.WorkspaceID, st.Site, st.At)
	if err != nil {
		return err
	}
	link, err := s.keepLink(st.Account, st.UID, st.Instance)
	if err != nil {
		return err
	}
	err = transact(ctx, s.db, &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
		{Update: &types.Update{TableName: aws.String(s.tables.Workspaces), Key: idKey(st.WorkspaceID),
			UpdateExpression: ws.Update(), ConditionExpression: ws.Condition(), ExpressionAttributeNames: ws.Names(), ExpressionAttributeValues: ws.Values(),
			ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld}},
		inst, link,
	}})
	switch i := canceledAt(err); {
	case err == nil:
		return nil
	case i == 0:
		return s.whyNotSettable(ctx, st.WorkspaceID, st.Account, st.UID, st.Instance, reasonItem(err, 0))
	case i == 1:
		return s.whyNotSettling(ctx, st.Instance, st.UID, st.Account, reasonItem(err, 1))
	case i == 2:
		return guance.ErrLinkChanged
	}
	return fmt.Errorf("settle workspace: %w", err)
}

// CreateWorkspace creates a workspace settled through the buyer's
// instance, owned by an existing Guance account (which must exist) or by
// one registered with it (username and email guards), in one transaction
// with the instance's activation, the link's check and the session's
// draft. The workspace's id comes from the draft, so the same form sent
// twice creates it once: the repeat finds it, settled through this
// purchase, and is done.
func (s *Records) CreateWorkspace(ctx context.Context, c guance.NewWorkspace, step session.Step) error {
	ws, err := attributevalue.MarshalMapWithOptions(c.Workspace, func(o *attributevalue.EncoderOptions) { o.OmitEmptyTime = true })
	if err != nil {
		return fmt.Errorf("marshal workspace: %w", err)
	}
	put, err := s.put(s.tables.Workspaces, ws)
	if err != nil {
		return err
	}
	inst, err := s.settleInstance(c.Workspace.BillingAccount, c.UID, c.Instance, c.Workspace.ID, c.Workspace.Site, c.At)
	if err != nil {
		return err
	}
	link, err := s.keepLink(c.Workspace.BillingAccount, c.UID, c.Instance)
	if err != nil {
		return err
	}
	draft, err := draftUpdate(s.tables.Sessions, step.SessionID, step.Flow, step.Draft, c.At)
	if err != nil {
		return err
	}
	items := []types.TransactWriteItem{put, inst, link, draft} // 0 to 3
	if c.NewAccount != nil {
		account, err := withID(*c.NewAccount, guanceKey(c.NewAccount.Username))
		if err != nil {
			return fmt.Errorf("marshal account: %w", err)
		}
		guard := map[string]types.AttributeValue{idAttr: str(emailGuardKey(c.NewAccount.Email)), "username": str(c.NewAccount.Username)}
		for _, item := range []map[string]types.AttributeValue{account, guard} { // 4, 5
			put, err := s.put(s.tables.Accounts, item)
			if err != nil {
				return err
			}
			items = append(items, put)
		}
	} else {
		exists, err := expression.NewBuilder().WithCondition(expression.Name(idAttr).AttributeExists()).Build()
		if err != nil {
			return err
		}
		items = append(items, types.TransactWriteItem{ConditionCheck: &types.ConditionCheck{ // 4
			TableName: aws.String(s.tables.Accounts), Key: idKey(guanceKey(c.Workspace.Owner)),
			ConditionExpression: exists.Condition(), ExpressionAttributeNames: exists.Names(),
		}})
	}
	err = transact(ctx, s.db, &dynamodb.TransactWriteItemsInput{TransactItems: items})
	switch i := canceledAt(err); {
	case err == nil:
		return nil
	case i == 0:
		// The id is taken: by this very form, sent before, if the
		// workspace is settled through this purchase.
		got, ok, err := s.Workspace(ctx, c.Workspace.ID)
		if err != nil {
			return err
		}
		if ok && got.Settlement == guance.ByInstance(c.UID, c.Instance) {
			return nil
		}
		return fmt.Errorf("create workspace: the generated id %s is taken", c.Workspace.ID)
	case i == 1:
		return s.whyNotSettling(ctx, c.Instance, c.UID, c.Workspace.BillingAccount, reasonItem(err, 1))
	case i == 2:
		return guance.ErrLinkChanged
	case i == 3:
		return session.ErrNotFound
	case c.NewAccount != nil && i == 4:
		return guance.ErrUsernameTaken
	case c.NewAccount != nil && i == 5:
		return guance.ErrEmailTaken
	case c.NewAccount == nil && i == 4:
		return guance.ErrNoSuchAccount
	}
	return fmt.Errorf("create workspace: %w", err)
}

// whyNotSettable reads why a workspace refused its settlement: nil when
// it is settled through this very purchase (a retried bind that went
// through).
func (s *Records) whyNotSettable(ctx context.Context, id, account, uid, instance string, old map[string]types.AttributeValue) error {
	var ws guance.Workspace
	if len(old) == 0 {
		got, ok, err := s.Workspace(ctx, id)
		if err != nil {
			return err
		}
		if !ok {
			return guance.ErrWorkspaceGone
		}
		ws = got
	} else if err := attributevalue.UnmarshalMap(old, &ws); err != nil {
		return fmt.Errorf("unmarshal workspace: %w", err)
	}
	switch {
	case ws.BillingAccount != account:
		return guance.ErrWorkspaceGone
	case ws.Settlement == guance.ByInstance(uid, instance):
		return nil
	}
	return guance.ErrWorkspaceSettled
}

// whyNotSettling reads why the instance refused to settle a workspace.
func (s *Records) whyNotSettling(ctx context.Context, id, uid, account string, old map[string]types.AttributeValue) error {
	inst, err := s.refusedInstance(ctx, id, old)
	if err != nil {
		return err
	}
	switch {
	case inst.AliUID != uid:
		return activation.ErrNotYours
	case inst.Status != activation.StatusActive:
		return activation.ErrNotLive
	case inst.BillingAccount != "" && inst.BillingAccount != account:
		return guance.ErrOtherBilling
	}
	return activation.ErrNotPending
}
