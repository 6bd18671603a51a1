package localstack_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/guance/aliyun-marketplace/cmd/devstack/localstack"
	"github.com/guance/aliyun-marketplace/shared/domain/guance"
	"github.com/guance/aliyun-marketplace/shared/domain/marketplace"
)

// The buyer's journeys, clicked through in
// headless Chromium against the whole local stack, from the simulator's
// Purchased Services to a login in the console stand-in, in Chinese and in
// English. Every page of journeys 1 and 2 is photographed at phone and
// desktop width (into .local/screenshots, or SCREENSHOT_DIR) and checked
// with axe-core: no serious or critical violation.

const consolePassword = "Guance-demo-1"

// journey is one journey in one browser.
type journey struct {
	t     testing.TB
	s     *localstack.Stack
	ctx   context.Context
	lang  string
	name  string
	pages int
	// audit photographs and checks every page (journeys 1 and 2).
	audit bool
}

func newJourney(t testing.TB, s *localstack.Stack, lang, name string, audit bool) *journey {
	return &journey{t: t, s: s, ctx: browser(t, lang), lang: lang, name: name, audit: audit}
}

// step runs actions, then (when auditing) photographs the page it ends on
// at 390 and 1280 px and checks it with axe-core.
func (j *journey) step(name string, actions ...chromedp.Action[chromedp.Void]) {
	j.t.Helper()
	do(j.t, j.ctx, name, actions...)
	if !j.audit {
		return
	}
	j.pages++
	base := fmt.Sprintf("%s-%s-%02d-%s", j.name, j.lang, j.pages, strings.ReplaceAll(name, " ", "-"))
	for _, width := range []int64{390, 1280} {
		do(j.t, j.ctx, "viewport", chromedp.EmulateViewport(width, 900))
		ctx, cancel := context.WithTimeout(j.ctx, 20*time.Second)
		png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		cancel()
		if err != nil {
			j.t.Fatalf("%s: screenshot: %v", base, err)
		}
		_ = os.WriteFile(filepath.Join(shotsDir(j.t), fmt.Sprintf("%s-%d.png", base, width)), png, 0o644)
	}
	for _, v := range axeViolations(j.t, j.ctx) {
		j.t.Errorf("%s: accessibility: %s", base, v)
	}
}

func (j *journey) text(sel string) string {
	j.t.Helper()
	s, err := chromedp.Run(j.ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		j.t.Fatalf("%s: %v", sel, err)
	}
	return strings.TrimSpace(s)
}

// shotsDir is where the journeys' screenshots go: SCREENSHOT_DIR, else
// .local/screenshots (ignored by git).
func shotsDir(t testing.TB) string {
	dir := os.Getenv("SCREENSHOT_DIR")
	if dir == "" {
		dir = filepath.Join(stack.root, ".local", "screenshots")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

var axe struct {
	once   sync.Once
	source string
	err    error
}

// axeViolations runs axe-core (from the project's npm packages) on the
// page and returns its serious and critical violations.
func axeViolations(t testing.TB, ctx context.Context) []string {
	t.Helper()
	axe.once.Do(func() {
		b, err := os.ReadFile(filepath.Join(stack.root, "node_modules", "axe-core", "axe.min.js"))
		axe.source, axe.err = string(b), err
	})
	if axe.err != nil {
		t.Fatalf("axe-core is not installed (npm ci): %v", axe.err)
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	found, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](axe.source+`;
		axe.run(document, {resultTypes: ['violations']}).then(r => r.violations
			.filter(v => v.impact === 'serious' || v.impact === 'critical')
			.map(v => v.id + ' (' + v.impact + '): ' + v.nodes.map(n => n.target.join(' ')).join(', ')))`, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("axe-core: %v", err)
	}
	return found
}

// buy is Activate Now on the simulator's Purchased Services, for uid; it
// returns the new instance's id.
func (j *journey) buy(uid string) string {
	j.t.Helper()
	seen := map[string]bool{}
	for _, p := range j.s.Market.Purchases() {
		seen[p.InstanceID] = true
	}
	j.step("activate now",
		chromedp.Navigate(j.s.SimulatorURL+"/"), chromedp.Click(chromedp.CSS("#activate-now")),
		// The "Activate Pay-as-you-go Service" prompt: the terms, then
		// "Activation Request Submitted" and Confirm.
		chromedp.WaitVisible(chromedp.CSS("#buy")),
		chromedp.SetValue(chromedp.CSS("#uid"), uid), chromedp.Click(chromedp.CSS("#agree")), chromedp.Click(chromedp.CSS("#buy")),
		chromedp.WaitVisible(chromedp.CSS("#confirm")), chromedp.Click(chromedp.CSS("#confirm")),
		chromedp.WaitVisible(chromedp.CSS("#purchases > section:first-child a.login")),
	)
	// The list on the page may be an older one: wait for the market.
	var id string
	j.eventually("the purchase by "+uid, func() bool {
		for _, p := range j.s.Market.Purchases() {
			if !seen[p.InstanceID] && p.AliUID == uid && p.Status == "OPENED" {
				id = p.InstanceID
				return true
			}
		}
		return false
	})
	return id
}

// eventually waits up to 10 s for cond.
func (j *journey) eventually(what string, cond func() bool) {
	j.t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			j.t.Fatalf("waited in vain for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// instance reads our record of an instance.
func (j *journey) instance(id string) map[string]types.AttributeValue {
	j.t.Helper()
	out, err := localstack.DynamoDBClient(j.s.DynamoDBURL).GetItem(context.Background(), &dynamodb.GetItemInput{
		TableName: aws.String("InstancesTable"), Key: map[string]types.AttributeValue{"instanceId": &types.AttributeValueMemberS{Value: id}}, ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		j.t.Fatal(err)
	}
	return out.Item
}

// loginWithoutPassword clicks Login Without Password of the instance and
// waits for ready.
func (j *journey) loginWithoutPassword(instance, ready string) {
	j.t.Helper()
	j.step("login without password",
		chromedp.Navigate(j.s.SimulatorURL+"/"), chromedp.WaitVisible(chromedp.CSS("#instance-"+instance+" a.login")),
		chromedp.Click(chromedp.CSS("#instance-"+instance+" a.login")), chromedp.WaitVisible(chromedp.CSS(ready)),
	)
}

// signIn signs in on the console stand-in the Confirm link led to, and
// returns the settlement shown for the workspace named name.
func (j *journey) signIn(username, password, workspace string) string {
	j.t.Helper()
	j.step("console sign in",
		chromedp.SendKeys(chromedp.CSS("#f-username"), username),
		chromedp.SendKeys(chromedp.CSS("#f-password"), password+kb.Enter),
		chromedp.WaitVisible(chromedp.CSS("#signed-in")),
	)
	rows, err := chromedp.Run(j.ctx, chromedp.Evaluate[map[string]string](`Object.fromEntries([...document.querySelectorAll('tbody tr.ws')].map(r => [r.querySelector('.name').textContent, r.querySelector('.settlement').textContent]))`))
	if err != nil {
		j.t.Fatal(err)
	}
	settlement, ok := rows[workspace]
	if !ok {
		j.t.Fatalf("the console lists %v, not %q", rows, workspace)
	}
	return settlement
}

func (j *journey) code(addr string) string {
	j.t.Helper()
	return sixDigits.FindString(mailTo(j.t, j.s.SESURL, addr).Body.Text)
}

func TestJourneysInChromium(t *testing.T) {
	s := startStackWith(t, freeAddr(t))
	for _, tt := range []struct {
		lang, uidPrefix, settledByAliyun, bound, billingSettled string
	}{
		{"zh-CN", "31", "阿里云账号", "已绑定", "费用中心账号"},
		{"en", "32", "Alibaba Cloud account", "Bound", "Billing center account"},
	} {
		t.Run(tt.lang, func(t *testing.T) {
			t.Parallel()
			suffix := strings.ToLower(strings.ReplaceAll(tt.lang, "-", ""))
			uid := func(n int) string { return fmt.Sprintf("%s%014d", tt.uidPrefix, n) }

			var newBuyer string // journey 1's instance, for journey 4
			t.Run("1 new buyer registers", func(t *testing.T) {
				j := newJourney(t, s, tt.lang, "journey1", true)
				newBuyer = j.register(uid(1), suffix, tt.settledByAliyun)
			})

			billing, owner := "acme-"+suffix, "alice-"+suffix
			seedCustomer(t, s, localstack.Customer{Billing: billing, Owner: owner, Password: consolePassword,
				Workspaces: []guance.Workspace{{ID: "wksp_prod_" + suffix, Name: "prod " + billing, Site: "cn1"}}})
			var bound string // journey 2's instance, for journey 5
			t.Run("2 binds billing and a workspace", func(t *testing.T) {
				j := newJourney(t, s, tt.lang, "journey2", true)
				bound = j.buy(uid(2))
				j.loginWithoutPassword(bound, "#bind a")
				j.step("bind billing", chromedp.Click(chromedp.CSS("#bind a")), chromedp.WaitVisible(chromedp.CSS("#f-username")))
				j.step("billing code sent",
					chromedp.SendKeys(chromedp.CSS("#f-username"), billing),
					chromedp.Click(chromedp.CSS("#send")), chromedp.WaitVisible(chromedp.CSS("#sent")),
				)
				j.step("workspaces", chromedp.SendKeys(chromedp.CSS("#f-code"), j.code(billing+"@billing.example")+kb.Enter), chromedp.WaitVisible(chromedp.CSS("#account")))
				j.step("confirm binding", chromedp.Click(chromedp.CSS("button.bind")), chromedp.WaitVisible(chromedp.CSS("#confirm-text")))
				j.step("bound", chromedp.Click(chromedp.CSS("#bind")), chromedp.WaitVisible(chromedp.CSS("#confirm")))
				if badge := j.text("#ws-wksp_prod_" + suffix + " .badge"); badge != tt.bound {
					t.Fatalf("badge %q", badge)
				}
				j.step("console login", chromedp.Click(chromedp.CSS("#confirm")), chromedp.WaitVisible(chromedp.CSS("#f-password")))
				if got := j.signIn(owner, consolePassword, "prod "+billing); !strings.Contains(got, tt.settledByAliyun) || !strings.Contains(got, bound) {
					t.Fatalf("the bound workspace's settlement: %q", got)
				}
			})

			t.Run("3 creates a workspace with and without a Guance account", func(t *testing.T) {
				for _, withAccount := range []bool{true, false} {
					j := newJourney(t, s, tt.lang, "journey3", false)
					n := 3
					if !withAccount {
						n = 4
					}
					// A billing center account without workspaces, each
					// run its own (its code mails are told apart so).
					empty, emptyOwner := fmt.Sprintf("solo%d-%s", n, suffix), fmt.Sprintf("sam%d-%s", n, suffix)
					seedCustomer(t, s, localstack.Customer{Billing: empty, Owner: emptyOwner, Password: consolePassword})
					id := j.buy(uid(n))
					j.loginWithoutPassword(id, "#bind a")
					j.step("bind billing",
						chromedp.Click(chromedp.CSS("#bind a")), chromedp.WaitVisible(chromedp.CSS("#f-username")),
						chromedp.SendKeys(chromedp.CSS("#f-username"), empty),
						chromedp.Click(chromedp.CSS("#send")), chromedp.WaitVisible(chromedp.CSS("#sent")),
					)
					code := j.code(empty + "@billing.example")
					j.step("workspaces", chromedp.SendKeys(chromedp.CSS("#f-code"), code+kb.Enter), chromedp.WaitVisible(chromedp.CSS("#account")))
					name, user, email := "staging-"+suffix, emptyOwner, emptyOwner+"@example.com"
					if withAccount {
						j.step("create",
							chromedp.SetValue(chromedp.CSS("#f-site-choice"), "eu1"), chromedp.Click(chromedp.CSS("#site-set")),
							chromedp.WaitReady(chromedp.CSS(`#f-site-choice option[value="eu1"][selected]`)),
							chromedp.Click(chromedp.CSS("#create-have")), chromedp.WaitVisible(chromedp.CSS("#f-workspace")),
							chromedp.SendKeys(chromedp.CSS("#f-workspace"), name),
							chromedp.SendKeys(chromedp.CSS("#f-email"), email),
							chromedp.Click(chromedp.CSS("#f-agree")),
							chromedp.Click(chromedp.CSS("#send")), chromedp.WaitVisible(chromedp.CSS("#sent")),
						)
					} else {
						name, user, email = "sandbox-"+suffix, "carol-"+suffix, "carol-"+suffix+"@example.com"
						j.step("create",
							chromedp.SetValue(chromedp.CSS("#f-site-choice"), "eu1"), chromedp.Click(chromedp.CSS("#site-set")),
							chromedp.WaitReady(chromedp.CSS(`#f-site-choice option[value="eu1"][selected]`)),
							chromedp.Click(chromedp.CSS("#create-new")), chromedp.WaitVisible(chromedp.CSS("#f-username")),
							chromedp.SendKeys(chromedp.CSS("#f-workspace"), name),
							chromedp.SendKeys(chromedp.CSS("#f-username"), user),
							chromedp.SendKeys(chromedp.CSS("#f-password"), consolePassword),
							chromedp.SendKeys(chromedp.CSS("#f-confirm"), consolePassword),
							chromedp.SendKeys(chromedp.CSS("#f-email"), email),
							chromedp.Click(chromedp.CSS("#f-agree")),
							chromedp.Click(chromedp.CSS("#send")), chromedp.WaitVisible(chromedp.CSS("#sent")),
						)
					}
					j.step("created", chromedp.SendKeys(chromedp.CSS("#f-code"), j.code(email)+kb.Enter), chromedp.WaitVisible(chromedp.CSS("#notice")))
					j.step("console login", chromedp.Click(chromedp.CSS("#confirm")), chromedp.WaitVisible(chromedp.CSS("#f-password")))
					if url := j.location(); !strings.HasSuffix(url, "/eu1/") {
						t.Fatalf("Confirm went to %s, not the eu1 console", url)
					}
					if got := j.signIn(user, consolePassword, name); !strings.Contains(got, tt.settledByAliyun) || !strings.Contains(got, id) {
						t.Fatalf("the created workspace's settlement: %q", got)
					}
				}
			})

			t.Run("4 an activated buyer goes straight to the console", func(t *testing.T) {
				j := newJourney(t, s, tt.lang, "journey4", false)
				j.loginWithoutPassword(newBuyer, "#f-password")
				if url := j.location(); !strings.HasPrefix(url, s.ConsoleURL+"/cn1/") {
					t.Fatalf("an activated buyer's link went to %s", url)
				}
			})

			t.Run("5 the buyer closes the service", func(t *testing.T) {
				j := newJourney(t, s, tt.lang, "journey5", false)
				j.step("release on the simulator",
					chromedp.Navigate(s.SimulatorURL+"/console?action=releaseInstance&instance="+bound),
					chromedp.WaitVisible(chromedp.CSS("textarea")),
					chromedp.Click(chromedp.CSS("#send-call")),
				)
				j.eventually("the release of "+bound, func() bool {
					item := j.instance(bound)
					_, due := item["effects"]
					status, _ := item["status"].(*types.AttributeValueMemberS)
					return status != nil && status.Value == "released" && !due
				})
				j.step("console login", chromedp.Navigate(s.ConsoleURL+"/cn1/"), chromedp.WaitVisible(chromedp.CSS("#f-password")))
				if got := j.signIn(owner, consolePassword, "prod "+billing); !strings.Contains(got, tt.billingSettled) {
					t.Fatalf("after the release the workspace's settlement: %q", got)
				}
				notice := mailWith(t, s.SESURL, billing+"@billing.example", bound)
				if !strings.Contains(notice.Body.Text, "prod") && !strings.Contains(notice.Body.Text, "1") {
					t.Fatalf("release notice %+v", notice)
				}
				// Login Without Password now tells it is closed.
				j.loginWithoutPassword(bound, "h1")
				if h1 := j.text("h1"); !strings.Contains(h1, map[string]string{"en": "closed", "zh-CN": "关闭"}[tt.lang]) {
					t.Fatalf("the released instance's page: %q", h1)
				}
			})

			t.Run("6 mistakes, and the way back", func(t *testing.T) {
				j := newJourney(t, s, tt.lang, "journey6", false)
				id := j.buy(uid(6))
				link := s.APIURL + "/aliyun/sso?" + marketplace.VerifyParams(id, time.Now()).Signed(localstack.ISVKey()).Encode()
				// A stale link: told so, with the way to a fresh one.
				stale := s.APIURL + "/aliyun/sso?" + marketplace.VerifyParams(id, time.Now().Add(-time.Hour)).Signed(localstack.ISVKey()).Encode()
				j.step("stale link", chromedp.Navigate(stale), chromedp.WaitVisible(chromedp.CSS("main a")))
				if href, _ := chromedp.Run(j.ctx, chromedp.AttributeValue(chromedp.CSS("main a"), "href")); !strings.HasPrefix(href.Value, s.SimulatorURL) {
					t.Fatalf("a stale link's way out: %q", href.Value)
				}
				// A replayed link: told so, with the way back in.
				j.step("link", chromedp.Navigate(link), chromedp.WaitVisible(chromedp.CSS("#register a")))
				j.step("replayed link", chromedp.Navigate(link), chromedp.WaitVisible(chromedp.CSS("main a")))
				j.step("back in", chromedp.Click(chromedp.CSS("main a[href='/activate']")), chromedp.WaitVisible(chromedp.CSS("#register a")))
				// A taken username: said when the code is asked for (none is
				// sent), with everything typed kept; fixed, a code goes.
				email, username := "mistake-"+suffix+"@example.com", "mistake-"+suffix
				j.step("basic with a taken username",
					chromedp.Click(chromedp.CSS("#register a")), chromedp.WaitVisible(chromedp.CSS("#f-username")),
					chromedp.SendKeys(chromedp.CSS("#f-username"), owner),
					chromedp.SendKeys(chromedp.CSS("#f-password"), consolePassword),
					chromedp.SendKeys(chromedp.CSS("#f-confirm"), consolePassword),
					chromedp.SendKeys(chromedp.CSS("#f-email"), email),
					chromedp.Click(chromedp.CSS("#send")), chromedp.WaitVisible(chromedp.CSS("#f-username-error")),
				)
				if got, _ := chromedp.Run(j.ctx, chromedp.Value(chromedp.CSS("#f-email"))); got != email {
					t.Fatalf("the email typed was lost: %q", got)
				}
				j.step("fix the username",
					clear("#f-username"), chromedp.SendKeys(chromedp.CSS("#f-username"), username),
					chromedp.SendKeys(chromedp.CSS("#f-password"), consolePassword),
					chromedp.SendKeys(chromedp.CSS("#f-confirm"), consolePassword),
					chromedp.Click(chromedp.CSS("#send")), chromedp.WaitVisible(chromedp.CSS("#sent")),
				)
				// A wrong code, then the right one.
				code := j.code(email)
				wrong := strings.Map(func(r rune) rune { return '0' + (r-'0'+1)%10 }, code)
				j.step("wrong code", chromedp.SendKeys(chromedp.CSS("#f-code"), wrong+kb.Enter), chromedp.WaitVisible(chromedp.CSS("#f-code-error")))
				j.step("right code",
					clear("#f-code"), chromedp.SendKeys(chromedp.CSS("#f-code"), code+kb.Enter),
					chromedp.WaitVisible(chromedp.CSS("#f-company")),
				)
				j.step("company",
					chromedp.SendKeys(chromedp.CSS("#f-company"), "Acme"), chromedp.Click(chromedp.CSS("#f-agree")),
					chromedp.Click(chromedp.CSS("#next")), chromedp.WaitVisible(chromedp.CSS("#f-workspace")),
				)
				j.step("workspace", chromedp.SendKeys(chromedp.CSS("#f-workspace"), "w"))
				// The session ends mid-registration (its item expires):
				// told so, and a new link starts again.
				j.endSession()
				j.step("session ended", chromedp.Click(chromedp.CSS("#activate")), chromedp.WaitVisible(chromedp.CSS("main a")))
				j.loginWithoutPassword(id, "#register a")
			})
		})
	}
}

// clear empties a field.
func clear(sel string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := chromedp.Evaluate[bool](`(document.querySelector('`+sel+`').value = '') === ''`)(ctx, t)
		return err
	})
}

// register is journey 1: a new buyer from Activate Now to a login with
// the new account, which shows the new workspace settled by Alibaba
// Cloud. It returns the instance.
func (j *journey) register(uid, suffix, settledByAliyun string) string {
	j.t.Helper()
	id := j.buy(uid)
	j.loginWithoutPassword(id, "#register a")
	username, email := "new-"+suffix, "new-"+suffix+"@example.com"
	j.step("registration basic information",
		chromedp.Click(chromedp.CSS("#register a")), chromedp.WaitVisible(chromedp.CSS("#f-username")),
	)
	j.step("code sent",
		chromedp.SendKeys(chromedp.CSS("#f-username"), username),
		chromedp.SendKeys(chromedp.CSS("#f-password"), consolePassword),
		chromedp.SendKeys(chromedp.CSS("#f-confirm"), consolePassword),
		chromedp.SendKeys(chromedp.CSS("#f-email"), email),
		chromedp.Click(chromedp.CSS("#send")), chromedp.WaitVisible(chromedp.CSS("#sent")),
	)
	j.step("registration company",
		chromedp.SendKeys(chromedp.CSS("#f-code"), j.code(email)),
		chromedp.Click(chromedp.CSS("#next")), chromedp.WaitVisible(chromedp.CSS("#f-company")),
	)
	j.step("registration activation",
		chromedp.SendKeys(chromedp.CSS("#f-company"), "Acme 观测"),
		chromedp.Click(chromedp.CSS("#f-agree")),
		chromedp.Click(chromedp.CSS("#next")), chromedp.WaitVisible(chromedp.CSS("#f-workspace")),
	)
	j.step("success",
		chromedp.SendKeys(chromedp.CSS("#f-workspace"), "prod "+suffix),
		chromedp.Click(chromedp.CSS("#activate")), chromedp.WaitVisible(chromedp.CSS("#done")),
	)
	j.step("console login", chromedp.Click(chromedp.CSS("#confirm")), chromedp.WaitVisible(chromedp.CSS("#f-password")))
	if got := j.signIn(username, consolePassword, "prod "+suffix); !strings.Contains(got, settledByAliyun) || !strings.Contains(got, id) {
		j.t.Fatalf("the new workspace's settlement: %q", got)
	}
	return id
}

// BenchmarkJourney1 is journey 1 against the local stack, from Activate
// Now to the signed-in console: its wall time, the HTTP requests the
// browser makes, and the DynamoDB round trips all the functions make.
func BenchmarkJourney1(b *testing.B) {
	s := startStackWith(b, freeAddr(b))
	i := 0
	for b.Loop() {
		b.StopTimer()
		i++
		j := newJourney(b, s, "en", "bench", false)
		var requests atomic.Int64
		if _, err := chromedp.Call(j.ctx, network.Enable, network.EnableParams{}); err != nil {
			b.Fatal(err)
		}
		if err := chromedp.Listen(j.ctx, func(ev any) {
			if _, ok := ev.(*network.EventRequestWillBeSent); ok {
				requests.Add(1)
			}
		}); err != nil {
			b.Fatal(err)
		}
		ddb := s.DynamoDBRequests()
		start := time.Now()
		b.StartTimer()
		j.register(fmt.Sprintf("33%014d", i), fmt.Sprintf("bench%d", i), "Alibaba Cloud account")
		b.StopTimer()
		b.ReportMetric(time.Since(start).Seconds(), "s/journey")
		b.ReportMetric(float64(requests.Load()), "http-requests/journey")
		b.ReportMetric(float64(s.DynamoDBRequests()-ddb), "ddb-calls/journey")
		b.StartTimer()
	}
}

// location is the page's URL.
func (j *journey) location() string {
	j.t.Helper()
	u, err := chromedp.Run(j.ctx, chromedp.Location())
	if err != nil {
		j.t.Fatal(err)
	}
	return u
}

func seedCustomer(t testing.TB, s *localstack.Stack, c localstack.Customer) {
	t.Helper()
	if err := localstack.PutCustomer(context.Background(), localstack.DynamoDBClient(s.DynamoDBURL), c); err != nil {
		t.Fatal(err)
	}
}

// endSession ends the browser's activation session, as its expiry would
// (the session's item goes).
func (j *journey) endSession() {
	j.t.Helper()
	res, err := chromedp.Call(j.ctx, network.GetCookies, network.GetCookiesParams{})
	if err != nil {
		j.t.Fatal(err)
	}
	for _, c := range res.Cookies {
		if strings.HasSuffix(c.Name, "guance_activation") {
			_, err := localstack.DynamoDBClient(j.s.DynamoDBURL).DeleteItem(context.Background(), &dynamodb.DeleteItemInput{
				TableName: aws.String("SessionsTable"), Key: map[string]types.AttributeValue{"id": &types.AttributeValueMemberS{Value: "session#" + c.Value}},
			})
			if err != nil {
				j.t.Fatal(err)
			}
			return
		}
	}
	j.t.Fatal("the browser has no activation session")
}
