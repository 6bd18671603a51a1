package storage_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/guance/aliyun-marketplace/shared/dynamotest"
	"github.com/guance/aliyun-marketplace/shared/storage"
	"github.com/guance/aliyun-marketplace/shared/verification"
)

func newCodes(t *testing.T) (*storage.Codes, *dynamotest.Server) {
	db := dynamotest.Start(t)
	return storage.NewCodes(db.Client(), db.Tables["VerificationTable"]), db
}

var hasher, _ = verification.NewHasher("a-test-secret-of-enough-length")

func record(key, code string, at time.Time) verification.Record {
	return verification.Record{Purpose: verification.Register, Key: key, Hash: hasher.Hash(verification.Register, key, code), SentAt: at, ExpiresAt: at.Add(verification.CodeTTL)}
}

var client = verification.Client{SessionID: "s1", IP: "203.0.113.9"}

func TestIssueAndConsume(t *testing.T) {
	store, db := newCodes(t)
	ctx := context.Background()
	rec := record("a@example.com", "123456", t0)
	if err := store.Issue(ctx, rec, client, verification.DefaultLimits, t0); err != nil {
		t.Fatal(err)
	}
	if n := db.RoundTrips(); n != 1 {
		t.Errorf("issue took %d round trips, want 1", n)
	}
	db.ResetRoundTrips()
	if err := store.Consume(ctx, verification.Register, "a@example.com", rec.Hash, t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if n := db.RoundTrips(); n != 1 {
		t.Errorf("verify took %d round trips, want 1", n)
	}
	if err := store.Consume(ctx, verification.Register, "a@example.com", rec.Hash, t0.Add(time.Minute)); !errors.Is(err, verification.ErrNoCode) {
		t.Fatalf("a used code: %v", err)
	}
	if err := store.Consume(ctx, verification.BindBilling, "a@example.com", rec.Hash, t0); !errors.Is(err, verification.ErrNoCode) {
		t.Fatalf("another purpose: %v", err)
	}
}

func TestCooldownAndReplacement(t *testing.T) {
	store, _ := newCodes(t)
	ctx := context.Background()
	first := record("a@example.com", "111111", t0)
	if err := store.Issue(ctx, first, client, verification.DefaultLimits, t0); err != nil {
		t.Fatal(err)
	}
	var limit *verification.LimitError
	err := store.Issue(ctx, record("a@example.com", "222222", t0.Add(20*time.Second)), client, verification.DefaultLimits, t0.Add(20*time.Second))
	if !errors.As(err, &limit) || limit.Limit != "cooldown" || limit.RetryAfter != 40*time.Second {
		t.Fatalf("resend within the cooldown: %v", err)
	}
	second := record("a@example.com", "333333", t0.Add(61*time.Second))
	if err := store.Issue(ctx, second, client, verification.DefaultLimits, t0.Add(61*time.Second)); err != nil {
		t.Fatal(err)
	}
	if err := store.Consume(ctx, verification.Register, "a@example.com", first.Hash, t0.Add(2*time.Minute)); !isWrong(err) {
		t.Fatalf("the replaced code must not pass: %v", err)
	}
	if err := store.Consume(ctx, verification.Register, "a@example.com", second.Hash, t0.Add(2*time.Minute)); err != nil {
		t.Fatalf("the new code: %v", err)
	}
}

func isWrong(err error) bool {
	var wrong *verification.WrongCodeError
	return errors.As(err, &wrong)
}

func TestAddressCapsAndRevoke(t *testing.T) {
	store, _ := newCodes(t)
	ctx := context.Background()
	limits := verification.Limits{PerAddressHour: 3, PerAddressDay: 20, PerSessionHour: 100, PerClientHour: 100}
	at := t0.Truncate(time.Hour).Add(10 * time.Minute)
	var last verification.Record
	for i := range 3 {
		last = record("b@example.com", "000000", at)
		if err := store.Issue(ctx, last, client, limits, at); err != nil {
			t.Fatalf("send %d: %v", i+1, err)
		}
		at = at.Add(2 * time.Minute)
	}
	var limit *verification.LimitError
	if err := store.Issue(ctx, record("b@example.com", "000000", at), client, limits, at); !errors.As(err, &limit) || limit.Limit != "address-hour" || limit.RetryAfter != 44*time.Minute {
		t.Fatalf("fourth send in the hour: %v", err)
	}
	// A failed mail gives its count back: one more send fits again.
	if err := store.Revoke(ctx, last, client, last.SentAt); err != nil {
		t.Fatal(err)
	}
	if err := store.Consume(ctx, verification.Register, "b@example.com", last.Hash, at); !errors.Is(err, verification.ErrNoCode) {
		t.Fatalf("a revoked code must be gone: %v", err)
	}
	if err := store.Issue(ctx, record("b@example.com", "000000", at), client, limits, at); err != nil {
		t.Fatalf("after revoke: %v", err)
	}
	// Another hour, another window.
	next := at.Truncate(time.Hour).Add(time.Hour)
	if err := store.Issue(ctx, record("b@example.com", "000000", next), client, limits, next); err != nil {
		t.Fatalf("next hour: %v", err)
	}
}

func TestSessionAndClientCaps(t *testing.T) {
	store, _ := newCodes(t)
	ctx := context.Background()
	limits := verification.Limits{PerAddressHour: 100, PerAddressDay: 100, PerSessionHour: 2, PerClientHour: 3}
	at := t0.Truncate(time.Hour)
	for i := range 2 {
		if err := store.Issue(ctx, record(fmt.Sprintf("c%d@example.com", i), "0", at), client, limits, at); err != nil {
			t.Fatal(err)
		}
	}
	var limit *verification.LimitError
	if err := store.Issue(ctx, record("c9@example.com", "0", at), client, limits, at); !errors.As(err, &limit) || limit.Limit != "session" {
		t.Fatalf("third send from the session: %v", err)
	}
	other := verification.Client{SessionID: "s2", IP: client.IP}
	if err := store.Issue(ctx, record("c8@example.com", "0", at), other, limits, at); err != nil {
		t.Fatal(err)
	}
	if err := store.Issue(ctx, record("c7@example.com", "0", at), verification.Client{SessionID: "s3", IP: client.IP}, limits, at); !errors.As(err, &limit) || limit.Limit != "client" {
		t.Fatalf("fourth send from the client: %v", err)
	}
}

// TestBruteForce: five wrong codes kill the code; the sixth try fails even
// with the right one.
func TestBruteForce(t *testing.T) {
	store, _ := newCodes(t)
	ctx := context.Background()
	rec := record("d@example.com", "424242", t0)
	if err := store.Issue(ctx, rec, client, verification.DefaultLimits, t0); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= verification.MaxAttempts; i++ {
		err := store.Consume(ctx, verification.Register, "d@example.com", hasher.Hash(verification.Register, "d@example.com", fmt.Sprintf("%06d", i)), t0)
		var wrong *verification.WrongCodeError
		if !errors.As(err, &wrong) || wrong.Remaining != verification.MaxAttempts-i {
			t.Fatalf("wrong try %d: %v", i, err)
		}
	}
	if err := store.Consume(ctx, verification.Register, "d@example.com", rec.Hash, t0); !errors.Is(err, verification.ErrCodeDead) {
		t.Fatalf("sixth try with the right code: %v", err)
	}
}

func TestExpiredCode(t *testing.T) {
	store, _ := newCodes(t)
	rec := record("e@example.com", "1", t0)
	if err := store.Issue(context.Background(), rec, client, verification.DefaultLimits, t0); err != nil {
		t.Fatal(err)
	}
	if err := store.Consume(context.Background(), verification.Register, "e@example.com", rec.Hash, t0.Add(verification.CodeTTL)); !errors.Is(err, verification.ErrCodeExpired) {
		t.Fatalf("at ten minutes: %v", err)
	}
}

// TestConcurrentVerification: of many simultaneous tries with the right
// code, exactly one succeeds.
func TestConcurrentVerification(t *testing.T) {
	store, _ := newCodes(t)
	rec := record("f@example.com", "777777", t0)
	if err := store.Issue(context.Background(), rec, client, verification.DefaultLimits, t0); err != nil {
		t.Fatal(err)
	}
	const n = 16
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			errs[i] = store.Consume(context.Background(), verification.Register, "f@example.com", rec.Hash, t0)
		})
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
		t.Fatalf("%d verifications succeeded, want exactly 1", ok)
	}
}

func TestBillingAccounts(t *testing.T) {
	db := dynamotest.Start(t)
	accounts := storage.NewAccounts(db.Client(), db.Tables["AccountsTable"])
	ctx := context.Background()
	if err := accounts.CreateBilling(ctx, storage.BillingAccount{Username: "acme", Email: "billing@acme.example"}); err != nil {
		t.Fatal(err)
	}
	if err := accounts.CreateBilling(ctx, storage.BillingAccount{Username: "acme", Email: "other@acme.example"}); !errors.Is(err, storage.ErrAccountExists) {
		t.Fatalf("taken username: %v", err)
	}
	if email, ok, err := accounts.BillingEmail(ctx, "acme"); err != nil || !ok || email != "billing@acme.example" {
		t.Fatalf("lookup: %q %v %v", email, ok, err)
	}
	if _, ok, err := accounts.BillingEmail(ctx, "nobody"); err != nil || ok {
		t.Fatalf("unknown: %v %v", ok, err)
	}
}
