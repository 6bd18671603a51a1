package storage_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/guance/aliyun-marketplace/cmd/devstack/dynamotest"
	"github.com/guance/aliyun-marketplace/shared/adapters/storage"
	"github.com/guance/aliyun-marketplace/shared/domain/outbox"
)

func newOutbox(t *testing.T) (*storage.Outbox, *dynamotest.Server) {
	db := dynamotest.Start(t)
	return db.Store().Outbox(), db
}

func TestOutboxClaimIsExclusive(t *testing.T) {
	store, _ := newOutbox(t)
	ctx := context.Background()
	item := outbox.New(outbox.KindCode, "a@example.com", "en", nil, t0, time.Hour)
	if err := store.Put(ctx, item); err != nil {
		t.Fatal(err)
	}
	const n = 12
	var wg sync.WaitGroup
	var mu sync.Mutex
	won := 0
	for range n {
		wg.Go(func() {
			_, err := store.Claim(ctx, item.ID, outbox.NewClaim(), t0)
			switch {
			case err == nil:
				mu.Lock()
				won++
				mu.Unlock()
			case !errors.Is(err, outbox.ErrNotDue):
				t.Errorf("claim: %v", err)
			}
		})
	}
	wg.Wait()
	if won != 1 {
		t.Fatalf("%d deliverers claimed one mail, want 1", won)
	}
	// The claim lapses by itself if its holder dies.
	if _, err := store.Claim(ctx, item.ID, outbox.NewClaim(), t0.Add(outbox.Lease+time.Second)); err != nil {
		t.Fatalf("after the lease: %v", err)
	}
	if _, err := store.Claim(ctx, "mail#nothing", outbox.NewClaim(), t0); !errors.Is(err, outbox.ErrNotFound) {
		t.Fatalf("unknown id: %v", err)
	}
}

func TestOutboxLifecycle(t *testing.T) {
	store, db := newOutbox(t)
	ctx := context.Background()
	a := outbox.New(outbox.KindCode, "a@example.com", "en", nil, t0, time.Hour)
	a.Sealed = "sealed-code"
	b := outbox.New(outbox.KindCode, "b@example.com", "en", nil, t0.Add(time.Second), time.Hour)
	for _, it := range []outbox.Item{a, b} {
		if err := store.Put(ctx, it); err != nil {
			t.Fatal(err)
		}
	}
	due, err := store.Due(ctx, t0.Add(time.Minute), 10)
	if err != nil || len(due) != 2 || due[0] != a.ID {
		t.Fatalf("due %v, %v (oldest first)", due, err)
	}
	claimed, err := store.Claim(ctx, a.ID, outbox.NewClaim(), t0)
	if err != nil || claimed.Attempts != 1 || claimed.Sealed != "sealed-code" {
		t.Fatalf("claim %+v %v", claimed, err)
	}
	if err := store.Sent(ctx, claimed, t0.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	out, err := db.Client().GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(db.Tables["OutboxTable"]), Key: map[string]types.AttributeValue{"id": &types.AttributeValueMemberS{Value: a.ID}}})
	if err != nil {
		t.Fatal(err)
	}
	for _, gone := range []string{"sealed", "due", "dueAt", "claim"} {
		if _, ok := out.Item[gone]; ok {
			t.Errorf("a sent mail keeps %s", gone)
		}
	}
	if s := out.Item["state"].(*types.AttributeValueMemberS).Value; s != "sent" {
		t.Errorf("state %s", s)
	}
	// A second deliverer that still thinks it holds the mail cannot mark it.
	if err := store.Sent(ctx, claimed, t0.Add(2*time.Second)); !errors.Is(err, outbox.ErrNotDue) {
		t.Fatalf("marking a sent mail again: %v", err)
	}

	// b fails: back in the queue after its backoff, then dead after MaxAttempts.
	at := b.DueAt
	for i := 1; i <= outbox.MaxAttempts; i++ {
		claimed, err := store.Claim(ctx, b.ID, outbox.NewClaim(), at)
		if err != nil {
			t.Fatalf("attempt %d: %v", i, err)
		}
		dead, err := store.Failed(ctx, claimed, "SES.SendEmail: Throttling", at)
		if err != nil || dead != (i == outbox.MaxAttempts) {
			t.Fatalf("attempt %d: dead %v, %v", i, dead, err)
		}
		if i < outbox.MaxAttempts {
			if _, err := store.Claim(ctx, b.ID, outbox.NewClaim(), at); !errors.Is(err, outbox.ErrNotDue) {
				t.Fatalf("attempt %d: due again before its backoff: %v", i, err)
			}
		}
		at = at.Add(outbox.Backoff(i))
	}
	if due, _ := store.Due(ctx, at.Add(24*time.Hour), 10); len(due) != 0 {
		t.Fatalf("sent and dead mails must leave the due index: %v", due)
	}
}
