package storage

import (
	"context"
	"errors"
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
)

// The workspaces table: guance.Workspace items keyed by id, listed per
// billing center account and per owner through its indexes.

// The workspaces table's indexes (see template.yaml).
const (
	WorkspacesByBilling = "byBillingAccount"
	WorkspacesByOwner   = "byOwner"
)

func unmarshalWorkspace(item map[string]types.AttributeValue) (guance.Workspace, error) {
	var ws guance.Workspace
	if err := attributevalue.UnmarshalMap(item, &ws); err != nil {
		return guance.Workspace{}, fmt.Errorf("unmarshal workspace: %w", err)
	}
	return ws, nil
}

// workspace reads one workspace, consistently.
func (s *Store) workspace(ctx context.Context, id string) (guance.Workspace, bool, error) {
	item, err := s.get(ctx, s.t.Workspaces, idKey(id))
	if err != nil {
		return guance.Workspace{}, false, fmt.Errorf("read workspace: %w", err)
	}
	if len(item) == 0 {
		return guance.Workspace{}, false, nil
	}
	ws, err := unmarshalWorkspace(item)
	return ws, err == nil, err
}

// workspacesBy lists the workspaces an index holds under value.
func (s *Store) workspacesBy(ctx context.Context, index, attr, value string) ([]guance.Workspace, error) {
	expr, err := expression.NewBuilder().WithKeyCondition(expression.Key(attr).Equal(expression.Value(value))).Build()
	if err != nil {
		return nil, err
	}
	var list []guance.Workspace
	err = s.query(ctx, &dynamodb.QueryInput{
		TableName: aws.String(s.t.Workspaces), IndexName: aws.String(index),
		KeyConditionExpression: expr.KeyCondition(), ExpressionAttributeNames: expr.Names(), ExpressionAttributeValues: expr.Values(),
	}, func(item map[string]types.AttributeValue) (bool, error) {
		ws, err := unmarshalWorkspace(item)
		list = append(list, ws)
		return false, err
	})
	if err != nil {
		return nil, fmt.Errorf("query workspaces by %s: %w", attr, err)
	}
	return list, nil
}

// workspacesByID reads workspaces consistently, 100 keys a batch.
func (s *Store) workspacesByID(ctx context.Context, ids []string) ([]guance.Workspace, error) {
	var list []guance.Workspace
	for start := 0; start < len(ids); start += 100 {
		var keys []map[string]types.AttributeValue
		for _, id := range ids[start:min(start+100, len(ids))] {
			keys = append(keys, idKey(id))
		}
		found, err := s.batchGet(ctx, map[string]types.KeysAndAttributes{s.t.Workspaces: {Keys: keys, ConsistentRead: aws.Bool(true)}})
		if err != nil {
			return nil, fmt.Errorf("read workspaces: %w", err)
		}
		for _, item := range found[s.t.Workspaces] {
			ws, err := unmarshalWorkspace(item)
			if err != nil {
				return nil, err
			}
			list = append(list, ws)
		}
	}
	return list, nil
}

// workspacesOf lists the billing center account's workspaces through the
// index, adding those of ids the index may not show yet: an index is
// eventually consistent, and a workspace this purchase just created or
// settled must show. ids are read consistently, and win.
func (s *Store) workspacesOf(ctx context.Context, account string, ids []string) ([]guance.Workspace, error) {
	indexed, err := s.workspacesBy(ctx, WorkspacesByBilling, "billingAccount", account)
	if err != nil {
		return nil, err
	}
	byID := map[string]guance.Workspace{}
	var order []string
	for _, ws := range indexed {
		byID[ws.ID] = ws
		order = append(order, ws.ID)
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

// markWorkspace sets a workspace settled through the instance as
// suspended (for arrears) or not. seq orders the marks: a mark older than
// the workspace's changes nothing, and neither does one for a workspace
// no longer settled through the instance.
func (s *Store) markWorkspace(ctx context.Context, workspaceID, instance string, suspended bool, seq int) error {
	name, value := expression.Name, expression.Value
	t := s.tx()
	t.update(s.t.Workspaces, idKey(workspaceID),
		name("settlement.instance").Equal(value(instance)).
			And(expression.Or(name("suspendedSeq").AttributeNotExists(), name("suspendedSeq").LessThan(value(seq)))),
		expression.Set(name("suspended"), value(suspended)).Set(name("suspendedSeq"), value(seq)),
		because(errAlreadyApplied))
	t.audit(activation.WorkspaceMarkedEvent(instance, workspaceID, suspended, time.Now()))
	// Refused: marked by this move or a later one already, or no longer
	// settled through the instance; nothing to do.
	if err := t.run(ctx, "mark workspace "+workspaceID); err != nil && !errors.Is(err, errAlreadyApplied) {
		return err
	}
	return nil
}
