package storage

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/guance/aliyun-marketplace/shared/domain/audit"
	"github.com/guance/aliyun-marketplace/shared/domain/verification"
)

// The verification table: codes ("code#<purpose>#<session key>", one per
// purpose and session, holding the target and the keyed hash), the
// cooldowns ("cool#<session key>#<kind>#<target>") and the counters of the
// sending limits ("rate#<scope>#<value>#<window start>"), each with an
// expiresAt TTL. Codes stay a day past their validity so that a late try
// reads "expired" rather than "no code". A bind-billing code's mail goes
// into the outbox table in the same transaction.

func codeID(purpose verification.Purpose, session string) string {
	return "code#" + string(purpose) + "#" + session
}

// counter is one limit's count in its current fixed window. A crowd
// counter (the mailbox's caps across every requester) is where a
// purchase's reserve takes over (see verification.Limits).
type counter struct {
	limit string // a verification.Limit* name
	id    string
	max   int
	end   time.Time
	crowd bool
}

// targetKind keeps addresses and usernames apart in the counters: a
// username may look like an address, and sends to it must not spend the
// allowance of the address.
func targetKind(p verification.Purpose) string {
	if p == verification.BindBilling {
		return "username"
	}
	return "address"
}

// counted is what the counters count a send to: the mailbox of an
// address, a username as it is.
func counted(rec verification.Record) string {
	if rec.Purpose == verification.BindBilling {
		return rec.Target
	}
	return verification.MailboxKey(rec.Target)
}

func rateID(scope, value string, start time.Time) string {
	return "rate#" + scope + "#" + value + "#" + strconv.FormatInt(start.Unix(), 10)
}

func counters(in verification.Issue) []counter {
	rec, now := in.Record, in.Now
	hour := now.Truncate(time.Hour)
	day := now.Truncate(24 * time.Hour)
	l, kind, target := in.Limits, targetKind(rec.Purpose), counted(rec)
	cs := []counter{
		{limit: verification.LimitTargetHour, id: rateID("target-"+kind, rec.Session+"#"+target, hour), max: l.PerTargetHour, end: hour.Add(time.Hour)},
		{limit: verification.LimitAddressHour, id: rateID(kind, target, hour), max: l.PerAddressHour, end: hour.Add(time.Hour), crowd: true},
		{limit: verification.LimitAddressDay, id: rateID(kind+"-day", target, day), max: l.PerAddressDay, end: day.Add(24 * time.Hour), crowd: true},
		{limit: verification.LimitSession, id: rateID("session", rec.Session, hour), max: l.PerSessionHour, end: hour.Add(time.Hour)},
	}
	if network := in.Client.Network(); network != "" {
		cs = append(cs,
			counter{limit: verification.LimitRequesterHour, id: rateID("requester-"+kind, network+"#"+target, hour), max: l.PerRequesterHour, end: hour.Add(time.Hour)},
			counter{limit: verification.LimitRequesterDay, id: rateID("requester-"+kind+"-day", network+"#"+target, day), max: l.PerRequesterDay, end: day.Add(24 * time.Hour)},
			counter{limit: verification.LimitClient, id: rateID("client", network, hour), max: l.PerClientHour, end: hour.Add(time.Hour)})
	}
	// A cap of zero is none.
	return slices.DeleteFunc(cs, func(c counter) bool { return c.max <= 0 })
}

// reserve is the purchase's own reserve of sends to the mailbox past its
// crowd caps, this day.
func reserve(in verification.Issue) counter {
	day := in.Now.Truncate(24 * time.Hour)
	id := rateID("reserve-"+targetKind(in.Record.Purpose), in.Record.Session+"#"+counted(in.Record), day)
	return counter{limit: verification.LimitReserve, id: id, max: in.Limits.Reserve, end: day.Add(24 * time.Hour)}
}

// pastCrowdCaps refuses a send past one of the mailbox's caps across
// every requester: it is tried again on the purchase's reserve (or
// refused by that cap when there is none).
type pastCrowdCaps struct{ cap *verification.LimitError }

func (e *pastCrowdCaps) Error() string { return "past the mailbox's caps: " + e.cap.Limit }

// cooldownID is the item that times the cooldown of one session's sends
// to one target: its own item, so that sending to another address in
// between does not reset it.
func cooldownID(rec verification.Record) string {
	return "cool#" + rec.Session + "#" + targetKind(rec.Purpose) + "#" + rec.Target
}

// Codes keeps verification codes and their limits.
type Codes struct{ st *Store }

// Issue writes the code and counts it against every limit in one
// TransactWriteItems: the cooldown and each cap are conditions of the same
// write, so concurrent sends cannot slip past them. The cooldown holds per
// target: a buyer who mistyped the address may send to the right one at
// once, but alternating addresses does not get around it. Past the
// mailbox's crowd caps, the send is made again on the purchase's own
// reserve (the crowd counters then count without a cap).
func (s *Codes) Issue(ctx context.Context, in verification.Issue) error {
	err := s.issue(in, false).run(ctx, fmt.Sprintf("issue %s code", in.Record.Purpose))
	var past *pastCrowdCaps
	if !errors.As(err, &past) {
		return err
	}
	if in.Limits.Reserve <= 0 {
		return past.cap
	}
	return s.issue(in, true).run(ctx, fmt.Sprintf("issue %s code on the purchase's reserve", in.Record.Purpose))
}

// issue builds a send's transaction: within the crowd caps, or past them
// on the purchase's reserve.
func (s *Codes) issue(in verification.Issue, onReserve bool) *tx {
	rec := in.Record
	name, value := expression.Name, expression.Value
	t := s.st.tx()
	cooldown := expression.Or(name(idAttr).AttributeNotExists(), name("sentAt").LessThanEqual(value(in.Now.Add(-verification.Cooldown).Unix())))
	t.update(s.st.t.Verification, idKey(cooldownID(rec)), cooldown,
		expression.Set(name("sentAt"), value(epoch(rec.SentAt))).Set(name(expiresAt), value(epoch(rec.SentAt.Add(verification.Cooldown+time.Hour)))),
		func(ctx context.Context, old map[string]types.AttributeValue) error {
			sent := time.Unix(s.sentAt(ctx, rec, old, in.Now), 0)
			return &verification.LimitError{Limit: verification.LimitCooldown, RetryAfter: retryAfter(sent.Add(verification.Cooldown), in.Now)}
		})
	t.putAlways(s.st.t.Verification, map[string]types.AttributeValue{
		idAttr:       str(codeID(rec.Purpose, rec.Session)),
		"target":     str(rec.Target),
		"hash":       str(rec.Hash),
		"sentAt":     epoch(rec.SentAt),
		"validUntil": epoch(rec.ExpiresAt),
		"attempts":   num(0),
		expiresAt:    epoch(rec.ExpiresAt.Add(24 * time.Hour)),
	})
	count := func(c counter) expression.UpdateBuilder {
		return expression.Add(name("count"), value(1)).Set(name(expiresAt), expression.IfNotExists(name(expiresAt), value(c.end.Add(time.Hour).Unix())))
	}
	for _, c := range counters(in) {
		if c.crowd && onReserve {
			t.upsert(s.st.t.Verification, idKey(c.id), count(c))
			continue
		}
		under := expression.Or(name("count").AttributeNotExists(), name("count").LessThan(value(c.max)))
		limit := &verification.LimitError{Limit: c.limit, RetryAfter: retryAfter(c.end, in.Now)}
		why := because(limit)
		if c.crowd {
			why = because(&pastCrowdCaps{cap: limit})
		}
		t.update(s.st.t.Verification, idKey(c.id), under, count(c), why)
	}
	if onReserve {
		// The purchase's own: under its cap, one a gap.
		c := reserve(in)
		gap := in.Limits.ReserveGap
		under := expression.Or(name("count").AttributeNotExists(),
			name("count").LessThan(value(c.max)).And(name("lastAt").LessThanEqual(value(in.Now.Add(-gap).Unix()))))
		t.update(s.st.t.Verification, idKey(c.id), under, count(c).Set(name("lastAt"), value(in.Now.Unix())),
			func(_ context.Context, old map[string]types.AttributeValue) error {
				next := c.end // the day's reserve is spent
				if last := numberOf(old["lastAt"]); numberOf(old["count"]) < int64(c.max) && last > 0 {
					next = time.Unix(last, 0).Add(gap)
				}
				return &verification.LimitError{Limit: c.limit, RetryAfter: retryAfter(next, in.Now)}
			})
	}
	if in.Mail != nil {
		// A bind-billing code's mail (or the void item standing in for
		// one): the request is on the purchase's trail, the same either
		// way, so that its write looks the same too.
		t.outbox(*in.Mail)
		if in.Mail.Instance != "" {
			ev := audit.New(audit.BillingCodeAsked, in.Mail.Instance, audit.ActorBuyer, in.Now)
			ev.Mail = in.Mail.ID
			t.audit(ev)
		}
	}
	return t
}

// sentAt is when the code still in its cooldown was sent: from the refused
// write's old item, which DynamoDB returns; a server that returns none
// (the local one) costs a read on this refusal path only.
func (s *Codes) sentAt(ctx context.Context, rec verification.Record, old map[string]types.AttributeValue, now time.Time) int64 {
	if len(old) == 0 {
		item, err := s.st.get(ctx, s.st.t.Verification, idKey(cooldownID(rec)))
		if err != nil {
			return now.Unix()
		}
		old = item
	}
	if secs := numberOf(old["sentAt"]); secs > 0 {
		return secs
	}
	return now.Unix()
}

// retryAfter is the wait until t, in whole seconds, at least one.
func retryAfter(t, now time.Time) time.Duration {
	return max(t.Sub(now).Round(time.Second), time.Second)
}

// Revoke deletes the code (if it is still this one) and gives back its
// counts, in one transaction.
func (s *Codes) Revoke(ctx context.Context, in verification.Issue) error {
	name, value := expression.Name, expression.Value
	t := s.st.tx()
	same := expression.Or(name(idAttr).AttributeNotExists(), name("hash").Equal(value(in.Record.Hash)))
	t.remove(s.st.t.Verification, idKey(codeID(in.Record.Purpose, in.Record.Session)), &same, nil)
	// The failed send does not start a cooldown either.
	t.remove(s.st.t.Verification, idKey(cooldownID(in.Record)), nil, nil)
	for _, c := range counters(in) {
		t.update(s.st.t.Verification, idKey(c.id), name("count").GreaterThan(value(0)), expression.Add(name("count"), value(-1)), nil)
	}
	return t.run(ctx, fmt.Sprintf("revoke %s code", in.Record.Purpose))
}

// Charge counts one try in one conditional write, before anything is
// compared: the code must be the session's for this target, unused, valid
// and not dead. On success the stored hash comes back (ALL_NEW) for the
// caller to compare; on refusal the old item says why.
func (s *Codes) Charge(ctx context.Context, purpose verification.Purpose, session, target string, now time.Time) (verification.Charged, error) {
	name, value := expression.Name, expression.Value
	expr, err := expression.NewBuilder().
		WithCondition(name(idAttr).AttributeExists().
			And(name("target").Equal(value(target))).
			And(name("consumedAt").AttributeNotExists()).
			And(name("validUntil").GreaterThan(value(now.Unix()))).
			And(name("attempts").LessThan(value(verification.MaxAttempts)))).
		WithUpdate(expression.Add(name("attempts"), value(1))).
		Build()
	if err != nil {
		return verification.Charged{}, err
	}
	res, err := s.st.update(ctx, s.st.t.Verification, idKey(codeID(purpose, session)), expr, true, true)
	switch {
	case err != nil:
		return verification.Charged{}, fmt.Errorf("charge %s code: %w", purpose, err)
	case !res.Refused:
		return verification.Charged{Hash: stringOf(res.New["hash"]), Attempts: int(numberOf(res.New["attempts"]))}, nil
	}
	old := res.Old
	switch {
	case len(old) > 0 && old["consumedAt"] != nil && stringOf(old["target"]) == target && numberOf(old["validUntil"]) > now.Unix():
		// Used by this session already: see verification.Charged.
		return verification.Charged{Hash: stringOf(old["hash"]), Consumed: true}, nil
	case len(old) == 0 || old["consumedAt"] != nil || stringOf(old["target"]) != target:
		return verification.Charged{}, verification.ErrNoCode
	case numberOf(old["validUntil"]) <= now.Unix():
		return verification.Charged{}, verification.ErrCodeExpired
	}
	return verification.Charged{}, verification.ErrCodeDead
}

// Consume marks the code used if it still holds hash and is unused.
func (s *Codes) Consume(ctx context.Context, purpose verification.Purpose, session, target, hash string, now time.Time) error {
	name, value := expression.Name, expression.Value
	expr, err := expression.NewBuilder().
		WithCondition(name("hash").Equal(value(hash)).
			And(name("target").Equal(value(target))).
			And(name("consumedAt").AttributeNotExists())).
		WithUpdate(expression.Set(name("consumedAt"), value(now.Unix()))).
		Build()
	if err != nil {
		return err
	}
	res, err := s.st.update(ctx, s.st.t.Verification, idKey(codeID(purpose, session)), expr, false, false)
	switch {
	case err != nil:
		return fmt.Errorf("consume %s code: %w", purpose, err)
	case res.Refused:
		// The right code twice at once: the other try used it.
		return verification.ErrNoCode
	}
	return nil
}

// Pending reads the session's code for purpose, if it is unused and valid.
func (s *Codes) Pending(ctx context.Context, purpose verification.Purpose, session string, now time.Time) (verification.Pending, bool, error) {
	item, err := s.st.get(ctx, s.st.t.Verification, idKey(codeID(purpose, session)))
	if err != nil {
		return verification.Pending{}, false, fmt.Errorf("read %s code: %w", purpose, err)
	}
	if len(item) == 0 || item["consumedAt"] != nil || numberOf(item["validUntil"]) <= now.Unix() {
		return verification.Pending{}, false, nil
	}
	return verification.Pending{Target: stringOf(item["target"]), SentAt: time.Unix(numberOf(item["sentAt"]), 0).UTC()}, true, nil
}
