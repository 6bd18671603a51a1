// Package sso is where the buyer's browser lands from the marketplace's
// Login Without Password button (our authUrl): it verifies the link, opens
// an activation session, and routes the buyer on.
package sso

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/guance/aliyun-marketplace/shared/activation"
	"github.com/guance/aliyun-marketplace/shared/marketapi"
	"github.com/guance/aliyun-marketplace/shared/marketplace"
	"github.com/guance/aliyun-marketplace/shared/metrics"
	"github.com/guance/aliyun-marketplace/shared/session"
	"github.com/guance/aliyun-marketplace/shared/sites"
	"github.com/guance/aliyun-marketplace/shared/web"
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
	SetLanguage(ctx context.Context, id, csrf, lang string, now time.Time) error
}

// Market asks the marketplace about an instance whose createInstance never
// reached us.
type Market interface {
	DescribeInstance(ctx context.Context, id string) (marketapi.Instance, error)
	DescribeOrder(ctx context.Context, id string) (marketapi.Order, error)
}

// Handler serves the authUrl and the activation page.
type Handler struct {
	Key          string        // ISV key that signs the links
	Window       time.Duration // how far a link's timeStamp may be from now
	SessionTTL   time.Duration
	CookieSecure bool
	Instances    Instances
	Sessions     Sessions
	Market       Market
	LoginURLs    sites.LoginURLs
	Log          *slog.Logger
	Metrics      *metrics.Recorder
	Now          func() time.Time
}

// Paths of the flow.
const (
	SSOPath      = "/aliyun/sso"
	ActivatePath = "/activate"
	LanguagePath = "/activate/language"
)

// Routes returns the handler's routes.
func (h *Handler) Routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+SSOPath, h.verify)
	mux.HandleFunc("GET "+ActivatePath, h.activatePage)
	mux.HandleFunc("POST "+LanguagePath, h.setLanguage)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		h.fail(w, r, web.Negotiate(r.Header.Get("Accept-Language")), errNoSuchPage)
	})
	return mux
}

// verify checks a Login Without Password link and routes the buyer:
// straight to the workspace's site when the instance is activated,
// otherwise to the activation page with a new session.
func (h *Handler) verify(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	lang := web.Negotiate(r.Header.Get("Accept-Language"))
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
		h.fail(w, r, lang, errReleased)
		return
	case activation.StatusFrozen:
		h.fail(w, r, lang, errFrozen)
		return
	}

	if inst.Activated() {
		loginURL, ok := h.LoginURLs[inst.Workspace.Site]
		if !ok {
			h.fail(w, r, lang, fmt.Errorf("no login URL configured for site %q", inst.Workspace.Site))
			return
		}
		if err := h.Sessions.ConsumeLink(ctx, link, now); err != nil {
			h.fail(w, r, lang, err)
			return
		}
		h.Log.InfoContext(ctx, "sso link accepted: to workspace", "instanceId", inst.ID, "site", inst.Workspace.Site)
		h.Metrics.Count("SsoToWorkspace", nil)
		web.SecurityHeaders(w)
		http.Redirect(w, r, loginURL, http.StatusSeeOther)
		return
	}

	sess := session.New(inst.AliUID, inst.ID, string(lang), now, h.SessionTTL)
	if err := h.Sessions.Open(ctx, link, sess); err != nil {
		h.fail(w, r, lang, err)
		return
	}
	h.Log.InfoContext(ctx, "sso link accepted: activation session opened", "instanceId", inst.ID)
	h.Metrics.Count("ActivationSessionsOpened", nil)
	web.SecurityHeaders(w)
	http.SetCookie(w, sess.Cookie(h.CookieSecure))
	// A redirect, so that reloading the page does not replay the link.
	http.Redirect(w, r, ActivatePath, http.StatusSeeOther)
}

// checkLink verifies the token and the time window; nothing is read or
// written for a link that fails here.
func (h *Handler) checkLink(r *http.Request, now time.Time) (session.Link, error) {
	params, err := marketplace.ReadParams(r)
	if err != nil {
		return session.Link{}, err
	}
	if err := marketplace.VerifyToken(params, h.Key); err != nil {
		return session.Link{}, err
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
	described, err := h.Market.DescribeInstance(ctx, id)
	if errors.Is(err, marketapi.ErrNotFound) {
		return activation.Instance{}, fmt.Errorf("instance %s: %w", id, activation.ErrInstanceNotFound)
	}
	if err != nil {
		return activation.Instance{}, &marketError{err}
	}
	order, err := h.Market.DescribeOrder(ctx, described.OrderID)
	if err != nil {
		return activation.Instance{}, &marketError{err}
	}
	if !marketplace.ValidUID(order.AliUID) || described.InstanceID != id {
		return activation.Instance{}, &marketError{fmt.Errorf("instance %s: the OpenAPI answered an unusable record (uid %q, instance %q)", id, order.AliUID, described.InstanceID)}
	}
	recovered := activation.Recovered(activation.MarketRecord{
		InstanceID: id, OrderID: described.OrderID, AliUID: order.AliUID, ProductCode: described.ProductCode,
		SKU: described.SKU, Status: described.Status, Trial: described.Trial, EndOn: described.EndOn,
	}, now)
	stored, created, err := h.Instances.Create(ctx, recovered)
	if err != nil {
		return activation.Instance{}, err
	}
	h.Log.WarnContext(ctx, "instance recovered from the Market OpenAPI: its createInstance never arrived", "instanceId", id, "created", created)
	h.Metrics.Count("InstancesRecovered", nil)
	return stored, nil
}

type activateData struct {
	MaskedUID  string
	InstanceID string
	ExpiresAt  string
}

// activatePage shows the two ways on: register, or bind an existing
// billing center account.
func (h *Handler) activatePage(w http.ResponseWriter, r *http.Request) {
	lang := web.Negotiate(r.Header.Get("Accept-Language"))
	sess, err := h.session(r)
	if err != nil {
		h.fail(w, r, lang, err)
		return
	}
	lang, _ = web.ParseLang(sess.Lang)
	web.Render(w, http.StatusOK, "activate", web.View{Lang: lang, CSRF: sess.CSRF, Data: activateData{
		MaskedUID: session.MaskUID(sess.AliUID), InstanceID: sess.InstanceID, ExpiresAt: marketplace.FormatTime(sess.ExpiresAt),
	}})
}

func (h *Handler) session(r *http.Request) (session.Session, error) {
	id := session.IDFrom(r)
	if id == "" {
		return session.Session{}, session.ErrNotFound
	}
	return h.Sessions.Get(r.Context(), id, h.Now())
}

// maxFormBytes bounds the small forms of these pages.
const maxFormBytes = 16 << 10

// setLanguage switches the session's language and goes back to the page.
func (h *Handler) setLanguage(w http.ResponseWriter, r *http.Request) {
	lang := web.Negotiate(r.Header.Get("Accept-Language"))
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		h.fail(w, r, lang, &marketplace.ParamError{Reason: "the form could not be read"})
		return
	}
	chosen, ok := web.ParseLang(r.PostForm.Get("lang"))
	if !ok {
		h.fail(w, r, lang, &marketplace.ParamError{Param: "lang", Reason: `must be "zh" or "en"`})
		return
	}
	id := session.IDFrom(r)
	if id == "" {
		h.fail(w, r, chosen, session.ErrNotFound)
		return
	}
	if err := h.Sessions.SetLanguage(r.Context(), id, r.PostForm.Get("csrf"), string(chosen), h.Now()); err != nil {
		h.fail(w, r, chosen, err)
		return
	}
	http.Redirect(w, r, ActivatePath, http.StatusSeeOther)
}
