// Package sendcode is the endpoint that sends verification codes: a form
// post from a page (which comes back as the page, with the result next to
// the field) or a JSON call, always inside a live activation session and
// with its CSRF token, so it can never serve as an open mail relay.
package sendcode

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/guance/aliyun-marketplace/shared/metrics"
	"github.com/guance/aliyun-marketplace/shared/session"
	"github.com/guance/aliyun-marketplace/shared/verification"
	"github.com/guance/aliyun-marketplace/shared/web"
)

// Path is the endpoint.
const Path = "/verification-codes"

// Sender issues and mails codes.
type Sender interface {
	Send(ctx context.Context, req verification.Request) (verification.Sent, error)
}

// Sessions reads activation sessions.
type Sessions interface {
	Get(ctx context.Context, id string, now time.Time) (session.Session, error)
}

// Handler serves Path.
type Handler struct {
	Sender   Sender
	Sessions Sessions
	Log      *slog.Logger
	Metrics  *metrics.Recorder
	Now      func() time.Time
}

// Routes returns the handler's routes.
func (h *Handler) Routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+Path, h.page)
	mux.HandleFunc("POST "+Path, h.send)
	return mux
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

// pageData is what the code page shows.
type pageData struct {
	Purpose  string
	Username bool
	Target   string
	Return   string
	Sent     *web.Message
	Wait     int
	Error    *web.Message
}

const maxBody = 16 << 10

func (h *Handler) page(w http.ResponseWriter, r *http.Request) {
	lang := web.Negotiate(r.Header.Get("Accept-Language"))
	sess, err := h.session(r)
	if err != nil {
		h.errorPage(w, r, lang, err)
		return
	}
	lang, _ = web.ParseLang(sess.Lang)
	purpose, err := verification.ParsePurpose(r.URL.Query().Get("purpose"))
	if err != nil {
		purpose = verification.Register
	}
	web.Render(w, http.StatusOK, "code", web.View{Lang: lang, CSRF: sess.CSRF, Data: pageData{
		Purpose: string(purpose), Username: purpose == verification.BindBilling, Return: localPath(r.URL.Query().Get("return")),
	}})
}

func (h *Handler) send(w http.ResponseWriter, r *http.Request) {
	asJSON := isJSON(r)
	req, err := readRequest(w, r, asJSON)
	// Until the session is known, the form's language, else the browser's.
	lang, ok := web.ParseLang(req.Lang)
	if !ok {
		lang = web.Negotiate(r.Header.Get("Accept-Language"))
	}
	var sess session.Session
	if err == nil {
		sess, err = h.session(r)
	}
	if err == nil {
		err = sess.CheckCSRF(req.CSRF)
	}
	if err != nil {
		h.answer(w, r, asJSON, lang, sess, req, verification.Sent{}, err)
		return
	}
	if !ok {
		lang, _ = web.ParseLang(sess.Lang)
	}
	purpose, err := verification.ParsePurpose(req.Purpose)
	if err != nil {
		h.answer(w, r, asJSON, lang, sess, req, verification.Sent{}, err)
		return
	}
	target := req.Address
	if purpose == verification.BindBilling {
		target = req.Username
	}
	sent, err := h.Sender.Send(r.Context(), verification.Request{
		Purpose: purpose, Target: target, Lang: string(lang),
		Client: verification.Client{SessionID: sess.ID, IP: clientIP(r)},
	})
	if err == nil {
		h.Log.InfoContext(r.Context(), "verification code sent", "purpose", purpose, "instanceId", sess.InstanceID)
		h.Metrics.Count("VerificationCodesSent", map[string]string{"Purpose": string(purpose)})
	}
	h.answer(w, r, asJSON, lang, sess, req, sent, err)
}

func isJSON(r *http.Request) bool {
	mediaType, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return mediaType == "application/json"
}

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
	return request{Address: f.Get("address"), Username: f.Get("username"), Purpose: f.Get("purpose"), Lang: f.Get("lang"), CSRF: f.Get("csrf"), Return: localPath(f.Get("return"))}, nil
}

var errBadRequest = errors.New("the request could not be read")

func (h *Handler) session(r *http.Request) (session.Session, error) {
	id := session.IDFrom(r)
	if id == "" {
		return session.Session{}, session.ErrNotFound
	}
	return h.Sessions.Get(r.Context(), id, h.Now())
}

// clientIP is the caller's address as API Gateway saw it: the adapter puts
// the bare source IP in RemoteAddr; a plain server adds a port.
func clientIP(r *http.Request) string {
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		return host
	}
	return r.RemoteAddr
}

// localPath keeps a return target only if it is a path on this site.
func localPath(p string) string {
	if !strings.HasPrefix(p, "/") || strings.HasPrefix(p, "//") || strings.ContainsAny(p, "\\\r\n") {
		return ""
	}
	return p
}

// answer writes the result as JSON or as the page.
func (h *Handler) answer(w http.ResponseWriter, r *http.Request, asJSON bool, lang web.Lang, sess session.Session, req request, sent verification.Sent, err error) {
	out := outcomeFor(err, sent)
	if err != nil {
		level := slog.LevelWarn
		if out.status >= 500 {
			level = slog.LevelError
		}
		// Never the address, the username or the code.
		h.Log.Log(r.Context(), level, "verification code refused", "status", out.status, "code", out.code, "error", err.Error())
		h.Metrics.Count("VerificationCodesRefused", map[string]string{"Code": out.code})
	}
	if out.retryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(out.retryAfter))
	}
	view := web.View{Lang: lang}
	if asJSON {
		web.SecurityHeaders(w)
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.WriteHeader(out.status)
		body := map[string]any{}
		if err != nil {
			e := map[string]any{"code": out.code, "message": view.Text(out.message)}
			if out.field != "" {
				e["field"] = out.field
			}
			if out.retryAfter > 0 {
				e["retryAfterSeconds"] = out.retryAfter
			}
			body["error"] = e
		} else {
			body = map[string]any{"sent": true, "message": view.Text(out.message), "cooldownSeconds": int(sent.Cooldown.Seconds()), "validSeconds": int(sent.Validity.Seconds())}
			if sent.Masked != "" {
				body["maskedAddress"] = sent.Masked
			}
		}
		_ = json.NewEncoder(w).Encode(body)
		return
	}
	if out.page != nil {
		web.Render(w, out.status, "error", web.View{Lang: lang, Data: *out.page})
		return
	}
	purpose := req.Purpose
	data := pageData{Purpose: purpose, Username: purpose == string(verification.BindBilling), Return: req.Return}
	data.Target = req.Address
	if data.Username {
		data.Target = req.Username
	}
	if err != nil {
		data.Error = &out.message
		if out.code == "Cooldown" {
			data.Wait = out.retryAfter
		}
	} else {
		data.Sent, data.Wait = &out.message, int(sent.Cooldown.Seconds())
	}
	web.Render(w, out.status, "code", web.View{Lang: lang, CSRF: sess.CSRF, Data: data})
}
