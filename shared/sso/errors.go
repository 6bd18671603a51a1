package sso

import (
	"errors"
	"log/slog"
	"net/http"

	"github.com/guance/aliyun-marketplace/shared/activation"
	"github.com/guance/aliyun-marketplace/shared/marketplace"
	"github.com/guance/aliyun-marketplace/shared/session"
	"github.com/guance/aliyun-marketplace/shared/web"
)

var (
	errReleased   = errors.New("the instance was released")
	errFrozen     = errors.New("the instance is frozen (arrears)")
	errNoSuchPage = errors.New("no such page")
)

// marketError is a failure of the Market OpenAPI, told apart from our own
// store's failures because the buyer's next step is the same but the
// operator's is not.
type marketError struct{ err error }

func (e *marketError) Error() string { return "market openapi: " + e.err.Error() }
func (e *marketError) Unwrap() error { return e.err }

// failure is how one kind of error is answered.
type failure struct {
	status int
	code   string // for logs and metrics
	page   web.ErrorView
}

// failureFor is the one place that maps an error to its status and page.
func failureFor(err error) failure {
	again := func(body string) web.ErrorView {
		return web.ErrorView{Title: "error.head.again", Body: body, Next: "error.next.again"}
	}
	var param *marketplace.ParamError
	var market *marketError
	switch {
	case errors.Is(err, marketplace.ErrMissingToken), errors.Is(err, marketplace.ErrTokenMismatch):
		return failure{http.StatusForbidden, "InvalidToken", again("error.token")}
	case errors.As(err, &param):
		return failure{http.StatusBadRequest, "InvalidParameter", again("error.params")}
	case errors.Is(err, marketplace.ErrLinkExpired):
		return failure{http.StatusGone, "LinkExpired", again("error.expired")}
	case errors.Is(err, marketplace.ErrLinkFromFuture):
		return failure{http.StatusForbidden, "LinkFromFuture", again("error.future")}
	case errors.Is(err, session.ErrLinkUsed):
		return failure{http.StatusConflict, "LinkReplayed", again("error.replayed")}
	case errors.Is(err, activation.ErrInstanceNotFound):
		return failure{http.StatusNotFound, "InstanceNotFound", web.ErrorView{Title: "error.head.again", Body: "error.unknown", Next: "error.next.retry"}}
	case errors.As(err, &market):
		return failure{http.StatusBadGateway, "MarketUnavailable", web.ErrorView{Title: "error.head.again", Body: "error.unavailable", Next: "error.next.retry"}}
	case errors.Is(err, errReleased):
		return failure{http.StatusGone, "InstanceReleased", web.ErrorView{Title: "error.released.head", Body: "error.released", Next: "error.released.next"}}
	case errors.Is(err, errFrozen):
		return failure{http.StatusForbidden, "InstanceFrozen", web.ErrorView{Title: "error.frozen.head", Body: "error.frozen", Next: "error.frozen.next"}}
	case errors.Is(err, session.ErrNotFound):
		return failure{http.StatusUnauthorized, "NoSession", web.ErrorView{Title: "error.session.head", Body: "error.session", Next: "error.next.again"}}
	case errors.Is(err, session.ErrBadCSRF):
		return failure{http.StatusForbidden, "BadCSRF", web.ErrorView{Title: "error.head.again", Body: "error.csrf", Next: "error.csrf.next"}}
	case errors.Is(err, errNoSuchPage):
		return failure{http.StatusNotFound, "NoSuchPage", web.ErrorView{Title: "error.head.again", Body: "error.notfound", Next: "error.next.again"}}
	}
	return failure{http.StatusServiceUnavailable, "Unavailable", web.ErrorView{Title: "error.head.again", Body: "error.unavailable", Next: "error.next.retry"}}
}

// fail answers err with its page in lang and logs it, without the token,
// the key or any secret.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, lang web.Lang, err error) {
	f := failureFor(err)
	level := slog.LevelWarn
	if f.status >= 500 {
		level = slog.LevelError
	}
	h.Log.Log(r.Context(), level, "activation request refused", "path", r.URL.Path, "status", f.status, "code", f.code, "error", err.Error())
	h.Metrics.Count("ActivationRequestsRefused", map[string]string{"Code": f.code})
	web.Render(w, f.status, "error", web.View{Lang: lang, Data: f.page})
}
