package storage

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/guance/aliyun-marketplace/shared/domain/session"
)

// The sessions table: short-lived items, each with an expiresAt TTL (epoch
// seconds): activation sessions ("session#<id>", with each flow's draft
// in an attribute of its own) and the Login Without Password links
// already accepted ("link#<token>").

func sessionKey(id string) map[string]types.AttributeValue {
	return idKey("session#" + id)
}

func linkItem(link session.Link, now time.Time) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{
		idAttr:       str("link#" + link.Token),
		"instanceId": str(link.InstanceID),
		"usedAt":     str(now.UTC().Format(time.RFC3339)),
		expiresAt:    epoch(link.ExpiresAt),
	}
}

// draftPrefix names the attributes that hold the flows' drafts: one
// top-level attribute each, so that saving one never touches another.
const draftPrefix = "draft_"

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

// draft is a flow's step written with the change it makes: its draft in
// the session, which must be live.
func (t *tx) draft(step session.Step, now time.Time) {
	t.update(t.s.t.Sessions, sessionKey(step.SessionID),
		expression.Name(idAttr).AttributeExists().And(expression.Name(expiresAt).GreaterThan(expression.Value(epoch(now)))),
		expression.Set(expression.Name(draftPrefix+step.Flow), expression.Value(step.Draft)),
		because(session.ErrNotFound))
}

// Sessions keeps activation sessions and used links.
type Sessions struct{ st *Store }

// Open accepts link and opens s in one transaction: either the link is
// marked used and the session exists, or neither (session.ErrLinkUsed when
// the link was used before).
func (s *Sessions) Open(ctx context.Context, link session.Link, sess session.Session) error {
	item, err := attributevalue.MarshalMap(sess)
	if err != nil {
		return fmt.Errorf("marshal session: %w", err)
	}
	for k, v := range sessionKey(sess.ID) {
		item[k] = v
	}
	item[expiresAt] = epoch(sess.ExpiresAt)
	t := s.st.tx()
	t.put(s.st.t.Sessions, linkItem(link, sess.CreatedAt), idAttr, because(session.ErrLinkUsed))
	t.put(s.st.t.Sessions, item, idAttr, nil)
	err = t.run(ctx, "open session for instance "+sess.InstanceID)
	// Two clicks of one link at once: the twin transaction either found
	// the link used or collided with it; both mean a replay.
	if conflicted(err) {
		return session.ErrLinkUsed
	}
	return err
}

// ConsumeLink marks link used without opening a session (the buyer is sent
// straight on to their workspace).
func (s *Sessions) ConsumeLink(ctx context.Context, link session.Link, now time.Time) error {
	refused, err := s.st.putNew(ctx, s.st.t.Sessions, linkItem(link, now), idAttr)
	switch {
	case err != nil:
		return fmt.Errorf("consume link for instance %s: %w", link.InstanceID, err)
	case refused:
		return session.ErrLinkUsed
	}
	return nil
}

// Get returns the live session id (session.ErrNotFound if there is none or
// it expired but DynamoDB has not deleted it yet).
func (s *Sessions) Get(ctx context.Context, id string, now time.Time) (session.Session, error) {
	item, err := s.st.get(ctx, s.st.t.Sessions, sessionKey(id))
	if err != nil {
		return session.Session{}, fmt.Errorf("read session: %w", err)
	}
	sess, ok, err := unmarshalSession(id, item)
	if err != nil {
		return session.Session{}, err
	}
	if !ok || !sess.Live(now) {
		return session.Session{}, session.ErrNotFound
	}
	return sess, nil
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

// End deletes the session, conditioned on the form's CSRF token (a
// session already gone is ended).
func (s *Sessions) End(ctx context.Context, id, csrf string, now time.Time) error {
	cond := expression.Name(idAttr).AttributeNotExists().Or(expression.Name("csrf").Equal(expression.Value(csrf)))
	t := s.st.tx()
	t.remove(s.st.t.Sessions, sessionKey(id), &cond, because(session.ErrBadCSRF))
	return t.run(ctx, "end session")
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
	res, err := s.st.update(ctx, s.st.t.Sessions, sessionKey(id), expr, true, false)
	if err != nil || !res.Refused {
		return err
	}
	old, ok, err := unmarshalSession(id, res.Old)
	if err != nil {
		return err
	}
	if !ok || !old.Live(now) {
		return session.ErrNotFound
	}
	return session.ErrBadCSRF
}
