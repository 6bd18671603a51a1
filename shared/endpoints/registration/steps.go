package registration

import (
	"errors"
	"net/http"
	"time"

	"github.com/guance/aliyun-marketplace/shared/domain/activation"
	"github.com/guance/aliyun-marketplace/shared/domain/guance"
	"github.com/guance/aliyun-marketplace/shared/domain/outbox"
	"github.com/guance/aliyun-marketplace/shared/domain/sites"
	"github.com/guance/aliyun-marketplace/shared/domain/verification"
	"github.com/guance/aliyun-marketplace/shared/endpoints/flow"
	"github.com/guance/aliyun-marketplace/shared/endpoints/i18n"
	"github.com/guance/aliyun-marketplace/shared/endpoints/routes"
	"github.com/guance/aliyun-marketplace/shared/endpoints/web"
)

// problems collects the fields at fault.
type problems = flow.Problems

// --- Step 1: basic information -------------------------------------------

func (d draft) basicValues() map[string]string {
	site := d.Site
	if site == "" {
		site = sites.Default
	}
	return map[string]string{"site": site, "username": d.Username, "email": d.Email, "phone": d.Phone, "code": d.Code.Typed}
}

func (h *Handler) showBasic(v *visit) {
	if gate(v, 0) {
		h.renderBasic(v)
	}
}

// renderBasic shows step 1 as the draft holds it, with the problems of
// the post that led here, if any, and the code on its way.
func (h *Handler) renderBasic(v *visit) {
	now := h.Now()
	refused := v.draft.Refused.On(routes.RegisterBasic, now)
	view := web.RegisterBasicView{Form: refused.Form(v.draft.basicValues()), Notice: refused.Notice, CodeError: refused.CodeError}
	// Kept, unless this page shows a problem with a password typed since.
	view.PasswordKept = v.draft.Password.KeptFor(v.draft.Username) && view.Form.Err("password").IsZero() && view.Form.Err("confirm").IsZero()
	view.Verified = v.draft.Verified
	view.CodeSent, view.Wait = v.draft.Code.Shown(verification.Register, v.draft.Email, now)
	if w := refused.Wait(now); w > view.Wait {
		view.Wait = w
	}
	c := v.Chrome("reg.title", routes.RegisterBasic, web.WaitStyle(view.Wait))
	c.Form = web.PageForm
	h.flow.Render(v.Visit, http.StatusOK, web.RegisterBasicPage(c, view))
}

// readBasic takes step 1's fields into the draft (never the password,
// which is checked and hashed apart) and returns what is wrong with them.
func (v *visit) readBasic() problems {
	f := v.R.PostForm
	bad := problems{}
	// The code typed is kept with every other field, until it is used.
	v.draft.Code.Typed = f.Get("code")
	if !sites.Known(f.Get("site")) {
		bad["site"] = i18n.M("field.site")
	} else {
		v.draft.Site = f.Get("site")
	}
	username, err := guance.Username(f.Get("username"))
	bad.Add(err)
	v.draft.Username = f.Get("username")
	if err == nil {
		v.draft.Username = username
	}
	v.draft.Email = f.Get("email")
	if email, err := verification.NormalizeAddress(f.Get("email")); err != nil {
		bad["email"] = flow.AddressProblem(f.Get("email"))
	} else {
		v.draft.Email = email
	}
	phone, err := guance.Phone(f.Get("phone"))
	bad.Add(err)
	v.draft.Phone = f.Get("phone")
	if err == nil {
		v.draft.Phone = phone
	}
	return bad
}

// readPassword checks the two password fields against the username.
func (h *Handler) readPassword(v *visit, bad problems) {
	v.draft.Password.Choose(v.R.PostForm, v.draft.Username, h.HashPassword, bad)
}

// taken adds what a lookup says is taken to bad: the username (by a Guance
// account or a billing center account: one answer for either) and the
// email. A cap met is a notice; false when the request is answered.
func (h *Handler) taken(v *visit, bad problems) (i18n.Message, bool) {
	q := guance.Lookup{Billing: true}
	if _, at := bad["username"]; !at {
		q.Username = v.draft.Username
	}
	if _, at := bad["email"]; !at && v.draft.Email != v.draft.Verified {
		// A proven address was free when it was proven; Activate checks
		// it again in its transaction.
		q.Email = v.draft.Email
	}
	if q.Username == "" && q.Email == "" {
		return i18n.Message{}, true
	}
	taken, notice, answered := h.flow.Lookup(v.Visit, h.Lookups, q)
	if answered {
		return i18n.Message{}, false
	}
	if taken.Username {
		bad["username"] = i18n.M("field.username.taken")
	}
	if taken.Email {
		bad["email"] = i18n.M("field.email.taken")
	}
	return notice, true
}

func (h *Handler) postBasic(v *visit) {
	if !gate(v, 0) {
		return
	}
	bad := v.readBasic()
	if h.flow.Switching(v.Visit, routes.RegisterBasic, func() bool {
		// What a refused post said is about what it sent, not about
		// what is typed now.
		v.draft.Refused = flow.PasswordNotKept(v.Visit, v.draft.Refused.AfterSwitch(), routes.RegisterBasic, &v.draft.Password, h.Now())
		return h.save(v)
	}) {
		return
	}
	notice, ok := h.taken(v, bad)
	if !ok {
		return
	}
	if v.R.PostForm.Get("action") == "send-code" {
		h.sendCode(v, bad, notice)
		return
	}
	if _, at := bad["email"]; !at && v.draft.Verified != v.draft.Email && v.R.PostForm.Get("code") == "" {
		bad["code"] = i18n.M("field.code")
		if v.draft.Verified != "" {
			bad["code"] = i18n.M("reg.email.changed", v.draft.Verified)
		}
	}
	// Every field's problem at once (the password is hashed only later).
	v.draft.Password.Check(v.R.PostForm, v.draft.Username, bad)
	if len(bad) > 0 || !notice.IsZero() {
		h.refuseBasic(v, flow.Refusal{Errors: bad, Notice: notice})
		return
	}
	if v.draft.Verified != v.draft.Email {
		err := h.Verifier.Verify(v.R.Context(), verification.Register, v.Sess.CodeScope(), v.draft.Email, v.R.PostForm.Get("code"))
		if err != nil && !flow.IsCodeRefusal(err) {
			h.fail(v, err)
			return
		}
		if err != nil {
			v.draft.Code.Refused(err)
			h.Log.InfoContext(v.R.Context(), "registration code refused", "kind", verification.ErrorKind(err))
			h.refuseBasic(v, flow.Refusal{Errors: problems{"code": flow.VerifyMessage(err)}})
			return
		}
		v.draft.Verified, v.draft.Code.Typed = v.draft.Email, ""
	}
	// The password last: it costs a tenth of a second to hash.
	h.readPassword(v, bad)
	if len(bad) > 0 {
		h.refuseBasic(v, flow.Refusal{Errors: bad})
		return
	}
	v.draft.Step = max(v.draft.Step, 1)
	v.draft.Cleared = cleared(v.draft.Username, v.draft.Email)
	v.draft.Refused = nil
	h.kept(v, func() { flow.Redirect(v.W, v.R, routes.RegisterCompany) })
}

// refuseBasic keeps what step 1's post typed and shows its problems.
func (h *Handler) refuseBasic(v *visit, r flow.Refusal) {
	r.Page = routes.RegisterBasic
	flow.PasswordNotTaken(v.Visit, &r, &v.draft.Password)
	h.flow.Refuse(v.Visit, r, func(r *flow.Refusal) bool { v.draft.Refused = r; return h.save(v) }, "form-error")
}

// sendCode keeps what was typed, then sends a register code to the
// address (flow.SendCode): unless the address or the username is wrong or
// taken, which is said at once, with no code.
func (h *Handler) sendCode(v *visit, bad problems, notice i18n.Message) {
	stop := problems{}
	for _, field := range []string{"email", "username"} {
		if msg, at := bad[field]; at {
			stop[field] = msg
		}
	}
	if len(stop) > 0 || !notice.IsZero() {
		h.refuseBasic(v, flow.Refusal{Errors: stop, Notice: notice})
		return
	}
	v.draft.Refused = nil
	sent := h.flow.SendCode(v.Visit, h.Codes, verification.Register, v.draft.Email, &v.draft.Code, func() bool { return h.save(v) })
	switch {
	case sent.Answered:
		return
	case !sent.Sent:
		h.refuseBasic(v, flow.Refusal{CodeError: sent.Message, WaitUntil: h.Now().Add(time.Duration(sent.Wait) * time.Second)})
		return
	}
	// Keep a password typed before the send, so it need not be typed
	// again; a wrong one is not kept, and said so beside the notice of
	// the code sent. Hashed only now: a send the limits refuse costs no
	// hash.
	if v.R.PostForm.Get("password") == "" {
		flow.Redirect(v.W, v.R, routes.RegisterBasic+"#"+web.CodeAnchor)
		return
	}
	pwBad := problems{}
	h.readPassword(v, pwBad)
	if len(pwBad) > 0 {
		h.refuseBasic(v, flow.Refusal{Errors: pwBad})
		return
	}
	h.kept(v, func() { flow.Redirect(v.W, v.R, routes.RegisterBasic+"#"+web.CodeAnchor) })
}

// --- Step 2: company ------------------------------------------------------

func (d draft) companyValues() map[string]string {
	agree := ""
	if d.Agreed {
		agree = "yes"
	}
	return map[string]string{"company": d.Company.Name, "agree": agree, "industry": d.Company.Industry, "region": d.Company.Region, "description": d.Company.Description}
}

func (h *Handler) showCompany(v *visit) {
	if !gate(v, 1) {
		return
	}
	refused := v.draft.Refused.On(routes.RegisterCompany, h.Now())
	c := v.Chrome("reg.title", routes.RegisterCompany, "")
	c.Form = web.PageForm
	h.flow.Render(v.Visit, http.StatusOK, web.RegisterCompanyPage(c, web.RegisterCompanyView{Form: refused.Form(v.draft.companyValues()), TermsURL: h.TermsURL}))
}

func (h *Handler) postCompany(v *visit) {
	if !gate(v, 1) {
		return
	}
	f := v.R.PostForm
	typed := guance.Company{Name: f.Get("company"), Industry: f.Get("industry"), Region: f.Get("region"), Description: f.Get("description")}
	checked, bad := checkCompany(typed)
	v.draft.Company = guance.Company{Name: pick(checked.Name, typed.Name), Industry: pick(checked.Industry, typed.Industry),
		Region: pick(checked.Region, typed.Region), Description: pick(checked.Description, typed.Description)}
	v.draft.Agreed = f.Get("agree") == "yes"
	if !v.draft.Agreed {
		bad["agree"] = i18n.M("field.agree")
	}
	if h.flow.Switching(v.Visit, routes.RegisterCompany, func() bool { v.draft.Refused = v.draft.Refused.AfterSwitch(); return h.save(v) }) {
		return
	}
	if f.Get("action") == "back" {
		h.kept(v, func() { flow.Redirect(v.W, v.R, routes.RegisterBasic) })
		return
	}
	if len(bad) > 0 {
		h.flow.Refuse(v.Visit, flow.Refusal{Page: routes.RegisterCompany, Errors: bad}, func(r *flow.Refusal) bool { v.draft.Refused = r; return h.save(v) }, "form-error")
		return
	}
	v.draft.Step = max(v.draft.Step, 2)
	v.draft.Refused = nil
	h.kept(v, func() { flow.Redirect(v.W, v.R, routes.RegisterActivate) })
}

// checkCompany is step 2's rules: each field checked (empty when it does
// not pass), and the problems.
func checkCompany(c guance.Company) (guance.Company, problems) {
	bad := problems{}
	var out guance.Company
	var err *guance.FieldError
	out.Name, err = guance.CompanyName(c.Name)
	bad.Add(err)
	out.Industry, err = guance.Text("industry", c.Industry, 50, false)
	bad.Add(err)
	out.Region, err = guance.Text("region", c.Region, 50, false)
	bad.Add(err)
	out.Description, err = guance.Description(c.Description)
	bad.Add(err)
	return out, bad
}

// pick is the checked value, or what was typed when it did not pass (to
// show it back).
func pick(checked, typed string) string {
	if checked != "" {
		return checked
	}
	return typed
}

// --- Step 3: activation ---------------------------------------------------

func (v *visit) activateValues() map[string]string {
	d := v.draft
	lang, uid, instance := d.WorkspaceLang, d.UID, d.Instance
	if lang == "" {
		lang = string(v.Lang)
	}
	if uid == "" {
		uid = v.Sess.AliUID
	}
	if instance == "" {
		instance = v.Sess.InstanceID
	}
	return map[string]string{"workspace": d.Workspace, "wslang": lang, "uid": uid, "instance": instance}
}

func (h *Handler) showActivate(v *visit) {
	if !gate(v, 2) {
		return
	}
	refused := v.draft.Refused.On(routes.RegisterActivate, h.Now())
	view := web.RegisterActivateView{Form: refused.Form(v.activateValues()), Notice: refused.Notice, NoticeLink: refused.NoticeLink, Closed: refused.Closed}
	c := v.Chrome("reg.title", routes.RegisterActivate, "")
	c.Form = web.PageForm
	h.flow.Render(v.Visit, http.StatusOK, web.RegisterActivatePage(c, view))
}

// refuseActivate keeps what step 3's post typed and shows r on it.
func (h *Handler) refuseActivate(v *visit, r flow.Refusal) {
	r.Page = routes.RegisterActivate
	h.flow.Refuse(v.Visit, r, func(r *flow.Refusal) bool { v.draft.Refused = r; return h.save(v) }, "form-error")
}

func (h *Handler) postActivate(v *visit) {
	if !gate(v, 2) {
		return
	}
	f := v.R.PostForm
	v.draft.Workspace, v.draft.WorkspaceLang, v.draft.UID, v.draft.Instance = f.Get("workspace"), f.Get("wslang"), f.Get("uid"), f.Get("instance")
	if h.flow.Switching(v.Visit, routes.RegisterActivate, func() bool { v.draft.Refused = v.draft.Refused.AfterSwitch(); return h.save(v) }) {
		return
	}
	if f.Get("action") == "back" {
		h.kept(v, func() { flow.Redirect(v.W, v.R, routes.RegisterCompany) })
		return
	}
	bad := problems{}
	name, err := guance.WorkspaceName(f.Get("workspace"))
	bad.Add(err)
	if _, ok := i18n.ParseLang(f.Get("wslang")); !ok {
		bad["wslang"] = i18n.M("field.wslang")
	}
	// The purchase that settles the workspace: the session's, or another
	// pending one of the same account. A refusal says which field is wrong
	// and nothing about other buyers' instances.
	uid, instance := noSpaces(f.Get("uid")), noSpaces(f.Get("instance"))
	if uid != v.Sess.AliUID {
		bad["uid"] = i18n.M("field.uid")
	} else if instance != v.Sess.InstanceID {
		if err := h.otherInstance(v, instance); err != nil {
			if !isInstanceRefusal(err) {
				h.fail(v, err)
				return
			}
			bad["instance"] = i18n.M("field.instance")
		}
	}
	if len(bad) > 0 {
		h.refuseActivate(v, flow.Refusal{Errors: bad})
		return
	}
	h.activate(v, name, instance)
}

// noSpaces drops the spaces a buyer may copy with an id.
func noSpaces(s string) string {
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] != ' ' {
			out = append(out, s[i])
		}
	}
	return string(out)
}

// otherInstance checks an instance id the buyer typed instead of the
// session's: it must be the same account's, pending and active.
func (h *Handler) otherInstance(v *visit, id string) error {
	if id == "" || len(id) > 32 || !isDigits(id) {
		return activation.ErrInstanceNotFound
	}
	inst, err := h.Instances.Get(v.R.Context(), id)
	if err != nil {
		return err
	}
	return inst.CheckActivatable(v.Sess.AliUID)
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func isInstanceRefusal(err error) bool {
	return activation.Unavailable(err) || errors.Is(err, activation.ErrNotPending)
}

// unchecked is the page of the first step whose fields, as the draft keeps
// them, do not pass that step's checks ("" when all do). A step keeps what
// was typed even when it is wrong (Back, Send code), so a draft that once
// passed a step may hold values that no longer do.
func (d draft) unchecked() string {
	if _, err := guance.Username(d.Username); err != nil || !d.Password.KeptFor(d.Username) || d.Verified == "" || !sites.Known(d.Site) {
		return routes.RegisterBasic
	}
	if d.Cleared != cleared(d.Username, d.Email) || d.Email != d.Verified {
		return routes.RegisterBasic
	}
	if _, err := guance.Phone(d.Phone); err != nil {
		return routes.RegisterBasic
	}
	if _, bad := checkCompany(d.Company); !d.Agreed || len(bad) > 0 {
		return routes.RegisterCompany
	}
	return ""
}

// activate writes the registration in one transaction and shows the
// success page, or why it was refused.
func (h *Handler) activate(v *visit, name, instance string) {
	d, now := v.draft, h.Now().UTC()
	if back := d.unchecked(); back != "" {
		flow.Redirect(v.W, v.R, back)
		return
	}
	loginURL := h.LoginURLs[d.Site]
	ws := guance.Workspace{
		ID: guance.NewWorkspaceID(), Name: name, Lang: d.WorkspaceLang, Site: d.Site,
		Owner: d.Username, BillingAccount: d.Username,
		Settlement: guance.ByInstance(v.Sess.AliUID, instance), CreatedAt: now,
	}
	reg := guance.Registration{
		Account:   guance.Account{Username: d.Username, Email: d.Verified, PasswordHash: d.Password.Hash, Phone: d.Phone, Lang: string(v.Lang), CreatedAt: now},
		Billing:   guance.BillingAccount{Username: d.Username, Email: d.Verified, PasswordHash: d.Password.Hash, Phone: d.Phone, Company: d.Company, Lang: string(v.Lang), CreatedAt: now},
		Workspace: ws, UID: v.Sess.AliUID, Instance: instance, At: now,
	}
	d.Workspace, d.Instance, d.Refused = name, instance, nil
	d.Done = &done{Username: d.Username, WorkspaceID: ws.ID, Workspace: name, Site: d.Site, UID: v.Sess.AliUID, Instance: instance}
	welcome := outbox.New(outbox.KindWelcome, d.Verified, string(v.Lang), map[string]string{
		"username": d.Username, "workspace": name, "site": d.Site, "loginUrl": loginURL,
	}, now, outbox.Keep)
	welcome.Instance = instance
	step := h.flow.ActivatingStep(v.Visit, d.encode())
	err := h.Records.Register(v.R.Context(), reg, step, &welcome)
	if err != nil {
		h.refused(v, err)
		return
	}
	h.Log.InfoContext(v.R.Context(), "registration activated the instance", "instanceId", instance, "site", d.Site, "workspaceId", ws.ID)
	h.Metrics.Count("ActivationsCompleted", map[string]string{"Path": "register"})
	h.flow.Activated(v.Visit, &step)
	flow.Redirect(v.W, v.R, routes.RegisterDone)
}

// refused shows why Activate was refused, with where to put it right.
func (h *Handler) refused(v *visit, err error) {
	r := flow.Refusal{}
	code := ""
	switch {
	case errors.Is(err, guance.ErrUsernameTaken):
		code, r.Notice, r.NoticeLink = "UsernameTaken", i18n.M("reg.taken.username"), web.Link{Label: "reg.step.basic", Href: routes.RegisterBasic}
	case errors.Is(err, guance.ErrEmailTaken):
		code, r.Notice, r.NoticeLink = "EmailTaken", i18n.M("reg.taken.email"), web.Link{Label: "reg.step.basic", Href: routes.RegisterBasic}
	case errors.Is(err, guance.ErrUIDLinked):
		// Linked meanwhile (another session of the account won): nothing
		// to register any more; the account's workspaces are next.
		code, r.Notice, r.NoticeLink, r.Closed = "UIDLinked", i18n.M("reg.taken.uid"), web.Link{Label: "action.workspaces", Href: routes.BindWorkspace}, true
	case errors.Is(err, activation.ErrNotPending):
		// Activated meanwhile (another session of the purchase won):
		// nothing here can be sent any more; its workspaces are next.
		code, r.Notice, r.NoticeLink, r.Closed = "InstanceNotPending", i18n.M("reg.instance.done"), web.Link{Label: "action.workspaces", Href: routes.BindWorkspace}, true
	case activation.Unavailable(err):
		code, r.Notice, r.NoticeLink, r.Closed = "InstanceClosed", i18n.M("reg.instance.closed"), web.Link{Label: "action.marketplace", Href: h.Web.MarketplaceURL}, true
	default:
		h.fail(v, err)
		return
	}
	h.Log.InfoContext(v.R.Context(), "registration refused", "code", code)
	h.Metrics.Count("RegistrationsRefused", map[string]string{"Code": code})
	h.refuseActivate(v, r)
}

// --- Done -----------------------------------------------------------------

func (h *Handler) showDone(v *visit) {
	d := v.draft.Done
	if d == nil {
		flow.Redirect(v.W, v.R, nextPath(v.draft))
		return
	}
	c := v.Chrome("reg.done.title", routes.RegisterDone, "")
	if v.R.URL.Query().Has(alreadyQuery) {
		c.Banner = i18n.M("reg.done.already")
	}
	h.flow.Render(v.Visit, http.StatusOK, web.RegisterDonePage(c, web.RegisterDoneView{
		Username: d.Username, Workspace: d.Workspace, Site: d.Site, MaskedUID: web.MaskUID(d.UID), Instance: d.Instance,
		LoginURL: h.LoginURLs[d.Site],
	}))
}
