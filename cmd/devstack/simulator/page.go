package simulator

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/guance/aliyun-marketplace/shared/domain/marketplace"
	"github.com/guance/aliyun-marketplace/shared/domain/metering"
)

// Page is the simulator's web UI:
//   - /          Purchased Services: Login Without Password, and the
//     marketplace's own moves (close or expire an instance with no SPI
//     call, a call that never arrives), and the scheduled jobs on demand
//   - /activate  Activate Now, as the buyer meets it: the "Activate
//     Pay-as-you-go Service" prompt with the terms, then "Activation
//     Request Submitted" with Confirm, back to Purchased Services
//   - /console   send any SPI call, signed, and read the answer
type Page struct {
	Client *Client
	Market *Market
	// AuthURL is where Login Without Password goes when our createInstance
	// answer gave none (the callback was lost).
	AuthURL string
	// Reconcile runs the reconciliation once and returns its summary (the
	// local stack fires the ReconcileFunction's schedule); Meter runs the
	// metering (the MeteringFunction's).
	Reconcile func(ctx context.Context) ([]byte, error)
	Meter     func(ctx context.Context) ([]byte, error)
	Now       func() time.Time
	// CreateRetryWait is the first wait before createInstance is called
	// again after an answer without an instance id (default 2 s).
	CreateRetryWait time.Duration
	// LostCreateRetry is when a createInstance the buyer asked to lose is
	// retried (default a minute): the marketplace calls again, up to 120
	// times, and the purchase then shows as opened, recovered or not.
	LostCreateRetry time.Duration
	// Faults is the local stack's fault profile ("off" or empty: none),
	// shown on Purchased Services.
	Faults string

	mu      sync.Mutex
	history []Exchange
	summary string // the last reconciliation's
}

// activeFaults is the profile to show, "" when none.
func activeFaults(profile string) string {
	if profile == "off" {
		return ""
	}
	return profile
}

func (p *Page) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.URL.Path == "/" && r.Method == http.MethodGet:
		p.purchased(w, r)
	case r.URL.Path == "/activate" && r.Method == http.MethodGet:
		render(w, http.StatusOK, activateTemplate, activateData{UID: SampleUID, Error: r.URL.Query().Get("error")})
	case r.URL.Path == "/buy" && r.Method == http.MethodPost:
		p.buy(w, r)
	case r.URL.Path == "/submitted" && r.Method == http.MethodGet:
		bought, ok := p.Market.Instance(r.URL.Query().Get("instance"))
		if !ok {
			http.NotFound(w, r)
			return
		}
		render(w, http.StatusOK, submittedTemplate, bought)
	case r.URL.Path == "/login" && r.Method == http.MethodGet:
		p.login(w, r)
	case r.URL.Path == "/console" && r.Method == http.MethodGet:
		p.console(w, r)
	case r.URL.Path == "/console/send" && r.Method == http.MethodPost:
		p.send(w, r)
	case r.URL.Path == APICallPath && r.Method == http.MethodPost:
		p.apiCall(w, r)
	case r.URL.Path == "/market/status" && r.Method == http.MethodPost:
		p.marketStatus(w, r)
	case r.URL.Path == "/market/fail" && r.Method == http.MethodPost:
		p.marketFail(w, r)
	case (r.URL.Path == "/reconcile" || r.URL.Path == APIReconcilePath) && r.Method == http.MethodPost:
		p.runNow(w, r, "reconciliation", p.Reconcile)
	case (r.URL.Path == "/meter" || r.URL.Path == APIMeterPath) && r.Method == http.MethodPost:
		p.runNow(w, r, "metering", p.Meter)
	default:
		http.NotFound(w, r)
	}
}

type purchasedData struct {
	Purchases []Purchase
	// Billed is each instance's pay-as-you-go usage billed so far.
	Billed  map[string]billed
	UID     string
	Error   string
	Notice  string
	Failed  []FailedNotification
	Actions []marketplace.Action
	Summary string
	// GraceMinutes is how long after its end a window is decided.
	GraceMinutes int
	// Faults is the active fault profile ("" when off).
	Faults string
}

func (p *Page) purchased(w http.ResponseWriter, r *http.Request) {
	failed, _ := p.Market.FailedNotifications(1, 100)
	p.mu.Lock()
	summary := p.summary
	p.mu.Unlock()
	bills := map[string]billed{}
	for _, bought := range p.Market.Purchases() {
		bills[bought.InstanceID] = billed{Total: entities(p.Market.Billed(bought.InstanceID))}
	}
	for _, r := range p.Market.Pushed() {
		b := bills[r.InstanceID]
		b.Windows = append(b.Windows, fmt.Sprintf("%s-%s UTC: %s (pushed at %s)", time.Unix(r.StartTime, 0).UTC().Format("01-02 15:04"),
			time.Unix(r.EndTime, 0).UTC().Format("15:04"), entities(r.Entities), r.At.UTC().Format("15:04:05")))
		bills[r.InstanceID] = b
	}
	render(w, http.StatusOK, purchasedTemplate, purchasedData{
		Billed:    bills,
		Purchases: p.Market.Purchases(), UID: SampleUID, Error: r.URL.Query().Get("error"), Notice: r.URL.Query().Get("notice"),
		Failed: failed, Actions: marketplace.LifecycleActions, Summary: summary, GraceMinutes: int(metering.Grace / time.Minute),
		Faults: activeFaults(p.Faults),
	})
}

// billed is an instance's billed usage: the total per item, and each
// record as it was pushed (a window billed twice would show twice).
type billed struct {
	Total   string
	Windows []string
}

// entities writes billed amounts as "HostCount 5 · LogGB 3".
func entities(amounts map[string]int64) string {
	parts := make([]string, 0, len(amounts))
	for item, n := range amounts {
		parts = append(parts, fmt.Sprintf("%s %d", item, n))
	}
	sort.Strings(parts)
	return strings.Join(parts, " · ")
}

// marketStatus moves an instance on the marketplace's side only: closed
// or expired with no SPI call, or open again.
func (p *Page) marketStatus(w http.ResponseWriter, r *http.Request) {
	id, status := r.PostFormValue("instance"), r.PostFormValue("status")
	if status != "CLOSED" && status != "EXPIRED" && status != "OPENED" || !p.Market.SetStatus(id, status) {
		http.Redirect(w, r, "/?error="+url.QueryEscape("No such instance or status."), http.StatusSeeOther)
		return
	}
	http.Redirect(w, r, "/?notice="+url.QueryEscape("Instance "+id+" is "+status+" on the marketplace; no SPI call was sent."), http.StatusSeeOther)
}

// marketFail is a call that never reaches our SPI, as the marketplace
// handles one: a message SPI call (orderPay) is listed by
// DescribeFailedNotifications, as the documented JSON, until confirmed; a
// lifecycle call is retried by the marketplace and then lost, its status
// move made on the marketplace's side alone, for the reconciliation's
// comparison with DescribeInstanceForIsv to find.
func (p *Page) marketFail(w http.ResponseWriter, r *http.Request) {
	id, action := r.PostFormValue("instance"), marketplace.Action(r.PostFormValue("action"))
	if _, ok := p.Market.Instance(id); !ok || !slices.Contains(marketplace.LifecycleActions, action) || action == marketplace.ActionCreateInstance {
		http.Redirect(w, r, "/?error="+url.QueryEscape("No such instance or lifecycle action."), http.StatusSeeOther)
		return
	}
	if action == marketplace.ActionOrderPay {
		n, _ := p.Market.QueueFailed(id, p.Now())
		http.Redirect(w, r, "/?notice="+url.QueryEscape("orderPay of instance "+id+" failed every retry; DescribeFailedNotifications lists it as "+n.ID+"."), http.StatusSeeOther)
		return
	}
	p.Market.LoseCall(SampleParams(action, id, p.Now()))
	bought, _ := p.Market.Instance(id)
	http.Redirect(w, r, "/?notice="+url.QueryEscape(string(action)+" of instance "+id+" never reached the SPI: the marketplace says "+bought.Status+
		" and lists nothing; the reconciliation finds it by comparing DescribeInstanceForIsv with what it holds."), http.StatusSeeOther)
}

// APIReconcilePath runs the reconciliation for cmd/marketsim and answers
// its summary as JSON.
const APIReconcilePath = "/api/reconcile"

// APIMeterPath runs the metering for cmd/marketsim.
const APIMeterPath = "/api/meter"

// runNow runs a scheduled job now, as its schedule would: its summary as
// JSON for cmd/marketsim, or on the page.
func (p *Page) runNow(w http.ResponseWriter, r *http.Request, name string, run func(ctx context.Context) ([]byte, error)) {
	if run == nil {
		http.Error(w, "the "+name+" is not wired to this simulator", http.StatusNotImplemented)
		return
	}
	out, err := run(r.Context())
	var pretty bytes.Buffer
	shown := out
	if json.Indent(&pretty, out, "", "  ") == nil {
		shown = pretty.Bytes()
	}
	summary := "The " + name + ", run at " + p.Now().UTC().Format("15:04:05") + " UTC"
	if err != nil {
		summary += ", failed: " + err.Error()
	} else {
		summary += "\n" + string(shown)
	}
	// The page shows the last run, whether the page or marketsim asked.
	p.mu.Lock()
	p.summary = summary
	p.mu.Unlock()
	if strings.HasPrefix(r.URL.Path, "/api/") {
		w.Header().Set("Content-Type", "application/json")
		if err != nil {
			w.WriteHeader(http.StatusBadGateway)
		}
		_, _ = w.Write(out)
		return
	}
	http.Redirect(w, r, "/?notice="+url.QueryEscape("The "+name+" ran: its summary is below.")+"#summary", http.StatusSeeOther)
}

// buy is Activate on the "Activate Pay-as-you-go Service" prompt: the
// terms must be agreed to; the purchase is recorded, then our SPI gets
// createInstance (unless the buyer asked to lose that call), called again
// while it answers no instance id, as the marketplace does; the buyer
// sees "Activation Request Submitted".
func (p *Page) buy(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad form", http.StatusBadRequest)
		return
	}
	uid := strings.TrimSpace(r.PostForm.Get("uid"))
	if !marketplace.ValidUID(uid) {
		http.Redirect(w, r, "/activate?error="+url.QueryEscape("The account ID is a run of decimal digits (at most 32)."), http.StatusSeeOther)
		return
	}
	if r.PostForm.Get("agree") == "" {
		http.Redirect(w, r, "/activate?error="+url.QueryEscape("Agree to the pay-as-you-go terms to activate."), http.StatusSeeOther)
		return
	}
	bought := p.Market.Buy(uid, p.Now())
	params := marketplace.Params{
		"action": string(marketplace.ActionCreateInstance), "aliUid": bought.AliUID, "orderBizId": bought.InstanceID,
		"orderId": bought.OrderID, "productCode": bought.ProductCode, "skuId": bought.SKU, "trial": "false",
		"expiredOn": marketplace.FormatTime(bought.EndOn),
	}
	if r.PostForm.Get("lose") != "" {
		// Its first calls are lost; a retry comes later, whatever the
		// buyer did meanwhile (a Login Without Password recovers the
		// purchase from the OpenAPI before it).
		wait := p.LostCreateRetry
		if wait <= 0 {
			wait = time.Minute
		}
		time.AfterFunc(wait, func() { p.create(context.Background(), params) })
	} else {
		p.create(r.Context(), params)
	}
	http.Redirect(w, r, "/submitted?instance="+url.QueryEscape(bought.InstanceID), http.StatusSeeOther)
}

// create calls createInstance, and again (in the background) while it
// answers no instance id.
func (p *Page) create(ctx context.Context, params marketplace.Params) {
	ex, err := p.Client.Call(ctx, params, false)
	p.remember(ex, err)
	if !p.noteAnswer(params, ex) {
		go p.callAgain(params)
	}
}

// MaxCreateCalls is how often the marketplace calls createInstance until
// it gets an instance id (the docs: up to 120 times).
const MaxCreateCalls = 120

// callAgain calls createInstance again, as the marketplace does while the
// answer holds no instance id (instanceId "0", or a failure): after a
// wait that grows from CreateRetryWait to a minute, until an id comes or
// MaxCreateCalls were made.
func (p *Page) callAgain(params marketplace.Params) {
	wait := p.CreateRetryWait
	if wait <= 0 {
		wait = 2 * time.Second
	}
	for range MaxCreateCalls - 1 {
		time.Sleep(wait)
		wait = min(wait*2, time.Minute)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		ex, err := p.Client.Call(ctx, params, false)
		cancel()
		p.remember(ex, err)
		if p.noteAnswer(params, ex) {
			return
		}
	}
}

// login is Login Without Password: a link signed now, to the authUrl our
// createInstance answered.
func (p *Page) login(w http.ResponseWriter, r *http.Request) {
	bought, ok := p.Market.Instance(r.URL.Query().Get("instance"))
	if !ok {
		http.NotFound(w, r)
		return
	}
	target := bought.AuthURL
	if target == "" {
		target = p.AuthURL
	}
	link := marketplace.VerifyParams(bought.InstanceID, p.Now()).Signed(p.Client.Key)
	http.Redirect(w, r, target+"?"+link.Encode(), http.StatusFound)
}

// marketMoves is the marketplace deciding before it notifies: a lifecycle
// call's status change is the marketplace's own, made before the call is
// sent (so our endpoint, asking the OpenAPI about a contested call, hears
// the marketplace's present word).
//
// A call given a token of the user's own tests our refusals: the
// marketplace never sends one, so it moves nothing on its side.
func (p *Page) marketMoves(params marketplace.Params) {
	if _, own := params[marketplace.TokenParam]; own {
		return
	}
	if marketplace.Action(params["action"]) != marketplace.ActionCreateInstance {
		p.Market.Applied(params)
	}
}

// noteAnswer records what our createInstance answered, and reports
// whether it gave the instance an id ("0", or an answer without one, asks
// the marketplace to call again). Other calls need nothing.
func (p *Page) noteAnswer(params marketplace.Params, ex Exchange) bool {
	if marketplace.Action(params["action"]) != marketplace.ActionCreateInstance {
		return true
	}
	if ex.Status != http.StatusOK {
		return false
	}
	p.Market.Record(params, p.Now())
	var answer struct {
		InstanceID string `json:"instanceId"`
		AppInfo    struct {
			AuthURL string `json:"authUrl"`
		} `json:"appInfo"`
	}
	if json.Unmarshal([]byte(ex.Answer), &answer) != nil || answer.InstanceID == "" || answer.InstanceID == "0" {
		return false
	}
	if answer.InstanceID == params["orderBizId"] {
		p.Market.Opened(answer.InstanceID, answer.AppInfo.AuthURL)
	}
	return true
}

// APICallPath is where cmd/marketsim sends its calls when the simulator
// runs, so that they show in Purchased Services and the console like the
// page's own.
const APICallPath = "/api/spi"

// APICall is the body of a call sent through APICallPath.
type APICall struct {
	Params marketplace.Params `json:"params"`
	Post   bool               `json:"post"`
}

// apiCall signs and sends a call for cmd/marketsim, notes its effect on the
// market, and answers the exchange as JSON.
func (p *Page) apiCall(w http.ResponseWriter, r *http.Request) {
	var call APICall
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&call); err != nil || call.Params["action"] == "" {
		http.Error(w, "want {\"params\": {...}, \"post\": bool} with an action", http.StatusBadRequest)
		return
	}
	p.marketMoves(call.Params)
	ex, err := p.Client.Call(r.Context(), call.Params, call.Post)
	p.remember(ex, err)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	p.noteAnswer(call.Params, ex)
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(ex)
}

func (p *Page) remember(ex Exchange, err error) {
	if err != nil {
		ex.Answer = err.Error()
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.history = append([]Exchange{ex}, p.history...)
	if len(p.history) > 20 {
		p.history = p.history[:20]
	}
}

type consoleData struct {
	Actions  []marketplace.Action
	Action   string
	Instance string
	Params   string
	SPIURL   string
	History  []Exchange
	Error    string
}

func (p *Page) console(w http.ResponseWriter, r *http.Request) {
	action := r.URL.Query().Get("action")
	if action == "" {
		action = string(marketplace.ActionCreateInstance)
	}
	instance := r.URL.Query().Get("instance")
	if instance == "" {
		// The newest purchase on Purchased Services, for a lifecycle
		// call; a new one for createInstance.
		instance = SampleInstanceID
		if list := p.Market.Purchases(); len(list) > 0 && action != string(marketplace.ActionCreateInstance) {
			instance = list[0].InstanceID
		}
	}
	params := SampleParams(marketplace.Action(action), instance, p.Now())
	var lines []string
	for _, name := range SortedNames(params) {
		if name != "action" {
			lines = append(lines, name+"="+params[name])
		}
	}
	p.renderConsole(w, http.StatusOK, consoleData{Action: action, Instance: instance, Params: strings.Join(lines, "\n")})
}

func (p *Page) send(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		p.renderConsole(w, http.StatusBadRequest, consoleData{Error: "the form could not be read"})
		return
	}
	action := r.PostForm.Get("action")
	params := marketplace.Params{"action": action}
	var args []string
	for _, line := range strings.Split(r.PostForm.Get("params"), "\n") {
		if line = strings.TrimSpace(line); line != "" {
			args = append(args, line)
		}
	}
	data := consoleData{Action: action, Instance: r.PostForm.Get("instance"), Params: r.PostForm.Get("params")}
	if err := ParseAssignments(params, args); err != nil {
		data.Error = err.Error()
		p.renderConsole(w, http.StatusBadRequest, data)
		return
	}
	params["action"] = action // the action chosen, whatever the lines say
	p.marketMoves(params)
	ex, err := p.Client.Call(r.Context(), params, r.PostForm.Get("method") == "POST")
	p.remember(ex, err)
	p.noteAnswer(params, ex)
	p.renderConsole(w, http.StatusOK, data)
}

func (p *Page) renderConsole(w http.ResponseWriter, status int, data consoleData) {
	data.Actions = marketplace.LifecycleActions
	data.SPIURL = p.Client.SPIURL
	p.mu.Lock()
	data.History = append([]Exchange(nil), p.history...)
	p.mu.Unlock()
	render(w, status, consoleTemplate, data)
}

func render(w http.ResponseWriter, status int, t *template.Template, data any) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_ = t.Execute(w, data)
}

const style = `<meta name="viewport" content="width=device-width, initial-scale=1"><style>
body{font-family:system-ui,sans-serif;max-width:1100px;margin:2rem auto;padding:0 1rem;color:#222}
nav a{margin-right:1rem}
label{display:block;margin:.6rem 0 .2rem;font-weight:600}
textarea,input,select{font:inherit;box-sizing:border-box}
textarea{width:100%;font-family:ui-monospace,monospace;height:10rem}
pre{background:#f4f4f4;padding:.6rem;white-space:pre-wrap;word-break:break-all}
table{border-collapse:collapse;width:100%}td,th{border-bottom:1px solid #ddd;padding:.5rem;text-align:left}
.err{color:#b00020}.ok{color:#14532d}.row{display:flex;flex-wrap:wrap;gap:1rem;align-items:end}
.button{background:#c2410c;color:#fff;padding:.35rem .8rem;border-radius:4px;text-decoration:none;border:0;font:inherit;cursor:pointer;display:inline-block}
a.button{white-space:normal;max-width:100%}
.small{font-size:.85rem}.small button,.small select{font-size:.85rem}
h1,h2{overflow-wrap:break-word}h2 small.api{display:block;font-size:.8rem;font-weight:400;color:#555}
form.row{margin-bottom:1.25rem}
.purchase{border:1px solid #ddd;border-radius:6px;padding:.75rem 1rem;margin:.75rem 0}
.facts{display:flex;flex-wrap:wrap;gap:.5rem 2rem;margin:0}.facts dt{font-size:.8rem;color:#555}.facts dd{margin:0;font-weight:600}
.muted{color:#555;font-weight:400}
.alone{display:flex;flex-wrap:wrap;gap:.4rem 1rem;align-items:center}.alone form{display:flex;flex-wrap:wrap;gap:.3rem;align-items:center;margin:0}
label.inline{display:inline;margin:0;font-weight:400}
</style>`

const nav = `<nav><a href="/">Purchased Services</a><a href="/console">SPI console</a></nav>`

var purchasedTemplate = template.Must(template.New("purchased").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Purchased Services · Marketplace simulator</title>` + style + `</head><body>
` + nav + `
<h1>Alibaba Cloud Marketplace · Purchased Services</h1>
{{if .Faults}}<p class="err" id="faults" role="status">Faults on: {{.Faults}}. AWS and the marketplace fail on purpose; the counts are printed when the stack stops.</p>{{end}}
<p><a class="button" id="activate-now" href="/activate">Activate Now: buy the Guance Commercial Plan</a></p>
{{if .Error}}<p class="err" role="alert">{{.Error}}</p>{{end}}
{{if .Notice}}<p class="ok" role="status" id="notice">{{.Notice}}</p>{{end}}
<div id="purchases">
{{range .Purchases}}<section class="purchase" id="instance-{{.InstanceID}}" aria-label="Instance {{.InstanceID}}">
<dl class="facts"><div><dt>Instance ID</dt><dd>{{.InstanceID}}</dd></div><div><dt>Account ID</dt><dd>{{.AliUID}}</dd></div><div><dt>Status</dt><dd class="status">{{.Status}}</dd></div><div><dt>Bought (UTC)</dt><dd>{{.CreatedOn.UTC.Format "2006-01-02 15:04:05"}}</dd></div>
<div class="wide"><dt>Billed usage (PushMeteringData)</dt><dd class="billed">{{with index $.Billed .InstanceID}}{{with .Total}}{{.}}{{else}}<span class="muted">nothing billed yet</span>{{end}}{{end}}</dd></div></dl>
{{with (index $.Billed .InstanceID).Windows}}<details class="small windows"><summary>{{len .}} record(s) pushed, one per window</summary><ul>{{range .}}<li>{{.}}</li>{{end}}</ul></details>{{end}}
<p><a class="button login" href="/login?instance={{.InstanceID}}">Login Without Password</a></p>
<div class="alone small"><span class="what">The marketplace alone (no SPI call):</span>
 <form method="post" action="/market/status"><input type="hidden" name="instance" value="{{.InstanceID}}"><button name="status" value="CLOSED" class="close">Close</button><button name="status" value="EXPIRED" class="expire">Expire</button><button name="status" value="OPENED" class="open">Open</button></form>
 <form method="post" action="/market/fail"><input type="hidden" name="instance" value="{{.InstanceID}}"><label class="inline" for="fail-{{.InstanceID}}">Lose a call:</label><select id="fail-{{.InstanceID}}" name="action">{{range $.Actions}}{{if ne (print .) "createInstance"}}<option>{{.}}</option>{{end}}{{end}}</select><button class="fail">Lose it</button></form>
</div>
</section>
{{else}}<p>Nothing bought yet.</p>{{end}}
</div>
<h2>Failed notifications <small class="api">DescribeFailedNotifications</small></h2>
<p class="small">Only the message SPI (orderPay) is listed here, as the documented JSON. A lost lifecycle call is listed nowhere: the marketplace moved the purchase, and the reconciliation finds it by comparing DescribeInstanceForIsv with what it holds.</p>
{{range .Failed}}<p class="small failed">{{.ID}} · {{.Action}} · {{.CreateTime.UTC.Format "2006-01-02 15:04:05"}} UTC · <code>{{.Message}}</code></p>{{else}}<p class="small">None waiting.</p>{{end}}
<h2>Reconciliation</h2>
<p>It runs on its schedule (every 15 minutes); run it now to see it settle what is above. It asks the marketplace about purchases pending activation, about disputed calls, and, a bounded number a run, about live purchases due a comparison (each once a day), which is how a lost lifecycle call is found.</p>
<form method="post" action="/reconcile"><button class="button" id="reconcile">Run the reconciliation now</button></form>
<h2>Metering</h2>
<p>Usage is pushed with PushMeteringData every 10 minutes, each hourly window once its usage is complete ({{.GraceMinutes}} minutes after it ends) and before the end of the next hour. A workspace counts from the first full hour after it was settled through the purchase. Write a workspace's usage with <code>go run ./cmd/marketsim usage -workspace ID</code> (the console stand-in lists a login's workspaces with their IDs; <code>-rewind</code> moves the purchase's metering start back to the last closed hour, so that it is billed without waiting); the billed usage shows with each purchase above.</p>
<form method="post" action="/meter"><button class="button" id="meter">Run the metering now</button></form>
{{if .Summary}}<pre id="summary">{{.Summary}}</pre>{{end}}
</body></html>`))

type activateData struct {
	UID   string
	Error string
}

var activateTemplate = template.Must(template.New("activate").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Activate Pay-as-you-go Service · Marketplace simulator</title>` + style + `</head><body>
` + nav + `
<h1>Activate Pay-as-you-go Service</h1>
<p>Guance Commercial Plan · pay-as-you-go: you pay for what you use, billed to your Alibaba Cloud account.</p>
{{if .Error}}<p class="err" role="alert">{{.Error}}</p>{{end}}
<form method="post" action="/buy">
 <label for="uid">Buyer's Alibaba Cloud account ID</label><input id="uid" name="uid" value="{{.UID}}" size="34" inputmode="numeric">
 <p class="small muted">Any run of decimal digits: the marketplace's own examples have 11, 14 and 16.</p>
 <label class="inline"><input type="checkbox" id="agree" name="agree" value="1" required> I have read and agree to the <a href="#terms">Alibaba Cloud Marketplace pay-as-you-go service terms</a>.</label>
 <p class="small"><label class="inline"><input type="checkbox" name="lose" value="1"> simulate: lose the createInstance callback (the marketplace's retry comes a minute later)</label></p>
 <p><button class="button" id="buy">Activate</button> <a href="/">Cancel</a></p>
</form>
<p class="small muted" id="terms">The terms: usage is metered hourly and billed after each hour; arrears freeze the service (data is kept); closing it releases the instance.</p>
</body></html>`))

var submittedTemplate = template.Must(template.New("submitted").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Activation Request Submitted · Marketplace simulator</title>` + style + `</head><body>
` + nav + `
<h1>Activation Request Submitted</h1>
<p id="submitted">Your request to activate the Guance Commercial Plan (instance {{.InstanceID}}) was submitted. Find it in Purchased Services, and click Login Without Password to start using it.</p>
<p><a class="button" id="confirm" href="/">Confirm</a></p>
</body></html>`))

var consoleTemplate = template.Must(template.New("console").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>SPI console · Marketplace simulator</title>` + style + `</head><body>
` + nav + `
<h1>SPI console</h1>
<p>Sends SPI calls signed with the local ISV key to <code>{{.SPIURL}}</code>.</p>
<form method="post" action="/console/send">
 <div class="row">
  <div><label for="a">Action</label><select id="a" name="action">{{range .Actions}}<option{{if eq (print .) $.Action}} selected{{end}}>{{.}}</option>{{end}}</select></div>
  <div><label for="i">Instance id (orderBizId)</label><input id="i" name="instance" value="{{.Instance}}"></div>
  <div><button id="fill" formmethod="get" formaction="/console">Fill in sample parameters</button></div>
 </div>
 <label for="p">Parameters (one name=value a line; the action is the one chosen above; the token is added unless you give one, and a call with a token of yours moves nothing on the marketplace's side)</label>
 <textarea id="p" name="params">{{.Params}}</textarea>
 {{if .Error}}<p class="err">{{.Error}}</p>{{end}}
 <label><input type="checkbox" name="method" value="POST"> send as a form POST instead of a GET</label>
 <p><button class="button" id="send-call">Send signed call</button></p>
</form>
<h2>Calls sent</h2>
{{range .History}}<h3>{{.Status}} {{.Method}}</h3><pre>{{.URL}}{{if .Body}}

{{.Body}}{{end}}</pre><pre>{{.Answer}}</pre>{{else}}<p>None yet.</p>{{end}}
</body></html>`))
