package registration_test

import (
	"fmt"
	"net/http"
	"testing"
)

// BenchmarkRegistrationPage is a step page's load: one read (the session).
func BenchmarkRegistrationPage(b *testing.B) {
	f := newFixture(b)
	bu := f.buyer(b, instance, uid, "en")
	f.db.ResetRoundTrips()
	for b.Loop() {
		if rec := bu.get("/register/basic"); rec.Code != http.StatusOK {
			b.Fatal(rec.Code)
		}
	}
	b.ReportMetric(float64(f.db.RoundTrips())/float64(b.N), "ddb-calls/op")
}

// BenchmarkActivate is Activate on a completed draft: the session read and
// one transaction (each run on its own instance and username).
func BenchmarkActivate(b *testing.B) {
	f := newFixture(b)
	var total int64
	i := 0
	for b.Loop() {
		b.StopTimer()
		id, owner := fmt.Sprint(8000000+i), fmt.Sprintf("%016d", 3000000000000000+i)
		f.pending(b, id, owner)
		bu := f.buyer(b, id, owner, "en")
		bu.ip = fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255)
		form := basicForm("send-code")
		form.Set("username", fmt.Sprintf("bench%06d", i))
		form.Set("email", fmt.Sprintf("b%d@example.com", i))
		bu.post("/register/basic", form)
		form.Set("action", "next")
		form.Set("code", f.mail.Last().Code)
		bu.post("/register/basic", form)
		bu.throughCompany()
		act := activateForm()
		act.Set("uid", owner)
		act.Set("instance", id)
		f.db.ResetRoundTrips()
		b.StartTimer()
		if rec := bu.post("/register/activate", act); rec.Code != http.StatusSeeOther {
			b.Fatalf("%d %s", rec.Code, rec.Body.String())
		}
		total += f.db.RoundTrips()
		i++
	}
	b.ReportMetric(float64(total)/float64(i), "ddb-calls/op")
}
