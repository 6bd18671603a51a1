package verification

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// Store keeps codes and the counters of the sending limits.
type Store interface {
	// Issue records rec (replacing any earlier code for its purpose and
	// key) and counts it against every limit, in one transaction; a
	// *LimitError says which limit refused, and then nothing changed.
	Issue(ctx context.Context, rec Record, client Client, limits Limits, now time.Time) error
	// Revoke undoes an Issue whose mail failed: the code goes, the
	// counters go back.
	Revoke(ctx context.Context, rec Record, client Client, now time.Time) error
	// Consume accepts the code with hash once, in one conditional write.
	Consume(ctx context.Context, purpose Purpose, key, hash string, now time.Time) error
}

// Mail is one code mail.
type Mail struct {
	To       string
	Code     string
	Purpose  Purpose
	Lang     string
	Validity time.Duration
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
	Limits   Limits
	Now      func() time.Time
	Log      *slog.Logger
}

// Request asks for a code: Target is the address, or for bind-billing the
// billing center username.
type Request struct {
	Purpose Purpose
	Target  string
	Lang    string
	Client  Client
}

// Sent is what the buyer may be told.
type Sent struct {
	// Masked is the masked address the code went to; empty when a
	// bind-billing username is unknown, which only the asking session sees.
	Masked   string
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

// Send issues a code for req and mails it. For bind-billing the code goes
// to the email on file; an unknown username is answered the same way and
// counted the same way, but no mail leaves.
func (s *Sender) Send(ctx context.Context, req Request) (Sent, error) {
	key, err := Key(req.Purpose, req.Target)
	if err != nil {
		return Sent{}, err
	}
	to := key
	if req.Purpose == BindBilling {
		email, found, err := s.Accounts.BillingEmail(ctx, key)
		if err != nil {
			return Sent{}, fmt.Errorf("find billing center account: %w", err)
		}
		to = ""
		if found {
			to = email
		}
	}
	code, err := NewCode()
	if err != nil {
		return Sent{}, err
	}
	now := s.Now().UTC()
	rec := Record{Purpose: req.Purpose, Key: key, Hash: s.Hasher.Hash(req.Purpose, key, code), SentAt: now, ExpiresAt: now.Add(CodeTTL)}
	if err := s.Store.Issue(ctx, rec, req.Client, s.Limits, now); err != nil {
		return Sent{}, err
	}
	sent := Sent{Cooldown: Cooldown, Validity: CodeTTL}
	if to == "" {
		return sent, nil
	}
	if err := s.Mailer.SendCode(ctx, Mail{To: to, Code: code, Purpose: req.Purpose, Lang: req.Lang, Validity: CodeTTL}); err != nil {
		// No usable code and no burnt counter may stay behind. The mail's
		// deadline may have passed, so the undo gets its own.
		undo, cancel := context.WithTimeout(context.WithoutCancel(ctx), 3*time.Second)
		defer cancel()
		if rerr := s.Store.Revoke(undo, rec, req.Client, now); rerr != nil {
			s.Log.ErrorContext(ctx, "could not undo a code whose mail failed", "purpose", req.Purpose, "error", rerr.Error())
		}
		return Sent{}, errors.Join(ErrMailFailed, err)
	}
	sent.Masked = MaskAddress(to)
	return sent, nil
}

// Verifier checks codes.
type Verifier struct {
	Store  Store
	Hasher Hasher
	Now    func() time.Time
}

// Verify consumes the code for purpose and target (the address, or for
// bind-billing the username). Of two concurrent calls with the right code,
// exactly one succeeds.
func (v *Verifier) Verify(ctx context.Context, purpose Purpose, target, code string) error {
	key, err := Key(purpose, target)
	if err != nil {
		return err
	}
	return v.Store.Consume(ctx, purpose, key, v.Hasher.Hash(purpose, key, code), v.Now().UTC())
}
