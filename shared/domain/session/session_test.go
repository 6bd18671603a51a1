package session

import (
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestNewSession(t *testing.T) {
	now := time.Date(2026, 11, 26, 3, 0, 0, 0, time.UTC)
	a := New("1234567890123456", "5604018", "en", now, time.Hour)
	b := New("1234567890123456", "5604018", "en", now, time.Hour)
	if a.ID == b.ID || a.CSRF == b.CSRF || a.ID == a.CSRF || len(a.ID) != 43 {
		t.Fatalf("ids must be fresh and random: %q %q %q", a.ID, b.ID, a.CSRF)
	}
	if !a.Live(now.Add(59*time.Minute)) || a.Live(now.Add(time.Hour)) {
		t.Fatal("a session lives exactly its TTL")
	}
	if a.CheckCSRF(a.CSRF) != nil || a.CheckCSRF(b.CSRF) != ErrBadCSRF || a.CheckCSRF("") != ErrBadCSRF {
		t.Fatal("CSRF check")
	}
}

func TestJar(t *testing.T) {
	now := time.Date(2026, 11, 26, 3, 0, 0, 0, time.UTC)
	s := New("1234567890123456", "5604018", "zh", now, time.Hour)
	secure, plain := Jar{Secure: true}, Jar{}
	c := secure.Cookie(s, now.Add(10*time.Minute))
	if !c.HttpOnly || !c.Secure || c.SameSite != 2 || c.Path != "/" || c.MaxAge != 3000 || c.Name != SecureCookieName || c.Domain != "" {
		t.Fatalf("cookie %+v (its life follows the injected clock)", c)
	}
	if p := plain.Cookie(s, now); p.Secure || p.Name != CookieName {
		t.Fatalf("plain http: %+v", p)
	}
	for _, tt := range []struct {
		name   string
		jar    Jar
		cookie string
		want   string
	}{
		{"the secure cookie over https", secure, SecureCookieName + "=" + s.ID, s.ID},
		// Planted by a sibling host or over plain http: never over https.
		{"a plain cookie over https", secure, CookieName + "=" + s.ID, ""},
		{"both over https: the secure one", secure, CookieName + "=" + strings.Repeat("a", 43) + "; " + SecureCookieName + "=" + s.ID, s.ID},
		{"the plain cookie locally", plain, CookieName + "=" + s.ID, s.ID},
		{"a malformed id", plain, CookieName + "=short", ""},
	} {
		req := httptest.NewRequest("GET", "/activate", nil)
		req.Header.Set("Cookie", tt.cookie)
		if got := tt.jar.ID(req); got != tt.want {
			t.Errorf("%s: %q", tt.name, got)
		}
	}
	rec := httptest.NewRecorder()
	secure.Clear(rec)
	if got := rec.Header().Get("Set-Cookie"); !strings.HasPrefix(got, SecureCookieName+"=;") || !strings.Contains(got, "Max-Age=0") {
		t.Fatalf("clear: %q", got)
	}
}
