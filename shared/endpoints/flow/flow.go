// Package flow is the plumbing every form flow inside an activation
// session shares (registration, binding): the session read on every page,
// the bounded form with its CSRF token checked before a step sees it, the
// flow's draft kept in the session, the redirect after a post, and the
// error pages of the refusals every page can meet.
package flow

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/a-h/templ"

	"github.com/guance/aliyun-marketplace/shared/domain/session"
	"github.com/guance/aliyun-marketplace/shared/endpoints/i18n"
	"github.com/guance/aliyun-marketplace/shared/endpoints/routes"
	"github.com/guance/aliyun-marketplace/shared/endpoints/web"
	"github.com/guance/aliyun-marketplace/shared/platform/logging"
	"github.com/guance/aliyun-marketplace/shared/platform/metrics"
)

// Sessions reads activation sessions and keeps a flow's draft.
type Sessions interface {
	Get(ctx context.Context, id string, now time.Time) (session.Session, error)
	// SaveDraft keeps flow's draft in the session and with its purchase,
	// conditioned on the form's CSRF token.
	SaveDraft(ctx context.Context, sess session.Session, csrf, flow, draft string, now time.Time) error
	SetLanguage(ctx context.Context, sess session.Session, csrf, lang string, now time.Time) error
	// Shorten brings the session's end forward to until.
	Shorten(ctx context.Context, id string, until time.Time) error
}

// Flow is one flow's plumbing.
type Flow struct {
	// Name names the flow's draft in the session, and its log lines.
	Name     string
	Sessions Sessions
	// Web is what every page function shares: the session cookie, where a
	// buyer without a session gets a new link, the support link.
	Web     web.Settings
	Log     *slog.Logger
	Metrics *metrics.Recorder
	Now     func() time.Time
}

// Visit is one request inside a live session.
type Visit struct {
	W    http.ResponseWriter
	R    *http.Request
	Sess session.Session
	Lang i18n.Lang
	// Continued: the form came from a tab of an earlier session of the
	// purchase (opened before the latest Login Without Password), or the
	// page follows such a form; it is taken, and the page says so.
	Continued bool

	support string
}

// continuedQuery marks the page a continued form redirects to.
const continuedQuery = "continued"

// Draft is the flow's draft as the session holds it ("" for none).
func (f *Flow) Draft(v *Visit) string { return v.Sess.Draft(f.Name) }

// Chrome is a page frame of the visit's session.
func (v *Visit) Chrome(title, path, style string) web.Chrome {
	c := web.Chrome{Lang: v.Lang, Title: title, CSRF: v.Sess.CSRF, Return: path, Style: style, Support: v.support}
	if v.Continued {
		c.Banner = i18n.M("session.continued")
	}
	return c
}

// Render writes a page of the visit.
func (f *Flow) Render(v *Visit, status int, page templ.Component) {
	web.Render(v.W, v.R, f.Log, status, v.Lang, page)
}

func (f *Flow) session(r *http.Request) (session.Session, error) {
	return f.Web.Jar.Read(r, f.Sessions, f.Now())
}

// Page wraps a GET: the session, or the refusal.
func (f *Flow) Page(show func(*Visit)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		sess, err := f.session(r)
		if err != nil {
			f.Fail(w, r, web.Lang(r), err)
			return
		}
		show(&Visit{W: w, R: r, Sess: sess, Lang: i18n.Or(sess.Lang, web.Lang(r)), Continued: r.URL.Query().Has(continuedQuery), support: f.Web.SupportURL})
	}
}

// MaxForm bounds a form's body.
const MaxForm = 16 << 10

// Form wraps a POST: the body read within bounds, the session, and the
// form's CSRF token checked, before the step sees anything.
func (f *Flow) Form(post func(*Visit)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, MaxForm)
		if err := r.ParseForm(); err != nil {
			f.Fail(w, r, web.Lang(r), web.ErrBadForm)
			return
		}
		sess, err := f.session(r)
		if err == nil {
			err = sess.CheckCSRF(r.PostForm.Get("csrf"))
		}
		if err != nil {
			f.Fail(w, r, web.Lang(r), err)
			return
		}
		v := &Visit{W: w, R: r, Sess: sess, Lang: i18n.Or(sess.Lang, web.Lang(r)), support: f.Web.SupportURL}
		if sess.Continued(r.PostForm.Get("csrf")) {
			// The page it leads to says so too.
			v.Continued, v.W = true, continuedWriter{w}
		}
		post(v)
	}
}

// Guard puts the cross-origin protection in front of a flow's routes.
func (f *Flow) Guard(mux http.Handler) http.Handler {
	return web.Guard(mux, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.Fail(w, r, web.Lang(r), web.ErrCrossOrigin)
	}))
}

// Save keeps the flow's draft (conditioned on the form's CSRF token and a
// live session); false when it could not, and the refusal is answered.
func (f *Flow) Save(v *Visit, draft string) bool {
	if err := f.Sessions.SaveDraft(v.R.Context(), v.Sess, v.R.PostForm.Get("csrf"), f.Name, draft, f.Now()); err != nil {
		f.Fail(v.W, v.R, v.Lang, err)
		return false
	}
	return true
}

// Step is the flow's draft written with the change a step makes.
func (f *Flow) Step(v *Visit, draft string) session.Step {
	return session.StepOf(v.Sess, f.Name, draft)
}

// Switching answers a language switch submitted with the page's form
// (web.Chrome.Form): what was typed is kept (save), the session's
// language changes, and the page comes back at path. false when the post
// is not one.
func (f *Flow) Switching(v *Visit, path string, save func() bool) bool {
	choice, ok := strings.CutPrefix(v.R.PostForm.Get("action"), "lang:")
	if !ok {
		return false
	}
	lang, ok := i18n.ParseLang(choice)
	if !ok {
		f.Fail(v.W, v.R, v.Lang, web.ErrBadForm)
		return true
	}
	if !save() {
		return true
	}
	if err := f.Sessions.SetLanguage(v.R.Context(), v.Sess, v.R.PostForm.Get("csrf"), string(lang), f.Now()); err != nil {
		f.Fail(v.W, v.R, v.Lang, err)
		return true
	}
	Redirect(v.W, v.R, path)
	return true
}

// ActivatingStep is the step that activates the purchase: the session
// then lives session.AfterActivation more at most (see Activated).
func (f *Flow) ActivatingStep(v *Visit, draft string) session.Step {
	step := f.Step(v, draft)
	if until := v.Sess.ShortenedAt(f.Now()); until.Before(v.Sess.ExpiresAt) {
		step.Until = until
	}
	return step
}

// Activated narrows the session once its purchase is activated: it lives
// session.AfterActivation more at most, the cookie too. step is the
// activating step, which shortened it already; without one (a step that
// writes no draft) it is shortened here, and a failure is logged, never
// the buyer's problem: the activation is done.
func (f *Flow) Activated(v *Visit, step *session.Step) {
	now := f.Now()
	until := v.Sess.ShortenedAt(now)
	if !until.Before(v.Sess.ExpiresAt) {
		return
	}
	if step == nil || step.Until.IsZero() {
		if err := f.Sessions.Shorten(v.R.Context(), v.Sess.ID, until); err != nil {
			f.Log.WarnContext(v.R.Context(), "session not shortened after activation", logging.Err(err))
			return
		}
	} else {
		until = step.Until
	}
	v.Sess.ExpiresAt = until
	f.Web.Jar.Set(v.W, v.Sess, now)
}

// continuedWriter adds continuedQuery to the redirect a continued form
// answers with.
type continuedWriter struct{ http.ResponseWriter }

func (w continuedWriter) WriteHeader(status int) {
	if loc := w.Header().Get("Location"); status == http.StatusSeeOther && strings.HasPrefix(loc, "/") {
		path, fragment, _ := strings.Cut(loc, "#")
		sep := "?"
		if strings.Contains(path, "?") {
			sep = "&"
		}
		loc = path + sep + continuedQuery + "=1"
		if fragment != "" {
			loc += "#" + fragment
		}
		w.Header().Set("Location", loc)
	}
	w.ResponseWriter.WriteHeader(status)
}

// Redirect answers with a 303 to a local path (after a post, so that a
// reload does not post again).
func Redirect(w http.ResponseWriter, r *http.Request, path string) {
	web.SecurityHeaders(w, "")
	http.Redirect(w, r, path, http.StatusSeeOther)
}

// Fail answers a request that cannot go on with its error page, in the
// given language, with the way back into a live session when there is one.
func (f *Flow) Fail(w http.ResponseWriter, r *http.Request, lang i18n.Lang, err error) {
	next := web.Next{Marketplace: f.Web.MarketplaceURL}
	if !errors.Is(err, session.ErrNotFound) && f.Web.Jar.ID(r) != "" {
		next.Back = routes.Activate
	}
	p, ok := web.CommonProblem(err, next)
	if !ok {
		p = web.Unavailable(next)
	}
	level := slog.LevelWarn
	if p.Status >= 500 {
		level = slog.LevelError
	}
	f.Log.Log(r.Context(), level, f.Name+" request refused", "path", r.URL.Path, "status", p.Status, "code", p.Code, logging.Err(err))
	f.Metrics.Count("FlowRequestsRefused", map[string]string{"Flow": f.Name, "Code": p.Code})
	c := f.Web.Chrome(lang, p.Page.Head)
	c.Problem = p.Code
	web.Render(w, r, f.Log, p.Status, lang, web.ErrorPage(c, p.Page))
}
