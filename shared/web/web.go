// Package web renders the buyer's pages: server-side html/template, embedded
// in the binary, in Chinese and English, usable without JavaScript.
package web

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"strings"
)

// Lang is a page language.
type Lang string

// The languages of pages and mails.
const (
	ZH Lang = "zh"
	EN Lang = "en"
)

// ParseLang accepts "zh" or "en".
func ParseLang(s string) (Lang, bool) {
	switch Lang(s) {
	case ZH, EN:
		return Lang(s), true
	}
	return "", false
}

// Negotiate picks the language from an Accept-Language header: the first
// of the buyer's preferences we have, by weight; Chinese when none matches,
// since the marketplace's buyers mostly read it.
func Negotiate(header string) Lang {
	best, bestQ := ZH, -1.0
	for _, part := range strings.Split(header, ",") {
		tag, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		q := 1.0
		if v, ok := strings.CutPrefix(strings.TrimSpace(params), "q="); ok {
			if _, err := fmt.Sscanf(v, "%g", &q); err != nil {
				continue
			}
		}
		primary, _, _ := strings.Cut(strings.ToLower(tag), "-")
		lang, ok := ParseLang(primary)
		if ok && q > bestQ && q > 0 {
			best, bestQ = lang, q
		}
	}
	return best
}

//go:embed templates/*.html
var files embed.FS

var pages = map[string]*template.Template{}

func init() {
	for _, name := range []string{"activate", "error", "code"} {
		pages[name] = template.Must(template.ParseFS(files, "templates/layout.html", "templates/"+name+".html"))
	}
}

// View is what a page template sees.
type View struct {
	Lang Lang
	// CSRF is the session's token for the page's forms; empty without a session.
	CSRF string
	Data any
}

// T returns the message key in the view's language, formatted with args.
func (v View) T(key string, args ...any) string {
	msg, ok := messages[key][v.Lang]
	if !ok {
		return key
	}
	if len(args) > 0 {
		return fmt.Sprintf(msg, args...)
	}
	return msg
}

// Other is the language the switcher offers.
func (v View) Other() Lang {
	if v.Lang == ZH {
		return EN
	}
	return ZH
}

// Render writes page with status. The page is rendered into a buffer first,
// so a template failure becomes a clean 500 rather than half a page.
func Render(w http.ResponseWriter, status int, page string, view View) {
	var buf bytes.Buffer
	if err := pages[page].ExecuteTemplate(&buf, "layout", view); err != nil {
		slog.Error("render page", "page", page, "error", err.Error())
		http.Error(w, "Internal Server Error", http.StatusInternalServerError)
		return
	}
	SecurityHeaders(w)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Language", string(view.Lang))
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// SecurityHeaders are sent with every page: no scripts at all, no framing,
// no referrer (the marketplace's link carried a token), never cached.
func SecurityHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-store")
}

// ErrorView is an error page's content: a title, what happened and what to
// do next, each a message key.
type ErrorView struct {
	Title string
	Body  string
	Next  string
}

// Message is a text key with its arguments, for a message next to a field.
type Message struct {
	Key  string
	Args []any
}

// Text renders m in the view's language.
func (v View) Text(m Message) string { return v.T(m.Key, m.Args...) }
