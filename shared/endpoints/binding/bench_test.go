package binding_test

import (
	"fmt"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/guance/aliyun-marketplace/shared/domain/guance"
)

// BenchmarkWorkspaceList is the binding page's load: the session, the
// purchase (instance and link in one batch) and the account's workspaces.
func BenchmarkWorkspaceList(b *testing.B) {
	f := newFixture(b)
	bu := f.buyer(b, "7000001")
	bu.bindBilling()
	f.db.ResetRoundTrips()
	for b.Loop() {
		if rec := bu.get("/bind/workspace"); rec.Code != http.StatusOK {
			b.Fatal(rec.Code)
		}
	}
	b.ReportMetric(float64(f.db.RoundTrips())/float64(b.N), "ddb-calls/op")
}

// BenchmarkBindBilling is Bind with a right code: the session, the code's
// two checks and one transaction (each run on its own instance).
func BenchmarkBindBilling(b *testing.B) {
	f := newFixture(b)
	var total int64
	i := 0
	for b.Loop() {
		b.StopTimer()
		id := fmt.Sprint(8000000 + i)
		f.pending(b, id, uid)
		bu := f.buyer(b, id)
		bu.post("/bind/billing", url.Values{"username": {"acme"}, "action": {"send-code"}})
		code := f.outboxCode(b, "billing@acme.example")
		f.db.ResetRoundTrips()
		b.StartTimer()
		if rec := bu.post("/bind/billing", url.Values{"username": {"acme"}, "code": {code}, "action": {"bind"}}); rec.Code != http.StatusSeeOther {
			b.Fatalf("%d %s", rec.Code, rec.Body.String())
		}
		total += f.db.RoundTrips()
		i++
		// A day on, so that the sends stay under the address's caps
		// (they are the verification package's to measure).
		f.now = f.now.Add(25 * time.Hour)
	}
	b.ReportMetric(float64(total)/float64(i), "ddb-calls/op")
}

// BenchmarkSettleWorkspace is Bind on an unbound workspace: the session,
// the purchase, and one transaction.
func BenchmarkSettleWorkspace(b *testing.B) {
	f := newFixture(b)
	bu := f.buyer(b, "7000001")
	bu.bindBilling()
	var total int64
	i := 0
	for b.Loop() {
		b.StopTimer()
		ws := fmt.Sprintf("wksp_bench%06d", i)
		f.put(b, f.tables.Workspaces, "", guance.Workspace{ID: ws, Name: ws, Site: "cn1", Owner: "alice", BillingAccount: "acme", Settlement: guance.Settlement{Type: guance.SettledByBillingCenter}, CreatedAt: now})
		f.db.ResetRoundTrips()
		b.StartTimer()
		if rec := bu.post("/bind/workspace/confirm", url.Values{"ws": {ws}}); rec.Code != http.StatusSeeOther {
			b.Fatalf("%d %s", rec.Code, rec.Body.String())
		}
		total += f.db.RoundTrips()
		i++
	}
	b.ReportMetric(float64(total)/float64(i), "ddb-calls/op")
}
