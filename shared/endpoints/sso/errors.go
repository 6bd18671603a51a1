package sso

import (
	"errors"
	"net/http"

	"github.com/guance/aliyun-marketplace/shared/domain/activation"
	"github.com/guance/aliyun-marketplace/shared/domain/marketplace"
	"github.com/guance/aliyun-marketplace/shared/domain/session"
	"github.com/guance/aliyun-marketplace/shared/endpoints/web"
)

var errFrozen = errors.New("the instance is frozen (arrears)")

// releasedError is a released instance; settled says whether workspaces
// were settled through it (and so went back to the billing center).
type releasedError struct{ settled bool }

func (e *releasedError) Error() string { return "the instance was released" }

// marketError is a failure of the Market OpenAPI, told apart from our own
// store's failures because the buyer's next step is the same but the
// operator's is not.
type marketError struct{ err error }

func (e *marketError) Error() string { return "market openapi: " + e.err.Error() }
func (e *marketError) Unwrap() error { return e.err }

// activatedReplay is a replayed link of an activated purchase: the page
// leads to the console it would have gone to.
type activatedReplay struct{ loginURL string }

func (e *activatedReplay) Error() string { return "the link was already used (activated purchase)" }
func (e *activatedReplay) Unwrap() error { return session.ErrLinkUsed }

// signedOut is the code of the page after Sign out.
const signedOut = "SignedOut"

// signedOutPage says the session ended, and where a new one comes from.
func signedOutPage(marketplaceURL string) web.ErrorView {
	return web.ErrorView{Head: "signout.head", Body: "signout.body", Next: "next.marketplace", Action: web.Link{Label: "action.marketplace", Href: marketplaceURL}, Calm: true}
}

// errUnavailable stands for a failure on our side, by its code.
var errUnavailable = errors.New("unavailable")

// problemErrors are the errors behind each problem code an error page can
// show: the language switch of an error page names its code, and the
// page in the other language is the same problem's.
var problemErrors = map[string]error{
	"InvalidToken":            marketplace.ErrTokenMismatch,
	"InvalidParameter":        &marketplace.ParamError{},
	"LinkExpired":             marketplace.ErrLinkExpired,
	"LinkFromFuture":          marketplace.ErrLinkFromFuture,
	"LinkReplayed":            session.ErrLinkUsed,
	"MarketUnavailable":       &marketError{errUnavailable},
	"InstanceReleased":        &releasedError{},
	"InstanceReleasedSettled": &releasedError{settled: true},
	"InstanceFrozen":          errFrozen,
	"NoSession":               session.ErrNotFound,
	"BadCSRF":                 session.ErrBadCSRF,
	"CrossOrigin":             web.ErrCrossOrigin,
	"BadForm":                 web.ErrBadForm,
	"InstanceNotFound":        activation.ErrInstanceNotFound,
	"NoSuchPage":              web.ErrNoSuchPage,
	"Unavailable":             errUnavailable,
}

// needsSession reports whether err's page should look for the browser's
// session (for its language and the way back): a replayed link, a form
// problem, a missing page. The link's own failures never read anything.
func needsSession(err error) bool {
	return errors.Is(err, session.ErrLinkUsed) || errors.Is(err, session.ErrBadCSRF) ||
		errors.Is(err, web.ErrBadForm) || errors.Is(err, web.ErrNoSuchPage) || errors.Is(err, web.ErrCrossOrigin)
}

// problemFor is the one place that maps an error to its status and page.
func problemFor(err error, next web.Next) web.Problem {
	market := web.Link{Label: "action.marketplace", Href: next.Marketplace}
	again := func(code string, status int, head, body string) web.Problem {
		return web.Problem{Status: status, Code: code, Page: web.ErrorView{Head: head, Body: body, Next: "next.marketplace", Action: market}}
	}
	var param *marketplace.ParamError
	var released *releasedError
	var replay *activatedReplay
	var mkt *marketError
	switch {
	case errors.Is(err, marketplace.ErrMissingToken), errors.Is(err, marketplace.ErrTokenMismatch):
		return again("InvalidToken", http.StatusForbidden, "err.token.head", "err.token.body")
	case errors.As(err, &param):
		return again("InvalidParameter", http.StatusBadRequest, "err.link.head", "err.link.body")
	case errors.Is(err, marketplace.ErrLinkExpired):
		return again("LinkExpired", http.StatusGone, "err.expired.head", "err.expired.body")
	case errors.Is(err, marketplace.ErrLinkFromFuture):
		return again("LinkFromFuture", http.StatusForbidden, "err.future.head", "err.future.body")
	case errors.As(err, &replay):
		p := again("LinkReplayed", http.StatusConflict, "err.replayed.head", "err.replayed.activated")
		p.Page.Next, p.Page.Action = "", web.Link{Label: "action.console", Href: replay.loginURL}
		return p
	case errors.Is(err, session.ErrLinkUsed):
		p := again("LinkReplayed", http.StatusConflict, "err.replayed.head", "err.replayed.body")
		if next.Back != "" {
			p.Page.Action = web.Link{Label: "action.activate", Href: next.Back}
		}
		return p
	case errors.As(err, &mkt):
		return web.Problem{Status: http.StatusBadGateway, Code: "MarketUnavailable", Page: web.ErrorView{Head: "err.market.head", Body: "err.market.body", Next: "next.retry", Action: market}}
	case errors.As(err, &released):
		code, body := "InstanceReleased", "err.released.body"
		if released.settled {
			code, body = "InstanceReleasedSettled", "err.released.settled.body"
		}
		return web.Problem{Status: http.StatusGone, Code: code, Page: web.ErrorView{Head: "err.released.head", Body: body, Next: "err.released.next", Action: market}}
	case errors.Is(err, errFrozen):
		return web.Problem{Status: http.StatusForbidden, Code: "InstanceFrozen", Page: web.ErrorView{Head: "err.frozen.head", Body: "err.frozen.body", Next: "err.frozen.next", Action: market}}
	}
	if p, ok := web.CommonProblem(err, next); ok {
		return p
	}
	return web.Unavailable(next)
}
