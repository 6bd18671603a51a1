package verification_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/guance/aliyun-marketplace/cmd/devstack/dynamotest"
	"github.com/guance/aliyun-marketplace/shared/domain/guance"
	"github.com/guance/aliyun-marketplace/shared/domain/outbox"
	"github.com/guance/aliyun-marketplace/shared/domain/verification"
	"github.com/guance/aliyun-marketplace/shared/domain/verification/verificationtest"
)

type env struct {
	sender   *verification.Sender
	verifier *verification.Verifier
	mail     *verificationtest.Outbox
	sealer   outbox.Sealer
	db       *dynamotest.Server
	clock    *time.Time
}

const secret = "a-test-secret-of-enough-length"

func newEnv(t testing.TB) *env {
	db := dynamotest.Start(t)
	codes := db.Store().Codes()
	accounts := db.Store().Accounts()
	if err := accounts.CreateBilling(context.Background(), guance.BillingAccount{Username: "acme", Email: "billing@acme.example"}); err != nil {
		t.Fatal(err)
	}
	hasher, err := verification.NewHasher(secret)
	if err != nil {
		t.Fatal(err)
	}
	sealer, err := outbox.NewSealer(secret)
	if err != nil {
		t.Fatal(err)
	}
	clock := time.Date(2026, 11, 26, 3, 5, 0, 0, time.UTC)
	e := &env{mail: &verificationtest.Outbox{}, sealer: sealer, db: db, clock: &clock}
	now := func() time.Time { return *e.clock }
	e.sender = &verification.Sender{Store: codes, Mailer: e.mail, Accounts: accounts, Hasher: hasher, Sealer: sealer,
		Limits: verification.DefaultLimits, Now: now, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	e.verifier = &verification.Verifier{Store: codes, Hasher: hasher, Now: now}
	db.ResetRoundTrips()
	return e
}

// outboxCodes are the codes sealed in the outbox's mails, by recipient.
func (e *env) outboxCodes(t testing.TB) map[string]string {
	out, err := e.db.Client().Scan(context.Background(), &dynamodb.ScanInput{TableName: aws.String(e.db.Tables["OutboxTable"])})
	if err != nil {
		t.Fatal(err)
	}
	codes := map[string]string{}
	for _, av := range out.Items {
		var item outbox.Item
		if err := attributevalue.UnmarshalMap(av, &item); err != nil {
			t.Fatal(err)
		}
		if item.Kind == outbox.KindVoid {
			continue
		}
		code, err := e.sealer.Open(item.ID, item.Sealed)
		if err != nil {
			t.Fatal(err)
		}
		codes[item.To] = code
	}
	return codes
}

const (
	session = "the-buyer's-session"
	other   = "another-session"
)

func request(purpose verification.Purpose, target, sessionID string) verification.Request {
	return verification.Request{Purpose: purpose, Target: target, Lang: "en", Scope: sessionID, Client: verification.Client{IP: "198.51.100.4"}}
}

func TestSendThenVerify(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	sent, err := e.sender.Send(ctx, request(verification.Register, " Buyer@Example.COM ", session))
	if err != nil {
		t.Fatal(err)
	}
	if sent.To != "buyer@example.com" || sent.Cooldown != time.Minute || sent.Validity != 10*time.Minute {
		t.Fatalf("sent %+v", sent)
	}
	if n := e.db.RoundTrips(); n != 1 {
		t.Errorf("send took %d round trips, want 1 (plus the mail)", n)
	}
	m := e.mail.Last()
	if m.To != "buyer@example.com" || len(m.Code) != 6 || m.Lang != "en" || m.Purpose != verification.Register {
		t.Fatalf("mail %+v", m)
	}
	if err := e.verifier.Verify(ctx, verification.CreateWorkspace, session, "buyer@example.com", m.Code); !errors.Is(err, verification.ErrNoCode) {
		t.Fatalf("another purpose's code: %v", err)
	}
	if err := e.verifier.Verify(ctx, verification.Register, other, "buyer@example.com", m.Code); !errors.Is(err, verification.ErrNoCode) {
		t.Fatalf("another session used the code: %v", err)
	}
	if err := e.verifier.Verify(ctx, verification.Register, session, "buyer@example.com", "12a456"); !errors.Is(err, verification.ErrCodeFormat) {
		t.Fatalf("not six digits: %v", err)
	}
	e.db.ResetRoundTrips()
	if err := e.verifier.Verify(ctx, verification.Register, session, "BUYER@example.com", " "+m.Code+" "); err != nil {
		t.Fatal(err)
	}
	if n := e.db.RoundTrips(); n != 2 {
		t.Errorf("a right code took %d round trips, want 2 (charge, consume)", n)
	}
	// The step that used it failed after (its answer lost, its draft not
	// saved): the same code sent again by the same session proves the
	// same address again; any other code, or another session, does not.
	e.db.ResetRoundTrips()
	if err := e.verifier.Verify(ctx, verification.Register, session, "buyer@example.com", m.Code); err != nil {
		t.Fatalf("a step retried with its used code: %v", err)
	}
	if n := e.db.RoundTrips(); n != 1 {
		t.Errorf("a retried step took %d round trips, want 1 (nothing is consumed again)", n)
	}
	wrong := "000000"
	if m.Code == wrong {
		wrong = "111111"
	}
	if err := e.verifier.Verify(ctx, verification.Register, session, "buyer@example.com", wrong); !errors.Is(err, verification.ErrNoCode) {
		t.Fatalf("another code after the right one was used: %v", err)
	}
	if err := e.verifier.Verify(ctx, verification.Register, other, "buyer@example.com", m.Code); !errors.Is(err, verification.ErrNoCode) {
		t.Fatalf("another session with the used code: %v", err)
	}
	if err := e.verifier.Verify(ctx, verification.Register, session, "else@example.com", m.Code); !errors.Is(err, verification.ErrNoCode) {
		t.Fatalf("the used code for another address: %v", err)
	}
}

// TestBindBillingSameAnswerEitherWay: a known username's code goes to the
// email on file through the outbox, in the code's transaction; an unknown
// username gets the same answer, counted the same, and no mail. Neither
// waits for SES.
func TestBindBillingSameAnswerEitherWay(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	known, err := e.sender.Send(ctx, request(verification.BindBilling, "ACME", session))
	if err != nil {
		t.Fatal(err)
	}
	unknown, err := e.sender.Send(ctx, request(verification.BindBilling, "nobody", other))
	if err != nil {
		t.Fatal(err)
	}
	if known != unknown || known.To != "" {
		t.Fatalf("answers differ: %+v vs %+v", known, unknown)
	}
	if len(e.mail.Mails()) != 0 {
		t.Fatal("a bind-billing code must not be mailed while the asker waits")
	}
	codes := e.outboxCodes(t)
	if len(codes) != 1 || codes["billing@acme.example"] == "" {
		t.Fatalf("outbox %v, want one mail to the email on file", codes)
	}
	// The unknown username is counted like a real send: the cooldown applies.
	var limit *verification.LimitError
	if _, err := e.sender.Send(ctx, request(verification.BindBilling, "nobody", other)); !errors.As(err, &limit) || limit.Limit != verification.LimitCooldown {
		t.Fatalf("probing again at once: %v", err)
	}
	if err := e.verifier.Verify(ctx, verification.BindBilling, session, "acme", codes["billing@acme.example"]); err != nil {
		t.Fatalf("bind-billing code keyed by username: %v", err)
	}
}

func TestMailFailureLeavesNothing(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.mail.SetFail(errors.New("MessageRejected"))
	_, err := e.sender.Send(ctx, request(verification.Register, "a@example.com", session))
	if !errors.Is(err, verification.ErrMailFailed) {
		t.Fatalf("err = %v", err)
	}
	e.mail.SetFail(nil)
	// No cooldown and no counter burnt: the next try goes out at once.
	if _, err := e.sender.Send(ctx, request(verification.Register, "a@example.com", session)); err != nil {
		t.Fatalf("retry after a failed mail: %v", err)
	}
	// Five sends fit in the hour: the failed one did not count.
	for i := range 4 {
		*e.clock = e.clock.Add(61 * time.Second)
		if _, err := e.sender.Send(ctx, request(verification.Register, "a@example.com", session)); err != nil {
			t.Fatalf("send %d: %v", i+2, err)
		}
	}
}

// TestGuessBurstThenRightCode: 200 wrong guesses at once, then the right
// code: refused, because every guess was charged before it was compared.
func TestGuessBurstThenRightCode(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	if _, err := e.sender.Send(ctx, request(verification.Register, "h@example.com", session)); err != nil {
		t.Fatal(err)
	}
	right := e.mail.Last().Code
	var wg sync.WaitGroup
	var mu sync.Mutex
	compared := 0
	for i := range 200 {
		guess := fmt.Sprintf("%06d", i)
		if guess == right {
			guess = "999999"
		}
		wg.Go(func() {
			var wrong *verification.WrongCodeError
			if err := e.verifier.Verify(ctx, verification.Register, session, "h@example.com", guess); errors.As(err, &wrong) {
				mu.Lock()
				compared++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if compared != verification.MaxAttempts {
		t.Fatalf("%d guesses were compared, want %d", compared, verification.MaxAttempts)
	}
	if err := e.verifier.Verify(ctx, verification.Register, session, "h@example.com", right); !errors.Is(err, verification.ErrCodeDead) {
		t.Fatalf("the right code after the burst: %v", err)
	}
}

func TestWrongTriesCountDown(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	if _, err := e.sender.Send(ctx, request(verification.Register, "i@example.com", session)); err != nil {
		t.Fatal(err)
	}
	right := e.mail.Last().Code
	wrongCode := "000000"
	if right == wrongCode {
		wrongCode = "111111"
	}
	for want := verification.MaxAttempts - 1; want >= 1; want-- {
		var wrong *verification.WrongCodeError
		if err := e.verifier.Verify(ctx, verification.Register, session, "i@example.com", wrongCode); !errors.As(err, &wrong) || wrong.Remaining != want {
			t.Fatalf("want %d tries left: %v", want, err)
		}
	}
	// The fifth try is still a try: the right code passes.
	if err := e.verifier.Verify(ctx, verification.Register, session, "i@example.com", right); err != nil {
		t.Fatalf("the right code on the last try: %v", err)
	}
}

func TestBadRequests(t *testing.T) {
	e := newEnv(t)
	for _, tt := range []struct {
		req  verification.Request
		want error
	}{
		{request(verification.Register, "not-an-address", session), verification.ErrInvalidAddress},
		{request(verification.Register, "Name <a@example.com>", session), verification.ErrInvalidAddress},
		{request(verification.Register, "a@localhost", session), verification.ErrInvalidAddress},
		{request(verification.BindBilling, "x", session), verification.ErrInvalidTarget},
		{request(verification.BindBilling, "a b", session), verification.ErrInvalidTarget},
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
	h, _ := verification.NewHasher(secret)
	g, _ := verification.NewHasher("another-secret-of-enough-length")
	if h.Hash("register", "a", "1") == g.Hash("register", "a", "1") || h.Hash("register", "a", "1") == h.Hash("bind-billing", "a", "1") {
		t.Fatal("hashes must depend on the secret and the purpose")
	}
	if verification.SessionKey("a") == verification.SessionKey("b") || len(verification.SessionKey("a")) != 43 {
		t.Fatal("session keys")
	}
}

func TestClientNetwork(t *testing.T) {
	for ip, want := range map[string]string{
		"203.0.113.9":          "203.0.113.9",
		"::ffff:203.0.113.9":   "203.0.113.9",
		"2001:db8:1:2:3:4:5:6": "2001:db8:1:2::/64",
		"2001:db8:1:2:ffff::1": "2001:db8:1:2::/64",
		"":                     "",
		"not an address":       "not an address",
	} {
		if got := (verification.Client{IP: ip}).Network(); got != want {
			t.Errorf("Network(%q) = %q, want %q", ip, got, want)
		}
	}
}

// TestAddressesAreOneKey: an address is one key however it is written
// (case, NFC, the domain's Unicode or ASCII form); look-alikes and what
// no mail could reach are refused.
func TestMailboxKey(t *testing.T) {
	for in, want := range map[string]string{
		"victim+17@example.com":   "victim@example.com",
		"victim@example.com":      "victim@example.com",
		"+tag@example.com":        "+tag@example.com",
		"v.i.c.t.i.m+x@gmail.com": "victim@gmail.com",
		"victim@googlemail.com":   "victim@gmail.com",
		"first.last@example.com":  "first.last@example.com",
	} {
		if got := verification.MailboxKey(in); got != want {
			t.Errorf("MailboxKey(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestAddressesAreOneKey(t *testing.T) {
	for in, want := range map[string]string{
		" Alice@Example.COM ":                                     "alice@example.com",
		"alice@b\u00fccher.example":                               "alice@xn--bcher-kva.example",
		"alice@bu\u0308cher.example":                              "alice@xn--bcher-kva.example", // ü as u and a combining diaeresis
		"alice@xn--bcher-kva.example":                             "alice@xn--bcher-kva.example",
		"alice@ex\u0430mple.com":                                  "",                             // a Cyrillic а among Latin letters
		"alice@xn--exmple-4nf.com":                                "",                             // the same, in its Punycode form
		"alice@\u0430\u0440\u0440\u04cf\u0435.com":                "",                             // "аррӏе": Cyrillic letters drawn like Latin ones only
		"alice@g\u0585ogle.com":                                   "",                             // an Armenian օ among Latin letters
		"alice@\u043f\u0440\u0438\u043c\u0435\u0440.\u0440\u0444": "alice@xn--e1afmkfd.xn--p1ai",  // пример.рф: a Cyrillic name
		"alice@\u4f8b\u5b50.\u4e2d\u56fd":                         "alice@xn--fsqu00a.xn--fiqs8s", // 例子.中国
		"alice@\u30c9\u30e1\u30a4\u30f3abc.jp":                    "alice@xn--abc-qi4b8gof5e.jp",  // Katakana with Latin letters
		"\u00e9lise@example.com":                                  "",                             // SES takes no local part outside ASCII
		"alice@example.com\xff":                                   "",
		"":                                                        "",
		"alice@":                                                  "",
		"alice@localhost":                                         "",
	} {
		got, err := verification.NormalizeAddress(in)
		if got != want || (want == "") != (err != nil) {
			t.Errorf("NormalizeAddress(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}
