package storage

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/guance/aliyun-marketplace/shared/domain/session"
)

// TableDB is the part of the DynamoDB client the stores of short-lived
// items and of accounts use: reads, conditional puts and updates, transactions.
type TableDB interface {
	DynamoDB
	PutItem(ctx context.Context, in *dynamodb.PutItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
}

// Sessions keeps short-lived items, each with an expiresAt TTL (epoch
// seconds): activation sessions ("session#<id>") and the Login Without
// Password links already accepted ("link#<token>").
type Sessions struct {
	db    TableDB
	table string
}

// NewSessions returns the store for the sessions table.
func NewSessions(db TableDB, table string) *Sessions {
	return &Sessions{db: db, table: table}
}

func sessionID(id string) types.AttributeValue {
	return str("session#" + id)
}

func linkItem(link session.Link, now time.Time) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{
		idAttr:       str("link#" + link.Token),
		"instanceId": str(link.InstanceID),
		"usedAt":     str(now.UTC().Format(time.RFC3339)),
		expiresAt:    epoch(link.ExpiresAt),
	}
}

// notExists is the condition of a put that must create its item.
func notExists() (expression.Expression, error) {
	return expression.NewBuilder().WithCondition(expression.AttributeNotExists(expression.Name(idAttr))).Build()
}

// Open accepts link and opens s in one transaction: either the link is
// marked used and the session exists, or neither (session.ErrLinkUsed when
// the link was used before).
func (s *Sessions) Open(ctx context.Context, link session.Link, sess session.Session) error {
	item, err := attributevalue.MarshalMap(sess)
	if err != nil {
		return fmt.Errorf("marshal session: %w", err)
	}
	item[idAttr] = sessionID(sess.ID)
	item[expiresAt] = epoch(sess.ExpiresAt)
	fresh, err := notExists()
	if err != nil {
		return err
	}
	_, err = s.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
		{Put: &types.Put{TableName: aws.String(s.table), Item: linkItem(link, sess.CreatedAt), ConditionExpression: fresh.Condition(), ExpressionAttributeNames: fresh.Names()}},
		{Put: &types.Put{TableName: aws.String(s.table), Item: item, ConditionExpression: fresh.Condition(), ExpressionAttributeNames: fresh.Names()}},
	}})
	// Two clicks of one link at once: the twin transaction either found
	// the link used or collided with it; both mean a replay.
	if canceledAt(err) == 0 || conflicted(err) {
		return session.ErrLinkUsed
	}
	if err != nil {
		return fmt.Errorf("open session for instance %s: %w", sess.InstanceID, err)
	}
	return nil
}

// ConsumeLink marks link used without opening a session (the buyer is sent
// straight on to their workspace).
func (s *Sessions) ConsumeLink(ctx context.Context, link session.Link, now time.Time) error {
	fresh, err := notExists()
	if err != nil {
		return err
	}
	_, err = s.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(s.table), Item: linkItem(link, now), ConditionExpression: fresh.Condition(), ExpressionAttributeNames: fresh.Names()})
	var refused *types.ConditionalCheckFailedException
	if errors.As(err, &refused) {
		return session.ErrLinkUsed
	}
	if err != nil {
		return fmt.Errorf("consume link for instance %s: %w", link.InstanceID, err)
	}
	return nil
}

// Get returns the live session id (session.ErrNotFound if there is none or
// it expired but DynamoDB has not deleted it yet).
func (s *Sessions) Get(ctx context.Context, id string, now time.Time) (session.Session, error) {
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: aws.String(s.table), Key: map[string]types.AttributeValue{idAttr: sessionID(id)}, ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return session.Session{}, fmt.Errorf("read session: %w", err)
	}
	sess, ok, err := unmarshalSession(id, out.Item)
	if err != nil {
		return session.Session{}, err
	}
	if !ok || !sess.Live(now) {
		return session.Session{}, session.ErrNotFound
	}
	return sess, nil
}

func unmarshalSession(id string, item map[string]types.AttributeValue) (session.Session, bool, error) {
	if len(item) == 0 {
		return session.Session{}, false, nil
	}
	var sess session.Session
	if err := attributevalue.UnmarshalMap(item, &sess); err != nil {
		return session.Session{}, false, fmt.Errorf("unmarshal session: %w", err)
	}
	sess.ID = id
	if n, ok := item[expiresAt].(*types.AttributeValueMemberN); ok {
		secs, _ := strconv.ParseInt(n.Value, 10, 64)
		sess.ExpiresAt = time.Unix(secs, 0).UTC()
	}
	for name, v := range item {
		if flow, ok := strings.CutPrefix(name, draftPrefix); ok {
			if sess.Drafts == nil {
				sess.Drafts = map[string]string{}
			}
			sess.Drafts[flow] = stringOf(v)
		}
	}
	return sess, true, nil
}

// draftPrefix names the attributes that hold the flows' drafts: one
// top-level attribute each, so that saving one never touches another.
const draftPrefix = "draft_"

// draftUpdate is the update of a flow's draft in a session, for a
// transaction that writes it beside the change the flow makes; the
// session must be live.
func draftUpdate(table, id, flow, draft string, now time.Time) (types.TransactWriteItem, error) {
	expr, err := expression.NewBuilder().
		WithCondition(expression.Name(idAttr).AttributeExists().And(expression.Name(expiresAt).GreaterThan(expression.Value(epoch(now))))).
		WithUpdate(expression.Set(expression.Name(draftPrefix+flow), expression.Value(draft))).
		Build()
	if err != nil {
		return types.TransactWriteItem{}, err
	}
	return types.TransactWriteItem{Update: &types.Update{
		TableName: aws.String(table), Key: map[string]types.AttributeValue{idAttr: sessionID(id)},
		UpdateExpression: expr.Update(), ConditionExpression: expr.Condition(),
		ExpressionAttributeNames: expr.Names(), ExpressionAttributeValues: expr.Values(),
	}}, nil
}

// SaveDraft keeps a flow's draft in one conditional write that also checks
// the form's CSRF token and that the session is live.
func (s *Sessions) SaveDraft(ctx context.Context, id, csrf, flow, draft string, now time.Time) error {
	update := expression.Set(expression.Name(draftPrefix+flow), expression.Value(draft))
	if err := s.updateForm(ctx, id, csrf, update, now); err != nil {
		return fmt.Errorf("save %s draft: %w", flow, err)
	}
	return nil
}

// SetLanguage changes the session's language in one conditional write that
// also checks the CSRF token and that the session is live.
func (s *Sessions) SetLanguage(ctx context.Context, id, csrf, lang string, now time.Time) error {
	if err := s.updateForm(ctx, id, csrf, expression.Set(expression.Name("lang"), expression.Value(lang)), now); err != nil {
		return fmt.Errorf("set session language: %w", err)
	}
	return nil
}

// updateForm applies a form's update to the session, conditioned on the
// form's CSRF token and on the session being live; a refusal says which
// (session.ErrNotFound or session.ErrBadCSRF) from the item as it was.
func (s *Sessions) updateForm(ctx context.Context, id, csrf string, update expression.UpdateBuilder, now time.Time) error {
	cond := expression.Name(idAttr).AttributeExists().
		And(expression.Name("csrf").Equal(expression.Value(csrf))).
		And(expression.Name(expiresAt).GreaterThan(expression.Value(epoch(now))))
	expr, err := expression.NewBuilder().WithCondition(cond).WithUpdate(update).Build()
	if err != nil {
		return err
	}
	_, err = s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: aws.String(s.table), Key: map[string]types.AttributeValue{idAttr: sessionID(id)},
		UpdateExpression: expr.Update(), ConditionExpression: expr.Condition(),
		ExpressionAttributeNames: expr.Names(), ExpressionAttributeValues: expr.Values(),
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	})
	var refused *types.ConditionalCheckFailedException
	if errors.As(err, &refused) {
		old, ok, uerr := unmarshalSession(id, refused.Item)
		if uerr != nil {
			return uerr
		}
		if !ok || !old.Live(now) {
			return session.ErrNotFound
		}
		return session.ErrBadCSRF
	}
	return err
}
