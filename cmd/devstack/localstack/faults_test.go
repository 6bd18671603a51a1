package localstack_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"golang.org/x/net/html"

	"github.com/guance/aliyun-marketplace/cmd/devstack/faults"
	"github.com/guance/aliyun-marketplace/cmd/devstack/localstack"
	"github.com/guance/aliyun-marketplace/cmd/devstack/simulator"
	"github.com/guance/aliyun-marketplace/shared/domain/activation"
	"github.com/guance/aliyun-marketplace/shared/domain/guance"
	"github.com/guance/aliyun-marketplace/shared/domain/marketplace"
	"github.com/guance/aliyun-marketplace/shared/domain/metering"
	"github.com/guance/aliyun-marketplace/shared/domain/outbox"
	"github.com/guance/aliyun-marketplace/shared/endpoints/i18n"
)

// The whole system under the faults production has all the time (Jepsen's
// method): many buyers registering and marketplace calls at once, with
// every fault of the profile on at the wire, then the scheduled jobs run
// until they have nothing left, then every table read and the invariants
// checked. FAULT_SEED and FAULT_BUYERS change the run; make bench runs a
// larger one.

// faultRun is one run's size.
type faultRun struct {
	seed           uint64
	buyers, others int
}

func faultRunFromEnv(buyers, others int) faultRun {
	r := faultRun{seed: 1, buyers: buyers, others: others}
	if v, err := strconv.ParseUint(os.Getenv("FAULT_SEED"), 10, 64); err == nil {
		r.seed = v
	}
	if v, err := strconv.Atoi(os.Getenv("FAULT_BUYERS")); err == nil && v > 0 {
		r.buyers, r.others = v, max(1, v/2)
	}
	return r
}

// TestInvariantsUnderFaults: a run small enough for make test on 2 cores.
func TestInvariantsUnderFaults(t *testing.T) {
	runUnderFaults(t, faultRunFromEnv(4, 3))
}

// BenchmarkInvariantsUnderFaults: the larger run of make bench.
func BenchmarkInvariantsUnderFaults(b *testing.B) {
	for range b.N {
		runUnderFaults(b, faultRunFromEnv(16, 8))
	}
}

// lockedOutput keeps the functions' log lines, for the check that none
// holds personal data.
type lockedOutput struct {
	mu  sync.Mutex
	buf strings.Builder
}

func (o *lockedOutput) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.Write(p)
}

func (o *lockedOutput) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.String()
}

func runUnderFaults(t testing.TB, run faultRun) {
	setup(t)
	buildDir.once.Do(func() { buildDir.dir, _ = os.MkdirTemp("", "stack-build") })
	profile := faults.All(run.seed)
	logs := &lockedOutput{}
	// A scheduled run killed mid-run keeps its lease until its deadline
	// (the function's timeout): 30 s here instead of 5 minutes, so that
	// the jobs can finish within the test (not less: a run keeps 15 s
	// for the outbox's last send, and 10 s to stop cleanly).
	tmpl := *stack.tmpl
	tmpl.Functions = slices.Clone(stack.tmpl.Functions)
	for k, fn := range tmpl.Functions {
		if len(fn.Schedules) > 0 {
			tmpl.Functions[k].Timeout = 30
		}
	}
	s, err := localstack.Start(context.Background(), localstack.Options{
		Root: stack.root, Template: &tmpl, RIE: stack.rie, BuildDir: buildDir.dir,
		APIAddr: "127.0.0.1:0", SimulatorAddr: "127.0.0.1:0", MarketAPIAddr: "127.0.0.1:0", ConsoleAddr: "127.0.0.1:0", DynamoDBAddr: "127.0.0.1:0",
		SESAddr: freeAddr(t), MaxPerFunction: 4, Output: logs, Faults: profile,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	trail := s.WatchTrail()
	if resp, err := http.Get(s.SimulatorURL + "/"); err != nil {
		t.Fatal(err)
	} else {
		page, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !strings.Contains(string(page), `id="faults"`) || !strings.Contains(string(page), profile.String()) {
			t.Errorf("Purchased Services does not show the fault profile")
		}
	}
	t.Logf("faults: %s; %d buyers, %d more purchases with marketplace calls", profile, run.buyers, run.others)
	started := time.Now()

	// The drive: buyers registering, marketplace calls, jobs, all at once.
	var wg sync.WaitGroup
	outcomes := make([]*buyerOutcome, run.buyers)
	for i := range run.buyers {
		wg.Go(func() { outcomes[i] = registerUnderFaults(t, s, run, i) })
	}
	calls := make([]*purchaseCalls, run.others)
	for i := range run.others {
		wg.Go(func() { calls[i] = lifecycleUnderFaults(t, s, run, i) })
	}
	jobsDone := make(chan struct{})
	var jobs sync.WaitGroup
	jobs.Go(func() {
		for {
			select {
			case <-jobsDone:
				return
			case <-time.After(700 * time.Millisecond):
				_, _ = s.FireSchedule(context.Background(), "ReconcileFunction", "Schedule")
				_, _ = s.FireSchedule(context.Background(), "MeteringFunction", "Schedule")
			}
		}
	})
	wg.Wait()
	close(jobsDone)
	jobs.Wait()
	drove := time.Since(started)

	// Then the jobs run, without faults, until they have nothing left.
	s.Faults.Pause(true)
	quiet := settle(t, s)
	t.Logf("drove %s, settled in %s", drove.Round(time.Second), quiet.Round(time.Second))
	t.Log(s.Faults.Report())

	succeeded, callsMade := 0, 0
	for _, o := range outcomes {
		if o.succeeded {
			succeeded++
		}
	}
	for _, pc := range calls {
		callsMade += pc.calls
	}
	t.Logf("%d of %d buyers saw the success page; %d lifecycle calls sent for %d purchases; %d windows billed", succeeded, run.buyers, callsMade, run.others, len(s.Market.Pushed()))
	if succeeded*2 < run.buyers {
		t.Errorf("only %d of %d buyers got through: the faults are too many for a person, or the driver is broken", succeeded, run.buyers)
	}
	c := &checker{t: t, s: s, db: localstack.DynamoDBClient(s.DynamoDBURL)}
	c.purchases(calls)
	c.registrations(outcomes)
	c.workspacesSettledOnce()
	c.mails()
	c.windows()
	c.notifications()
	c.buyersCanGoOn(outcomes)
	c.itemSizes()
	c.logsHoldNoPersonalData(logs.String(), outcomes)
	for _, v := range trail.Violations() {
		t.Errorf("audit trail: %s", v)
	}
	t.Logf("invariants checked: %s", strings.Join(c.checked, ", "))
}

// --- The buyers -------------------------------------------------------------

// buyerOutcome is what one buyer did and saw.
type buyerOutcome struct {
	uid, instance, username, email, workspace string
	succeeded                                 bool   // saw the success page
	lastError                                 string // the last error page or failure seen
	codes                                     []string
}

// faultyBuyer is a browser without a browser against a system that fails:
// it presses again after an error page, and starts from a new Login
// Without Password when its session is lost.
type faultyBuyer struct {
	t    testing.TB
	s    *localstack.Stack
	http *http.Client
	out  *buyerOutcome
}

func (b *faultyBuyer) do(method, target string, form url.Values) (int, string, string) {
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, target, body)
	if err != nil {
		b.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	req.Header.Set("Accept-Language", "en")
	resp, err := b.http.Do(req)
	if err != nil {
		return 0, err.Error(), ""
	}
	defer resp.Body.Close()
	page, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(page), resp.Request.URL.Path
}

// login follows a fresh Login Without Password link until the activation
// page (or the page the session resumes on) answers.
func (b *faultyBuyer) login() bool {
	for try := range 15 {
		code, page, _ := b.do(http.MethodGet, b.s.APIURL+"/aliyun/sso?"+marketplace.VerifyParams(b.out.instance, time.Now()).Signed(localstack.ISVKey()).Encode(), nil)
		if code == http.StatusOK {
			return true
		}
		b.out.lastError = fmt.Sprintf("login: %d %.80s", code, page)
		time.Sleep(time.Duration(100*(try+1)) * time.Millisecond)
	}
	return false
}

var alertRe = regexp.MustCompile(`(?s)(?:role="alert"|class="problem"|class="field-error")[^>]*>(.*?)</`)

var waitRe = regexp.MustCompile(`Wait ([0-9]+) seconds`)

// problemsOf is what a refused page says, in short.
func problemsOf(page string) string {
	var out []string
	for _, m := range alertRe.FindAllStringSubmatch(page, 4) {
		out = append(out, strings.Join(strings.Fields(html.UnescapeString(m[1])), " "))
	}
	if len(out) == 0 {
		if t := regexp.MustCompile(`<title>([^<]*)</title>`).FindStringSubmatch(page); t != nil {
			return "page " + t[1]
		}
		return "no problem shown"
	}
	return strings.Join(out, "; ")
}

// formOf reads the form posting to action on page: its fields as a
// browser would send them (inputs, checked boxes, selected options),
// without its buttons.
func formOf(page, action string) (url.Values, bool) {
	doc, err := html.Parse(strings.NewReader(page))
	if err != nil {
		return nil, false
	}
	attr := func(n *html.Node, key string) (string, bool) {
		for _, a := range n.Attr {
			if a.Key == key {
				return a.Val, true
			}
		}
		return "", false
	}
	var form *html.Node
	var find func(n *html.Node)
	find = func(n *html.Node) {
		if n.Type == html.ElementNode && n.Data == "form" {
			if a, _ := attr(n, "action"); a == action {
				form = n
			}
		}
		for c := n.FirstChild; c != nil && form == nil; c = c.NextSibling {
			find(c)
		}
	}
	find(doc)
	if form == nil {
		return nil, false
	}
	values := url.Values{}
	var walk func(n *html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode {
			name, named := attr(n, "name")
			switch {
			case n.Data == "input" && named:
				typ, _ := attr(n, "type")
				value, _ := attr(n, "value")
				_, checked := attr(n, "checked")
				switch typ {
				case "submit", "button":
				case "checkbox", "radio":
					if checked {
						values.Set(name, value)
					}
				default:
					values.Set(name, value)
				}
			case n.Data == "select" && named:
				var first string
				for o := n.FirstChild; o != nil; o = o.NextSibling {
					if o.Type != html.ElementNode || o.Data != "option" {
						continue
					}
					v, _ := attr(o, "value")
					if first == "" {
						first = v
					}
					if _, sel := attr(o, "selected"); sel {
						first = v
						break
					}
				}
				values.Set(name, first)
			case n.Data == "textarea" && named:
				text := ""
				if n.FirstChild != nil {
					text = n.FirstChild.Data
				}
				values.Set(name, text)
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(form)
	return values, true
}

// step posts a form of the flow until want shows on the page it leads
// to: after an error page the buyer presses again; when the form is not
// on the page any more (a session lost), a new Login Without Password
// brings the flow back to where it was.
func (b *faultyBuyer) step(page *string, formPath, want string, fields url.Values) bool {
	for try := range 12 {
		form, ok := formOf(*page, formPath)
		if !ok {
			if !b.login() {
				return false
			}
			_, *page, _ = b.do(http.MethodGet, b.s.APIURL+formPath, nil)
			if form, ok = formOf(*page, formPath); !ok {
				b.out.lastError = fmt.Sprintf("no form %s after a new login: %.120s", formPath, *page)
				time.Sleep(time.Duration(100*(try+1)) * time.Millisecond)
				continue
			}
		}
		for k, v := range fields {
			form[k] = v
		}
		code, next, _ := b.do(http.MethodPost, b.s.APIURL+formPath, form)
		if code == http.StatusOK && strings.Contains(next, want) {
			*page = next
			return true
		}
		b.out.lastError = fmt.Sprintf("%s: %d %s", formPath, code, problemsOf(next))
		if m := waitRe.FindStringSubmatch(next); m != nil {
			// A code was sent, its mail did not come (the send's answer
			// lost): the page says how long to wait, as a person would.
			n, _ := strconv.Atoi(m[1])
			time.Sleep(time.Duration(min(n, 70)+1) * time.Second)
		}
		if code == http.StatusOK {
			*page = next // refused with problems: the form is there again
		} else {
			_, *page, _ = b.do(http.MethodGet, b.s.APIURL+formPath, nil)
		}
		time.Sleep(time.Duration(50*(try+1)) * time.Millisecond)
	}
	return false
}

// registerUnderFaults is journey 1 over HTTP: buy, Login Without
// Password, register (a code by mail), activate.
func registerUnderFaults(t testing.TB, s *localstack.Stack, run faultRun, i int) *buyerOutcome {
	jar, _ := cookiejar.New(nil)
	suffix := fmt.Sprintf("f%d-%d", run.seed, i)
	out := &buyerOutcome{uid: fmt.Sprintf("88%09d%02d", run.seed%1e9, i), username: "buyer-" + suffix, email: "buyer-" + suffix + "@example.com", workspace: "prod " + suffix}
	b := &faultyBuyer{t: t, s: s, http: &http.Client{Jar: jar, Timeout: 40 * time.Second}, out: out}
	if out.instance = buy(b, out.uid); out.instance == "" {
		return out
	}
	if !b.login() {
		return out
	}
	_, page, _ := b.do(http.MethodGet, s.APIURL+"/register", nil)
	basic := url.Values{"username": {out.username}, "email": {out.email}, "password": {consolePassword}, "confirm": {consolePassword}}
	var code string
	for try := 0; code == "" && try < 6; try++ {
		send := url.Values{"action": {"send-code"}}
		for k, v := range basic {
			send[k] = v
		}
		if !b.step(&page, "/register/basic", `id="sent"`, send) {
			return out
		}
		if code = waitForCode(t, s.SESURL, out.email, 15*time.Second); code != "" {
			out.codes = append(out.codes, code)
		}
	}
	if code == "" {
		out.lastError = "no code mail came"
		return out
	}
	next := url.Values{"action": {"next"}, "code": {code}}
	for k, v := range basic {
		next[k] = v
	}
	if !b.step(&page, "/register/basic", `action="/register/company"`, next) ||
		!b.step(&page, "/register/company", `action="/register/activate"`, url.Values{"action": {"next"}, "company": {"Acme " + suffix}, "agree": {"yes"}}) ||
		!b.step(&page, "/register/activate", `id="done"`, url.Values{"action": {"activate"}, "workspace": {out.workspace}}) {
		return out
	}
	out.succeeded, out.lastError = true, ""
	// The platform reports the new workspace's usage of the last two
	// closed hours, the purchase's metering moved back to them: one of
	// them is billable now or late, whatever the hour.
	if ws := workspaceNamed(t, s, out.workspace); ws != "" {
		items, err := localstack.MeteringItems()
		if err != nil {
			t.Error(err)
			return out
		}
		if _, err := localstack.WriteUsage(context.Background(), localstack.DynamoDBClient(s.DynamoDBURL), items,
			localstack.Usage{WorkspaceID: ws, Item: "host", Amount: int64(2 + i), Hours: 2, RewindToFirst: true}, time.Now()); err != nil {
			t.Errorf("usage of %s: %v", ws, err)
		}
	}
	return out
}

// workspaceNamed is the id of the workspace named name ("" if none).
func workspaceNamed(t testing.TB, s *localstack.Stack, name string) string {
	out, err := localstack.DynamoDBClient(s.DynamoDBURL).Scan(context.Background(), &dynamodb.ScanInput{TableName: aws.String("WorkspacesTable")})
	if err != nil {
		t.Error(err)
		return ""
	}
	for _, item := range out.Items {
		var ws guance.Workspace
		if attributevalue.UnmarshalMap(item, &ws) == nil && ws.Name == name {
			return ws.ID
		}
	}
	return ""
}

// buy is Activate Now on the simulator, and the wait for the marketplace
// to hold the purchase opened (it calls createInstance again while the
// answer holds no instance).
func buy(b *faultyBuyer, uid string) string {
	seen := map[string]bool{}
	for _, p := range b.s.Market.Purchases() {
		seen[p.InstanceID] = true
	}
	if code, _, _ := b.do(http.MethodPost, b.s.SimulatorURL+"/buy", url.Values{"uid": {uid}, "agree": {"1"}}); code != http.StatusOK {
		b.out.lastError = fmt.Sprintf("buy: %d", code)
	}
	for deadline := time.Now().Add(90 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		for _, p := range b.s.Market.Purchases() {
			if p.AliUID == uid && !seen[p.InstanceID] && p.Status == "OPENED" {
				return p.InstanceID
			}
		}
	}
	b.out.lastError = "the purchase by " + uid + " never opened"
	return ""
}

// waitForCode reads the newest code mailed to addr, waiting up to d.
func waitForCode(t testing.TB, sesURL, addr string, d time.Duration) string {
	for deadline := time.Now().Add(d); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		resp, err := http.Get(sesURL + "/store")
		if err != nil {
			continue
		}
		var store struct{ Emails []storedMail }
		err = json.NewDecoder(resp.Body).Decode(&store)
		resp.Body.Close()
		if err != nil {
			continue
		}
		for k := len(store.Emails) - 1; k >= 0; k-- {
			m := store.Emails[k]
			if len(m.Destination.To) > 0 && m.Destination.To[0] == addr {
				if code := sixDigits.FindString(m.Body.Text); code != "" {
					return code
				}
			}
		}
	}
	return ""
}

// --- The marketplace --------------------------------------------------------

// purchaseCalls is one purchase the marketplace moved through its
// lifecycle, each call sent twice at once (a retry while the first still
// runs) and again until answered.
type purchaseCalls struct {
	instance string
	final    string // the marketplace's status after the last call taken
	calls    int
	failed   string
}

func lifecycleUnderFaults(t testing.TB, s *localstack.Stack, run faultRun, i int) *purchaseCalls {
	jar, _ := cookiejar.New(nil)
	b := &faultyBuyer{t: t, s: s, http: &http.Client{Jar: jar, Timeout: 40 * time.Second}, out: &buyerOutcome{}}
	uid := fmt.Sprintf("77%09d%02d", run.seed%1e9, i)
	pc := &purchaseCalls{}
	if pc.instance = buy(b, uid); pc.instance == "" {
		pc.failed = b.out.lastError
		return pc
	}
	client := &simulator.Client{SPIURL: s.APIURL + "/aliyun/spi", Key: localstack.ISVKey(), HTTP: &http.Client{Timeout: 40 * time.Second}}
	rng := rand.New(rand.NewPCG(run.seed, uint64(i)))
	order := 0
	nextOrder := func() string { order++; return fmt.Sprintf("3%09d%03d%02d", run.seed%1e9, i, order) }
	script := []marketplace.Params{
		{"action": "expiredInstance", "instanceId": pc.instance},
		{"action": "renewInstance", "instanceId": pc.instance, "orderId": nextOrder(), "expiredOn": "2099-06-01 00:00:00"},
		{"action": "expiredInstance", "instanceId": pc.instance},
		{"action": "resumeInstance", "instanceId": pc.instance},
	}
	if rng.IntN(2) == 0 {
		script = append(script, marketplace.Params{"action": "releaseInstance", "instanceId": pc.instance})
	}
	// An orderPay the marketplace could not deliver: listed for the
	// reconciliation to apply and confirm.
	s.Market.QueueFailed(pc.instance, time.Now())
	for _, params := range script {
		taken := false
		for try := 0; try < 30 && !taken; try++ {
			var twice sync.WaitGroup
			answers := make([]simulator.Exchange, 2)
			for k := range answers {
				twice.Go(func() { answers[k], _ = client.Call(context.Background(), params, k == 1) })
			}
			twice.Wait()
			pc.calls += 2
			for _, a := range answers {
				taken = taken || (a.Status == http.StatusOK && strings.Contains(a.Answer, `"success":true`))
			}
			if !taken {
				time.Sleep(time.Duration(100*(try+1)) * time.Millisecond)
			}
		}
		if !taken {
			pc.failed = fmt.Sprintf("%s never taken", params["action"])
			return pc
		}
		s.Market.Applied(params)
		p, _ := s.Market.Instance(pc.instance)
		pc.final = p.Status
	}
	return pc
}

// settle runs the reconciliation and the metering until nothing is left
// for them: no effects due, no mail waiting, no failed notification
// listed, no window waiting to be sent.
func settle(t testing.TB, s *localstack.Stack) time.Duration {
	start := time.Now()
	store := localstack.LocalStore(s.DynamoDBURL)
	ctx := context.Background()
	// A process killed while it held a mail's claim (2 minutes) or a run's
	// lease leaves them held until they expire: the jobs wait it out, as
	// in AWS. Usually nothing is left at once.
	deadline := start.Add(outbox.Lease + 60*time.Second)
	for {
		_, _ = s.FireSchedule(ctx, "ReconcileFunction", "Schedule")
		_, _ = s.FireSchedule(ctx, "MeteringFunction", "Schedule")
		due, _, _ := store.Queue().EffectsDue(ctx, time.Now().Add(time.Hour), "", 10)
		// Mails due now: one waiting out its backoff is queued for retry.
		mails, _ := store.Outbox().Due(ctx, time.Now(), 10)
		failed, _ := s.Market.FailedNotifications(1, 10)
		pending, _ := store.Pushes().Unsent(ctx, metering.PushPending)
		disputed := 0
		for _, inst := range (&checker{t: t, s: s, db: localstack.DynamoDBClient(s.DynamoDBURL)}).instances() {
			if inst.DisputedAction != "" {
				disputed++
			}
		}
		if len(due) == 0 && len(mails) == 0 && len(failed) == 0 && len(pending) == 0 && disputed == 0 {
			return time.Since(start)
		}
		if time.Now().After(deadline) {
			for _, id := range mails {
				m, ok, _ := store.Operator().Mail(ctx, id)
				t.Logf("mail waiting: %v %s %s state=%s attempts=%d dueAt=%s claimedUntil=%s lastError=%q expires=%s", ok, m.ID, m.Kind, m.State, m.Attempts,
					m.DueAt.Format(time.RFC3339), m.ClaimedUntil.Format(time.RFC3339), m.LastError, m.ExpiresAt.Format(time.RFC3339))
			}
			out, _ := s.FireSchedule(ctx, "ReconcileFunction", "Schedule")
			t.Logf("a reconciliation now: %s", out)
			t.Fatalf("the jobs never settled: %d effects due, %d mails waiting, %d notifications listed, %d windows pending, %d disputes", len(due), len(mails), len(failed), len(pending), disputed)
		}
		time.Sleep(300 * time.Millisecond)
	}
}

// --- The invariants ---------------------------------------------------------

type checker struct {
	t       testing.TB
	s       *localstack.Stack
	db      *dynamodb.Client
	checked []string
}

func (c *checker) scan(table string) []map[string]types.AttributeValue {
	c.t.Helper()
	var items []map[string]types.AttributeValue
	p := dynamodb.NewScanPaginator(c.db, &dynamodb.ScanInput{TableName: aws.String(table), ConsistentRead: aws.Bool(true)})
	for p.HasMorePages() {
		page, err := p.NextPage(context.Background())
		if err != nil {
			c.t.Fatalf("scan %s: %v", table, err)
		}
		items = append(items, page.Items...)
	}
	return items
}

func (c *checker) instances() map[string]activation.Instance {
	out := map[string]activation.Instance{}
	for _, item := range c.scan("InstancesTable") {
		id := item["instanceId"].(*types.AttributeValueMemberS).Value
		if strings.Contains(id, "#") {
			continue // leases, payments, other bookkeeping
		}
		var inst activation.Instance
		if err := attributevalue.UnmarshalMap(item, &inst); err != nil {
			c.t.Fatalf("instance %s: %v", id, err)
		}
		out[id] = inst
	}
	return out
}

// purchases: every purchase the marketplace created exists once, in the
// state of the last call it took.
func (c *checker) purchases(calls []*purchaseCalls) {
	c.checked = append(c.checked, "every purchase exists once, in the state of its last call")
	ours := c.instances()
	for _, p := range c.s.Market.Purchases() {
		inst, ok := ours[p.InstanceID]
		if !ok {
			c.t.Errorf("purchase %s (%s) is not recorded", p.InstanceID, p.Status)
			continue
		}
		want := map[string]activation.Status{"OPENED": activation.StatusActive, "EXPIRED": activation.StatusFrozen, "CLOSED": activation.StatusReleased}[p.Status]
		if want != "" && inst.Status != want {
			c.t.Errorf("purchase %s: the marketplace says %s, we hold %s", p.InstanceID, p.Status, inst.Status)
		}
	}
	for _, pc := range calls {
		if pc.failed != "" {
			c.t.Errorf("purchase %s: the marketplace gave up: %s", pc.instance, pc.failed)
		}
	}
}

// registrations: a buyer who saw the success page has the account, the
// workspace and its settlement through the purchase; no registration is
// half written (an account with its guards, a workspace with its owner).
func (c *checker) registrations(outcomes []*buyerOutcome) {
	c.checked = append(c.checked, "registrations whole, each success page true")
	accounts := map[string]map[string]types.AttributeValue{}
	for _, item := range c.scan("AccountsTable") {
		accounts[item["id"].(*types.AttributeValueMemberS).Value] = item
	}
	var workspaces []guance.Workspace
	for _, item := range c.scan("WorkspacesTable") {
		var ws guance.Workspace
		if err := attributevalue.UnmarshalMap(item, &ws); err == nil && ws.ID != "" {
			workspaces = append(workspaces, ws)
		}
	}
	instances := c.instances()
	for _, o := range outcomes {
		if !o.succeeded {
			continue
		}
		inst := instances[o.instance]
		if inst.Progress != activation.ProgressActivated || inst.BillingAccount != o.username {
			c.t.Errorf("buyer %s saw success; instance %s is %s, bound to %q", o.username, o.instance, inst.Progress, inst.BillingAccount)
		}
		found := false
		for _, ws := range workspaces {
			if ws.Name == o.workspace {
				found = true
				if ws.Settlement.Instance != o.instance && inst.Status != activation.StatusReleased {
					c.t.Errorf("workspace %s: settled %+v, want through %s", ws.ID, ws.Settlement, o.instance)
				}
			}
		}
		if !found {
			c.t.Errorf("buyer %s saw success; no workspace %q", o.username, o.workspace)
		}
	}
	// Every account item is whole: a Guance account with its email's
	// guard, a guard with its account; a buyer who registered has the
	// billing center account of the same name.
	for id, item := range accounts {
		switch {
		case strings.HasPrefix(id, "guance#"):
			username := strings.TrimPrefix(id, "guance#")
			if email, ok := item["email"].(*types.AttributeValueMemberS); ok {
				if _, ok := accounts["guance-email#"+email.Value]; !ok {
					c.t.Errorf("account %s without its email guard", username)
				}
			}
		case strings.HasPrefix(id, "guance-email#"):
			if owner, ok := item["username"].(*types.AttributeValueMemberS); !ok || accounts["guance#"+owner.Value] == nil {
				c.t.Errorf("email guard %s without its account", id)
			}
		}
	}
	for _, o := range outcomes {
		if o.succeeded && (accounts["guance#"+o.username] == nil || accounts["billing#"+o.username] == nil) {
			c.t.Errorf("buyer %s saw success; Guance account %v, billing center account %v", o.username, accounts["guance#"+o.username] != nil, accounts["billing#"+o.username] != nil)
		}
	}
	for _, ws := range workspaces {
		if _, ok := accounts["guance#"+ws.Owner]; ws.Owner != "" && !ok {
			c.t.Errorf("workspace %s owned by %s, who has no account", ws.ID, ws.Owner)
		}
	}
}

// workspacesSettledOnce: a workspace is settled by at most one purchase,
// and the purchase lists it.
func (c *checker) workspacesSettledOnce() {
	c.checked = append(c.checked, "each workspace settled by at most one purchase, both sides agreeing")
	owner := map[string]string{}
	for id, inst := range c.instances() {
		for _, ws := range inst.Workspaces {
			if other, ok := owner[ws]; ok {
				c.t.Errorf("workspace %s listed by instances %s and %s", ws, other, id)
			}
			owner[ws] = id
		}
	}
	for _, item := range c.scan("WorkspacesTable") {
		var ws guance.Workspace
		if attributevalue.UnmarshalMap(item, &ws) != nil || ws.ID == "" {
			continue
		}
		if ws.Settlement.Instance != "" && owner[ws.ID] != ws.Settlement.Instance {
			c.t.Errorf("workspace %s settled through %s, which does not list it (%q does)", ws.ID, ws.Settlement.Instance, owner[ws.ID])
		}
	}
}

// mails: every mail of the outbox is sent (and reached SES) or still
// queued for retry, none lost; each reached SES once, or more only as
// often as a send's outcome was lost (SES's answer lost, the deliverer
// killed after the send, its record's write answered lost): the outbox
// delivers at least once, as SES itself does.
func (c *checker) mails() {
	c.checked = append(c.checked, "every mail sent or queued, none lost, none duplicated beyond the sends whose outcome was lost")
	// The outbox's mails only: a registration's codes go straight to SES
	// (a buyer may ask for several).
	reached := map[string]int{}
	for _, m := range allMail(c.t, c.s.SESURL) {
		if len(m.Destination.To) > 0 && m.Subject != i18n.T(i18n.EN, "mail.code.subject") && m.Subject != i18n.T(i18n.ZH, "mail.code.subject") {
			reached[m.Destination.To[0]]++
		}
	}
	expected := map[string]int{}
	for _, item := range c.scan("OutboxTable") {
		var m outbox.Item
		if attributevalue.UnmarshalMap(item, &m) != nil || m.ID == "" || m.Kind == outbox.KindVoid {
			continue
		}
		switch m.State {
		case outbox.StateSent:
			expected[m.To]++
			if reached[m.To] == 0 {
				c.t.Errorf("mail %s (%s) recorded sent, never reached SES", m.ID, m.Kind)
			}
		case outbox.StatePending:
			// Queued for retry, after its backoff: not lost. One due
			// already would be stuck.
			if m.ExpiresAt.After(time.Now()) && !m.DueAt.After(time.Now()) {
				c.t.Errorf("mail %s (%s) still due after the jobs settled", m.ID, m.Kind)
			}
			c.t.Logf("mail %s (%s) queued for retry at %s, after %d attempts (%s)", m.ID, m.Kind, m.DueAt.Format(time.RFC3339), m.Attempts, m.LastError)
		case outbox.StateDead:
			c.t.Errorf("mail %s (%s) died: %s", m.ID, m.Kind, m.LastError)
		}
	}
	f := c.s.Faults
	allowed := f.Count(faults.SESLostAnswer) + f.Count(faults.FunctionKilled) + f.Count(faults.DynamoDBLostAnswer)
	extra := 0
	for to, n := range expected {
		extra += max(0, reached[to]-n)
	}
	if extra > allowed {
		c.t.Errorf("%d outbox mails reached SES more than once, beyond the %d sends whose outcome was lost", extra, allowed)
	}
}

// windows: every metering window is pushed once, or recorded refused or
// uncertain; never twice.
func (c *checker) windows() {
	c.checked = append(c.checked, "every metering window pushed at most once, and recorded")
	pushed := map[string]int{}
	for _, r := range c.s.Market.Pushed() {
		pushed[fmt.Sprint(r.InstanceID, "/", r.StartTime)]++
	}
	records := map[string]metering.PushState{}
	for _, item := range c.scan("MeteringTable") {
		var p metering.Push
		if attributevalue.UnmarshalMap(item, &p) == nil && p.InstanceID != "" {
			records[fmt.Sprint(p.InstanceID, "/", p.Window)] = p.State
		}
	}
	states := map[metering.PushState]int{}
	for _, st := range records {
		states[st]++
	}
	c.t.Logf("metering windows decided: %v", states)
	for k, n := range pushed {
		if n > 1 {
			c.t.Errorf("window %s billed %d times", k, n)
		}
		if st := records[k]; st != metering.PushPushed && st != metering.PushUncertain {
			c.t.Errorf("window %s billed, recorded %q", k, st)
		}
	}
	for k, st := range records {
		if st == metering.PushPushed && pushed[k] == 0 {
			c.t.Errorf("window %s recorded pushed, never billed", k)
		}
	}
}

// notifications: every failed notification applied and confirmed; each
// order paid once on the trail.
func (c *checker) notifications() {
	c.checked = append(c.checked, "every failed notification applied once and confirmed")
	if left, total := c.s.Market.FailedNotifications(1, 100); total != 0 {
		c.t.Errorf("%d failed notifications still listed: %+v", total, left)
	}
	paid := map[string]int{}
	for _, item := range c.scan("AuditTable") {
		if k, ok := item["kind"].(*types.AttributeValueMemberS); ok && k.Value == "Order Paid" {
			paid[item["orderId"].(*types.AttributeValueMemberS).Value]++
		}
	}
	for order, n := range paid {
		if n > 1 {
			c.t.Errorf("order %s paid %d times on the trail", order, n)
		}
	}
}

// buyersCanGoOn: a buyer who gave up on an error page finds, with the
// next Login Without Password, a page to go on from.
func (c *checker) buyersCanGoOn(outcomes []*buyerOutcome) {
	c.checked = append(c.checked, "every buyer who saw an error can go on")
	for _, o := range outcomes {
		if o.succeeded || o.instance == "" {
			if o.instance == "" {
				c.t.Errorf("buyer %s: no purchase (%s)", o.username, o.lastError)
			}
			continue
		}
		jar, _ := cookiejar.New(nil)
		b := &faultyBuyer{t: c.t, s: c.s, http: &http.Client{Jar: jar, Timeout: 20 * time.Second}, out: o}
		code, page, path := b.do(http.MethodGet, c.s.APIURL+"/aliyun/sso?"+marketplace.VerifyParams(o.instance, time.Now()).Signed(localstack.ISVKey()).Encode(), nil)
		if code != http.StatusOK || !(strings.Contains(page, "<form") || strings.Contains(page, `id="done"`) || strings.Contains(path, "console")) {
			c.t.Errorf("buyer %s (last saw %s) cannot go on: %d %s %.200s", o.username, o.lastError, code, path, page)
		} else {
			c.t.Logf("buyer %s gave up (%s) and can go on at %s", o.username, o.lastError, path)
		}
	}
}

// itemSizes: no item near DynamoDB's 400 KB limit.
func (c *checker) itemSizes() {
	c.checked = append(c.checked, "no item over 100 KB (DynamoDB's limit is 400 KB)")
	for _, table := range []string{"InstancesTable", "SessionsTable", "VerificationTable", "AccountsTable", "WorkspacesTable", "OutboxTable", "UsageTable", "MeteringTable", "AuditTable"} {
		for _, item := range c.scan(table) {
			var plain map[string]any
			_ = attributevalue.UnmarshalMap(item, &plain)
			raw, _ := json.Marshal(plain)
			if len(raw) > 100<<10 {
				c.t.Errorf("%s: an item of %d bytes", table, len(raw))
			}
		}
	}
}

// logsHoldNoPersonalData: no address, no full UID, no code in any log line.
func (c *checker) logsHoldNoPersonalData(logs string, outcomes []*buyerOutcome) {
	c.checked = append(c.checked, "no log line with an address, a full UID, a password or a code")
	for _, o := range outcomes {
		for _, secret := range append([]string{o.email, o.uid, consolePassword}, o.codes...) {
			if secret == "" {
				continue
			}
			// A value standing alone: six digits also turn up inside
			// the hex of a trace or request id, by chance.
			alone := regexp.MustCompile(`(^|[^0-9A-Za-z])` + regexp.QuoteMeta(secret) + `($|[^0-9A-Za-z])`)
			for _, line := range strings.Split(logs, "\n") {
				if alone.MatchString(line) {
					c.t.Errorf("a function logged a buyer's value: %.400s", strings.ReplaceAll(line, secret, "<HERE>"))
					break
				}
			}
		}
	}
}
