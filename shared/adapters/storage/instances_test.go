package storage_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	miniserver "github.com/truora/minidyn/server"

	"github.com/guance/aliyun-marketplace/cmd/devstack/dynamotest"
	"github.com/guance/aliyun-marketplace/shared/adapters/storage"
	"github.com/guance/aliyun-marketplace/shared/domain/activation"
	"github.com/guance/aliyun-marketplace/shared/domain/marketplace"
)

var t0 = time.Date(2026, 11, 26, 3, 0, 0, 0, time.UTC)

func newStore(t *testing.T) (*storage.Instances, *dynamotest.Server) {
	db := dynamotest.Start(t)
	return db.Store().Instances(), db
}

func sample() activation.Instance {
	return activation.Instance{
		ID: "5604018", AliUID: "1234567890123456", ProductCode: "cmgj00053362", SKU: "cmgj00053362-postpay",
		ExpiredOn: time.Date(2099, 1, 1, 0, 0, 0, 0, time.UTC), BillableItems: map[string]string{"Count": "2"},
		Status: activation.StatusActive, Progress: activation.ProgressPending,
		Orders:    map[string]string{activation.OrderCreate: "205060317920890"},
		LastCalls: map[marketplace.Action]activation.Call{marketplace.ActionCreateInstance: {OrderID: "205060317920890", At: t0}},
		CreatedAt: t0, UpdatedAt: t0,
	}
}

func TestCreateIsOneWriteAndIdempotent(t *testing.T) {
	store, db := newStore(t)
	ctx := context.Background()
	inst := sample()

	stored, created, err := store.Create(ctx, inst)
	if err != nil || !created || !reflect.DeepEqual(stored, inst) {
		t.Fatalf("first Create = %+v, %v, %v", stored, created, err)
	}
	if n := db.RoundTrips(); n != 1 {
		t.Errorf("first create took %d round trips, want 1", n)
	}

	db.ResetRoundTrips()
	changed := inst
	changed.AliUID = "9999999999999999"
	changed.CreatedAt = t0.Add(time.Hour)
	stored, created, err = store.Create(ctx, changed)
	if err != nil || created {
		t.Fatalf("repeat Create = %v, %v", created, err)
	}
	if n := db.RoundTrips(); n != 1 {
		t.Errorf("repeat create took %d round trips, want 1", n)
	}
	if !reflect.DeepEqual(stored, inst) {
		t.Fatalf("repeat returned\n%+v\nwant the first instance\n%+v", stored, inst)
	}
	got, err := store.Get(ctx, inst.ID)
	if err != nil || !reflect.DeepEqual(got, inst) {
		t.Fatalf("Get = %+v, %v\nwant %+v", got, err, inst)
	}
}

func TestCreateWithoutExpiry(t *testing.T) {
	store, _ := newStore(t)
	inst := sample()
	inst.ExpiredOn = time.Time{}
	inst.BillableItems = nil
	if _, _, err := store.Create(context.Background(), inst); err != nil {
		t.Fatal(err)
	}
	got, err := store.Get(context.Background(), inst.ID)
	if err != nil || !got.ExpiredOn.IsZero() || got.BillableItems != nil {
		t.Fatalf("got %+v, %v; want no expiry and no items", got, err)
	}
}

func TestGetUnknown(t *testing.T) {
	store, _ := newStore(t)
	if _, err := store.Get(context.Background(), "404"); !errors.Is(err, activation.ErrInstanceNotFound) {
		t.Fatalf("err = %v, want ErrInstanceNotFound", err)
	}
}

func change(msg marketplace.Message, at time.Time) activation.Change {
	_, c, err := activation.ChangeFor(msg, at)
	if err != nil {
		panic(err)
	}
	return c
}

// settled is the change of msg once the marketplace agreed, having seen
// seen opposite moves.
func settled(msg marketplace.Message, at time.Time, seen int) activation.Change {
	c := change(msg, at)
	c.Guard = &activation.Guard{After: c.Guard.After, Settled: true, Seen: seen}
	return c
}

// TestApplySequence plays a lifecycle in order and out of order against the
// real conditional writes, checking each outcome, the state after it, and
// that every step is a single round trip. A freeze and a resume reach the
// store only once the marketplace agreed (settled, with the count of
// opposite moves it was asked after); a renewal lifting a freeze is
// contested until then.
func TestApplySequence(t *testing.T) {
	store, db := newStore(t)
	ctx := context.Background()
	if _, _, err := store.Create(ctx, sample()); err != nil {
		t.Fatal(err)
	}
	later := time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC)
	at := t0
	renew := func(order string, exp time.Time) marketplace.Message {
		return &marketplace.RenewInstance{InstanceID: "5604018", OrderID: order, ExpiredOn: exp}
	}
	expire, resume := &marketplace.ExpiredInstance{InstanceID: "5604018"}, &marketplace.ResumeInstance{InstanceID: "5604018"}
	steps := []struct {
		name       string
		change     func(at time.Time) activation.Change
		want       activation.Outcome
		wantStatus activation.Status
		wantExpiry time.Time
	}{
		{"freeze", func(at time.Time) activation.Change { return settled(expire, at, 0) }, activation.Applied, activation.StatusFrozen, sample().ExpiredOn},
		{"freeze again", func(at time.Time) activation.Change { return settled(expire, at, 0) }, activation.AlreadyApplied, activation.StatusFrozen, sample().ExpiredOn},
		{"upgrade while frozen", func(at time.Time) activation.Change {
			return change(&marketplace.UpgradeInstance{InstanceID: "5604018", OrderID: "205060317920895", SKU: "sku-2"}, at)
		}, activation.Applied, activation.StatusFrozen, sample().ExpiredOn},
		// A renewal of a frozen instance may be a late retry of one sent
		// before the freeze: only the marketplace can say.
		{"renewal lifting the freeze", func(at time.Time) activation.Change { return change(renew("205060317920892", later), at) }, activation.Contested, activation.StatusFrozen, sample().ExpiredOn},
		// Renewals and upgrades are ordered apart: an older renewal after a
		// newer upgrade still restores.
		{"the renewal, settled", func(at time.Time) activation.Change { return settled(renew("205060317920892", later), at, 1) }, activation.Applied, activation.StatusActive, later},
		{"same renewal again", func(at time.Time) activation.Change { return change(renew("205060317920892", later), at) }, activation.AlreadyApplied, activation.StatusActive, later},
		{"older renewal arrives late", func(at time.Time) activation.Change { return change(renew("205060317920891", t0), at) }, activation.Superseded, activation.StatusActive, later},
		// Settled after a restore it did not see: the restore wins.
		{"a freeze settled before the renewal landed", func(at time.Time) activation.Change { return settled(expire, at, 0) }, activation.Superseded, activation.StatusActive, later},
		{"shorter id is older", func(at time.Time) activation.Change {
			return change(&marketplace.UpgradeInstance{InstanceID: "5604018", OrderID: "99999999999999", SKU: "x"}, at)
		}, activation.Superseded, activation.StatusActive, later},
		{"refund of renewal", func(at time.Time) activation.Change {
			return change(&marketplace.RefundRenewInstance{InstanceID: "5604018", ExpiredOn: sample().ExpiredOn}, at)
		}, activation.Applied, activation.StatusActive, sample().ExpiredOn},
		{"refund again", func(at time.Time) activation.Change {
			return change(&marketplace.RefundRenewInstance{InstanceID: "5604018", ExpiredOn: sample().ExpiredOn}, at)
		}, activation.AlreadyApplied, activation.StatusActive, sample().ExpiredOn},
		{"freeze, settled", func(at time.Time) activation.Change { return settled(expire, at, 1) }, activation.Applied, activation.StatusFrozen, sample().ExpiredOn},
		{"a resume settled before that freeze", func(at time.Time) activation.Change { return settled(resume, at, 1) }, activation.Superseded, activation.StatusFrozen, sample().ExpiredOn},
		{"resume, settled", func(at time.Time) activation.Change { return settled(resume, at, 2) }, activation.Applied, activation.StatusActive, sample().ExpiredOn},
		{"release", func(at time.Time) activation.Change {
			return change(&marketplace.ReleaseInstance{InstanceID: "5604018"}, at)
		}, activation.Applied, activation.StatusReleased, sample().ExpiredOn},
		{"release again", func(at time.Time) activation.Change {
			return change(&marketplace.ReleaseInstance{InstanceID: "5604018"}, at)
		}, activation.AlreadyApplied, activation.StatusReleased, sample().ExpiredOn},
		{"renew after release", func(at time.Time) activation.Change { return change(renew("205060317920899", later), at) }, activation.Superseded, activation.StatusReleased, sample().ExpiredOn},
		{"resume after release", func(at time.Time) activation.Change { return settled(resume, at, 2) }, activation.Superseded, activation.StatusReleased, sample().ExpiredOn},
	}
	for _, step := range steps {
		db.ResetRoundTrips()
		at = at.Add(time.Minute)
		got, err := store.Apply(ctx, "5604018", step.change(at))
		if err != nil {
			t.Fatalf("%s: %v", step.name, err)
		}
		if got != step.want {
			t.Errorf("%s: outcome %s, want %s", step.name, got, step.want)
		}
		// One write; a call found out of date is recorded on the trail
		// with a second.
		want := 1
		if got == activation.Superseded {
			want = 2
		}
		if n := db.RoundTrips(); n != int64(want) {
			t.Errorf("%s: %d round trips, want %d", step.name, n, want)
		}
		inst, err := store.Get(ctx, "5604018")
		if err != nil {
			t.Fatal(err)
		}
		if inst.Status != step.wantStatus || !inst.ExpiredOn.Equal(step.wantExpiry) {
			t.Errorf("%s: status %s expiry %v; want %s %v", step.name, inst.Status, inst.ExpiredOn, step.wantStatus, step.wantExpiry)
		}
	}
	inst, _ := store.Get(ctx, "5604018")
	if inst.SKU != "sku-2" || inst.Orders[activation.OrderRenew] != "205060317920892" || inst.Orders[activation.OrderUpgrade] != "205060317920895" {
		t.Errorf("orders %v sku %s", inst.Orders, inst.SKU)
	}
}

// TestUpgradesRememberWhatTheyReplaced: each upgrade keeps the three
// before it, so a late retry or a replay of one is known without asking.
func TestUpgradesRememberWhatTheyReplaced(t *testing.T) {
	store, _ := newStore(t)
	ctx := context.Background()
	if _, _, err := store.Create(ctx, sample()); err != nil {
		t.Fatal(err)
	}
	var digests []string
	for i, sku := range []string{"a", "b", "c", "d", "e"} {
		up := change(&marketplace.UpgradeInstance{InstanceID: "5604018", OrderID: fmt.Sprint(205060317920900 + i), SKU: sku}, t0.Add(time.Duration(i)*time.Minute))
		if got, err := store.Apply(ctx, "5604018", up); err != nil || got != activation.Applied {
			t.Fatalf("upgrade %s: %s %v", sku, got, err)
		}
		digests = append(digests, up.Digest)
	}
	inst, _ := store.Get(ctx, "5604018")
	if inst.UpgradeDigest != digests[4] || !inst.Replaced(digests[3]) || !inst.Replaced(digests[1]) || inst.Replaced(digests[0]) || inst.Replaced(digests[4]) {
		t.Fatalf("digests %q; history %q %q %q", digests, inst.UpgradeDigest1, inst.UpgradeDigest2, inst.UpgradeDigest3)
	}
}

func TestDisputeRecordedOnce(t *testing.T) {
	store, _ := newStore(t)
	ctx := context.Background()
	if _, _, err := store.Create(ctx, sample()); err != nil {
		t.Fatal(err)
	}
	dispute := activation.Change{Action: marketplace.ActionExpiredInstance, From: []activation.Status{activation.StatusActive}, Dispute: true, At: t0}
	for i, want := range []activation.Outcome{activation.Disputed, activation.Disputed} {
		if got, err := store.Apply(ctx, "5604018", dispute); err != nil || got != want {
			t.Fatalf("dispute %d: %s, %v", i, got, err)
		}
	}
	inst, _ := store.Get(ctx, "5604018")
	if inst.DisputedAction != marketplace.ActionExpiredInstance || !inst.DisputedAt.Equal(t0) || inst.Status != activation.StatusActive {
		t.Fatalf("dispute %q %v status %s", inst.DisputedAction, inst.DisputedAt, inst.Status)
	}
	// An authoritative change settles it.
	if _, err := store.Apply(ctx, "5604018", change(&marketplace.RenewInstance{InstanceID: "5604018", OrderID: "205060317920899"}, t0)); err != nil {
		t.Fatal(err)
	}
	if inst, _ := store.Get(ctx, "5604018"); inst.DisputedAction != "" {
		t.Fatalf("a renewal must clear the dispute: %q", inst.DisputedAction)
	}
}

func TestRecordPayment(t *testing.T) {
	store, db := newStore(t)
	ctx := context.Background()
	if _, _, err := store.Create(ctx, sample()); err != nil {
		t.Fatal(err)
	}
	call := activation.Call{OrderID: "205060317920893", At: t0}
	for i, want := range []activation.Outcome{activation.Applied, activation.AlreadyApplied} {
		db.ResetRoundTrips()
		got, err := store.RecordPayment(ctx, "5604018", "r1", call)
		if err != nil || got != want {
			t.Fatalf("payment %d: %s, %v; want %s", i, got, err, want)
		}
		if n := db.RoundTrips(); n != 1 {
			t.Errorf("payment %d: %d round trips", i, n)
		}
	}
	if _, err := store.RecordPayment(ctx, "404", "r2", call); !errors.Is(err, activation.ErrInstanceNotFound) {
		t.Fatalf("unknown instance: %v", err)
	}
	// The key item expires (TTL), so the instance item does not grow.
	out, err := db.Client().GetItem(ctx, &dynamodb.GetItemInput{
		TableName: aws.String(db.Tables["InstancesTable"]),
		Key:       map[string]types.AttributeValue{"instanceId": &types.AttributeValueMemberS{Value: "payment#5604018#r1"}},
	})
	if err != nil || out.Item["expiresAt"] == nil {
		t.Fatalf("payment key without TTL: %v %v", out.Item, err)
	}
}

// itemSize is DynamoDB's measure of an item: names and values, in bytes.
func itemSize(item map[string]types.AttributeValue) int {
	n := 0
	for name, v := range item {
		n += len(name) + valueSize(v)
	}
	return n
}

func valueSize(v types.AttributeValue) int {
	switch v := v.(type) {
	case *types.AttributeValueMemberS:
		return len(v.Value)
	case *types.AttributeValueMemberN:
		return len(v.Value)
	case *types.AttributeValueMemberBOOL, *types.AttributeValueMemberNULL:
		return 1
	case *types.AttributeValueMemberSS:
		n := 0
		for _, s := range v.Value {
			n += len(s)
		}
		return n
	case *types.AttributeValueMemberL:
		n := 3
		for _, e := range v.Value {
			n += 1 + valueSize(e)
		}
		return n
	case *types.AttributeValueMemberM:
		n := 3
		for k, e := range v.Value {
			n += 1 + len(k) + valueSize(e)
		}
		return n
	}
	return 0
}

// TestInstanceItemStaysBounded: whatever the marketplace sends, the item
// does not grow (DynamoDB refuses items over 400 KB; the embedded server
// does not enforce it, so the size is measured here). 2,000 orderPay
// messages (about 1,000 filled the 400 KB of the old item), 200 renewals
// and 200 freezes.
func TestInstanceItemStaysBounded(t *testing.T) {
	store, db := newStore(t)
	ctx := context.Background()
	if _, _, err := store.Create(ctx, sample()); err != nil {
		t.Fatal(err)
	}
	size := func() int {
		out, err := db.Client().GetItem(ctx, &dynamodb.GetItemInput{
			TableName: aws.String(db.Tables["InstancesTable"]),
			Key:       map[string]types.AttributeValue{"instanceId": &types.AttributeValueMemberS{Value: "5604018"}},
		})
		if err != nil {
			t.Fatal(err)
		}
		return itemSize(out.Item)
	}
	at := t0
	for i := range 200 {
		at = at.Add(49 * time.Hour)
		for _, msg := range []marketplace.Message{
			&marketplace.RenewInstance{InstanceID: "5604018", OrderID: fmt.Sprintf("3%014d", i)},
			&marketplace.ExpiredInstance{InstanceID: "5604018"},
		} {
			if _, err := store.Apply(ctx, "5604018", change(msg, at)); err != nil {
				t.Fatal(err)
			}
			at = at.Add(25 * time.Hour)
		}
	}
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := w; i < 2000; i += 8 {
				if _, err := store.RecordPayment(ctx, "5604018", fmt.Sprintf("request-%d", i), activation.Call{OrderID: "1", At: t0}); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if n := size(); n > 2000 {
		t.Fatalf("the instance item is %d bytes after 2,400 calls; it must stay small", n)
	}
}

// TestConditionsReadWhatIsWritten guards against a condition on an
// attribute nothing writes (such a condition is always true, and the
// check it stands for silently goes away): every attribute path a change's
// condition reads is one that Create or some change writes.
func TestConditionsReadWhatIsWritten(t *testing.T) {
	store, db := newStore(t)
	ctx := context.Background()
	inst := sample()
	inst.Workspaces = []string{"w1"}
	if _, _, err := store.Create(ctx, inst); err != nil {
		t.Fatal(err)
	}
	at := t0
	var changes []activation.Change
	for _, msg := range []marketplace.Message{
		&marketplace.RenewInstance{InstanceID: "5604018", OrderID: "205060317920899", ExpiredOn: t0},
		&marketplace.UpgradeInstance{InstanceID: "5604018", OrderID: "205060317920899", SKU: "s"},
		&marketplace.ExpiredInstance{InstanceID: "5604018"},
		&marketplace.ResumeInstance{InstanceID: "5604018"},
		&marketplace.RefundRenewInstance{InstanceID: "5604018", ExpiredOn: t0.Add(time.Hour)},
	} {
		at = at.Add(72 * time.Hour)
		c := change(msg, at)
		changes = append(changes, c)
		if _, err := store.Apply(ctx, "5604018", c); err != nil {
			t.Fatal(err)
		}
	}
	changes = append(changes, activation.Change{Action: marketplace.ActionExpiredInstance, From: activation.Live, Dispute: true, At: at})
	if _, err := store.Apply(ctx, "5604018", changes[len(changes)-1]); err != nil {
		t.Fatal(err)
	}
	out, err := db.Client().GetItem(ctx, &dynamodb.GetItemInput{
		TableName: aws.String(db.Tables["InstancesTable"]),
		Key:       map[string]types.AttributeValue{"instanceId": &types.AttributeValueMemberS{Value: "5604018"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range changes {
		for _, path := range storage.ConditionPaths(c) {
			if !hasPath(out.Item, path) {
				t.Errorf("%s: its condition reads %s, which nothing writes", c.Action, path)
			}
		}
	}
}

func hasPath(item map[string]types.AttributeValue, path string) bool {
	head, rest, nested := strings.Cut(path, ".")
	v, ok := item[head]
	if !ok {
		return false
	}
	if !nested {
		return true
	}
	m, ok := v.(*types.AttributeValueMemberM)
	return ok && hasPath(m.Value, rest)
}

func TestApplyUnknownInstance(t *testing.T) {
	store, _ := newStore(t)
	_, err := store.Apply(context.Background(), "404", change(&marketplace.ExpiredInstance{InstanceID: "404"}, t0))
	if !errors.Is(err, activation.ErrInstanceNotFound) {
		t.Fatalf("err = %v, want ErrInstanceNotFound", err)
	}
}

func TestStoreFailuresAreErrors(t *testing.T) {
	store, db := newStore(t)
	db.Engine.EmulateFailure(miniserver.FailureConditionInternalServerError)
	if _, _, err := store.Create(context.Background(), sample()); err == nil {
		t.Fatal("Create succeeded while DynamoDB fails")
	}
	if _, err := store.Apply(context.Background(), "5604018", change(&marketplace.ExpiredInstance{InstanceID: "5604018"}, t0)); err == nil || errors.Is(err, activation.ErrInstanceNotFound) {
		t.Fatalf("Apply err = %v, want a store failure", err)
	}
}

func releaseInstance(id string) *marketplace.ReleaseInstance {
	return &marketplace.ReleaseInstance{InstanceID: id}
}
