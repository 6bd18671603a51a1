package reconcile_test

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/guance/aliyun-marketplace/shared/domain/activation"
	"github.com/guance/aliyun-marketplace/shared/domain/outbox"
	"github.com/guance/aliyun-marketplace/shared/jobs/reconcile"
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

// TestThrottlingStarvesNoStep: a step that runs out of time (here the
// pending step, backing off while the OpenAPI keeps answering
// Service.Flow.Control) must not keep the outbox's retries from running.
func TestThrottlingStarvesNoStep(t *testing.T) {
	f := newReconcileFixture(t)
	ctx := context.Background()
	f.bought(t, 2*time.Hour)
	store := f.db.Store().Outbox()
	due := outbox.New(outbox.KindWelcome, "a@example.com", "en", map[string]string{"username": "a"}, time.Now().Add(-time.Hour), outbox.Keep)
	if err := store.Put(ctx, due); err != nil {
		t.Fatal(err)
	}
	f.market.Throttle(1 << 30)
	for i := range 2 {
		r := f.reconciler()
		r.Pacing.Margin = 100 * time.Millisecond
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
	r.Pacing.Margin = 50 * time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), 400*time.Millisecond)
	defer cancel()
	if _, err := r.Run(ctx); err != nil {
		t.Fatal(err)
	}
}
