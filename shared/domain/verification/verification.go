// Package verification proves that a buyer controls an email address: it
// issues six-digit codes (stored only as keyed hashes, valid ten minutes,
// five wrong tries at most), rate-limits their sending, and consumes a code
// atomically when the buyer types it back.
package verification

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"net/mail"
	"net/netip"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/net/idna"
	"golang.org/x/text/unicode/norm"

	"github.com/guance/aliyun-marketplace/shared/domain/outbox"
)

// Purpose says what a code is for; a code for one purpose never passes for another.
type Purpose string

// The purposes of codes.
const (
	Register        Purpose = "register"
	BindBilling     Purpose = "bind-billing"
	CreateWorkspace Purpose = "create-workspace"
)

// ParsePurpose accepts the three purposes.
func ParsePurpose(s string) (Purpose, error) {
	switch p := Purpose(s); p {
	case Register, BindBilling, CreateWorkspace:
		return p, nil
	}
	return "", ErrUnknownPurpose
}

// Rules of codes.
const (
	CodeTTL     = 10 * time.Minute
	MaxAttempts = 5
	Cooldown    = 60 * time.Second
)

// Limits caps how many codes are sent. Each counts in a fixed window.
//
// The cooldown and the tightest caps are each requester's: per purchase
// and mailbox, per client network and mailbox. One requester cannot spend
// another's allowance, so whoever floods an inbox from their network never
// locks out the address's owner asking from theirs. The caps of the
// mailbox across every requester stop a flood from many networks; past
// them each purchase still has a small reserve of its own (Reserve a day,
// one per ReserveGap), which nobody else can spend: the owner asking from
// their own purchase gets a code within minutes however the mailbox is
// flooded, and a flood's volume grows only with the purchases it holds.
//
// A mailbox is the address with its subaddress ("+tag") and, for Gmail,
// its dots left out (MailboxKey): one inbox, one allowance.
//
// A cap of zero counts nothing.
//
// A client network is a company's NAT address as much as an attacker's:
// its own cap is high (an onboarding day of a whole office fits), and the
// per-purchase caps do the close work.
type Limits struct {
	PerTargetHour    int // one purchase, one mailbox
	PerRequesterHour int // one client network, one mailbox
	PerRequesterDay  int
	PerAddressHour   int // every requester, one mailbox
	PerAddressDay    int
	Reserve          int           // past those, each purchase's own sends to the mailbox a day
	ReserveGap       time.Duration // and one per gap at most
	PerSessionHour   int           // one purchase, any address
	PerClientHour    int           // one client network, any address
}

// DefaultLimits are the product's caps.
var DefaultLimits = Limits{
	PerTargetHour: 5, PerRequesterHour: 5, PerRequesterDay: 10,
	PerAddressHour: 20, PerAddressDay: 50, Reserve: 3, ReserveGap: 15 * time.Minute,
	PerSessionHour: 10, PerClientHour: 300,
}

// MailboxKey is the inbox an address reaches, for counting what is sent
// to it: without a subaddress ("+tag", which most providers deliver to the
// same inbox) and, for Gmail, without the dots of its local part. The
// code still goes to the address as typed.
func MailboxKey(address string) string {
	local, domain, ok := strings.Cut(address, "@")
	if !ok {
		return address
	}
	if base, _, tagged := strings.Cut(local, "+"); tagged && base != "" {
		local = base
	}
	if domain == "gmail.com" || domain == "googlemail.com" {
		local, domain = strings.ReplaceAll(local, ".", ""), "gmail.com"
	}
	return local + "@" + domain
}

var (
	ErrInvalidAddress = errors.New("not a valid email address")
	ErrInvalidTarget  = errors.New("not a valid billing center username")
	ErrUnknownPurpose = errors.New("unknown purpose")
	// ErrMailFailed means the mail could not be sent; nothing was kept.
	ErrMailFailed = errors.New("the code could not be sent")
	// ErrNoCode means there is no code to check: never sent, replaced,
	// already used, or deleted after expiry.
	ErrNoCode = errors.New("no code was sent, or it was already used")
	// ErrCodeExpired means the code is older than CodeTTL.
	ErrCodeExpired = errors.New("the code has expired")
	// ErrCodeDead means MaxAttempts wrong codes were tried: ask for a new one.
	ErrCodeDead = errors.New("too many wrong codes: ask for a new one")
	// ErrCodeFormat means what was typed is not six digits; it costs no try.
	ErrCodeFormat = errors.New("a code is six digits")
)

// WrongCodeError is a wrong code; Remaining tries are left.
type WrongCodeError struct{ Remaining int }

func (e *WrongCodeError) Error() string {
	return fmt.Sprintf("wrong code (%d tries left)", e.Remaining)
}

// The limits a LimitError names.
const (
	LimitCooldown      = "cooldown"
	LimitTargetHour    = "target-hour"
	LimitRequesterHour = "requester-hour"
	LimitRequesterDay  = "requester-day"
	LimitAddressHour   = "address-hour"
	LimitAddressDay    = "address-day"
	LimitReserve       = "reserve"
	LimitSession       = "session"
	LimitClient        = "client"
)

// LimitError says which limit stopped a send and when to try again.
type LimitError struct {
	// Limit is one of the Limit constants.
	Limit      string
	RetryAfter time.Duration
}

func (e *LimitError) Error() string {
	return fmt.Sprintf("sending limit %s reached: try again in %s", e.Limit, e.RetryAfter.Round(time.Second))
}

// NormalizeAddress checks an email address and returns it in the form
// codes and accounts are keyed by, so that one address is one key however
// it is written: trimmed, in Unicode NFC (é is one character, not e and a
// combining accent), lower case, its domain in its ASCII form (IDNA).
//
// Refused besides what is not an address: bytes that are not UTF-8; a
// local part that is not ASCII (the mail could not be sent: SES does not
// take one); a domain whose label, read in Unicode (so its Punycode
// form is read the same), is the look-alike of another: letters of two
// scripts that are not written together ("exаmple" with a Cyrillic а,
// "gօogle" with an Armenian օ), or only letters of another script drawn
// like Latin ones ("аррӏе" in Cyrillic).
func NormalizeAddress(s string) (string, error) {
	if !utf8.ValidString(s) {
		return "", ErrInvalidAddress
	}
	s = strings.ToLower(norm.NFC.String(strings.TrimSpace(s)))
	local, domain, ok := strings.Cut(s, "@")
	if !ok || local == "" || !ascii(local) {
		return "", ErrInvalidAddress
	}
	unicodeForm, err := idna.Lookup.ToUnicode(domain)
	if err != nil || lookalike(unicodeForm) {
		return "", ErrInvalidAddress
	}
	domain, err = idna.Lookup.ToASCII(unicodeForm)
	if err != nil {
		return "", ErrInvalidAddress
	}
	s = local + "@" + strings.ToLower(domain)
	if len(s) > 254 || strings.ContainsAny(s, " <>\"") {
		return "", ErrInvalidAddress
	}
	parsed, err := mail.ParseAddress(s)
	if err != nil || parsed.Address != s || parsed.Name != "" {
		return "", ErrInvalidAddress
	}
	if !strings.Contains(domain, ".") || strings.HasPrefix(domain, ".") || strings.HasSuffix(domain, ".") {
		return "", ErrInvalidAddress
	}
	return s, nil
}

func ascii(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// latinLookalikes are letters of Cyrillic, Greek and Armenian drawn like
// Latin ones (after Unicode's confusables): a label of them alone reads as
// a Latin name it is not.
const latinLookalikes = "аԁеԍһіјӏорԛѕԝхусъьыюпгвкмнт" + "αεικνορτυχ" + "օսհոցզաւ"

// scriptsTogether are the scripts one label may mix (a Japanese or
// Korean name with Latin letters); any other mix is a look-alike.
var scriptsTogether = map[string]bool{"Latin": true, "Han": true, "Hiragana": true, "Katakana": true, "Hangul": true}

// lookalike tells whether a label of domain (in Unicode) mixes the letters
// of scripts not written together, or is wholly made of letters drawn
// like Latin ones in another script.
func lookalike(domain string) bool {
	for _, label := range strings.Split(domain, ".") {
		scripts := map[string]bool{}
		allLookalike, letters := true, 0
		for _, r := range label {
			if !unicode.IsLetter(r) {
				continue
			}
			letters++
			scripts[scriptOf(r)] = true
			allLookalike = allLookalike && strings.ContainsRune(latinLookalikes, r)
		}
		if letters > 0 && allLookalike {
			return true
		}
		if len(scripts) > 1 {
			for script := range scripts {
				if !scriptsTogether[script] {
					return true
				}
			}
		}
	}
	return false
}

// scriptOf names the Unicode script of a letter.
func scriptOf(r rune) string {
	if r < utf8.RuneSelf {
		return "Latin"
	}
	for name, table := range unicode.Scripts {
		if unicode.Is(table, r) {
			return name
		}
	}
	return "Unknown"
}

// NormalizeUsername checks a billing center username and returns its key form.
func NormalizeUsername(s string) (string, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	if len(s) < 2 || len(s) > 64 {
		return "", ErrInvalidTarget
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || strings.ContainsRune("._-@", r)) {
			return "", ErrInvalidTarget
		}
	}
	return s, nil
}

// NewCode is six digits from the system's CSPRNG.
func NewCode() (string, error) {
	n, err := rand.Int(rand.Reader, big.NewInt(1_000_000))
	if err != nil {
		return "", fmt.Errorf("generate code: %w", err)
	}
	return fmt.Sprintf("%06d", n.Int64()), nil
}

// Hasher keys code hashes with a secret, so a leaked table reveals no code
// (a bare hash of six digits would be undone in a millisecond).
type Hasher struct{ secret []byte }

// NewHasher returns a hasher for secret, which must be long enough to matter.
func NewHasher(secret string) (Hasher, error) {
	if len(secret) < 16 {
		return Hasher{}, errors.New("the code hashing secret must have at least 16 bytes")
	}
	return Hasher{secret: []byte(secret)}, nil
}

// Secrets reads a function's secrets by setting name.
type Secrets interface {
	Get(ctx context.Context, name string) (string, error)
}

// CodeSecret is the setting of the secret that keys both the code hashes
// and the seal of the codes mailed through the outbox.
const CodeSecret = "CODE_HASH_SECRET"

// LoadKeys reads CodeSecret and returns the hasher of codes and the sealer
// of outbox mails, both keyed by it.
func LoadKeys(ctx context.Context, secrets Secrets) (Hasher, outbox.Sealer, error) {
	secret, err := secrets.Get(ctx, CodeSecret)
	if err != nil {
		return Hasher{}, outbox.Sealer{}, err
	}
	hasher, err := NewHasher(secret)
	if err != nil {
		return Hasher{}, outbox.Sealer{}, err
	}
	sealer, err := outbox.NewSealer(secret)
	return hasher, sealer, err
}

// Hash is the stored form of code for purpose and key.
func (h Hasher) Hash(purpose Purpose, key, code string) string {
	mac := hmac.New(sha256.New, h.secret)
	mac.Write([]byte(string(purpose) + "\x00" + key + "\x00" + code))
	return hex.EncodeToString(mac.Sum(nil))
}

// CheckCodeFormat accepts six digits (spaces around them are forgiven).
func CheckCodeFormat(code string) (string, error) {
	code = strings.TrimSpace(code)
	if len(code) != 6 || strings.Trim(code, "0123456789") != "" {
		return "", ErrCodeFormat
	}
	return code, nil
}

// SessionKey is how codes name the session that asked for them: a hash of
// the session id, so the verification table never holds a live cookie.
func SessionKey(sessionID string) string {
	sum := sha256.Sum256([]byte("session\x00" + sessionID))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// Record is an issued code as the store keeps it: one per purpose and
// session, replaced by the next send.
type Record struct {
	Purpose Purpose
	// Session is the SessionKey of the session that asked: only it may
	// try or consume the code.
	Session string
	// Target is the normalized address, or for bind-billing the username.
	Target    string
	Hash      string
	SentAt    time.Time
	ExpiresAt time.Time
}

// Client is who asks for a code, for the per-client caps.
type Client struct {
	IP string
}

// Network is the client's network as the caps count it: an IPv4 address
// (a NAT's, often a whole office), or an IPv6 /64 (one subscriber's, who
// picks any address in it at will).
func (c Client) Network() string {
	addr, err := netip.ParseAddr(c.IP)
	switch {
	case err != nil:
		return c.IP
	case addr.Is4() || addr.Is4In6():
		return addr.Unmap().String()
	}
	prefix, _ := addr.Prefix(64)
	return prefix.String()
}
