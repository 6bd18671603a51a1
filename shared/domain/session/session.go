// Package session is the activation session a buyer gets after a verified
// Login Without Password link: an opaque id in a cookie, and on our side the
// UID, the instance, the chosen language and a CSRF secret, until it expires.
package session

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/guance/aliyun-marketplace/shared/domain/activation"
	"github.com/guance/aliyun-marketplace/shared/domain/audit"
)

// CookieName is the session cookie over plain http (local runs);
// SecureCookieName over https: the __Host- prefix makes browsers refuse
// one set without Secure, with a Domain, or for a narrower path, so no
// other host under the domain can plant or shadow it.
const (
	CookieName       = "guance_activation"
	SecureCookieName = "__Host-" + CookieName
)

var (
	// ErrNotFound means there is no live session under the id.
	ErrNotFound = errors.New("no live activation session")
	// ErrLinkUsed means the Login Without Password link was accepted before.
	ErrLinkUsed = errors.New("the link was already used")
	// ErrBadCSRF means a form came without the session's CSRF token.
	ErrBadCSRF = errors.New("the form's CSRF token does not match the session")
)

// Session is one buyer's activation in progress.
type Session struct {
	ID         string    `dynamodbav:"-"`
	AliUID     string    `dynamodbav:"aliUid"`
	InstanceID string    `dynamodbav:"instanceId"`
	Lang       string    `dynamodbav:"lang"`
	CSRF       string    `dynamodbav:"csrf"`
	CreatedAt  time.Time `dynamodbav:"createdAt"`
	ExpiresAt  time.Time `dynamodbav:"-"`
	// Prior are the CSRF tokens of the purchase's earlier sessions: a form
	// a tab opened in one of them (before a second Login Without Password
	// replaced its cookie) is still the buyer's, and is taken.
	Prior []string `dynamodbav:"-"`
	// Drafts keep each flow's progress (its own JSON, by flow name), so
	// that what a buyer typed lives on our side, never in hidden fields a
	// browser could tamper with. They are the purchase's: every session of
	// it starts from them (see DraftTTL).
	Drafts map[string]string `dynamodbav:"-"`
}

// DraftTTL is how long what a buyer typed is kept with the purchase after
// its last change: a session that ends (an hour) loses nothing, and the
// next Login Without Password continues where the buyer left off.
const DraftTTL = 7 * 24 * time.Hour

// AfterActivation is how long a session lives on once its purchase is
// activated: long enough to bind or create another workspace at once, not
// a whole hour of an unattended browser's power. (The purchase's other
// sessions are held to the same by the settling write: see
// activation.AfterActivation.)
const AfterActivation = activation.AfterActivation

// MaxPrior bounds the earlier sessions' CSRF tokens a session takes.
const MaxPrior = 3

// CodeScope is who verification codes are sent for: the purchase, so a
// code sent in one session of it is checked in the next one, and the
// per-session caps hold across new Login Without Password links.
func (s Session) CodeScope() string { return "purchase#" + s.InstanceID }

// Renewed is the same session under a new id (a new cookie), as a
// privilege changes hands: a session id planted before (session
// fixation) no longer reaches what the buyer bound. The CSRF token stays,
// so the buyer's open tabs keep working.
func (s Session) Renewed() Session {
	s.ID = randomToken()
	return s
}

// ShortenedAt is the session's end once its purchase is activated at now.
func (s Session) ShortenedAt(now time.Time) time.Time {
	if end := now.Add(AfterActivation).UTC().Truncate(time.Second); end.Before(s.ExpiresAt) {
		return end
	}
	return s.ExpiresAt
}

// Draft returns the flow's draft, or "".
func (s Session) Draft(flow string) string { return s.Drafts[flow] }

// New opens a session with fresh random id and CSRF secret.
func New(uid, instanceID, lang string, now time.Time, ttl time.Duration) Session {
	return Session{
		ID: randomToken(), AliUID: uid, InstanceID: instanceID, Lang: lang, CSRF: randomToken(),
		CreatedAt: now.UTC(), ExpiresAt: now.Add(ttl).UTC().Truncate(time.Second),
	}
}

// randomToken is 256 bits from the system's CSPRNG, URL-safe.
func randomToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // never fails on supported platforms (crypto/rand)
	return base64.RawURLEncoding.EncodeToString(b)
}

// Live reports whether the session has not expired at now. Stores filter on
// it because DynamoDB deletes expired items late.
func (s Session) Live(now time.Time) bool {
	return now.Before(s.ExpiresAt)
}

// CheckCSRF compares a form's token with the session's, and with those of
// the purchase's earlier sessions, in constant time.
func (s Session) CheckCSRF(token string) error {
	if token == "" {
		return ErrBadCSRF
	}
	ok := subtle.ConstantTimeCompare([]byte(token), []byte(s.CSRF))
	for _, prior := range s.Prior {
		ok |= subtle.ConstantTimeCompare([]byte(token), []byte(prior))
	}
	if ok != 1 {
		return ErrBadCSRF
	}
	return nil
}

// Continued reports whether token is an earlier session's: a form of a
// tab opened before the latest Login Without Password.
func (s Session) Continued(token string) bool {
	return token != "" && subtle.ConstantTimeCompare([]byte(token), []byte(s.CSRF)) != 1 && s.CheckCSRF(token) == nil
}

// Jar reads and writes the session cookie under one policy. Over https
// (Secure) only the __Host- cookie counts: a plain one can be planted by
// any host under the domain, or over plain http by anyone on the way, and
// would fix the victim to the attacker's session.
type Jar struct {
	Secure bool
}

// name is the cookie the policy uses.
func (j Jar) name() string {
	if j.Secure {
		return SecureCookieName
	}
	return CookieName
}

// Cookie is the cookie that carries s: HttpOnly, SameSite=Lax (the buyer
// arrives by a top-level navigation from the marketplace), and Secure
// unless the jar is not (plain-http local runs only). now is the
// handler's clock, so the cookie's life matches the session's.
func (j Jar) Cookie(s Session, now time.Time) *http.Cookie {
	return &http.Cookie{
		Name: j.name(), Value: s.ID, Path: "/",
		Expires: s.ExpiresAt, MaxAge: max(int(s.ExpiresAt.Sub(now).Seconds()), 1),
		HttpOnly: true, Secure: j.Secure, SameSite: http.SameSiteLaxMode,
	}
}

// Set puts the cookie of s on the answer.
func (j Jar) Set(w http.ResponseWriter, s Session, now time.Time) {
	http.SetCookie(w, j.Cookie(s, now))
}

// Clear ends the cookie in the browser.
func (j Jar) Clear(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{Name: j.name(), Value: "", Path: "/", MaxAge: -1, HttpOnly: true, Secure: j.Secure, SameSite: http.SameSiteLaxMode})
}

// ID returns the session id the request's cookie carries, or "".
func (j Jar) ID(r *http.Request) string {
	if c, err := r.Cookie(j.name()); err == nil && len(c.Value) == 43 {
		return c.Value
	}
	return ""
}

// Getter reads a live session by id.
type Getter interface {
	Get(ctx context.Context, id string, now time.Time) (Session, error)
}

// Read reads the live session the request's cookie names: ErrNotFound
// without a cookie, or for one that has ended.
func (j Jar) Read(r *http.Request, sessions Getter, now time.Time) (Session, error) {
	id := j.ID(r)
	if id == "" {
		return Session{}, ErrNotFound
	}
	return sessions.Get(r.Context(), id, now)
}

// Link is an accepted Login Without Password link, remembered until it
// could no longer pass the time window anyway.
type Link struct {
	Token      string
	InstanceID string
	ExpiresAt  time.Time
}

// Step is what a flow writes into the session with the change it makes,
// in one transaction: its draft, with the step done (in the session and
// with its purchase).
type Step struct {
	SessionID  string
	InstanceID string
	Flow       string
	Draft      string
	// Until, when set, brings the session's end forward to it (the step
	// activates the purchase: see AfterActivation).
	Until time.Time
	// Renewed, when set, replaces the session in the same transaction
	// (see Session.Renewed): written whole with the draft, the old id
	// deleted.
	Renewed *Session
}

// StepOf is the step of flow's draft in s.
func StepOf(s Session, flow, draft string) Step {
	return Step{SessionID: s.ID, InstanceID: s.InstanceID, Flow: flow, Draft: draft}
}

// OpenedEvent is the trail's record of a Login Without Password that
// opened s: when, until when, in which language, and whether it went on
// from drafts kept with the purchase (never the session's id or tokens).
func (s Session) OpenedEvent() audit.Event {
	ev := audit.New(audit.SessionOpened, s.InstanceID, audit.ActorBuyer, s.CreatedAt)
	ev.Detail = map[string]string{"lang": s.Lang, "until": s.ExpiresAt.UTC().Format(time.RFC3339), "continued": strconv.FormatBool(len(s.Drafts) > 0)}
	return ev
}

// ConsoleEvent is the trail's record of a Login Without Password of an
// activated purchase, which went straight on to the console.
func (l Link) ConsoleEvent(at time.Time) audit.Event {
	ev := audit.New(audit.SessionOpened, l.InstanceID, audit.ActorBuyer, at)
	ev.Detail = map[string]string{"to": "console"}
	return ev
}
