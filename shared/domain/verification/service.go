package verification

import (
	"context"
	"crypto/hmac"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/guance/aliyun-marketplace/shared/domain/outbox"
)

// Issue is one code to record, with what it counts against and, for a code
// that goes to an address the asker must not learn, the outbox mail that
// carries it (written in the same transaction).
type Issue struct {
	Record Record
	Client Client
	Limits Limits
	Mail   *outbox.Item
	Now    time.Time
}

// Charged is a code after one try was charged against it.
type Charged struct {
	Hash     string
	Attempts int
	// Consumed: the code was used already, by this session for this
	// target, and is still valid. The same code sent again (a step whose
	// answer was lost, its proof not saved) proves the target again; it
	// proves nothing else, so no attempt is charged for it.
	Consumed bool
}

// Pending is the code a session is waiting for, as a page shows it.
type Pending struct {
	Target string
	SentAt time.Time
}

// Store keeps codes and the counters of the sending limits.
type Store interface {
	// Issue records the code (replacing the session's earlier code for its
	// purpose) and counts it against every limit, in one transaction; a
	// *LimitError says which limit refused, and then nothing changed.
	Issue(ctx context.Context, in Issue) error
	// Revoke undoes an Issue whose mail failed: the code goes, the
	// counters go back.
	Revoke(ctx context.Context, in Issue) error
	// Charge counts one try against the session's code for purpose and
	// target, in one conditional write that refuses a used, expired or
	// dead code, and returns the stored hash to compare.
	Charge(ctx context.Context, purpose Purpose, session, target string, now time.Time) (Charged, error)
	// Consume marks the code used, conditioned on its hash and on its
	// being unused: of two right tries, one wins.
	Consume(ctx context.Context, purpose Purpose, session, target, hash string, now time.Time) error
	// Pending returns the session's live code for purpose, if any.
	Pending(ctx context.Context, purpose Purpose, session string, now time.Time) (Pending, bool, error)
}

// Mail is one code mail sent while the asker waits.
type Mail struct {
	To       string
	Code     string
	Purpose  Purpose
	Lang     string
	Validity time.Duration
	// For names what a bind-billing code lets happen: the billing center
	// account (Account), bound to whose purchase (Buyer, the masked
	// Alibaba Cloud account, and Instance).
	For Binding
}

// Binding is what a bind-billing code binds.
type Binding struct {
	Account, Buyer, Instance string
}

// Mailer sends code mails.
type Mailer interface {
	SendCode(ctx context.Context, m Mail) error
}

// Accounts finds the email on file for a billing center username.
type Accounts interface {
	BillingEmail(ctx context.Context, username string) (email string, found bool, err error)
}

// Sender issues and mails codes.
type Sender struct {
	Store    Store
	Mailer   Mailer
	Accounts Accounts
	Hasher   Hasher
	// Sealer seals the codes that go through the outbox.
	Sealer outbox.Sealer
	Limits Limits
	Now    func() time.Time
	Log    *slog.Logger
}

// NewSender is a code sender with the product's limits and the real clock.
// mailer sends the codes mailed while the buyer waits; nil for a flow
// whose codes all go through the outbox (bind-billing).
func NewSender(store Store, mailer Mailer, accounts Accounts, hasher Hasher, sealer outbox.Sealer, log *slog.Logger) *Sender {
	return &Sender{Store: store, Mailer: mailer, Accounts: accounts, Hasher: hasher, Sealer: sealer, Limits: DefaultLimits, Now: time.Now, Log: log}
}

// Request asks for a code: Target is the address, or for bind-billing the
// billing center username.
type Request struct {
	Purpose Purpose
	Target  string
	Lang    string
	// Scope is who asks: a code is checked, and the per-session caps
	// count, within it (the purchase: session.Session.CodeScope).
	Scope  string
	Client Client
	// Buyer and Instance are the purchase that asks (the Alibaba Cloud
	// account masked): a bind-billing code's mail names them, so that the
	// account's owner sees what the code would bind.
	Buyer, Instance string
}

// Sent is what the asker may be told.
type Sent struct {
	// To is the address the code went to: the one the asker typed. Empty
	// for bind-billing, whose answer must not depend on the username.
	To       string
	Cooldown time.Duration
	Validity time.Duration
}

// Key normalizes a request's target the way codes are keyed.
func Key(purpose Purpose, target string) (string, error) {
	if purpose == BindBilling {
		return NormalizeUsername(target)
	}
	return NormalizeAddress(target)
}

// Send issues a code for req and mails it.
//
// A code for the asker's own address is mailed at once, so that a failure
// can be told (and the code revoked). A bind-billing code goes to the email
// on file for a username: its mail is an outbox item in the same
// transaction as the code, sent off the request path, so that the answer,
// its status and its time are the same whether or not the username exists.
// An unknown username is counted like a real send, and no mail leaves.
func (s *Sender) Send(ctx context.Context, req Request) (Sent, error) {
	key, err := Key(req.Purpose, req.Target)
	if err != nil {
		return Sent{}, err
	}
	if req.Scope == "" {
		return Sent{}, errors.New("a code needs the scope that asks for it")
	}
	code, err := NewCode()
	if err != nil {
		return Sent{}, err
	}
	now := s.Now().UTC()
	in := Issue{
		Record: Record{Purpose: req.Purpose, Session: SessionKey(req.Scope), Target: key, Hash: s.Hasher.Hash(req.Purpose, key, code), SentAt: now, ExpiresAt: now.Add(CodeTTL)},
		Client: req.Client, Limits: s.Limits, Now: now,
	}
	sent := Sent{Cooldown: Cooldown, Validity: CodeTTL}
	if req.Purpose == BindBilling {
		email, found, err := s.Accounts.BillingEmail(ctx, key)
		if err != nil {
			return Sent{}, fmt.Errorf("find billing center account: %w", err)
		}
		// A real account's code goes out through the outbox; for an unknown
		// username a void item of the same shape is written instead, so the
		// transaction (and its time) is the same either way.
		kind := outbox.KindVoid
		if found {
			kind = outbox.KindCode
		}
		item := outbox.New(kind, email, req.Lang, map[string]string{
			"purpose": string(req.Purpose), "account": key, "buyer": req.Buyer, "instance": req.Instance,
		}, now, CodeTTL)
		item.Instance = req.Instance
		item.Sealed = s.Sealer.Seal(item.ID, code)
		in.Mail = &item
		if err := s.Store.Issue(ctx, in); err != nil {
			return Sent{}, err
		}
		return sent, nil
	}
	if err := s.Store.Issue(ctx, in); err != nil {
		return Sent{}, err
	}
	if err := s.Mailer.SendCode(ctx, Mail{To: key, Code: code, Purpose: req.Purpose, Lang: req.Lang, Validity: CodeTTL}); err != nil {
		// No usable code and no burnt counter may stay behind. The mail's
		// deadline may have passed, so the undo gets its own.
		undo, cancel := context.WithTimeout(context.WithoutCancel(ctx), 3*time.Second)
		defer cancel()
		if rerr := s.Store.Revoke(undo, in); rerr != nil {
			s.Log.ErrorContext(ctx, "could not undo a code whose mail failed", "purpose", req.Purpose, "error", ErrorKind(rerr))
		}
		return Sent{}, errors.Join(ErrMailFailed, err)
	}
	sent.To = key
	return sent, nil
}

// Pending returns the code the session is waiting for, and how long until
// another may be sent.
func (s *Sender) Pending(ctx context.Context, purpose Purpose, scope string) (Pending, time.Duration, bool, error) {
	now := s.Now().UTC()
	p, ok, err := s.Store.Pending(ctx, purpose, SessionKey(scope), now)
	if err != nil || !ok {
		return Pending{}, 0, false, err
	}
	wait := max(p.SentAt.Add(Cooldown).Sub(now).Round(time.Second), 0)
	return p, wait, true, nil
}

// Verifier checks codes.
type Verifier struct {
	Store  Store
	Hasher Hasher
	Now    func() time.Time
}

// Verify consumes the code for purpose and target (the address, or for
// bind-billing the username) that scope asked for (see Request.Scope).
//
// The try is charged before the code is compared, in one conditional write
// that refuses a dead code: a burst of concurrent guesses is counted, not
// compared while the count still reads zero. Of two concurrent right codes,
// exactly one succeeds.
func (v *Verifier) Verify(ctx context.Context, purpose Purpose, scope, target, code string) error {
	key, err := Key(purpose, target)
	if err != nil {
		return err
	}
	code, err = CheckCodeFormat(code)
	if err != nil {
		return err
	}
	now := v.Now().UTC()
	session := SessionKey(scope)
	charged, err := v.Store.Charge(ctx, purpose, session, key, now)
	if err != nil {
		return err
	}
	hash := v.Hasher.Hash(purpose, key, code)
	match := hmac.Equal([]byte(hash), []byte(charged.Hash))
	switch {
	case charged.Consumed && match:
		// The step that used it failed after the code was consumed
		// (its answer lost, its draft not saved): sent again, the same
		// code proves the same target again, for the same session.
		return nil
	case charged.Consumed:
		return ErrNoCode
	case !match:
		return &WrongCodeError{Remaining: max(MaxAttempts-charged.Attempts, 0)}
	}
	return v.Store.Consume(ctx, purpose, session, key, hash, now)
}

// ErrorKind names an error for a log line without its text: store and mail
// errors can carry an address or a username.
func ErrorKind(err error) string {
	var limit *LimitError
	var wrong *WrongCodeError
	switch {
	case err == nil:
		return ""
	case errors.As(err, &limit):
		return "Limit:" + limit.Limit
	case errors.As(err, &wrong):
		return "WrongCode"
	case errors.Is(err, ErrNoCode):
		return "NoCode"
	case errors.Is(err, ErrCodeExpired):
		return "CodeExpired"
	case errors.Is(err, ErrCodeDead):
		return "CodeDead"
	case errors.Is(err, ErrMailFailed):
		return "MailFailed"
	}
	return "StoreError"
}
