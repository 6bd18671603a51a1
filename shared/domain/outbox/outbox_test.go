package outbox

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/smithy-go"
)

func TestSealer(t *testing.T) {
	s, err := NewSealer("a-test-secret-of-enough-length")
	if err != nil {
		t.Fatal(err)
	}
	sealed := s.Seal("mail#1", "424242")
	if strings.Contains(sealed, "424242") {
		t.Fatal("the sealed value shows the secret")
	}
	if got, err := s.Open("mail#1", sealed); err != nil || got != "424242" {
		t.Fatalf("open: %q %v", got, err)
	}
	if _, err := s.Open("mail#2", sealed); !errors.Is(err, ErrSealBroken) {
		t.Fatal("a sealed value must not open for another item")
	}
	other, _ := NewSealer("another-secret-of-enough-length")
	if _, err := other.Open("mail#1", sealed); !errors.Is(err, ErrSealBroken) {
		t.Fatal("a sealed value must not open with another key")
	}
	keyID, body, _ := strings.Cut(sealed, ".")
	raw, _ := base64.RawStdEncoding.DecodeString(body)
	raw[len(raw)-1] ^= 1
	if _, err := s.Open("mail#1", keyID+"."+base64.RawStdEncoding.EncodeToString(raw)); !errors.Is(err, ErrSealBroken) {
		t.Fatal("a tampered value must not open")
	}
	if _, err := NewSealer("short"); err == nil {
		t.Fatal("a short secret must be refused")
	}
}

// TestSealerRotation: after CODE_HASH_SECRET changes, a mail sealed with
// the old secret still opens while the old one is kept as previous (its
// key id says which), never once it is dropped; new mails are sealed
// with the new secret only; values sealed before key ids open too.
func TestSealerRotation(t *testing.T) {
	old, _ := NewSealer("the-secret-before-the-rotation")
	sealedBefore := old.Seal("mail#1", "111111")
	rotating, err := NewSealer("the-secret-after-the-rotation", "the-secret-before-the-rotation")
	if err != nil {
		t.Fatal(err)
	}
	if got, err := rotating.Open("mail#1", sealedBefore); err != nil || got != "111111" {
		t.Fatalf("an old mail during the rotation: %q %v", got, err)
	}
	sealedAfter := rotating.Seal("mail#2", "222222")
	if strings.SplitN(sealedAfter, ".", 2)[0] == strings.SplitN(sealedBefore, ".", 2)[0] {
		t.Fatal("the new mail names the old key")
	}
	if _, err := old.Open("mail#2", sealedAfter); !errors.Is(err, ErrSealBroken) {
		t.Fatal("a new mail opened with the old secret")
	}
	done, _ := NewSealer("the-secret-after-the-rotation")
	if _, err := done.Open("mail#1", sealedBefore); !errors.Is(err, ErrSealBroken) {
		t.Fatal("an old mail opened after the rotation")
	}
	// A value sealed before values named their key.
	_, legacy, _ := strings.Cut(sealedBefore, ".")
	if got, err := rotating.Open("mail#1", legacy); err != nil || got != "111111" {
		t.Fatalf("a value without a key id: %q %v", got, err)
	}
	// A previous secret that cannot be one is skipped: the function
	// starts, the mails sealed with it stay shut, CheckSecret says why.
	skipping, err := NewSealer("the-secret-after-the-rotation", "short")
	if err != nil || CheckSecret("short") == nil {
		t.Fatalf("a short previous secret: %v", err)
	}
	if _, err := skipping.Open("mail#1", sealedBefore); !errors.Is(err, ErrSealBroken) {
		t.Fatal("opened with a skipped key")
	}
}

func TestBackoff(t *testing.T) {
	want := []time.Duration{30 * time.Second, time.Minute, 2 * time.Minute, 4 * time.Minute}
	for i, w := range want {
		if got := Backoff(i + 1); got != w {
			t.Errorf("Backoff(%d) = %s, want %s", i+1, got, w)
		}
	}
	if Backoff(30) != time.Hour {
		t.Error("the backoff is capped at an hour")
	}
}

// memStore keeps items in memory with the store's rules.
type memStore struct {
	items map[string]Item
	fail  error
}

func (m *memStore) Claim(_ context.Context, id, claim string, now time.Time) (Item, error) {
	if m.fail != nil {
		return Item{}, m.fail
	}
	it, ok := m.items[id]
	switch {
	case !ok:
		return Item{}, ErrNotFound
	case it.State != StatePending || it.DueAt.After(now) || it.ClaimedUntil.After(now):
		return Item{}, ErrNotDue
	}
	it.Attempts++
	it.Claim, it.ClaimedUntil = claim, now.Add(Lease)
	m.items[id] = it
	return it, nil
}

func (m *memStore) Sent(_ context.Context, it Item, now time.Time) error {
	it.State, it.Sealed = StateSent, ""
	m.items[it.ID] = it
	return nil
}

func (m *memStore) Failed(_ context.Context, it Item, reason string, now time.Time) (bool, error) {
	it.LastError = reason
	if it.Attempts >= MaxAttempts {
		it.State = StateDead
		m.items[it.ID] = it
		return true, nil
	}
	it.DueAt, it.ClaimedUntil = now.Add(Backoff(it.Attempts)), time.Time{}
	m.items[it.ID] = it
	return false, nil
}

func (m *memStore) Due(_ context.Context, now time.Time, limit int) ([]string, error) {
	var ids []string
	for id, it := range m.items {
		if it.State == StatePending && !it.DueAt.After(now) {
			ids = append(ids, id)
		}
	}
	return ids, nil
}

type mailer struct {
	sent []string
	fail error
}

func (m *mailer) SendOutbox(_ context.Context, it Item, secret string) error {
	if m.fail != nil {
		return m.fail
	}
	m.sent = append(m.sent, it.To+":"+secret)
	return nil
}

func TestDeliverer(t *testing.T) {
	now := time.Date(2026, 11, 26, 3, 0, 0, 0, time.UTC)
	sealer, _ := NewSealer("a-test-secret-of-enough-length")
	item := New(KindCode, "a@example.com", "en", nil, now, time.Hour)
	item.Sealed = sealer.Seal(item.ID, "135790")
	store := &memStore{items: map[string]Item{item.ID: item}}
	m := &mailer{fail: fmt.Errorf("send mail through SES: %w", &smithy.OperationError{ServiceID: "SES", OperationName: "SendEmail",
		Err: &smithy.GenericAPIError{Code: "MessageRejected", Message: "Email address is not verified: a@example.com"}})}
	clock := now
	d := &Deliverer{Store: store, Mailer: m, Sealer: sealer, Now: func() time.Time { return clock }, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}

	r, err := d.Deliver(context.Background(), item.ID)
	if err != nil || r.Failed != 1 || store.items[item.ID].LastError != "SES.SendEmail: MessageRejected" {
		t.Fatalf("a failed send: %+v %v, reason %q", r, err, store.items[item.ID].LastError)
	}
	// Not due again until its backoff passed: a sweep now skips it.
	if r, _ := d.Sweep(context.Background(), 10); r.Sent+r.Failed != 0 {
		t.Fatalf("swept before the backoff: %+v", r)
	}
	m.fail = nil
	clock = clock.Add(Backoff(1))
	if r, err := d.Sweep(context.Background(), 10); err != nil || r.Sent != 1 || len(m.sent) != 1 || m.sent[0] != "a@example.com:135790" {
		t.Fatalf("retry: %+v %v %v", r, err, m.sent)
	}
	if r, _ := d.Deliver(context.Background(), item.ID); r.Skipped != 1 {
		t.Fatalf("a sent mail delivered again: %+v", r)
	}
	store.fail = errors.New("throttled")
	if _, err := d.Deliver(context.Background(), "x"); err == nil {
		t.Fatal("a store failure must come back, so the stream retries")
	}
}

func TestHandle(t *testing.T) {
	now := time.Date(2026, 11, 26, 3, 0, 0, 0, time.UTC)
	sealer, _ := NewSealer("a-test-secret-of-enough-length")
	a := New(KindCode, "a@example.com", "en", nil, now, time.Hour)
	store := &memStore{items: map[string]Item{a.ID: a}}
	m := &mailer{}
	inv := &Invocation{Deliverer: &Deliverer{Store: store, Mailer: m, Sealer: sealer, Now: func() time.Time { return now }, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}}
	ev := events.DynamoDBEvent{Records: []events.DynamoDBEventRecord{
		{EventName: "INSERT", Change: events.DynamoDBStreamRecord{SequenceNumber: "1", Keys: map[string]events.DynamoDBAttributeValue{"id": events.NewStringAttribute(a.ID)}}},
		{EventName: "MODIFY", Change: events.DynamoDBStreamRecord{SequenceNumber: "2", Keys: map[string]events.DynamoDBAttributeValue{"id": events.NewStringAttribute(a.ID)}}},
	}}
	if resp, _ := inv.Handle(context.Background(), ev); len(resp.BatchItemFailures) != 0 || len(m.sent) != 1 {
		t.Fatalf("stream: %+v, sent %v", resp, m.sent)
	}
	store.fail = errors.New("throttled")
	if resp, _ := inv.Handle(context.Background(), ev); len(resp.BatchItemFailures) != 1 || resp.BatchItemFailures[0].ItemIdentifier != "1" {
		t.Fatalf("a store failure must be reported for a retry: %+v", resp)
	}
}

// TestVoidAndExpiredItems: a void item is settled without a mail; an item
// past its validity (a code that no longer works) is dead, not sent.
func TestVoidAndExpiredItems(t *testing.T) {
	now := time.Date(2026, 11, 26, 3, 0, 0, 0, time.UTC)
	sealer, _ := NewSealer("a-test-secret-of-enough-length")
	void := New(KindVoid, "", "en", nil, now, 10*time.Minute)
	late := New(KindCode, "a@example.com", "en", nil, now.Add(-11*time.Minute), 10*time.Minute)
	store := &memStore{items: map[string]Item{void.ID: void, late.ID: late}}
	m := &mailer{}
	d := &Deliverer{Store: store, Mailer: m, Sealer: sealer, Now: func() time.Time { return now }, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	if r, err := d.Deliver(context.Background(), void.ID); err != nil || r.Skipped != 1 || store.items[void.ID].State != StateSent {
		t.Fatalf("void: %+v %v %s", r, err, store.items[void.ID].State)
	}
	if r, err := d.Deliver(context.Background(), late.ID); err != nil || r.Dead != 1 || store.items[late.ID].LastError != "Expired" {
		t.Fatalf("expired: %+v %v %+v", r, err, store.items[late.ID])
	}
	if len(m.sent) != 0 {
		t.Fatalf("mails sent: %v", m.sent)
	}
}

// slowMailer takes its time, and honours the context like SES's client.
type slowMailer struct{ sent int }

func (m *slowMailer) SendOutbox(ctx context.Context, _ Item, _ string) error {
	time.Sleep(100 * time.Millisecond)
	m.sent++
	return nil
}

// TestSweepStopsBeforeTheDeadline: a sweep leaves Margin of the
// invocation unused, and a mail that left is recorded even when the
// deadline passed meanwhile.
func TestSweepStopsBeforeTheDeadline(t *testing.T) {
	now := time.Date(2026, 11, 26, 3, 0, 0, 0, time.UTC)
	store := &memStore{items: map[string]Item{}}
	for range 10 {
		it := New(KindWelcome, "a@example.com", "en", nil, now, time.Hour)
		store.items[it.ID] = it
	}
	m := &slowMailer{}
	sealer, _ := NewSealer("a-test-secret-of-enough-length")
	d := &Deliverer{Store: store, Mailer: m, Sealer: sealer, Now: func() time.Time { return now }, Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Margin: 500 * time.Millisecond}
	// 500 ms to send ten mails of 100 ms each: some go, not all, even
	// on a loaded machine.
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	r, err := d.Sweep(ctx, 100)
	if err != nil {
		t.Fatal(err)
	}
	if r.Sent != m.sent || m.sent == 0 || m.sent >= 10 {
		t.Fatalf("sent %d, recorded %d: the sweep must stop early and record every mail it sent", m.sent, r.Sent)
	}
	sent := 0
	for _, it := range store.items {
		if it.State == StateSent {
			sent++
		}
	}
	if sent != m.sent {
		t.Fatalf("%d mails left, %d marked sent", m.sent, sent)
	}
}
