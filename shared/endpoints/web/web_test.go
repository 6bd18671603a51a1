package web

import (
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/guance/aliyun-marketplace/shared/endpoints/i18n"
)

var discard = slog.New(slog.NewTextHandler(io.Discard, nil))

func TestErrorPage(t *testing.T) {
	rec := httptest.NewRecorder()
	c := Chrome{Lang: i18n.EN, Title: "err.released.head"}
	Render(rec, httptest.NewRequest("GET", "/x", nil), discard, 410, c.Lang, ErrorPage(c, ErrorView{
		Head: "err.released.head", Body: "err.released.body", Next: "err.released.next",
		Action: Link{Label: "action.marketplace", Href: "https://market.example/purchased"},
	}))
	body := rec.Body.String()
	for _, want := range []string{"This service was closed", `<html lang="en">`, `href="https://market.example/purchased"`, "Open Marketplace · Purchased Services", `role="alert"`} {
		if !strings.Contains(body, want) {
			t.Errorf("error page lacks %q", want)
		}
	}
	if rec.Code != 410 || strings.Contains(body, "err.released") || strings.Contains(body, "<form") {
		t.Fatalf("error page %d (no keys, no form without a session):\n%s", rec.Code, body)
	}
	if rec.Header().Get("Content-Language") != "en" || rec.Header().Get("Cache-Control") != "no-store" {
		t.Fatalf("headers %v", rec.Header())
	}
}

// TestStyleNonce: the only style on a page is the stylesheet, allowed by a
// nonce that is fresh for every response; no script is allowed at all.
func TestStyleNonce(t *testing.T) {
	nonceOf := func() (string, string) {
		rec := httptest.NewRecorder()
		c := Chrome{Lang: i18n.ZH, Title: "activate.head", Style: WaitStyle(42)}
		Render(rec, httptest.NewRequest("GET", "/activate", nil), discard, 200, c.Lang, ActivatePage(c, ActivateView{}))
		csp := rec.Header().Get("Content-Security-Policy")
		m := regexp.MustCompile(`style-src 'nonce-([^']+)'`).FindStringSubmatch(csp)
		if m == nil || !strings.Contains(csp, "default-src 'none'") || strings.Contains(csp, "script-src") {
			t.Fatalf("CSP %q", csp)
		}
		body := rec.Body.String()
		if strings.Count(body, "<style") != 1 || !strings.Contains(body, `<style nonce="`+m[1]+`">`) || !strings.Contains(body, ".wait{--from:42}") {
			t.Fatalf("style element does not carry the CSP nonce %s", m[1])
		}
		if strings.Contains(body, "style=") || strings.Contains(body, "<script") {
			t.Fatal("inline style attributes and scripts are refused by the CSP")
		}
		return m[1], body
	}
	a, _ := nonceOf()
	b, _ := nonceOf()
	if a == b {
		t.Fatal("the nonce must differ between responses")
	}
}

func TestActivatePageEscapes(t *testing.T) {
	rec := httptest.NewRecorder()
	c := Chrome{Lang: i18n.ZH, Title: "activate.head", CSRF: "tok<>", Return: "/activate"}
	Render(rec, httptest.NewRequest("GET", "/activate", nil), discard, 200, c.Lang, ActivatePage(c, ActivateView{
		MaskedUID: MaskUID("1234567890123456"), InstanceID: "<b>5604018</b>", ExpiresAt: "2026-11-26 12:20:00", Register: "/register", Bind: "/bind",
	}))
	body := rec.Body.String()
	for _, want := range []string{"开通观测云商业版", `value="tok&lt;&gt;"`, `name="lang" value="en"`, `name="return" value="/activate"`, "1234********3456", "&lt;b&gt;5604018", "2026-11-26 12:20:00", `href="/register"`, ">English<"} {
		if !strings.Contains(body, want) {
			t.Errorf("activate page lacks %q", want)
		}
	}
}

func TestFieldAccessibility(t *testing.T) {
	var b strings.Builder
	c := Chrome{Lang: i18n.EN}
	f := Field{Name: "address", Label: "code.address", Type: "email", Value: "a@b", Error: i18n.M("code.error.address"), Hint: "help.uid"}
	if err := Input(c, f).Render(t.Context(), &b); err != nil {
		t.Fatal(err)
	}
	html := b.String()
	for _, want := range []string{`<label for="f-address">Email</label>`, `aria-invalid="true"`, `aria-describedby="f-address-hint f-address-error"`, `id="f-address-error" role="alert"`, `value="a@b"`} {
		if !strings.Contains(html, want) {
			t.Errorf("field lacks %q:\n%s", want, html)
		}
	}
	b.Reset()
	if err := Input(c, Field{Name: "password", Label: "code.address", Type: "password", Value: "secret1"}).Render(t.Context(), &b); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(b.String(), "secret1") || strings.Contains(b.String(), "aria-invalid") {
		t.Fatalf("a password is never written back: %s", b.String())
	}
}

func TestLocalPath(t *testing.T) {
	for p, want := range map[string]string{
		"/register":             "/register",
		"/bind/workspace?x=1":   "/bind/workspace?x=1",
		"":                      "",
		"https://evil.example/": "",
		"//evil.example/":       "",
		"/\\evil.example":       "",
		"/a\r\nSet-Cookie: x":   "",
		"javascript:alert(1)":   "",
	} {
		if got := LocalPath(p); got != want {
			t.Errorf("LocalPath(%q) = %q, want %q", p, got, want)
		}
	}
}

func TestMaskUID(t *testing.T) {
	if got := MaskUID("1234567890123456"); got != "1234********3456" {
		t.Fatal(got)
	}
	if got := MaskUID("55512345678"); got != "5551***5678" {
		t.Fatal(got) // as many stars as digits hidden: the length shows
	}
	if got := MaskUID("123"); got != "***" {
		t.Fatal(got)
	}
}

// TestEveryKeyHasItsText: every message key the pages and handlers name
// (a quoted, dotted, lower-case word) has its text, so no page shows a
// raw key.
func TestEveryKeyHasItsText(t *testing.T) {
	key := regexp.MustCompile(`"([a-z][a-z0-9-]*(?:\.[a-z0-9-]+)+)"`)
	notKeys := map[string]bool{"site.css": true}
	files, _ := filepath.Glob("../*/*.templ")
	more, _ := filepath.Glob("../*/*.go")
	for _, f := range append(files, more...) {
		if strings.HasSuffix(f, "_templ.go") || strings.HasSuffix(f, "_test.go") || strings.Contains(f, "/i18n/") {
			continue
		}
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range key.FindAllStringSubmatch(string(src), -1) {
			if k := m[1]; !notKeys[k] && i18n.T(i18n.EN, k) == k {
				t.Errorf("%s: %q has no text", f, k)
			}
		}
	}
}
