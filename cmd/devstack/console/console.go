// Package console is the local stand-in of the Guance console's login, one
// page per site: the journey's Confirm ends here. It checks a username and
// password against the Guance account records with the product's own
// password package, and then shows the account's workspaces on that site
// with their settlement, so a login proves the activation worked.
package console

import (
	"context"
	"html/template"
	"log/slog"
	"net/http"
	"strings"

	"github.com/guance/aliyun-marketplace/shared/domain/guance"
	"github.com/guance/aliyun-marketplace/shared/domain/password"
	"github.com/guance/aliyun-marketplace/shared/domain/sites"
	"github.com/guance/aliyun-marketplace/shared/endpoints/i18n"
	"github.com/guance/aliyun-marketplace/shared/endpoints/web"
)

// Records reads what a console reads.
type Records interface {
	GuanceAccount(ctx context.Context, username string) (guance.Account, bool, error)
	WorkspacesOwnedBy(ctx context.Context, owner string) ([]guance.Workspace, error)
}

// Handler serves /<site>/ for every site.
type Handler struct {
	Records Records
	Log     *slog.Logger
}

// LoginURLs are the stand-in's login pages, for SITE_LOGIN_URLS.
func LoginURLs(base string) string {
	var pairs []string
	for _, s := range sites.All {
		pairs = append(pairs, s.Code+"="+strings.TrimRight(base, "/")+"/"+s.Code+"/")
	}
	return strings.Join(pairs, ",")
}

// row is one workspace as the console lists it.
type row struct {
	ID, Name, Settlement string
	Suspended            bool
}

type page struct {
	Lang      string
	T         map[string]string
	Site      string
	SiteName  string
	CSS       template.CSS
	Username  string
	Error     string
	Signed    bool
	Rows      []row
	Elsewhere int
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	site := strings.Trim(r.URL.Path, "/")
	lang := web.Lang(r)
	if !sites.Known(site) {
		http.NotFound(w, r)
		return
	}
	p := page{Lang: lang.HTMLLang(), T: texts[lang], Site: site, SiteName: i18n.T(lang, "site."+site), CSS: template.CSS(web.Stylesheet + consoleCSS)}
	switch r.Method {
	case http.MethodGet:
		render(w, http.StatusOK, p)
	case http.MethodPost:
		h.login(w, r, lang, p)
	default:
		w.Header().Set("Allow", "GET, POST")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
	}
}

// login checks the password the way the product stores it (argon2id,
// shared/password) and lists the account's workspaces on the site.
func (h *Handler) login(w http.ResponseWriter, r *http.Request, lang i18n.Lang, p page) {
	username, _ := guance.Username(r.PostFormValue("username"))
	p.Username = r.PostFormValue("username")
	account, found, err := h.Records.GuanceAccount(r.Context(), username)
	if err != nil {
		h.Log.Error("console login: read account", "error", err.Error())
		http.Error(w, "unavailable", http.StatusServiceUnavailable)
		return
	}
	ok := false
	if found {
		ok, err = password.Verify(r.PostFormValue("password"), account.PasswordHash)
		if err != nil {
			ok = false
		}
	}
	if !ok {
		p.Error = p.T["wrong"]
		render(w, http.StatusUnauthorized, p)
		return
	}
	list, err := h.Records.WorkspacesOwnedBy(r.Context(), account.Username)
	if err != nil {
		h.Log.Error("console login: list workspaces", "error", err.Error())
		http.Error(w, "unavailable", http.StatusServiceUnavailable)
		return
	}
	p.Signed, p.Username = true, account.Username
	for _, ws := range list {
		if ws.Site != p.Site {
			p.Elsewhere++
			continue
		}
		settlement := strings.ReplaceAll(p.T["by.billing"], "%s", ws.BillingAccount)
		if ws.Settlement.Type == guance.SettledByCloud {
			settlement = strings.NewReplacer("%uid", web.MaskUID(ws.Settlement.UID), "%instance", ws.Settlement.Instance).Replace(p.T["by.aliyun"])
		}
		p.Rows = append(p.Rows, row{ID: ws.ID, Name: ws.Name, Settlement: settlement, Suspended: ws.Suspended})
	}
	render(w, http.StatusOK, p)
}

func render(w http.ResponseWriter, status int, p page) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = pageTemplate.Execute(w, p)
}

// consoleCSS puts a workspace's ID on a row of its own under it, where
// its 37 characters fit a phone's width.
const consoleCSS = "table.list tr.ws td{border-bottom:0;padding-bottom:0}tr.ws-id code{overflow-wrap:anywhere}"

var texts = map[i18n.Lang]map[string]string{
	i18n.ZH: {
		"title": "观测云控制台", "intro": "本地替身：检查用户名和密码，列出该站点的工作空间。", "site": "站点：",
		"username": "用户名", "password": "密码", "login": "登录", "wrong": "用户名或密码错误。",
		"welcome": "已登录", "workspaces": "您在此站点的工作空间", "name": "名称", "id": "工作空间 ID", "settlement": "结算", "state": "状态",
		"none": "此站点没有您的工作空间。", "elsewhere": "其他站点上还有工作空间：", "active": "正常", "suspended": "欠费暂停",
		"by.billing": "费用中心账号 %s", "by.aliyun": "阿里云账号 %uid（商品实例 %instance）", "logout": "退出",
	},
	i18n.EN: {
		"title": "Guance console", "intro": "Local stand-in: checks the username and password, and lists the workspaces on this site.", "site": "Site: ",
		"username": "Username", "password": "Password", "login": "Sign in", "wrong": "The username or password is wrong.",
		"welcome": "Signed in as", "workspaces": "Your workspaces on this site", "name": "Name", "id": "Workspace ID", "settlement": "Settlement", "state": "State",
		"none": "You have no workspace on this site.", "elsewhere": "Workspaces on other sites:", "active": "Active", "suspended": "Suspended for arrears",
		"by.billing": "Billing center account %s", "by.aliyun": "Alibaba Cloud account %uid (product instance %instance)", "logout": "Sign out",
	},
}

var pageTemplate = template.Must(template.New("console").Parse(`<!DOCTYPE html>
<html lang="{{.Lang}}"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.T.title}} · {{.SiteName}}</title><style>{{.CSS}}</style></head>
<body><a class="skip" href="#main">Skip to content</a>
<header><div class="bar"><span class="brand">{{.T.title}}<small>{{.T.site}}{{.SiteName}}</small></span></div></header>
<main id="main">
{{if .Signed}}
 <h1 id="signed-in">{{.T.welcome}} <span id="user">{{.Username}}</span></h1>
 <section class="card" aria-labelledby="ws-head"><h2 id="ws-head">{{.T.workspaces}}</h2>
 {{if .Rows}}<table class="list"><thead><tr><th scope="col">{{.T.name}}</th><th scope="col">{{.T.settlement}}</th><th scope="col">{{.T.state}}</th></tr></thead><tbody>
 {{range .Rows}}<tr class="ws" id="ws-{{.ID}}"><td class="name">{{.Name}}</td><td class="settlement">{{.Settlement}}</td><td class="state">{{if .Suspended}}<span class="badge warn">{{$.T.suspended}}</span>{{else}}<span class="badge ok">{{$.T.active}}</span>{{end}}</td></tr>
 <tr class="ws-id"><td colspan="3"><small class="help">{{$.T.id}} <code>{{.ID}}</code></small></td></tr>{{end}}
 </tbody></table>{{else}}<p id="none">{{.T.none}}</p>{{end}}
 {{if .Elsewhere}}<p class="help">{{.T.elsewhere}} {{.Elsewhere}}</p>{{end}}
 </section>
 <p class="actions"><a class="button secondary" href="/{{.Site}}/" id="logout">{{.T.logout}}</a></p>
{{else}}
 <h1>{{.T.title}}</h1>
 <p class="lead">{{.T.intro}}</p>
 <div class="card">
 {{if .Error}}<p class="notice warn" id="error" role="alert">{{.Error}}</p>{{end}}
 <form method="post" action="/{{.Site}}/">
  <div class="field"><label for="f-username">{{.T.username}}</label><input id="f-username" name="username" value="{{.Username}}" autocomplete="username" required{{if .Error}} aria-invalid="true" aria-describedby="error"{{end}}></div>
  <div class="field"><label for="f-password">{{.T.password}}</label><input id="f-password" name="password" type="password" autocomplete="current-password" required{{if .Error}} aria-invalid="true" aria-describedby="error"{{end}}></div>
  <div class="actions"><button type="submit" id="login">{{.T.login}}</button></div>
 </form>
 </div>
{{end}}
</main></body></html>`))
