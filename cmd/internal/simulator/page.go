package simulator

import (
	"html/template"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/guance/aliyun-marketplace/shared/marketplace"
)

// Page is the simulator's web page: pick an action, adjust the parameters,
// send the signed call, and read the answer.
type Page struct {
	Client *Client
	Now    func() time.Time

	mu      sync.Mutex
	history []Exchange
}

func (p *Page) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.URL.Path == "/" && r.Method == http.MethodGet:
		p.show(w, r)
	case r.URL.Path == "/send" && r.Method == http.MethodPost:
		p.send(w, r)
	default:
		http.NotFound(w, r)
	}
}

type pageData struct {
	Actions  []marketplace.Action
	Action   string
	Instance string
	Params   string
	SPIURL   string
	History  []Exchange
	Error    string
}

func (p *Page) show(w http.ResponseWriter, r *http.Request) {
	action := r.URL.Query().Get("action")
	if action == "" {
		action = string(marketplace.ActionCreateInstance)
	}
	instance := r.URL.Query().Get("instance")
	if instance == "" {
		instance = SampleInstanceID
	}
	params := SampleParams(marketplace.Action(action), instance, p.Now())
	var lines []string
	for _, name := range SortedNames(params) {
		if name != "action" {
			lines = append(lines, name+"="+params[name])
		}
	}
	p.render(w, http.StatusOK, pageData{Action: action, Instance: instance, Params: strings.Join(lines, "\n")})
}

func (p *Page) send(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		p.render(w, http.StatusBadRequest, pageData{Error: "the form could not be read"})
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
	data := pageData{Action: action, Instance: r.PostForm.Get("instance"), Params: r.PostForm.Get("params")}
	if err := ParseAssignments(params, args); err != nil {
		data.Error = err.Error()
		p.render(w, http.StatusBadRequest, data)
		return
	}
	ex, err := p.Client.Call(r.Context(), params, r.PostForm.Get("method") == "POST")
	if err != nil {
		ex.Answer = err.Error()
	}
	p.mu.Lock()
	p.history = append([]Exchange{ex}, p.history...)
	if len(p.history) > 20 {
		p.history = p.history[:20]
	}
	p.mu.Unlock()
	p.render(w, http.StatusOK, data)
}

func (p *Page) render(w http.ResponseWriter, status int, data pageData) {
	data.Actions = marketplace.LifecycleActions
	data.SPIURL = p.Client.SPIURL
	p.mu.Lock()
	data.History = append([]Exchange(nil), p.history...)
	p.mu.Unlock()
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_ = pageTemplate.Execute(w, data)
}

var pageTemplate = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Marketplace simulator</title>
<style>
body{font-family:system-ui,sans-serif;max-width:960px;margin:2rem auto;padding:0 1rem;color:#222}
label{display:block;margin:.6rem 0 .2rem;font-weight:600}
textarea,input,select{font:inherit;width:100%;box-sizing:border-box}
textarea{font-family:ui-monospace,monospace;height:10rem}
pre{background:#f4f4f4;padding:.6rem;white-space:pre-wrap;word-break:break-all}
.err{color:#b00020}.row{display:flex;gap:1rem}.row>*{flex:1}
</style></head><body>
<h1>Alibaba Cloud Marketplace simulator</h1>
<p>Sends SPI calls signed with the local ISV key to <code>{{.SPIURL}}</code>.</p>
<form method="get" action="/" class="row">
 <div><label for="a">Action</label><select id="a" name="action">{{range .Actions}}<option{{if eq (print .) $.Action}} selected{{end}}>{{.}}</option>{{end}}</select></div>
 <div><label for="i">Instance id (orderBizId)</label><input id="i" name="instance" value="{{.Instance}}"></div>
 <div><label>&nbsp;</label><button>Fill in sample parameters</button></div>
</form>
<form method="post" action="/send">
 <input type="hidden" name="action" value="{{.Action}}"><input type="hidden" name="instance" value="{{.Instance}}">
 <label for="p">Parameters of <code>{{.Action}}</code> (one name=value a line; the token is added)</label>
 <textarea id="p" name="params">{{.Params}}</textarea>
 {{if .Error}}<p class="err">{{.Error}}</p>{{end}}
 <label><input type="checkbox" name="method" value="POST" style="width:auto"> send as a form POST instead of a GET</label>
 <p><button>Send signed call</button></p>
</form>
<h2>Calls sent</h2>
{{range .History}}<h3>{{.Status}} {{.Method}}</h3><pre>{{.URL}}{{if .Body}}

{{.Body}}{{end}}</pre><pre>{{.Answer}}</pre>{{else}}<p>None yet.</p>{{end}}
</body></html>`))
