// Package sso is where the buyer's browser lands from the marketplace's
// Login Without Password button (our authUrl): it verifies the link, opens
// an activation session, and routes the buyer on. It also serves the
// activation page, the language switch of every page, and the branded
// not-found page for any path no function serves.
package sso

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/guance/aliyun-marketplace/shared/domain/activation"
	"github.com/guance/aliyun-marketplace/shared/domain/guance"
	"github.com/guance/aliyun-marketplace/shared/domain/marketplace"
	"github.com/guance/aliyun-marketplace/shared/domain/session"
	"github.com/guance/aliyun-marketplace/shared/domain/sites"
	"github.com/guance/aliyun-marketplace/shared/endpoints/i18n"
	"github.com/guance/aliyun-marketplace/shared/endpoints/routes"
	"github.com/guance/aliyun-marketplace/shared/endpoints/web"
	"github.com/guance/aliyun-marketplace/shared/platform/logging"
	"github.com/guance/aliyun-marketplace/shared/platform/metrics"
)

// Instances reads and records instances.
type Instances interface {
	Get(ctx context.Context, id string) (activation.Instance, error)
	Create(ctx context.Context, inst activation.Instance) (activation.Instance, bool, error)
}

// Sessions keeps activation sessions and used links.
type Sessions interface {
	Open(ctx context.Context, link session.Link, s session.Session) error
	ConsumeLink(ctx context.Context, link session.Link, now time.Time) error
	Get(ctx context.Context, id string, now time.Time) (session.Session, error)
	SetLanguage(ctx context.Context, sess session.Session, csrf, lang string, now time.Time) error
	// End deletes the session, conditioned on the form's CSRF token.
	End(ctx context.Context, id, csrf string, now time.Time) error
}

// Links tells whether an Alibaba Cloud account is linked to a billing
// center account already.
type Links interface {
	Link(ctx context.Context, uid string) (guance.CloudLink, bool, error)
}

// Market rebuilds an instance whose createInstance never reached us from
// the marketplace's own record.
type Market interface {
	Record(ctx context.Context, id string) (activation.MarketRecord, error)
}

// Handler serves the authUrl and the activation page.
type Handler struct {
	Key string // ISV key that signs the links
	// PreviousKey, while a rotation lasts, is the one Key replaced: links
	// signed with it are taken (and counted).
	PreviousKey string
	Window      time.Duration // how far a link's timeStamp may be from now
	SessionTTL  time.Duration
	// Web is what every page function shares (the session cookie, the
	// marketplace's and support's links).
	Web       web.Settings
	Instances Instances
	Sessions  Sessions
	Links     Links
	Market    Market
	LoginURLs sites.LoginURLs
	// Products are the product codes this stack sells: the ISV key signs
	// the links of every product of the ISV, so an instance we never
	// heard of is recovered only if it is one of ours.
	Products []string
	Log      *slog.Logger
	Metrics  *metrics.Recorder
	Now      func() time.Time
}

// Routes returns the handler's routes, behind the cross-origin guard.
func (h *Handler) Routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+routes.SSO, h.verify)
	mux.HandleFunc("GET "+routes.Activate, h.activatePage)
	mux.HandleFunc("POST "+routes.Language, h.setLanguage)
	mux.HandleFunc("POST "+routes.SignOut, h.signOut)
	mux.HandleFunc("GET "+routes.Problem, h.problemPage)
	mux.HandleFunc("/", h.notFound)
	return web.Guard(mux, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.fail(w, r, web.Lang(r), web.ErrCrossOrigin)
	}))
}

// verify checks a Login Without Password link and routes the buyer:
// straight to the workspace's site when the instance is activated,
// otherwise to the activation page with a new session.
func (h *Handler) verify(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	lang := web.Lang(r)
	now := h.Now()

	link, err := h.checkLink(r, now)
	if err != nil {
		h.fail(w, r, lang, err)
		return
	}
	inst, err := h.instance(ctx, link.InstanceID, now)
	if err != nil {
		h.fail(w, r, lang, err)
		return
	}
	switch inst.Status {
	case activation.StatusReleased:
		h.fail(w, r, lang, &releasedError{settled: inst.ReleasedWorkspaces > 0 || len(inst.Workspaces) > 0})
		return
	case activation.StatusFrozen:
		h.fail(w, r, lang, errFrozen)
		return
	}

	if inst.Activated() {
		loginURL, ok := h.LoginURLs[inst.LoginSite]
		if !ok {
			h.fail(w, r, lang, fmt.Errorf("no login URL configured for site %q", inst.LoginSite))
			return
		}
		if err := h.Sessions.ConsumeLink(ctx, link, now); err != nil {
			if errors.Is(err, session.ErrLinkUsed) {
				// Activated already: its way on is the console, not
				// "continue activating".
				err = &activatedReplay{loginURL: loginURL}
			}
			h.fail(w, r, lang, err)
			return
		}
		h.Log.InfoContext(ctx, "sso link accepted: to workspace", "instanceId", inst.ID, "site", inst.LoginSite)
		h.Metrics.Count("SsoToWorkspace", nil)
		web.SecurityHeaders(w, "")
		http.Redirect(w, r, loginURL, http.StatusSeeOther)
		return
	}

	// A UID linked to a billing center account (an earlier purchase, or a
	// billing binding) goes straight to that account's workspaces: no
	// second billing binding.
	next := routes.Activate
	if inst.BillingAccount != "" {
		next = routes.BindWorkspace
	} else if _, linked, err := h.Links.Link(ctx, inst.AliUID); err != nil {
		h.fail(w, r, lang, err)
		return
	} else if linked {
		next = routes.BindWorkspace
	}
	sess := session.New(inst.AliUID, inst.ID, string(lang), now, h.SessionTTL)
	if err := h.Sessions.Open(ctx, link, sess); err != nil {
		h.fail(w, r, lang, err)
		return
	}
	h.Log.InfoContext(ctx, "sso link accepted: activation session opened", "instanceId", inst.ID, "next", next)
	h.Metrics.Count("ActivationSessionsOpened", nil)
	web.SecurityHeaders(w, "")
	h.Web.Jar.Set(w, sess, now)
	// A redirect, so that reloading the page does not replay the link.
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// checkLink verifies the token and the time window; nothing is read or
// written for a link that fails here.
func (h *Handler) checkLink(r *http.Request, now time.Time) (session.Link, error) {
	params, err := marketplace.ReadParams(r)
	if err != nil {
		return session.Link{}, err
	}
	which, err := marketplace.VerifyTokenOf(params, h.Key, h.PreviousKey)
	if err != nil {
		return session.Link{}, err
	}
	if which == 1 {
		h.Metrics.Count("IsvPreviousKeyUsed", nil)
	}
	v, err := marketplace.DecodeVerify(params)
	if err != nil {
		return session.Link{}, err
	}
	if err := v.CheckWindow(now, h.Window); err != nil {
		return session.Link{}, err
	}
	return session.Link{
		// Tokens compare case-insensitively, so one link has one key.
		Token:      strings.ToLower(v.Token),
		InstanceID: v.InstanceID,
		// Past this the window refuses the link anyway.
		ExpiresAt: v.TimeStamp.Add(h.Window + time.Minute),
	}, nil
}

// instance reads the instance, or, when createInstance never reached us,
// rebuilds it from the Market OpenAPI and records it.
func (h *Handler) instance(ctx context.Context, id string, now time.Time) (activation.Instance, error) {
	inst, err := h.Instances.Get(ctx, id)
	if !errors.Is(err, activation.ErrInstanceNotFound) {
		return inst, err
	}
	record, err := h.Market.Record(ctx, id)
	if errors.Is(err, activation.ErrUnknownToMarket) {
		return activation.Instance{}, fmt.Errorf("instance %s: %w", id, activation.ErrInstanceNotFound)
	}
	if err != nil {
		return activation.Instance{}, &marketError{err}
	}
	if len(h.Products) > 0 && !slices.Contains(h.Products, record.ProductCode) {
		h.Log.WarnContext(ctx, "link of another product's instance refused", "instanceId", id)
		return activation.Instance{}, fmt.Errorf("instance %s of another product: %w", id, activation.ErrInstanceNotFound)
	}
	stored, created, err := h.Instances.Create(ctx, activation.Recovered(record, now))
	if err != nil {
		return activation.Instance{}, err
	}
	h.Log.WarnContext(ctx, "instance recovered from the Market OpenAPI: its createInstance never arrived", "instanceId", id, "created", created)
	h.Metrics.Count("InstancesRecovered", nil)
	return stored, nil
}

// activatePage shows the two ways on: register, or bind an existing
// billing center account.
func (h *Handler) activatePage(w http.ResponseWriter, r *http.Request) {
	sess, err := h.session(r)
	if err != nil {
		h.fail(w, r, web.Lang(r), err)
		return
	}
	// The activation page is for a UID that is not linked yet; a linked
	// one (bound in this very session, say) binds workspaces.
	if _, linked, err := h.Links.Link(r.Context(), sess.AliUID); err != nil {
		h.fail(w, r, web.Lang(r), err)
		return
	} else if linked {
		web.SecurityHeaders(w, "")
		http.Redirect(w, r, routes.BindWorkspace, http.StatusSeeOther)
		return
	}
	lang := i18n.Or(sess.Lang, web.Lang(r))
	c := h.Web.Chrome(lang, "activate.head")
	c.CSRF, c.Return = sess.CSRF, routes.Activate
	web.Render(w, r, h.Log, http.StatusOK, lang, web.ActivatePage(c, web.ActivateView{
		MaskedUID: web.MaskUID(sess.AliUID), InstanceID: sess.InstanceID, ExpiresAt: marketplace.FormatTime(sess.ExpiresAt),
		Register: routes.Register, Bind: routes.BindBilling,
	}))
}

func (h *Handler) session(r *http.Request) (session.Session, error) {
	return h.Web.Jar.Read(r, h.Sessions, h.Now())
}

// maxFormBytes bounds the small forms of these pages.
const maxFormBytes = 16 << 10

// setLanguage switches the session's language and goes back to the page
// the switch was on.
func (h *Handler) setLanguage(w http.ResponseWriter, r *http.Request) {
	lang := web.Lang(r)
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		h.fail(w, r, lang, web.ErrBadForm)
		return
	}
	back := web.LocalPath(r.PostForm.Get("return"))
	if back == "" {
		back = routes.Activate
	}
	chosen, ok := i18n.ParseLang(r.PostForm.Get("lang"))
	if !ok {
		h.fail(w, r, lang, web.ErrBadForm)
		return
	}
	id := h.Web.Jar.ID(r)
	if id == "" {
		h.fail(w, r, chosen, session.ErrNotFound)
		return
	}
	sess, err := h.Sessions.Get(r.Context(), id, h.Now())
	if err == nil {
		err = h.Sessions.SetLanguage(r.Context(), sess, r.PostForm.Get("csrf"), string(chosen), h.Now())
	}
	if err != nil {
		h.fail(w, r, lang, err)
		return
	}
	web.SecurityHeaders(w, "")
	http.Redirect(w, r, back, http.StatusSeeOther)
}

// signOut ends the session: its item goes, and so does the cookie. The
// purchase is not touched; a new Login Without Password link opens a new
// session.
func (h *Handler) signOut(w http.ResponseWriter, r *http.Request) {
	lang := web.Lang(r)
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		h.fail(w, r, lang, web.ErrBadForm)
		return
	}
	sess, err := h.session(r)
	if err == nil {
		lang = i18n.Or(sess.Lang, lang)
		err = h.Sessions.End(r.Context(), sess.ID, r.PostForm.Get("csrf"), h.Now())
	}
	if err != nil {
		h.fail(w, r, lang, err)
		return
	}
	h.Log.InfoContext(r.Context(), "activation session ended by the buyer", "instanceId", sess.InstanceID)
	h.Metrics.Count("ActivationSessionsEnded", nil)
	h.Web.Jar.Clear(w)
	// A redirect to the page that says so, so that a reload does not
	// send the form again.
	web.SecurityHeaders(w, "")
	http.Redirect(w, r, routes.Problem+"?"+url.Values{"code": {signedOut}, "lang": {string(lang)}}.Encode(), http.StatusSeeOther)
}

// problemPage is an error page by its code, in the language asked for:
// where the language switch of an error page without a session goes. It
// says what the original page said (the way back into a live session
// included), and nothing a code cannot name.
func (h *Handler) problemPage(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	lang := i18n.Or(q.Get("lang"), web.Lang(r))
	code := q.Get("code")
	if code == signedOut {
		c := h.Web.Chrome(lang, "signout.head")
		c.Problem = signedOut
		web.Render(w, r, h.Log, http.StatusOK, lang, web.ErrorPage(c, signedOutPage(h.Web.MarketplaceURL)))
		return
	}
	err, ok := problemErrors[code]
	if !ok {
		err = web.ErrNoSuchPage
	}
	next := web.Next{Marketplace: h.Web.MarketplaceURL}
	if _, serr := h.session(r); serr == nil && code != "NoSession" {
		next.Back = routes.Activate
	}
	p := problemFor(err, next)
	c := h.Web.Chrome(lang, p.Page.Head)
	c.Problem = p.Code
	web.Render(w, r, h.Log, p.Status, lang, web.ErrorPage(c, p.Page))
}

// notFound is every path no function serves, in the buyer's language.
func (h *Handler) notFound(w http.ResponseWriter, r *http.Request) {
	h.fail(w, r, web.Lang(r), web.ErrNoSuchPage)
}

// fail answers err with its page and logs it, without the token, the key
// or any secret. The page is in the session's language when the browser
// has a live session, and offers the way back into it.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, lang i18n.Lang, err error) {
	next := web.Next{Marketplace: h.Web.MarketplaceURL}
	if needsSession(err) {
		if sess, serr := h.session(r); serr == nil {
			lang = i18n.Or(sess.Lang, lang)
			next.Back = routes.Activate
		}
	}
	p := problemFor(err, next)
	level := slog.LevelWarn
	if p.Status >= 500 {
		level = slog.LevelError
	}
	h.Log.Log(r.Context(), level, "activation request refused", "path", r.URL.Path, "status", p.Status, "code", p.Code, logging.Err(err))
	h.Metrics.Count("ActivationRequestsRefused", map[string]string{"Code": p.Code})
	c := h.Web.Chrome(lang, p.Page.Head)
	c.Problem = p.Code
	web.Render(w, r, h.Log, p.Status, lang, web.ErrorPage(c, p.Page))
}
