package sendcode_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/guance/aliyun-marketplace/cmd/devstack/dynamotest"
	"github.com/guance/aliyun-marketplace/shared/adapters/storage"
	"github.com/guance/aliyun-marketplace/shared/domain/guance"
	"github.com/guance/aliyun-marketplace/shared/domain/outbox"
	"github.com/guance/aliyun-marketplace/shared/domain/session"
	"github.com/guance/aliyun-marketplace/shared/domain/verification"
	"github.com/guance/aliyun-marketplace/shared/domain/verification/verificationtest"
	"github.com/guance/aliyun-marketplace/shared/endpoints/flow"
	"github.com/guance/aliyun-marketplace/shared/endpoints/i18n"
	"github.com/guance/aliyun-marketplace/shared/endpoints/routes"
	"github.com/guance/aliyun-marketplace/shared/endpoints/sendcode"
	"github.com/guance/aliyun-marketplace/shared/endpoints/web"
	"github.com/guance/aliyun-marketplace/shared/platform/logging"
	"github.com/guance/aliyun-marketplace/shared/platform/logging/logtest"
)

type fixture struct {
	routes   http.Handler
	mail     *verificationtest.Outbox
	sess     session.Session
	sessions *storage.Sessions
	db       *dynamotest.Server
	logs     *logtest.Buffer
	clock    *time.Time
	// purchases counts the purchases openSession made.
	purchases int
}

var now = time.Date(2026, 11, 26, 3, 5, 0, 0, time.UTC)

func newFixture(t testing.TB) *fixture {
	db := dynamotest.Start(t)
	sessions := db.Store().Sessions()
	accounts := db.Store().Accounts()
	if err := accounts.CreateBilling(context.Background(), guance.BillingAccount{Username: "acme", Email: "billing@acme.example"}); err != nil {
		t.Fatal(err)
	}
	hasher, _ := verification.NewHasher("a-test-secret-of-enough-length")
	sealer, _ := outbox.NewSealer("a-test-secret-of-enough-length")
	clock := now
	f := &fixture{mail: &verificationtest.Outbox{}, sessions: sessions, db: db, logs: &logtest.Buffer{}, clock: &clock}
	f.sess = f.openSession(t)
	clockFn := func() time.Time { return *f.clock }
	h := &sendcode.Handler{
		Sender: &verification.Sender{
			Store: db.Store().Codes(), Mailer: f.mail, Accounts: accounts,
			Hasher: hasher, Sealer: sealer, Limits: verification.DefaultLimits, Now: clockFn, Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		},
		Sessions: sessions,
		Web:      web.Settings{MarketplaceURL: "https://market.example/purchased"},
		Log:      logging.New(f.logs, slog.LevelInfo),
		Now:      clockFn,
	}
	f.routes = h.Routes()
	db.ResetRoundTrips()
	return f
}

// openSession opens a session of a purchase of its own (codes are the
// purchase's: two sessions of one purchase share them).
func (f *fixture) openSession(t testing.TB) session.Session {
	f.purchases++
	instance := strconv.Itoa(5604018 + f.purchases)
	sess := session.New("1234567890123456", instance, "en", now, time.Hour)
	if err := f.sessions.Open(context.Background(), session.Link{Token: sess.ID, InstanceID: instance, ExpiresAt: now}, sess); err != nil {
		t.Fatal(err)
	}
	return sess
}

func (f *fixture) postFormAs(t testing.TB, sess session.Session, ip string, form url.Values) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, routes.VerificationCodes, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.RemoteAddr = ip + ":5000"
	if sess.ID != "" {
		req.AddCookie(&http.Cookie{Name: session.CookieName, Value: sess.ID})
	}
	rec := httptest.NewRecorder()
	f.routes.ServeHTTP(rec, req)
	return rec
}

func (f *fixture) postForm(t testing.TB, form url.Values, cookie bool) *httptest.ResponseRecorder {
	sess := f.sess
	if !cookie {
		sess = session.Session{}
	}
	return f.postFormAs(t, sess, "198.51.100.4", form)
}

func (f *fixture) postJSONAs(t testing.TB, sess session.Session, ip string, body map[string]string, csrfHeader string) (*httptest.ResponseRecorder, map[string]any) {
	t.Helper()
	raw, _ := json.Marshal(body)
	req := httptest.NewRequest(http.MethodPost, routes.VerificationCodes, strings.NewReader(string(raw)))
	req.Header.Set("Content-Type", "application/json")
	req.RemoteAddr = ip + ":5000"
	if csrfHeader != "" {
		req.Header.Set("X-CSRF-Token", csrfHeader)
	}
	req.AddCookie(&http.Cookie{Name: session.CookieName, Value: sess.ID})
	rec := httptest.NewRecorder()
	f.routes.ServeHTTP(rec, req)
	var out map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
		t.Fatalf("not JSON: %s", rec.Body.String())
	}
	return rec, out
}

func (f *fixture) postJSON(t testing.TB, body map[string]string, csrfHeader string) (*httptest.ResponseRecorder, map[string]any) {
	return f.postJSONAs(t, f.sess, "198.51.100.4", body, csrfHeader)
}

func (f *fixture) get(t testing.TB, target string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodGet, target, nil)
	req.AddCookie(&http.Cookie{Name: session.CookieName, Value: f.sess.ID})
	rec := httptest.NewRecorder()
	f.routes.ServeHTTP(rec, req)
	return rec
}

func (f *fixture) form(address string) url.Values {
	return url.Values{"address": {address}, "purpose": {"register"}, "lang": {"en"}, "csrf": {f.sess.CSRF}, "return": {"/register"}}
}

// TestFormPostSendsThenPageShowsIt: the form post goes back to the page by
// a redirect (a reload does not send again); the page reads what the
// session waits for: where the code went, and the countdown to the next.
func TestFormPostSendsThenPageShowsIt(t *testing.T) {
	f := newFixture(t)
	rec := f.postForm(t, f.form("Buyer@Example.com"), true)
	if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/verification-codes?purpose=register&return=%2Fregister" {
		t.Fatalf("%d %v", rec.Code, rec.Header())
	}
	if len(f.mail.Mails()) != 1 || f.mail.Mails()[0].To != "buyer@example.com" || f.mail.Mails()[0].Lang != "en" {
		t.Fatalf("mails %+v", f.mail.Mails())
	}
	// Session read, then one transaction; the mail is the other call.
	if n := f.db.RoundTrips(); n != 2 {
		t.Errorf("%d round trips, want 2 (session, code)", n)
	}
	*f.clock = now.Add(15 * time.Second)
	page := f.get(t, rec.Header().Get("Location"))
	body := page.Body.String()
	for _, want := range []string{"We sent a code to buyer@example.com. It is valid for 10 minutes.", ".wait{--from:45}", `value="buyer@example.com"`, `href="/register"`, "disabled"} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if page.Code != 200 || strings.Contains(body, `aria-invalid="true"`) {
		t.Fatalf("%d:\n%s", page.Code, body)
	}
	code := f.mail.Mails()[0].Code
	if strings.Contains(f.logs.String(), "buyer@example.com") || strings.Contains(f.logs.String(), code) {
		t.Fatal("the address or the code was logged")
	}

	again := f.postForm(t, f.form("buyer@example.com"), true)
	body = again.Body.String()
	if again.Code != http.StatusTooManyRequests || again.Header().Get("Retry-After") != "45" || !strings.Contains(body, "Wait 45 seconds") {
		t.Fatalf("resend at once: %d %v\n%s", again.Code, again.Header(), body)
	}
	// The cooldown is not the address's fault: no red field.
	if strings.Contains(body, `aria-invalid="true"`) || !strings.Contains(body, `role="alert"`) {
		t.Fatalf("the cooldown is shown as a field error:\n%s", body)
	}
	if len(f.mail.Mails()) != 1 {
		t.Fatal("a refused resend sent mail")
	}
}

func TestJSON(t *testing.T) {
	f := newFixture(t)
	rec, out := f.postJSON(t, map[string]string{"address": "a@example.com", "purpose": "create-workspace"}, f.sess.CSRF)
	if rec.Code != 200 || out["sent"] != true || out["cooldownSeconds"] != 60.0 || out["validSeconds"] != 600.0 {
		t.Fatalf("%d %v", rec.Code, out)
	}
	if _, ok := out["maskedAddress"]; ok {
		t.Fatal("no answer names an address")
	}
	if f.mail.Mails()[0].Lang != "en" {
		t.Fatal("the session's language is the default")
	}
	rec, out = f.postJSON(t, map[string]string{"address": "a@example.com", "purpose": "create-workspace"}, f.sess.CSRF)
	e, _ := out["error"].(map[string]any)
	if rec.Code != 429 || e["code"] != "Cooldown" || e["retryAfterSeconds"] != 60.0 {
		t.Fatalf("cooldown: %d %v", rec.Code, out)
	}
}

// TestBindBillingAnswersAreIdentical: status, headers and body are the
// same bytes whether or not the username exists, in JSON and as a form.
func TestBindBillingAnswersAreIdentical(t *testing.T) {
	f := newFixture(t)
	answer := func(username string, asJSON bool) string {
		sess := f.openSession(t)
		var rec *httptest.ResponseRecorder
		if asJSON {
			rec, _ = f.postJSONAs(t, sess, "203.0.113.1", map[string]string{"username": username, "purpose": "bind-billing", "lang": "zh", "csrf": sess.CSRF}, "")
		} else {
			rec = f.postFormAs(t, sess, "203.0.113.1", url.Values{"username": {username}, "purpose": {"bind-billing"}, "lang": {"zh"}, "csrf": {sess.CSRF}, "return": {"/bind/billing"}})
		}
		var b strings.Builder
		fmt.Fprintf(&b, "%d\n", rec.Code)
		names := make([]string, 0, len(rec.Header()))
		for name := range rec.Header() {
			names = append(names, name)
		}
		slices.Sort(names)
		for _, name := range names {
			fmt.Fprintf(&b, "%s: %v\n", name, rec.Header()[name])
		}
		b.WriteString(rec.Body.String())
		return b.String()
	}
	for _, asJSON := range []bool{true, false} {
		known, unknown := answer("acme", asJSON), answer("ghost", asJSON)
		if known != unknown {
			t.Fatalf("json=%v: the answers differ:\n%s\n---\n%s", asJSON, known, unknown)
		}
		if asJSON && !strings.Contains(known, "如果该用户名存在") {
			t.Fatalf("answer %s", known)
		}
	}
	if len(f.mail.Mails()) != 0 {
		t.Fatal("a bind-billing code must not be mailed on the request path")
	}
}

// slowMailer is an SES that takes 300 ms for every mail and counts them.
type slowMailer struct{ calls atomic.Int32 }

func (m *slowMailer) SendCode(ctx context.Context, _ verification.Mail) error {
	m.calls.Add(1)
	select {
	case <-time.After(300 * time.Millisecond):
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// TestBindBillingTimeDoesNotTellUsernames: with an SES that takes 300 ms,
// no request for a real username calls it (its mail goes to the outbox);
// 20 requests for real usernames cost the same DynamoDB round trips as 20
// for unknown ones; and their median times are within 150 ms of each
// other. That margin is wide on purpose: it catches a mail on the request
// path (300 ms) and never the noise of a loaded CI machine.
// BenchmarkBindBillingTime reports the two medians.
func TestBindBillingTimeDoesNotTellUsernames(t *testing.T) {
	f := newFixture(t)
	slow := newSlowFixture(t, f)
	f.db.ResetRoundTrips()
	known := slow.median("acme")
	knownTrips := f.db.RoundTrips()
	f.db.ResetRoundTrips()
	unknown := slow.median("nobody")
	// The same DynamoDB work whatever the username: a read or write for
	// real accounts only would tell them apart by time.
	if unknownTrips := f.db.RoundTrips(); knownTrips != unknownTrips {
		t.Fatalf("%d DynamoDB round trips for 20 real usernames, %d for 20 unknown ones", knownTrips, unknownTrips)
	}
	if n := slow.mailer.calls.Load(); n != 0 {
		t.Fatalf("%d mails sent on the request path", n)
	}
	if d := known - unknown; d > 150*time.Millisecond || d < -150*time.Millisecond {
		t.Fatalf("median %s for a real username, %s for an unknown one", known, unknown)
	}
}

// BenchmarkBindBillingTime reports the median answer time for a real and an
// unknown username with a 300 ms SES, and their difference.
func BenchmarkBindBillingTime(b *testing.B) {
	var known, unknown time.Duration
	for range b.N {
		// A fresh table each time: 40 codes for one address reach its caps.
		slow := newSlowFixture(b, newFixture(b))
		known, unknown = slow.median("acme"), slow.median("nobody")
	}
	b.ReportMetric(float64(known.Microseconds())/1000, "known-median-ms")
	b.ReportMetric(float64(unknown.Microseconds())/1000, "unknown-median-ms")
	b.ReportMetric(float64((known-unknown).Abs().Microseconds())/1000, "difference-ms")
}

type slowFixture struct {
	t      testing.TB
	f      *fixture
	routes http.Handler
	mailer *slowMailer
}

func newSlowFixture(t testing.TB, f *fixture) *slowFixture {
	mailer := &slowMailer{}
	accounts := f.db.Store().Accounts()
	hasher, _ := verification.NewHasher("a-test-secret-of-enough-length")
	sealer, _ := outbox.NewSealer("a-test-secret-of-enough-length")
	h := &sendcode.Handler{
		Sender: &verification.Sender{
			Store: f.db.Store().Codes(), Mailer: mailer, Accounts: accounts,
			Hasher: hasher, Sealer: sealer, Limits: verification.DefaultLimits, Now: time.Now, Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		},
		Sessions: f.sessions, Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Now: func() time.Time { return now },
	}
	return &slowFixture{t: t, f: f, routes: h.Routes(), mailer: mailer}
}

func (s *slowFixture) median(username string) time.Duration {
	var times []time.Duration
	for i := range 20 {
		sess := s.f.openSession(s.t)
		form := url.Values{"username": {username}, "purpose": {"bind-billing"}, "lang": {"en"}, "csrf": {sess.CSRF}}
		req := httptest.NewRequest(http.MethodPost, routes.VerificationCodes, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.RemoteAddr = fmt.Sprintf("203.0.113.%d:5000", i+1)
		req.AddCookie(&http.Cookie{Name: session.CookieName, Value: sess.ID})
		rec := httptest.NewRecorder()
		start := time.Now()
		s.routes.ServeHTTP(rec, req)
		times = append(times, time.Since(start))
		if rec.Code != http.StatusSeeOther {
			s.t.Fatalf("%s %d: %d %s", username, i, rec.Code, rec.Body.String())
		}
	}
	slices.Sort(times)
	return times[len(times)/2]
}

func TestRefusals(t *testing.T) {
	tests := []struct {
		name   string
		form   func(f *fixture) url.Values
		cookie bool
		status int
		text   string
	}{
		{"no session", func(f *fixture) url.Values { return f.form("a@example.com") }, false, 401, "Your activation session has ended"},
		{"missing CSRF", func(f *fixture) url.Values { v := f.form("a@example.com"); v.Del("csrf"); return v }, true, 403, "This form has expired"},
		{"forged CSRF", func(f *fixture) url.Values { v := f.form("a@example.com"); v.Set("csrf", "x"); return v }, true, 403, "This form has expired"},
		{"malformed address", func(f *fixture) url.Values { return f.form("a@") }, true, 400, "Enter a valid email address."},
		{"unknown purpose", func(f *fixture) url.Values { v := f.form("a@example.com"); v.Set("purpose", "reset"); return v }, true, 400, "unknown purpose"},
		{"bad username", func(f *fixture) url.Values {
			v := f.form("")
			v.Set("purpose", "bind-billing")
			v.Set("username", "no spaces")
			return v
		}, true, 400, "Enter a valid username"},
		{"Chinese", func(f *fixture) url.Values { v := f.form("a@"); v.Set("lang", "zh"); return v }, true, 400, "请输入有效的邮箱地址。"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			rec := f.postForm(t, tt.form(f), tt.cookie)
			if rec.Code != tt.status || !strings.Contains(rec.Body.String(), tt.text) {
				t.Fatalf("%d, want %d with %q:\n%s", rec.Code, tt.status, tt.text, rec.Body.String())
			}
			if len(f.mail.Mails()) != 0 {
				t.Fatal("mail sent")
			}
		})
	}
}

// TestCrossOriginRefused: a form posted from another site is refused
// before anything is read, even with a valid session and token.
func TestCrossOriginRefused(t *testing.T) {
	f := newFixture(t)
	req := httptest.NewRequest(http.MethodPost, routes.VerificationCodes, strings.NewReader(f.form("a@example.com").Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	req.Header.Set("Accept-Language", "en")
	req.AddCookie(&http.Cookie{Name: session.CookieName, Value: f.sess.ID})
	rec := httptest.NewRecorder()
	f.routes.ServeHTTP(rec, req)
	if rec.Code != 403 || !strings.Contains(rec.Body.String(), "Request refused") || len(f.mail.Mails()) != 0 || f.db.RoundTrips() > 1 {
		t.Fatalf("%d %d round trips\n%s", rec.Code, f.db.RoundTrips(), rec.Body.String())
	}
}

func TestMailFailureIs503AndRetryable(t *testing.T) {
	f := newFixture(t)
	f.mail.SetFail(errors.New("MessageRejected"))
	rec, out := f.postJSON(t, map[string]string{"address": "a@example.com", "purpose": "register", "csrf": f.sess.CSRF}, "")
	if e, _ := out["error"].(map[string]any); rec.Code != 503 || e["code"] != "MailFailed" || !strings.Contains(e["message"].(string), "could not send") {
		t.Fatalf("%d %v", rec.Code, out)
	}
	f.mail.SetFail(nil)
	if rec, out := f.postJSON(t, map[string]string{"address": "a@example.com", "purpose": "register", "csrf": f.sess.CSRF}, ""); rec.Code != 200 {
		t.Fatalf("retry: %d %v", rec.Code, out)
	}
}

func TestOversizedAndMalformedBodies(t *testing.T) {
	f := newFixture(t)
	big := f.form(strings.Repeat("a", 20<<10) + "@example.com")
	if rec := f.postForm(t, big, true); rec.Code != 400 {
		t.Fatalf("oversized: %d", rec.Code)
	}
	req := httptest.NewRequest(http.MethodPost, routes.VerificationCodes, strings.NewReader("{"))
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	f.routes.ServeHTTP(rec, req)
	if rec.Code != 400 {
		t.Fatalf("bad JSON: %d", rec.Code)
	}
}

func TestPage(t *testing.T) {
	f := newFixture(t)
	rec := f.get(t, routes.VerificationCodes+"?purpose=bind-billing&return=//evil.example")
	body := rec.Body.String()
	if rec.Code != 200 || !strings.Contains(body, `name="username"`) || !strings.Contains(body, f.sess.CSRF) || strings.Contains(body, "evil.example") || !strings.Contains(body, `href="/activate"`) {
		t.Fatalf("%d\n%s", rec.Code, body)
	}
	// The language switch comes back to this page, not the activation page.
	if !strings.Contains(body, `name="return" value="/verification-codes?purpose=bind-billing&amp;return=%2Factivate"`) {
		t.Fatalf("language switch return:\n%s", body)
	}
	rec = httptest.NewRecorder()
	f.routes.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, routes.VerificationCodes, nil))
	if rec.Code != 401 || !strings.Contains(rec.Body.String(), `href="https://market.example/purchased"`) {
		t.Fatalf("without a session: %d", rec.Code)
	}
}

func TestVerifyMessagesInBothLanguages(t *testing.T) {
	for _, tt := range []struct {
		err    error
		en, zh string
	}{
		{&verification.WrongCodeError{Remaining: 3}, "The code is wrong. 3 tries left.", "还可尝试 3 次"},
		{&verification.WrongCodeError{Remaining: 1}, "The code is wrong. 1 try left.", "还可尝试 1 次"},
		{&verification.WrongCodeError{Remaining: 0}, "Too many wrong codes", "错误次数过多"},
		{verification.ErrCodeExpired, "The code has expired", "验证码已过期"},
		{verification.ErrCodeDead, "Too many wrong codes", "该验证码已失效"},
		{verification.ErrNoCode, "No code is waiting", "没有待验证的验证码"},
		{verification.ErrCodeFormat, "The code is 6 digits.", "6 位数字"},
	} {
		m := flow.VerifyMessage(tt.err)
		if en := m.In(i18n.EN); !strings.Contains(en, tt.en) {
			t.Errorf("%v: %q", tt.err, en)
		}
		if zh := m.In(i18n.ZH); !strings.Contains(zh, tt.zh) {
			t.Errorf("%v: %q", tt.err, zh)
		}
	}
}
