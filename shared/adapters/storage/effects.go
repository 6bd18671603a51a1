package storage

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/guance/aliyun-marketplace/shared/domain/activation"
	"github.com/guance/aliyun-marketplace/shared/domain/guance"
	"github.com/guance/aliyun-marketplace/shared/domain/outbox"
)

// The effects of a status move (activation.Effects) on the records.

// Get reads one instance, consistently.
func (s *Records) Get(ctx context.Context, id string) (activation.Instance, error) {
	return NewInstances(s.db, s.tables.Instances).Get(ctx, id)
}

// ReleasedNoticeID is the outbox id of an instance's release notice: one
// per instance, whatever retries the release sees.
func ReleasedNoticeID(instance string) string { return "mail#released#" + instance }

// ReleaseStep puts up to n of the released instance's workspaces back on
// billing center settlement in one transaction, taking them off the
// instance's list. When they are the last, the same transaction takes the
// instance off its cloud account link (deleting the link when it was the
// last instance on it), writes the release notice to the outbox, and
// takes the instance off the effectsDue index. It returns done when that
// last transaction went through; otherwise the caller reads the instance
// again and goes on.
func (s *Records) ReleaseStep(ctx context.Context, inst activation.Instance, n int) (bool, error) {
	ids := slices.Sorted(slices.Values(inst.Workspaces))
	last := len(ids) <= n
	if !last {
		ids = ids[:n]
	}
	var items []types.TransactWriteItem
	for _, id := range ids {
		item, err := s.backToBillingCenter(id, inst.ID)
		if err != nil {
			return false, err
		}
		items = append(items, item)
	}
	linkAt, noticeAt := -1, -1
	if last && inst.BillingAccount != "" {
		// The link and the billing center account, in one read.
		linkID, accountID := cloudKey(inst.AliUID), billingID(inst.BillingAccount)
		found, err := batchGet(ctx, s.db, map[string]types.KeysAndAttributes{
			s.tables.Accounts: {Keys: []map[string]types.AttributeValue{idKey(linkID), idKey(accountID)}, ConsistentRead: aws.Bool(true)},
		})
		if err != nil {
			return false, fmt.Errorf("read the cloud link and billing center account of instance %s: %w", inst.ID, err)
		}
		read := map[string]map[string]types.AttributeValue{}
		for _, item := range found[s.tables.Accounts] {
			read[stringOf(item[idAttr])] = item
		}
		link, err := s.unlink(ctx, inst, read[linkID])
		if err != nil {
			return false, err
		}
		if link != nil {
			linkAt = len(items)
			items = append(items, *link)
		}
		notice, err := s.releaseNotice(inst, read[accountID])
		if err != nil {
			return false, err
		}
		noticeAt = len(items)
		items = append(items, notice)
	}
	self, err := s.releasedInstance(inst, ids, last)
	if err != nil {
		return false, err
	}
	items = append(items, self)

	err = transact(ctx, s.db, &dynamodb.TransactWriteItemsInput{TransactItems: items})
	switch i := canceledAt(err); {
	case err == nil:
		return last, nil
	case i >= 0 && i < len(ids):
		// Not settled through this instance (any more): nothing to put
		// back. Take it off the list alone, and go on.
		return false, s.forgetWorkspace(ctx, inst.ID, ids[i])
	case i == linkAt:
		return false, nil // the link changed since it was read: read again
	case i == noticeAt:
		// The notice is there: a release that finished before. Nothing
		// is left but the flag (the instance's condition is the guard).
		return false, s.EffectsDone(ctx, inst)
	case i == len(items)-1, conflicted(err):
		return false, nil // the instance moved on meanwhile: read again
	}
	return false, fmt.Errorf("release step of instance %s: %w", inst.ID, err)
}

// backToBillingCenter is a workspace's part of a release: settled by the
// billing center again, not suspended, if it is still settled through
// the instance.
func (s *Records) backToBillingCenter(workspaceID, instance string) (types.TransactWriteItem, error) {
	name, value := expression.Name, expression.Value
	settlement, err := attributevalue.Marshal(guance.Settlement{Type: guance.SettledByBillingCenter})
	if err != nil {
		return types.TransactWriteItem{}, err
	}
	expr, err := expression.NewBuilder().
		WithCondition(name("settlement.type").Equal(value(guance.SettledByCloud)).
			And(name("settlement.instance").Equal(value(instance)))).
		WithUpdate(expression.Set(name("settlement"), value(settlement)).
			Remove(name("suspended")).Remove(name("suspendedSeq"))).
		Build()
	if err != nil {
		return types.TransactWriteItem{}, err
	}
	return types.TransactWriteItem{Update: &types.Update{
		TableName: aws.String(s.tables.Workspaces), Key: idKey(workspaceID),
		UpdateExpression: expr.Update(), ConditionExpression: expr.Condition(),
		ExpressionAttributeNames: expr.Names(), ExpressionAttributeValues: expr.Values(),
	}}, nil
}

// unlink is the link's part of the last release step: the instance goes
// from the link, and the link goes with its last instance. The write is
// conditioned on the link being as read (its seq), so an instance bound
// meanwhile is never dropped with it. nil: the link does not hold the
// instance (never bound through it, or taken off already). item is the
// link as read (nil: none).
func (s *Records) unlink(ctx context.Context, inst activation.Instance, item map[string]types.AttributeValue) (*types.TransactWriteItem, error) {
	var link guance.CloudLink
	if err := attributevalue.UnmarshalMap(item, &link); err != nil {
		return nil, fmt.Errorf("unmarshal cloud link: %w", err)
	}
	if len(item) == 0 || !slices.Contains(link.Instances, inst.ID) {
		return nil, nil
	}
	name, value := expression.Name, expression.Value
	asRead := name("seq").Equal(value(link.Seq))
	if link.Seq == 0 {
		asRead = name("seq").AttributeNotExists()
	}
	last := len(link.Instances) == 1
	if last {
		// A later purchase of the UID, not activated yet, relies on the
		// link too (it goes straight to workspace binding): the link
		// stays while any other instance of the UID is live.
		others, err := s.otherLiveInstances(ctx, inst)
		if err != nil {
			return nil, err
		}
		last = !others
	}
	if last {
		expr, err := expression.NewBuilder().WithCondition(asRead).Build()
		if err != nil {
			return nil, err
		}
		return &types.TransactWriteItem{Delete: &types.Delete{
			TableName: aws.String(s.tables.Accounts), Key: idKey(cloudKey(inst.AliUID)),
			ConditionExpression: expr.Condition(), ExpressionAttributeNames: expr.Names(), ExpressionAttributeValues: expr.Values(),
		}}, nil
	}
	expr, err := expression.NewBuilder().WithCondition(asRead).
		WithUpdate(expression.Delete(name("instances"), value(&types.AttributeValueMemberSS{Value: []string{inst.ID}})).Add(name("seq"), value(1))).
		Build()
	if err != nil {
		return nil, err
	}
	return &types.TransactWriteItem{Update: &types.Update{
		TableName: aws.String(s.tables.Accounts), Key: idKey(cloudKey(inst.AliUID)),
		UpdateExpression: expr.Update(), ConditionExpression: expr.Condition(),
		ExpressionAttributeNames: expr.Names(), ExpressionAttributeValues: expr.Values(),
	}}, nil
}

// InstancesByUID is the instances table's index by buyer.
const InstancesByUID = "byAliUid"

// otherLiveInstances reports whether the instance's UID has another
// instance that is not released (the byAliUid index; a UID has few).
func (s *Records) otherLiveInstances(ctx context.Context, inst activation.Instance) (bool, error) {
	expr, err := expression.NewBuilder().WithKeyCondition(expression.Key("aliUid").Equal(expression.Value(inst.AliUID))).Build()
	if err != nil {
		return false, err
	}
	in := &dynamodb.QueryInput{
		TableName: aws.String(s.tables.Instances), IndexName: aws.String(InstancesByUID),
		KeyConditionExpression: expr.KeyCondition(), ExpressionAttributeNames: expr.Names(), ExpressionAttributeValues: expr.Values(),
	}
	for {
		out, err := s.db.Query(ctx, in)
		if err != nil {
			return false, fmt.Errorf("query the instances of a UID: %w", err)
		}
		for _, item := range out.Items {
			if stringOf(item[instanceKey]) != inst.ID && stringOf(item["status"]) != string(activation.StatusReleased) {
				return true, nil
			}
		}
		if len(out.LastEvaluatedKey) == 0 {
			return false, nil
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
}

// releaseNotice is the outbox mail telling the billing center account of
// the release, written once (its id is the instance's). read is the
// account as read (nil: none).
func (s *Records) releaseNotice(inst activation.Instance, read map[string]types.AttributeValue) (types.TransactWriteItem, error) {
	var account guance.BillingAccount
	if err := attributevalue.UnmarshalMap(read, &account); err != nil {
		return types.TransactWriteItem{}, fmt.Errorf("unmarshal billing center account: %w", err)
	}
	now := time.Now().UTC()
	item := outbox.New(outbox.KindReleased, account.Email, account.Lang, map[string]string{
		"instance": inst.ID, "account": inst.BillingAccount,
		"workspaces": strconv.Itoa(inst.ReleasedWorkspaces + len(inst.Workspaces)),
	}, now, outbox.Keep)
	item.ID = ReleasedNoticeID(inst.ID)
	if account.Email == "" {
		// No address to tell (an account removed since): nothing is sent.
		item.Kind, item.To = outbox.KindVoid, ""
	}
	put, err := outboxPut(s.tables.Outbox, item)
	if err != nil {
		return types.TransactWriteItem{}, err
	}
	fresh, err := notExists()
	if err != nil {
		return types.TransactWriteItem{}, err
	}
	put.Put.ConditionExpression, put.Put.ExpressionAttributeNames = fresh.Condition(), fresh.Names()
	return put, nil
}

// releasedInstance is the instance's part of a release step: the
// workspaces put back leave its list and are counted; with the last step
// the effects are done. It must still be released, with no later move.
func (s *Records) releasedInstance(inst activation.Instance, ids []string, last bool) (types.TransactWriteItem, error) {
	name, value := expression.Name, expression.Value
	update := expression.Set(name("updatedAt"), value(time.Now().UTC()))
	if len(ids) > 0 {
		update = update.Delete(name("workspaces"), value(&types.AttributeValueMemberSS{Value: ids})).
			Add(name("releasedWorkspaces"), value(len(ids)))
	}
	if last {
		update = update.Remove(name("effects")).Remove(name("effectsAt"))
	}
	expr, err := expression.NewBuilder().
		WithCondition(name("status").Equal(value(activation.StatusReleased)).And(name("effectsSeq").Equal(value(inst.EffectsSeq)))).
		WithUpdate(update).Build()
	if err != nil {
		return types.TransactWriteItem{}, err
	}
	return types.TransactWriteItem{Update: &types.Update{
		TableName: aws.String(s.tables.Instances), Key: map[string]types.AttributeValue{instanceKey: str(inst.ID)},
		UpdateExpression: expr.Update(), ConditionExpression: expr.Condition(),
		ExpressionAttributeNames: expr.Names(), ExpressionAttributeValues: expr.Values(),
	}}, nil
}

// forgetWorkspace takes a workspace off a released instance's list
// without touching the workspace (it is not settled through it).
func (s *Records) forgetWorkspace(ctx context.Context, instance, workspaceID string) error {
	name, value := expression.Name, expression.Value
	expr, err := expression.NewBuilder().
		// While effects are due the list is there (the last step takes both
		// at once), so the delete never lands on a finished release.
		WithCondition(name("status").Equal(value(activation.StatusReleased)).And(name("effects").AttributeExists())).
		WithUpdate(expression.Delete(name("workspaces"), value(&types.AttributeValueMemberSS{Value: []string{workspaceID}}))).
		Build()
	if err != nil {
		return err
	}
	_, err = s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: aws.String(s.tables.Instances), Key: map[string]types.AttributeValue{instanceKey: str(instance)},
		UpdateExpression: expr.Update(), ConditionExpression: expr.Condition(),
		ExpressionAttributeNames: expr.Names(), ExpressionAttributeValues: expr.Values(),
	})
	var refused *types.ConditionalCheckFailedException
	if errors.As(err, &refused) {
		return nil // the release is finished (another pass got there first)
	}
	if err != nil {
		return fmt.Errorf("forget workspace %s of instance %s: %w", workspaceID, instance, err)
	}
	return nil
}

// MarkWorkspace sets a workspace settled through the instance as
// suspended (for arrears) or not. seq orders the marks: a mark older than
// the workspace's changes nothing, and neither does one for a workspace
// no longer settled through the instance.
func (s *Records) MarkWorkspace(ctx context.Context, workspaceID, instance string, suspended bool, seq int) error {
	name, value := expression.Name, expression.Value
	expr, err := expression.NewBuilder().
		WithCondition(name("settlement.instance").Equal(value(instance)).
			And(expression.Or(name("suspendedSeq").AttributeNotExists(), name("suspendedSeq").LessThan(value(seq))))).
		WithUpdate(expression.Set(name("suspended"), value(suspended)).Set(name("suspendedSeq"), value(seq))).
		Build()
	if err != nil {
		return err
	}
	_, err = s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: aws.String(s.tables.Workspaces), Key: idKey(workspaceID),
		UpdateExpression: expr.Update(), ConditionExpression: expr.Condition(),
		ExpressionAttributeNames: expr.Names(), ExpressionAttributeValues: expr.Values(),
	})
	var refused *types.ConditionalCheckFailedException
	if err != nil && !errors.As(err, &refused) {
		return fmt.Errorf("mark workspace %s: %w", workspaceID, err)
	}
	return nil
}

// EffectsDone takes the instance off the effectsDue index, unless a later
// move flagged it again; that refusal is no error (the caller reads the
// instance again).
func (s *Records) EffectsDone(ctx context.Context, inst activation.Instance) error {
	name, value := expression.Name, expression.Value
	expr, err := expression.NewBuilder().
		WithCondition(name("effectsSeq").Equal(value(inst.EffectsSeq))).
		WithUpdate(expression.Remove(name("effects")).Remove(name("effectsAt"))).
		Build()
	if err != nil {
		return err
	}
	_, err = s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: aws.String(s.tables.Instances), Key: map[string]types.AttributeValue{instanceKey: str(inst.ID)},
		UpdateExpression: expr.Update(), ConditionExpression: expr.Condition(),
		ExpressionAttributeNames: expr.Names(), ExpressionAttributeValues: expr.Values(),
	})
	var refused *types.ConditionalCheckFailedException
	if err != nil && !errors.As(err, &refused) {
		return fmt.Errorf("finish effects of instance %s: %w", inst.ID, err)
	}
	return nil
}
