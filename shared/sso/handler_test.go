package sso_test

import (
	"context"
	"errors"
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

	"github.com/guance/aliyun-marketplace/shared/activation"
	"github.com/guance/aliyun-marketplace/shared/dynamotest"
	"github.com/guance/aliyun-marketplace/shared/logging"
	"github.com/guance/aliyun-marketplace/shared/logging/logtest"
	"github.com/guance/aliyun-marketplace/shared/marketapi"
	"github.com/guance/aliyun-marketplace/shared/marketplace"
	"github.com/guance/aliyun-marketplace/shared/session"
	"github.com/guance/aliyun-marketplace/shared/sites"
	"github.com/guance/aliyun-marketplace/shared/sso"
	"github.com/guance/aliyun-marketplace/shared/storage"
)

const key = "sso-test-key"

var now = time.Date(2026, 11, 26, 3, 20, 0, 0, time.UTC) // 11:20 in Beijing

type fakeMarket struct {
	instances map[string]marketapi.Instance
	orders    map[string]marketapi.Order
	err       error
	calls     int
}

func (m *fakeMarket) DescribeInstance(_ context.Context, id string) (marketapi.Instance, error) {
	m.calls++
	if m.err != nil {
		return marketapi.Instance{}, m.err
	}
	inst, ok := m.instances[id]
	if !ok {
		return marketapi.Instance{}, &marketapi.APIError{Action: "DescribeInstanceForIsv", Status: 404, Code: "InstanceNotFound"}
	}
	return inst, nil
}

func (m *fakeMarket) DescribeOrder(_ context.Context, id string) (marketapi.Order, error) {
	m.calls++
	order, ok := m.orders[id]
	if !ok {
		return marketapi.Order{}, &marketapi.APIError{Action: "DescribeOrderForIsv", Status: 404, Code: "OrderNotFound"}
	}
	return order, nil
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
		instances: storage.NewInstances(db.Client(), db.Tables["InstancesTable"]),
		sessions:  storage.NewSessions(db.Client(), db.Tables["SessionsTable"]),
		market:    &fakeMarket{instances: map[string]marketapi.Instance{}, orders: map[string]marketapi.Order{}},
		logs:      &logtest.Buffer{},
	}
	f.handler = &sso.Handler{
		Key: key, Window: 5 * time.Minute, SessionTTL: time.Hour, CookieSecure: true,
		Instances: f.instances, Sessions: f.sessions, Market: f.market,
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
		Status: activation.StatusActive, Progress: activation.ProgressPending, LastOrderID: "205060317920890",
		Applied: map[string]time.Time{"order:205060317920890": now}, History: []activation.HistoryEntry{{Action: "createInstance", At: now}},
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
	return sso.SSOPath + "?" + marketplace.VerifyParams(instance, at).Signed(key).Encode()
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
		if c.Name == session.CookieName {
			return c
		}
	}
	return nil
}

func TestVerifyOpensSessionAndShowsActivationPage(t *testing.T) {
	f := newFixture(t)
	f.seed(t, nil)

	rec := f.get(t, link("5604018", now.Add(-time.Minute)), "Accept-Language", "en-US,en;q=0.9,zh;q=0.5")
	if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != sso.ActivatePath {
		t.Fatalf("verify: %d %v", rec.Code, rec.Header())
	}
	if n := f.db.RoundTrips(); n != 2 {
		t.Errorf("verify took %d round trips, want 2 (read the instance, write link+session)", n)
	}
	c := sessionCookie(t, rec)
	if c == nil || !c.HttpOnly || !c.Secure || c.SameSite != http.SameSiteLaxMode || c.Path != "/" {
		t.Fatalf("session cookie %+v", c)
	}
	if loc := rec.Header().Get("Location"); strings.Contains(loc, "5604018") || strings.Contains(loc, "token") {
		t.Fatal("ids or tokens must not travel in URLs after the link")
	}

	page := f.get(t, sso.ActivatePath, "Cookie", c.Name+"="+c.Value)
	body := page.Body.String()
	if page.Code != 200 || !strings.Contains(body, "Activate the Guance Commercial Plan") || !strings.Contains(body, "1234********3456") ||
		!strings.Contains(body, `href="/register"`) || !strings.Contains(body, `href="/bind"`) || strings.Contains(body, "1234567890123456") {
		t.Fatalf("activation page %d:\n%s", page.Code, body)
	}
	if csp := page.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") || page.Header().Get("Cache-Control") != "no-store" {
		t.Fatalf("page headers %v", page.Header())
	}
	if strings.Contains(f.logs.String(), key) {
		t.Fatal("the key was logged")
	}
}

func TestChineseByDefault(t *testing.T) {
	f := newFixture(t)
	f.seed(t, nil)
	rec := f.get(t, link("5604018", now))
	page := f.get(t, sso.ActivatePath, "Cookie", session.CookieName+"="+sessionCookie(t, rec).Value)
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
		req := httptest.NewRequest(http.MethodPost, sso.LanguagePath, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Accept-Language", "en")
		if cookie != "" {
			req.Header.Set("Cookie", session.CookieName+"="+cookie)
		}
		rec := httptest.NewRecorder()
		f.routes.ServeHTTP(rec, req)
		return rec
	}
	if rec := post(url.Values{"lang": {"en"}, "csrf": {sess.CSRF}}, c.Value); rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != sso.ActivatePath {
		t.Fatalf("switch: %d", rec.Code)
	}
	page := f.get(t, sso.ActivatePath, "Cookie", session.CookieName+"="+c.Value, "Accept-Language", "zh-CN")
	if !strings.Contains(page.Body.String(), "Activate the Guance Commercial Plan") {
		t.Fatal("the session's language must win over Accept-Language after a switch")
	}

	for name, tt := range map[string]struct {
		form   url.Values
		cookie string
		status int
		text   string
	}{
		"forged CSRF":   {url.Values{"lang": {"en"}, "csrf": {"forged"}}, c.Value, 403, "The form has expired"},
		"missing CSRF":  {url.Values{"lang": {"zh"}}, c.Value, 403, "表单已过期"},
		"no session":    {url.Values{"lang": {"en"}, "csrf": {sess.CSRF}}, "", 401, "Your session has ended"},
		"bad language":  {url.Values{"lang": {"fr"}, "csrf": {sess.CSRF}}, c.Value, 400, "incomplete or malformed"},
		"stale session": {url.Values{"lang": {"en"}, "csrf": {sess.CSRF}}, strings.Repeat("x", 43), 401, "Your session has ended"},
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
	signed := func(p marketplace.Params) string { return sso.SSOPath + "?" + p.Signed(key).Encode() }
	good := marketplace.VerifyParams("5604018", now)
	tests := []struct {
		name   string
		target string
		status int
		text   string
	}{
		{"missing token", sso.SSOPath + "?" + good.Encode(), 403, "signature is not valid"},
		{"wrong key", sso.SSOPath + "?" + good.Signed("other-key").Encode(), 403, "signature is not valid"},
		{"tampered instance", strings.Replace(link("5604018", now), "5604018", "5604019", 1), 403, "signature is not valid"},
		{"not a verify link", signed(marketplace.Params{"action": "createInstance", "instanceId": "5604018", "timeStamp": marketplace.FormatTime(now)}), 400, "incomplete or malformed"},
		{"malformed instance", signed(marketplace.Params{"action": "verify", "instanceId": "56x", "timeStamp": marketplace.FormatTime(now)}), 400, "incomplete or malformed"},
		{"malformed timeStamp", signed(marketplace.Params{"action": "verify", "instanceId": "5604018", "timeStamp": "yesterday"}), 400, "incomplete or malformed"},
		{"stale", link("5604018", now.Add(-6*time.Minute)), 410, "has expired"},
		{"from the future", link("5604018", now.Add(6*time.Minute)), 403, "dated later than our clock"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			f.seed(t, nil)
			rec := f.get(t, tt.target, "Accept-Language", "en")
			if rec.Code != tt.status || !strings.Contains(rec.Body.String(), tt.text) || !strings.Contains(rec.Body.String(), "Purchased Services") {
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
		{"released", func(i *activation.Instance) { i.Status = activation.StatusReleased }, 410, "service was closed", ""},
		{"frozen", func(i *activation.Instance) { i.Status = activation.StatusFrozen }, 403, "frozen because of unpaid bills", ""},
		{"activated goes to the workspace's site", func(i *activation.Instance) {
			i.Progress = activation.ProgressActivated
			i.Workspace = &activation.Workspace{ID: "wksp_1", Name: "prod", Site: "cn1"}
		}, 303, "", "https://console.example.com/login"},
		{"activated on a site without a login URL", func(i *activation.Instance) {
			i.Progress = activation.ProgressActivated
			i.Workspace = &activation.Workspace{ID: "wksp_1", Name: "prod", Site: "us1"}
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
	f.market.instances["5700001"] = marketapi.Instance{InstanceID: "5700001", OrderID: "205060317920777", ProductCode: "cmgj00053362", SKU: "cmgj00053362-postpay", Status: "OPENED"}
	f.market.orders["205060317920777"] = marketapi.Order{OrderID: "205060317920777", AliUID: "1234567890123457"}

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
	if rec.Code != http.StatusNotFound || !strings.Contains(rec.Body.String(), "cannot find this product instance") {
		t.Fatalf("unknown: %d %s", rec.Code, rec.Body.String())
	}

	f.market.err = errors.Join(marketapi.ErrUnavailable, errors.New("dial tcp: timeout"))
	rec = f.get(t, link("9999999", now.Add(time.Second)), "Accept-Language", "en")
	if rec.Code != http.StatusBadGateway || !strings.Contains(rec.Body.String(), "could not complete this") {
		t.Fatalf("market down: %d %s", rec.Code, rec.Body.String())
	}
	if !strings.Contains(f.logs.String(), `"code":"MarketUnavailable"`) {
		t.Fatal("market failure not logged")
	}

	f.market.err = nil
	f.market.instances["9999999"] = marketapi.Instance{InstanceID: "9999999", OrderID: "1"}
	f.market.orders["1"] = marketapi.Order{OrderID: "1", AliUID: "not-a-uid"}
	if rec := f.get(t, link("9999999", now.Add(2*time.Second))); rec.Code != http.StatusBadGateway {
		t.Fatalf("unusable OpenAPI record: %d", rec.Code)
	}
}

func TestActivationPageWithoutSession(t *testing.T) {
	f := newFixture(t)
	for _, cookie := range []string{"", session.CookieName + "=short", session.CookieName + "=" + strings.Repeat("a", 43)} {
		rec := f.get(t, sso.ActivatePath, "Cookie", cookie, "Accept-Language", "en")
		if rec.Code != http.StatusUnauthorized || !strings.Contains(rec.Body.String(), "Your session has ended") {
			t.Fatalf("cookie %q: %d", cookie, rec.Code)
		}
	}
	if rec := f.get(t, "/nowhere", "Accept-Language", "en"); rec.Code != http.StatusNotFound {
		t.Fatalf("unknown path: %d", rec.Code)
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
