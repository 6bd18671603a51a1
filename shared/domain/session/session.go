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
	"time"
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
	// Drafts keep each flow's progress (its own JSON, by flow name), so
	// that what a buyer typed lives on our side, never in hidden fields a
	// browser could tamper with.
	Drafts map[string]string `dynamodbav:"-"`
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

// CheckCSRF compares a form's token with the session's in constant time.
func (s Session) CheckCSRF(token string) error {
	if token == "" || subtle.ConstantTimeCompare([]byte(token), []byte(s.CSRF)) != 1 {
		return ErrBadCSRF
	}
	return nil
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
// in one transaction: its draft, with the step done.
type Step struct {
	SessionID string
	Flow      string
	Draft     string
}
