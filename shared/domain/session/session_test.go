package session

import (
	"net/http/httptest"
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

func TestCookie(t *testing.T) {
	now := time.Date(2026, 11, 26, 3, 0, 0, 0, time.UTC)
	s := New("1234567890123456", "5604018", "zh", now, time.Hour)
	c := s.Cookie(true, now.Add(10*time.Minute))
	if !c.HttpOnly || !c.Secure || c.SameSite != 2 || c.Path != "/" || c.MaxAge != 3000 {
		t.Fatalf("cookie %+v (its life follows the injected clock)", c)
	}
	if s.Cookie(false, now).Secure {
		t.Fatal("Secure must be off when configured off")
	}
	req := httptest.NewRequest("GET", "/activate", nil)
	req.AddCookie(c)
	if IDFrom(req) != s.ID {
		t.Fatal("IDFrom does not read the cookie back")
	}
	bad := httptest.NewRequest("GET", "/activate", nil)
	bad.Header.Set("Cookie", CookieName+"=short")
	if IDFrom(bad) != "" {
		t.Fatal("a malformed id must be ignored")
	}
}
