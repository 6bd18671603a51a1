package web

import (
	"errors"
	"net/http"

	"github.com/guance/aliyun-marketplace/shared/domain/activation"
	"github.com/guance/aliyun-marketplace/shared/domain/session"
)

// Errors every page function can meet.
var (
	// ErrCrossOrigin means a state-changing request came from another site
	// (refused by http.CrossOriginProtection).
	ErrCrossOrigin = errors.New("cross-origin request refused")
	// ErrBadForm means a form could not be read or carried a malformed value.
	ErrBadForm = errors.New("the form could not be read")
	// ErrNoSuchPage means no page is served at the path.
	ErrNoSuchPage = errors.New("no such page")
)

// Problem is how a page request is refused: its status, a stable code for
// logs and metrics, and the error page.
type Problem struct {
	Status int
	Code   string
	Page   ErrorView
}

// Next steps a problem page can offer.
type Next struct {
	// Marketplace is the marketplace's Purchased Services page, where a
	// new Login Without Password link comes from.
	Marketplace string
	// Back is the page to go back to inside a live session ("" without one).
	Back string
}

func (n Next) marketplace() Link { return Link{Label: "action.marketplace", Href: n.Marketplace} }

// back is the way back into the session, or to the marketplace without one.
func (n Next) back(label string) Link {
	if n.Back == "" {
		return n.marketplace()
	}
	return Link{Label: label, Href: n.Back}
}

// CommonProblem maps the errors every page function shares; ok is false
// for an error it does not know, which the caller maps or answers as
// Unavailable.
func CommonProblem(err error, next Next) (Problem, bool) {
	switch {
	case errors.Is(err, session.ErrNotFound):
		return Problem{http.StatusUnauthorized, "NoSession", ErrorView{Head: "err.session.head", Body: "err.session.body", Next: "next.marketplace", Action: next.marketplace()}}, true
	case errors.Is(err, session.ErrBadCSRF):
		return Problem{http.StatusForbidden, "BadCSRF", ErrorView{Head: "err.csrf.head", Body: "err.csrf.body", Next: "", Action: next.back("action.back")}}, true
	case errors.Is(err, ErrCrossOrigin):
		return Problem{http.StatusForbidden, "CrossOrigin", ErrorView{Head: "err.origin.head", Body: "err.origin.body", Next: "", Action: next.back("action.back")}}, true
	case errors.Is(err, ErrBadForm):
		return Problem{http.StatusBadRequest, "BadForm", ErrorView{Head: "err.form.head", Body: "err.form.body", Next: "next.back", Action: next.back("action.back")}}, true
	case errors.Is(err, activation.ErrActivationOver):
		return Problem{http.StatusConflict, "ActivationOver", ErrorView{Head: "err.activated.head", Body: "err.activated.body", Next: "next.console", Action: next.marketplace()}}, true
	case errors.Is(err, activation.ErrInstanceNotFound):
		return Problem{http.StatusNotFound, "InstanceNotFound", ErrorView{Head: "err.unknown.head", Body: "err.unknown.body", Next: "next.retry", Action: next.marketplace()}}, true
	case errors.Is(err, ErrNoSuchPage):
		return Problem{http.StatusNotFound, "NoSuchPage", ErrorView{Head: "err.notfound.head", Body: "err.notfound.body", Next: "", Action: next.back("action.activate")}}, true
	}
	return Problem{}, false
}

// Unavailable is the problem of a failure on our side.
func Unavailable(next Next) Problem {
	return Problem{http.StatusServiceUnavailable, "Unavailable", ErrorView{Head: "err.unavailable.head", Body: "err.unavailable.body", Next: "next.retry", Action: next.back("action.back")}}
}

// Guard puts the standard library's cross-origin protection in front of h:
// a state-changing request that a browser marks as coming from another
// site (Sec-Fetch-Site, or an Origin that is not ours) is refused with
// deny, before any handler reads it. It backs up, not replaces, the
// forms' CSRF tokens.
func Guard(h http.Handler, deny http.Handler) http.Handler {
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(deny)
	return cop.Handler(h)
}
