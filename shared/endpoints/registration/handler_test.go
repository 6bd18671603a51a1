package registration_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/guance/aliyun-marketplace/cmd/devstack/dynamotest"
	"github.com/guance/aliyun-marketplace/shared/adapters/storage"
	"github.com/guance/aliyun-marketplace/shared/domain/activation"
	"github.com/guance/aliyun-marketplace/shared/domain/guance"
	"github.com/guance/aliyun-marketplace/shared/domain/marketplace"
	"github.com/guance/aliyun-marketplace/shared/domain/password"
	"github.com/guance/aliyun-marketplace/shared/domain/session"
	"github.com/guance/aliyun-marketplace/shared/domain/sites"
	"github.com/guance/aliyun-marketplace/shared/domain/verification"
	"github.com/guance/aliyun-marketplace/shared/domain/verification/verificationtest"
	"github.com/guance/aliyun-marketplace/shared/endpoints/registration"
	"github.com/guance/aliyun-marketplace/shared/endpoints/web"
	"github.com/guance/aliyun-marketplace/shared/platform/logging"
	"github.com/guance/aliyun-marketplace/shared/platform/logging/logtest"
)

var now = time.Date(2026, 11, 26, 3, 20, 0, 0, time.UTC)

const (
	uid      = "1234567890123456"
	instance = "7000001"
	pw       = "s3cret-pass"
)

type fixture struct {
	db        *dynamotest.Server
	routes    http.Handler
	mail      *verificationtest.Outbox
	sessions  *storage.Sessions
	instances *storage.Instances
	logs      *logtest.Buffer
	clock     *time.Time
	codes     *verification.Sender
	// hashes counts the password hashes computed.
	hashes atomic.Int64
}

func newFixture(t testing.TB) *fixture {
	db := dynamotest.Start(t)
	tables := storage.Tables{Instances: db.Tables["InstancesTable"], Sessions: db.Tables["SessionsTable"], Accounts: db.Tables["AccountsTable"], Workspaces: db.Tables["WorkspacesTable"], Outbox: db.Tables["OutboxTable"], Audit: db.Tables["AuditTable"]}
	clock := now
	f := &fixture{db: db, mail: &verificationtest.Outbox{}, sessions: db.Store().Sessions(),
		instances: db.Store().Instances(), logs: &logtest.Buffer{}, clock: &clock}
	nowFn := func() time.Time { return *f.clock }
	hasher, _ := verification.NewHasher("a-test-secret-of-enough-length")
	codes := db.Store().Codes()
	log := logging.New(f.logs, slog.LevelDebug)
	f.codes = &verification.Sender{Store: codes, Mailer: f.mail, Accounts: db.Store().Accounts(),
		Hasher: hasher, Limits: verification.DefaultLimits, Now: nowFn, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	h := &registration.Handler{
		Sessions: f.sessions, Instances: f.instances,
		Codes:    f.codes,
		Verifier: &verification.Verifier{Store: codes, Hasher: hasher, Now: nowFn},
		Records:  storage.New(db.Client(), tables).Registrations(),
		Lookups:  db.Store().Lookups(),
		HashPassword: func(p string) (string, error) {
			f.hashes.Add(1)
			return password.Hash(p, password.Params{MemoryKiB: 64, Time: 1, Threads: 1})
		},
		LoginURLs: sites.LoginURLs{"cn1": "https://cn1.console.example/login", "us1": "https://us1.console.example/login"},
		TermsURL:  "https://www.guance.example/terms", Web: web.Settings{MarketplaceURL: "https://market.example/purchased"},
		Log: log, Now: nowFn,
	}
	f.routes = h.Routes()
	f.pending(t, instance, uid)
	return f
}

// pending records a pending instance bought by owner.
func (f *fixture) pending(t testing.TB, id, owner string) {
	t.Helper()
	if _, _, err := f.instances.Create(context.Background(), activation.Instance{
		ID: id, AliUID: owner, Status: activation.StatusActive, Progress: activation.ProgressPending,
		Orders:    map[string]string{activation.OrderCreate: "1"},
		LastCalls: map[marketplace.Action]activation.Call{marketplace.ActionCreateInstance: {At: now}},
		CreatedAt: now, UpdatedAt: now,
	}); err != nil {
		t.Fatal(err)
	}
}

// buyer is one browser with a session on instance.
type buyer struct {
	f    *fixture
	t    testing.TB
	sess session.Session
	lang string
	ip   string
}

func (f *fixture) buyer(t testing.TB, inst, owner, lang string) *buyer {
	s := session.New(owner, inst, lang, now, time.Hour)
	if err := f.sessions.Open(context.Background(), session.Link{Token: s.ID, InstanceID: inst, ExpiresAt: now.Add(time.Hour)}, s); err != nil {
		t.Fatal(err)
	}
	f.db.ResetRoundTrips()
	return &buyer{f: f, t: t, sess: s, lang: lang, ip: "198.51.100.7"}
}

func (b *buyer) do(req *http.Request) *httptest.ResponseRecorder {
	req.AddCookie(&http.Cookie{Name: session.CookieName, Value: b.sess.ID})
	req.Header.Set("Accept-Language", b.lang)
	req.RemoteAddr = b.ip + ":4000"
	rec := httptest.NewRecorder()
	b.f.routes.ServeHTTP(rec, req)
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
	if _, set := form["csrf"]; !set {
		form.Set("csrf", b.sess.CSRF)
	}
	req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return b.do(req)
}

func basicForm(action string) url.Values {
	return url.Values{"site": {"cn1"}, "username": {"Alice"}, "password": {pw}, "confirm": {pw}, "email": {"Alice@Example.com"}, "phone": {"+86 138 0013 8000"}, "action": {action}}
}

// throughBasic sends a code and passes step 1 with it.
func (b *buyer) throughBasic() {
	b.t.Helper()
	if rec := b.post("/register/basic", basicForm("send-code")); rec.Code != http.StatusSeeOther {
		b.t.Fatalf("send code: %d %s", rec.Code, rec.Body.String())
	}
	form := basicForm("next")
	form.Set("code", b.f.mail.Last().Code)
	if rec := b.post("/register/basic", form); rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/register/company" {
		b.t.Fatalf("basic: %d %s", rec.Code, rec.Body.String())
	}
}

func (b *buyer) throughCompany() {
	b.t.Helper()
	rec := b.post("/register/company", url.Values{"company": {"Acme 云"}, "agree": {"yes"}, "industry": {"Retail"}, "action": {"next"}})
	if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/register/activate" {
		b.t.Fatalf("company: %d %s", rec.Code, rec.Body.String())
	}
}

func activateForm() url.Values {
	return url.Values{"workspace": {"生产环境"}, "wslang": {"zh"}, "uid": {uid}, "instance": {instance}, "action": {"activate"}}
}

func TestRegistrationJourney(t *testing.T) {
	f := newFixture(t)
	b := f.buyer(t, instance, uid, "en")
	if rec := b.get("/register"); rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/register/basic" {
		t.Fatalf("entry: %d %v", rec.Code, rec.Header())
	}
	f.db.ResetRoundTrips()
	page := b.get("/register/basic")
	if page.Code != 200 || !strings.Contains(page.Body.String(), "Basic information") || !strings.Contains(page.Body.String(), `<option value="cn1" selected>Hangzhou (cn1)`) {
		t.Fatalf("basic page: %d\n%s", page.Code, page.Body.String())
	}
	if n := f.db.RoundTrips(); n != 1 {
		t.Errorf("a page is %d round trips, want 1 (the session)", n)
	}

	if rec := b.post("/register/basic", basicForm("send-code")); rec.Code != http.StatusSeeOther {
		t.Fatalf("send code: %d", rec.Code)
	}
	mail := f.mail.Last()
	if mail.To != "alice@example.com" || mail.Lang != "en" || mail.Purpose != verification.Register {
		t.Fatalf("mail %+v", mail)
	}
	*f.clock = now.Add(10 * time.Second)
	page = b.get("/register/basic")
	body := page.Body.String()
	for _, want := range []string{"We sent a code to alice@example.com", ".wait{--from:50}", `value="alice"`, `value="alice@example.com"`, "A password is set for this username; leave these empty to keep it."} {
		if !strings.Contains(body, want) {
			t.Errorf("after the send the page lacks %q", want)
		}
	}
	if strings.Contains(body, pw) {
		t.Fatal("the password is written back into the page")
	}

	form := basicForm("next")
	form.Set("code", mail.Code)
	f.db.ResetRoundTrips()
	if rec := b.post("/register/basic", form); rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/register/company" {
		t.Fatalf("basic: %d %s", rec.Code, rec.Body.String())
	}
	if n := f.db.RoundTrips(); n != 6 {
		t.Errorf("step 1 took %d round trips, want 6 (session, count and read the lookup, charge and consume the code, save)", n)
	}
	f.db.ResetRoundTrips()
	b.throughCompany()
	if n := f.db.RoundTrips(); n != 2 {
		t.Errorf("step 2 took %d round trips, want 2 (session, save)", n)
	}
	page = b.get("/register/activate")
	body = page.Body.String()
	if !strings.Contains(body, `value="`+uid+`"`) || !strings.Contains(body, `value="`+instance+`"`) || !strings.Contains(body, "click the avatar at the top right; the menu shows the account ID") || strings.Contains(body, "RAM") {
		t.Fatalf("activation page must be filled in from the session, with help:\n%s", body)
	}
	f.db.ResetRoundTrips()
	rec := b.post("/register/activate", activateForm())
	if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/register/done" {
		t.Fatalf("activate: %d %s", rec.Code, rec.Body.String())
	}
	if n := f.db.RoundTrips(); n != 2 {
		t.Errorf("Activate took %d round trips, want 2 (session, one transaction)", n)
	}
	done := b.get("/register/done").Body.String()
	for _, want := range []string{"Activated", ">alice<", "生产环境", "Hangzhou (cn1)", "1234********3456", `href="https://cn1.console.example/login"`} {
		if !strings.Contains(done, want) {
			t.Errorf("success page lacks %q", want)
		}
	}
	inst, _ := f.instances.Get(context.Background(), instance)
	if !inst.Activated() || inst.BillingAccount != "alice" || inst.LoginSite != "cn1" {
		t.Fatalf("instance %+v", inst)
	}
	// Once done, every step leads to the success page.
	if rec := b.get("/register/basic"); rec.Header().Get("Location") != "/register/done" {
		t.Fatalf("after activation: %d %v", rec.Code, rec.Header())
	}
	logs := f.logs.String()
	for _, secret := range []string{"alice@example.com", mail.Code, pw, "Acme"} {
		if strings.Contains(logs, secret) {
			t.Errorf("the log holds %q", secret)
		}
	}
	// The welcome mail waits in the outbox, with no password in it.
	out, err := f.db.Client().Scan(context.Background(), &dynamodb.ScanInput{TableName: aws.String(f.db.Tables["OutboxTable"])})
	if err != nil || len(out.Items) != 1 || out.Items[0]["kind"].(*types.AttributeValueMemberS).Value != "welcome" {
		t.Fatalf("outbox %v %v", out.Items, err)
	}
}

var passwordValue = regexp.MustCompile(`type="password"[^>]*value=`)

func TestBasicValidation(t *testing.T) {
	tests := []struct {
		name   string
		change map[string]string
		text   string
	}{
		{"short username", map[string]string{"username": "abc"}, "A username is 4 to 32"},
		{"username not starting with a letter", map[string]string{"username": "1alice"}, "starting with a letter"},
		{"weak password", map[string]string{"password": "abcdefgh", "confirm": "abcdefgh"}, "at least a letter and a digit"},
		{"password with the username", map[string]string{"password": "alice1234", "confirm": "alice1234"}, "must not contain the username"},
		{"passwords differ", map[string]string{"confirm": "s3cret-pasz"}, "The two passwords differ."},
		{"no password", map[string]string{"password": "", "confirm": ""}, "Choose a password."},
		{"bad email", map[string]string{"email": "alice@"}, "Enter a valid email address."},
		{"bad phone", map[string]string{"phone": "call me"}, "Enter a valid phone number"},
		{"unknown site", map[string]string{"site": "xx1"}, "Choose a site."},
		{"no code", map[string]string{"code": ""}, "Enter the 6-digit code"},
		{"wrong code", map[string]string{"code": "000000"}, "The code is wrong. 4 tries left."},
		{"no code sent to this address", map[string]string{"email": "bob@example.com", "code": "123456"}, "No code is waiting here."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			b := f.buyer(t, instance, uid, "en")
			send := basicForm("send-code")
			if tt.name == "no password" {
				send.Del("password")
				send.Del("confirm")
			}
			if rec := b.post("/register/basic", send); rec.Code != http.StatusSeeOther {
				t.Fatal(rec.Code)
			}
			form := basicForm("next")
			form.Set("code", f.mail.Last().Code)
			if tt.name == "wrong code" && f.mail.Last().Code == "000000" {
				form.Set("code", "111111")
			}
			for k, v := range tt.change {
				form.Set(k, v)
			}
			// Refused like every form: a redirect to the page, which says why.
			body := b.follow(b.post("/register/basic", form))
			if !strings.Contains(body, tt.text) || !strings.Contains(body, `aria-invalid="true"`) {
				t.Fatalf("the page does not say %q:\n%s", tt.text, body)
			}
			if passwordValue.MatchString(body) || strings.Contains(body, pw) {
				t.Fatal("a password was written back")
			}
			if tt.change["username"] == "" && !strings.Contains(body, `value="alice"`) {
				t.Fatal("what was typed must be kept")
			}
		})
	}
}

func TestBackKeepsWhatWasTyped(t *testing.T) {
	f := newFixture(t)
	b := f.buyer(t, instance, uid, "zh-CN")
	b.throughBasic()
	rec := b.post("/register/company", url.Values{"company": {"半成品公司"}, "region": {"杭州"}, "action": {"back"}})
	if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/register/basic" {
		t.Fatalf("back: %d", rec.Code)
	}
	if body := b.get("/register/basic").Body.String(); !strings.Contains(body, `value="alice"`) || !strings.Contains(body, "alice@example.com 已验证") {
		t.Fatalf("step 1 after Back:\n%s", body)
	}
	if body := b.get("/register/company").Body.String(); !strings.Contains(body, `value="半成品公司"`) || !strings.Contains(body, `value="杭州"`) || !strings.Contains(body, "<details open") {
		t.Fatalf("step 2 keeps what was typed before Back:\n%s", body)
	}
	b.throughCompany()
	if rec := b.post("/register/activate", url.Values{"workspace": {"测试"}, "wslang": {"en"}, "uid": {uid}, "instance": {instance}, "action": {"back"}}); rec.Header().Get("Location") != "/register/company" {
		t.Fatalf("back from activation: %d", rec.Code)
	}
	if body := b.get("/register/activate").Body.String(); !strings.Contains(body, `value="测试"`) || !strings.Contains(body, `value="en" checked`) {
		t.Fatalf("activation keeps what was typed:\n%s", body)
	}
}

func TestCompanyValidation(t *testing.T) {
	f := newFixture(t)
	b := f.buyer(t, instance, uid, "en")
	b.throughBasic()
	body := b.follow(b.post("/register/company", url.Values{"company": {""}, "description": {strings.Repeat("x", 501)}, "action": {"next"}}))
	for _, want := range []string{"Enter the company name", "Read and accept the terms", "at most 500 characters", `href="https://www.guance.example/terms"`} {
		if !strings.Contains(body, want) {
			t.Errorf("company page lacks %q", want)
		}
	}
}

func TestStepsInOrder(t *testing.T) {
	f := newFixture(t)
	b := f.buyer(t, instance, uid, "en")
	for path, want := range map[string]string{"/register/company": "/register/basic", "/register/activate": "/register/basic", "/register/done": "/register/basic"} {
		if rec := b.get(path); rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != want {
			t.Errorf("%s: %d %s", path, rec.Code, rec.Header().Get("Location"))
		}
	}
	if rec := b.post("/register/activate", activateForm()); rec.Header().Get("Location") != "/register/basic" {
		t.Fatal("Activate before the earlier steps must go back to them")
	}
}

// TestWhichPurchase: the Account ID must be the session's; another pending
// instance of the same account may be named; anything else is refused by
// field, saying nothing of other buyers.
func TestWhichPurchase(t *testing.T) {
	f := newFixture(t)
	f.pending(t, "7000002", uid)
	f.pending(t, "7000003", "6543210987654321")
	b := f.buyer(t, instance, uid, "en")
	b.throughBasic()
	b.throughCompany()
	for _, tt := range []struct {
		field, value, text string
	}{
		{"uid", "6543210987654321", "not the Alibaba Cloud account ID that bought this plan"},
		{"instance", "7000003", "no pending purchase with this product instance ID"},
		{"instance", "9999999", "no pending purchase with this product instance ID"},
		{"instance", "12ab", "no pending purchase with this product instance ID"},
	} {
		form := activateForm()
		form.Set(tt.field, tt.value)
		if page := b.follow(b.post("/register/activate", form)); !strings.Contains(page, tt.text) {
			t.Fatalf("%s=%s:\n%s", tt.field, tt.value, page)
		}
	}
	form := activateForm()
	form.Set("instance", "7000002")
	if rec := b.post("/register/activate", form); rec.Code != http.StatusSeeOther {
		t.Fatalf("another pending instance of the same account: %d %s", rec.Code, rec.Body.String())
	}
	if inst, _ := f.instances.Get(context.Background(), "7000002"); !inst.Activated() {
		t.Fatal("the named instance must be the one activated")
	}
	if inst, _ := f.instances.Get(context.Background(), instance); inst.Progress != activation.ProgressPending {
		t.Fatal("the session's instance stays pending")
	}
}

func TestActivateRefusals(t *testing.T) {
	f := newFixture(t)
	f.pending(t, "7000002", "6543210987654321")
	first := f.buyer(t, "7000002", "6543210987654321", "en")
	first.throughBasic()
	first.throughCompany()
	form := activateForm()
	form.Set("uid", "6543210987654321")
	form.Set("instance", "7000002")
	if rec := first.post("/register/activate", form); rec.Code != http.StatusSeeOther {
		t.Fatalf("first: %d", rec.Code)
	}
	// A second buyer who chose the same username meanwhile: told at
	// step 1, with no code sent.
	second := f.buyer(t, instance, uid, "en")
	mails := len(f.mail.Mails())
	page := second.follow(second.post("/register/basic", basicForm("send-code")))
	if !strings.Contains(page, "This username is taken") || !strings.Contains(page, `id="f-username-error"`) || len(f.mail.Mails()) != mails {
		t.Fatalf("taken username at step 1:\n%s", page)
	}
	// One taken after step 1 (the two raced): Activate says so.
	other := basicForm("send-code")
	other.Set("username", "alice2")
	other.Set("email", "alice2@example.com")
	second.follow(second.post("/register/basic", other))
	other.Set("action", "next")
	other.Set("code", f.mail.Last().Code)
	second.follow(second.post("/register/basic", other))
	second.throughCompany()
	third := f.buyer(t, "7000002", "6543210987654321", "en") // takes alice2 first
	_ = third
	if err := f.db.Store().Accounts().CreateBilling(context.Background(), guance.BillingAccount{Username: "alice2", Email: "x@example.com"}); err != nil {
		t.Fatal(err)
	}
	page = second.follow(second.post("/register/activate", activateForm()))
	if !strings.Contains(page, "This username is taken") || !strings.Contains(page, `href="/register/basic"`) {
		t.Fatalf("taken username at Activate:\n%s", page)
	}
	if inst, _ := f.instances.Get(context.Background(), instance); inst.Progress != activation.ProgressPending {
		t.Fatal("a refused activation changed the instance")
	}
}

// TestConcurrentActivations: 12 sessions of one instance press Activate at
// once: exactly one activates, the others are told the instance was
// activated meanwhile (or their account linked), with nothing more to
// send. (12: the sessions of one purchase share its caps, of codes and of
// account lookups.)
func TestConcurrentActivations(t *testing.T) {
	f := newFixture(t)
	// The sessions of one purchase share its code caps: lift them, the
	// race is the point here.
	f.codes.Limits.PerSessionHour = 100
	var buyers []*buyer
	for i := range 12 {
		b := f.buyer(t, instance, uid, "en")
		b.ip = fmt.Sprintf("203.0.113.%d", i+1)
		form := basicForm("send-code")
		form.Set("username", fmt.Sprintf("user%02d", i))
		form.Set("email", fmt.Sprintf("u%d@example.com", i))
		if rec := b.post("/register/basic", form); rec.Code != http.StatusSeeOther {
			t.Fatal(rec.Code)
		}
		form.Set("action", "next")
		form.Set("code", f.mail.Last().Code)
		if rec := b.post("/register/basic", form); rec.Header().Get("Location") != "/register/company" {
			t.Fatalf("%d: %d %v", i, rec.Code, rec.Header())
		}
		b.throughCompany()
		buyers = append(buyers, b)
	}
	codes := make([]int, len(buyers))
	var wg sync.WaitGroup
	locations := make([]string, len(buyers))
	for i, b := range buyers {
		wg.Go(func() {
			rec := b.post("/register/activate", activateForm())
			codes[i], locations[i] = rec.Code, rec.Header().Get("Location")
		})
	}
	wg.Wait()
	won := 0
	for i, c := range codes {
		switch {
		case c == http.StatusSeeOther && locations[i] == "/register/done":
			won++
		case c == http.StatusSeeOther:
			// Refused: the page says the purchase was activated
			// meanwhile, and offers no Activate any more.
			if page := buyers[i].get("/register/activate").Body.String(); !strings.Contains(page, `id="notice"`) || strings.Contains(page, `id="activate"`) || !strings.Contains(page, `href="/bind/workspace"`) {
				t.Fatalf("a loser's page (%s):\n%s", locations[i], page)
			}
		default:
			t.Fatalf("status %d", c)
		}
	}
	if won != 1 {
		t.Fatalf("%d activations won, want exactly 1 (%v)", won, codes)
	}
}

func TestRefusedRequests(t *testing.T) {
	f := newFixture(t)
	b := f.buyer(t, instance, uid, "en")
	rec := b.post("/register/basic", url.Values{"csrf": {"forged"}, "username": {"x"}})
	if rec.Code != http.StatusForbidden || !strings.Contains(rec.Body.String(), "This form has expired") {
		t.Fatalf("forged CSRF: %d", rec.Code)
	}
	req := httptest.NewRequest(http.MethodGet, "/register/basic", nil)
	req.Header.Set("Accept-Language", "en")
	rec = httptest.NewRecorder()
	f.routes.ServeHTTP(rec, req)
	if rec.Code != http.StatusUnauthorized || !strings.Contains(rec.Body.String(), "Your activation session has ended") {
		t.Fatalf("no session: %d", rec.Code)
	}
	req = httptest.NewRequest(http.MethodPost, "/register/basic", strings.NewReader("csrf="+b.sess.CSRF))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	if rec := b.do(req); rec.Code != http.StatusForbidden || !strings.Contains(rec.Body.String(), "sent from another site") {
		t.Fatalf("cross-site: %d", rec.Code)
	}
	big := url.Values{"description": {strings.Repeat("x", 20<<10)}}
	if rec := b.post("/register/company", big); rec.Code != http.StatusBadRequest {
		t.Fatalf("oversized: %d", rec.Code)
	}
	*f.clock = now.Add(2 * time.Hour)
	if rec := b.get("/register/basic"); rec.Code != http.StatusUnauthorized {
		t.Fatalf("expired session: %d", rec.Code)
	}
}

// TestBoundPurchaseHasNothingToRegister: a purchase bound to a billing
// center account meanwhile (the other path) is sent on to its workspaces.
func TestBoundPurchaseHasNothingToRegister(t *testing.T) {
	f := newFixture(t)
	if _, _, err := f.instances.Create(context.Background(), activation.Instance{
		ID: "7100001", AliUID: uid, Status: activation.StatusActive, Progress: activation.ProgressBillingBound, BillingAccount: "acme",
		Orders: map[string]string{activation.OrderCreate: "1"}, CreatedAt: now, UpdatedAt: now,
	}); err != nil {
		t.Fatal(err)
	}
	b := f.buyer(t, "7100001", uid, "en")
	if rec := b.get("/register"); rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/bind/workspace" {
		t.Fatalf("%d %v", rec.Code, rec.Header())
	}
	f.pending(t, "7100002", uid)
	if rec := f.buyer(t, "7100002", uid, "en").get("/register"); rec.Header().Get("Location") != "/register/basic" {
		t.Fatalf("a pending purchase: %v", rec.Header())
	}
}

// TestEveryProblemAtOnce: an empty step marks every field it needs, the
// password and the code too; a wrong password typed before Send code is
// said beside the notice of the code sent, not dropped in silence.
func TestEveryProblemAtOnce(t *testing.T) {
	f := newFixture(t)
	f.pending(t, instance, uid)
	b := f.buyer(t, instance, uid, "en")
	page := b.follow(b.post("/register/basic", url.Values{"site": {"cn1"}, "action": {"next"}}))
	for _, field := range []string{"username", "password", "email"} {
		if !strings.Contains(page, `id="f-`+field+`-error"`) {
			t.Errorf("an empty step does not mark %s", field)
		}
	}
	if !strings.Contains(page, "Enter your email address.") {
		t.Error("an empty email is not told apart from an invalid one")
	}
	form := basicForm("send-code")
	form.Set("confirm", pw+"x")
	body := b.follow(b.post("/register/basic", form))
	if !strings.Contains(body, `id="f-confirm-error"`) || !strings.Contains(body, `id="sent"`) {
		t.Fatalf("a mismatched password at Send code:\n%s", body)
	}
}

// TestActivateChecksTheDraftAgain: steps keep what was typed even when it
// is wrong (Send code, Back), so a buyer past both steps can go back and
// leave wrong values in the draft; Activate checks them again and sends
// the buyer to the step that holds them, writing nothing.
func TestActivateChecksTheDraftAgain(t *testing.T) {
	tests := []struct {
		name  string
		spoil func(b *buyer)
		want  string
	}{
		{"phone left wrong by Send code", func(b *buyer) {
			form := basicForm("send-code")
			form.Set("phone", "not-a-phone<>")
			b.post("/register/basic", form)
		}, "/register/basic"},
		{"terms unticked, name too long, then Back", func(b *buyer) {
			b.post("/register/company", url.Values{"company": {strings.Repeat("x", 500)}, "action": {"back"}})
		}, "/register/company"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			b := f.buyer(t, instance, uid, "en")
			b.throughBasic()
			b.throughCompany()
			tt.spoil(b)
			if rec := b.post("/register/activate", activateForm()); rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != tt.want {
				t.Fatalf("activate: %d to %q, want %s", rec.Code, rec.Header().Get("Location"), tt.want)
			}
			if inst, _ := f.instances.Get(context.Background(), instance); inst.Progress != activation.ProgressPending {
				t.Fatal("a draft with unchecked values activated the instance")
			}
		})
	}
}

// TestLimitsBeforeTheHash: 40 Send code posts with a password within one
// cooldown send one code and hash the password once: a refused send costs
// no argon2id.
func TestLimitsBeforeTheHash(t *testing.T) {
	f := newFixture(t)
	b := f.buyer(t, instance, uid, "en")
	for range 40 {
		b.post("/register/basic", basicForm("send-code"))
	}
	if sent, hashed := len(f.mail.Mails()), f.hashes.Load(); sent != 1 || hashed != 1 {
		t.Fatalf("%d codes sent, %d hashes", sent, hashed)
	}
}

// TestTheFormAsABuyerMeetsIt: the language switch keeps everything typed
// (the code and the tick included); a code sent lands on the code field
// and says the password was kept; during the cooldown the resend button
// is disabled with the seconds left; a spent code no longer shows as on
// its way; a changed proven address asks for a code of its own.
func TestTheFormAsABuyerMeetsIt(t *testing.T) {
	f := newFixture(t)
	b := f.buyer(t, instance, uid, "en")
	send := b.post("/register/basic", basicForm("send-code"))
	if loc := send.Header().Get("Location"); loc != "/register/basic#f-code" {
		t.Fatalf("after Send code: %q, want the code field", loc)
	}
	page := b.get("/register/basic").Body.String()
	for _, want := range []string{`id="password-kept"`, `id="send-wait" disabled`, `class="after-wait"`} {
		if !strings.Contains(page, want) {
			t.Errorf("after the send the page lacks %s", want)
		}
	}
	// The language switch submits the page's form: nothing is lost.
	typed := basicForm("lang:zh")
	typed.Set("code", "123")
	typed.Set("phone", "+86 138 0013 8001")
	if rec := b.post("/register/basic", typed); rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/register/basic" {
		t.Fatalf("language switch: %d %v", rec.Code, rec.Header())
	}
	page = b.get("/register/basic").Body.String()
	for _, want := range []string{`lang="zh-CN"`, `value="123"`, `8001"`, `value="alice"`, `form="page-form"`} {
		if !strings.Contains(page, want) {
			t.Errorf("after the switch the page lacks %s", want)
		}
	}
	// Five wrong codes: the code is spent, and no longer said to be on its way.
	for range 5 {
		wrong := basicForm("next")
		wrong.Set("code", "000000")
		if f.mail.Last().Code == "000000" {
			wrong.Set("code", "111111")
		}
		b.post("/register/basic", wrong)
	}
	page = b.get("/register/basic").Body.String()
	if strings.Contains(page, `id="sent"`) || !strings.Contains(page, `id="f-code-error"`) {
		t.Fatalf("a spent code still shows as on its way:\n%s", page)
	}
	// A fresh code, proven; then the address changed.
	*f.clock = now.Add(2 * time.Minute)
	b.post("/register/basic", basicForm("send-code"))
	ok := basicForm("next")
	ok.Set("code", f.mail.Last().Code)
	b.follow(b.post("/register/basic", ok))
	b.post("/register/company", url.Values{"action": {"back"}, "company": {"x"}})
	changed := basicForm("next")
	changed.Set("email", "alice.new@example.com")
	changed.Del("password")
	changed.Del("confirm")
	page = b.follow(b.post("/register/basic", changed))
	if !strings.Contains(page, "邮箱地址已不是您验证过的") || !strings.Contains(page, `id="send"`) || strings.Contains(page, `id="verified"`) {
		t.Fatalf("a changed proven address:\n%s", page)
	}
}

// TestALanguageSwitchLooksNothingUp: a username or an email typed with a
// language switch (which counts no lookup) never reaches Activate, whose
// refusal would tell whether it exists; Activate sends the buyer back to
// step 1, where the lookup is counted. A password typed with the switch
// is not hashed, nor kept, and the page says so.
func TestALanguageSwitchLooksNothingUp(t *testing.T) {
	f := newFixture(t)
	if err := f.db.Store().Accounts().CreateBilling(context.Background(), guance.BillingAccount{Username: "victim", Email: "v@example.com"}); err != nil {
		t.Fatal(err)
	}
	b := f.buyer(t, instance, uid, "en")
	b.throughBasic()
	b.throughCompany()
	hashes := f.hashes.Load()
	for _, probe := range []struct{ field, value string }{{"username", "victim"}, {"email", "v@example.com"}} {
		form := basicForm("lang:zh")
		form.Set(probe.field, probe.value)
		if rec := b.post("/register/basic", form); rec.Code != http.StatusSeeOther {
			t.Fatalf("switch with %s: %d", probe.field, rec.Code)
		}
		rec := b.post("/register/activate", activateForm())
		if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/register/basic" {
			t.Fatalf("Activate after a switch with another %s: %d to %q, want step 1", probe.field, rec.Code, rec.Header().Get("Location"))
		}
		if inst, _ := f.instances.Get(context.Background(), instance); inst.Progress != activation.ProgressPending {
			t.Fatal("the instance moved")
		}
		// Put it back as it was: the next probe starts from a cleared draft.
		b.throughBasic()
		b.throughCompany()
		hashes++ // throughBasic hashes its password once
	}
	if got := f.hashes.Load(); got != hashes {
		t.Errorf("%d password hashes, want %d: a language switch hashed", got, hashes)
	}
	page := b.follow(b.post("/register/basic", basicForm("lang:en")))
	if !strings.Contains(page, "not kept when the language changes") || strings.Contains(page, `id="password-kept"`) {
		t.Fatalf("a password typed with a switch:\n%s", page)
	}
}

// TestATabLeftBehindIsTold: a tab still on a step when another tab
// activated the purchase lands on the success page, which says
// that what the tab sent was not used; the same Activate sent twice is
// simply done.
func TestATabLeftBehindIsTold(t *testing.T) {
	f := newFixture(t)
	first := f.buyer(t, instance, uid, "en")
	first.throughBasic()
	first.throughCompany()
	second := first // another tab of the same browser
	if page := first.follow(first.post("/register/activate", activateForm())); strings.Contains(page, "was not used") {
		t.Fatal("the activation itself says it was not used")
	}
	if rec := first.post("/register/activate", activateForm()); rec.Header().Get("Location") != "/register/done" {
		t.Fatalf("Activate sent twice: %v", rec.Header())
	}
	other := activateForm()
	other.Set("workspace", "Other WS")
	rec := second.post("/register/activate", other)
	if rec.Header().Get("Location") != "/register/done?already" {
		t.Fatalf("the tab left behind: %d %v", rec.Code, rec.Header())
	}
	page := second.get("/register/done?already").Body.String()
	if !strings.Contains(page, "what this page just sent was not used") || !strings.Contains(page, "生产环境") {
		t.Fatalf("the page after it:\n%s", page)
	}
}
