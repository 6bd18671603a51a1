package localstack_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/guance/aliyun-marketplace/cmd/devstack/localstack"
	"github.com/guance/aliyun-marketplace/cmd/devstack/simulator"
	"github.com/guance/aliyun-marketplace/shared/domain/guance"
	"github.com/guance/aliyun-marketplace/shared/domain/marketplace"
	"github.com/guance/aliyun-marketplace/shared/domain/session"
	"github.com/guance/aliyun-marketplace/shared/domain/verification"
)

func freeAddr(t testing.TB) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// buyer is a browser without a browser: a cookie jar that follows redirects.
type buyer struct {
	http *http.Client
	jar  http.CookieJar
	t    *testing.T
}

func newBuyer(t *testing.T) *buyer {
	jar, _ := cookiejar.New(nil)
	return &buyer{http: &http.Client{Jar: jar, Timeout: 30 * time.Second}, jar: jar, t: t}
}

// sessionID is the buyer's activation session, from its cookie jar.
func (b *buyer) sessionID(apiURL string) string {
	u, _ := url.Parse(apiURL)
	for _, c := range b.jar.Cookies(u) {
		if c.Name == session.CookieName {
			return c.Value
		}
	}
	b.t.Fatal("no session cookie")
	return ""
}

// codeScope is who the buyer's codes are for: the purchase of its
// session.
func (b *buyer) codeScope(s *localstack.Stack) string {
	b.t.Helper()
	sess, err := localstack.LocalStore(s.DynamoDBURL).Sessions().Get(context.Background(), b.sessionID(s.APIURL), time.Now())
	if err != nil {
		b.t.Fatal(err)
	}
	return sess.CodeScope()
}

func (b *buyer) get(u string) (int, string) {
	b.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	req.Header.Set("Accept-Language", "en")
	resp, err := b.http.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

func (b *buyer) post(u string, form url.Values) (int, string) {
	b.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept-Language", "en")
	resp, err := b.http.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// activate buys an instance on the simulator and follows Login Without
// Password, leaving the buyer with a session; it returns the page's CSRF token.
func activate(t *testing.T, s *localstack.Stack, b *buyer) string {
	t.Helper()
	if code, _ := b.post(s.SimulatorURL+"/buy", url.Values{"uid": {simulator.SampleUID}, "agree": {"1"}}); code != 200 {
		t.Fatalf("buy: %d", code)
	}
	bought := s.Market.Purchases()[0]
	code, page := b.get(s.APIURL + "/aliyun/sso?" + marketplace.VerifyParams(bought.InstanceID, time.Now()).Signed(localstack.ISVKey()).Encode())
	if code != 200 || !strings.Contains(page, "Activate the Guance Commercial Plan") {
		t.Fatalf("sso: %d %s", code, page)
	}
	code, page = b.get(s.APIURL + "/verification-codes?purpose=register&return=/activate")
	m := csrfField.FindStringSubmatch(page)
	if code != 200 || m == nil {
		t.Fatalf("code page: %d %s", code, page)
	}
	return m[1]
}

type storedMail struct {
	Destination struct{ To []string } `json:"destination"`
	Subject     string                `json:"subject"`
	Body        struct{ Text, HTML string }
}

// mailTo reads the local SES's store for the last mail to addr, waiting a
// few seconds for one that goes through the outbox.
func mailTo(t testing.TB, sesURL, addr string) storedMail {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if m, ok := findMail(t, sesURL, addr); ok {
			return m
		}
		if time.Now().After(deadline) {
			t.Fatalf("no mail to %s in the local SES", addr)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// mailWith waits for a mail to addr whose text contains want.
func mailWith(t testing.TB, sesURL, addr, want string) storedMail {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		for _, m := range allMail(t, sesURL) {
			if len(m.Destination.To) == 1 && m.Destination.To[0] == addr && strings.Contains(m.Body.Text, want) {
				return m
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no mail to %s with %q in the local SES", addr, want)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func allMail(t testing.TB, sesURL string) []storedMail {
	t.Helper()
	resp, err := http.Get(sesURL + "/store")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var store struct{ Emails []storedMail }
	if err := json.NewDecoder(resp.Body).Decode(&store); err != nil {
		t.Fatal(err)
	}
	return store.Emails
}

func findMail(t testing.TB, sesURL, addr string) (storedMail, bool) {
	t.Helper()
	resp, err := http.Get(sesURL + "/store")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var store struct{ Emails []storedMail }
	if err := json.NewDecoder(resp.Body).Decode(&store); err != nil {
		t.Fatal(err)
	}
	for i := len(store.Emails) - 1; i >= 0; i-- {
		if len(store.Emails[i].Destination.To) == 1 && store.Emails[i].Destination.To[0] == addr {
			return store.Emails[i], true
		}
	}
	return storedMail{}, false
}

var (
	sixDigits   = regexp.MustCompile(`\b[0-9]{6}\b`)
	waitSeconds = regexp.MustCompile(`Wait (60|59|58|57|56|55) seconds`)
)

// TestCodeMailThroughLocalSES sends a code through the real
// VerificationCodeFunction under the emulator, reads the mail back from the
// local SES, and verifies with the code found there.
func TestCodeMailThroughLocalSES(t *testing.T) {
	s := startStackWith(t, freeAddr(t))
	b := newBuyer(t)
	csrf := activate(t, s, b)

	code, page := b.post(s.APIURL+"/verification-codes", url.Values{"address": {"Buyer@Example.com"}, "purpose": {"register"}, "lang": {"en"}, "csrf": {csrf}})
	if code != 200 || !strings.Contains(page, "We sent a code to buyer@example.com") {
		t.Fatalf("send: %d %s", code, page)
	}
	mail := mailTo(t, s.SESURL, "buyer@example.com")
	if mail.Subject != "Your Guance verification code" || !strings.Contains(mail.Body.Text, "valid for 10 minutes") {
		t.Fatalf("mail %+v", mail)
	}
	typed := sixDigits.FindString(mail.Body.Text)
	if typed == "" || !strings.Contains(mail.Body.HTML, typed) {
		t.Fatalf("no code in %q", mail.Body.Text)
	}

	if code, page := b.post(s.APIURL+"/verification-codes", url.Values{"address": {"buyer@example.com"}, "purpose": {"register"}, "lang": {"en"}, "csrf": {csrf}}); code != 429 || !waitSeconds.MatchString(page) {
		t.Fatalf("resend: %d", code)
	}

	verifier := stackVerifier(t, s)
	sid := b.codeScope(s)
	if err := verifier.Verify(context.Background(), verification.Register, sid, "buyer@example.com", typed); err != nil {
		t.Fatalf("verify with the mailed code: %v", err)
	}
	// Used, it proves the same address again only to the same session (a
	// step retried after its answer was lost), never to another.
	if err := verifier.Verify(context.Background(), verification.Register, sid, "buyer@example.com", typed); err != nil {
		t.Fatalf("the same step sent again: %v", err)
	}
	if err := verifier.Verify(context.Background(), verification.Register, sid+"-other", "buyer@example.com", typed); !errors.Is(err, verification.ErrNoCode) {
		t.Fatalf("the used code in another session: %v", err)
	}
}

// TestBindBillingCodeThroughTheOutbox: a bind-billing code's mail goes
// through the outbox table, whose stream the local stack emulates: the
// real OutboxFunction sends it within seconds, to the email on file.
func TestBindBillingCodeThroughTheOutbox(t *testing.T) {
	s := startStackWith(t, freeAddr(t))
	accounts := localstack.LocalStore(s.DynamoDBURL).Accounts()
	if err := accounts.CreateBilling(context.Background(), guance.BillingAccount{Username: "acme", Email: "billing@acme.example"}); err != nil {
		t.Fatal(err)
	}
	b := newBuyer(t)
	csrf := activate(t, s, b)
	start := time.Now()
	code, page := b.post(s.APIURL+"/verification-codes", url.Values{"username": {"ACME"}, "purpose": {"bind-billing"}, "lang": {"en"}, "csrf": {csrf}})
	if code != 200 || !strings.Contains(page, "If this username exists, we sent a code to the email on file") {
		t.Fatalf("send: %d %s", code, page)
	}
	mail := mailTo(t, s.SESURL, "billing@acme.example")
	t.Logf("the outbox delivered the mail %s after the answer", time.Since(start).Round(time.Millisecond))
	typed := sixDigits.FindString(mail.Body.Text)
	if !strings.Contains(mail.Body.Text, `is binding your billing center account "acme"`) || typed == "" {
		t.Fatalf("mail %+v", mail)
	}
	if err := stackVerifier(t, s).Verify(context.Background(), verification.BindBilling, b.codeScope(s), "acme", typed); err != nil {
		t.Fatalf("verify with the mailed code: %v", err)
	}
}

// TestSESDown: with nothing at the SES endpoint the buyer gets 503 "could
// not send", and no usable code is left behind.
func TestSESDown(t *testing.T) {
	s := startStack(t) // no local SES: its endpoint refuses connections
	b := newBuyer(t)
	csrf := activate(t, s, b)
	code, page := b.post(s.APIURL+"/verification-codes", url.Values{"address": {"a@example.com"}, "purpose": {"register"}, "lang": {"en"}, "csrf": {csrf}})
	if code != 503 || !strings.Contains(page, "We could not send the mail") {
		t.Fatalf("%d %s", code, page)
	}
	// Nothing to verify, and no cooldown: the buyer may try again at once.
	if err := stackVerifier(t, s).Verify(context.Background(), verification.Register, b.codeScope(s), "a@example.com", "000000"); !errors.Is(err, verification.ErrNoCode) {
		t.Fatalf("a code survived the failed mail: %v", err)
	}
	if code, page := b.post(s.APIURL+"/verification-codes", url.Values{"address": {"a@example.com"}, "purpose": {"register"}, "lang": {"en"}, "csrf": {csrf}}); code != 503 || strings.Contains(page, "Wait") {
		t.Fatalf("second try must not meet a cooldown: %d", code)
	}
}

// TestSendCodeInChromium: the page's Send code button works without
// JavaScript, and the countdown shows.
func TestSendCodeInChromium(t *testing.T) {
	s := startStackWith(t, freeAddr(t))
	bought := s.Market.Buy(simulator.SampleUID, time.Now())
	ctx := browser(t, "zh-CN")
	link := s.APIURL + "/aliyun/sso?" + marketplace.VerifyParams(bought.InstanceID, time.Now()).Signed(localstack.ISVKey()).Encode()
	err := chromedp.Do(ctx,
		chromedp.Navigate(link), chromedp.WaitVisible(chromedp.CSS("#register")),
		chromedp.Navigate(s.APIURL+"/verification-codes?purpose=register"),
		chromedp.SendKeys(chromedp.CSS("#f-address"), "zh-buyer@example.com"),
		chromedp.Click(chromedp.CSS("#send")),
		chromedp.WaitVisible(chromedp.CSS("#sent")),
	)
	if err != nil {
		t.Fatal(err)
	}
	sent, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#sent")))
	if err != nil || !strings.Contains(sent, "验证码已发送至 zh-buyer@example.com") {
		t.Fatalf("sent notice %q %v", sent, err)
	}
	left, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#send-wait")))
	if err != nil || !strings.Contains(left, "秒后重新获取") {
		t.Fatalf("countdown %q %v", left, err)
	}
	screenshot(ctx, "send code")
	if mailTo(t, s.SESURL, "zh-buyer@example.com").Subject != "观测云验证码" {
		t.Fatal("the mail must be in the page's language")
	}
}

func stackVerifier(t *testing.T, s *localstack.Stack) *verification.Verifier {
	t.Helper()
	hasher, err := verification.NewHasher(localstack.LocalCodeHashSecret)
	if err != nil {
		t.Fatal(err)
	}
	return &verification.Verifier{
		Store:  localstack.LocalStore(s.DynamoDBURL).Codes(),
		Hasher: hasher, Now: time.Now,
	}
}
