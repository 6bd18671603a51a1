package binding

import (
	"errors"
	"net/http"
	"net/url"

	"github.com/guance/aliyun-marketplace/shared/domain/guance"
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

func (c createDraft) form(lang i18n.Lang) web.Form {
	agree, wslang := "", c.WorkspaceLang
	if c.Agreed {
		agree = "yes"
	}
	if wslang == "" {
		wslang = string(lang)
	}
	return web.Form{Values: map[string]string{
		"workspace": c.Workspace, "wslang": wslang, "username": c.Username, "email": c.Email, "phone": c.Phone, "agree": agree,
	}, Errors: map[string]i18n.Message{}}
}

func (h *WorkspaceHandler) showCreate(newAccount bool) func(*flow.Visit) {
	return func(v *flow.Visit) {
		if _, _, err := h.account(v); err != nil {
			h.problem(v, err)
			return
		}
		d := decodeWorkspace(h.flow.Draft(v))
		h.renderCreate(v, http.StatusOK, newAccount, d, d.Create.form(v.Lang), web.CreateWorkspaceView{})
	}
}

func (h *WorkspaceHandler) renderCreate(v *flow.Visit, status int, newAccount bool, d workspaceDraft, form web.Form, view web.CreateWorkspaceView) {
	view.New, view.Site, view.Form, view.TermsURL = newAccount, d.Site, form, h.TermsURL
	view.Verified = d.Create.Verified
	view.PasswordKept = d.Create.Password.KeptFor(form.Value("username"))
	if view.CodeSent.IsZero() && view.CodeError.IsZero() {
		view.CodeSent, view.Wait = d.Create.Code.Shown(verification.CreateWorkspace, h.Now())
	}
	path := createPath(newAccount)
	// The site is shown, fixed: it was chosen on the binding page.
	c := v.Chrome("bind.ws.create.title", path, web.WaitStyle(view.Wait))
	h.flow.Render(v, status, web.CreateWorkspacePage(c, view))
}

// readCreate takes the create form into the draft and returns what is
// wrong with it (the code and the password are checked apart).
func readCreate(v *flow.Visit, d *workspaceDraft, newAccount bool) (web.Form, flow.Problems) {
	f := v.R.PostForm
	c := &d.Create
	c.Workspace, c.WorkspaceLang, c.Email, c.Agreed = f.Get("workspace"), f.Get("wslang"), f.Get("email"), f.Get("agree") == "yes"
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
		bad["email"] = i18n.M("field.email")
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
	form := d.Create.form(v.Lang)
	form.Errors = bad
	return form, bad
}

func (h *WorkspaceHandler) postCreate(newAccount bool) func(*flow.Visit) {
	return func(v *flow.Visit) {
		d := decodeWorkspace(h.flow.Draft(v))
		form, bad := readCreate(v, &d, newAccount)
		if v.R.PostForm.Get("action") == "send-code" {
			h.sendCode(v, newAccount, d, form, bad)
			return
		}
		c := &d.Create
		if c.Verified != c.Email || c.Email == "" {
			if _, at := bad["email"]; !at && v.R.PostForm.Get("code") == "" {
				bad["code"] = i18n.M("field.code")
			}
		}
		if len(bad) == 0 && c.Verified != c.Email {
			err := h.Verifier.Verify(v.R.Context(), verification.CreateWorkspace, v.Sess.CodeScope(), c.Email, v.R.PostForm.Get("code"))
			switch {
			case err == nil:
				c.Verified, c.WorkspaceID = c.Email, guance.NewWorkspaceID()
			case flow.IsCodeRefusal(err):
				h.Log.InfoContext(v.R.Context(), "workspace creation code refused", "kind", verification.ErrorKind(err))
				bad["code"] = flow.VerifyMessage(err)
			default:
				h.flow.Fail(v.W, v.R, v.Lang, err)
				return
			}
		}
		if newAccount && len(bad) == 0 {
			c.Password.Choose(v.R.PostForm, c.Username, h.HashPassword, bad)
		}
		if len(bad) > 0 {
			if h.flow.Save(v, d.encode()) {
				h.renderCreate(v, http.StatusBadRequest, newAccount, d, form, web.CreateWorkspaceView{})
			}
			return
		}
		h.create(v, newAccount, d, form)
	}
}

// create writes the workspace, settled through this purchase, in one
// transaction with its owner's checks and the instance's activation.
func (h *WorkspaceHandler) create(v *flow.Visit, newAccount bool, d workspaceDraft, form web.Form) {
	inst, account, err := h.account(v)
	if err != nil {
		h.problem(v, err)
		return
	}
	c, now := d.Create, h.Now().UTC()
	owner := c.Username
	var newOwner *guance.Account
	if newAccount {
		newOwner = &guance.Account{Username: c.Username, Email: c.Verified, PasswordHash: c.Password.Hash, Phone: c.Phone, Lang: string(v.Lang), CreatedAt: now}
	} else {
		username, found, err := h.Records.UsernameByEmail(v.R.Context(), c.Verified)
		if err != nil {
			h.flow.Fail(v.W, v.R, v.Lang, err)
			return
		}
		if !found {
			form.Errors["email"] = i18n.M("bind.ws.create.noaccount")
			if h.flow.Save(v, d.encode()) {
				h.renderCreate(v, http.StatusBadRequest, newAccount, d, form, web.CreateWorkspaceView{})
			}
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
	// same transaction as this one's creation.
	cleared := d
	cleared.Create = createDraft{}
	step := h.flow.Step(v, cleared.encode())
	if !inst.Activated() {
		step = h.flow.ActivatingStep(v, cleared.encode())
	}
	err = h.Records.CreateWorkspace(v.R.Context(), guance.NewWorkspace{Workspace: ws, NewAccount: newOwner, UID: v.Sess.AliUID, Instance: inst.ID, At: now}, step)
	switch {
	case errors.Is(err, guance.ErrUsernameTaken):
		form.Errors["username"] = i18n.M("bind.ws.taken.username")
	case errors.Is(err, guance.ErrEmailTaken):
		form.Errors["email"] = i18n.M("bind.ws.taken.email")
	case errors.Is(err, guance.ErrNoSuchAccount):
		form.Errors["email"] = i18n.M("bind.ws.create.noaccount")
	}
	if len(form.Errors) > 0 {
		// The proven email stays in the draft: a corrected form needs no
		// new code.
		h.Log.InfoContext(v.R.Context(), "workspace creation refused", "kind", "account")
		if h.flow.Save(v, d.encode()) {
			h.renderCreate(v, http.StatusConflict, newAccount, d, form, web.CreateWorkspaceView{})
		}
		return
	}
	if warn, ok := h.refusal(v, err); ok {
		backToList(v, url.Values{"warn": {warn}})
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
	backToList(v, url.Values{"done": {"created"}, "ws": {ws.ID}})
}

// sendCode keeps what was typed, then sends a create-workspace code to the
// email of the Guance account.
func (h *WorkspaceHandler) sendCode(v *flow.Visit, newAccount bool, d workspaceDraft, form web.Form, bad map[string]i18n.Message) {
	path := createPath(newAccount)
	if msg, at := bad["email"]; at {
		form.Errors = map[string]i18n.Message{"email": msg}
		if h.flow.Save(v, d.encode()) {
			h.renderCreate(v, http.StatusBadRequest, newAccount, d, form, web.CreateWorkspaceView{})
		}
		return
	}
	save := func() bool { return h.flow.Save(v, d.encode()) }
	sent := h.flow.SendCode(v, h.Codes, verification.CreateWorkspace, d.Create.Email, &d.Create.Code, save)
	switch {
	case sent.Answered:
		return
	case !sent.Sent:
		form.Errors = map[string]i18n.Message{}
		h.renderCreate(v, sent.Status, newAccount, d, form, web.CreateWorkspaceView{CodeError: sent.Message, Wait: sent.Wait})
		return
	}
	// Keep a password typed before the send, so it need not be typed
	// again; a wrong one is not kept, and said so beside the notice of
	// the code sent. Hashed only now: a send the limits refuse costs no
	// hash.
	pwBad := flow.Problems{}
	if _, at := bad["username"]; newAccount && !at && v.R.PostForm.Get("password") != "" {
		d.Create.Password.Choose(v.R.PostForm, d.Create.Username, h.HashPassword, pwBad)
		if len(pwBad) == 0 && !save() {
			return
		}
	}
	if len(pwBad) > 0 {
		form.Errors = pwBad
		h.renderCreate(v, http.StatusOK, newAccount, d, form, web.CreateWorkspaceView{})
		return
	}
	flow.Redirect(v.W, v.R, path)
}
