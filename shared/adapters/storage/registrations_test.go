package storage_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/guance/aliyun-marketplace/cmd/devstack/dynamotest"
	"github.com/guance/aliyun-marketplace/shared/adapters/storage"
	"github.com/guance/aliyun-marketplace/shared/domain/activation"
	"github.com/guance/aliyun-marketplace/shared/domain/guance"
	"github.com/guance/aliyun-marketplace/shared/domain/outbox"
	"github.com/guance/aliyun-marketplace/shared/domain/session"
)

type recordsFixture struct {
	db        *dynamotest.Server
	records   *storage.Store
	instances *storage.Instances
	sessions  *storage.Sessions
	tables    storage.Tables
}

func newRecords(t *testing.T) *recordsFixture {
	db := dynamotest.Start(t)
	tables := storage.Tables{Instances: db.Tables["InstancesTable"], Sessions: db.Tables["SessionsTable"], Accounts: db.Tables["AccountsTable"], Workspaces: db.Tables["WorkspacesTable"], Outbox: db.Tables["OutboxTable"], Audit: db.Tables["AuditTable"]}
	return &recordsFixture{
		db: db, tables: tables,
		records:   storage.New(db.Client(), tables),
		instances: db.Store().Instances(),
		sessions:  db.Store().Sessions(),
	}
}

// instance records a pending instance of uid.
func (f *recordsFixture) instance(t *testing.T, id, uid string, mutate func(*activation.Instance)) {
	t.Helper()
	inst := sample()
	inst.ID, inst.AliUID = id, uid
	if mutate != nil {
		mutate(&inst)
	}
	if _, _, err := f.instances.Create(context.Background(), inst); err != nil {
		t.Fatal(err)
	}
}

func (f *recordsFixture) session(t *testing.T, instance, uid string) session.Session {
	t.Helper()
	s := session.New(uid, instance, "en", t0, time.Hour)
	if err := f.sessions.Open(context.Background(), session.Link{Token: s.ID, InstanceID: instance, ExpiresAt: t0.Add(time.Hour)}, s); err != nil {
		t.Fatal(err)
	}
	return s
}

func registration(username, email, uid, instance string) guance.Registration {
	ws := guance.Workspace{ID: guance.NewWorkspaceID(), Name: "prod", Lang: "en", Site: "cn1", Owner: username, BillingAccount: username, Settlement: guance.ByInstance(uid, instance), CreatedAt: t0}
	return guance.Registration{
		Account:   guance.Account{Username: username, Email: email, PasswordHash: "$argon2id$x", Lang: "en", CreatedAt: t0},
		Billing:   guance.BillingAccount{Username: username, Email: email, PasswordHash: "$argon2id$x", Company: guance.Company{Name: "Acme"}, CreatedAt: t0},
		Workspace: ws, UID: uid, Instance: instance, At: t0,
	}
}

const uidA, uidB = "1234567890123456", "6543210987654321"

func TestRegisterWritesEverythingInOneTransaction(t *testing.T) {
	f := newRecords(t)
	ctx := context.Background()
	f.instance(t, "7000001", uidA, nil)
	sess := f.session(t, "7000001", uidA)
	reg := registration("alice", "alice@example.com", uidA, "7000001")
	mail := outbox.New(outbox.KindWelcome, "alice@example.com", "en", nil, t0, time.Hour)
	f.db.ResetRoundTrips()
	if err := f.records.Registrations().Register(ctx, reg, session.Step{SessionID: sess.ID, Flow: "register", Draft: `{"done":{}}`}, &mail); err != nil {
		t.Fatal(err)
	}
	if n := f.db.RoundTrips(); n != 1 {
		t.Errorf("%d round trips, want one transaction", n)
	}
	inst, _ := f.instances.Get(ctx, "7000001")
	if inst.Progress != activation.ProgressActivated || inst.BillingAccount != "alice" || inst.LoginSite != "cn1" || len(inst.Workspaces) != 1 || inst.Workspaces[0] != reg.Workspace.ID || !inst.Activated() {
		t.Fatalf("instance %+v", inst)
	}
	got, _ := f.sessions.Get(ctx, sess.ID, t0)
	if got.Draft("register") != `{"done":{}}` {
		t.Fatalf("draft %q", got.Draft("register"))
	}
	for table, key := range map[string]string{
		f.tables.Accounts:   "guance#alice",
		f.tables.Outbox:     mail.ID,
		f.tables.Workspaces: reg.Workspace.ID,
	} {
		out, err := f.db.Client().GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(table), Key: map[string]types.AttributeValue{"id": &types.AttributeValueMemberS{Value: key}}})
		if err != nil || len(out.Item) == 0 {
			t.Errorf("%s %s not written: %v", table, key, err)
		}
	}
	for _, key := range []string{"guance-email#alice@example.com", "billing#alice", "cloud#aliyun#" + uidA} {
		out, _ := f.db.Client().GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(f.tables.Accounts), Key: map[string]types.AttributeValue{"id": &types.AttributeValueMemberS{Value: key}}})
		if len(out.Item) == 0 {
			t.Errorf("%s not written", key)
		}
	}
}

// TestRegisterRefusals: each invariant refuses with its own error, and a
// refused registration writes nothing at all.
func TestRegisterRefusals(t *testing.T) {
	tests := []struct {
		name string
		// setup runs a first registration or changes the instance.
		setup func(t *testing.T, f *recordsFixture)
		reg   guance.Registration
		want  error
	}{
		{"username taken", func(t *testing.T, f *recordsFixture) {
			f.instance(t, "7000009", uidB, nil)
			s := f.session(t, "7000009", uidB)
			if err := f.records.Registrations().Register(context.Background(), registration("alice", "other@example.com", uidB, "7000009"), session.Step{SessionID: s.ID, Flow: "register"}, nil); err != nil {
				t.Fatal(err)
			}
		}, registration("alice", "alice@example.com", uidA, "7000001"), guance.ErrUsernameTaken},
		{"email taken", func(t *testing.T, f *recordsFixture) {
			f.instance(t, "7000009", uidB, nil)
			s := f.session(t, "7000009", uidB)
			if err := f.records.Registrations().Register(context.Background(), registration("bob9", "alice@example.com", uidB, "7000009"), session.Step{SessionID: s.ID, Flow: "register"}, nil); err != nil {
				t.Fatal(err)
			}
		}, registration("alice", "alice@example.com", uidA, "7000001"), guance.ErrEmailTaken},
		{"UID linked by an earlier purchase", func(t *testing.T, f *recordsFixture) {
			f.instance(t, "7000009", uidA, nil)
			s := f.session(t, "7000009", uidA)
			if err := f.records.Registrations().Register(context.Background(), registration("carol", "carol@example.com", uidA, "7000009"), session.Step{SessionID: s.ID, Flow: "register"}, nil); err != nil {
				t.Fatal(err)
			}
		}, registration("alice", "alice@example.com", uidA, "7000001"), guance.ErrUIDLinked},
		{"instance of another account", nil, registration("alice", "alice@example.com", uidB, "7000001"), activation.ErrNotYours},
		{"instance released", func(t *testing.T, f *recordsFixture) {
			if _, err := f.instances.Apply(context.Background(), "7000001", change(releaseMsg, t0)); err != nil {
				t.Fatal(err)
			}
		}, registration("alice", "alice@example.com", uidA, "7000001"), activation.ErrNotLive},
		{"unknown instance", nil, registration("alice", "alice@example.com", uidA, "7999999"), activation.ErrInstanceNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newRecords(t)
			f.instance(t, "7000001", uidA, nil)
			sess := f.session(t, "7000001", uidA)
			if tt.setup != nil {
				tt.setup(t, f)
			}
			before := f.count(t)
			err := f.records.Registrations().Register(context.Background(), tt.reg, session.Step{SessionID: sess.ID, Flow: "register", Draft: "x"}, nil)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if after := f.count(t); after != before {
				t.Fatalf("a refused registration wrote: %d items before, %d after", before, after)
			}
		})
	}
}

var releaseMsg = releaseInstance("7000001")

// count is the number of items in the accounts and workspaces tables.
func (f *recordsFixture) count(t *testing.T) int {
	n := 0
	for _, table := range []string{f.tables.Accounts, f.tables.Workspaces} {
		out, err := f.db.Client().Scan(context.Background(), &dynamodb.ScanInput{TableName: aws.String(table)})
		if err != nil {
			t.Fatal(err)
		}
		n += len(out.Items)
	}
	return n
}

// TestRegistrationRaces: 20 registrations racing for one instance, for one
// username, for one email: exactly one wins each time, the others are told
// why.
func TestRegistrationRaces(t *testing.T) {
	race := func(t *testing.T, f *recordsFixture, regs []guance.Registration, sessions []session.Session, want ...error) {
		t.Helper()
		errs := make([]error, len(regs))
		var wg sync.WaitGroup
		for i := range regs {
			wg.Go(func() {
				errs[i] = f.records.Registrations().Register(context.Background(), regs[i], session.Step{SessionID: sessions[i].ID, Flow: "register"}, nil)
			})
		}
		wg.Wait()
		won := 0
		for _, err := range errs {
			if err == nil {
				won++
				continue
			}
			known := false
			for _, w := range want {
				known = known || errors.Is(err, w)
			}
			if !known {
				t.Errorf("unexpected refusal: %v", err)
			}
		}
		if won != 1 {
			t.Fatalf("%d of %d won, want exactly 1", won, len(regs))
		}
	}
	t.Run("one instance", func(t *testing.T) {
		f := newRecords(t)
		f.instance(t, "7000001", uidA, nil)
		var regs []guance.Registration
		var sessions []session.Session
		for i := range 20 {
			regs = append(regs, registration(fmt.Sprintf("user%02d", i), fmt.Sprintf("u%d@example.com", i), uidA, "7000001"))
			sessions = append(sessions, f.session(t, "7000001", uidA))
		}
		race(t, f, regs, sessions, activation.ErrNotPending, guance.ErrUIDLinked)
	})
	t.Run("one username", func(t *testing.T) {
		f := newRecords(t)
		var regs []guance.Registration
		var sessions []session.Session
		for i := range 20 {
			id, uid := fmt.Sprint(7100000+i), fmt.Sprintf("%016d", 1000000000000000+i)
			f.instance(t, id, uid, nil)
			regs = append(regs, registration("samename", fmt.Sprintf("u%d@example.com", i), uid, id))
			sessions = append(sessions, f.session(t, id, uid))
		}
		race(t, f, regs, sessions, guance.ErrUsernameTaken, activation.ErrNotPending)
	})
	t.Run("one email", func(t *testing.T) {
		f := newRecords(t)
		var regs []guance.Registration
		var sessions []session.Session
		for i := range 20 {
			id, uid := fmt.Sprint(7200000+i), fmt.Sprintf("%016d", 2000000000000000+i)
			f.instance(t, id, uid, nil)
			regs = append(regs, registration(fmt.Sprintf("user%02d", i), "same@example.com", uid, id))
			sessions = append(sessions, f.session(t, id, uid))
		}
		race(t, f, regs, sessions, guance.ErrEmailTaken, activation.ErrNotPending)
	})
}
