package flow

import (
	"context"
	"errors"
	"math"
	"time"

	"github.com/guance/aliyun-marketplace/shared/domain/guance"
	"github.com/guance/aliyun-marketplace/shared/domain/marketplace"
	"github.com/guance/aliyun-marketplace/shared/domain/verification"
	"github.com/guance/aliyun-marketplace/shared/endpoints/i18n"
	"github.com/guance/aliyun-marketplace/shared/endpoints/web"
)

// CodeState is where a form's last code went, kept in its draft: the page
// shows it without reading the code's own record.
type CodeState struct {
	To     string    `json:"to,omitempty"`
	SentAt time.Time `json:"sentAt,omitzero"`
	// Spent: the code can no longer be used (too many wrong tries, or
	// expired when tried): the page no longer says it is on its way.
	Spent bool `json:"spent,omitempty"`
	// Typed is a code typed and not yet checked, kept across a language
	// switch only.
	Typed string `json:"typed,omitempty"`
}

// Shown is what the page says of it, for a code to target: where it went
// and the seconds of cooldown left; nothing once it is spent, or for
// another target (the address was changed since).
func (c CodeState) Shown(purpose verification.Purpose, target string, now time.Time) (i18n.Message, int) {
	since := now.Sub(c.SentAt)
	wait := max(int((verification.Cooldown - since).Round(time.Second).Seconds()), 0)
	if c.To == "" || since >= verification.CodeTTL || (target != "" && c.To != target) {
		return i18n.Message{}, 0
	}
	if c.Spent {
		return i18n.Message{}, wait
	}
	if purpose == verification.BindBilling {
		// Where a billing center account's mail goes is not said: the
		// answer is the same whether or not the username exists.
		return i18n.M("code.sent.billing", int(verification.CodeTTL.Minutes())), wait
	}
	return i18n.M("code.sent", c.To, int(verification.CodeTTL.Minutes())), wait
}

// Refused notes a code the buyer typed that was refused (the field is
// emptied for the next try): one that can no longer be used is spent.
func (c *CodeState) Refused(err error) {
	c.Typed = ""
	var wrong *verification.WrongCodeError
	if errors.Is(err, verification.ErrCodeDead) || errors.Is(err, verification.ErrCodeExpired) ||
		errors.Is(err, verification.ErrNoCode) || errors.As(err, &wrong) && wrong.Remaining == 0 {
		c.Spent = true
	}
}

// Codes sends verification codes.
type Codes interface {
	Send(ctx context.Context, req verification.Request) (verification.Sent, error)
}

// CodeSend is what an in-page Send code came to.
type CodeSend struct {
	// Answered: the request is answered already (the draft could not be
	// saved, or our side failed): nothing is left to do.
	Answered bool
	// Sent: the code is on its way.
	Sent bool
	// A refusal to show beside the field: its status, its text and the
	// seconds its countdown waits.
	Status  int
	Message i18n.Message
	Wait    int
}

// SendCode is the Send code step the forms share (registration, billing
// binding, workspace creation): the draft notes where the code goes and is
// saved first (so what was typed is kept either way), the code goes out
// with the same domain call, limits and mail as POST /verification-codes,
// and a failed send takes the note back. save writes the draft with state
// in it (false: it answered already).
func (f *Flow) SendCode(v *Visit, codes Codes, purpose verification.Purpose, target string, state *CodeState, save func() bool) CodeSend {
	last := *state
	*state = CodeState{To: target, SentAt: f.Now().UTC()}
	if !save() {
		return CodeSend{Answered: true}
	}
	_, err := codes.Send(v.R.Context(), verification.Request{
		Purpose: purpose, Target: target, Lang: string(v.Lang), Scope: v.Sess.CodeScope(),
		Buyer: marketplace.MaskUID(v.Sess.AliUID), Instance: v.Sess.InstanceID,
		Client: verification.Client{IP: web.ClientIP(v.R)},
	})
	if err == nil {
		f.Metrics.Count("VerificationCodesSent", map[string]string{"Purpose": string(purpose)})
		return CodeSend{Sent: true}
	}
	*state = last
	if !save() {
		return CodeSend{Answered: true}
	}
	status, msg, wait, ok := InPageRefusal(err)
	if !ok {
		f.Fail(v.W, v.R, v.Lang, err)
		return CodeSend{Answered: true}
	}
	f.Log.WarnContext(v.R.Context(), "code not sent", "flow", f.Name, "purpose", purpose, "kind", verification.ErrorKind(err))
	return CodeSend{Status: status, Message: msg, Wait: wait}
}

// Lookups tell whether a username or an email is taken, each lookup
// counted (guance.Lookup).
type Lookups interface {
	Taken(ctx context.Context, q guance.Lookup) (guance.Taken, error)
}

// Lookup asks lookups about username and email for the visit's purchase
// and client network. A cap met is a notice for the whole form (ok false);
// a failure of ours is answered (answered true).
func (f *Flow) Lookup(v *Visit, lookups Lookups, q guance.Lookup) (taken guance.Taken, notice i18n.Message, answered bool) {
	q.Scope, q.Network, q.Now = v.Sess.CodeScope(), verification.Client{IP: web.ClientIP(v.R)}.Network(), f.Now().UTC()
	taken, err := lookups.Taken(v.R.Context(), q)
	var limit *guance.LookupLimitError
	switch {
	case errors.As(err, &limit):
		f.Log.WarnContext(v.R.Context(), "account lookups capped", "flow", f.Name)
		f.Metrics.Count("AccountLookupsCapped", map[string]string{"Flow": f.Name})
		return guance.Taken{}, i18n.M("form.lookups.limit", int(math.Ceil(limit.RetryAfter.Minutes()))), false
	case err != nil:
		f.Fail(v.W, v.R, v.Lang, err)
		return guance.Taken{}, i18n.Message{}, true
	}
	return taken, i18n.Message{}, false
}
