package verification_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/guance/aliyun-marketplace/shared/dynamotest"
	"github.com/guance/aliyun-marketplace/shared/storage"
	"github.com/guance/aliyun-marketplace/shared/verification"
	"github.com/guance/aliyun-marketplace/shared/verification/verificationtest"
)

type env struct {
	sender   *verification.Sender
	verifier *verification.Verifier
	mail     *verificationtest.Outbox
	db       *dynamotest.Server
	clock    *time.Time
}

func newEnv(t testing.TB) *env {
	db := dynamotest.Start(t)
	codes := storage.NewCodes(db.Client(), db.Tables["VerificationTable"])
	accounts := storage.NewAccounts(db.Client(), db.Tables["AccountsTable"])
	if err := accounts.CreateBilling(context.Background(), storage.BillingAccount{Username: "acme", Email: "billing@acme.example"}); err != nil {
		t.Fatal(err)
	}
	hasher, err := verification.NewHasher("a-test-secret-of-enough-length")
	if err != nil {
		t.Fatal(err)
	}
	clock := time.Date(2026, 11, 26, 3, 5, 0, 0, time.UTC)
	e := &env{mail: &verificationtest.Outbox{}, db: db, clock: &clock}
	now := func() time.Time { return *e.clock }
	e.sender = &verification.Sender{Store: codes, Mailer: e.mail, Accounts: accounts, Hasher: hasher, Limits: verification.DefaultLimits, Now: now, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	e.verifier = &verification.Verifier{Store: codes, Hasher: hasher, Now: now}
	db.ResetRoundTrips()
	return e
}

var asker = verification.Client{SessionID: "session-1", IP: "198.51.100.4"}

func TestSendThenVerify(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	sent, err := e.sender.Send(ctx, verification.Request{Purpose: verification.Register, Target: " Buyer@Example.COM ", Lang: "en", Client: asker})
	if err != nil {
		t.Fatal(err)
	}
	if sent.Masked != "b***@example.com" || sent.Cooldown != time.Minute || sent.Validity != 10*time.Minute {
		t.Fatalf("sent %+v", sent)
	}
	if n := e.db.RoundTrips(); n != 1 {
		t.Errorf("send took %d round trips, want 1 (plus the mail)", n)
	}
	m := e.mail.Last()
	if m.To != "buyer@example.com" || len(m.Code) != 6 || m.Lang != "en" || m.Purpose != verification.Register {
		t.Fatalf("mail %+v", m)
	}
	if err := e.verifier.Verify(ctx, verification.CreateWorkspace, "buyer@example.com", m.Code); !errors.Is(err, verification.ErrNoCode) {
		t.Fatalf("another purpose's code: %v", err)
	}
	e.db.ResetRoundTrips()
	if err := e.verifier.Verify(ctx, verification.Register, "BUYER@example.com", m.Code); err != nil {
		t.Fatal(err)
	}
	if n := e.db.RoundTrips(); n != 1 {
		t.Errorf("verify took %d round trips, want 1", n)
	}
}

func TestBindBillingSameAnswerEitherWay(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	known, err := e.sender.Send(ctx, verification.Request{Purpose: verification.BindBilling, Target: "ACME", Lang: "zh", Client: asker})
	if err != nil {
		t.Fatal(err)
	}
	if known.Masked != "b***@acme.example" || e.mail.Last().To != "billing@acme.example" {
		t.Fatalf("known: %+v %+v", known, e.mail.Last())
	}
	before := len(e.mail.Mails())
	unknown, err := e.sender.Send(ctx, verification.Request{Purpose: verification.BindBilling, Target: "nobody", Lang: "zh", Client: asker})
	if err != nil {
		t.Fatal(err)
	}
	if unknown.Masked != "" || unknown.Cooldown != known.Cooldown || len(e.mail.Mails()) != before {
		t.Fatalf("unknown username: %+v, %d mails", unknown, len(e.mail.Mails())-before)
	}
	// It is counted like a real send: the cooldown applies to it too.
	var limit *verification.LimitError
	if _, err := e.sender.Send(ctx, verification.Request{Purpose: verification.BindBilling, Target: "nobody", Client: asker}); !errors.As(err, &limit) || limit.Limit != "cooldown" {
		t.Fatalf("probing again at once: %v", err)
	}
	if err := e.verifier.Verify(ctx, verification.BindBilling, "acme", e.mail.Last().Code); err != nil {
		t.Fatalf("bind-billing code keyed by username: %v", err)
	}
}

func TestMailFailureLeavesNothing(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.mail.SetFail(errors.New("MessageRejected"))
	_, err := e.sender.Send(ctx, verification.Request{Purpose: verification.Register, Target: "a@example.com", Client: asker})
	if !errors.Is(err, verification.ErrMailFailed) {
		t.Fatalf("err = %v", err)
	}
	e.mail.SetFail(nil)
	// No cooldown and no counter burnt: the next try goes out at once.
	if _, err := e.sender.Send(ctx, verification.Request{Purpose: verification.Register, Target: "a@example.com", Client: asker}); err != nil {
		t.Fatalf("retry after a failed mail: %v", err)
	}
	// Five sends fit in the hour: the failed one did not count.
	for i := range 4 {
		*e.clock = e.clock.Add(61 * time.Second)
		if _, err := e.sender.Send(ctx, verification.Request{Purpose: verification.Register, Target: "a@example.com", Client: asker}); err != nil {
			t.Fatalf("send %d: %v", i+2, err)
		}
	}
}

func TestBadRequests(t *testing.T) {
	e := newEnv(t)
	for _, tt := range []struct {
		req  verification.Request
		want error
	}{
		{verification.Request{Purpose: verification.Register, Target: "not-an-address"}, verification.ErrInvalidAddress},
		{verification.Request{Purpose: verification.Register, Target: "Name <a@example.com>"}, verification.ErrInvalidAddress},
		{verification.Request{Purpose: verification.Register, Target: "a@localhost"}, verification.ErrInvalidAddress},
		{verification.Request{Purpose: verification.BindBilling, Target: "x"}, verification.ErrInvalidTarget},
		{verification.Request{Purpose: verification.BindBilling, Target: "a b"}, verification.ErrInvalidTarget},
	} {
		if _, err := e.sender.Send(context.Background(), tt.req); !errors.Is(err, tt.want) {
			t.Errorf("%+v: %v, want %v", tt.req, err, tt.want)
		}
	}
	if n := e.db.RoundTrips(); n != 0 {
		t.Fatalf("bad requests made %d round trips", n)
	}
	if _, err := verification.ParsePurpose("reset-password"); !errors.Is(err, verification.ErrUnknownPurpose) {
		t.Fatal(err)
	}
}

func TestCodes(t *testing.T) {
	seen := map[string]bool{}
	for range 200 {
		c, err := verification.NewCode()
		if err != nil || len(c) != 6 {
			t.Fatalf("%q %v", c, err)
		}
		seen[c] = true
	}
	if len(seen) < 190 {
		t.Fatalf("only %d distinct codes in 200", len(seen))
	}
	if _, err := verification.NewHasher("short"); err == nil {
		t.Fatal("a short secret must be refused")
	}
	h, _ := verification.NewHasher("a-test-secret-of-enough-length")
	g, _ := verification.NewHasher("another-secret-of-enough-length")
	if h.Hash("register", "a", "1") == g.Hash("register", "a", "1") || h.Hash("register", "a", "1") == h.Hash("bind-billing", "a", "1") {
		t.Fatal("hashes must depend on the secret and the purpose")
	}
}
