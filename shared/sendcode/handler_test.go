package sendcode_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/guance/aliyun-marketplace/shared/dynamotest"
	"github.com/guance/aliyun-marketplace/shared/logging"
	"github.com/guance/aliyun-marketplace/shared/sendcode"
	"github.com/guance/aliyun-marketplace/shared/session"
	"github.com/guance/aliyun-marketplace/shared/storage"
	"github.com/guance/aliyun-marketplace/shared/verification"
	"github.com/guance/aliyun-marketplace/shared/verification/verificationtest"
	"github.com/guance/aliyun-marketplace/shared/web"
)

type fixture struct {
	routes http.Handler
	mail   *verificationtest.Outbox
	sess   session.Session
	db     *dynamotest.Server
	logs   *strings.Builder
	clock  *time.Time
}

var now = time.Date(2026, 11, 26, 3, 5, 0, 0, time.UTC)

func newFixture(t *testing.T) *fixture {
	db := dynamotest.Start(t)
	sessions := storage.NewSessions(db.Client(), db.Tables["SessionsTable"])
	accounts := storage.NewAccounts(db.Client(), db.Tables["AccountsTable"])
	if err := accounts.CreateBilling(context.Background(), storage.BillingAccount{Username: "acme", Email: "billing@acme.example"}); err != nil {
		t.Fatal(err)
	}
	sess := session.New("1234567890123456", "5604018", "en", now, time.Hour)
	if err := sessions.Open(context.Background(), session.Link{Token: "t", InstanceID: "5604018", ExpiresAt: now}, sess); err != nil {
		t.Fatal(err)
	}
	hasher, _ := verification.NewHasher("a-test-secret-of-enough-length")
	clock := now
	f := &fixture{mail: &verificationtest.Outbox{}, sess: sess, db: db, logs: &strings.Builder{}, clock: &clock}
	clockFn := func() time.Time { return *f.clock }
	h := &sendcode.Handler{
		Sender: &verification.Sender{
			Store: storage.NewCodes(db.Client(), db.Tables["VerificationTable"]), Mailer: f.mail, Accounts: accounts,
			Hasher: hasher, Limits: verification.DefaultLimits, Now: clockFn, Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		},
		Sessions: sessions,
		Log:      logging.New(f.logs, slog.LevelInfo),
		Now:      clockFn,
	}
	f.routes = h.Routes()
	db.ResetRoundTrips()
	return f
}

func (f *fixture) postForm(t *testing.T, form url.Values, cookie bool) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, sendcode.Path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.RemoteAddr = "198.51.100.4:5000"
	if cookie {
		req.AddCookie(&http.Cookie{Name: session.CookieName, Value: f.sess.ID})
	}
	rec := httptest.NewRecorder()
	f.routes.ServeHTTP(rec, req)
	return rec
}

func (f *fixture) postJSON(t *testing.T, body map[string]string, csrfHeader string) (*httptest.ResponseRecorder, map[string]any) {
	t.Helper()
	raw, _ := json.Marshal(body)
	req := httptest.NewRequest(http.MethodPost, sendcode.Path, strings.NewReader(string(raw)))
	req.Header.Set("Content-Type", "application/json")
	if csrfHeader != "" {
		req.Header.Set("X-CSRF-Token", csrfHeader)
	}
	req.AddCookie(&http.Cookie{Name: session.CookieName, Value: f.sess.ID})
	rec := httptest.NewRecorder()
	f.routes.ServeHTTP(rec, req)
	var out map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
		t.Fatalf("not JSON: %s", rec.Body.String())
	}
	return rec, out
}

func (f *fixture) form(address string) url.Values {
	return url.Values{"address": {address}, "purpose": {"register"}, "lang": {"en"}, "csrf": {f.sess.CSRF}, "return": {"/register"}}
}

func TestFormPostSendsAndShowsCountdown(t *testing.T) {
	f := newFixture(t)
	rec := f.postForm(t, f.form("Buyer@Example.com"), true)
	body := rec.Body.String()
	if rec.Code != 200 || !strings.Contains(body, "We sent a code to b***@example.com. It is valid for 10 minutes.") ||
		!strings.Contains(body, `style="--from:60"`) || !strings.Contains(body, `value="Buyer@Example.com"`) || !strings.Contains(body, `href="/register"`) {
		t.Fatalf("%d:\n%s", rec.Code, body)
	}
	if len(f.mail.Mails()) != 1 || f.mail.Mails()[0].To != "buyer@example.com" || f.mail.Mails()[0].Lang != "en" {
		t.Fatalf("mails %+v", f.mail.Mails())
	}
	// Session read, then one transaction; the mail is the other call.
	if n := f.db.RoundTrips(); n != 2 {
		t.Errorf("%d round trips, want 2 (session, code)", n)
	}
	if strings.Contains(f.logs.String(), "buyer@example.com") || strings.Contains(f.logs.String(), f.mail.Mails()[0].Code) {
		t.Fatal("the address or the code was logged")
	}

	again := f.postForm(t, f.form("buyer@example.com"), true)
	if again.Code != http.StatusTooManyRequests || again.Header().Get("Retry-After") != "60" || !strings.Contains(again.Body.String(), "Wait 60 seconds") {
		t.Fatalf("resend at once: %d %v\n%s", again.Code, again.Header(), again.Body.String())
	}
	if len(f.mail.Mails()) != 1 {
		t.Fatal("a refused resend sent mail")
	}
}

func TestJSON(t *testing.T) {
	f := newFixture(t)
	rec, out := f.postJSON(t, map[string]string{"address": "a@example.com", "purpose": "create-workspace"}, f.sess.CSRF)
	if rec.Code != 200 || out["sent"] != true || out["maskedAddress"] != "a***@example.com" || out["cooldownSeconds"] != 60.0 || out["validSeconds"] != 600.0 {
		t.Fatalf("%d %v", rec.Code, out)
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

func TestBindBillingAnswersAlike(t *testing.T) {
	f := newFixture(t)
	_, known := f.postJSON(t, map[string]string{"username": "acme", "purpose": "bind-billing", "lang": "zh", "csrf": f.sess.CSRF}, "")
	_, unknown := f.postJSON(t, map[string]string{"username": "ghost", "purpose": "bind-billing", "lang": "zh", "csrf": f.sess.CSRF}, "")
	if known["maskedAddress"] != "b***@acme.example" || unknown["maskedAddress"] != nil {
		t.Fatalf("known %v unknown %v", known, unknown)
	}
	if known["sent"] != unknown["sent"] || known["cooldownSeconds"] != unknown["cooldownSeconds"] || known["validSeconds"] != unknown["validSeconds"] {
		t.Fatalf("the answers differ beyond the masked address: %v vs %v", known, unknown)
	}
	if !strings.Contains(unknown["message"].(string), "如果该用户名存在") || len(f.mail.Mails()) != 1 {
		t.Fatalf("unknown: %v, %d mails", unknown, len(f.mail.Mails()))
	}
}

func TestRefusals(t *testing.T) {
	tests := []struct {
		name   string
		form   func(f *fixture) url.Values
		cookie bool
		status int
		text   string
	}{
		{"no session", func(f *fixture) url.Values { return f.form("a@example.com") }, false, 401, "Your session has ended"},
		{"missing CSRF", func(f *fixture) url.Values { v := f.form("a@example.com"); v.Del("csrf"); return v }, true, 403, "The form has expired"},
		{"forged CSRF", func(f *fixture) url.Values { v := f.form("a@example.com"); v.Set("csrf", "x"); return v }, true, 403, "The form has expired"},
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
	req := httptest.NewRequest(http.MethodPost, sendcode.Path, strings.NewReader("{"))
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	f.routes.ServeHTTP(rec, req)
	if rec.Code != 400 {
		t.Fatalf("bad JSON: %d", rec.Code)
	}
}

func TestPage(t *testing.T) {
	f := newFixture(t)
	req := httptest.NewRequest(http.MethodGet, sendcode.Path+"?purpose=bind-billing&return=//evil.example", nil)
	req.AddCookie(&http.Cookie{Name: session.CookieName, Value: f.sess.ID})
	rec := httptest.NewRecorder()
	f.routes.ServeHTTP(rec, req)
	body := rec.Body.String()
	if rec.Code != 200 || !strings.Contains(body, `name="username"`) || !strings.Contains(body, f.sess.CSRF) || strings.Contains(body, "evil.example") {
		t.Fatalf("%d\n%s", rec.Code, body)
	}
	rec = httptest.NewRecorder()
	f.routes.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, sendcode.Path, nil))
	if rec.Code != 401 {
		t.Fatalf("without a session: %d", rec.Code)
	}
}

func TestVerifyMessagesInBothLanguages(t *testing.T) {
	for _, tt := range []struct {
		err    error
		en, zh string
	}{
		{&verification.WrongCodeError{Remaining: 3}, "The code is wrong. 3 tries left.", "还可尝试 3 次"},
		{&verification.WrongCodeError{Remaining: 0}, "Too many wrong codes", "错误次数过多"},
		{verification.ErrCodeExpired, "The code has expired", "验证码已过期"},
		{verification.ErrCodeDead, "Too many wrong codes", "该验证码已失效"},
		{verification.ErrNoCode, "No code is waiting", "没有待验证的验证码"},
	} {
		m := sendcode.VerifyMessage(tt.err)
		if en := (web.View{Lang: web.EN}).Text(m); !strings.Contains(en, tt.en) {
			t.Errorf("%v: %q", tt.err, en)
		}
		if zh := (web.View{Lang: web.ZH}).Text(m); !strings.Contains(zh, tt.zh) {
			t.Errorf("%v: %q", tt.err, zh)
		}
	}
}
