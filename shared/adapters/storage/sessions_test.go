package storage_test

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/guance/aliyun-marketplace/cmd/devstack/dynamotest"
	"github.com/guance/aliyun-marketplace/shared/adapters/storage"
	"github.com/guance/aliyun-marketplace/shared/domain/session"
)

func newSessions(t *testing.T) (*storage.Sessions, *dynamotest.Server) {
	db := dynamotest.Start(t)
	return db.Store().Sessions(), db
}

func TestOpenSessionOncePerLink(t *testing.T) {
	store, db := newSessions(t)
	ctx := context.Background()
	link := session.Link{Token: "e8eb9b13309bd350664ae708df3189cb", InstanceID: "5604018", ExpiresAt: t0.Add(6 * time.Minute)}
	first := session.New("1234567890123456", "5604018", "zh", t0, time.Hour)

	if err := store.Open(ctx, link, first); err != nil {
		t.Fatal(err)
	}
	// One read of the purchase's drafts, one transaction.
	if n := db.RoundTrips(); n != 2 {
		t.Errorf("opening took %d round trips, want 2", n)
	}
	got, err := store.Get(ctx, first.ID, t0.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, first) {
		t.Fatalf("Get = %+v, want %+v", got, first)
	}

	second := session.New("1234567890123456", "5604018", "zh", t0, time.Hour)
	if err := store.Open(ctx, link, second); !errors.Is(err, session.ErrLinkUsed) {
		t.Fatalf("replayed link: %v, want ErrLinkUsed", err)
	}
	if _, err := store.Get(ctx, second.ID, t0); !errors.Is(err, session.ErrNotFound) {
		t.Fatalf("a refused link must open no session: %v", err)
	}
	if err := store.ConsumeLink(ctx, link, t0); !errors.Is(err, session.ErrLinkUsed) {
		t.Fatalf("ConsumeLink of a used link: %v", err)
	}
	other := session.Link{Token: "0bd98abe38a26f98538f10293a8d6d9b", InstanceID: "5604018", ExpiresAt: t0.Add(6 * time.Minute)}
	if err := store.ConsumeLink(ctx, other, t0); err != nil {
		t.Fatal(err)
	}
}

func TestSessionExpiryIsFilteredOnRead(t *testing.T) {
	store, _ := newSessions(t)
	ctx := context.Background()
	s := session.New("1234567890123456", "5604018", "zh", t0, time.Hour)
	if err := store.Open(ctx, session.Link{Token: "a", InstanceID: "5604018", ExpiresAt: t0}, s); err != nil {
		t.Fatal(err)
	}
	// The item is still there (TTL deletes late) but the session is over.
	if _, err := store.Get(ctx, s.ID, t0.Add(time.Hour)); !errors.Is(err, session.ErrNotFound) {
		t.Fatalf("expired session: %v", err)
	}
	if _, err := store.Get(ctx, "nobody-has-this-id-nobody-has-this-id-12345", t0); !errors.Is(err, session.ErrNotFound) {
		t.Fatalf("unknown session: %v", err)
	}
}

func TestSetLanguage(t *testing.T) {
	store, db := newSessions(t)
	ctx := context.Background()
	s := session.New("1234567890123456", "5604018", "zh", t0, time.Hour)
	if err := store.Open(ctx, session.Link{Token: "b", InstanceID: "5604018", ExpiresAt: t0}, s); err != nil {
		t.Fatal(err)
	}
	db.ResetRoundTrips()
	if err := store.SetLanguage(ctx, s, s.CSRF, "en", t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if n := db.RoundTrips(); n != 1 {
		t.Errorf("language change took %d round trips, want 1", n)
	}
	if got, _ := store.Get(ctx, s.ID, t0); got.Lang != "en" {
		t.Fatalf("lang %q", got.Lang)
	}
	if err := store.SetLanguage(ctx, s, "forged", "zh", t0); !errors.Is(err, session.ErrBadCSRF) {
		t.Fatalf("forged CSRF: %v", err)
	}
	if err := store.SetLanguage(ctx, s, s.CSRF, "zh", t0.Add(2*time.Hour)); !errors.Is(err, session.ErrNotFound) {
		t.Fatalf("expired: %v", err)
	}
	missing := s
	missing.ID = "missing"
	if err := store.SetLanguage(ctx, missing, s.CSRF, "zh", t0); !errors.Is(err, session.ErrNotFound) {
		t.Fatalf("missing: %v", err)
	}
	if got, _ := store.Get(ctx, s.ID, t0); got.Lang != "en" {
		t.Fatalf("a refused change changed the language to %q", got.Lang)
	}
	// The next session of the purchase speaks the language chosen, over
	// its browser's.
	next := session.New("1234567890123456", "5604018", "zh", t0.Add(time.Minute), time.Hour)
	if err := store.Open(ctx, session.Link{Token: "c", InstanceID: "5604018", ExpiresAt: t0.Add(time.Hour)}, next); err != nil {
		t.Fatal(err)
	}
	if got, _ := store.Get(ctx, next.ID, t0.Add(time.Minute)); got.Lang != "en" {
		t.Fatalf("the next session speaks %q, want the language chosen for the purchase", got.Lang)
	}
}

func TestSaveDraft(t *testing.T) {
	store, db := newSessions(t)
	ctx := context.Background()
	s := session.New("1234567890123456", "5604018", "en", t0, time.Hour)
	if err := store.Open(ctx, session.Link{Token: "l1", InstanceID: "5604018", ExpiresAt: t0.Add(time.Hour)}, s); err != nil {
		t.Fatal(err)
	}
	db.ResetRoundTrips()
	if err := store.SaveDraft(ctx, s, s.CSRF, "register", `{"step":1}`, t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if n := db.RoundTrips(); n != 1 {
		t.Errorf("%d round trips", n)
	}
	if err := store.SaveDraft(ctx, s, s.CSRF, "bind", `{"x":1}`, t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	got, err := store.Get(ctx, s.ID, t0.Add(time.Minute))
	if err != nil || got.Draft("register") != `{"step":1}` || got.Draft("bind") != `{"x":1}` {
		t.Fatalf("drafts %v %v", got.Drafts, err)
	}
	if err := store.SaveDraft(ctx, s, "forged", "register", `{}`, t0.Add(time.Minute)); !errors.Is(err, session.ErrBadCSRF) {
		t.Fatalf("forged CSRF: %v", err)
	}
	if err := store.SaveDraft(ctx, s, s.CSRF, "register", `{}`, t0.Add(2*time.Hour)); !errors.Is(err, session.ErrNotFound) {
		t.Fatalf("expired session: %v", err)
	}
	if got, _ := store.Get(ctx, s.ID, t0.Add(time.Minute)); got.Draft("register") != `{"step":1}` {
		t.Fatal("a refused save changed the draft")
	}
}

// TestDraftsAreThePurchases: what a buyer typed in one session is kept
// with the purchase: the next session of the same purchase (a second Login
// Without Password, or one after the first ended) starts from it, and
// takes the earlier session's CSRF token (its open tab goes on working);
// another purchase's session starts empty.
func TestDraftsAreThePurchases(t *testing.T) {
	store, _ := newSessions(t)
	ctx := context.Background()
	first := session.New("1234567890123456", "5604018", "en", t0, time.Hour)
	if err := store.Open(ctx, session.Link{Token: "d1", InstanceID: "5604018", ExpiresAt: t0.Add(time.Hour)}, first); err != nil {
		t.Fatal(err)
	}
	if err := store.SaveDraft(ctx, first, first.CSRF, "register", `{"step":1}`, t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	// Two hours on, the first session is over; a new link opens another.
	later := t0.Add(2 * time.Hour)
	second := session.New("1234567890123456", "5604018", "en", later, time.Hour)
	if err := store.Open(ctx, session.Link{Token: "d2", InstanceID: "5604018", ExpiresAt: later.Add(time.Hour)}, second); err != nil {
		t.Fatal(err)
	}
	got, err := store.Get(ctx, second.ID, later)
	if err != nil || got.Draft("register") != `{"step":1}` {
		t.Fatalf("the next session's drafts: %v %v", got.Drafts, err)
	}
	if got.CheckCSRF(first.CSRF) != nil || !got.Continued(first.CSRF) || got.Continued(got.CSRF) {
		t.Fatalf("the earlier session's token: prior %v", got.Prior)
	}
	// A form of the earlier session's tab is taken by the new one.
	if err := store.SaveDraft(ctx, got, first.CSRF, "register", `{"step":2}`, later); err != nil {
		t.Fatalf("the earlier tab's form: %v", err)
	}
	if err := store.SaveDraft(ctx, got, "forged", "register", `{}`, later); !errors.Is(err, session.ErrBadCSRF) {
		t.Fatalf("forged: %v", err)
	}
	// Past DraftTTL nothing is carried.
	late := later.Add(session.DraftTTL + time.Hour)
	third := session.New("1234567890123456", "5604018", "en", late, time.Hour)
	if err := store.Open(ctx, session.Link{Token: "d3", InstanceID: "5604018", ExpiresAt: late.Add(time.Hour)}, third); err != nil {
		t.Fatal(err)
	}
	if got, _ := store.Get(ctx, third.ID, late); len(got.Drafts) != 0 || len(got.Prior) != 0 {
		t.Fatalf("drafts past their keeping: %v %v", got.Drafts, got.Prior)
	}
	other := session.New("1234567890123456", "5604019", "en", later, time.Hour)
	if err := store.Open(ctx, session.Link{Token: "d4", InstanceID: "5604019", ExpiresAt: later.Add(time.Hour)}, other); err != nil {
		t.Fatal(err)
	}
	if got, _ := store.Get(ctx, other.ID, later); len(got.Drafts) != 0 || got.CheckCSRF(first.CSRF) == nil {
		t.Fatalf("another purchase's session: %v %v", got.Drafts, got.Prior)
	}
}

// TestShortenAndEnd: a session's end only comes forward; End needs the
// page's token.
func TestShortenAndEnd(t *testing.T) {
	store, _ := newSessions(t)
	ctx := context.Background()
	s := session.New("1234567890123456", "5604018", "en", t0, time.Hour)
	if err := store.Open(ctx, session.Link{Token: "e1", InstanceID: "5604018", ExpiresAt: t0.Add(time.Hour)}, s); err != nil {
		t.Fatal(err)
	}
	if err := store.Shorten(ctx, s.ID, t0.Add(15*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := store.Shorten(ctx, s.ID, t0.Add(50*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if _, err := store.Get(ctx, s.ID, t0.Add(16*time.Minute)); !errors.Is(err, session.ErrNotFound) {
		t.Fatalf("a shortened session past its new end: %v", err)
	}
	u := session.New("1234567890123456", "5604018", "en", t0, time.Hour)
	if err := store.Open(ctx, session.Link{Token: "e2", InstanceID: "5604018", ExpiresAt: t0.Add(time.Hour)}, u); err != nil {
		t.Fatal(err)
	}
	if err := store.End(ctx, u.ID, "forged", t0); !errors.Is(err, session.ErrBadCSRF) {
		t.Fatalf("end without the token: %v", err)
	}
	if err := store.End(ctx, u.ID, u.CSRF, t0); err != nil {
		t.Fatal(err)
	}
	if _, err := store.Get(ctx, u.ID, t0); !errors.Is(err, session.ErrNotFound) {
		t.Fatalf("an ended session: %v", err)
	}
	if err := store.End(ctx, u.ID, u.CSRF, t0); err != nil {
		t.Fatalf("ending an ended session: %v", err)
	}
}
