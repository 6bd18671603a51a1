// Package sendcode is the endpoint that sends verification codes: a form
// post from a page (answered with a redirect back to the page, which shows
// the code on its way) or a JSON call, always inside a live activation
// session and with its CSRF token, so it can never serve as an open mail
// relay.
package sendcode

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/guance/aliyun-marketplace/shared/domain/marketplace"
	"github.com/guance/aliyun-marketplace/shared/domain/session"
	"github.com/guance/aliyun-marketplace/shared/domain/verification"
	"github.com/guance/aliyun-marketplace/shared/endpoints/flow"
	"github.com/guance/aliyun-marketplace/shared/endpoints/i18n"
	"github.com/guance/aliyun-marketplace/shared/endpoints/routes"
	"github.com/guance/aliyun-marketplace/shared/endpoints/web"
	"github.com/guance/aliyun-marketplace/shared/platform/logging"
	"github.com/guance/aliyun-marketplace/shared/platform/metrics"
)

// Sender issues and mails codes, and tells what a session waits for.
type Sender interface {
	Send(ctx context.Context, req verification.Request) (verification.Sent, error)
	Pending(ctx context.Context, purpose verification.Purpose, sessionID string) (verification.Pending, time.Duration, bool, error)
}

// Sessions reads activation sessions.
type Sessions interface {
	Get(ctx context.Context, id string, now time.Time) (session.Session, error)
}

// Handler serves routes.VerificationCodes.
type Handler struct {
	Sender   Sender
	Sessions Sessions
	// Web is what every page function shares (the session cookie, the
	// marketplace's and support's links).
	Web     web.Settings
	Log     *slog.Logger
	Metrics *metrics.Recorder
	Now     func() time.Time
}

// Routes returns the handler's routes, behind the cross-origin guard.
func (h *Handler) Routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+routes.VerificationCodes, h.page)
	mux.HandleFunc("POST "+routes.VerificationCodes, h.send)
	return web.Guard(mux, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.refuse(w, r, isJSON(r), web.Lang(r), web.ErrCrossOrigin)
	}))
}

// request is a send request, from a form or JSON.
type request struct {
	Address  string `json:"address"`
	Username string `json:"username"`
	Purpose  string `json:"purpose"`
	Lang     string `json:"lang"`
	CSRF     string `json:"csrf"`
	Return   string `json:"-"`
}

func (req request) target() string {
	if req.Purpose == string(verification.BindBilling) {
		return req.Username
	}
	return req.Address
}

const maxBody = 16 << 10

// defaultReturn is where Back goes when the page was opened on its own.
const defaultReturn = routes.Activate

// page shows the form and, if the session is waiting for a code of the
// purpose, where it went and how long until another may be sent.
func (h *Handler) page(w http.ResponseWriter, r *http.Request) {
	sess, err := h.session(r)
	if err != nil {
		h.refuse(w, r, false, web.Lang(r), err)
		return
	}
	lang := i18n.Or(sess.Lang, web.Lang(r))
	purpose, err := verification.ParsePurpose(r.URL.Query().Get("purpose"))
	if err != nil {
		purpose = verification.Register
	}
	view := web.CodeView{Purpose: string(purpose), Username: purpose == verification.BindBilling, Return: returnPath(r.URL.Query().Get("return"))}
	pending, wait, ok, err := h.Sender.Pending(r.Context(), purpose, sess.CodeScope())
	if err != nil {
		h.refuse(w, r, false, lang, err)
		return
	}
	if ok {
		view.Target = pending.Target
		view.Sent = sentMessage(purpose, pending.Target)
		view.Wait = int(wait.Seconds())
	}
	h.render(w, r, http.StatusOK, lang, sess, view)
}

func (h *Handler) send(w http.ResponseWriter, r *http.Request) {
	asJSON := isJSON(r)
	req, err := readRequest(w, r, asJSON)
	// Until the session is known: the form's language, else the browser's.
	lang := i18n.Or(req.Lang, web.Lang(r))
	var sess session.Session
	if err == nil {
		sess, err = h.session(r)
	}
	if err == nil {
		err = sess.CheckCSRF(req.CSRF)
	}
	if err != nil {
		h.refuse(w, r, asJSON, lang, err)
		return
	}
	if _, ok := i18n.ParseLang(req.Lang); !ok {
		lang = i18n.Or(sess.Lang, lang)
	}
	purpose, err := verification.ParsePurpose(req.Purpose)
	if err == nil {
		_, err = h.Sender.Send(r.Context(), verification.Request{
			Purpose: purpose, Target: req.target(), Lang: string(lang), Scope: sess.CodeScope(),
			Buyer: marketplace.MaskUID(sess.AliUID), Instance: sess.InstanceID,
			Client: verification.Client{IP: web.ClientIP(r)},
		})
	}
	if err != nil {
		h.answerError(w, r, asJSON, lang, sess, req, err)
		return
	}
	h.Log.InfoContext(r.Context(), "verification code issued", "purpose", purpose, "instanceId", sess.InstanceID)
	h.Metrics.Count("VerificationCodesSent", map[string]string{"Purpose": string(purpose)})
	if asJSON {
		// The same bytes whatever the target: for bind-billing, whether
		// the username exists must not show.
		writeJSON(w, http.StatusOK, map[string]any{
			"sent": true, "message": sentMessage(purpose, "").In(lang),
			"cooldownSeconds": int(verification.Cooldown.Seconds()), "validSeconds": int(verification.CodeTTL.Seconds()),
		})
		return
	}
	// Back to the page by GET, which reads what was sent: a reload then
	// shows the page instead of sending again.
	q := url.Values{"purpose": {string(purpose)}, "return": {returnPath(req.Return)}}
	web.SecurityHeaders(w, "")
	http.Redirect(w, r, routes.VerificationCodes+"?"+q.Encode(), http.StatusSeeOther)
}

// sentMessage says where a code went: the address the buyer typed, or for
// bind-billing the same words whatever the username.
func sentMessage(purpose verification.Purpose, target string) i18n.Message {
	minutes := int(verification.CodeTTL.Minutes())
	if purpose == verification.BindBilling || target == "" {
		return i18n.M("code.sent.billing", minutes)
	}
	return i18n.M("code.sent", target, minutes)
}

func isJSON(r *http.Request) bool {
	mediaType, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return mediaType == "application/json"
}

var errBadRequest = errors.New("the request could not be read")

func readRequest(w http.ResponseWriter, r *http.Request, asJSON bool) (request, error) {
	r.Body = http.MaxBytesReader(w, r.Body, maxBody)
	var req request
	if asJSON {
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			return req, errBadRequest
		}
		if req.CSRF == "" {
			req.CSRF = r.Header.Get("X-CSRF-Token")
		}
		return req, nil
	}
	if err := r.ParseForm(); err != nil {
		return req, errBadRequest
	}
	f := r.PostForm
	return request{Address: f.Get("address"), Username: f.Get("username"), Purpose: f.Get("purpose"), Lang: f.Get("lang"), CSRF: f.Get("csrf"), Return: f.Get("return")}, nil
}

func (h *Handler) session(r *http.Request) (session.Session, error) {
	return h.Web.Jar.Read(r, h.Sessions, h.Now())
}

// returnPath keeps a return target only if it is a path on this site.
func returnPath(p string) string {
	if p = web.LocalPath(p); p != "" {
		return p
	}
	return defaultReturn
}

func (h *Handler) render(w http.ResponseWriter, r *http.Request, status int, lang i18n.Lang, sess session.Session, view web.CodeView) {
	c := web.Chrome{Lang: lang, Title: "code.head", CSRF: sess.CSRF, Style: web.WaitStyle(view.Wait), Support: h.Web.SupportURL,
		Return: routes.VerificationCodes + "?" + url.Values{"purpose": {view.Purpose}, "return": {view.Return}}.Encode()}
	web.Render(w, r, h.Log, status, lang, web.CodePage(c, view))
}

// answerError answers a refused send inside a live session: the JSON
// error, or the page with the message where it belongs (next to the field
// when the field is wrong), keeping what was typed.
func (h *Handler) answerError(w http.ResponseWriter, r *http.Request, asJSON bool, lang i18n.Lang, sess session.Session, req request, err error) {
	out := flow.RefusalOf(err)
	h.logRefusal(r, out, err)
	if out.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(out.RetryAfter))
	}
	if asJSON {
		e := map[string]any{"code": out.Code, "message": out.Message.In(lang)}
		if out.Field != "" {
			e["field"] = out.Field
		}
		if out.RetryAfter > 0 {
			e["retryAfterSeconds"] = out.RetryAfter
		}
		writeJSON(w, out.Status, map[string]any{"error": e})
		return
	}
	purpose, perr := verification.ParsePurpose(req.Purpose)
	if perr != nil {
		purpose = verification.Register
	}
	view := web.CodeView{Purpose: string(purpose), Username: purpose == verification.BindBilling, Target: req.target(), Return: returnPath(req.Return)}
	if out.Field != "" {
		view.FieldError = out.Message
	} else {
		view.Error = out.Message
	}
	if out.Code == "Cooldown" {
		view.Wait = out.RetryAfter
	}
	h.render(w, r, out.Status, lang, sess, view)
}

// refuse answers a request that has no session to show a form in.
func (h *Handler) refuse(w http.ResponseWriter, r *http.Request, asJSON bool, lang i18n.Lang, err error) {
	next := web.Next{Marketplace: h.Web.MarketplaceURL}
	if !errors.Is(err, session.ErrNotFound) && h.Web.Jar.ID(r) != "" {
		next.Back = defaultReturn
	}
	p, ok := web.CommonProblem(err, next)
	if errors.Is(err, errBadRequest) {
		p, ok = web.CommonProblem(web.ErrBadForm, next)
	}
	if !ok {
		p = web.Unavailable(next)
	}
	level := slog.LevelWarn
	if p.Status >= 500 {
		level = slog.LevelError
	}
	h.Log.Log(r.Context(), level, "verification code request refused", "status", p.Status, "code", p.Code, logging.Err(err))
	h.Metrics.Count("VerificationCodesRefused", map[string]string{"Code": p.Code})
	if asJSON {
		writeJSON(w, p.Status, map[string]any{"error": map[string]any{"code": p.Code, "message": i18n.T(lang, p.Page.Body)}})
		return
	}
	c := h.Web.Chrome(lang, p.Page.Head)
	c.Problem = p.Code
	web.Render(w, r, h.Log, p.Status, lang, web.ErrorPage(c, p.Page))
}

// logRefusal logs a refused send: never the address, the username or the
// code, only what kind of refusal it was.
func (h *Handler) logRefusal(r *http.Request, out flow.SendRefusal, err error) {
	level := slog.LevelWarn
	if out.Status >= 500 {
		level = slog.LevelError
	}
	h.Log.Log(r.Context(), level, "verification code refused", "status", out.Status, "code", out.Code, "kind", verification.ErrorKind(err), logging.Err(err))
	h.Metrics.Count("VerificationCodesRefused", map[string]string{"Code": out.Code})
}

func writeJSON(w http.ResponseWriter, status int, body any) {
	web.SecurityHeaders(w, "")
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}
