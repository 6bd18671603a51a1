package sso_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/guance/aliyun-marketplace/shared/domain/session"
	"github.com/guance/aliyun-marketplace/shared/endpoints/routes"
)

// BenchmarkVerify is the common path of a Login Without Password click:
// ddb-calls/op is one read (the instance) and one write (link and session).
func BenchmarkVerify(b *testing.B) {
	f := newFixture(b)
	f.seed(b, nil)
	// Every click is a new link, one second older than the last; a wide
	// window keeps them all acceptable.
	f.handler.Window = 10000 * time.Hour
	i := 0
	for b.Loop() {
		if rec := f.get(b, link("5604018", now.Add(-time.Duration(i)*time.Second))); rec.Code != http.StatusSeeOther {
			b.Fatalf("status %d", rec.Code)
		}
		i++
	}
	b.ReportMetric(float64(f.db.RoundTrips())/float64(i), "ddb-calls/op")
}

// BenchmarkActivationPage is a reload of the page: one read (the session).
func BenchmarkActivationPage(b *testing.B) {
	f := newFixture(b)
	f.seed(b, nil)
	cookie := session.SecureCookieName + "=" + sessionCookie(b, f.get(b, link("5604018", now))).Value
	f.db.ResetRoundTrips()
	for b.Loop() {
		if page := f.get(b, routes.Activate, "Cookie", cookie); page.Code != http.StatusOK {
			b.Fatalf("status %d", page.Code)
		}
	}
	b.ReportMetric(float64(f.db.RoundTrips())/float64(b.N), "ddb-calls/op")
}
