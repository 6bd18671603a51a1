package binding

import (
	"errors"
	"net/http"
	"time"

	"github.com/guance/aliyun-marketplace/shared/domain/guance"
	"github.com/guance/aliyun-marketplace/shared/domain/outbox"
	"github.com/guance/aliyun-marketplace/shared/domain/verification"
	"github.com/guance/aliyun-marketplace/shared/endpoints/flow"
	"github.com/guance/aliyun-marketplace/shared/endpoints/i18n"
	"github.com/guance/aliyun-marketplace/shared/endpoints/routes"
	"github.com/guance/aliyun-marketplace/shared/endpoints/web"
)

func createPath(newAccount bool) string {
	if newAccount {
		return routes.BindCreateNew
	}
	return routes.BindCreateHave
}

// values are the create form as the draft holds it.
func (c createDraft) values(lang i18n.Lang) map[string]string {
	agree, wslang := "", c.WorkspaceLang
	if c.Agreed {
		agree = "yes"
	}
	if wslang == "" {
		wslang = string(lang)
	}
	return map[string]string{
		"workspace": c.Workspace, "wslang": wslang, "username": c.Username, "email": c.Email, "phone": c.Phone, "agree": agree,
		"code": c.Code.Typed,
	}
}

// showCreate shows the create form as the draft holds it, with the
// problems of the post that led here, if any, and the code on its way.
func (h *WorkspaceHandler) showCreate(newAccount bool) func(*flow.Visit) {
	return func(v *flow.Visit) {
		if _, _, err := h.account(v); err != nil {
			h.problem(v, err)
			return
		}
		d := decodeWorkspace(h.flow.Draft(v))
		path, now := createPath(newAccount), h.Now()
		refused := d.Create.Refused.On(path, now)
		view := web.CreateWorkspaceView{
			New: newAccount, Site: d.Site, Form: refused.Form(d.Create.values(v.Lang)), TermsURL: h.TermsURL,
			Notice: refused.Notice, Verified: d.Create.Verified, CodeError: refused.CodeError,
		}
		// Kept, unless this page shows a problem with a password typed since.
		view.PasswordKept = d.Create.Password.KeptFor(d.Create.Username) && view.Form.Err("password").IsZero() && view.Form.Err("confirm").IsZero()
		view.CodeSent, view.Wait = d.Create.Code.Shown(verification.CreateWorkspace, d.Create.Email, now)
		if w := refused.Wait(now); w > view.Wait {
			view.Wait = w
		}
		// The site is shown, fixed: it was chosen on the binding page.
		c := v.Chrome("bind.ws.create.title", path, web.WaitStyle(view.Wait))
		c.Form = web.PageForm
		h.flow.Render(v, http.StatusOK, web.CreateWorkspacePage(c, view))
	}
}

// refuseCreate keeps the draft with r and shows r on the create page.
func (h *WorkspaceHandler) refuseCreate(v *flow.Visit, newAccount bool, d workspaceDraft, r flow.Refusal) {
	r.Page = createPath(newAccount)
	if newAccount {
		flow.PasswordNotTaken(v, &r, &d.Create.Password)
	}
	h.flow.Refuse(v, r, func(r *flow.Refusal) bool { d.Create.Refused = r; return h.flow.Save(v, d.encode()) }, "form-error")
}

// readCreate takes the create form into the draft and returns what is
// wrong with it (the code and the password are checked apart).
func readCreate(v *flow.Visit, d *workspaceDraft, newAccount bool) flow.Problems {
	f := v.R.PostForm
	c := &d.Create
	c.Workspace, c.WorkspaceLang, c.Email, c.Agreed, c.Code.Typed = f.Get("workspace"), f.Get("wslang"), f.Get("email"), f.Get("agree") == "yes", f.Get("code")
	bad := flow.Problems{}
	if name, err := guance.WorkspaceName(c.Workspace); err != nil {
		bad.Add(err)
	} else {
		c.Workspace = name
	}
	if _, ok := i18n.ParseLang(c.WorkspaceLang); !ok {
		bad["wslang"] = i18n.M("field.wslang")
	}
	if email, err := verification.NormalizeAddress(c.Email); err != nil {
		bad["email"] = flow.AddressProblem(c.Email)
	} else {
		c.Email = email
	}
	if !c.Agreed {
		bad["agree"] = i18n.M("field.agree")
	}
	if newAccount {
		c.Username, c.Phone = f.Get("username"), f.Get("phone")
		if username, err := guance.Username(c.Username); err != nil {
			bad.Add(err)
		} else {
			c.Username = username
		}
		if phone, err := guance.Phone(c.Phone); err != nil {
			bad.Add(err)
		} else {
			c.Phone = phone
		}
	}
	return bad
}

// lookup asks whether the form's username and email are taken (with a new
// account) or the email has a Guance account (with an existing one), and
// adds what is wrong to bad. A cap met is a notice; false when the
// request is answered.
func (h *WorkspaceHandler) lookup(v *flow.Visit, c *createDraft, newAccount bool, bad flow.Problems) (i18n.Message, bool) {
	q := guance.Lookup{}
	if _, at := bad["email"]; !at {
		q.Email = c.Email
	}
	if _, at := bad["username"]; newAccount && !at {
		q.Username = c.Username
	}
	if q.Email == "" && q.Username == "" {
		return i18n.Message{}, true
	}
	taken, notice, answered := h.flow.Lookup(v, h.Lookups, q)
	switch {
	case answered:
		return i18n.Message{}, false
	case !notice.IsZero():
		return notice, true
	case newAccount && taken.Username:
		bad["username"] = i18n.M("bind.ws.taken.username")
	}
	switch {
	case q.Email == "":
	case newAccount && taken.Email:
		bad["email"] = i18n.M("bind.ws.taken.email")
	case !newAccount && !taken.Email:
		bad["email"] = i18n.M("bind.ws.create.noaccount")
	}
	return notice, true
}

func (h *WorkspaceHandler) postCreate(newAccount bool) func(*flow.Visit) {
	return func(v *flow.Visit) {
		d := decodeWorkspace(h.flow.Draft(v))
		bad := readCreate(v, &d, newAccount)
		c := &d.Create
		path := createPath(newAccount)
		if h.flow.Switching(v, path, func() bool {
			// What a refused post said is about what it sent, not about
			// what is typed now.
			c.Refused = c.Refused.AfterSwitch()
			if newAccount {
				c.Refused = flow.PasswordNotKept(v, c.Refused, path, &c.Password, h.Now())
			}
			return h.flow.Save(v, d.encode())
		}) {
			return
		}
		notice, ok := h.lookup(v, c, newAccount, bad)
		if !ok {
			return
		}
		if v.R.PostForm.Get("action") == "send-code" {
			h.sendCode(v, newAccount, d, bad, notice)
			return
		}
		if _, at := bad["email"]; !at && c.Verified != c.Email && v.R.PostForm.Get("code") == "" {
			bad["code"] = i18n.M("field.code")
			if c.Verified != "" {
				bad["code"] = i18n.M("reg.email.changed", c.Verified)
			}
		}
		if newAccount {
			c.Password.Check(v.R.PostForm, c.Username, bad)
		}
		if len(bad) > 0 || !notice.IsZero() {
			h.refuseCreate(v, newAccount, d, flow.Refusal{Errors: bad, Notice: notice})
			return
		}
		if c.Verified != c.Email {
			err := h.Verifier.Verify(v.R.Context(), verification.CreateWorkspace, v.Sess.CodeScope(), c.Email, v.R.PostForm.Get("code"))
			switch {
			case err == nil:
				c.Verified, c.WorkspaceID, c.Code.Typed = c.Email, guance.NewWorkspaceID(), ""
			case flow.IsCodeRefusal(err):
				h.Log.InfoContext(v.R.Context(), "workspace creation code refused", "kind", verification.ErrorKind(err))
				c.Code.Refused(err)
				h.refuseCreate(v, newAccount, d, flow.Refusal{Errors: flow.Problems{"code": flow.VerifyMessage(err)}})
				return
			default:
				h.flow.Fail(v.W, v.R, v.Lang, err)
				return
			}
		}
		if newAccount {
			c.Password.Choose(v.R.PostForm, c.Username, h.HashPassword, bad)
			if len(bad) > 0 {
				h.refuseCreate(v, newAccount, d, flow.Refusal{Errors: bad})
				return
			}
		}
		h.create(v, newAccount, d)
	}
}

// create writes the workspace, settled through this purchase, in one
// transaction with its owner's checks and the instance's activation; a
// Guance account registered with it gets the welcome mail registration
// sends (an outbox item of the same transaction).
func (h *WorkspaceHandler) create(v *flow.Visit, newAccount bool, d workspaceDraft) {
	inst, account, err := h.account(v)
	if err != nil {
		h.problem(v, err)
		return
	}
	if err := roomFor(inst); err != nil {
		h.refusal(v, err)
		h.toList(v, d, listNote{Warn: "full"})
		return
	}
	c, now := d.Create, h.Now().UTC()
	owner := c.Username
	var newOwner *guance.Account
	var welcome *outbox.Item
	if newAccount {
		newOwner = &guance.Account{Username: c.Username, Email: c.Verified, PasswordHash: c.Password.Hash, Phone: c.Phone, Lang: string(v.Lang), CreatedAt: now}
		mail := outbox.New(outbox.KindWelcome, c.Verified, string(v.Lang), map[string]string{
			"username": c.Username, "workspace": c.Workspace, "site": d.Site, "loginUrl": h.LoginURLs[d.Site],
		}, now, outbox.Keep)
		mail.Instance = v.Sess.InstanceID
		welcome = &mail
	} else {
		username, found, err := h.Records.UsernameByEmail(v.R.Context(), c.Verified)
		if err != nil {
			h.flow.Fail(v.W, v.R, v.Lang, err)
			return
		}
		if !found {
			h.refuseCreate(v, newAccount, d, flow.Refusal{Errors: flow.Problems{"email": i18n.M("bind.ws.create.noaccount")}})
			return
		}
		owner = username
	}
	if c.WorkspaceID == "" {
		c.WorkspaceID = guance.NewWorkspaceID() // a draft from before ids were kept
	}
	ws := guance.Workspace{
		ID: c.WorkspaceID, Name: c.Workspace, Lang: c.WorkspaceLang, Site: d.Site,
		Owner: owner, BillingAccount: account, Settlement: guance.ByInstance(v.Sess.AliUID, inst.ID), CreatedAt: now,
	}
	// The form is done: a later workspace starts from an empty one, in the
	// same transaction as this one's creation; the list says what it did.
	cleared := d
	cleared.Create, cleared.Chosen = createDraft{}, ""
	cleared.Last = &listNote{Done: "created", Workspace: ws.ID, At: now}
	step := h.flow.Step(v, cleared.encode())
	if !inst.Activated() {
		step = h.flow.ActivatingStep(v, cleared.encode())
	}
	err = h.Records.CreateWorkspace(v.R.Context(), guance.NewWorkspace{Workspace: ws, NewAccount: newOwner, UID: v.Sess.AliUID, Instance: inst.ID, At: now}, step, welcome)
	bad := flow.Problems{}
	switch {
	case errors.Is(err, guance.ErrUsernameTaken):
		bad["username"] = i18n.M("bind.ws.taken.username")
	case errors.Is(err, guance.ErrEmailTaken):
		bad["email"] = i18n.M("bind.ws.taken.email")
	case errors.Is(err, guance.ErrNoSuchAccount):
		bad["email"] = i18n.M("bind.ws.create.noaccount")
	}
	if len(bad) > 0 {
		// The proven email stays in the draft: a corrected form needs no
		// new code.
		h.Log.InfoContext(v.R.Context(), "workspace creation refused", "kind", "account")
		h.refuseCreate(v, newAccount, d, flow.Refusal{Errors: bad})
		return
	}
	if warn, ok := h.refusal(v, err); ok {
		h.toList(v, d, listNote{Warn: warn})
		return
	}
	if err != nil {
		h.flow.Fail(v.W, v.R, v.Lang, err)
		return
	}
	how := "create-with-account"
	if newAccount {
		how = "create-with-new-account"
	}
	h.settled(v, inst, how, &step)
	flow.Redirect(v.W, v.R, routes.BindWorkspace)
}

// sendCode keeps what was typed, then sends a create-workspace code to the
// email: unless a field it depends on is wrong or taken, which is said at
// once, with no code.
func (h *WorkspaceHandler) sendCode(v *flow.Visit, newAccount bool, d workspaceDraft, bad flow.Problems, notice i18n.Message) {
	stop := flow.Problems{}
	for _, field := range []string{"email", "username"} {
		if msg, at := bad[field]; at {
			stop[field] = msg
		}
	}
	if len(stop) > 0 || !notice.IsZero() {
		h.refuseCreate(v, newAccount, d, flow.Refusal{Errors: stop, Notice: notice})
		return
	}
	path := createPath(newAccount)
	d.Create.Refused = nil
	save := func() bool { return h.flow.Save(v, d.encode()) }
	sent := h.flow.SendCode(v, h.Codes, verification.CreateWorkspace, d.Create.Email, &d.Create.Code, save)
	switch {
	case sent.Answered:
		return
	case !sent.Sent:
		h.refuseCreate(v, newAccount, d, flow.Refusal{CodeError: sent.Message, WaitUntil: h.Now().Add(time.Duration(sent.Wait) * time.Second)})
		return
	}
	// Keep a password typed before the send, so it need not be typed
	// again; a wrong one is not kept, and said so beside the notice of
	// the code sent. Hashed only now: a send the limits refuse costs no
	// hash.
	if !newAccount || v.R.PostForm.Get("password") == "" {
		flow.Redirect(v.W, v.R, path+"#"+web.CodeAnchor)
		return
	}
	pwBad := flow.Problems{}
	d.Create.Password.Choose(v.R.PostForm, d.Create.Username, h.HashPassword, pwBad)
	if len(pwBad) > 0 {
		h.refuseCreate(v, newAccount, d, flow.Refusal{Errors: pwBad})
		return
	}
	if save() {
		flow.Redirect(v.W, v.R, path+"#"+web.CodeAnchor)
	}
}
