package storage_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/guance/aliyun-marketplace/shared/domain/activation"
	"github.com/guance/aliyun-marketplace/shared/domain/guance"
	"github.com/guance/aliyun-marketplace/shared/domain/session"
)

// existing puts a billing center account "acme" (owner Guance account
// "alice") with its workspaces: "free" on billing center settlement, and
// "theirs" settled by another buyer's purchase.
func (f *recordsFixture) existing(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	put := func(table string, v any, id string) {
		item, err := attributevalue.MarshalMap(v)
		if err != nil {
			t.Fatal(err)
		}
		if id != "" {
			item["id"] = &types.AttributeValueMemberS{Value: id}
		}
		if _, err := f.db.Client().PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(table), Item: item}); err != nil {
			t.Fatal(err)
		}
	}
	put(f.tables.Accounts, guance.BillingAccount{Username: "acme", Email: "billing@acme.example"}, "billing#acme")
	put(f.tables.Accounts, guance.Account{Username: "alice", Email: "alice@acme.example"}, "guance#alice")
	put(f.tables.Accounts, map[string]string{"username": "alice"}, "guance-email#alice@acme.example")
	put(f.tables.Workspaces, guance.Workspace{ID: "wksp_free", Name: "free", Site: "cn1", Owner: "alice", BillingAccount: "acme",
		Settlement: guance.Settlement{Type: guance.SettledByBillingCenter}, CreatedAt: t0}, "")
	put(f.tables.Workspaces, guance.Workspace{ID: "wksp_theirs", Name: "theirs", Site: "us1", Owner: "alice", BillingAccount: "acme",
		Settlement: guance.ByInstance(uidB, "7009999"), CreatedAt: t0.Add(time.Second)}, "")
}

// create creates a workspace from a session of its buyer.
func (f *recordsFixture) create(t *testing.T, nw guance.NewWorkspace) error {
	t.Helper()
	s := f.session(t, nw.Instance, nw.UID)
	return f.records.Bindings().CreateWorkspace(context.Background(), nw, session.Step{SessionID: s.ID, Flow: "bind-workspace", Draft: "created"}, nil)
}

func (f *recordsFixture) bind(t *testing.T, instance, uid string) {
	t.Helper()
	s := f.session(t, instance, uid)
	if err := f.records.Bindings().BindBilling(context.Background(), guance.BillingBind{UID: uid, Instance: instance, Account: "acme", At: t0}, session.Step{SessionID: s.ID, Flow: "bind-billing", Draft: "bound"}); err != nil {
		t.Fatal(err)
	}
}

func TestBindBilling(t *testing.T) {
	f := newRecords(t)
	ctx := context.Background()
	f.existing(t)
	f.instance(t, "7000001", uidA, nil)
	s := f.session(t, "7000001", uidA)
	f.db.ResetRoundTrips()
	if err := f.records.Bindings().BindBilling(ctx, guance.BillingBind{UID: uidA, Instance: "7000001", Account: "acme", At: t0}, session.Step{SessionID: s.ID, Flow: "bind-billing", Draft: "bound"}); err != nil {
		t.Fatal(err)
	}
	if n := f.db.RoundTrips(); n != 1 {
		t.Errorf("%d round trips, want one transaction", n)
	}
	inst, link, linked, err := f.records.Bindings().Purchase(ctx, "7000001", uidA)
	if err != nil || !linked || link.BillingAccount != "acme" || len(link.Instances) != 1 || inst.Progress != activation.ProgressBillingBound || inst.BillingAccount != "acme" {
		t.Fatalf("after binding: %+v %+v %v %v", inst, link, linked, err)
	}
	for name, tt := range map[string]struct {
		b    guance.BillingBind
		want error
	}{
		"again":                {guance.BillingBind{UID: uidA, Instance: "7000001", Account: "acme", At: t0}, activation.ErrNotPending},
		"unknown account":      {guance.BillingBind{UID: uidB, Instance: "7000002", Account: "ghost", At: t0}, guance.ErrNoSuchAccount},
		"another buyer's":      {guance.BillingBind{UID: uidB, Instance: "7000001", Account: "acme", At: t0}, activation.ErrNotYours},
		"unknown instance":     {guance.BillingBind{UID: uidA, Instance: "7099999", Account: "acme", At: t0}, activation.ErrInstanceNotFound},
		"UID linked elsewhere": {guance.BillingBind{UID: uidA, Instance: "7000003", Account: "other", At: t0}, guance.ErrUIDLinked},
	} {
		f.instance(t, "7000002", uidB, nil)
		f.instance(t, "7000003", uidA, nil)
		put := func(name string) {
			item, _ := attributevalue.MarshalMap(guance.BillingAccount{Username: name})
			item["id"] = &types.AttributeValueMemberS{Value: "billing#" + name}
			_, _ = f.db.Client().PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(f.tables.Accounts), Item: item})
		}
		put("other")
		if err := f.records.Bindings().BindBilling(ctx, tt.b, session.Step{SessionID: s.ID, Flow: "bind-billing"}); !errors.Is(err, tt.want) {
			t.Errorf("%s: %v, want %v", name, err, tt.want)
		}
	}
}

func TestSettleWorkspace(t *testing.T) {
	f := newRecords(t)
	ctx := context.Background()
	f.existing(t)
	f.instance(t, "7000001", uidA, nil)
	f.bind(t, "7000001", uidA)
	settle := func(ws string) error {
		return f.records.Bindings().SettleWorkspace(ctx, guance.Settle{WorkspaceID: ws, Site: "cn1", Account: "acme", UID: uidA, Instance: "7000001", At: t0})
	}
	f.db.ResetRoundTrips()
	if err := settle("wksp_free"); err != nil {
		t.Fatal(err)
	}
	if n := f.db.RoundTrips(); n != 1 {
		t.Errorf("%d round trips, want one transaction", n)
	}
	inst, _ := f.instances.Get(ctx, "7000001")
	if !inst.Activated() || inst.LoginSite != "cn1" || inst.Workspaces[0] != "wksp_free" {
		t.Fatalf("instance %+v", inst)
	}
	list, err := f.records.Bindings().Workspaces(ctx, "acme", inst.Workspaces)
	if err != nil || len(list) != 2 || list[0].Settlement != guance.ByInstance(uidA, "7000001") {
		t.Fatalf("workspaces %+v %v", list, err)
	}
	for ws, want := range map[string]error{
		"wksp_free":   nil, // settled now, by this very purchase: a repeat is done
		"wksp_theirs": guance.ErrWorkspaceSettled,
		"wksp_ghost":  guance.ErrWorkspaceGone,
	} {
		if err := settle(ws); !errors.Is(err, want) {
			t.Errorf("%s: %v, want %v", ws, err, want)
		}
	}
	// A workspace of another billing center account, by a forged id.
	item, _ := attributevalue.MarshalMap(guance.Workspace{ID: "wksp_other", Name: "x", Site: "cn1", Owner: "bob", BillingAccount: "other", Settlement: guance.Settlement{Type: guance.SettledByBillingCenter}, CreatedAt: t0})
	_, _ = f.db.Client().PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(f.tables.Workspaces), Item: item})
	if err := settle("wksp_other"); !errors.Is(err, guance.ErrWorkspaceGone) {
		t.Fatalf("another account's workspace: %v", err)
	}
	// The instance keeps its first site for Login Without Password.
	create := guance.Workspace{ID: "wksp_new", Name: "new", Site: "eu1", Owner: "alice", BillingAccount: "acme", Settlement: guance.ByInstance(uidA, "7000001"), CreatedAt: t0}
	if err := f.create(t, guance.NewWorkspace{Workspace: create, UID: uidA, Instance: "7000001", At: t0}); err != nil {
		t.Fatal(err)
	}
	if inst, _ := f.instances.Get(ctx, "7000001"); inst.LoginSite != "cn1" || len(inst.Workspaces) != 2 {
		t.Fatalf("second workspace: %+v", inst)
	}
}

// TestLaterPurchaseOfALinkedUID: a linked UID's new pending purchase
// settles workspaces without a second billing binding.
func TestLaterPurchaseOfALinkedUID(t *testing.T) {
	f := newRecords(t)
	ctx := context.Background()
	f.existing(t)
	f.instance(t, "7000001", uidA, nil)
	f.bind(t, "7000001", uidA)
	f.instance(t, "7000005", uidA, nil)
	if err := f.records.Bindings().SettleWorkspace(ctx, guance.Settle{WorkspaceID: "wksp_free", Site: "cn1", Account: "acme", UID: uidA, Instance: "7000005", At: t0}); err != nil {
		t.Fatal(err)
	}
	_, link, _, _ := f.records.Bindings().Purchase(ctx, "7000005", uidA)
	if len(link.Instances) != 2 {
		t.Fatalf("link instances %v", link.Instances)
	}
	// Another account's buyer cannot use that shortcut.
	f.instance(t, "7000006", uidB, nil)
	err := f.create(t, guance.NewWorkspace{Workspace: guance.Workspace{ID: "wksp_x", Name: "x", Site: "cn1", Owner: "alice", BillingAccount: "acme", Settlement: guance.ByInstance(uidB, "7000006"), CreatedAt: t0}, UID: uidB, Instance: "7000006", At: t0})
	if !errors.Is(err, guance.ErrLinkChanged) {
		t.Fatalf("an unlinked UID: %v", err)
	}
}

func TestCreateWorkspaceWithANewAccount(t *testing.T) {
	f := newRecords(t)
	ctx := context.Background()
	f.existing(t)
	f.instance(t, "7000001", uidA, nil)
	f.bind(t, "7000001", uidA)
	ws := guance.Workspace{ID: guance.NewWorkspaceID(), Name: "n", Site: "cn1", Owner: "carol", BillingAccount: "acme", Settlement: guance.ByInstance(uidA, "7000001"), CreatedAt: t0}
	taken := guance.Account{Username: "alice", Email: "new@example.com"}
	if err := f.create(t, guance.NewWorkspace{Workspace: ws, NewAccount: &taken, UID: uidA, Instance: "7000001", At: t0}); !errors.Is(err, guance.ErrUsernameTaken) {
		t.Fatalf("taken username: %v", err)
	}
	email := guance.Account{Username: "carol", Email: "alice@acme.example"}
	if err := f.create(t, guance.NewWorkspace{Workspace: ws, NewAccount: &email, UID: uidA, Instance: "7000001", At: t0}); !errors.Is(err, guance.ErrEmailTaken) {
		t.Fatalf("taken email: %v", err)
	}
	carol := guance.Account{Username: "carol", Email: "carol@example.com"}
	if err := f.create(t, guance.NewWorkspace{Workspace: ws, NewAccount: &carol, UID: uidA, Instance: "7000001", At: t0}); err != nil {
		t.Fatal(err)
	}
	if name, ok, _ := f.records.Bindings().UsernameByEmail(ctx, "carol@example.com"); !ok || name != "carol" {
		t.Fatal("the new account's email guard")
	}
	ghost := ws
	ghost.ID, ghost.Owner = guance.NewWorkspaceID(), "ghost"
	if err := f.create(t, guance.NewWorkspace{Workspace: ghost, UID: uidA, Instance: "7000001", At: t0}); !errors.Is(err, guance.ErrNoSuchAccount) {
		t.Fatalf("an owner that does not exist: %v", err)
	}
}

// TestBindingRaces: two purchases racing for one workspace, and billing
// bindings racing for one purchase: exactly one wins each.
func TestBindingRaces(t *testing.T) {
	f := newRecords(t)
	ctx := context.Background()
	f.existing(t)
	ids := []string{"7000001", "7000002", "7000003", "7000004"}
	for _, id := range ids {
		f.instance(t, id, uidA, nil)
	}
	f.bind(t, ids[0], uidA)
	for _, id := range ids[1:] {
		s := f.session(t, id, uidA)
		if err := f.records.Bindings().BindBilling(ctx, guance.BillingBind{UID: uidA, Instance: id, Account: "acme", At: t0}, session.Step{SessionID: s.ID, Flow: "bind-billing"}); err != nil {
			t.Fatal(err)
		}
	}
	errs := make([]error, len(ids)*3)
	var wg sync.WaitGroup
	for i := range errs {
		wg.Go(func() {
			errs[i] = f.records.Bindings().SettleWorkspace(ctx, guance.Settle{WorkspaceID: "wksp_free", Site: "cn1", Account: "acme", UID: uidA, Instance: ids[i%len(ids)], At: t0})
		})
	}
	wg.Wait()
	// The repeats of the winning purchase are done too; no other wins.
	winners := map[string]bool{}
	for i, err := range errs {
		switch {
		case err == nil:
			winners[ids[i%len(ids)]] = true
		case errors.Is(err, guance.ErrWorkspaceSettled):
		default:
			t.Errorf("unexpected: %v", err)
		}
	}
	if len(winners) != 1 {
		t.Fatalf("%d purchases settled one workspace, want 1", len(winners))
	}

	f.instance(t, "7000010", uidB, nil)
	var sessions []session.Session
	for range 10 {
		sessions = append(sessions, f.session(t, "7000010", uidB))
	}
	errs = make([]error, len(sessions))
	for i := range sessions {
		wg.Go(func() {
			errs[i] = f.records.Bindings().BindBilling(ctx, guance.BillingBind{UID: uidB, Instance: "7000010", Account: "acme", At: t0}, session.Step{SessionID: sessions[i].ID, Flow: "bind-billing"})
		})
	}
	wg.Wait()
	won := 0
	for _, err := range errs {
		switch {
		case err == nil:
			won++
		case errors.Is(err, activation.ErrNotPending):
		default:
			t.Errorf("unexpected: %v", err)
		}
	}
	if won != 1 {
		t.Fatalf("%d billing bindings of one purchase won, want 1", won)
	}
}

// TestTheInstanceItemStaysBounded: the bound on the workspaces one
// purchase settles is part of the settling write, so binds that all read
// the purchase below it cannot pass it together; a retry of a workspace
// already settled still goes through.
func TestTheInstanceItemStaysBounded(t *testing.T) {
	f := newRecords(t)
	ctx := context.Background()
	f.existing(t)
	f.instance(t, "7000001", uidA, nil)
	f.bind(t, "7000001", uidA)
	if err := f.records.Bindings().SettleWorkspace(ctx, guance.Settle{WorkspaceID: "wksp_free", Site: "cn1", Account: "acme", UID: uidA, Instance: "7000001", At: t0}); err != nil {
		t.Fatal(err)
	}
	// Fill the list to the bound, wksp_free among the names.
	others := make([]string, 0, guance.MaxWorkspacesPerInstance-1)
	for i := range guance.MaxWorkspacesPerInstance - 1 {
		others = append(others, fmt.Sprintf("wksp_%04d", i))
	}
	if _, err := f.db.Client().UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: aws.String(f.tables.Instances), Key: map[string]types.AttributeValue{"instanceId": &types.AttributeValueMemberS{Value: "7000001"}},
		UpdateExpression:          aws.String("ADD workspaces :w, settledCount :n"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":w": &types.AttributeValueMemberSS{Value: others}, ":n": &types.AttributeValueMemberN{Value: strconv.Itoa(len(others))}},
	}); err != nil {
		t.Fatal(err)
	}
	one := guance.Workspace{ID: "wksp_one_more", Name: "one more", Site: "cn1", Owner: "alice", BillingAccount: "acme", Settlement: guance.ByInstance(uidA, "7000001"), CreatedAt: t0}
	if err := f.create(t, guance.NewWorkspace{Workspace: one, UID: uidA, Instance: "7000001", At: t0}); !errors.Is(err, guance.ErrTooManyWorkspaces) {
		t.Fatalf("a workspace beyond the bound: %v", err)
	}
	if err := f.records.Bindings().SettleWorkspace(ctx, guance.Settle{WorkspaceID: "wksp_free", Site: "cn1", Account: "acme", UID: uidA, Instance: "7000001", At: t0}); err != nil {
		t.Fatalf("a retried bind at the bound: %v", err)
	}
	if inst, _ := f.instances.Get(ctx, "7000001"); len(inst.Workspaces) != guance.MaxWorkspacesPerInstance {
		t.Fatalf("%d workspaces, want %d", len(inst.Workspaces), guance.MaxWorkspacesPerInstance)
	}
}
