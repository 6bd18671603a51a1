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
	SaveDraft(ctx context.Context, id, csrf, flow, draft string, now time.Time) error
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

	support string
}

// Draft is the flow's draft as the session holds it ("" for none).
func (f *Flow) Draft(v *Visit) string { return v.Sess.Draft(f.Name) }

// Chrome is a page frame of the visit's session.
func (v *Visit) Chrome(title, path, style string) web.Chrome {
	return web.Chrome{Lang: v.Lang, Title: title, CSRF: v.Sess.CSRF, Return: path, Style: style, Support: v.support}
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
		show(&Visit{W: w, R: r, Sess: sess, Lang: i18n.Or(sess.Lang, web.Lang(r)), support: f.Web.SupportURL})
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
		post(&Visit{W: w, R: r, Sess: sess, Lang: i18n.Or(sess.Lang, web.Lang(r)), support: f.Web.SupportURL})
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
	if err := f.Sessions.SaveDraft(v.R.Context(), v.Sess.ID, v.R.PostForm.Get("csrf"), f.Name, draft, f.Now()); err != nil {
		f.Fail(v.W, v.R, v.Lang, err)
		return false
	}
	return true
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
