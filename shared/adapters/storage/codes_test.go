package storage_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/guance/aliyun-marketplace/cmd/devstack/dynamotest"
	"github.com/guance/aliyun-marketplace/shared/adapters/storage"
	"github.com/guance/aliyun-marketplace/shared/domain/guance"
	"github.com/guance/aliyun-marketplace/shared/domain/outbox"
	"github.com/guance/aliyun-marketplace/shared/domain/verification"
)

func newCodes(t *testing.T) (*storage.Codes, *dynamotest.Server) {
	db := dynamotest.Start(t)
	return db.Store().Codes(), db
}

var hasher, _ = verification.NewHasher("a-test-secret-of-enough-length")

const (
	buyer    = "session-of-the-buyer"
	attacker = "session-of-someone-else"
)

func issue(session, target, code string, at time.Time) verification.Issue {
	return verification.Issue{
		Record: verification.Record{Purpose: verification.Register, Session: verification.SessionKey(session), Target: target,
			Hash: hasher.Hash(verification.Register, target, code), SentAt: at, ExpiresAt: at.Add(verification.CodeTTL)},
		Client: verification.Client{IP: "203.0.113.9"}, Limits: verification.DefaultLimits, Now: at,
	}
}

func charge(store *storage.Codes, session, target string, at time.Time) (verification.Charged, error) {
	return store.Charge(context.Background(), verification.Register, verification.SessionKey(session), target, at)
}

func consume(store *storage.Codes, session, target, code string, at time.Time) error {
	return store.Consume(context.Background(), verification.Register, verification.SessionKey(session), target, hasher.Hash(verification.Register, target, code), at)
}

func TestIssueChargeConsume(t *testing.T) {
	store, db := newCodes(t)
	ctx := context.Background()
	in := issue(buyer, "a@example.com", "123456", t0)
	if err := store.Issue(ctx, in); err != nil {
		t.Fatal(err)
	}
	if n := db.RoundTrips(); n != 1 {
		t.Errorf("issue took %d round trips, want 1", n)
	}
	db.ResetRoundTrips()
	charged, err := charge(store, buyer, "a@example.com", t0.Add(time.Minute))
	if err != nil || charged.Hash != in.Record.Hash || charged.Attempts != 1 {
		t.Fatalf("charge: %+v, %v", charged, err)
	}
	if err := consume(store, buyer, "a@example.com", "123456", t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if n := db.RoundTrips(); n != 2 {
		t.Errorf("a right code took %d round trips, want 2 (charge, consume)", n)
	}
	// Used: its hash is handed back, marked consumed, uncharged (a step
	// retried after a lost answer proves its address again); once it
	// expired, nothing.
	if again, err := charge(store, buyer, "a@example.com", t0.Add(time.Minute)); err != nil || !again.Consumed || again.Hash != in.Record.Hash || again.Attempts != 0 {
		t.Fatalf("a used code: %+v %v", again, err)
	}
	if _, err := charge(store, buyer, "a@example.com", t0.Add(time.Hour)); !errors.Is(err, verification.ErrNoCode) {
		t.Fatalf("a used code, expired: %v", err)
	}
	if _, err := store.Charge(ctx, verification.BindBilling, verification.SessionKey(buyer), "a@example.com", t0); !errors.Is(err, verification.ErrNoCode) {
		t.Fatalf("another purpose: %v", err)
	}
}

// TestCodesBelongToTheirSession: another session can neither try nor burn
// the buyer's code, and its sends to the same address neither replace the
// buyer's code nor start the buyer's cooldown.
func TestCodesBelongToTheirSession(t *testing.T) {
	store, _ := newCodes(t)
	ctx := context.Background()
	if err := store.Issue(ctx, issue(buyer, "victim@example.com", "111111", t0)); err != nil {
		t.Fatal(err)
	}
	for range 10 {
		if _, err := charge(store, attacker, "victim@example.com", t0); !errors.Is(err, verification.ErrNoCode) {
			t.Fatalf("another session tried the buyer's code: %v", err)
		}
	}
	if err := store.Issue(ctx, issue(attacker, "victim@example.com", "222222", t0.Add(time.Second))); err != nil {
		t.Fatalf("another session's own code: %v", err)
	}
	charged, err := charge(store, buyer, "victim@example.com", t0.Add(2*time.Second))
	if err != nil || charged.Attempts != 1 || charged.Hash != hasher.Hash(verification.Register, "victim@example.com", "111111") {
		t.Fatalf("the buyer's code after the other session's tries: %+v, %v", charged, err)
	}
}

func TestCooldownAndReplacement(t *testing.T) {
	store, _ := newCodes(t)
	ctx := context.Background()
	if err := store.Issue(ctx, issue(buyer, "a@example.com", "111111", t0)); err != nil {
		t.Fatal(err)
	}
	var limit *verification.LimitError
	err := store.Issue(ctx, issue(buyer, "a@example.com", "222222", t0.Add(20*time.Second)))
	if !errors.As(err, &limit) || limit.Limit != verification.LimitCooldown || limit.RetryAfter != 40*time.Second {
		t.Fatalf("resend within the cooldown: %v", err)
	}
	// A corrected address needs no wait.
	if err := store.Issue(ctx, issue(buyer, "b@example.com", "333333", t0.Add(25*time.Second))); err != nil {
		t.Fatalf("send to a corrected address: %v", err)
	}
	if _, err := charge(store, buyer, "a@example.com", t0.Add(time.Minute)); !errors.Is(err, verification.ErrNoCode) {
		t.Fatalf("the replaced code's address: %v", err)
	}
	if err := store.Issue(ctx, issue(buyer, "b@example.com", "444444", t0.Add(86*time.Second))); err != nil {
		t.Fatal(err)
	}
	charged, err := charge(store, buyer, "b@example.com", t0.Add(2*time.Minute))
	if err != nil || charged.Hash != hasher.Hash(verification.Register, "b@example.com", "444444") {
		t.Fatalf("the newest code must be the one kept: %+v %v", charged, err)
	}
}

func TestCapsAndRevoke(t *testing.T) {
	store, _ := newCodes(t)
	ctx := context.Background()
	at := t0.Truncate(time.Hour).Add(10 * time.Minute)
	send := func(session, target string, limits verification.Limits) error {
		in := issue(session, target, "000000", at)
		in.Limits = limits
		at = at.Add(61 * time.Second)
		return store.Issue(ctx, in)
	}
	var limit *verification.LimitError
	target := verification.Limits{PerTargetHour: 2, PerAddressHour: 100, PerAddressDay: 100, PerSessionHour: 100, PerClientHour: 100}
	for range 2 {
		if err := send(buyer, "b@example.com", target); err != nil {
			t.Fatal(err)
		}
	}
	if err := send(buyer, "b@example.com", target); !errors.As(err, &limit) || limit.Limit != verification.LimitTargetHour {
		t.Fatalf("third send from one session to one address: %v", err)
	}
	// Another session has its own allowance for the address...
	if err := send(attacker, "b@example.com", target); err != nil {
		t.Fatalf("another session: %v", err)
	}
	// ...up to the higher cap of the address across sessions.
	global := verification.Limits{PerTargetHour: 100, PerAddressHour: 4, PerAddressDay: 100, PerSessionHour: 100, PerClientHour: 100}
	if err := send("third", "b@example.com", global); err != nil {
		t.Fatal(err)
	}
	if err := send("fourth", "b@example.com", global); !errors.As(err, &limit) || limit.Limit != verification.LimitAddressHour {
		t.Fatalf("fifth send to the address this hour: %v", err)
	}
	session := verification.Limits{PerTargetHour: 100, PerAddressHour: 100, PerAddressDay: 100, PerSessionHour: 2, PerClientHour: 100}
	for i := range 2 {
		if err := send("fifth", fmt.Sprintf("c%d@example.com", i), session); err != nil {
			t.Fatal(err)
		}
	}
	if err := send("fifth", "c9@example.com", session); !errors.As(err, &limit) || limit.Limit != verification.LimitSession {
		t.Fatalf("third send from the session: %v", err)
	}
	client := verification.Limits{PerTargetHour: 100, PerAddressHour: 100, PerAddressDay: 100, PerSessionHour: 100, PerClientHour: 6}
	if err := send("sixth", "d@example.com", client); !errors.As(err, &limit) || limit.Limit != verification.LimitClient {
		t.Fatalf("seventh send from the client this hour: %v", err)
	}

	// A failed mail gives its count back: one more send fits again.
	last := issue("seventh", "e@example.com", "555555", at)
	last.Limits = verification.Limits{PerTargetHour: 1, PerAddressHour: 100, PerAddressDay: 100, PerSessionHour: 100, PerClientHour: 100}
	if err := store.Issue(ctx, last); err != nil {
		t.Fatal(err)
	}
	if err := store.Revoke(ctx, last); err != nil {
		t.Fatal(err)
	}
	if _, err := charge(store, "seventh", "e@example.com", at); !errors.Is(err, verification.ErrNoCode) {
		t.Fatalf("a revoked code must be gone: %v", err)
	}
	again := issue("seventh", "e@example.com", "666666", at)
	again.Limits = last.Limits
	if err := store.Issue(ctx, again); err != nil {
		t.Fatalf("after revoke: %v", err)
	}
}

// TestConcurrentGuessesAreCounted: 200 wrong guesses at once are each
// charged before any comparison, so exactly MaxAttempts get to compare and
// the code is dead; the right code afterwards is refused.
func TestConcurrentGuessesAreCounted(t *testing.T) {
	store, _ := newCodes(t)
	if err := store.Issue(context.Background(), issue(buyer, "g@example.com", "424242", t0)); err != nil {
		t.Fatal(err)
	}
	const n = 200
	var wg sync.WaitGroup
	var mu sync.Mutex
	charged := 0
	for range n {
		wg.Go(func() {
			_, err := charge(store, buyer, "g@example.com", t0)
			switch {
			case err == nil:
				mu.Lock()
				charged++
				mu.Unlock()
			case errors.Is(err, verification.ErrCodeDead):
			default:
				t.Errorf("unexpected: %v", err)
			}
		})
	}
	wg.Wait()
	if charged != verification.MaxAttempts {
		t.Fatalf("%d of %d concurrent tries were let through to compare, want %d", charged, n, verification.MaxAttempts)
	}
	if _, err := charge(store, buyer, "g@example.com", t0); !errors.Is(err, verification.ErrCodeDead) {
		t.Fatalf("the right code after the burst: %v", err)
	}
}

func TestExpiredCode(t *testing.T) {
	store, _ := newCodes(t)
	if err := store.Issue(context.Background(), issue(buyer, "e@example.com", "1", t0)); err != nil {
		t.Fatal(err)
	}
	if _, err := charge(store, buyer, "e@example.com", t0.Add(verification.CodeTTL)); !errors.Is(err, verification.ErrCodeExpired) {
		t.Fatalf("at ten minutes: %v", err)
	}
}

// TestConcurrentRightCodes: of many simultaneous consumptions of the right
// code, exactly one succeeds.
func TestConcurrentRightCodes(t *testing.T) {
	store, _ := newCodes(t)
	if err := store.Issue(context.Background(), issue(buyer, "f@example.com", "777777", t0)); err != nil {
		t.Fatal(err)
	}
	const n = 16
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { errs[i] = consume(store, buyer, "f@example.com", "777777", t0) })
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		switch {
		case err == nil:
			ok++
		case errors.Is(err, verification.ErrNoCode):
		default:
			t.Fatalf("unexpected: %v", err)
		}
	}
	if ok != 1 {
		t.Fatalf("%d consumptions succeeded, want exactly 1", ok)
	}
}

func TestPending(t *testing.T) {
	store, _ := newCodes(t)
	ctx := context.Background()
	key := verification.SessionKey(buyer)
	if _, ok, err := store.Pending(ctx, verification.Register, key, t0); err != nil || ok {
		t.Fatalf("before any send: %v %v", ok, err)
	}
	if err := store.Issue(ctx, issue(buyer, "p@example.com", "1", t0)); err != nil {
		t.Fatal(err)
	}
	p, ok, err := store.Pending(ctx, verification.Register, key, t0.Add(time.Minute))
	if err != nil || !ok || p.Target != "p@example.com" || !p.SentAt.Equal(t0) {
		t.Fatalf("pending %+v %v %v", p, ok, err)
	}
	if _, ok, _ := store.Pending(ctx, verification.Register, key, t0.Add(verification.CodeTTL)); ok {
		t.Fatal("an expired code is not pending")
	}
}

// TestMailGoesWithTheCode: a bind-billing code's outbox mail is written in
// the code's transaction, and a refused code writes no mail.
func TestMailGoesWithTheCode(t *testing.T) {
	store, db := newCodes(t)
	ctx := context.Background()
	count := func() int {
		out, err := db.Client().Scan(ctx, &dynamodb.ScanInput{TableName: aws.String(db.Tables["OutboxTable"])})
		if err != nil {
			t.Fatal(err)
		}
		return len(out.Items)
	}
	in := issue(buyer, "acme", "123456", t0)
	in.Record.Purpose = verification.BindBilling
	mail := outbox.New(outbox.KindCode, "billing@acme.example", "en", map[string]string{"purpose": "bind-billing"}, t0, verification.CodeTTL)
	in.Mail = &mail
	if err := store.Issue(ctx, in); err != nil {
		t.Fatal(err)
	}
	if n := count(); n != 1 {
		t.Fatalf("%d outbox items, want 1", n)
	}
	again := in
	again.Now = t0.Add(10 * time.Second)
	second := outbox.New(outbox.KindCode, "billing@acme.example", "en", nil, again.Now, verification.CodeTTL)
	again.Mail = &second
	var limit *verification.LimitError
	if err := store.Issue(ctx, again); !errors.As(err, &limit) {
		t.Fatalf("within the cooldown: %v", err)
	}
	if n := count(); n != 1 {
		t.Fatalf("a refused code left a mail behind: %d items", n)
	}
}

func TestBillingAccounts(t *testing.T) {
	db := dynamotest.Start(t)
	accounts := db.Store().Accounts()
	ctx := context.Background()
	if err := accounts.CreateBilling(ctx, guance.BillingAccount{Username: "acme", Email: "billing@acme.example"}); err != nil {
		t.Fatal(err)
	}
	if err := accounts.CreateBilling(ctx, guance.BillingAccount{Username: "acme", Email: "other@acme.example"}); !errors.Is(err, storage.ErrAccountExists) {
		t.Fatalf("taken username: %v", err)
	}
	if email, ok, err := accounts.BillingEmail(ctx, "acme"); err != nil || !ok || email != "billing@acme.example" {
		t.Fatalf("lookup: %q %v %v", email, ok, err)
	}
	if _, ok, err := accounts.BillingEmail(ctx, "nobody"); err != nil || ok {
		t.Fatalf("unknown: %v %v", ok, err)
	}
}

// TestCooldownPerTarget: alternating two addresses does not get around the
// cooldown of either.
func TestCooldownPerTarget(t *testing.T) {
	store, _ := newCodes(t)
	ctx := context.Background()
	if err := store.Issue(ctx, issue(buyer, "a@example.com", "1", t0)); err != nil {
		t.Fatal(err)
	}
	if err := store.Issue(ctx, issue(buyer, "b@example.com", "2", t0.Add(5*time.Second))); err != nil {
		t.Fatal(err)
	}
	var limit *verification.LimitError
	if err := store.Issue(ctx, issue(buyer, "a@example.com", "3", t0.Add(10*time.Second))); !errors.As(err, &limit) || limit.Limit != verification.LimitCooldown || limit.RetryAfter != 50*time.Second {
		t.Fatalf("back to the first address within its cooldown: %v", err)
	}
}

// TestUsernamesDoNotSpendAddresses: bind-billing sends to a username that
// looks like an address (no mail leaves for an unknown one) do not spend
// the allowance of that address for the buyer's own codes.
func TestUsernamesDoNotSpendAddresses(t *testing.T) {
	store, _ := newCodes(t)
	ctx := context.Background()
	limits := verification.Limits{PerTargetHour: 100, PerAddressHour: 3, PerAddressDay: 100, PerSessionHour: 100, PerClientHour: 100}
	for i := range 3 {
		in := issue(fmt.Sprintf("attacker-%d", i), "victim@example.com", "0", t0)
		in.Record.Purpose, in.Limits = verification.BindBilling, limits
		if err := store.Issue(ctx, in); err != nil {
			t.Fatal(err)
		}
	}
	own := issue(buyer, "victim@example.com", "1", t0)
	own.Limits = limits
	if err := store.Issue(ctx, own); err != nil {
		t.Fatalf("the address's own code after sends to a look-alike username: %v", err)
	}
}

// collidingDB answers the first n transactions with a TransactionConflict,
// as DynamoDB does when another transaction writes the same items at the
// same moment (the local server runs writes one at a time, so it never
// does).
type collidingDB struct {
	*dynamodb.Client
	n int
}

func (c *collidingDB) TransactWriteItems(ctx context.Context, in *dynamodb.TransactWriteItemsInput, opts ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error) {
	if c.n > 0 {
		c.n--
		reasons := make([]types.CancellationReason, len(in.TransactItems))
		for i := range reasons {
			reasons[i].Code = aws.String("None")
		}
		reasons[0].Code = aws.String("TransactionConflict")
		return nil, &types.TransactionCanceledException{Message: aws.String("Transaction cancelled"), CancellationReasons: reasons}
	}
	return c.Client.TransactWriteItems(ctx, in, opts...)
}

// TestIssueAndRevokeRetryACollision: two sends for one session at once
// collide on the cooldown and counters; the one DynamoDB cancels is tried
// again and then answered by its conditions, not failed.
func TestIssueAndRevokeRetryACollision(t *testing.T) {
	db := dynamotest.Start(t)
	colliding := &collidingDB{Client: db.Client(), n: 1}
	store := storage.New(colliding, db.StoreTables()).Codes()
	at := time.Date(2026, 11, 26, 3, 0, 0, 0, time.UTC)
	if err := store.Issue(context.Background(), issue(buyer, "a@example.com", "123456", at)); err != nil {
		t.Fatalf("a send that collided once: %v", err)
	}
	colliding.n = 1
	var limit *verification.LimitError
	if err := store.Issue(context.Background(), issue(buyer, "a@example.com", "654321", at)); !errors.As(err, &limit) || limit.Limit != verification.LimitCooldown {
		t.Fatalf("a second send that collided once: %v, want the cooldown", err)
	}
	colliding.n = 1
	if err := store.Revoke(context.Background(), issue(buyer, "a@example.com", "123456", at)); err != nil {
		t.Fatalf("a revoke that collided once: %v", err)
	}
}

// TestTheOwnerIsNeverLockedOut: one network flooding an address (fresh
// purchases each time, no cooldown between them) stops at its own
// per-network caps; the owner asking from another network is not
// affected. A flood from 20 purchases over 18 networks, asking every
// slot of a whole day from 00:00 UTC (the day's window included), fills
// the mailbox's caps and spends its own reserves, and still cannot take
// the owner's: the owner's purchase gets a code whenever it asks, and the
// mailbox receives at most the caps plus each purchase's reserve.
func TestTheOwnerIsNeverLockedOut(t *testing.T) {
	store, _ := newCodes(t)
	ctx := context.Background()
	day := t0.Truncate(24 * time.Hour)
	n := 0
	send := func(purchase, ip, to string, when time.Time) error {
		in := issue(purchase, to, "000000", when)
		in.Client.IP = ip
		return store.Issue(ctx, in)
	}
	var limit *verification.LimitError
	for i := range verification.DefaultLimits.PerRequesterHour {
		n++
		if err := send(fmt.Sprintf("one-net-%d", n), "198.51.100.7", "owner@example.com", day.Add(time.Duration(i)*time.Second)); err != nil {
			t.Fatalf("send %d from one network: %v", i, err)
		}
	}
	if err := send("one-net-x", "198.51.100.7", "owner@example.com", day.Add(10*time.Second)); !errors.As(err, &limit) || limit.Limit != verification.LimitRequesterHour {
		t.Fatalf("one network past its cap: %v", err)
	}

	// The flood: every 15 minutes of the day, each of 20 purchases asks
	// for a code to the victim's mailbox, under subaddresses (one inbox).
	const purchases, networks = 20, 18
	victim := func(i int) string { return fmt.Sprintf("victim+%d@example.com", i) }
	mails, tries := 0, 0
	owner := map[time.Duration]bool{2 * time.Hour: false, 7 * time.Hour: false, 23*time.Hour + 45*time.Minute: false}
	for slot := time.Duration(0); slot < 24*time.Hour; slot += verification.DefaultLimits.ReserveGap {
		for p := range purchases {
			tries++
			at := day.Add(slot + time.Duration(p)*time.Second)
			switch err := send(fmt.Sprintf("flood-%d", p), fmt.Sprintf("192.0.2.%d", p%networks+1), victim(tries), at); {
			case err == nil:
				mails++
			case !errors.As(err, &limit):
				t.Fatalf("flood at %v: %v", slot, err)
			}
		}
		if _, asks := owner[slot]; asks {
			if err := send("owners-purchase", "203.0.113.50", "victim@example.com", day.Add(slot+time.Minute)); err != nil {
				t.Fatalf("the owner at %v, during the flood: %v", slot, err)
			}
			owner[slot] = true
			mails++
		}
	}
	caps := verification.DefaultLimits.PerAddressDay + verification.DefaultLimits.Reserve*(purchases+1)
	t.Logf("a day's flood: %d tries, %d mails to one inbox (at most %d), the owner served %v", tries, mails, caps, owner)
	for at, served := range owner {
		if !served {
			t.Errorf("the owner did not ask at %v", at)
		}
	}
	if mails > caps {
		t.Fatalf("%d mails to one inbox in a day, want at most %d", mails, caps)
	}
}

// TestACompanyBehindOneAddress: an office onboarding behind one NAT
// address (many purchases, many addresses) is not stopped by the
// per-network cap.
func TestACompanyBehindOneAddress(t *testing.T) {
	store, _ := newCodes(t)
	ctx := context.Background()
	at := t0.Truncate(time.Hour).Add(5 * time.Minute)
	for i := range 150 {
		in := issue(fmt.Sprintf("colleague-%d", i), fmt.Sprintf("colleague%d@example.com", i), "000000", at.Add(time.Duration(i)*time.Second))
		in.Client.IP = "198.51.100.1"
		if err := store.Issue(ctx, in); err != nil {
			t.Fatalf("colleague %d: %v", i, err)
		}
	}
}
