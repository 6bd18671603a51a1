package sendcode

import (
	"errors"
	"math"
	"net/http"

	"github.com/guance/aliyun-marketplace/shared/session"
	"github.com/guance/aliyun-marketplace/shared/verification"
	"github.com/guance/aliyun-marketplace/shared/web"
)

// outcome is how a send is answered.
type outcome struct {
	status     int
	code       string
	field      string
	message    web.Message
	retryAfter int // seconds
	// page replaces the form with a full error page (no session to stay in).
	page *web.ErrorView
}

// outcomeFor is the one place that maps a send's result to status and text.
func outcomeFor(err error, sent verification.Sent) outcome {
	var limit *verification.LimitError
	switch {
	case err == nil && sent.Masked != "":
		return outcome{status: http.StatusOK, code: "Sent", message: web.Message{Key: "code.sent", Args: []any{sent.Masked, int(sent.Validity.Minutes())}}}
	case err == nil:
		return outcome{status: http.StatusOK, code: "Sent", message: web.Message{Key: "code.sent.maybe", Args: []any{int(sent.Validity.Minutes())}}}
	case errors.Is(err, session.ErrNotFound):
		return outcome{status: http.StatusUnauthorized, code: "NoSession", message: web.Message{Key: "error.session"},
			page: &web.ErrorView{Title: "error.session.head", Body: "error.session", Next: "error.next.again"}}
	case errors.Is(err, session.ErrBadCSRF):
		return outcome{status: http.StatusForbidden, code: "BadCSRF", message: web.Message{Key: "error.csrf"},
			page: &web.ErrorView{Title: "error.head.again", Body: "error.csrf", Next: "error.csrf.next"}}
	case errors.Is(err, errBadRequest):
		return outcome{status: http.StatusBadRequest, code: "BadRequest", message: web.Message{Key: "error.params"},
			page: &web.ErrorView{Title: "error.head.again", Body: "error.params", Next: "error.csrf.next"}}
	case errors.Is(err, verification.ErrUnknownPurpose):
		return outcome{status: http.StatusBadRequest, code: "UnknownPurpose", field: "purpose", message: web.Message{Key: "code.error.purpose"}}
	case errors.Is(err, verification.ErrInvalidAddress):
		return outcome{status: http.StatusBadRequest, code: "InvalidAddress", field: "address", message: web.Message{Key: "code.error.address"}}
	case errors.Is(err, verification.ErrInvalidTarget):
		return outcome{status: http.StatusBadRequest, code: "InvalidUsername", field: "username", message: web.Message{Key: "code.error.username"}}
	case errors.As(err, &limit):
		secs := int(math.Ceil(limit.RetryAfter.Seconds()))
		mins := int(math.Ceil(limit.RetryAfter.Minutes()))
		switch limit.Limit {
		case "cooldown":
			return outcome{status: http.StatusTooManyRequests, code: "Cooldown", retryAfter: secs, message: web.Message{Key: "code.error.cooldown", Args: []any{secs}}}
		case "address-hour", "address-day":
			return outcome{status: http.StatusTooManyRequests, code: "AddressLimit", retryAfter: secs, message: web.Message{Key: "code.error.address-cap", Args: []any{mins}}}
		default:
			return outcome{status: http.StatusTooManyRequests, code: "ClientLimit", retryAfter: secs, message: web.Message{Key: "code.error.client-cap", Args: []any{mins}}}
		}
	case errors.Is(err, verification.ErrMailFailed):
		return outcome{status: http.StatusServiceUnavailable, code: "MailFailed", message: web.Message{Key: "code.error.mail"}}
	}
	return outcome{status: http.StatusServiceUnavailable, code: "Unavailable", message: web.Message{Key: "error.unavailable"}}
}

// errorPage answers a page request that has no session to show a form in.
func (h *Handler) errorPage(w http.ResponseWriter, r *http.Request, lang web.Lang, err error) {
	out := outcomeFor(err, verification.Sent{})
	h.Log.WarnContext(r.Context(), "verification code page refused", "status", out.status, "code", out.code)
	page := out.page
	if page == nil {
		page = &web.ErrorView{Title: "error.head.again", Body: "error.unavailable", Next: "error.next.retry"}
	}
	web.Render(w, out.status, "error", web.View{Lang: lang, Data: *page})
}

// VerifyMessage is the text shown next to the code field when a typed code
// is refused (for the pages that check codes).
func VerifyMessage(err error) web.Message {
	var wrong *verification.WrongCodeError
	switch {
	case errors.As(err, &wrong):
		if wrong.Remaining == 0 {
			return web.Message{Key: "code.error.dead"}
		}
		return web.Message{Key: "code.error.wrong", Args: []any{wrong.Remaining}}
	case errors.Is(err, verification.ErrCodeExpired):
		return web.Message{Key: "code.error.expired"}
	case errors.Is(err, verification.ErrCodeDead):
		return web.Message{Key: "code.error.dead"}
	case errors.Is(err, verification.ErrNoCode):
		return web.Message{Key: "code.error.none"}
	case errors.Is(err, verification.ErrInvalidAddress):
		return web.Message{Key: "code.error.address"}
	case errors.Is(err, verification.ErrInvalidTarget):
		return web.Message{Key: "code.error.username"}
	}
	return web.Message{Key: "error.unavailable"}
}
