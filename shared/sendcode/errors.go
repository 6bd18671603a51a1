package sendcode

import (
	"errors"
	"math"
	"net/http"

	"github.com/guance/aliyun-marketplace/shared/i18n"
	"github.com/guance/aliyun-marketplace/shared/verification"
)

// outcome is how a refused send is answered inside a session.
type outcome struct {
	status     int
	code       string
	field      string // the field at fault, if the field is
	message    i18n.Message
	retryAfter int // seconds
}

// outcomeFor is the one place that maps a refused send to status and text.
func outcomeFor(err error) outcome {
	var limit *verification.LimitError
	switch {
	case errors.Is(err, verification.ErrUnknownPurpose):
		return outcome{status: http.StatusBadRequest, code: "UnknownPurpose", message: i18n.M("code.error.purpose")}
	case errors.Is(err, verification.ErrInvalidAddress):
		return outcome{status: http.StatusBadRequest, code: "InvalidAddress", field: "address", message: i18n.M("code.error.address")}
	case errors.Is(err, verification.ErrInvalidTarget):
		return outcome{status: http.StatusBadRequest, code: "InvalidUsername", field: "username", message: i18n.M("code.error.username")}
	case errors.As(err, &limit):
		secs := int(math.Ceil(limit.RetryAfter.Seconds()))
		mins := int(math.Ceil(limit.RetryAfter.Minutes()))
		limited := func(code, key string, arg int) outcome {
			return outcome{status: http.StatusTooManyRequests, code: code, retryAfter: secs, message: i18n.M(key, arg)}
		}
		switch limit.Limit {
		case verification.LimitCooldown:
			return limited("Cooldown", "code.error.cooldown", secs)
		case verification.LimitTargetHour, verification.LimitAddressHour, verification.LimitAddressDay:
			return limited("AddressLimit", "code.error.address-cap", mins)
		case verification.LimitSession:
			return limited("SessionLimit", "code.error.session-cap", mins)
		default:
			return limited("ClientLimit", "code.error.client-cap", mins)
		}
	case errors.Is(err, verification.ErrMailFailed):
		return outcome{status: http.StatusServiceUnavailable, code: "MailFailed", message: i18n.M("code.error.mail")}
	}
	return outcome{status: http.StatusServiceUnavailable, code: "Unavailable", message: i18n.M("err.unavailable.body")}
}

// VerifyMessage is the text shown next to the code field when a typed code
// is refused (for the pages that check codes).
func VerifyMessage(err error) i18n.Message {
	var wrong *verification.WrongCodeError
	switch {
	case errors.As(err, &wrong):
		if wrong.Remaining == 0 {
			return i18n.M("code.error.dead")
		}
		return i18n.M("code.error.wrong", wrong.Remaining)
	case errors.Is(err, verification.ErrCodeFormat):
		return i18n.M("code.error.format")
	case errors.Is(err, verification.ErrCodeExpired):
		return i18n.M("code.error.expired")
	case errors.Is(err, verification.ErrCodeDead):
		return i18n.M("code.error.dead")
	case errors.Is(err, verification.ErrNoCode):
		return i18n.M("code.error.none")
	case errors.Is(err, verification.ErrInvalidAddress):
		return i18n.M("code.error.address")
	case errors.Is(err, verification.ErrInvalidTarget):
		return i18n.M("code.error.username")
	}
	return i18n.M("err.unavailable.body")
}

// InPageRefusal is how a page with its own Send code button shows a
// refused send: the status, the text, and the seconds its countdown
// waits (a cooldown only; the caps are too long to count down). ok is
// false for a failure of our side, which gets the error page instead.
func InPageRefusal(err error) (status int, msg i18n.Message, wait int, ok bool) {
	var limit *verification.LimitError
	if !errors.As(err, &limit) && !errors.Is(err, verification.ErrMailFailed) {
		return 0, i18n.Message{}, 0, false
	}
	o := outcomeFor(err)
	if o.code == "Cooldown" {
		wait = o.retryAfter
	}
	return o.status, o.message, wait, true
}

// IsCodeRefusal tells a refused code, shown next to the code field with
// VerifyMessage, from a failure of our side.
func IsCodeRefusal(err error) bool {
	var wrong *verification.WrongCodeError
	return errors.As(err, &wrong) || errors.Is(err, verification.ErrNoCode) || errors.Is(err, verification.ErrCodeExpired) ||
		errors.Is(err, verification.ErrCodeDead) || errors.Is(err, verification.ErrCodeFormat) ||
		errors.Is(err, verification.ErrInvalidAddress) || errors.Is(err, verification.ErrInvalidTarget)
}
