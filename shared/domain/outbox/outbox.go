// Package outbox holds the mails that must arrive, or whose sending must not
// show in a response: each is an item written in the same transaction as the
// change it reports, and delivered off the request path (in AWS by a function
// on the table's stream; the scheduled reconciliation retries what is stuck,
// with backoff, and gives up on a mail after MaxAttempts).
package outbox

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/guance/aliyun-marketplace/shared/domain/audit"
)

// Kind says which mail an item is.
type Kind string

// The kinds of mail that go through the outbox.
const (
	// KindCode is a verification code mailed to an address the asker may
	// not see (a billing center account's email).
	KindCode Kind = "code"
	// KindWelcome greets a buyer who registered.
	KindWelcome Kind = "welcome"
	// KindReleased tells a billing center account that an instance it was
	// bound to was released and its workspaces went back to billing center
	// settlement.
	KindReleased Kind = "released"
	// KindVoid is a mail that is never sent: written where a real one
	// would be (a bind-billing code for a username that does not exist),
	// so that the write, and its time, look the same either way.
	KindVoid Kind = "void"
)

// State is where an item's delivery stands.
type State string

// The states of an item.
const (
	StatePending State = "pending"
	StateSent    State = "sent"
	// StateDead is an item that failed MaxAttempts times; an alarm counts it.
	StateDead State = "dead"
)

// Delivery rules.
const (
	MaxAttempts = 8
	// Lease is how long a claim keeps other deliverers off an item: longer
	// than a send takes, short enough that a crash does not strand it.
	Lease = 2 * time.Minute
	// Keep is how long a sent or dead item stays for inspection (TTL).
	Keep = 14 * 24 * time.Hour
)

// Item is one mail waiting in, or gone from, the outbox.
type Item struct {
	ID   string `dynamodbav:"id"`
	Kind Kind   `dynamodbav:"kind"`
	// Instance is the purchase the mail is about: its trail records the
	// mail's queueing, sending or death.
	Instance string `dynamodbav:"instanceId,omitempty"`
	// To is the recipient; the item is the only place it is written
	// outside the account it belongs to, and it expires with the item.
	To   string `dynamodbav:"to"`
	Lang string `dynamodbav:"lang"`
	// Fields are the kind's values (a purpose, a workspace name).
	Fields map[string]string `dynamodbav:"fields,omitempty"`
	// Sealed is a secret the mail carries (a verification code), sealed so
	// that the table never holds it in clear; removed once sent.
	Sealed    string    `dynamodbav:"sealed,omitempty"`
	State     State     `dynamodbav:"state"`
	Attempts  int       `dynamodbav:"attempts"`
	LastError string    `dynamodbav:"lastError,omitempty"`
	CreatedAt time.Time `dynamodbav:"createdAt"`
	// DueAt is when the next attempt may start (pending items only).
	DueAt time.Time `dynamodbav:"dueAt,unixtime,omitempty"`
	// Claim is the token of the deliverer holding the item; the claim
	// lasts until ClaimedUntil.
	Claim        string    `dynamodbav:"claim,omitempty"`
	ClaimedUntil time.Time `dynamodbav:"claimedUntil,unixtime,omitempty"`
	SentAt       time.Time `dynamodbav:"sentAt,unixtime,omitempty"`
	// ExpiresAt is the item's TTL: how long a secret it seals may live
	// (a code's validity), or Keep after it is sent.
	ExpiresAt time.Time `dynamodbav:"expiresAt,unixtime"`
}

// New is a pending item with a fresh random id, due at once.
func New(kind Kind, to, lang string, fields map[string]string, now time.Time, ttl time.Duration) Item {
	return Item{
		ID: "mail#" + randomID(), Kind: kind, To: to, Lang: lang, Fields: fields,
		State: StatePending, CreatedAt: now.UTC(), DueAt: now.UTC(), ExpiresAt: now.Add(ttl).UTC(),
	}
}

// NewClaim is a fresh claim token.
func NewClaim() string { return randomID() }

func randomID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b) // never fails on supported platforms (crypto/rand)
	return base64.RawURLEncoding.EncodeToString(b)
}

// Backoff is how long to wait before attempt n+1 after n failed ones:
// 30 s doubling, at most an hour.
func Backoff(attempts int) time.Duration {
	d := 30 * time.Second
	for i := 1; i < attempts && d < time.Hour; i++ {
		d *= 2
	}
	return min(d, time.Hour)
}

// Sealer seals the secrets items carry with AES-256-GCM, keyed by a key
// derived from the product's code-hashing secret, and bound to the item's
// id (so a sealed value cannot be moved to another item). A sealed value
// names its key ("<key id>.<sealed>"), so that a mail sealed before the
// secret was rotated still opens with the previous one while the rotation
// lasts (a code lives 10 minutes; a mail waits at most Keep).
type Sealer struct {
	current sealKey
	// previous are the keys a rotation replaced, by id: they open, never
	// seal.
	previous map[string]sealKey
}

type sealKey struct {
	id   string
	aead cipher.AEAD
}

func newSealKey(secret string) (sealKey, error) {
	if len(secret) < 16 {
		return sealKey{}, errors.New("outbox: the sealing secret must have at least 16 bytes")
	}
	derive := func(purpose string) []byte {
		mac := hmac.New(sha256.New, []byte(secret))
		mac.Write([]byte(purpose))
		return mac.Sum(nil)
	}
	block, err := aes.NewCipher(derive("guance-marketplace outbox seal v1"))
	if err != nil {
		return sealKey{}, fmt.Errorf("outbox: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return sealKey{}, fmt.Errorf("outbox: %w", err)
	}
	// The id tells keys apart and reveals nothing of the secret.
	return sealKey{id: hex.EncodeToString(derive("guance-marketplace outbox seal key id")[:4]), aead: aead}, nil
}

// NewSealer derives the sealing key from secret, and the keys that still
// open from previous (the secrets a rotation replaced). A previous secret
// that cannot be one (empty, too short) is skipped: only the mails sealed
// with it stay shut, and the function starts (CheckSecret tells why, for
// its log).
func NewSealer(secret string, previous ...string) (Sealer, error) {
	current, err := newSealKey(secret)
	if err != nil {
		return Sealer{}, err
	}
	s := Sealer{current: current, previous: map[string]sealKey{}}
	for _, p := range previous {
		if p == "" || p == secret {
			continue
		}
		if k, err := newSealKey(p); err == nil {
			s.previous[k.id] = k
		}
	}
	return s, nil
}

// CheckSecret tells whether secret can key the seal.
func CheckSecret(secret string) error {
	_, err := newSealKey(secret)
	return err
}

// Seal seals secret for the item id with the current key.
func (s Sealer) Seal(id, secret string) string {
	nonce := make([]byte, s.current.aead.NonceSize())
	_, _ = rand.Read(nonce)
	return s.current.id + "." + base64.RawStdEncoding.EncodeToString(s.current.aead.Seal(nonce, nonce, []byte(secret), []byte(id)))
}

// ErrSealBroken means a sealed value does not open: another key, another
// item, or tampering.
var ErrSealBroken = errors.New("outbox: sealed value does not open")

// Open returns the secret sealed for the item id, with the key the value
// names (a value sealed before key ids existed: the current key, then the
// previous ones).
func (s Sealer) Open(id, sealed string) (string, error) {
	keys := []sealKey{s.current}
	if keyID, rest, named := strings.Cut(sealed, "."); named {
		sealed = rest
		k, ok := s.previous[keyID]
		switch {
		case keyID == s.current.id:
		case ok:
			keys = []sealKey{k}
		default:
			return "", ErrSealBroken
		}
	} else {
		for _, k := range s.previous {
			keys = append(keys, k)
		}
	}
	raw, err := base64.RawStdEncoding.DecodeString(sealed)
	if err != nil {
		return "", ErrSealBroken
	}
	for _, k := range keys {
		n := k.aead.NonceSize()
		if len(raw) < n {
			return "", ErrSealBroken
		}
		if plain, err := k.aead.Open(nil, raw[:n], raw[n:], []byte(id)); err == nil {
			return string(plain), nil
		}
	}
	return "", ErrSealBroken
}

// Event is the trail's record of what became of the mail: kind is
// audit.MailQueued, MailSent or MailDead (the reason a dead one's). Its
// recipient is never in it.
func (i Item) Event(kind audit.Kind, actor string, at time.Time) audit.Event {
	ev := audit.New(kind, i.Instance, actor, at)
	ev.Mail, ev.MailKind = i.ID, string(i.Kind)
	if kind == audit.MailDead {
		ev.Reason = i.LastError
	}
	return ev
}

// Audited tells whether the mail's fate is on a purchase's trail: a mail
// about a purchase, but not a verification code's. A code's request is
// its record (audit.BillingCodeAsked), written the same whether the code
// goes to a real account or a void item stands in for one; a trail that
// then said "sent" for the one and nothing for the other would tell
// whoever reads it (the bus's consumers) which billing center usernames
// exist.
func (i Item) Audited() bool { return i.Instance != "" && i.Kind != KindVoid && i.Kind != KindCode }
