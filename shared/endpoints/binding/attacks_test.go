package binding_test

// The binding flows under retries, forged input and collisions.

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"

	"github.com/guance/aliyun-marketplace/shared/adapters/storage"
	"github.com/guance/aliyun-marketplace/shared/domain/activation"
	"github.com/guance/aliyun-marketplace/shared/domain/guance"
	"github.com/guance/aliyun-marketplace/shared/domain/outbox"
	"github.com/guance/aliyun-marketplace/shared/domain/password"
	"github.com/guance/aliyun-marketplace/shared/domain/session"
	"github.com/guance/aliyun-marketplace/shared/domain/sites"
	"github.com/guance/aliyun-marketplace/shared/domain/verification"
	"github.com/guance/aliyun-marketplace/shared/endpoints/binding"
	"github.com/guance/aliyun-marketplace/shared/endpoints/web"
	"github.com/guance/aliyun-marketplace/shared/platform/logging"
)

// TestRetriedBindIsDone: a retried (double-clicked, or replayed by
// a browser after a lost answer) "Bind" of a workspace this very purchase
// has just settled must answer like the first one, not claim that someone
// else took it.
func TestRetriedBindIsDone(t *testing.T) {
	f := newFixture(t)
	b := f.buyer(t, "7000001")
	b.bindBilling()
	first := b.post("/bind/workspace/confirm", url.Values{"ws": {"wksp_free"}, "action": {"bind"}})
	if body := b.follow(first); !strings.Contains(body, `id="notice"`) || !strings.Contains(body, "is bound.") {
		t.Fatalf("first bind: %d\n%s", first.Code, body)
	}
	again := b.post("/bind/workspace/confirm", url.Values{"ws": {"wksp_free"}, "action": {"bind"}})
	body := b.follow(again)
	if strings.Contains(body, "This workspace was just settled by another account or purchase.") {
		t.Errorf("the retry of a bind that succeeded says someone else took it")
	}
	if !strings.Contains(body, ">Bound<") {
		t.Fatal("the workspace is bound")
	}
}

// TestMalformedWorkspaceID: a forged workspace id that DynamoDB
// refuses as a key (empty, longer than 2048 bytes) is bad input: a clear
// refusal ("no such workspace"), not the "service unavailable" page and an
// ERROR log line that an operator's alarm would count.
//
// The embedded server accepts such keys; DynamoDB answers a
// ValidationException ("The AttributeValue for a key attribute cannot
// contain an empty string value"; a partition key is at most 2048 bytes),
// which keyRulesDB plays.
func TestMalformedWorkspaceID(t *testing.T) {
	f := newFixture(t)
	withRecordsDB(f, keyRulesDB{f.db.Client()})
	b := f.buyer(t, "7000001")
	b.bindBilling()
	for name, ws := range map[string]string{"empty": "", "over 2048 bytes": strings.Repeat("w", 2100)} {
		t.Run(name, func(t *testing.T) {
			before := strings.Count(f.logs.String(), `"level":"ERROR"`)
			rec := b.post("/bind/workspace/confirm", url.Values{"ws": {ws}, "action": {"bind"}})
			if body := b.follow(rec); !strings.Contains(body, "There is no such workspace of this billing center account.") {
				t.Errorf("%d %v, want the list saying there is no such workspace", rec.Code, rec.Header().Get("Location"))
			}
			if after := strings.Count(f.logs.String(), `"level":"ERROR"`); after != before {
				t.Errorf("a forged id was logged as an ERROR: %s", lastLine(f.logs.String()))
			}
		})
	}
}

// keyRulesDB refuses GetItem keys the way DynamoDB does.
type keyRulesDB struct{ *dynamodb.Client }

func (k keyRulesDB) GetItem(ctx context.Context, in *dynamodb.GetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	for _, v := range in.Key {
		if s, ok := v.(*types.AttributeValueMemberS); ok && (s.Value == "" || len(s.Value) > 2048) {
			return nil, &smithy.GenericAPIError{Code: "ValidationException", Message: "One or more parameter values are not valid."}
		}
	}
	return k.Client.GetItem(ctx, in, opts...)
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

// TestDoubleSubmittedCreateMakesOneWorkspace: submits of one Create (a
// double click, two tabs) that all read the draft before any clears it
// carry the draft's one workspace id: the put's condition lets one
// through, and the others find it done.
func TestDoubleSubmittedCreateMakesOneWorkspace(t *testing.T) {
	f := newFixture(t)
	b := f.buyer(t, "7000001")
	b.bindBilling()
	// The email is proven in the session already (a Create that went as
	// far as the code, then was refused: a username taken meanwhile), so
	// no code is asked; the buyer double-clicks Create (four submits, so
	// that the race shows on every run).
	if err := f.sessions.SaveDraft(context.Background(), b.sess, b.sess.CSRF, "bind-workspace",
		`{"create":{"email":"alice@acme.example","verified":"alice@acme.example","workspaceId":"wksp_0123456789abcdef"}}`, f.now); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	codes := make([]int, 4)
	for i := range codes {
		wg.Go(func() {
			codes[i] = b.post("/bind/workspace/create/have", url.Values{"workspace": {"staging"}, "wslang": {"en"}, "email": {"alice@acme.example"}, "agree": {"yes"}, "action": {"create"}}).Code
		})
	}
	wg.Wait()
	inst, _ := f.instances.Get(context.Background(), "7000001")
	if len(inst.Workspaces) != 1 {
		t.Errorf("one Create, double-submitted, made %d workspaces settled through the purchase (answers %v)\n%s", len(inst.Workspaces), codes, f.logs.String())
	}
}

// TestTakenUsernameKeepsTheCode: a username taken after its code was
// sent (by another buyer, meanwhile) is said beside the field when Create
// is sent, before the code is checked: the code stays good, and the next
// submit with another username needs no new one.
func TestTakenUsernameKeepsTheCode(t *testing.T) {
	f := newFixture(t)
	b := f.buyer(t, "7000001")
	b.bindBilling()
	nw := url.Values{"workspace": {"w"}, "wslang": {"en"}, "username": {"newbie"}, "password": {"s3cret-pass"}, "confirm": {"s3cret-pass"}, "email": {"n2@example.com"}, "agree": {"yes"}, "action": {"send-code"}}
	b.follow(b.post("/bind/workspace/create/new", nw))
	f.put(t, f.tables.Accounts, "guance#newbie", guance.Account{Username: "newbie", Email: "other@example.com"})
	nw.Set("action", "create")
	nw.Set("code", f.mail.Last().Code)
	if page := b.follow(b.post("/bind/workspace/create/new", nw)); !strings.Contains(page, "f-username-error") || !strings.Contains(page, "This username is taken") {
		t.Fatalf("taken: %s", page)
	}
	nw.Set("username", "newbie2")
	if rec := b.post("/bind/workspace/create/new", nw); rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/bind/workspace" {
		t.Errorf("another username after \"taken\": %d %s, the page asks for a code again", rec.Code, rec.Header().Get("Location"))
	}
}

// TestUnconfiguredSite: only the sites in SITE_LOGIN_URLS have a login
// page, so the site selector accepts no other: a workspace created on one
// would activate the purchase with a login site that Login Without
// Password cannot serve.
func TestUnconfiguredSite(t *testing.T) {
	f := newFixture(t) // login URLs: cn1 and eu1 only
	b := f.buyer(t, "7000001")
	b.bindBilling()
	rec := b.post("/bind/workspace/site", url.Values{"site": {"za1"}})
	if rec.Code == http.StatusSeeOther {
		have := url.Values{"workspace": {"staging"}, "wslang": {"en"}, "email": {"alice@acme.example"}, "agree": {"yes"}, "action": {"send-code"}}
		b.post("/bind/workspace/create/have", have)
		have.Set("action", "create")
		have.Set("code", f.mail.Last().Code)
		b.post("/bind/workspace/create/have", have)
	}
	inst, _ := f.instances.Get(context.Background(), "7000001")
	if inst.Activated() && inst.LoginSite == "za1" {
		t.Errorf("the purchase is activated on site za1, which has no login URL (site post: %d)", rec.Code)
	}
}

// conflictDB answers TransactWriteItems with a TransactionConflict on the
// item at index at (what DynamoDB returns when another writer, an SPI call
// on the instance, a draft save on the session, touches it meanwhile).
type conflictDB struct {
	*dynamodb.Client
	at  int
	arm atomic.Bool
}

func (c *conflictDB) TransactWriteItems(ctx context.Context, in *dynamodb.TransactWriteItemsInput, opts ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error) {
	if c.arm.Swap(false) {
		reasons := make([]types.CancellationReason, len(in.TransactItems))
		for i := range reasons {
			reasons[i].Code = aws.String("None")
		}
		reasons[c.at].Code = aws.String("TransactionConflict")
		return nil, &types.TransactionCanceledException{Message: aws.String("Transaction cancelled"), CancellationReasons: reasons}
	}
	return c.Client.TransactWriteItems(ctx, in, opts...)
}

// withRecordsDB rebuilds f's routes over a records store that talks to db.
func withRecordsDB(f *fixture, db storage.DB) {
	f.records = storage.New(db, f.tables)
	sealer, _ := outbox.NewSealer(secret)
	hasher, _ := verification.NewHasher(secret)
	codes := f.db.Store().Codes()
	nowFn := func() time.Time { return f.now }
	common := binding.Common{
		Records: f.records.Bindings(),
		Codes: &verification.Sender{Store: codes, Mailer: f.mail, Accounts: f.db.Store().Accounts(),
			Hasher: hasher, Sealer: sealer, Limits: verification.DefaultLimits, Now: nowFn, Log: slog.New(slog.NewTextHandler(io.Discard, nil))},
		Verifier: &verification.Verifier{Store: codes, Hasher: hasher, Now: nowFn},
		Web:      web.Settings{MarketplaceURL: "https://market.example/purchased"}, Log: logging.New(f.logs, slog.LevelDebug), Now: nowFn,
	}
	billing := &binding.BillingHandler{Common: common, Sessions: f.sessions}
	workspace := &binding.WorkspaceHandler{Common: common, Sessions: f.sessions,
		HashPassword: func(p string) (string, error) {
			return password.Hash(p, password.Params{MemoryKiB: 64, Time: 1, Threads: 1})
		},
		LoginURLs: sites.LoginURLs{"cn1": "https://cn1.console.example/login", "eu1": "https://eu1.console.example/login"},
		TermsURL:  "https://guance.example/terms"}
	mux := http.NewServeMux()
	mux.Handle("/bind/billing", billing.Routes())
	mux.Handle("/bind/workspace", workspace.Routes())
	mux.Handle("/bind/workspace/", workspace.Routes())
	f.routes = mux
}

// TestBillingConflictIsRetried: when the billing binding's transaction
// collides with another writer of the instance (the marketplace's
// renewInstance arriving at that moment), it is tried again: the buyer is
// not sent on as if bound while nothing was written, nor is the code spent
// on a binding that did not happen.
func TestBillingConflictIsRetried(t *testing.T) {
	f := newFixture(t)
	db := &conflictDB{Client: f.db.Client(), at: 2} // 2: the instance's update
	withRecordsDB(f, db)
	b := f.buyer(t, "7000001")
	b.post("/bind/billing", url.Values{"username": {"acme"}, "action": {"send-code"}})
	code := f.outboxCode(t, "billing@acme.example")
	db.arm.Store(true)
	rec := b.post("/bind/billing", url.Values{"username": {"acme"}, "code": {code}, "action": {"bind"}})
	inst, _ := f.instances.Get(context.Background(), "7000001")
	if inst.Progress == activation.ProgressPending && rec.Code == http.StatusSeeOther && rec.Header().Get("Location") == "/bind/workspace" {
		next := b.get("/bind/workspace")
		t.Errorf("nothing was bound, yet the answer is 303 to /bind/workspace, which sends on to %q", next.Header().Get("Location"))
	}
	// The buyer's retry with the same code.
	retry := b.post("/bind/billing", url.Values{"username": {"acme"}, "code": {code}, "action": {"bind"}})
	if retry.Code != http.StatusSeeOther {
		t.Errorf("the retry is refused (%d): the code was spent on a binding that did not happen", retry.Code)
	}
}

// TestSettleConflictIsRetried: binding two workspaces at once through
// one purchase (two tabs) collides on the instance item; the loser is
// tried again, not told the workspace "was just settled by another
// account" while it is unbound.
func TestSettleConflictIsRetried(t *testing.T) {
	f := newFixture(t)
	f.put(t, f.tables.Workspaces, "", guance.Workspace{ID: "wksp_two", Name: "two", Site: "cn1", Owner: "alice", BillingAccount: "acme", Settlement: guance.Settlement{Type: guance.SettledByBillingCenter}, CreatedAt: now})
	db := &conflictDB{Client: f.db.Client(), at: 1} // 1: the instance's update
	withRecordsDB(f, db)
	b := f.buyer(t, "7000001")
	b.bindBilling()
	db.arm.Store(true)
	rec := b.post("/bind/workspace/confirm", url.Values{"ws": {"wksp_two"}})
	if strings.Contains(rec.Header().Get("Location"), "warn=taken") {
		t.Errorf("a conflict on the instance is answered %q: \"settled by another account or purchase\", yet wksp_two is unbound", rec.Header().Get("Location"))
	}
}

// TestBindingRenewsTheSession: session fixation. A session id planted in
// the buyer's browser (the attacker's own session, of the attacker's
// purchase) is worth nothing once the buyer binds a billing center
// account in it: the binding renews the id, so the attacker's copy
// reaches neither the bound account's workspaces nor its forms.
func TestBindingRenewsTheSession(t *testing.T) {
	f := newFixture(t)
	b := f.buyer(t, "7000001")
	planted := b.sess.ID
	b.bindBilling()
	if b.sess.ID == planted {
		t.Fatal("binding a billing center account kept the session id")
	}
	attacker := &buyer{f: f, t: t, sess: b.sess}
	attacker.sess.ID = planted
	if rec := attacker.get("/bind/workspace"); rec.Code != http.StatusUnauthorized {
		t.Fatalf("the planted id after the binding: %d", rec.Code)
	}
	if rec := attacker.post("/bind/workspace/confirm", url.Values{"ws": {"wksp_free"}}); rec.Code != http.StatusUnauthorized {
		t.Fatalf("the planted id binds a workspace: %d", rec.Code)
	}
	// The buyer's browser has the new id, and the page's forms go on.
	if rec := b.get("/bind/workspace"); rec.Code != http.StatusOK {
		t.Fatalf("the renewed session: %d", rec.Code)
	}
}

// TestActivationNarrowsTheSession: once the purchase is activated (the
// first workspace bound), the session lives a quarter of an hour more at
// most, and the cookie says so; later it can do nothing.
func TestActivationNarrowsTheSession(t *testing.T) {
	f := newFixture(t)
	b := f.buyer(t, "7000001")
	b.bindBilling()
	rec := b.post("/bind/workspace/confirm", url.Values{"ws": {"wksp_free"}})
	var cookie *http.Cookie
	for _, c := range rec.Result().Cookies() {
		if c.Name == session.CookieName {
			cookie = c
		}
	}
	if cookie == nil || cookie.MaxAge > int(session.AfterActivation.Seconds()) {
		t.Fatalf("the cookie after activation: %+v", cookie)
	}
	f.now = f.now.Add(session.AfterActivation + time.Second)
	if rec := b.get("/bind/workspace"); rec.Code != http.StatusUnauthorized {
		t.Fatalf("the session %v after activation: %d", session.AfterActivation, rec.Code)
	}
}

// TestTabOfAnEarlierSession: a second Login Without Password replaced the
// cookie; the form of a tab opened before is still the buyer's: it is
// taken (what it typed is kept), and the page it leads to says what
// happened.
func TestTabOfAnEarlierSession(t *testing.T) {
	f := newFixture(t)
	first := f.buyer(t, "7000001")
	stale := first.sess.CSRF
	second := f.buyer(t, "7000001")
	second.sess.CSRF = stale // the old tab's form
	rec := second.post("/bind/billing", url.Values{"username": {"acme"}, "action": {"send-code"}})
	loc := rec.Header().Get("Location")
	if rec.Code != http.StatusSeeOther || !strings.Contains(loc, "continued=1") {
		t.Fatalf("the earlier tab's send: %d %q", rec.Code, loc)
	}
	page := second.get(loc).Body.String()
	if !strings.Contains(page, `id="banner"`) || !strings.Contains(page, `value="acme"`) {
		t.Fatalf("the page after it does not say what happened, or lost what was typed:\n%s", page)
	}
	second.sess.CSRF = "forged"
	if rec := second.post("/bind/billing", url.Values{"username": {"acme"}, "action": {"send-code"}}); rec.Code != http.StatusForbidden {
		t.Fatalf("a forged token: %d", rec.Code)
	}
}

// TestEverySessionNarrowsWithTheActivation: a session of the purchase
// opened before its activation (another tab, another computer) cannot go
// on adding workspaces past the activation's quarter of an hour either:
// the settling write holds every session to it.
func TestEverySessionNarrowsWithTheActivation(t *testing.T) {
	f := newFixture(t)
	f.put(t, f.tables.Workspaces, "", guance.Workspace{ID: "wksp_two", Name: "two", Site: "cn1", Owner: "alice", BillingAccount: "acme", Settlement: guance.Settlement{Type: guance.SettledByBillingCenter}, CreatedAt: now})
	f.put(t, f.tables.Workspaces, "", guance.Workspace{ID: "wksp_three", Name: "three", Site: "cn1", Owner: "alice", BillingAccount: "acme", Settlement: guance.Settlement{Type: guance.SettledByBillingCenter}, CreatedAt: now})
	other := f.buyer(t, "7000001")
	b := f.buyer(t, "7000001")
	b.bindBilling()
	if rec := b.post("/bind/workspace/confirm", url.Values{"ws": {"wksp_free"}, "action": {"bind"}}); rec.Code != http.StatusSeeOther {
		t.Fatalf("the activating bind: %d", rec.Code)
	}
	// Within the quarter of an hour, the other session may add one.
	f.now = f.now.Add(10 * time.Minute)
	if rec := other.post("/bind/workspace/confirm", url.Values{"ws": {"wksp_two"}, "action": {"bind"}}); rec.Code != http.StatusSeeOther {
		t.Fatalf("another session, 10 minutes after the activation: %d %s", rec.Code, rec.Body.String())
	}
	// Past it, not any more.
	f.now = f.now.Add(10 * time.Minute)
	rec := other.post("/bind/workspace/confirm", url.Values{"ws": {"wksp_three"}, "action": {"bind"}})
	if rec.Code != http.StatusConflict || !strings.Contains(rec.Body.String(), "This purchase is activated") {
		t.Fatalf("another session, 20 minutes after the activation: %d %s", rec.Code, rec.Body.String())
	}
	if inst, _ := f.instances.Get(context.Background(), "7000001"); len(inst.Workspaces) != 2 {
		t.Fatalf("workspaces %v", inst.Workspaces)
	}
}
