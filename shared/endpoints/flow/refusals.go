package flow

import (
	"errors"
	"math"
	"net/http"

	"github.com/guance/aliyun-marketplace/shared/domain/verification"
	"github.com/guance/aliyun-marketplace/shared/endpoints/i18n"
)

// SendRefusal is how a refused code send is answered inside a session,
// by the code endpoint and by the pages that send codes themselves.
type SendRefusal struct {
	Status     int
	Code       string
	Field      string // the field at fault, if the field is
	Message    i18n.Message
	RetryAfter int // seconds
}

// RefusalOf is the one place that maps a refused send to status and text.
func RefusalOf(err error) SendRefusal {
	var limit *verification.LimitError
	switch {
	case errors.Is(err, verification.ErrUnknownPurpose):
		return SendRefusal{Status: http.StatusBadRequest, Code: "UnknownPurpose", Message: i18n.M("code.error.purpose")}
	case errors.Is(err, verification.ErrInvalidAddress):
		return SendRefusal{Status: http.StatusBadRequest, Code: "InvalidAddress", Field: "address", Message: i18n.M("code.error.address")}
	case errors.Is(err, verification.ErrInvalidTarget):
		return SendRefusal{Status: http.StatusBadRequest, Code: "InvalidUsername", Field: "username", Message: i18n.M("code.error.username")}
	case errors.As(err, &limit):
		secs := int(math.Ceil(limit.RetryAfter.Seconds()))
		mins := int(math.Ceil(limit.RetryAfter.Minutes()))
		limited := func(code, key string, arg int) SendRefusal {
			return SendRefusal{Status: http.StatusTooManyRequests, Code: code, RetryAfter: secs, Message: i18n.M(key, arg)}
		}
		switch limit.Limit {
		case verification.LimitCooldown:
			return limited("Cooldown", "code.error.cooldown", secs)
		case verification.LimitTargetHour, verification.LimitRequesterHour, verification.LimitRequesterDay, verification.LimitAddressHour, verification.LimitAddressDay, verification.LimitReserve:
			return limited("AddressLimit", "code.error.address-cap", mins)
		case verification.LimitSession:
			return limited("SessionLimit", "code.error.session-cap", mins)
		default:
			return limited("ClientLimit", "code.error.client-cap", mins)
		}
	case errors.Is(err, verification.ErrMailFailed):
		return SendRefusal{Status: http.StatusServiceUnavailable, Code: "MailFailed", Message: i18n.M("code.error.mail")}
	}
	return SendRefusal{Status: http.StatusServiceUnavailable, Code: "Unavailable", Message: i18n.M("err.unavailable.body")}
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
	o := RefusalOf(err)
	if o.Code == "Cooldown" {
		wait = o.RetryAfter
	}
	return o.Status, o.Message, wait, true
}

// IsCodeRefusal tells a refused code, shown next to the code field with
// VerifyMessage, from a failure of our side.
func IsCodeRefusal(err error) bool {
	var wrong *verification.WrongCodeError
	return errors.As(err, &wrong) || errors.Is(err, verification.ErrNoCode) || errors.Is(err, verification.ErrCodeExpired) ||
		errors.Is(err, verification.ErrCodeDead) || errors.Is(err, verification.ErrCodeFormat) ||
		errors.Is(err, verification.ErrInvalidAddress) || errors.Is(err, verification.ErrInvalidTarget)
}
