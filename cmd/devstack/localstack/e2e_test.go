package localstack_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"github.com/guance/aliyun-marketplace/cmd/devstack/emulator"
	"github.com/guance/aliyun-marketplace/cmd/devstack/gateway"
	"github.com/guance/aliyun-marketplace/cmd/devstack/localstack"
	"github.com/guance/aliyun-marketplace/cmd/devstack/simulator"
	"github.com/guance/aliyun-marketplace/schemas"
	"github.com/guance/aliyun-marketplace/shared/domain/marketplace"
	"github.com/guance/aliyun-marketplace/shared/domain/session"
	"github.com/guance/aliyun-marketplace/shared/jobs/reconcile"
	"github.com/guance/aliyun-marketplace/shared/jobs/usagepush"
)

var buildDir struct {
	once sync.Once
	dir  string
}

// startStack runs the whole local system on free ports, as make dev does,
// without a local SES (mail then fails fast).
// trails are the audit trail checks of the stacks started, each run when
// its test ends.
var trails sync.Map

func startStack(t testing.TB) *localstack.Stack {
	t.Helper()
	return startStackWith(t, "")
}

// startStackWith also runs the local SES on sesAddr, unless it is empty.
func startStackWith(t testing.TB, sesAddr string) *localstack.Stack {
	t.Helper()
	setup(t)
	buildDir.once.Do(func() { buildDir.dir, _ = os.MkdirTemp("", "stack-build") })
	stack, err := localstack.Start(context.Background(), localstack.Options{
		Root: stack.root, Template: stack.tmpl, RIE: stack.rie, BuildDir: buildDir.dir,
		APIAddr: "127.0.0.1:0", SimulatorAddr: "127.0.0.1:0", MarketAPIAddr: "127.0.0.1:0", ConsoleAddr: "127.0.0.1:0", DynamoDBAddr: "127.0.0.1:0", SESAddr: sesAddr,
		MaxPerFunction: 4, Output: io.Discard, Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stack.Close)
	// Every business change the test makes comes with its event on the
	// audit trail, in the same write.
	trail := stack.WatchTrail()
	trails.Store(stack, trail)
	t.Cleanup(func() {
		for _, v := range trail.Violations() {
			t.Errorf("audit trail: %s", v)
		}
		// And every business event published is what its kind's schema
		// says.
		for _, e := range stack.Bus.Events() {
			if err := schemas.Validate(e.DetailType, e.Detail); err != nil {
				t.Errorf("business event: %v\n%s", err, e.Detail)
			}
		}
		t.Logf("audit trail: %d writes, %d business changes, each with its event", trail.Writes, trail.Changes)
	})
	return stack
}

// TestSSOUnderEmulator runs the real page functions' bootstraps with
// payload 2.0 events: the stored ones (an expired link, pages without a
// session), then a fresh link (a session cookie comes back in the
// response's cookies list) and the activation page with that cookie.
func TestSSOUnderEmulator(t *testing.T) {
	setup(t)
	fn, _ := stack.tmpl.Function("SsoRedirectFunction")
	dynamoURL := startDynamoDB(t)
	sso := poolOf(t, fn.LogicalID, localstack.Endpoints{DynamoDB: dynamoURL, SES: "http://127.0.0.1:1", MarketAPI: "http://127.0.0.1:1"}, 1)
	spi := newPool(t, dynamoURL, 1)

	pools := map[string]*emulator.Pool{"SsoRedirectFunction": sso}
	for _, sample := range simulator.SampleEvents() {
		if sample.FunctionID() == fnID || sample.Trigger != "" {
			continue // replayed by TestEventsUnderEmulator and TestOutboxEventsUnderEmulator
		}
		pool, ok := pools[sample.FunctionID()]
		if !ok {
			pool = poolOf(t, sample.FunctionID(), localstack.Endpoints{DynamoDB: dynamoURL, SES: "http://127.0.0.1:1", MarketAPI: "http://127.0.0.1:1"}, 1)
			pools[sample.FunctionID()] = pool
		}
		event, err := os.ReadFile(filepath.Join(stack.root, "events", sample.File))
		if err != nil {
			t.Fatal(err)
		}
		resp := invokeEvent(t, pool, event)
		if resp.StatusCode != sample.Status || !strings.Contains(resp.Headers["Content-Type"], "text/html") {
			t.Errorf("%s: %d %v", sample.File, resp.StatusCode, resp.Headers)
		}
	}

	create, _ := os.ReadFile(filepath.Join(stack.root, "events", "create-instance.json"))
	if resp := invokeEvent(t, spi, create); resp.StatusCode != 200 {
		t.Fatalf("createInstance: %d %s", resp.StatusCode, resp.Body)
	}
	verify := freshEvent(t, "/aliyun/sso?"+marketplace.VerifyParams(simulator.SampleInstanceID, time.Now()).Signed(localstack.ISVKey()).Encode(), "", "en")
	resp := invokeEvent(t, sso, verify)
	if resp.StatusCode != http.StatusSeeOther || resp.Headers["Location"] != "/activate" || len(resp.Cookies) != 1 {
		t.Fatalf("verify: %d %v %v", resp.StatusCode, resp.Headers, resp.Cookies)
	}
	cookie := resp.Cookies[0]
	if !strings.HasPrefix(cookie, session.CookieName+"=") || !strings.Contains(cookie, "HttpOnly") || !strings.Contains(cookie, "SameSite=Lax") {
		t.Fatalf("cookie %q", cookie)
	}
	if resp := invokeEvent(t, sso, verify); resp.StatusCode != http.StatusConflict {
		t.Fatalf("replayed link: %d", resp.StatusCode)
	}
	page := invokeEvent(t, sso, freshEvent(t, "/activate", strings.SplitN(cookie, ";", 2)[0], "en"))
	if page.StatusCode != 200 || !strings.Contains(page.Body, "Activate the Guance Commercial Plan") || !strings.Contains(page.Body, "1234********3456") {
		t.Fatalf("activation page: %d %s", page.StatusCode, page.Body)
	}
}

// invokeEvent runs one event and decodes the payload 2.0 response.
func invokeEvent(t *testing.T, pool *emulator.Pool, event []byte) events.APIGatewayV2HTTPResponse {
	t.Helper()
	res, err := pool.Invoke(context.Background(), event)
	if err != nil {
		t.Fatal(err)
	}
	return answerOf(t, res)
}

// freshEvent is a browser's GET of target as API Gateway would deliver it.
func freshEvent(t *testing.T, target, cookie, lang string) []byte {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, target, nil)
	req.Host = "abcdef1234.execute-api.us-east-1.amazonaws.com"
	req.Header.Set("X-Forwarded-Proto", "https")
	req.Header.Set("Accept-Language", lang)
	if cookie != "" {
		req.Header.Set("Cookie", cookie)
	}
	ev := gateway.BuildEvent(req, "GET "+req.URL.Path, nil, nil)
	out, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// chromium finds the browser that .ci/run installs (Debian's chromium).
func chromium(t testing.TB) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("no Chromium found: install Debian's chromium (make test does, with apt-get)")
	return ""
}

// browser returns a headless Chromium context sending Accept-Language lang.
func browser(t testing.TB, lang string) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium(t)),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(allocCtx)
	// A whole journey's bound; each step has its own in do.
	ctx, cancelTimeout := context.WithTimeout(ctx, 4*time.Minute)
	t.Cleanup(func() { cancelTimeout(); cancelCtx(); cancelAlloc() })
	if _, err := chromedp.Call(ctx, emulation.SetUserAgentOverride, emulation.SetUserAgentOverrideParams{
		UserAgent: "Mozilla/5.0 (X11; Linux x86_64) HeadlessChrome", AcceptLanguage: lang,
	}); err != nil {
		t.Fatal(err)
	}
	return ctx
}

// TestBuyerJourneyInChromium is the buyer's path so far, clicked through in
// a real browser: buy on the marketplace, click Login Without Password in
// Purchased Services, land on the activation page in the browser's
// language, and switch language without losing the session.
func TestBuyerJourneyInChromium(t *testing.T) {
	s := startStack(t)
	for _, tt := range []struct {
		name, lang, first, second, switchedTo string
		lose                                  bool
	}{
		{"Chinese browser", "zh-CN,zh;q=0.9", "开通观测云商业版", "Activate the Guance Commercial Plan", "en", false},
		{"English browser, callback lost", "en-US,en;q=0.9", "Activate the Guance Commercial Plan", "开通观测云商业版", "zh-CN", true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ctx := browser(t, tt.lang)
			text := func(sel string) string {
				v, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
				if err != nil {
					t.Fatalf("text of %s: %v", sel, err)
				}
				return strings.TrimSpace(v)
			}
			steps := []chromedp.Action[chromedp.Void]{chromedp.Navigate(s.SimulatorURL + "/"), chromedp.Click(chromedp.CSS("#activate-now")),
				chromedp.WaitVisible(chromedp.CSS("#agree")), chromedp.Click(chromedp.CSS("#agree"))}
			if tt.lose {
				steps = append(steps, chromedp.Click(chromedp.CSS(`input[name="lose"]`)))
			}
			steps = append(steps,
				chromedp.Click(chromedp.CSS("#buy")),
				chromedp.WaitVisible(chromedp.CSS("#confirm")), chromedp.Click(chromedp.CSS("#confirm")),
				chromedp.WaitVisible(chromedp.CSS("a.login")),
				chromedp.Click(chromedp.CSS("a.login")),
				chromedp.WaitVisible(chromedp.CSS("#register")),
			)
			if err := chromedp.Do(ctx, steps...); err != nil {
				t.Fatal(err)
			}
			heading, instance, uid := text("h1"), text("#instance"), text("#uid")
			// The switch posts a form and the page comes back in the other
			// language: wait for that page's root element.
			if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS("header form button")), chromedp.WaitReady(chromedp.CSS(`html[lang="`+tt.switchedTo+`"] #bind`))); err != nil {
				t.Fatal(err)
			}
			switched, switchedInstance := text("h1"), text("#instance")
			bought := s.Market.Purchases()[0]
			if heading != tt.first || instance != bought.InstanceID || uid != "1234********3456" {
				t.Fatalf("activation page: %q %q %q (bought %s)", heading, instance, uid, bought.InstanceID)
			}
			if switched != tt.second || switchedInstance != bought.InstanceID {
				t.Fatalf("after the switch: %q %q", switched, switchedInstance)
			}
			if url, err := chromedp.Run(ctx, chromedp.Location()); err != nil || !strings.HasSuffix(url, "/activate") {
				t.Fatalf("ended on %q (%v): no id or token may stay in the URL", url, err)
			}
			screenshot(ctx, tt.name)
		})
	}
}

// screenshot saves the page as SCREENSHOT_DIR/<name>.png when that is set,
// for a person to look at.
// do runs one step of a journey within 20 seconds; when it fails the page
// it got stuck on is kept (with SCREENSHOT_DIR) and its text is reported.
func do(t testing.TB, ctx context.Context, step string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	stepCtx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if err := chromedp.Do(stepCtx, actions...); err != nil {
		// What the page shows, briefly: a query waits for its element.
		diag, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		screenshot(diag, strings.ReplaceAll(t.Name(), "/", " ")+" failed "+step)
		url, _ := chromedp.Run(diag, chromedp.Location())
		text, _ := chromedp.Run(diag, chromedp.Text(chromedp.CSS("body")))
		t.Fatalf("%s: %v\nstuck at %s:\n%s", step, err, url, text)
	}
}

func screenshot(ctx context.Context, name string) {
	if dir := os.Getenv("SCREENSHOT_DIR"); dir != "" {
		if png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)); err == nil {
			_ = os.WriteFile(filepath.Join(dir, strings.ReplaceAll(name, " ", "-")+".png"), png, 0o644)
		}
	}
}

// TestReplayedLinkInChromium: going back to the link the browser already
// used shows the replay page, in the browser's language.
func TestReplayedLinkInChromium(t *testing.T) {
	s := startStack(t)
	bought := s.Market.Buy(simulator.SampleUID, time.Now())
	link := s.APIURL + "/aliyun/sso?" + marketplace.VerifyParams(bought.InstanceID, time.Now()).Signed(localstack.ISVKey()).Encode()
	// The marketplace's createInstance never came, so the OpenAPI is asked.
	ctx := browser(t, "en")
	if err := chromedp.Do(ctx, chromedp.Navigate(link), chromedp.WaitVisible(chromedp.CSS("#register"))); err != nil {
		t.Fatal(err)
	}
	first, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("h1")))
	if err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx, chromedp.Navigate(link), chromedp.WaitVisible(chromedp.CSS("#what"))); err != nil {
		t.Fatal(err)
	}
	again, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#what")))
	if err != nil {
		t.Fatal(err)
	}
	if first != "Activate the Guance Commercial Plan" || !strings.Contains(again, "works once") {
		t.Fatalf("first %q, again %q", first, again)
	}
}

// TestPhoneWidths: on a 360 and a 390 px phone, in both languages, the
// pages do not scroll sideways (the masked account ID stays in its card,
// the language switch does not wrap).
func TestPhoneWidths(t *testing.T) {
	s := startStack(t)
	for _, lang := range []string{"en", "zh-CN"} {
		for _, width := range []int64{360, 390} {
			t.Run(fmt.Sprintf("%s %dpx", lang, width), func(t *testing.T) {
				ctx := browser(t, lang)
				bought := s.Market.Buy(simulator.SampleUID, time.Now())
				link := s.APIURL + "/aliyun/sso?" + marketplace.VerifyParams(bought.InstanceID, time.Now()).Signed(localstack.ISVKey()).Encode()
				for _, page := range []struct{ url, ready string }{
					{link, "#register"},
					{s.APIURL + "/verification-codes?purpose=register", "#f-address"},
					{s.APIURL + "/nowhere", "#head"},
				} {
					err := chromedp.Do(ctx,
						chromedp.EmulateViewport(width, 800),
						chromedp.Navigate(page.url), chromedp.WaitVisible(chromedp.CSS(page.ready)),
					)
					if err != nil {
						t.Fatal(err)
					}
					scroll, err := chromedp.Run(ctx, chromedp.Evaluate[int64](`document.documentElement.scrollWidth`))
					if err != nil {
						t.Fatal(err)
					}
					inner, _ := chromedp.Run(ctx, chromedp.Evaluate[int64](`window.innerWidth`))
					switchHeight, _ := chromedp.Run(ctx, chromedp.Evaluate[float64](`(() => { const b = document.querySelector('#language button'); return b ? b.getBoundingClientRect().height : 0 })()`))
					if scroll > inner {
						t.Errorf("%s scrolls sideways: %d px wide in a %d px window", page.url, scroll, inner)
					}
					if switchHeight > 50 {
						t.Errorf("%s: the language switch wraps (%.0f px high)", page.url, switchHeight)
					}
					screenshot(ctx, fmt.Sprintf("phone %s %d %s", lang, width, strings.Trim(page.ready, "#")))
				}
			})
		}
	}
}

// TestLanguageThroughTheGateway: a browser preferring French, then
// English, gets English through the local gateway and the Lambda adapter
// (which splits the header at its commas), not only from the handler.
func TestLanguageThroughTheGateway(t *testing.T) {
	s := startStack(t)
	req, _ := http.NewRequest(http.MethodGet, s.APIURL+"/nowhere", nil)
	req.Header.Set("Accept-Language", "fr-FR,en;q=0.5,zh;q=0.4")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 404 || resp.Header.Get("Content-Language") != "en" || !strings.Contains(string(body), "Page not found") {
		t.Fatalf("%d %s:\n%s", resp.StatusCode, resp.Header.Get("Content-Language"), body)
	}
}

// TestOutboxEventsUnderEmulator runs the real OutboxFunction with its
// stored event: a stream batch that names a mail no longer there (skipped,
// not failed).
func TestOutboxEventsUnderEmulator(t *testing.T) {
	setup(t)
	pool := poolOf(t, "OutboxFunction", localstack.Endpoints{DynamoDB: startDynamoDB(t), SES: "http://127.0.0.1:1"}, 1)
	event, err := os.ReadFile(filepath.Join(stack.root, "events", "outbox-stream.json"))
	if err != nil {
		t.Fatal(err)
	}
	res, err := pool.Invoke(context.Background(), event)
	if want := `{"batchItemFailures":null}`; err != nil || res.FunctionError || strings.TrimSpace(string(res.Payload)) != want {
		t.Fatalf("%s %v, want %s", res.Payload, err, want)
	}
}

// TestMeteringEventUnderEmulator runs the real MeteringFunction with its
// stored schedule event: with nothing activated it decides and pushes
// nothing, and finishes.
func TestMeteringEventUnderEmulator(t *testing.T) {
	setup(t)
	pool := poolOf(t, "MeteringFunction", localstack.Endpoints{DynamoDB: startDynamoDB(t), SES: "http://127.0.0.1:1", MarketAPI: "http://127.0.0.1:1"}, 1)
	event, err := os.ReadFile(filepath.Join(stack.root, "events", "metering-schedule.json"))
	if err != nil {
		t.Fatal(err)
	}
	res, err := pool.Invoke(context.Background(), event)
	if err != nil || res.FunctionError {
		t.Fatalf("%s %v", res.Payload, err)
	}
	var summary usagepush.Summary
	if err := json.Unmarshal(res.Payload, &summary); err != nil || !summary.Finished || summary.Calls != 0 || summary.Decided != 0 {
		t.Fatalf("%s %v", res.Payload, err)
	}
}

// TestReconcileEventUnderEmulator runs the real ReconcileFunction with its
// stored schedule event, twice: with nothing to do each run finishes,
// examines nothing, and gives the lease back for the next.
func TestReconcileEventUnderEmulator(t *testing.T) {
	setup(t)
	market := httptest.NewServer(&simulator.OpenAPI{Market: simulator.NewMarket(), AccessKeyID: localstack.LocalMarketAccessKeyID, AccessKeySecret: localstack.LocalMarketAccessKeySecret})
	defer market.Close()
	pool := poolOf(t, "ReconcileFunction", localstack.Endpoints{DynamoDB: startDynamoDB(t), SES: "http://127.0.0.1:1", MarketAPI: market.URL}, 1)
	event, err := os.ReadFile(filepath.Join(stack.root, "events", "reconcile-schedule.json"))
	if err != nil {
		t.Fatal(err)
	}
	for run := range 2 {
		res, err := pool.Invoke(context.Background(), event)
		if err != nil || res.FunctionError {
			t.Fatalf("run %d: %s %v", run, res.Payload, err)
		}
		var summary reconcile.Summary
		if err := json.Unmarshal(res.Payload, &summary); err != nil {
			t.Fatal(err)
		}
		for step, tally := range summary.Steps {
			if tally != (reconcile.Tally{}) {
				t.Errorf("run %d, step %s: %+v", run, step, tally)
			}
		}
		if summary.Skipped || !summary.Finished || summary.MarketCalls != 1 { // the failed notifications' page
			t.Fatalf("run %d: %s", run, res.Payload)
		}
	}
}
