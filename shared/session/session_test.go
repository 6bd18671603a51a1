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
	s := New("1234567890123456", "5604018", "zh", time.Now(), time.Hour)
	c := s.Cookie(true)
	if !c.HttpOnly || !c.Secure || c.SameSite != 2 || c.Path != "/" || c.MaxAge < 3590 {
		t.Fatalf("cookie %+v", c)
	}
	if s.Cookie(false).Secure {
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

func TestMaskUID(t *testing.T) {
	if got := MaskUID("1234567890123456"); got != "1234********3456" {
		t.Fatal(got)
	}
	if got := MaskUID("12"); got != "****" {
		t.Fatal(got)
	}
}
