package localstack_test

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/guance/aliyun-marketplace/cmd/internal/localstack"
	"github.com/guance/aliyun-marketplace/cmd/internal/simulator"
	"github.com/guance/aliyun-marketplace/shared/activation"
	"github.com/guance/aliyun-marketplace/shared/marketplace"
	"github.com/guance/aliyun-marketplace/shared/outbox"
	"github.com/guance/aliyun-marketplace/shared/reconcile"
	"github.com/guance/aliyun-marketplace/shared/storage"
)

// activated takes a bought instance out of the pending activations (as
// a binding does), so that only the notification path touches it.
func (f *reconcileFixture) activated(t *testing.T, id string) {
	t.Helper()
	_, err := f.db.Client().UpdateItem(context.Background(), &dynamodb.UpdateItemInput{
		TableName: aws.String(f.tables.Instances), Key: map[string]types.AttributeValue{"instanceId": &types.AttributeValueMemberS{Value: id}},
		UpdateExpression:          aws.String("SET progress = :p REMOVE awaiting, checkAt"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":p": &types.AttributeValueMemberS{Value: string(activation.ProgressActivated)}},
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestStaleFailedNotificationNeverMovesStatusBackwards: a failed
// notification is applied as made at its CreateTime, so the stale-call
// horizon (24 h) is measured from then. An expiredInstance the
// marketplace failed to deliver four days ago, followed three days ago by
// a renewal (the marketplace now says OPENED), must not freeze the paid-up
// instance; nor an old resumeInstance restore one frozen since.
func TestStaleFailedNotificationNeverMovesStatusBackwards(t *testing.T) {
	f := newReconcileFixture(t)
	ctx := context.Background()
	now := time.Now()

	// Freeze after renewal.
	renewed := f.bought(t, 5*24*time.Hour)
	f.activated(t, renewed)
	f.market.QueueFailed(simulator.SampleParams(marketplace.ActionExpiredInstance, renewed, now.Add(-4*24*time.Hour)).Signed(localstack.ISVKey()), now.Add(-4*24*time.Hour))
	f.service.Now = func() time.Time { return now.Add(-3 * 24 * time.Hour) }
	if res, err := f.service.Handle(ctx, &marketplace.RenewInstance{InstanceID: renewed, OrderID: "299999999999999", ExpiredOn: now.Add(400 * 24 * time.Hour)}); err != nil || res.Outcome != activation.Applied {
		t.Fatalf("renewal: %+v %v", res, err)
	}
	f.market.SetStatus(renewed, "OPENED") // the marketplace: paid up

	// Resume after a later freeze.
	inArrears := f.bought(t, 6*24*time.Hour)
	f.activated(t, inArrears)
	f.service.Now = func() time.Time { return now.Add(-6 * 24 * time.Hour).Add(time.Hour) }
	if _, err := f.service.Handle(ctx, &marketplace.ExpiredInstance{InstanceID: inArrears}); err != nil {
		t.Fatal(err)
	}
	f.market.QueueFailed(simulator.SampleParams(marketplace.ActionResumeInstance, inArrears, now.Add(-5*24*time.Hour)).Signed(localstack.ISVKey()), now.Add(-5*24*time.Hour))
	f.service.Now = func() time.Time { return now.Add(-3 * 24 * time.Hour) }
	if _, err := f.service.Handle(ctx, &marketplace.ExpiredInstance{InstanceID: inArrears}); err != nil {
		t.Fatal(err)
	}
	f.market.SetStatus(inArrears, "EXPIRED") // the marketplace: in arrears
	f.service.Now = time.Now

	if got := f.instance(t, renewed).Status; got != activation.StatusActive {
		t.Fatalf("setup: renewed is %s", got)
	}
	if got := f.instance(t, inArrears).Status; got != activation.StatusFrozen {
		t.Fatalf("setup: inArrears is %s", got)
	}
	s := f.run(t, ctx)
	t.Logf("notifications step: %+v", s.Steps[reconcile.StepNotifications])
	if got := f.instance(t, renewed).Status; got != activation.StatusActive {
		t.Errorf("a 4-day-old expiredInstance froze an instance renewed 3 days ago (marketplace says OPENED): %s", got)
	}
	if got := f.instance(t, inArrears).Status; got != activation.StatusFrozen {
		t.Errorf("a 5-day-old resumeInstance restored an instance frozen 3 days ago (marketplace says EXPIRED): %s", got)
	}
}

// TestThrottlingStarvesNoStep: a step that runs out of time (here the
// pending step, backing off while the OpenAPI keeps answering
// Service.Flow.Control) must not keep the outbox's retries from running.
func TestThrottlingStarvesNoStep(t *testing.T) {
	f := newReconcileFixture(t)
	ctx := context.Background()
	f.bought(t, 2*time.Hour)
	store := storage.NewOutbox(f.db.Client(), f.tables.Outbox)
	due := outbox.New(outbox.KindWelcome, "a@example.com", "en", map[string]string{"username": "a"}, time.Now().Add(-time.Hour), outbox.Keep)
	if err := store.Put(ctx, due); err != nil {
		t.Fatal(err)
	}
	f.market.Throttle(1 << 30)
	for i := range 2 {
		r := f.reconciler()
		r.Margin = 100 * time.Millisecond
		runCtx, cancel := context.WithTimeout(ctx, 1500*time.Millisecond)
		s, err := r.Run(runCtx)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("run %d: finished=%v resume=%s outbox=%+v throttled=%d", i+1, s.Finished, s.Resume, s.Steps[reconcile.StepOutbox], s.Throttled)
	}
	if len(f.mails.sent) == 0 {
		t.Errorf("two runs while the OpenAPI throttles: the outbox step never ran, the due mail is unsent")
	}
}

// TestPendingOutOfRunHasNoRace: run with -race. In pending(), the feeding
// loop and the workers both note running out of time.
func TestPendingOutOfRunHasNoRace(t *testing.T) {
	f := newReconcileFixture(t)
	for range 40 {
		f.bought(t, 2*time.Hour)
	}
	f.market.Throttle(1 << 30)
	r := f.reconciler()
	r.Margin = 50 * time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), 400*time.Millisecond)
	defer cancel()
	if _, err := r.Run(ctx); err != nil {
		t.Fatal(err)
	}
}
