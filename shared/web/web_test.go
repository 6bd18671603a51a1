package web

import (
	"net/http/httptest"
	"strings"
	"testing"
)

func TestNegotiate(t *testing.T) {
	tests := map[string]Lang{
		"":                           ZH,
		"en":                         EN,
		"en-US,en;q=0.9":             EN,
		"zh-CN,zh;q=0.9,en;q=0.8":    ZH,
		"fr-FR,en;q=0.5,zh;q=0.4":    EN,
		"fr-FR,zh-TW;q=0.7,en;q=0.6": ZH,
		"de":                         ZH,
		"en;q=0,zh;q=0.1":            ZH,
		"EN-gb":                      EN,
		"en;q=abc,zh;q=0.2":          ZH,
	}
	for header, want := range tests {
		if got := Negotiate(header); got != want {
			t.Errorf("Negotiate(%q) = %s, want %s", header, got, want)
		}
	}
}

// TestMessagesComplete: every text exists in both languages, so no page
// shows a key or falls back silently.
func TestMessagesComplete(t *testing.T) {
	for key, byLang := range messages {
		for _, lang := range []Lang{ZH, EN} {
			if strings.TrimSpace(byLang[lang]) == "" {
				t.Errorf("%s has no %s text", key, lang)
			}
		}
	}
}

func TestRenderPages(t *testing.T) {
	rec := httptest.NewRecorder()
	Render(rec, 410, "error", View{Lang: EN, Data: ErrorView{Title: "error.released.head", Body: "error.released", Next: "error.released.next"}})
	body := rec.Body.String()
	if rec.Code != 410 || !strings.Contains(body, "The service was closed") || !strings.Contains(body, `<html lang="en">`) || strings.Contains(body, "error.released") {
		t.Fatalf("error page %d:\n%s", rec.Code, body)
	}
	if strings.Contains(body, "<form") {
		t.Fatal("without a session there is no language form")
	}
	rec = httptest.NewRecorder()
	Render(rec, 200, "activate", View{Lang: ZH, CSRF: "tok<>", Data: struct{ MaskedUID, InstanceID, ExpiresAt string }{"1234********3456", "5604018", "2026-11-26 12:20:00"}})
	body = rec.Body.String()
	if !strings.Contains(body, "开通观测云商业版") || !strings.Contains(body, `value="tok&lt;&gt;"`) || !strings.Contains(body, `value="en"`) || !strings.Contains(body, "2026-11-26 12:20:00") {
		t.Fatalf("activate page:\n%s", body)
	}
}
