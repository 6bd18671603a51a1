// Package registration is the "No billing center account" path: three
// pages (basic information, company, activation), each its own form post,
// whose progress lives in the activation session; Activate writes the
// Guance account, the billing center account, the workspace, the cloud
// account link and the instance's activation in one transaction.
package registration

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/guance/aliyun-marketplace/shared/activation"
	"github.com/guance/aliyun-marketplace/shared/guance"
	"github.com/guance/aliyun-marketplace/shared/i18n"
	"github.com/guance/aliyun-marketplace/shared/logging"
	"github.com/guance/aliyun-marketplace/shared/metrics"
	"github.com/guance/aliyun-marketplace/shared/outbox"
	"github.com/guance/aliyun-marketplace/shared/session"
	"github.com/guance/aliyun-marketplace/shared/sites"
	"github.com/guance/aliyun-marketplace/shared/verification"
	"github.com/guance/aliyun-marketplace/shared/web"
)

// Sessions reads activation sessions and keeps the registration's draft.
type Sessions interface {
	Get(ctx context.Context, id string, now time.Time) (session.Session, error)
	SaveDraft(ctx context.Context, id, csrf, flow, draft string, now time.Time) error
}

// Instances reads an instance the buyer names.
type Instances interface {
	Get(ctx context.Context, id string) (activation.Instance, error)
}

// Codes sends register codes.
type Codes interface {
	Send(ctx context.Context, req verification.Request) (verification.Sent, error)
}

// Verifier consumes a code.
type Verifier interface {
	Verify(ctx context.Context, purpose verification.Purpose, sessionID, target, code string) error
}

// Records writes the registration.
type Records interface {
	Register(ctx context.Context, r guance.Registration, step session.Step, mail *outbox.Item) error
}

// Handler serves the registration pages.
type Handler struct {
	Sessions  Sessions
	Instances Instances
	Codes     Codes
	Verifier  Verifier
	Records   Records
	// HashPassword is argon2id with the product's parameters.
	HashPassword func(pw string) (string, error)
	LoginURLs    sites.LoginURLs
	// TermsURL is the terms of service the buyer accepts.
	TermsURL string
	// MarketplaceURL is where a buyer without a session gets a new link.
	MarketplaceURL string
	Log            *slog.Logger
	Metrics        *metrics.Recorder
	Now            func() time.Time
}

// Path is the entry of registration (the activation page links it).
const Path = "/register"

// Routes returns the handler's routes, behind the cross-origin guard.
func (h *Handler) Routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+Path, h.entry)
	mux.HandleFunc("GET "+web.RegisterBasicPath, h.page(h.showBasic))
	mux.HandleFunc("POST "+web.RegisterBasicPath, h.form(h.postBasic))
	mux.HandleFunc("GET "+web.RegisterCompanyPath, h.page(h.showCompany))
	mux.HandleFunc("POST "+web.RegisterCompanyPath, h.form(h.postCompany))
	mux.HandleFunc("GET "+web.RegisterActivatePath, h.page(h.showActivate))
	mux.HandleFunc("POST "+web.RegisterActivatePath, h.form(h.postActivate))
	mux.HandleFunc("GET "+web.RegisterDonePath, h.page(h.showDone))
	return web.Guard(mux, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.fail(w, r, web.Lang(r), web.ErrCrossOrigin)
	}))
}

// visit is one request inside a live session, with its draft.
type visit struct {
	w     http.ResponseWriter
	r     *http.Request
	sess  session.Session
	lang  i18n.Lang
	draft draft
}

func (v *visit) chrome(title, path string, style string) web.Chrome {
	return web.Chrome{Lang: v.lang, Title: title, CSRF: v.sess.CSRF, Return: path, Style: style}
}

// session reads the session the request's cookie names.
func (h *Handler) session(r *http.Request) (session.Session, error) {
	id := session.IDFrom(r)
	if id == "" {
		return session.Session{}, session.ErrNotFound
	}
	return h.Sessions.Get(r.Context(), id, h.Now())
}

// page wraps a GET of a step: the session and its draft, or the refusal.
func (h *Handler) page(show func(*visit)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		sess, err := h.session(r)
		if err != nil {
			h.fail(w, r, web.Lang(r), err)
			return
		}
		show(&visit{w: w, r: r, sess: sess, lang: i18n.Or(sess.Lang, web.Lang(r)), draft: decodeDraft(sess.Draft(flow))})
	}
}

// maxForm bounds a form's body.
const maxForm = 16 << 10

// form wraps a POST of a step: the body read within bounds, the session,
// and the form's CSRF token checked, before the step sees anything.
func (h *Handler) form(post func(*visit)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, maxForm)
		if err := r.ParseForm(); err != nil {
			h.fail(w, r, web.Lang(r), web.ErrBadForm)
			return
		}
		sess, err := h.session(r)
		if err == nil {
			err = sess.CheckCSRF(r.PostForm.Get("csrf"))
		}
		if err != nil {
			h.fail(w, r, web.Lang(r), err)
			return
		}
		post(&visit{w: w, r: r, sess: sess, lang: i18n.Or(sess.Lang, web.Lang(r)), draft: decodeDraft(sess.Draft(flow))})
	}
}

// entry goes to the first step not done yet.
func (h *Handler) entry(w http.ResponseWriter, r *http.Request) {
	sess, err := h.session(r)
	if err != nil {
		h.fail(w, r, web.Lang(r), err)
		return
	}
	redirect(w, r, nextPath(decodeDraft(sess.Draft(flow))))
}

// nextPath is the page a draft is at.
func nextPath(d draft) string {
	switch {
	case d.Done != nil:
		return web.RegisterDonePath
	case d.Step >= 2:
		return web.RegisterActivatePath
	case d.Step == 1:
		return web.RegisterCompanyPath
	}
	return web.RegisterBasicPath
}

// gate sends a visit to the step it is at when it asks for a later one
// (or anything once registration is done).
func gate(v *visit, need int) bool {
	if v.draft.Done != nil || v.draft.Step < need {
		redirect(v.w, v.r, nextPath(v.draft))
		return false
	}
	return true
}

func redirect(w http.ResponseWriter, r *http.Request, path string) {
	web.SecurityHeaders(w, "")
	http.Redirect(w, r, path, http.StatusSeeOther)
}

// save keeps the draft (conditioned on the form's CSRF token and a live
// session); false when it could not, and the refusal is answered.
func (h *Handler) save(v *visit) bool {
	err := h.Sessions.SaveDraft(v.r.Context(), v.sess.ID, v.r.PostForm.Get("csrf"), flow, v.draft.encode(), h.Now())
	if err != nil {
		h.fail(v.w, v.r, v.lang, err)
		return false
	}
	return true
}

// clientIP is the caller's address as API Gateway saw it.
func clientIP(r *http.Request) string {
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		return host
	}
	return r.RemoteAddr
}

// fail answers a request that cannot go on with its error page, in the
// session's language when there is one.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, lang i18n.Lang, err error) {
	next := web.Next{Marketplace: h.MarketplaceURL}
	if !errors.Is(err, session.ErrNotFound) && session.IDFrom(r) != "" {
		next.Back = "/activate"
	}
	p, ok := web.CommonProblem(err, next)
	if !ok {
		p = web.Unavailable(next)
	}
	level := slog.LevelWarn
	if p.Status >= 500 {
		level = slog.LevelError
	}
	h.Log.Log(r.Context(), level, "registration request refused", "path", r.URL.Path, "status", p.Status, "code", p.Code, logging.Err(err))
	h.Metrics.Count("RegistrationRequestsRefused", map[string]string{"Code": p.Code})
	web.Render(w, r, h.Log, p.Status, lang, web.ErrorPage(web.Chrome{Lang: lang, Title: p.Page.Head}, p.Page))
}
