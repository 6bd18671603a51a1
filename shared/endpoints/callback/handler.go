// Package callback is the HTTP endpoint the Alibaba Cloud Marketplace calls
// for every instance lifecycle event (the SPI). It checks the token, decodes
// the call, lets the activation service apply it and answers in the JSON the
// marketplace expects.
package callback

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"

	"github.com/guance/aliyun-marketplace/shared/domain/activation"
	"github.com/guance/aliyun-marketplace/shared/domain/marketplace"
	"github.com/guance/aliyun-marketplace/shared/endpoints/routes"
	"github.com/guance/aliyun-marketplace/shared/platform/logging"
	"github.com/guance/aliyun-marketplace/shared/platform/metrics"
)

// MaxBodyBytes bounds a call's body; the marketplace sends far less.
const MaxBodyBytes = 64 << 10

// Applier applies a decoded SPI message.
type Applier interface {
	Handle(ctx context.Context, msg marketplace.Message) (activation.Result, error)
}

// Handler serves the SPI endpoint.
type Handler struct {
	// Key is the ISV key that signs every call; PreviousKey, while a
	// rotation lasts, the one it replaced (calls signed with it are taken,
	// and counted: see DEPLOY.md, rotating the ISV key).
	Key, PreviousKey string
	Applier          Applier
	// PublicBaseURL is the origin of our API as the buyer's browser sees it;
	// empty: the origin the call came in on.
	PublicBaseURL string
	// FrontEndURL is answered as appInfo.frontEndUrl.
	FrontEndURL string
	Log         *slog.Logger
	Metrics     *metrics.Recorder
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodPost {
		w.Header().Set("Allow", "GET, POST")
		h.reject(w, r, "", errMethodNotAllowed)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, MaxBodyBytes)
	params, err := marketplace.ReadParams(r)
	if err != nil && r.URL.Query().Get("action") == string(marketplace.ActionCreateInstance) {
		// Unreadable, but named a createInstance: it too gets its "0".
		h.deferCreate(w, r, err)
		return
	}
	if err != nil {
		h.reject(w, r, "", err)
		return
	}
	action := params["action"]
	result, previous, err := Apply(r.Context(), params, h.Applier, h.Key, h.PreviousKey)
	if previous {
		h.Log.InfoContext(r.Context(), "spi call signed with the previous ISV key")
		h.Metrics.Count("IsvPreviousKeyUsed", nil)
	}
	if err != nil && action == string(marketplace.ActionCreateInstance) {
		h.deferCreate(w, r, err)
		return
	}
	if err != nil {
		h.reject(w, r, action, err)
		return
	}
	h.Log.InfoContext(r.Context(), "spi call applied", "action", action, "outcome", result.Outcome, "instanceId", instanceOf(params))
	if result.Outcome == activation.Disputed {
		// Acknowledged, but not applied: the reconciliation settles it.
		h.Metrics.Count("SpiCallsDisputed", map[string]string{"Action": action})
	}

	if result.Instance == nil {
		writeJSON(w, http.StatusOK, map[string]bool{"success": true})
		return
	}
	if result.Outcome == activation.Applied {
		h.Metrics.Count("ActivationsStarted", map[string]string{"Action": action})
	}
	writeJSON(w, http.StatusOK, h.createAnswer(r, result.Instance))
}

// Apply checks and applies one call's parameters. The token comes first:
// an unsigned call learns nothing, not even which of its parameters are
// wrong. keys are the ISV keys a call may be signed with, the current one
// first (then the one a rotation replaces); previous says a later key
// signed it.
func Apply(ctx context.Context, params marketplace.Params, applier Applier, keys ...string) (_ activation.Result, previous bool, _ error) {
	which, err := marketplace.VerifyTokenOf(params, keys...)
	if err != nil {
		return activation.Result{}, false, err
	}
	msg, err := marketplace.Decode(params)
	if err != nil {
		return activation.Result{}, which > 0, err
	}
	res, err := applier.Handle(ctx, msg)
	return res, which > 0, err
}

// notReady is the instance id createInstance answers when it made no
// instance: the docs' "0", on which the marketplace calls again (up to 120
// times).
const notReady = "0"

// deferCreate answers a createInstance that made no instance. Every such
// answer carries instanceId "0", so whatever the marketplace reads, it
// calls again:
//   - a failure a retry can fix (our storage failing or throttled): 200,
//     the documented answer of a call to be made again, with the code;
//   - a permanent refusal (a bad or missing token, a malformed call): its
//     4xx status and code as for any SPI call. Nothing was written; a
//     retry after the cause is fixed (usually our ISV key) succeeds.
func (h *Handler) deferCreate(w http.ResponseWriter, r *http.Request, err error) {
	status, body := errorAnswer(err)
	level := slog.LevelWarn
	if status >= 500 {
		level, status = slog.LevelError, http.StatusOK
		h.Metrics.Count("ActivationsDeferred", nil)
	}
	h.Log.Log(r.Context(), level, "spi call rejected",
		"action", marketplace.ActionCreateInstance, "status", status, "code", body.Code, "instanceId", notReady, logging.Err(err), "remoteAddr", r.RemoteAddr)
	h.Metrics.Count("SpiCallsRejected", map[string]string{"Code": body.Code})
	writeJSON(w, status, deferredAnswer{InstanceID: notReady, errorBody: body})
}

// deferredAnswer is createInstance's answer when no instance was made.
type deferredAnswer struct {
	InstanceID string `json:"instanceId"`
	errorBody
}

// createAnswer is the answer to createInstance. It depends only on the
// instance id and configuration, so a repeated call gets the same answer.
func (h *Handler) createAnswer(r *http.Request, inst *activation.Instance) createInstanceAnswer {
	base := h.PublicBaseURL
	if base == "" {
		base = requestOrigin(r)
	}
	base = strings.TrimRight(base, "/")
	return createInstanceAnswer{
		InstanceID: inst.ID,
		AppInfo: appInfo{
			FrontEndURL: h.FrontEndURL,
			AuthURL:     base + routes.SSO,
		},
	}
}

type createInstanceAnswer struct {
	InstanceID string  `json:"instanceId"`
	AppInfo    appInfo `json:"appInfo"`
}

type appInfo struct {
	FrontEndURL string `json:"frontEndUrl"`
	AuthURL     string `json:"authUrl"`
}

// requestOrigin is the origin the call came in on. API Gateway terminates
// TLS and says which scheme the client used in X-Forwarded-Proto.
func requestOrigin(r *http.Request) string {
	scheme := r.Header.Get("X-Forwarded-Proto")
	if scheme != "http" {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

func instanceOf(params marketplace.Params) string {
	if id := params["instanceId"]; id != "" {
		return id
	}
	return params["orderBizId"]
}

// reject answers a refused call and logs it. The log never holds the key or
// the token.
func (h *Handler) reject(w http.ResponseWriter, r *http.Request, action string, err error) {
	status, body := errorAnswer(err)
	level := slog.LevelWarn
	if status >= 500 {
		level = slog.LevelError
	}
	h.Log.Log(r.Context(), level, "spi call rejected",
		"action", action, "status", status, "code", body.Code, logging.Err(err), "remoteAddr", r.RemoteAddr)
	h.Metrics.Count("SpiCallsRejected", map[string]string{"Code": body.Code})
	writeJSON(w, status, body)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
