package storage_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/guance/aliyun-marketplace/shared/domain/guance"
)

// TestLookups: a username is taken by a Guance account, or (for
// registration, which creates both) by a billing center account, the same
// answer either way; an email by a Guance account's guard. Each lookup is
// counted: past the purchase's cap nothing is read.
func TestLookups(t *testing.T) {
	f := newRecords(t)
	f.existing(t) // billing "acme", Guance "alice" with alice@acme.example
	ctx := context.Background()
	store := f.db.Store().Lookups()
	ask := func(q guance.Lookup) guance.Taken {
		t.Helper()
		q.Scope, q.Network, q.Now = "purchase#7000001", "198.51.100.7", t0
		got, err := store.Taken(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	for _, tt := range []struct {
		name string
		q    guance.Lookup
		want guance.Taken
	}{
		{"a Guance username", guance.Lookup{Username: "alice"}, guance.Taken{Username: true}},
		{"a billing center username, for registration", guance.Lookup{Username: "acme", Billing: true}, guance.Taken{Username: true}},
		{"a billing center username, for a Guance account alone", guance.Lookup{Username: "acme"}, guance.Taken{}},
		{"a free username and a taken email", guance.Lookup{Username: "zed", Email: "alice@acme.example", Billing: true}, guance.Taken{Email: true, Account: "alice"}},
		{"nothing asked", guance.Lookup{}, guance.Taken{}},
	} {
		if got := ask(tt.q); got != tt.want {
			t.Errorf("%s: %+v, want %+v", tt.name, got, tt.want)
		}
	}
	var limit *guance.LookupLimitError
	for i := 0; ; i++ {
		_, err := store.Taken(ctx, guance.Lookup{Username: "zed", Scope: "purchase#7000001", Network: "198.51.100.7", Now: t0.Add(time.Second)})
		if errors.As(err, &limit) {
			if i+5 != guance.LookupsPerPurchaseHour || limit.RetryAfter <= 0 {
				t.Fatalf("refused after %d more, retry after %v", i, limit.RetryAfter)
			}
			break
		}
		if err != nil || i > guance.LookupsPerPurchaseHour {
			t.Fatalf("lookup %d: %v", i, err)
		}
	}
	// Another purchase on the same network still may.
	if _, err := store.Taken(ctx, guance.Lookup{Username: "zed", Scope: "purchase#7000002", Network: "198.51.100.7", Now: t0}); err != nil {
		t.Fatalf("another purchase: %v", err)
	}
}
