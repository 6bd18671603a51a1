package reconcile_test

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/guance/aliyun-marketplace/shared/domain/activation"
	"github.com/guance/aliyun-marketplace/shared/domain/marketplace"
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

// handle applies one SPI message through the service, at a given time.
func (f *reconcileFixture) handle(t *testing.T, at time.Time, params marketplace.Params) {
	t.Helper()
	f.service.Now = func() time.Time { return at }
	defer func() { f.service.Now = time.Now }()
	msg, err := marketplace.Decode(params)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.service.Handle(context.Background(), msg); err != nil {
		t.Fatal(err)
	}
}

// TestAuditWaitsOutAFreshMove: an instance renewed a second ago, whose
// record on the marketplace still says EXPIRED (a record read before it
// caught up: nothing promises it is written before the call), is not
// frozen by the comparison; it is compared once the grace has passed.
func TestAuditWaitsOutAFreshMove(t *testing.T) {
	f := newReconcileFixture(t)
	ctx := context.Background()
	id := f.bought(t, 2*24*time.Hour)
	f.activated(t, id)
	now := time.Now()
	f.market.SetStatus(id, "EXPIRED")
	f.handle(t, now.Add(-2*time.Hour), marketplace.Params{"action": "expiredInstance", "instanceId": id})
	f.market.SetStatus(id, "OPENED") // the arrears paid
	f.handle(t, now.Add(-time.Second), marketplace.Params{"action": "renewInstance", "instanceId": id, "orderId": "299999999999999"})
	f.market.SetStatus(id, "EXPIRED") // a record read that lags the renewal

	s := f.run(t, ctx)
	inst := f.instance(t, id)
	if inst.Status != activation.StatusActive || s.Steps[reconcile.StepAudit].Changed != 0 {
		t.Fatalf("the comparison undid a renewal made a second ago: %s (%+v)", inst.Status, s.Steps[reconcile.StepAudit])
	}
	if want := inst.RestoredAt.Add(activation.DefaultAuditGrace); inst.AuditAt.Before(want) || inst.AuditAt.After(want.Add(2*time.Second)) {
		t.Fatalf("compared again at %v, want once the grace is over (%v)", inst.AuditAt, want)
	}
	// Past the grace the record's word stands.
	r := f.reconciler()
	r.Now = func() time.Time { return now.Add(activation.DefaultAuditGrace + time.Minute) }
	if _, err := r.Run(ctx); err != nil {
		t.Fatal(err)
	}
	if got := f.instance(t, id).Status; got != activation.StatusFrozen {
		t.Fatalf("past the grace, a record that still says EXPIRED: %s", got)
	}
}

// TestAuditFindsALostUpgrade: an upgrade the marketplace made and never
// delivered shows as a SKU (or a listed item) we do not hold; the
// comparison takes the record's, for the items we hold only.
func TestAuditFindsALostUpgrade(t *testing.T) {
	f := newReconcileFixture(t)
	ctx := context.Background()
	id := f.bought(t, 2*24*time.Hour)
	f.activated(t, id)
	f.market.LoseCall(marketplace.Params{"action": "upgradeInstance", "instanceId": id, "skuId": "sku-large", "Count": "8"})

	s := f.run(t, ctx)
	inst := f.instance(t, id)
	if inst.SKU != "sku-large" || inst.Upgrades != 1 || s.Steps[reconcile.StepAudit].Changed != 1 {
		t.Fatalf("a lost upgrade: SKU %s, %d upgrades, audit %+v", inst.SKU, inst.Upgrades, s.Steps[reconcile.StepAudit])
	}
	if _, listed := inst.BillableItems["Count"]; listed {
		t.Fatalf("an item we never held was taken from the record: %v", inst.BillableItems)
	}
	// The upgrade's late delivery is then a repeat: nothing asked, 200.
	f.handle(t, time.Now(), marketplace.Params{"action": "upgradeInstance", "instanceId": id, "skuId": "sku-large"})
	if got := f.instance(t, id); got.Upgrades != 1 {
		t.Fatalf("the late upgrade applied again: %d upgrades", got.Upgrades)
	}
}

// TestInstanceFromBeforeTheAuditJoinsIt: a live instance recorded before
// the comparison existed (no audit attributes) joins it with its next
// lifecycle call, and a lost release is then found.
func TestInstanceFromBeforeTheAuditJoinsIt(t *testing.T) {
	f := newReconcileFixture(t)
	ctx := context.Background()
	id := f.bought(t, 30*24*time.Hour)
	f.activated(t, id)
	_, err := f.db.Client().UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: aws.String(f.tables.Instances), Key: map[string]types.AttributeValue{"instanceId": &types.AttributeValueMemberS{Value: id}},
		UpdateExpression: aws.String("REMOVE audit, auditAt"),
	})
	if err != nil {
		t.Fatal(err)
	}
	f.handle(t, time.Now().Add(-25*time.Hour), marketplace.Params{"action": "renewInstance", "instanceId": id, "orderId": "299999999999999"})
	if inst := f.instance(t, id); inst.Audit != activation.AuditLive || inst.AuditAt.IsZero() {
		t.Fatalf("not enrolled by its next call: %+v", inst)
	}
	f.market.LoseCall(marketplace.Params{"action": "releaseInstance", "instanceId": id})
	f.run(t, ctx)
	if got := f.instance(t, id).Status; got != activation.StatusReleased {
		t.Fatalf("a lost release of an enrolled instance: %s", got)
	}
}

// TestPendingCheckWaitsOutAFreshMove: the pending step makes the same
// moves on the marketplace's word as the comparison, so it waits out the
// same grace: a pending activation renewed a second ago, whose record
// still says EXPIRED, is not frozen again.
func TestPendingCheckWaitsOutAFreshMove(t *testing.T) {
	f := newReconcileFixture(t)
	ctx := context.Background()
	id := f.bought(t, 2*24*time.Hour) // its pending check is due
	now := time.Now()
	f.market.SetStatus(id, "EXPIRED")
	f.handle(t, now.Add(-2*time.Hour), marketplace.Params{"action": "expiredInstance", "instanceId": id})
	f.market.SetStatus(id, "OPENED")
	f.handle(t, now.Add(-time.Second), marketplace.Params{"action": "renewInstance", "instanceId": id, "orderId": "299999999999999"})
	f.market.SetStatus(id, "EXPIRED") // a read that lags the renewal
	f.run(t, ctx)
	if inst := f.instance(t, id); inst.Status != activation.StatusActive {
		t.Fatalf("the pending check undid a renewal made a second ago: %s", inst.Status)
	}
}
