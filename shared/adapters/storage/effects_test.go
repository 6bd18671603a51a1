package storage_test

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
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/guance/aliyun-marketplace/shared/adapters/storage"
	"github.com/guance/aliyun-marketplace/shared/domain/activation"
	"github.com/guance/aliyun-marketplace/shared/domain/guance"
	"github.com/guance/aliyun-marketplace/shared/domain/marketplace"
	"github.com/guance/aliyun-marketplace/shared/domain/outbox"
	"github.com/guance/aliyun-marketplace/shared/domain/session"
)

// settled gives the instance (bound to acme) n workspaces of its own.
func (f *recordsFixture) settled(t *testing.T, instance, uid string, n int) []string {
	t.Helper()
	ctx := context.Background()
	var ids []string
	for i := range n {
		id := fmt.Sprintf("wksp_%s_%03d", instance, i)
		item, _ := attributevalue.MarshalMap(guance.Workspace{ID: id, Name: id, Site: "cn1", Owner: "alice", BillingAccount: "acme",
			Settlement: guance.Settlement{Type: guance.SettledByBillingCenter}, CreatedAt: t0})
		if _, err := f.db.Client().PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(f.tables.Workspaces), Item: item}); err != nil {
			t.Fatal(err)
		}
		if err := f.records.Bindings().SettleWorkspace(ctx, guance.Settle{WorkspaceID: id, Site: "cn1", Account: "acme", UID: uid, Instance: instance, At: t0}); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	return ids
}

// marketSays is a marketplace whose record shows an instance in status.
type marketSays activation.MarketStatus

func (m marketSays) Describe(_ context.Context, id string) (activation.MarketInstance, error) {
	return activation.MarketInstance{InstanceID: id, Status: activation.MarketStatus(m)}, nil
}

func (f *recordsFixture) service() *activation.Service {
	return f.serviceWith(nil)
}

// serviceWith is the service asking market about contested calls.
func (f *recordsFixture) serviceWith(market activation.Market) *activation.Service {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	s := activation.NewService(f.instances, market, log)
	s.Effects = &activation.Effects{Store: f.records.Effects(), Log: log}
	return s
}

func (f *recordsFixture) workspace(t *testing.T, id string) guance.Workspace {
	t.Helper()
	ws, ok, err := f.records.Bindings().Workspace(context.Background(), id)
	if err != nil || !ok {
		t.Fatalf("workspace %s: %v", id, err)
	}
	return ws
}

func (f *recordsFixture) outboxItems(t *testing.T) []outbox.Item {
	t.Helper()
	out, err := f.db.Client().Scan(context.Background(), &dynamodb.ScanInput{TableName: aws.String(f.tables.Outbox)})
	if err != nil {
		t.Fatal(err)
	}
	var items []outbox.Item
	if err := attributevalue.UnmarshalListOfMaps(out.Items, &items); err != nil {
		t.Fatal(err)
	}
	return items
}

func (f *recordsFixture) link(t *testing.T, uid string) (guance.CloudLink, bool) {
	t.Helper()
	link, ok, err := f.records.Links().Link(context.Background(), uid)
	if err != nil {
		t.Fatal(err)
	}
	return link, ok
}

// TestReleaseOf150Workspaces: an instance that settles more workspaces
// than one transaction holds ends fully released: every workspace back on
// billing center settlement, the link gone with its last instance, one
// notice, nothing left due.
func TestReleaseOf150Workspaces(t *testing.T) {
	f := newRecords(t)
	ctx := context.Background()
	f.existing(t)
	f.instance(t, "7000001", uidA, nil)
	f.bind(t, "7000001", uidA)
	ids := f.settled(t, "7000001", uidA, 150)
	f.db.ResetRoundTrips()
	res, err := f.service().Handle(ctx, &marketplace.ReleaseInstance{InstanceID: "7000001"})
	if err != nil || res.Outcome != activation.Applied {
		t.Fatalf("%v %v", res, err)
	}
	// The move, then: read, a chunk of 45 (each workspace with its
	// event), three times; read, the link and the account (one read),
	// the last 15 with the link, the notice and the instance; read.
	if n := f.db.RoundTrips(); n > 11 {
		t.Errorf("%d round trips, want 11", n)
	}
	for _, id := range ids {
		if ws := f.workspace(t, id); ws.Settlement.Type != guance.SettledByBillingCenter {
			t.Fatalf("%s: %+v", id, ws.Settlement)
		}
	}
	inst, _ := f.instances.Get(ctx, "7000001")
	if inst.Status != activation.StatusReleased || len(inst.Workspaces) != 0 || inst.ReleasedWorkspaces != 150 || inst.Effects != "" {
		t.Fatalf("instance %+v", inst)
	}
	if _, ok := f.link(t, uidA); ok {
		t.Fatal("the link outlived its last instance")
	}
	var items []outbox.Item
	for _, it := range f.outboxItems(t) {
		if it.Kind == outbox.KindReleased {
			items = append(items, it)
		}
	}
	if len(items) != 1 {
		t.Fatalf("%d notices", len(items))
	}
	notice := items[len(items)-1]
	if notice.ID != storage.ReleasedNoticeID("7000001") || notice.To != "billing@acme.example" || notice.Fields["workspaces"] != "150" || notice.Kind != outbox.KindReleased {
		t.Fatalf("notice %+v", notice)
	}

	// The marketplace retries: nothing more happens, one read.
	f.db.ResetRoundTrips()
	res, err = f.service().Handle(ctx, &marketplace.ReleaseInstance{InstanceID: "7000001"})
	if err != nil || res.Outcome != activation.AlreadyApplied {
		t.Fatalf("%v %v", res, err)
	}
	if n := f.db.RoundTrips(); n != 2 {
		t.Errorf("a retried release took %d round trips, want 2 (the refused write, a read)", n)
	}
	if n := len(f.outboxItems(t)); n != 1 {
		t.Fatalf("%d mails after the retry", n)
	}
}

// failingSteps fails the release after some steps: a function that dies
// halfway.
type failingSteps struct {
	activation.EffectsStore
	left int
}

func (f *failingSteps) ReleaseStep(ctx context.Context, inst activation.Instance, n int) (bool, error) {
	if f.left == 0 {
		return false, errors.New("killed")
	}
	f.left--
	return f.EffectsStore.ReleaseStep(ctx, inst, n)
}

// TestReleaseKilledHalfwayIsFinishedByTheNextPass: a release that dies
// after its first chunk leaves the instance released and due; the next
// pass (the marketplace's retry, or the reconciliation) finishes it.
func TestReleaseKilledHalfwayIsFinishedByTheNextPass(t *testing.T) {
	f := newRecords(t)
	ctx := context.Background()
	f.existing(t)
	f.instance(t, "7000001", uidA, nil)
	f.bind(t, "7000001", uidA)
	f.settled(t, "7000001", uidA, 100)
	svc := f.service()
	svc.Effects = &activation.Effects{Store: &failingSteps{EffectsStore: f.records.Effects(), left: 1}, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	if _, err := svc.Handle(ctx, &marketplace.ReleaseInstance{InstanceID: "7000001"}); err == nil {
		t.Fatal("the killed pass reported success")
	}
	inst, _ := f.instances.Get(ctx, "7000001")
	if inst.Status != activation.StatusReleased || inst.Effects != activation.EffectsDue || len(inst.Workspaces) != 100-activation.ReleaseChunk || inst.ReleasedWorkspaces != activation.ReleaseChunk {
		t.Fatalf("after the killed pass: %+v", inst)
	}
	if err := (&activation.Effects{Store: f.records.Effects(), Log: slog.New(slog.NewTextHandler(io.Discard, nil))}).Follow(ctx, "7000001"); err != nil {
		t.Fatal(err)
	}
	inst, _ = f.instances.Get(ctx, "7000001")
	if len(inst.Workspaces) != 0 || inst.ReleasedWorkspaces != 100 || inst.Effects != "" {
		t.Fatalf("after the next pass: %+v", inst)
	}
}

// TestConcurrentReleasePasses: two passes at once (the SPI's retry and
// the reconciliation) end in the same state, with one notice.
func TestConcurrentReleasePasses(t *testing.T) {
	f := newRecords(t)
	ctx := context.Background()
	f.existing(t)
	f.instance(t, "7000001", uidA, nil)
	f.bind(t, "7000001", uidA)
	f.settled(t, "7000001", uidA, 120)
	if _, err := f.instances.Apply(ctx, "7000001", activation.Change{Action: marketplace.ActionReleaseInstance, From: activation.Live, To: activation.StatusReleased, At: t0}); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Go(func() {
			errs[i] = (&activation.Effects{Store: f.records.Effects(), Log: slog.New(slog.NewTextHandler(io.Discard, nil))}).Follow(ctx, "7000001")
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	inst, _ := f.instances.Get(ctx, "7000001")
	if len(inst.Workspaces) != 0 || inst.ReleasedWorkspaces != 120 || inst.Effects != "" {
		t.Fatalf("%+v", inst)
	}
	notices := 0
	for _, it := range f.outboxItems(t) {
		if it.Kind == outbox.KindReleased {
			notices++
		}
	}
	if notices != 1 {
		t.Fatalf("%d notices", notices)
	}
}

// TestLinkStaysWhileAnotherInstanceLives: releasing one of a UID's two
// bound instances takes it off the link, which stays for the other.
func TestLinkStaysWhileAnotherInstanceLives(t *testing.T) {
	f := newRecords(t)
	ctx := context.Background()
	f.existing(t)
	f.instance(t, "7000001", uidA, nil)
	f.instance(t, "7000002", uidA, nil)
	f.bind(t, "7000001", uidA)
	f.settled(t, "7000001", uidA, 1)
	f.settled(t, "7000002", uidA, 1) // the later purchase, through the link
	if _, err := f.service().Handle(ctx, &marketplace.ReleaseInstance{InstanceID: "7000001"}); err != nil {
		t.Fatal(err)
	}
	link, ok := f.link(t, uidA)
	if !ok || len(link.Instances) != 1 || link.Instances[0] != "7000002" {
		t.Fatalf("link %+v %v", link, ok)
	}
	if _, err := f.service().Handle(ctx, &marketplace.ReleaseInstance{InstanceID: "7000002"}); err != nil {
		t.Fatal(err)
	}
	if _, ok := f.link(t, uidA); ok {
		t.Fatal("the link outlived its last instance")
	}
	// The UID can now bind another billing center account.
	other := guance.BillingAccount{Username: "other", Email: "o@example.com"}
	item, _ := attributevalue.MarshalMap(other)
	item["id"] = &types.AttributeValueMemberS{Value: "billing#other"}
	_, _ = f.db.Client().PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(f.tables.Accounts), Item: item})
	f.instance(t, "7000003", uidA, nil)
	s := f.session(t, "7000003", uidA)
	if err := f.records.Bindings().BindBilling(ctx, guance.BillingBind{UID: uidA, Instance: "7000003", Account: "other", At: t0}, session.Step{SessionID: s.ID, Flow: "bind-billing"}); err != nil {
		t.Fatalf("a released UID binds another account: %v", err)
	}
}

// TestFreezeSuspendsAndRenewalRestores: expiredInstance suspends the
// workspaces settled through the instance, renewInstance restores them,
// and a late mark of the freeze changes nothing.
func TestFreezeSuspendsAndRenewalRestores(t *testing.T) {
	f := newRecords(t)
	ctx := context.Background()
	f.existing(t)
	f.instance(t, "7000001", uidA, nil)
	f.bind(t, "7000001", uidA)
	ids := f.settled(t, "7000001", uidA, 3)
	svc := f.serviceWith(marketSays(activation.MarketExpired))
	svc.Now = func() time.Time { return t0.Add(48 * time.Hour) }
	if res, err := svc.Handle(ctx, &marketplace.ExpiredInstance{InstanceID: "7000001"}); err != nil || res.Outcome != activation.Applied {
		t.Fatalf("%v %v", res, err)
	}
	frozen, _ := f.instances.Get(ctx, "7000001")
	for _, id := range ids {
		if !f.workspace(t, id).Suspended {
			t.Fatalf("%s is not suspended", id)
		}
	}
	if frozen.Effects != "" {
		t.Fatal("the freeze's effects are still due")
	}
	svc.Now = func() time.Time { return t0.Add(49 * time.Hour) }
	svc.Market = marketSays(activation.MarketOpened) // the arrears paid
	if res, err := svc.Handle(ctx, &marketplace.RenewInstance{InstanceID: "7000001", OrderID: "900", ExpiredOn: t0.Add(400 * 24 * time.Hour)}); err != nil || res.Outcome != activation.Applied {
		t.Fatalf("%v %v", res, err)
	}
	for _, id := range ids {
		if f.workspace(t, id).Suspended {
			t.Fatalf("%s is still suspended", id)
		}
	}
	// The freeze's mark arriving late (a pass that stalled) is older.
	if err := f.records.Effects().MarkWorkspace(ctx, ids[0], "7000001", true, frozen.EffectsSeq); err != nil {
		t.Fatal(err)
	}
	if f.workspace(t, ids[0]).Suspended {
		t.Fatal("a late mark of an older move suspended the workspace again")
	}
}
