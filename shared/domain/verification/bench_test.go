package verification_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/guance/aliyun-marketplace/shared/domain/verification"
)

var unlimited = verification.Limits{PerTargetHour: 1 << 30, PerAddressHour: 1 << 30, PerAddressDay: 1 << 30, PerSessionHour: 1 << 30, PerClientHour: 1 << 30}

// BenchmarkSend: ddb-calls/op is the one transaction a send costs (the
// mail is the other call, to SES).
func BenchmarkSend(b *testing.B) {
	e := newEnv(b)
	e.sender.Limits = unlimited
	e.db.ResetRoundTrips()
	i := 0
	for b.Loop() {
		if _, err := e.sender.Send(context.Background(), request(verification.Register, fmt.Sprintf("b%d@example.com", i), fmt.Sprint(i))); err != nil {
			b.Fatal(err)
		}
		i++
	}
	b.ReportMetric(float64(e.db.RoundTrips())/float64(i), "ddb-calls/op")
}

// BenchmarkVerify: a right code is charged, compared, then consumed.
func BenchmarkVerify(b *testing.B) {
	e := newEnv(b)
	e.sender.Limits = unlimited
	n := b.N
	for i := range n {
		if _, err := e.sender.Send(context.Background(), request(verification.Register, fmt.Sprintf("v%d@example.com", i), fmt.Sprint(i))); err != nil {
			b.Fatal(err)
		}
	}
	codes := e.mail.Mails()
	e.db.ResetRoundTrips()
	*e.clock = e.clock.Add(time.Second)
	b.ResetTimer()
	for i := range n {
		if err := e.verifier.Verify(context.Background(), verification.Register, fmt.Sprint(i), codes[i].To, codes[i].Code); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(e.db.RoundTrips())/float64(n), "ddb-calls/op")
}
