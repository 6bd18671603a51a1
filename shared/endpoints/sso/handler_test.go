package sso_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	miniserver "github.com/truora/minidyn/server"

	"github.com/guance/aliyun-marketplace/cmd/devstack/dynamotest"
	"github.com/guance/aliyun-marketplace/shared/adapters/marketapi"
	"github.com/guance/aliyun-marketplace/shared/adapters/storage"
	"github.com/guance/aliyun-marketplace/shared/domain/activation"
	"github.com/guance/aliyun-marketplace/shared/domain/guance"
	"github.com/guance/aliyun-marketplace/shared/domain/marketplace"
	"github.com/guance/aliyun-marketplace/shared/domain/session"
	"github.com/guance/aliyun-marketplace/shared/domain/sites"
	"github.com/guance/aliyun-marketplace/shared/endpoints/routes"
	"github.com/guance/aliyun-marketplace/shared/endpoints/sso"
	"github.com/guance/aliyun-marketplace/shared/endpoints/web"
	"github.com/guance/aliyun-marketplace/shared/platform/logging"
	"github.com/guance/aliyun-marketplace/shared/platform/logging/logtest"
)

const key = "sso-test-key"

var now = time.Date(2026, 11, 26, 3, 20, 0, 0, time.UTC) // 11:20 in Beijing

type fakeMarket struct {
	records map[string]activation.MarketRecord
	err     error
	calls   int
}

func (m *fakeMarket) Record(_ context.Context, id string) (activation.MarketRecord, error) {
	m.calls++
	if m.err != nil {
		return activation.MarketRecord{}, m.err
	}
	r, ok := m.records[id]
	if !ok {
		// What the documented answer holds for an instance it does not know:
		// no record.
		return activation.MarketRecord{}, fmt.Errorf("market openapi DescribeInstanceForIsv %s: %w", id, marketapi.ErrNotFound)
	}
	return r, nil
}

type fixture struct {
	handler   *sso.Handler
	routes    http.Handler
	db        *dynamotest.Server
	instances *storage.Instances
	sessions  *storage.Sessions
	market    *fakeMarket
	logs      *logtest.Buffer
}

func newFixture(t testing.TB) *fixture {
	db := dynamotest.Start(t)
	f := &fixture{
		db:        db,
		instances: db.Store().Instances(),
		sessions:  db.Store().Sessions(),
		market:    &fakeMarket{records: map[string]activation.MarketRecord{}},
		logs:      &logtest.Buffer{},
	}
	f.handler = &sso.Handler{
		Key: key, Window: 5 * time.Minute, SessionTTL: time.Hour, Web: web.Settings{MarketplaceURL: "https://market.example/purchased", Jar: session.Jar{Secure: true}},
		Instances: f.instances, Sessions: f.sessions, Market: f.market,
		Links:     db.Store().Links(),
		LoginURLs: sites.LoginURLs{"cn1": "https://console.example.com/login"},
		Log:       logging.New(f.logs, slog.LevelDebug),
		Now:       func() time.Time { return now },
	}
	f.routes = f.handler.Routes()
	return f
}

func (f *fixture) seed(t testing.TB, mutate func(*activation.Instance)) {
	t.Helper()
	inst := activation.Instance{
		ID: "5604018", AliUID: "1234567890123456", ProductCode: "cmgj00053362", SKU: "cmgj00053362-postpay",
		Status: activation.StatusActive, Progress: activation.ProgressPending,
		Orders:    map[string]string{activation.OrderCreate: "205060317920890"},
		LastCalls: map[marketplace.Action]activation.Call{marketplace.ActionCreateInstance: {OrderID: "205060317920890", At: now}},
		CreatedAt: now, UpdatedAt: now,
	}
	if mutate != nil {
		mutate(&inst)
	}
	if _, _, err := f.instances.Create(context.Background(), inst); err != nil {
		t.Fatal(err)
	}
	f.db.ResetRoundTrips()
}

// link is a signed verify link for instance at the given Beijing time.
func link(instance string, at time.Time) string {
	return routes.SSO + "?" + marketplace.VerifyParams(instance, at).Signed(key).Encode()
}

func (f *fixture) get(t testing.TB, target string, header ...string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, target, nil)
	for i := 0; i < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	rec := httptest.NewRecorder()
	f.routes.ServeHTTP(rec, req)
	return rec
}

func sessionCookie(t testing.TB, rec *httptest.ResponseRecorder) *http.Cookie {
	t.Helper()
	for _, c := range rec.Result().Cookies() {
		if c.Name == session.SecureCookieName {
			return c
		}
	}
	return nil
}

func TestVerifyOpensSessionAndShowsActivationPage(t *testing.T) {
	f := newFixture(t)
	f.seed(t, nil)

	rec := f.get(t, link("5604018", now.Add(-time.Minute)), "Accept-Language", "en-US,en;q=0.9,zh;q=0.5")
	if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != routes.Activate {
		t.Fatalf("verify: %d %v", rec.Code, rec.Header())
	}
	if n := f.db.RoundTrips(); n != 4 {
		t.Errorf("verify took %d round trips, want 4 (read the instance, read the UID's link, read the purchase's drafts, write link+session)", n)
	}
	c := sessionCookie(t, rec)
	if c == nil || !c.HttpOnly || !c.Secure || c.SameSite != http.SameSiteLaxMode || c.Path != "/" || c.Domain != "" || c.Name != "__Host-guance_activation" {
		t.Fatalf("session cookie %+v", c)
	}
	if loc := rec.Header().Get("Location"); strings.Contains(loc, "5604018") || strings.Contains(loc, "token") {
		t.Fatal("ids or tokens must not travel in URLs after the link")
	}

	page := f.get(t, routes.Activate, "Cookie", c.Name+"="+c.Value)
	body := page.Body.String()
	if page.Code != 200 || !strings.Contains(body, "Activate the Guance Commercial Plan") || !strings.Contains(body, "1234********3456") ||
		!strings.Contains(body, `href="/register"`) || !strings.Contains(body, `href="/bind/billing"`) || strings.Contains(body, "1234567890123456") {
		t.Fatalf("activation page %d:\n%s", page.Code, body)
	}
	if csp := page.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") || page.Header().Get("Cache-Control") != "no-store" {
		t.Fatalf("page headers %v", page.Header())
	}
	// The referrer stays on this origin (an old browser without Fetch
	// Metadata then still sends the Origin of a form post); https only.
	if csp := rec.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") || rec.Header().Get("Referrer-Policy") != "same-origin" ||
		!strings.HasPrefix(rec.Header().Get("Strict-Transport-Security"), "max-age=") {
		t.Fatalf("redirect headers %v", rec.Header())
	}
	if strings.Contains(f.logs.String(), key) {
		t.Fatal("the key was logged")
	}
}

func TestChineseByDefault(t *testing.T) {
	f := newFixture(t)
	f.seed(t, nil)
	rec := f.get(t, link("5604018", now))
	page := f.get(t, routes.Activate, "Cookie", session.SecureCookieName+"="+sessionCookie(t, rec).Value)
	if !strings.Contains(page.Body.String(), "开通观测云商业版") || page.Header().Get("Content-Language") != "zh" {
		t.Fatalf("want the Chinese page:\n%s", page.Body.String())
	}
}

func TestLanguageSwitchKeepsTheSession(t *testing.T) {
	f := newFixture(t)
	f.seed(t, nil)
	c := sessionCookie(t, f.get(t, link("5604018", now), "Accept-Language", "zh-CN"))
	sess, err := f.sessions.Get(context.Background(), c.Value, now)
	if err != nil {
		t.Fatal(err)
	}
	post := func(form url.Values, cookie string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodPost, routes.Language, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Accept-Language", "en")
		if cookie != "" {
			req.Header.Set("Cookie", session.SecureCookieName+"="+cookie)
		}
		rec := httptest.NewRecorder()
		f.routes.ServeHTTP(rec, req)
		return rec
	}
	if rec := post(url.Values{"lang": {"en"}, "csrf": {sess.CSRF}}, c.Value); rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != routes.Activate {
		t.Fatalf("switch: %d", rec.Code)
	}
	// The switch goes back to the page it was on (a local path only).
	for back, want := range map[string]string{"/verification-codes?purpose=register": "/verification-codes?purpose=register", "//evil.example/": routes.Activate, "https://evil.example/": routes.Activate} {
		if rec := post(url.Values{"lang": {"en"}, "csrf": {sess.CSRF}, "return": {back}}, c.Value); rec.Header().Get("Location") != want {
			t.Fatalf("return %q went to %q", back, rec.Header().Get("Location"))
		}
	}
	page := f.get(t, routes.Activate, "Cookie", session.SecureCookieName+"="+c.Value, "Accept-Language", "zh-CN")
	if !strings.Contains(page.Body.String(), "Activate the Guance Commercial Plan") {
		t.Fatal("the session's language must win over Accept-Language after a switch")
	}

	for name, tt := range map[string]struct {
		form   url.Values
		cookie string
		status int
		text   string
	}{
		// The refusal is in the session's language (English now), not the
		// browser's, and offers the way back.
		"forged CSRF":   {url.Values{"lang": {"zh"}, "csrf": {"forged"}}, c.Value, 403, `This form has expired`},
		"missing CSRF":  {url.Values{"lang": {"zh"}}, c.Value, 403, `href="/activate"`},
		"no session":    {url.Values{"lang": {"en"}, "csrf": {sess.CSRF}}, "", 401, "Your activation session has ended"},
		"bad language":  {url.Values{"lang": {"fr"}, "csrf": {sess.CSRF}}, c.Value, 400, "We could not read this form"},
		"stale session": {url.Values{"lang": {"en"}, "csrf": {sess.CSRF}}, strings.Repeat("x", 43), 401, "Your activation session has ended"},
	} {
		rec := post(tt.form, tt.cookie)
		if rec.Code != tt.status || !strings.Contains(rec.Body.String(), tt.text) {
			t.Errorf("%s: %d, want %d with %q:\n%s", name, rec.Code, tt.status, tt.text, rec.Body.String())
		}
	}
	if got, _ := f.sessions.Get(context.Background(), c.Value, now); got.Lang != "en" {
		t.Fatalf("refused switches changed the language to %s", got.Lang)
	}
}

func TestRefusedLinks(t *testing.T) {
	signed := func(p marketplace.Params) string { return routes.SSO + "?" + p.Signed(key).Encode() }
	good := marketplace.VerifyParams("5604018", now)
	tests := []struct {
		name   string
		target string
		status int
		text   string
	}{
		{"missing token", routes.SSO + "?" + good.Encode(), 403, "signature is not valid"},
		{"wrong key", routes.SSO + "?" + good.Signed("other-key").Encode(), 403, "signature is not valid"},
		{"tampered instance", strings.Replace(link("5604018", now), "5604018", "5604019", 1), 403, "signature is not valid"},
		{"not a verify link", signed(marketplace.Params{"action": "createInstance", "instanceId": "5604018", "timeStamp": marketplace.FormatTime(now)}), 400, "missing information or is malformed"},
		{"malformed instance", signed(marketplace.Params{"action": "verify", "instanceId": "56x", "timeStamp": marketplace.FormatTime(now)}), 400, "missing information or is malformed"},
		{"malformed timeStamp", signed(marketplace.Params{"action": "verify", "instanceId": "5604018", "timeStamp": "yesterday"}), 400, "missing information or is malformed"},
		{"stale", link("5604018", now.Add(-6*time.Minute)), 410, "has expired"},
		{"from the future", link("5604018", now.Add(6*time.Minute)), 403, "Wait a minute and try again"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			f.seed(t, nil)
			rec := f.get(t, tt.target, "Accept-Language", "en")
			if rec.Code != tt.status || !strings.Contains(rec.Body.String(), tt.text) || !strings.Contains(rec.Body.String(), `href="https://market.example/purchased"`) {
				t.Fatalf("%d, want %d with %q:\n%s", rec.Code, tt.status, tt.text, rec.Body.String())
			}
			if sessionCookie(t, rec) != nil {
				t.Fatal("a refused link must open no session")
			}
			if n := f.db.RoundTrips(); n != 0 {
				t.Fatalf("a refused link made %d round trips", n)
			}
			if !strings.Contains(f.logs.String(), `"msg":"activation request refused"`) || strings.Contains(f.logs.String(), key) {
				t.Fatalf("log: %s", f.logs.String())
			}
		})
	}
}

func TestReplayedLink(t *testing.T) {
	f := newFixture(t)
	f.seed(t, nil)
	target := link("5604018", now)
	if rec := f.get(t, target); rec.Code != http.StatusSeeOther {
		t.Fatalf("first use: %d", rec.Code)
	}
	// Upper-case hex is the same token, so the same link.
	for _, again := range []string{target, upperToken(target)} {
		rec := f.get(t, again, "Accept-Language", "en")
		if rec.Code != http.StatusConflict || !strings.Contains(rec.Body.String(), "already used") || sessionCookie(t, rec) != nil {
			t.Fatalf("replay: %d %s", rec.Code, rec.Body.String())
		}
	}
	// A browser that has the session from the first click is offered the
	// way back into it.
	first := f.get(t, link("5604018", now.Add(time.Second)), "Accept-Language", "en")
	rec := f.get(t, link("5604018", now.Add(time.Second)), "Cookie", session.SecureCookieName+"="+sessionCookie(t, first).Value, "Accept-Language", "zh")
	if rec.Code != http.StatusConflict || !strings.Contains(rec.Body.String(), `href="/activate"`) || !strings.Contains(rec.Body.String(), "Continue activating") {
		t.Fatalf("replay with a session: %d %s", rec.Code, rec.Body.String())
	}
}

func upperToken(target string) string {
	i := strings.Index(target, "token=")
	return target[:i] + "token=" + strings.ToUpper(target[i+len("token="):i+len("token=")+32]) + target[i+len("token=")+32:]
}

// TestConcurrentUseOfOneLink: two browsers racing with one link, exactly one
// gets a session.
func TestConcurrentUseOfOneLink(t *testing.T) {
	f := newFixture(t)
	f.seed(t, nil)
	target := link("5604018", now)
	const n = 12
	codes := make([]int, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { codes[i] = f.get(t, target).Code })
	}
	wg.Wait()
	won := 0
	for _, c := range codes {
		switch c {
		case http.StatusSeeOther:
			won++
		case http.StatusConflict:
		default:
			t.Fatalf("unexpected status %d", c)
		}
	}
	if won != 1 {
		t.Fatalf("%d requests got a session, want exactly 1", won)
	}
}

func TestInstanceStates(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*activation.Instance)
		status int
		text   string
		to     string
	}{
		{"released before activation", func(i *activation.Instance) { i.Status = activation.StatusReleased }, 410, "its Guance Commercial Plan service is closed.</p>", ""},
		{"released after activation", func(i *activation.Instance) {
			i.Status, i.Progress, i.Workspaces = activation.StatusReleased, activation.ProgressActivated, []string{"wksp_1"}
		}, 410, "went back to billing center settlement", ""},
		{"frozen", func(i *activation.Instance) { i.Status = activation.StatusFrozen }, 403, "frozen because of unpaid bills", ""},
		{"activated goes to the workspace's site", func(i *activation.Instance) {
			i.Progress, i.Workspaces, i.LoginSite = activation.ProgressActivated, []string{"wksp_1"}, "cn1"
		}, 303, "", "https://console.example.com/login"},
		{"activated on a site without a login URL", func(i *activation.Instance) {
			i.Progress, i.Workspaces, i.LoginSite = activation.ProgressActivated, []string{"wksp_1"}, "us1"
		}, 503, "could not complete this", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			f.seed(t, tt.mutate)
			rec := f.get(t, link("5604018", now), "Accept-Language", "en")
			if rec.Code != tt.status || !strings.Contains(rec.Body.String(), tt.text) || rec.Header().Get("Location") != tt.to {
				t.Fatalf("%d %v:\n%s", rec.Code, rec.Header(), rec.Body.String())
			}
			if sessionCookie(t, rec) != nil {
				t.Fatal("no session is opened here")
			}
			if tt.to != "" {
				if n := f.db.RoundTrips(); n != 2 {
					t.Errorf("%d round trips, want 2 (read the instance, consume the link)", n)
				}
				if again := f.get(t, link("5604018", now)); again.Code != http.StatusConflict {
					t.Fatalf("the link must be used up: %d", again.Code)
				}
			}
		})
	}
}

func TestLostCallbackIsRecoveredFromTheOpenAPI(t *testing.T) {
	f := newFixture(t)
	f.market.records["5700001"] = activation.MarketRecord{InstanceID: "5700001", OrderID: "205060317920777", AliUID: "1234567890123457", ProductCode: "cmgj00053362", SKU: "cmgj00053362-postpay", Status: activation.MarketOpened}

	rec := f.get(t, link("5700001", now))
	if rec.Code != http.StatusSeeOther || sessionCookie(t, rec) == nil {
		t.Fatalf("%d %s", rec.Code, rec.Body.String())
	}
	inst, err := f.instances.Get(context.Background(), "5700001")
	if err != nil || inst.AliUID != "1234567890123457" || inst.Status != activation.StatusActive || inst.Progress != activation.ProgressPending {
		t.Fatalf("recovered %+v, %v", inst, err)
	}
	// A later createInstance for the same instance is answered, not doubled.
	if _, created, err := f.instances.Create(context.Background(), inst); err != nil || created {
		t.Fatalf("createInstance after recovery: created=%v %v", created, err)
	}
	calls := f.market.calls
	f.get(t, link("5700001", now.Add(time.Second)))
	if f.market.calls != calls {
		t.Fatal("a recorded instance must not be asked about again")
	}
}

func TestUnknownInstanceAndMarketFailures(t *testing.T) {
	f := newFixture(t)
	rec := f.get(t, link("9999999", now), "Accept-Language", "en")
	if rec.Code != http.StatusNotFound || !strings.Contains(rec.Body.String(), "We cannot find this purchase") {
		t.Fatalf("unknown: %d %s", rec.Code, rec.Body.String())
	}

	f.market.err = fmt.Errorf("market openapi DescribeInstanceForIsv: %w (SDK.ServerUnreachable: timeout)", marketapi.ErrUnavailable)
	rec = f.get(t, link("9999999", now.Add(time.Second)), "Accept-Language", "en")
	if rec.Code != http.StatusBadGateway || !strings.Contains(rec.Body.String(), "The marketplace is not answering") {
		t.Fatalf("market down: %d %s", rec.Code, rec.Body.String())
	}
	if !strings.Contains(f.logs.String(), `"code":"MarketUnavailable"`) {
		t.Fatal("market failure not logged")
	}
	// A refusal of the OpenAPI, even one whose code says "not found", is
	// a marketplace that did not answer: the buyer of a real purchase sees
	// the retry page, never "we cannot find your purchase".
	f.market.err = fmt.Errorf("market openapi DescribeInstanceForIsv: %w", &marketapi.APIError{Action: "DescribeInstanceForIsv", Status: 404, Code: "InstanceNotFound"})
	rec = f.get(t, link("9999999", now.Add(2*time.Second)), "Accept-Language", "en")
	if rec.Code != http.StatusBadGateway || strings.Contains(rec.Body.String(), "We cannot find this purchase") {
		t.Fatalf("a refusal read as an unknown purchase: %d", rec.Code)
	}
}

func TestActivationPageWithoutSession(t *testing.T) {
	f := newFixture(t)
	for _, cookie := range []string{"", session.SecureCookieName + "=short", session.SecureCookieName + "=" + strings.Repeat("a", 43)} {
		rec := f.get(t, routes.Activate, "Cookie", cookie, "Accept-Language", "en")
		if rec.Code != http.StatusUnauthorized || !strings.Contains(rec.Body.String(), "Your activation session has ended") {
			t.Fatalf("cookie %q: %d", cookie, rec.Code)
		}
	}
}

// TestNotFound: any path no function serves is a branded page in the
// buyer's language, with the way back into a live session.
func TestNotFound(t *testing.T) {
	f := newFixture(t)
	f.seed(t, nil)
	for _, path := range []string{"/nowhere", "/register", "/bind/billing", "/"} {
		rec := f.get(t, path, "Accept-Language", "fr-FR,en;q=0.5")
		if rec.Code != http.StatusNotFound || !strings.Contains(rec.Body.String(), "Page not found") || !strings.Contains(rec.Body.String(), "https://market.example/purchased") {
			t.Fatalf("%s: %d %s", path, rec.Code, rec.Body.String())
		}
	}
	c := sessionCookie(t, f.get(t, link("5604018", now), "Accept-Language", "zh-CN"))
	rec := f.get(t, "/register", "Cookie", session.SecureCookieName+"="+c.Value, "Accept-Language", "en")
	if rec.Code != http.StatusNotFound || !strings.Contains(rec.Body.String(), "页面不存在") || !strings.Contains(rec.Body.String(), `href="/activate"`) {
		t.Fatalf("with a session: %d %s", rec.Code, rec.Body.String())
	}
}

// TestCrossOriginPostRefused: the language switch posted from another site
// is refused before it is read.
func TestCrossOriginPostRefused(t *testing.T) {
	f := newFixture(t)
	req := httptest.NewRequest(http.MethodPost, routes.Language, strings.NewReader("lang=en&csrf=x"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", "https://evil.example")
	req.Header.Set("Accept-Language", "en")
	rec := httptest.NewRecorder()
	f.routes.ServeHTTP(rec, req)
	if rec.Code != http.StatusForbidden || !strings.Contains(rec.Body.String(), "sent from another site") {
		t.Fatalf("%d %s", rec.Code, rec.Body.String())
	}
}

// TestAllAcceptLanguageValues: the Lambda adapter splits the header at its
// commas; the page still sees every range.
func TestAllAcceptLanguageValues(t *testing.T) {
	f := newFixture(t)
	req := httptest.NewRequest(http.MethodGet, "/nowhere", nil)
	for _, v := range []string{"fr-FR", "en;q=0.5", "zh;q=0.4"} {
		req.Header.Add("Accept-Language", v)
	}
	rec := httptest.NewRecorder()
	f.routes.ServeHTTP(rec, req)
	if rec.Header().Get("Content-Language") != "en" {
		t.Fatalf("language %q from %v", rec.Header().Get("Content-Language"), req.Header.Values("Accept-Language"))
	}
}

func TestStoreFailureIsA503(t *testing.T) {
	f := newFixture(t)
	f.seed(t, nil)
	f.db.Engine.EmulateFailureForTable(f.db.Tables["SessionsTable"], miniserver.FailureConditionInternalServerError)
	rec := f.get(t, link("5604018", now), "Accept-Language", "en")
	if rec.Code != http.StatusServiceUnavailable || sessionCookie(t, rec) != nil {
		t.Fatalf("%d", rec.Code)
	}
	io.Copy(io.Discard, rec.Body)
}

// TestLinkedUIDGoesToWorkspaceBinding: a later purchase of a buyer whose
// Alibaba Cloud account is linked already goes straight to the workspace
// binding page; the activation page is for unlinked accounts only.
func TestLinkedUIDGoesToWorkspaceBinding(t *testing.T) {
	f := newFixture(t)
	f.seed(t, nil)
	// An earlier purchase of the same account was activated by registration.
	f.seed(t, func(i *activation.Instance) { i.ID = "5604017" })
	records := storage.New(f.db.Client(), storage.Tables{Instances: f.db.Tables["InstancesTable"], Sessions: f.db.Tables["SessionsTable"],
		Accounts: f.db.Tables["AccountsTable"], Workspaces: f.db.Tables["WorkspacesTable"], Outbox: f.db.Tables["OutboxTable"], Audit: f.db.Tables["AuditTable"]})
	earlier := session.New("1234567890123456", "5604017", "en", now, time.Hour)
	if err := f.sessions.Open(context.Background(), session.Link{Token: "earlier", InstanceID: "5604017", ExpiresAt: now.Add(time.Hour)}, earlier); err != nil {
		t.Fatal(err)
	}
	ws := guance.Workspace{ID: guance.NewWorkspaceID(), Name: "prod", Site: "cn1", Owner: "alice", BillingAccount: "alice", Settlement: guance.ByInstance("1234567890123456", "5604017"), CreatedAt: now}
	if err := records.Registrations().Register(context.Background(), guance.Registration{
		Account: guance.Account{Username: "alice", Email: "a@example.com"}, Billing: guance.BillingAccount{Username: "alice", Email: "a@example.com"},
		Workspace: ws, UID: "1234567890123456", Instance: "5604017", At: now,
	}, session.Step{SessionID: earlier.ID, Flow: "register"}, nil); err != nil {
		t.Fatal(err)
	}
	rec := f.get(t, link("5604018", now))
	if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/bind/workspace" {
		t.Fatalf("a linked UID's new purchase: %d %v", rec.Code, rec.Header())
	}
	page := f.get(t, routes.Activate, "Cookie", session.SecureCookieName+"="+sessionCookie(t, rec).Value)
	if page.Code != http.StatusSeeOther || page.Header().Get("Location") != "/bind/workspace" {
		t.Fatalf("the activation page for a linked UID: %d %v", page.Code, page.Header())
	}
	// The activated earlier purchase still goes to its site's login page.
	if rec := f.get(t, link("5604017", now)); rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "https://console.example.com/login" {
		t.Fatalf("the activated purchase: %d %v", rec.Code, rec.Header())
	}
}

// post sends a form to the routes, as a browser of this origin does.
func (f *fixture) post(t testing.TB, target string, form url.Values, header ...string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, target, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for i := 0; i < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	rec := httptest.NewRecorder()
	f.routes.ServeHTTP(rec, req)
	return rec
}

// TestOnlyTheHostCookieOverHTTPS: over https a plain session cookie (which
// a sibling host, or anyone on a plain-http hop, can plant) is no session.
func TestOnlyTheHostCookieOverHTTPS(t *testing.T) {
	f := newFixture(t)
	f.seed(t, nil)
	c := sessionCookie(t, f.get(t, link("5604018", now)))
	if page := f.get(t, routes.Activate, "Cookie", session.CookieName+"="+c.Value); page.Code != http.StatusUnauthorized {
		t.Fatalf("a planted plain cookie opened the activation page: %d", page.Code)
	}
	if page := f.get(t, routes.Activate, "Cookie", session.SecureCookieName+"="+c.Value); page.Code != http.StatusOK {
		t.Fatalf("the host cookie: %d", page.Code)
	}
}

// TestSignOut: Sign out ends the session (the same cookie then has none)
// and the cookie; without the page's CSRF token nothing ends.
func TestSignOut(t *testing.T) {
	f := newFixture(t)
	f.seed(t, nil)
	c := sessionCookie(t, f.get(t, link("5604018", now), "Accept-Language", "en"))
	sess, err := f.sessions.Get(context.Background(), c.Value, now)
	if err != nil {
		t.Fatal(err)
	}
	cookie := session.SecureCookieName + "=" + c.Value
	if rec := f.post(t, routes.SignOut, url.Values{"csrf": {"forged"}}, "Cookie", cookie); rec.Code != http.StatusForbidden {
		t.Fatalf("sign out without the CSRF token: %d", rec.Code)
	}
	rec := f.post(t, routes.SignOut, url.Values{"csrf": {sess.CSRF}}, "Cookie", cookie, "Accept-Language", "en")
	// A redirect (a reload does not send the form again) to a calm page.
	if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/activate/problem?code=SignedOut&lang=en" {
		t.Fatalf("sign out: %d %v", rec.Code, rec.Header())
	}
	if got := rec.Header().Get("Set-Cookie"); !strings.HasPrefix(got, session.SecureCookieName+"=;") || !strings.Contains(got, "Max-Age=0") {
		t.Fatalf("the cookie is not cleared: %q", got)
	}
	if page := f.get(t, routes.Activate, "Cookie", cookie); page.Code != http.StatusUnauthorized {
		t.Fatalf("the ended session still opens the activation page: %d", page.Code)
	}
	page := f.get(t, rec.Header().Get("Location"))
	body := page.Body.String()
	if page.Code != http.StatusOK || !strings.Contains(body, "signed out") || !strings.Contains(body, "a new Login Without Password link continues it") ||
		strings.Contains(body, `role="alert"`) || strings.Contains(body, `name="csrf"`) {
		t.Fatalf("the signed-out page: %d\n%s", page.Code, body)
	}
}

// TestErrorPageSwitchesLanguage: an error page without a session offers
// the other language as a link to the same page, which says the same in
// it; a code no page has is the not-found page.
func TestErrorPageSwitchesLanguage(t *testing.T) {
	f := newFixture(t)
	f.seed(t, nil)
	stale := f.get(t, link("5604018", now.Add(-time.Hour)), "Accept-Language", "zh-CN")
	if stale.Code != http.StatusGone || !strings.Contains(stale.Body.String(), `href="/activate/problem?code=LinkExpired&amp;lang=en"`) {
		t.Fatalf("the expired link's page (%d) has no switch to English:\n%s", stale.Code, stale.Body.String())
	}
	en := f.get(t, "/activate/problem?code=LinkExpired&lang=en")
	if en.Code != http.StatusGone || en.Header().Get("Content-Language") != "en" || !strings.Contains(en.Body.String(), "market.example/purchased") ||
		!strings.Contains(en.Body.String(), `lang=zh`) {
		t.Fatalf("the same page in English: %d\n%s", en.Code, en.Body.String())
	}
	for _, code := range []string{"", "Nope", "<script>"} {
		if rec := f.get(t, "/activate/problem?lang=en&code="+url.QueryEscape(code)); rec.Code != http.StatusNotFound {
			t.Errorf("code %q: %d", code, rec.Code)
		}
	}
}

// TestFormPostOfAnOldBrowser: a browser without Fetch Metadata sends only
// Origin on a form post, our own (the referrer policy keeps it): taken. One
// that sends "Origin: null" or another site's is refused.
func TestFormPostOfAnOldBrowser(t *testing.T) {
	f := newFixture(t)
	f.seed(t, nil)
	c := sessionCookie(t, f.get(t, link("5604018", now)))
	sess, _ := f.sessions.Get(context.Background(), c.Value, now)
	cookie := session.SecureCookieName + "=" + c.Value
	form := url.Values{"csrf": {sess.CSRF}, "lang": {"en"}, "return": {routes.Activate}}
	if rec := f.post(t, routes.Language, form, "Cookie", cookie, "Origin", "http://example.com"); rec.Code != http.StatusSeeOther {
		t.Fatalf("an old browser's same-origin post: %d", rec.Code)
	}
	for _, origin := range []string{"null", "https://evil.example"} {
		if rec := f.post(t, routes.Language, form, "Cookie", cookie, "Origin", origin); rec.Code != http.StatusForbidden {
			t.Errorf("Origin %s: %d", origin, rec.Code)
		}
	}
}

// TestLinkOfAnotherProduct: the ISV key signs the Login Without Password
// links of every product of the ISV. A buyer of another product pointing
// that product's link at our authUrl gets the unknown-purchase page:
// nothing is recovered, no session opens.
func TestLinkOfAnotherProduct(t *testing.T) {
	f := newFixture(t)
	f.handler.Products = []string{"cmgj00053362"}
	f.market.records["5800001"] = activation.MarketRecord{InstanceID: "5800001", OrderID: "205060317920999",
		AliUID: "1234567890123999", ProductCode: "cmgj00099999", SKU: "cmgj00099999-trial", Status: activation.MarketOpened}
	rec := f.get(t, link("5800001", now))
	if rec.Code != http.StatusNotFound || sessionCookie(t, rec) != nil {
		t.Fatalf("another product's link: %d %v", rec.Code, rec.Header())
	}
	if _, err := f.instances.Get(context.Background(), "5800001"); !errors.Is(err, activation.ErrInstanceNotFound) {
		t.Fatalf("another product's instance recorded: %v", err)
	}
	f.market.records["5800002"] = activation.MarketRecord{InstanceID: "5800002", OrderID: "205060317921000",
		AliUID: "1234567890123999", ProductCode: "cmgj00053362", SKU: "cmgj00053362-postpay", Status: activation.MarketOpened}
	if rec := f.get(t, link("5800002", now)); rec.Code != http.StatusSeeOther {
		t.Fatalf("our product's lost createInstance: %d", rec.Code)
	}
}

// TestReplayOfAnActivatedPurchase: a link of an activated purchase used
// twice says so, and leads to the console, not to "continue activating".
func TestReplayOfAnActivatedPurchase(t *testing.T) {
	f := newFixture(t)
	f.seed(t, func(i *activation.Instance) {
		i.Progress, i.LoginSite, i.Workspaces = activation.ProgressActivated, "cn1", []string{"wksp_a"}
	})
	l := link("5604018", now)
	if rec := f.get(t, l); rec.Code != http.StatusSeeOther {
		t.Fatalf("first: %d", rec.Code)
	}
	rec := f.get(t, l, "Accept-Language", "en")
	body := rec.Body.String()
	if rec.Code != http.StatusConflict || !strings.Contains(body, `href="https://console.example.com/login"`) || strings.Contains(body, "Continue activating") {
		t.Fatalf("replay of an activated purchase's link: %d\n%s", rec.Code, body)
	}
}

// TestLinkSignedWithThePreviousKey: while a rotation lasts, a link the
// marketplace signed with the previous key opens a session; after it, the
// same kind of link is refused.
func TestLinkSignedWithThePreviousKey(t *testing.T) {
	f := newFixture(t)
	f.seed(t, nil)
	old := routes.SSO + "?" + marketplace.VerifyParams("5604018", now.Add(-time.Minute)).Signed("old-key").Encode()
	f.handler.PreviousKey = "old-key"
	if rec := f.get(t, old); rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != routes.Activate {
		t.Fatalf("during the rotation: %d %v", rec.Code, rec.Header())
	}
	f.handler.PreviousKey = ""
	again := routes.SSO + "?" + marketplace.VerifyParams("5604018", now.Add(-30*time.Second)).Signed("old-key").Encode()
	if rec := f.get(t, again); rec.Code == http.StatusSeeOther {
		t.Fatalf("after the rotation: %d %v", rec.Code, rec.Header())
	}
}
