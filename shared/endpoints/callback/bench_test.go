package callback_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/guance/aliyun-marketplace/shared/domain/marketplace"
)

// The handler benchmarks run against the embedded DynamoDB over HTTP, so
// ns/op is mostly that server; ddb-calls/op is the figure that carries over
// to AWS: the round trips each action makes.

func benchCall(b *testing.B, f *fixture, params func(i int) marketplace.Params) {
	b.Helper()
	f.db.ResetRoundTrips()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		req := httptest.NewRequest(http.MethodGet, "/aliyun/spi?"+params(i).Signed(key).Encode(), nil)
		rec := httptest.NewRecorder()
		f.handler.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
		i++
	}
	b.ReportMetric(float64(f.db.RoundTrips())/float64(i), "ddb-calls/op")
}

func BenchmarkCreateInstanceFirst(b *testing.B) {
	f := newFixture(b)
	benchCall(b, f, func(i int) marketplace.Params {
		return with(createParams(), "orderBizId", fmt.Sprint(1000000+i))
	})
}

func BenchmarkCreateInstanceRepeat(b *testing.B) {
	f := newFixture(b)
	f.call(b, createParams(), key)
	benchCall(b, f, func(int) marketplace.Params { return createParams() })
}

func BenchmarkRenewInstance(b *testing.B) {
	f := newFixture(b)
	f.call(b, createParams(), key)
	benchCall(b, f, func(i int) marketplace.Params {
		return marketplace.Params{"action": "renewInstance", "instanceId": "5604018", "orderId": fmt.Sprint(305060317920890 + i), "expiredOn": "2100-01-01 00:00:00"}
	})
}

func BenchmarkStaleRenewInstance(b *testing.B) {
	f := newFixture(b)
	f.call(b, createParams(), key)
	benchCall(b, f, func(int) marketplace.Params {
		return marketplace.Params{"action": "renewInstance", "instanceId": "5604018", "orderId": "105060317920890"}
	})
}

func BenchmarkOrderPayRepeat(b *testing.B) {
	f := newFixture(b)
	f.call(b, createParams(), key)
	benchCall(b, f, func(int) marketplace.Params {
		return marketplace.Params{"action": "orderPay", "requestId": "r1", "orderBizId": "5604018", "aliUid": "1234567890123456", "orderId": "205060317920899"}
	})
}

func BenchmarkRejectedToken(b *testing.B) {
	f := newFixture(b)
	f.db.ResetRoundTrips()
	params := createParams().Signed("wrong-key").Encode()
	b.ReportAllocs()
	for b.Loop() {
		rec := httptest.NewRecorder()
		f.handler.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/aliyun/spi?"+params, nil))
		if rec.Code != http.StatusForbidden {
			b.Fatalf("status %d", rec.Code)
		}
	}
	b.ReportMetric(float64(f.db.RoundTrips())/float64(b.N), "ddb-calls/op")
}
