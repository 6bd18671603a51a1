package binding_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/guance/aliyun-marketplace/cmd/devstack/dynamotest"
	"github.com/guance/aliyun-marketplace/shared/adapters/storage"
	"github.com/guance/aliyun-marketplace/shared/domain/activation"
	"github.com/guance/aliyun-marketplace/shared/domain/guance"
	"github.com/guance/aliyun-marketplace/shared/domain/marketplace"
	"github.com/guance/aliyun-marketplace/shared/domain/outbox"
	"github.com/guance/aliyun-marketplace/shared/domain/password"
	"github.com/guance/aliyun-marketplace/shared/domain/session"
	"github.com/guance/aliyun-marketplace/shared/domain/sites"
	"github.com/guance/aliyun-marketplace/shared/domain/verification"
	"github.com/guance/aliyun-marketplace/shared/domain/verification/verificationtest"
	"github.com/guance/aliyun-marketplace/shared/endpoints/binding"
	"github.com/guance/aliyun-marketplace/shared/endpoints/i18n"
	"github.com/guance/aliyun-marketplace/shared/endpoints/web"
	"github.com/guance/aliyun-marketplace/shared/platform/logging"
	"github.com/guance/aliyun-marketplace/shared/platform/logging/logtest"
)

var now = time.Date(2026, 11, 26, 3, 20, 0, 0, time.UTC)

const (
	uid    = "1234567890123456"
	secret = "a-test-secret-of-enough-length"
)

type fixture struct {
	db        *dynamotest.Server
	routes    http.Handler
	mail      *verificationtest.Outbox
	sealer    outbox.Sealer
	sessions  *storage.Sessions
	instances *storage.Instances
	records   *storage.Store
	tables    storage.Tables
	logs      *logtest.Buffer
	now       time.Time // the handlers' clock
	hashes    atomic.Int64
}

func newFixture(t testing.TB) *fixture {
	db := dynamotest.Start(t)
	tables := storage.Tables{Instances: db.Tables["InstancesTable"], Sessions: db.Tables["SessionsTable"], Accounts: db.Tables["AccountsTable"], Workspaces: db.Tables["WorkspacesTable"], Outbox: db.Tables["OutboxTable"], Audit: db.Tables["AuditTable"]}
	sealer, _ := outbox.NewSealer(secret)
	f := &fixture{db: db, mail: &verificationtest.Outbox{}, sealer: sealer, tables: tables, logs: &logtest.Buffer{},
		sessions: db.Store().Sessions(), instances: db.Store().Instances(),
		records: storage.New(db.Client(), tables)}
	hasher, _ := verification.NewHasher(secret)
	codes := db.Store().Codes()
	f.now = now
	nowFn := func() time.Time { return f.now }
	log := logging.New(f.logs, slog.LevelDebug)
	common := binding.Common{
		Records: f.records.Bindings(),
		Lookups: db.Store().Lookups(),
		Codes: &verification.Sender{Store: codes, Mailer: f.mail, Accounts: db.Store().Accounts(),
			Hasher: hasher, Sealer: sealer, Limits: verification.DefaultLimits, Now: nowFn, Log: slog.New(slog.NewTextHandler(io.Discard, nil))},
		Verifier: &verification.Verifier{Store: codes, Hasher: hasher, Now: nowFn},
		Web:      web.Settings{MarketplaceURL: "https://market.example/purchased"}, Log: log, Now: nowFn,
	}
	billing := &binding.BillingHandler{Common: common, Sessions: f.sessions}
	workspace := &binding.WorkspaceHandler{Common: common, Sessions: f.sessions,
		HashPassword: func(p string) (string, error) {
			f.hashes.Add(1)
			return password.Hash(p, password.Params{MemoryKiB: 64, Time: 1, Threads: 1})
		},
		LoginURLs: sites.LoginURLs{"cn1": "https://cn1.console.example/login", "eu1": "https://eu1.console.example/login"},
		TermsURL:  "https://guance.example/terms"}
	mux := http.NewServeMux()
	mux.Handle("/bind/billing", billing.Routes())
	mux.Handle("/bind/workspace", workspace.Routes())
	mux.Handle("/bind/workspace/", workspace.Routes())
	f.routes = mux
	f.existing(t)
	f.pending(t, "7000001", uid)
	return f
}

func (f *fixture) put(t testing.TB, table, id string, v any) {
	t.Helper()
	item, err := attributevalue.MarshalMap(v)
	if err != nil {
		t.Fatal(err)
	}
	if id != "" {
		item["id"] = &types.AttributeValueMemberS{Value: id}
	}
	if _, err := f.db.Client().PutItem(context.Background(), &dynamodb.PutItemInput{TableName: aws.String(table), Item: item}); err != nil {
		t.Fatal(err)
	}
}

// existing is the billing center account "acme", its owner's Guance
// account "alice", and its workspaces: "free" (billing center settlement)
// and "theirs" (settled by another buyer's purchase).
func (f *fixture) existing(t testing.TB) {
	f.put(t, f.tables.Accounts, "billing#acme", guance.BillingAccount{Username: "acme", Email: "billing@acme.example"})
	f.put(t, f.tables.Accounts, "guance#alice", guance.Account{Username: "alice", Email: "alice@acme.example"})
	f.put(t, f.tables.Accounts, "guance-email#alice@acme.example", map[string]string{"username": "alice"})
	f.put(t, f.tables.Workspaces, "", guance.Workspace{ID: "wksp_free", Name: "free", Site: "cn1", Owner: "alice", BillingAccount: "acme", Settlement: guance.Settlement{Type: guance.SettledByBillingCenter}, CreatedAt: now})
	f.put(t, f.tables.Workspaces, "", guance.Workspace{ID: "wksp_theirs", Name: "theirs", Site: "us1", Owner: "alice", BillingAccount: "acme", Settlement: guance.ByInstance("6543210987654321", "7009999"), CreatedAt: now.Add(time.Second)})
}

func (f *fixture) pending(t testing.TB, id, owner string) {
	t.Helper()
	if _, _, err := f.instances.Create(context.Background(), activation.Instance{
		ID: id, AliUID: owner, Status: activation.StatusActive, Progress: activation.ProgressPending,
		Orders: map[string]string{activation.OrderCreate: "1"}, LastCalls: map[marketplace.Action]activation.Call{marketplace.ActionCreateInstance: {At: now}},
		CreatedAt: now, UpdatedAt: now,
	}); err != nil {
		t.Fatal(err)
	}
}

type buyer struct {
	f    *fixture
	t    testing.TB
	sess session.Session
	// mu guards sess.ID, which a response may renew while concurrent
	// requests of the same buyer read it.
	mu sync.Mutex
}

func (f *fixture) buyer(t testing.TB, instance string) *buyer {
	s := session.New(uid, instance, "en", f.now, time.Hour)
	if err := f.sessions.Open(context.Background(), session.Link{Token: s.ID, InstanceID: instance, ExpiresAt: f.now.Add(time.Hour)}, s); err != nil {
		t.Fatal(err)
	}
	f.db.ResetRoundTrips()
	return &buyer{f: f, t: t, sess: s}
}

func (b *buyer) do(req *http.Request) *httptest.ResponseRecorder {
	b.mu.Lock()
	req.AddCookie(&http.Cookie{Name: session.CookieName, Value: b.sess.ID})
	b.mu.Unlock()
	req.Header.Set("Accept-Language", "en")
	req.RemoteAddr = "198.51.100.9:4000"
	rec := httptest.NewRecorder()
	b.f.routes.ServeHTTP(rec, req)
	// As a browser: a new cookie (the session renewed) is the one sent next.
	for _, c := range rec.Result().Cookies() {
		if c.Name == session.CookieName && c.MaxAge > 0 {
			b.mu.Lock()
			b.sess.ID = c.Value
			b.mu.Unlock()
		}
	}
	return rec
}

// follow is the page a post redirects to, as a browser shows it (fail
// when the post did not redirect).
func (b *buyer) follow(rec *httptest.ResponseRecorder) string {
	b.t.Helper()
	if rec.Code != http.StatusSeeOther {
		b.t.Fatalf("the post answered %d, not a redirect:\n%s", rec.Code, rec.Body.String())
	}
	path, _, _ := strings.Cut(rec.Header().Get("Location"), "#")
	page := b.get(path)
	if page.Code != http.StatusOK {
		b.t.Fatalf("%s: %d", path, page.Code)
	}
	return page.Body.String()
}

func (b *buyer) get(path string) *httptest.ResponseRecorder {
	return b.do(httptest.NewRequest(http.MethodGet, path, nil))
}

func (b *buyer) post(path string, form url.Values) *httptest.ResponseRecorder {
	form.Set("csrf", b.sess.CSRF)
	req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return b.do(req)
}

// outboxCode is the code sealed in the outbox's newest mail to addr.
func (f *fixture) outboxCode(t testing.TB, addr string) string {
	t.Helper()
	out, err := f.db.Client().Scan(context.Background(), &dynamodb.ScanInput{TableName: aws.String(f.tables.Outbox)})
	if err != nil {
		t.Fatal(err)
	}
	var newest outbox.Item
	for _, av := range out.Items {
		var it outbox.Item
		_ = attributevalue.UnmarshalMap(av, &it)
		if it.To == addr && it.Kind == outbox.KindCode && !it.CreatedAt.Before(newest.CreatedAt) {
			newest = it
		}
	}
	code, err := f.sealer.Open(newest.ID, newest.Sealed)
	if err != nil {
		t.Fatalf("no code mail to %s in the outbox", addr)
	}
	return code
}

// bindBilling passes the billing binding of b's purchase to acme.
func (b *buyer) bindBilling() {
	b.t.Helper()
	if rec := b.post("/bind/billing", url.Values{"username": {"ACME"}, "action": {"send-code"}}); rec.Code != http.StatusSeeOther {
		b.t.Fatalf("send: %d %s", rec.Code, rec.Body.String())
	}
	code := b.f.outboxCode(b.t, "billing@acme.example")
	rec := b.post("/bind/billing", url.Values{"username": {"acme"}, "code": {code}, "action": {"bind"}})
	if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/bind/workspace" {
		b.t.Fatalf("bind: %d %s", rec.Code, rec.Body.String())
	}
}

func TestBindBillingThenAnExistingWorkspace(t *testing.T) {
	f := newFixture(t)
	b := f.buyer(t, "7000001")
	page := b.get("/bind/billing")
	if page.Code != 200 || !strings.Contains(page.Body.String(), "Bind your billing center account") || !strings.Contains(page.Body.String(), "1234********3456") {
		t.Fatalf("billing page %d\n%s", page.Code, page.Body.String())
	}
	b.bindBilling()
	f.db.ResetRoundTrips()
	list := b.get("/bind/workspace")
	body := list.Body.String()
	for _, want := range []string{`id="account">acme<`, `id="ws-wksp_free"`, `name="ws" value="wksp_free"`, "Settled by another Alibaba Cloud account", "The site only decides where a new workspace is created", `id="site"`} {
		if !strings.Contains(body, want) {
			t.Errorf("binding page lacks %q", want)
		}
	}
	if strings.Contains(body, `value="wksp_theirs"`) || strings.Contains(body, `id="confirm"`) || strings.Contains(body, "?ws=") {
		t.Fatal("a workspace settled elsewhere offers no Bind, nothing is bound yet, and no id goes in a URL")
	}
	if n := f.db.RoundTrips(); n != 3 {
		t.Errorf("the binding page took %d round trips, want 3 (session, purchase, the account's workspaces)", n)
	}
	choose := b.post("/bind/workspace/confirm", url.Values{"ws": {"wksp_free"}, "action": {"choose"}})
	if choose.Code != http.StatusSeeOther || choose.Header().Get("Location") != "/bind/workspace/confirm" {
		t.Fatalf("Bind on the list: %d %v", choose.Code, choose.Header())
	}
	confirm := b.get("/bind/workspace/confirm")
	if confirm.Code != 200 || !strings.Contains(confirm.Body.String(), `The bills of the workspace &#34;free&#34;`) {
		t.Fatalf("confirm page %d\n%s", confirm.Code, confirm.Body.String())
	}
	rec := b.post("/bind/workspace/confirm", url.Values{"ws": {"wksp_free"}, "action": {"bind"}})
	if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/bind/workspace" {
		t.Fatalf("bind: %d %v", rec.Code, rec.Header())
	}
	body = b.follow(rec)
	for _, want := range []string{`The workspace &#34;free&#34; is bound.`, ">Bound<", `id="confirm" href="https://cn1.console.example/login"`} {
		if !strings.Contains(body, want) {
			t.Errorf("after binding the page lacks %q", want)
		}
	}
	inst, _ := f.instances.Get(context.Background(), "7000001")
	if !inst.Activated() || inst.BillingAccount != "acme" {
		t.Fatalf("instance %+v", inst)
	}
	logs := f.logs.String()
	for _, s := range []string{"acme", "billing@acme.example", "alice"} {
		if strings.Contains(logs, s) {
			t.Errorf("the log holds %q", s)
		}
	}
}

// TestBillingAnswersAlike: Send code answers the same whether or not the
// username exists, and a code typed for an unknown username is just wrong.
func TestBillingAnswersAlike(t *testing.T) {
	f := newFixture(t)
	known, unknown := f.buyer(t, "7000001"), f.buyer(t, "7000001")
	a := known.post("/bind/billing", url.Values{"username": {"acme"}, "action": {"send-code"}})
	b := unknown.post("/bind/billing", url.Values{"username": {"ghost"}, "action": {"send-code"}})
	if a.Code != b.Code || a.Header().Get("Location") != b.Header().Get("Location") || a.Body.String() != b.Body.String() {
		t.Fatalf("%d %v vs %d %v", a.Code, a.Header(), b.Code, b.Header())
	}
	pa, pb := known.get("/bind/billing").Body.String(), unknown.get("/bind/billing").Body.String()
	if !strings.Contains(pa, "If this username exists") || !strings.Contains(pb, "If this username exists") {
		t.Fatal("both pages say the same")
	}
	rec := unknown.post("/bind/billing", url.Values{"username": {"ghost"}, "code": {"123456"}, "action": {"bind"}})
	if page := unknown.follow(rec); !strings.Contains(page, "The code is wrong. 4 tries left.") {
		t.Fatalf("unknown username: %s", page)
	}
}

func TestCreateWorkspaces(t *testing.T) {
	f := newFixture(t)
	b := f.buyer(t, "7000001")
	b.bindBilling()
	if rec := b.post("/bind/workspace/site", url.Values{"site": {"eu1"}}); rec.Code != http.StatusSeeOther {
		t.Fatalf("site: %d", rec.Code)
	}
	if body := b.get("/bind/workspace/create/have").Body.String(); !strings.Contains(body, "Frankfurt (eu1)") {
		t.Fatal("the create page shows the chosen site")
	}
	have := url.Values{"workspace": {"staging"}, "wslang": {"en"}, "email": {"Alice@Acme.example"}, "agree": {"yes"}}
	have.Set("action", "send-code")
	if rec := b.post("/bind/workspace/create/have", have); rec.Code != http.StatusSeeOther {
		t.Fatalf("send: %d %s", rec.Code, rec.Body.String())
	}
	have.Set("action", "create")
	have.Set("code", f.mail.Last().Code)
	rec := b.post("/bind/workspace/create/have", have)
	if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/bind/workspace" {
		t.Fatalf("create: %d %s", rec.Code, rec.Body.String())
	}
	body := b.follow(rec)
	if !strings.Contains(body, `The workspace &#34;staging&#34; is created and bound.`) || !strings.Contains(body, "Frankfurt (eu1)") || !strings.Contains(body, `href="https://eu1.console.example/login"`) {
		t.Fatalf("after creating:\n%s", body)
	}

	// No Guance account: one is registered with the workspace.
	nw := url.Values{"workspace": {"new one"}, "wslang": {"zh"}, "username": {"Carol"}, "password": {"s3cret-pass"}, "confirm": {"s3cret-pass"}, "email": {"carol@example.com"}, "agree": {"yes"}, "action": {"send-code"}}
	if rec := b.post("/bind/workspace/create/new", nw); rec.Code != http.StatusSeeOther {
		t.Fatalf("send: %d", rec.Code)
	}
	nw.Set("action", "create")
	nw.Set("code", f.mail.Last().Code)
	if rec := b.post("/bind/workspace/create/new", nw); rec.Code != http.StatusSeeOther {
		t.Fatalf("create with a new account: %d %s", rec.Code, rec.Body.String())
	}
	if name, ok, _ := f.records.Bindings().UsernameByEmail(context.Background(), "carol@example.com"); !ok || name != "carol" {
		t.Fatal("the new Guance account")
	}
	// Its welcome mail, as registration sends one (an outbox item).
	out, err := f.db.Client().Scan(context.Background(), &dynamodb.ScanInput{TableName: aws.String(f.tables.Outbox)})
	if err != nil {
		t.Fatal(err)
	}
	welcomed := false
	for _, av := range out.Items {
		var it outbox.Item
		_ = attributevalue.UnmarshalMap(av, &it)
		welcomed = welcomed || it.Kind == outbox.KindWelcome && it.To == "carol@example.com" && it.Fields["username"] == "carol" && it.Fields["site"] == "eu1"
	}
	if !welcomed {
		t.Fatal("no welcome mail for the Guance account registered with the workspace")
	}
	inst, _ := f.instances.Get(context.Background(), "7000001")
	if len(inst.Workspaces) != 2 || inst.LoginSite != "eu1" {
		t.Fatalf("instance %+v", inst)
	}
}

func TestCreateRefusals(t *testing.T) {
	f := newFixture(t)
	b := f.buyer(t, "7000001")
	b.bindBilling()
	form := url.Values{"workspace": {""}, "wslang": {"fr"}, "email": {"nobody@example.com"}, "action": {"create"}}
	body := b.follow(b.post("/bind/workspace/create/have", form))
	// Every problem at once, the email's included (no Guance account has it).
	for _, want := range []string{"A workspace name is 1 to 50 characters.", "Choose the workspace language.", "Read and accept the terms", "No Guance account has this email"} {
		if !strings.Contains(body, want) {
			t.Errorf("lacks %q", want)
		}
	}
	// An email with no Guance account gets no code: it is said at once.
	form = url.Values{"workspace": {"w"}, "wslang": {"en"}, "email": {"nobody@example.com"}, "agree": {"yes"}, "action": {"send-code"}}
	if page := b.follow(b.post("/bind/workspace/create/have", form)); !strings.Contains(page, "No Guance account has this email") || len(f.mail.Mails()) != 0 {
		t.Fatalf("no account: %s", page)
	}
	// With a new account, a taken username and a taken email are said
	// together, when the code is asked for; none is sent.
	nw := url.Values{"workspace": {"w"}, "wslang": {"en"}, "username": {"alice"}, "password": {"s3cret-pass"}, "confirm": {"s3cret-pass"}, "email": {"Alice@acme.example"}, "agree": {"yes"}, "action": {"send-code"}}
	page := b.follow(b.post("/bind/workspace/create/new", nw))
	if !strings.Contains(page, "This username is taken") || !strings.Contains(page, "This email belongs to another Guance account") || len(f.mail.Mails()) != 0 {
		t.Fatalf("taken username and email: %s", page)
	}
	if !strings.Contains(page, `value="alice"`) || !strings.Contains(page, `value="w"`) {
		t.Fatal("what was typed is kept")
	}
}

func TestForgedAndTakenWorkspaces(t *testing.T) {
	f := newFixture(t)
	f.put(t, f.tables.Workspaces, "", guance.Workspace{ID: "wksp_bob", Name: "bob's", Site: "cn1", Owner: "bob", BillingAccount: "bob", Settlement: guance.Settlement{Type: guance.SettledByBillingCenter}, CreatedAt: now})
	b := f.buyer(t, "7000001")
	b.bindBilling()
	gone, taken := "There is no such workspace of this billing center account.", "This workspace was just settled by another account or purchase."
	for ws, warn := range map[string]string{"wksp_bob": gone, "wksp_theirs": taken, "wksp_ghost": gone} {
		if page := b.follow(b.post("/bind/workspace/confirm", url.Values{"ws": {ws}, "action": {"bind"}})); !strings.Contains(page, warn) {
			t.Fatalf("%s: the list does not say %q", ws, warn)
		}
		// Chosen on the list (a forged form): its confirmation is not offered.
		b.post("/bind/workspace/confirm", url.Values{"ws": {ws}, "action": {"choose"}})
		if rec := b.get("/bind/workspace/confirm"); rec.Code != http.StatusSeeOther {
			t.Fatalf("%s: the confirmation of a workspace that cannot be bound: %d\n%s", ws, rec.Code, f.logs.String())
		}
	}
	if inst, _ := f.instances.Get(context.Background(), "7000001"); inst.Activated() {
		t.Fatal("nothing was bound")
	}
}

// TestRouting: a purchase without a billing center account has no
// workspace page; a linked UID's later purchase has no billing page.
func TestRouting(t *testing.T) {
	f := newFixture(t)
	fresh := f.buyer(t, "7000001")
	if rec := fresh.get("/bind/workspace"); rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/activate" {
		t.Fatalf("unbound purchase: %d %v", rec.Code, rec.Header())
	}
	fresh.bindBilling()
	f.pending(t, "7000002", uid)
	later := f.buyer(t, "7000002")
	if rec := later.get("/bind/billing"); rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/bind/workspace" {
		t.Fatalf("a linked UID's later purchase: %d %v", rec.Code, rec.Header())
	}
	if page := later.follow(later.post("/bind/workspace/confirm", url.Values{"ws": {"wksp_free"}, "action": {"bind"}})); !strings.Contains(page, "is bound.") {
		t.Fatalf("bind through the later purchase: %s", page)
	}
	// The first purchase sees it settled by another purchase of its own.
	if body := fresh.get("/bind/workspace").Body.String(); !strings.Contains(body, "Settled by another purchase of yours (product instance 7000002)") {
		t.Fatalf("first purchase's view:\n%s", body)
	}
}

// TestBillingRefusals: every way a billing binding is refused says why,
// in the buyer's language, and writes nothing.
func TestBillingRefusals(t *testing.T) {
	typed := func(real string) string { return real }
	setStatus := func(status activation.Status) func(*testing.T, *fixture) {
		return func(t *testing.T, f *fixture) {
			if _, err := f.db.Client().UpdateItem(context.Background(), &dynamodb.UpdateItemInput{
				TableName: aws.String(f.tables.Instances), Key: map[string]types.AttributeValue{"instanceId": &types.AttributeValueMemberS{Value: "7000001"}},
				UpdateExpression:          aws.String("SET #s = :s"),
				ExpressionAttributeNames:  map[string]string{"#s": "status"},
				ExpressionAttributeValues: map[string]types.AttributeValue{":s": &types.AttributeValueMemberS{Value: string(status)}},
			}); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, tt := range []struct {
		name string
		// meanwhile runs after the code is sent, before it is typed.
		meanwhile func(*testing.T, *fixture)
		code      func(real string) string
		says      string
	}{
		{"wrong code", nil, func(real string) string { return strings.Map(func(r rune) rune { return '0' + (r-'0'+1)%10 }, real) }, "The code is wrong. 4 tries left."},
		{"malformed code", nil, func(string) string { return "12ab" }, "6 digits"},
		{"expired code", func(_ *testing.T, f *fixture) { f.now = f.now.Add(verification.CodeTTL + time.Second) }, typed, "expired"},
		{"UID linked meanwhile to another account", func(t *testing.T, f *fixture) {
			f.put(t, f.tables.Accounts, "cloud#aliyun#"+uid, guance.CloudLink{Cloud: guance.CloudAliyun, UID: uid, BillingAccount: "other", LinkedAt: now})
		}, typed, "linked to another billing center account"},
		{"instance released meanwhile", setStatus(activation.StatusReleased), typed, "cannot be bound"},
		{"instance frozen meanwhile", setStatus(activation.StatusFrozen), typed, "cannot be bound"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			b := f.buyer(t, "7000001")
			b.post("/bind/billing", url.Values{"username": {"acme"}, "action": {"send-code"}})
			real := f.outboxCode(t, "billing@acme.example")
			if tt.meanwhile != nil {
				tt.meanwhile(t, f)
			}
			// Refused like every form: a redirect to the page, which says why.
			page := b.follow(b.post("/bind/billing", url.Values{"username": {"acme"}, "code": {tt.code(real)}, "action": {"bind"}}))
			if !strings.Contains(page, tt.says) {
				t.Fatalf("the page does not say %q:\n%s", tt.says, page)
			}
			inst, _ := f.instances.Get(context.Background(), "7000001")
			if inst.BillingAccount != "" || inst.Progress != activation.ProgressPending {
				t.Fatalf("the instance changed: %+v", inst)
			}
		})
	}
}

// TestRequestsWithoutTheirGuards: no session, no CSRF token, another
// origin; each refused before anything is read or written.
func TestRequestsWithoutTheirGuards(t *testing.T) {
	f := newFixture(t)
	b := f.buyer(t, "7000001")
	form := func() url.Values { return url.Values{"username": {"acme"}, "action": {"send-code"}} }
	for _, tt := range []struct {
		name   string
		req    func() *http.Request
		cookie bool
		status int
	}{
		{"no session", func() *http.Request { return httptest.NewRequest(http.MethodGet, "/bind/workspace", nil) }, false, http.StatusUnauthorized},
		{"no CSRF token", func() *http.Request {
			r := httptest.NewRequest(http.MethodPost, "/bind/billing", strings.NewReader(form().Encode()))
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			return r
		}, true, http.StatusForbidden},
		{"another origin", func() *http.Request {
			r := httptest.NewRequest(http.MethodPost, "/bind/workspace/confirm", strings.NewReader(url.Values{"ws": {"wksp_free"}, "csrf": {b.sess.CSRF}}.Encode()))
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			r.Header.Set("Sec-Fetch-Site", "cross-site")
			return r
		}, true, http.StatusForbidden},
	} {
		t.Run(tt.name, func(t *testing.T) {
			req := tt.req()
			req.Header.Set("Accept-Language", "en")
			if tt.cookie {
				req.AddCookie(&http.Cookie{Name: session.CookieName, Value: b.sess.ID})
			}
			rec := httptest.NewRecorder()
			f.routes.ServeHTTP(rec, req)
			if rec.Code != tt.status {
				t.Fatalf("%d, want %d", rec.Code, tt.status)
			}
		})
	}
	out, err := f.db.Client().Scan(context.Background(), &dynamodb.ScanInput{TableName: aws.String(f.tables.Outbox)})
	if err != nil || len(out.Items)+len(f.mail.Mails()) != 0 {
		t.Fatalf("mails were sent: %v", err)
	}
	if inst, _ := f.instances.Get(context.Background(), "7000001"); inst.Progress != activation.ProgressPending {
		t.Fatal("the instance changed")
	}
}

// TestTheSeedsWordsOnTheBindingPages: the site selector sits at the top
// right of the billing center binding page already (it decides only
// where a workspace created later goes), and what it chooses there is the
// site the create pages show, fixed, without a selector; the buttons are
// named as the seed names them, in both languages.
func TestTheSeedsWordsOnTheBindingPages(t *testing.T) {
	f := newFixture(t)
	b := f.buyer(t, "7000001")
	billing := b.get("/bind/billing").Body.String()
	for _, want := range []string{`<form method="post" action="/bind/workspace/site" id="site">`, `name="return" value="/bind/billing"`, `id="site-note"`} {
		if !strings.Contains(billing, want) {
			t.Fatalf("the billing page lacks %q", want)
		}
	}
	if rec := b.post("/bind/workspace/site", url.Values{"site": {"eu1"}, "return": {"/bind/billing"}}); rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/bind/billing" {
		t.Fatalf("site chosen on the billing page: %d %v", rec.Code, rec.Header())
	}
	if billing = b.get("/bind/billing").Body.String(); !strings.Contains(billing, `<option value="eu1" selected>`) {
		t.Fatal("the billing page forgot the site chosen on it")
	}
	b.bindBilling()
	for path, button := range map[string]string{"/bind/workspace/create/have": ">Create</button>", "/bind/workspace/create/new": ">Register and create workspace</button>"} {
		body := b.get(path).Body.String()
		if strings.Contains(body, `id="site"`) || !strings.Contains(body, "The new workspace will be created on Frankfurt") || !strings.Contains(body, button) {
			t.Errorf("%s: a selector, another site, or the button unnamed:\n%s", path, body)
		}
	}
	b.post("/bind/workspace/confirm", url.Values{"ws": {"wksp_free"}, "action": {"choose"}})
	confirm := b.get("/bind/workspace/confirm").Body.String()
	if !strings.Contains(confirm, `<button type="submit" id="bind" name="action" value="bind">Confirm</button>`) {
		t.Errorf("the bind-existing confirmation's button:\n%s", confirm)
	}
	for key, zh := range map[string]string{"bind.ws.create.go": "创建", "bind.ws.create.go.new": "注册并创建工作空间", "bind.ws.confirm.go": "确定"} {
		if got := i18n.M(key).In(i18n.ZH); got != zh {
			t.Errorf("%s in Chinese: %q, want %q", key, got, zh)
		}
	}
}

// TestALanguageSwitchHashesNothing: a password typed with a language
// switch on *I have no Guance account* is neither hashed (no limit counts
// a switch) nor kept, and the page says so.
func TestALanguageSwitchHashesNothing(t *testing.T) {
	f := newFixture(t)
	b := f.buyer(t, "7000001")
	b.bindBilling()
	nw := url.Values{"workspace": {"new one"}, "wslang": {"zh"}, "username": {"Carol"}, "password": {"s3cret-pass"}, "confirm": {"s3cret-pass"}, "email": {"carol@example.com"}, "agree": {"yes"}}
	for i := range 20 {
		nw.Set("action", []string{"lang:zh", "lang:en"}[i%2])
		if rec := b.post("/bind/workspace/create/new", nw); rec.Code != http.StatusSeeOther {
			t.Fatalf("switch: %d", rec.Code)
		}
	}
	if n := f.hashes.Load(); n != 0 {
		t.Fatalf("20 language switches hashed %d passwords", n)
	}
	if page := b.get("/bind/workspace/create/new").Body.String(); !strings.Contains(page, "not kept when the language changes") || !strings.Contains(page, `value="carol"`) {
		t.Fatalf("after the switches:\n%s", page)
	}
}
