package storage

import (
	"context"
	"fmt"
	"maps"
	"slices"
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
// in an attribute of its own), the Login Without Password links already
// accepted ("link#<token>"), and each purchase's drafts
// ("purchase#<instance>": the same attributes, kept session.DraftTTL after
// the last change, with the CSRF tokens of its latest sessions), from
// which every new session of the purchase starts.

func sessionKey(id string) map[string]types.AttributeValue {
	return idKey("session#" + id)
}

func purchaseKey(instanceID string) map[string]types.AttributeValue {
	return idKey("purchase#" + instanceID)
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

// priorPrefix names the attributes that hold the CSRF tokens of the
// purchase's earlier sessions, one each, so that a condition tells one by
// its name (attribute_exists) rather than by searching a list.
const priorPrefix = "prior_"

// drafts reads the drafts of a session or purchase item.
func drafts(item map[string]types.AttributeValue) map[string]string {
	var out map[string]string
	for name, v := range item {
		if flow, ok := strings.CutPrefix(name, draftPrefix); ok {
			if out == nil {
				out = map[string]string{}
			}
			out[flow] = stringOf(v)
		}
	}
	return out
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
	sess.Drafts = drafts(item)
	for name := range item {
		if token, ok := strings.CutPrefix(name, priorPrefix); ok {
			sess.Prior = append(sess.Prior, token)
		}
	}
	slices.Sort(sess.Prior)
	return sess, true, nil
}

// sessionItem is the whole item of sess.
func sessionItem(sess session.Session) (map[string]types.AttributeValue, error) {
	item, err := attributevalue.MarshalMap(sess)
	if err != nil {
		return nil, fmt.Errorf("marshal session: %w", err)
	}
	for k, v := range sessionKey(sess.ID) {
		item[k] = v
	}
	item[expiresAt] = epoch(sess.ExpiresAt)
	for flow, draft := range sess.Drafts {
		item[draftPrefix+flow] = str(draft)
	}
	for _, token := range sess.Prior {
		item[priorPrefix+token] = &types.AttributeValueMemberBOOL{Value: true}
	}
	return item, nil
}

// live is the condition of a session that exists and has not expired.
func live(now time.Time) expression.ConditionBuilder {
	return expression.Name(idAttr).AttributeExists().And(expression.Name(expiresAt).GreaterThan(expression.Value(epoch(now))))
}

// formOf is the condition of a form of the session: its CSRF token, or one
// of the purchase's earlier sessions'.
func formOf(csrf string) expression.ConditionBuilder {
	prior := expression.Name(priorPrefix + csrf)
	if csrf == "" || strings.ContainsAny(csrf, ".[]") {
		prior = expression.Name(priorPrefix + "none")
	}
	return expression.Name("csrf").Equal(expression.Value(csrf)).Or(prior.AttributeExists())
}

// whyNotForm tells a refused form write's session from its item as it was.
func whyNotForm(id string, now time.Time) refusal {
	return func(_ context.Context, old map[string]types.AttributeValue) error {
		sess, ok, err := unmarshalSession(id, old)
		switch {
		case err != nil:
			return err
		case !ok || !sess.Live(now):
			return session.ErrNotFound
		}
		return session.ErrBadCSRF
	}
}

// keepDraft mirrors a flow's draft with the purchase, for
// session.DraftTTL from now.
func (t *tx) keepDraft(instanceID, flow, draft string, now time.Time) {
	t.upsert(t.s.t.Sessions, purchaseKey(instanceID),
		expression.Set(expression.Name(draftPrefix+flow), expression.Value(draft)).
			Set(expression.Name(expiresAt), expression.Value(epoch(now.Add(session.DraftTTL)))))
}

// draft is a flow's step written with the change it makes: its draft in
// the session, which must be live, and with its purchase. A renewed
// session replaces the old one whole.
func (t *tx) draft(step session.Step, now time.Time) {
	cond := live(now)
	if step.Renewed != nil {
		renewed := *step.Renewed
		renewed.Drafts = maps.Clone(renewed.Drafts)
		if renewed.Drafts == nil {
			renewed.Drafts = map[string]string{}
		}
		renewed.Drafts[step.Flow] = step.Draft
		item, err := sessionItem(renewed)
		t.fail(err)
		t.remove(t.s.t.Sessions, sessionKey(step.SessionID), &cond, because(session.ErrNotFound))
		t.put(t.s.t.Sessions, item, idAttr, nil)
	} else {
		upd := expression.Set(expression.Name(draftPrefix+step.Flow), expression.Value(step.Draft))
		if !step.Until.IsZero() {
			upd = upd.Set(expression.Name(expiresAt), expression.Value(epoch(step.Until)))
		}
		t.update(t.s.t.Sessions, sessionKey(step.SessionID), cond, upd, because(session.ErrNotFound))
	}
	if step.InstanceID != "" {
		t.keepDraft(step.InstanceID, step.Flow, step.Draft, now)
	}
}

// Sessions keeps activation sessions and used links.
type Sessions struct{ st *Store }

// Open accepts link and opens s in one transaction: either the link is
// marked used and the session exists, or neither (session.ErrLinkUsed when
// the link was used before). The session starts from its purchase's
// drafts, and takes the CSRF tokens of the purchase's latest sessions (a
// tab of one of them goes on working).
func (s *Sessions) Open(ctx context.Context, link session.Link, sess session.Session) error {
	purchase, err := s.st.get(ctx, s.st.t.Sessions, purchaseKey(sess.InstanceID))
	if err != nil {
		return fmt.Errorf("read drafts of instance %s: %w", sess.InstanceID, err)
	}
	if numberOf(purchase[expiresAt]) > sess.CreatedAt.Unix() {
		sess.Drafts = drafts(purchase)
		var recent []string
		_ = attributevalue.Unmarshal(purchase["csrfs"], &recent)
		sess.Prior = recent
		// The language the buyer chose for the purchase, over the
		// browser's.
		if lang := stringOf(purchase["lang"]); lang != "" {
			sess.Lang = lang
		}
	}
	item, err := sessionItem(sess)
	if err != nil {
		return err
	}
	recent := append(slices.Clone(sess.Prior), sess.CSRF)
	if len(recent) > session.MaxPrior+1 {
		recent = recent[len(recent)-session.MaxPrior-1:]
	}
	t := s.st.tx()
	t.put(s.st.t.Sessions, linkItem(link, sess.CreatedAt), idAttr, because(session.ErrLinkUsed))
	t.put(s.st.t.Sessions, item, idAttr, nil)
	t.upsert(s.st.t.Sessions, purchaseKey(sess.InstanceID),
		expression.Set(expression.Name("csrfs"), expression.Value(recent)).
			Set(expression.Name(expiresAt), expression.Value(epoch(sess.CreatedAt.Add(session.DraftTTL)))))
	t.audit(sess.OpenedEvent())
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
	t := s.st.tx()
	t.put(s.st.t.Sessions, linkItem(link, now), idAttr, because(session.ErrLinkUsed))
	t.audit(link.ConsoleEvent(now))
	err := t.run(ctx, "consume link for instance "+link.InstanceID)
	if conflicted(err) {
		return session.ErrLinkUsed
	}
	return err
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

// SaveDraft keeps a flow's draft, in the session and with its purchase, in
// one transaction conditioned on the form's CSRF token and a live
// session.
func (s *Sessions) SaveDraft(ctx context.Context, sess session.Session, csrf, flow, draft string, now time.Time) error {
	t := s.st.tx()
	t.update(s.st.t.Sessions, sessionKey(sess.ID), live(now).And(formOf(csrf)),
		expression.Set(expression.Name(draftPrefix+flow), expression.Value(draft)), whyNotForm(sess.ID, now))
	t.keepDraft(sess.InstanceID, flow, draft, now)
	return t.run(ctx, "save "+flow+" draft")
}

// SetLanguage changes the session's language, and the purchase's (the
// next session continuing its drafts speaks it too), in one transaction
// conditioned on the CSRF token and on the session being live.
func (s *Sessions) SetLanguage(ctx context.Context, sess session.Session, csrf, lang string, now time.Time) error {
	t := s.st.tx()
	t.update(s.st.t.Sessions, sessionKey(sess.ID), live(now).And(formOf(csrf)),
		expression.Set(expression.Name("lang"), expression.Value(lang)), whyNotForm(sess.ID, now))
	t.upsert(s.st.t.Sessions, purchaseKey(sess.InstanceID),
		expression.Set(expression.Name("lang"), expression.Value(lang)).
			Set(expression.Name(expiresAt), expression.IfNotExists(expression.Name(expiresAt), expression.Value(epoch(now.Add(session.DraftTTL))))))
	return t.run(ctx, "set session language")
}

// Shorten brings the session's end forward to until (never later).
func (s *Sessions) Shorten(ctx context.Context, id string, until time.Time) error {
	expr, err := expression.NewBuilder().
		WithCondition(expression.Name(expiresAt).GreaterThan(expression.Value(epoch(until)))).
		WithUpdate(expression.Set(expression.Name(expiresAt), expression.Value(epoch(until)))).Build()
	if err != nil {
		return err
	}
	if _, err := s.st.update(ctx, s.st.t.Sessions, sessionKey(id), expr, false, false); err != nil {
		return fmt.Errorf("shorten session: %w", err)
	}
	return nil
}

// End deletes the session, conditioned on the form's CSRF token (a
// session already gone is ended).
func (s *Sessions) End(ctx context.Context, id, csrf string, now time.Time) error {
	cond := expression.Name(idAttr).AttributeNotExists().Or(formOf(csrf))
	t := s.st.tx()
	t.remove(s.st.t.Sessions, sessionKey(id), &cond, because(session.ErrBadCSRF))
	return t.run(ctx, "end session")
}
