// Package web renders the buyer's pages: server-side templ components, in
// Chinese and English, usable without JavaScript, under a strict Content
// Security Policy (no script at all; the one stylesheet carries a nonce).
package web

import (
	"bytes"
	"context"
	"crypto/rand"
	_ "embed"
	"encoding/base64"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"

	"github.com/a-h/templ"

	"github.com/guance/aliyun-marketplace/shared/endpoints/i18n"
	"github.com/guance/aliyun-marketplace/shared/endpoints/routes"
	"github.com/guance/aliyun-marketplace/shared/platform/logging"
)

// Stylesheet is the one stylesheet of every page, inlined in each (a page is
// one request: no asset route, no external font or script).
//
//go:embed site.css
var Stylesheet string

// Lang negotiates the page language from every Accept-Language value of r
// (see i18n.Negotiate for why every value).
func Lang(r *http.Request) i18n.Lang {
	return i18n.Negotiate(r.Header.Values("Accept-Language")...)
}

// Link is a next step on a page: a label (a message key) and where it goes.
type Link struct {
	Label string
	Href  string
}

// Chrome is what the frame of every page needs.
type Chrome struct {
	Lang i18n.Lang
	// Title is the message key of the page title.
	Title string
	// CSRF is the session's token for the page's forms; empty without a
	// session, which also hides the language switch.
	CSRF string
	// Return is the local path the language switch comes back to.
	Return string
	// Tools is shown in the header beside the language switch (the site
	// selector of the binding page).
	Tools templ.Component
	// Style is page-specific CSS built from trusted values (a countdown's
	// seconds), added to the stylesheet.
	Style string
	// Support is where "Contact Guance support" goes.
	Support string
	// Problem, on an error page without a session, is its code: the
	// language switch is then a link to the same page in the other
	// language (routes.Problem).
	Problem string
	// Form, when set, is the id of the page's form: the language switch
	// then submits it (what was typed is kept across the switch).
	Form string
	// Banner is said above the page's content (a form of an earlier
	// session taken).
	Banner i18n.Message
	// Default is the form's main action (its value and label key): what
	// Enter in any field does (see WithDefault).
	Default Link
}

// WithDefault makes Enter in any field of the page's form do its main
// action (value, shown as label). A form submits with its first submit
// button in the document, and the language switch in the header (which
// submits the form too) comes before the form: so the page starts with a
// button of the main action, off screen and out of the tab order.
func (c Chrome) WithDefault(value, label string) Chrome {
	c.Default = Link{Label: label, Href: value}
	return c
}

// T is the text of key in the page's language.
func (c Chrome) T(key string, args ...any) string { return i18n.T(c.Lang, key, args...) }

// support is where "Contact Guance support" goes.
func (c Chrome) support() string {
	if c.Support == "" {
		return DefaultSupportURL
	}
	return c.Support
}

// ProblemPath is the error page of code in lang (routes.Problem).
func ProblemPath(code string, lang i18n.Lang) string {
	return routes.Problem + "?" + url.Values{"code": {code}, "lang": {string(lang)}}.Encode()
}

// PageForm is the id of a page's form, which the language switch submits
// (Chrome.Form).
const PageForm = "page-form"

// CodeAnchor is the id of the code field, where a page lands after a code
// was sent (on a phone, two screens below the top).
const CodeAnchor = "f-code"

// Text renders m in the page's language.
func (c Chrome) Text(m i18n.Message) string { return m.In(c.Lang) }

// DefaultMarketplaceURL is the buyer's console of the Alibaba Cloud
// Marketplace, where Purchased Services is.
const DefaultMarketplaceURL = "https://market.console.aliyun.com/"

// ClientIP is the caller's address as API Gateway saw it: the adapter puts
// the bare source IP in RemoteAddr; a plain server adds a port.
func ClientIP(r *http.Request) string {
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		return host
	}
	return r.RemoteAddr
}

// Render writes page with status. The page is rendered into a buffer
// first, so a failure becomes a clean 500 rather than half a page; the
// response carries a fresh style nonce and the security headers.
func Render(w http.ResponseWriter, r *http.Request, log *slog.Logger, status int, lang i18n.Lang, page templ.Component) {
	nonce := newNonce()
	ctx := templ.WithNonce(r.Context(), nonce)
	var buf bytes.Buffer
	if err := page.Render(ctx, &buf); err != nil {
		log.ErrorContext(r.Context(), "render page", "path", r.URL.Path, logging.Err(err))
		SecurityHeaders(w, "")
		http.Error(w, "Internal Server Error", http.StatusInternalServerError)
		return
	}
	SecurityHeaders(w, nonce)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Language", string(lang))
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// SecurityHeaders are sent with every page and redirect: no script at all,
// styles only with the page's nonce, forms only to this origin, no framing,
// the referrer only to this origin (the marketplace's link carried a
// token; an old browser without Fetch Metadata sends "Origin: null" on a
// form post under no-referrer, which the cross-origin guard refuses),
// https only for a year, never cached.
func SecurityHeaders(w http.ResponseWriter, styleNonce string) {
	style := "'none'"
	if styleNonce != "" {
		style = "'nonce-" + styleNonce + "'"
	}
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'none'; style-src "+style+"; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Strict-Transport-Security", "max-age=31536000")
	h.Set("Cache-Control", "no-store")
}

func newNonce() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b) // never fails on supported platforms (crypto/rand)
	return base64.RawStdEncoding.EncodeToString(b)
}

// styleTag writes the stylesheet and the page's own rules in one style
// element carrying the response's nonce.
func styleTag(extra string) templ.Component {
	return templ.ComponentFunc(func(ctx context.Context, w io.Writer) error {
		_, err := io.WriteString(w, `<style nonce="`+templ.EscapeString(templ.GetNonce(ctx))+`">`+Stylesheet+strings.ReplaceAll(extra, "<", "")+`</style>`)
		return err
	})
}

// LocalPath keeps p only if it is a path on this site, so that a return
// target can never send the buyer elsewhere.
func LocalPath(p string) string {
	if !strings.HasPrefix(p, "/") || strings.HasPrefix(p, "//") || strings.ContainsAny(p, "\\\r\n\t") {
		return ""
	}
	return p
}
