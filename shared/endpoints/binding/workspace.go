package binding

import (
	"errors"
	"net/http"
	"time"

	"github.com/guance/aliyun-marketplace/shared/domain/activation"
	"github.com/guance/aliyun-marketplace/shared/domain/guance"
	"github.com/guance/aliyun-marketplace/shared/domain/session"
	"github.com/guance/aliyun-marketplace/shared/domain/sites"
	"github.com/guance/aliyun-marketplace/shared/endpoints/flow"
	"github.com/guance/aliyun-marketplace/shared/endpoints/i18n"
	"github.com/guance/aliyun-marketplace/shared/endpoints/routes"
	"github.com/guance/aliyun-marketplace/shared/endpoints/web"
)

// WorkspaceHandler serves the workspace binding pages.
type WorkspaceHandler struct {
	Common
	Sessions flow.Sessions
	// HashPassword is argon2id with the product's parameters (a Guance
	// account registered with a new workspace).
	HashPassword func(pw string) (string, error)
	LoginURLs    sites.LoginURLs
	TermsURL     string

	flow *flow.Flow
}

// workspaceFlow names the workspace binding's draft in the session.
const workspaceFlow = "bind-workspace"

// workspaceDraft is the workspace binding's progress in the session: the
// site chosen for new workspaces, and the create form as typed.
type workspaceDraft struct {
	Site   string      `json:"site,omitempty"`
	Create createDraft `json:"create"`
	// Chosen is the workspace the confirmation page asks about.
	Chosen string `json:"chosen,omitempty"`
	// Last is what the last bind or create did (or why it could not), said
	// on the list: kept here, never in the list's URL.
	Last *listNote `json:"last,omitempty"`
}

// listNote is what the list says after a bind or a create.
type listNote struct {
	// Done is "bound" or "created", for Workspace; Warn a refusal.
	Done      string    `json:"done,omitempty"`
	Workspace string    `json:"workspace,omitempty"`
	Warn      string    `json:"warn,omitempty"`
	At        time.Time `json:"at"`
}

// noteShown is how long the list says what the last bind or create did.
const noteShown = 10 * time.Minute

// createDraft is the create form as typed, and what it proved.
type createDraft struct {
	Workspace     string              `json:"workspace,omitempty"`
	WorkspaceLang string              `json:"workspaceLang,omitempty"`
	Username      string              `json:"username,omitempty"`
	Email         string              `json:"email,omitempty"`
	Phone         string              `json:"phone,omitempty"`
	Agreed        bool                `json:"agreed,omitempty"`
	Verified      string              `json:"verified,omitempty"`
	Password      flow.ChosenPassword `json:"password"`
	Code          flow.CodeState      `json:"code"`
	// Refused is what the last refused post showed (post/redirect/get).
	Refused *flow.Refusal `json:"refused,omitempty"`
	// WorkspaceID is the id the create writes, fixed with the verified
	// email: however often the form is sent (a double click, two tabs),
	// one workspace is created.
	WorkspaceID string `json:"workspaceId,omitempty"`
}

func decodeWorkspace(s string) workspaceDraft {
	d := flow.DecodeDraft[workspaceDraft](s)
	if !sites.Known(d.Site) {
		d.Site = sites.Default
	}
	return d
}

func (d workspaceDraft) encode() string { return flow.EncodeDraft(d) }

// Routes returns the handler's routes, behind the cross-origin guard.
func (h *WorkspaceHandler) Routes() http.Handler {
	h.flow = &flow.Flow{Name: workspaceFlow, Sessions: h.Sessions, Web: h.Web, Log: h.Log, Metrics: h.Metrics, Now: h.Now}
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+routes.BindWorkspace, h.flow.Page(h.list))
	mux.HandleFunc("POST "+routes.BindSite, h.flow.Form(h.setSite))
	mux.HandleFunc("GET "+routes.BindConfirm, h.flow.Page(h.confirm))
	mux.HandleFunc("POST "+routes.BindConfirm, h.flow.Form(h.confirmPost))
	mux.HandleFunc("GET "+routes.BindCreateHave, h.flow.Page(h.showCreate(false)))
	mux.HandleFunc("POST "+routes.BindCreateHave, h.flow.Form(h.postCreate(false)))
	mux.HandleFunc("GET "+routes.BindCreateNew, h.flow.Page(h.showCreate(true)))
	mux.HandleFunc("POST "+routes.BindCreateNew, h.flow.Form(h.postCreate(true)))
	return h.flow.Guard(mux)
}

// state is the purchase as a binding page sees it.
type state struct {
	inst    activation.Instance
	account string
	rows    []web.WorkspaceRow
}

// errNotBound means the purchase has no billing center account yet: the
// buyer registers or binds one first.
var errNotBound = errors.New("the purchase is not bound to a billing center account")

// account is the billing center account the purchase settles for: the
// instance's own, or for a later purchase of a linked UID, the link's.
func (h *WorkspaceHandler) account(v *flow.Visit) (activation.Instance, string, error) {
	inst, link, linked, err := h.Records.Purchase(v.R.Context(), v.Sess.InstanceID, v.Sess.AliUID)
	if err != nil {
		return inst, "", err
	}
	switch {
	case inst.BillingAccount != "":
		return inst, inst.BillingAccount, nil
	case linked:
		return inst, link.BillingAccount, nil
	}
	return inst, "", errNotBound
}

// load reads the purchase and the account's workspaces, each with what the
// buyer can do with it.
func (h *WorkspaceHandler) load(v *flow.Visit) (state, error) {
	inst, account, err := h.account(v)
	if err != nil {
		return state{}, err
	}
	list, err := h.Records.Workspaces(v.R.Context(), account, inst.Workspaces)
	if err != nil {
		return state{}, err
	}
	st := state{inst: inst, account: account}
	for _, ws := range list {
		st.rows = append(st.rows, rowOf(ws, inst))
	}
	return st, nil
}

// rowOf says how a workspace stands for this purchase.
func rowOf(ws guance.Workspace, inst activation.Instance) web.WorkspaceRow {
	row := web.WorkspaceRow{ID: ws.ID, Name: ws.Name, Site: ws.Site}
	s := ws.Settlement
	switch {
	case s.Type == guance.SettledByBillingCenter || s.Type == "":
		row.State = "unbound"
	case s.Cloud != guance.CloudAliyun:
		row.State = "other-cloud"
	case s.Instance == inst.ID:
		row.State = "bound"
	case s.UID == inst.AliUID:
		row.State, row.OtherInstance = "other-instance", s.Instance
	default:
		row.State = "other-uid"
	}
	return row
}

// problem answers a state that stops a binding page.
func (h *WorkspaceHandler) problem(v *flow.Visit, err error) {
	if errors.Is(err, errNotBound) {
		flow.Redirect(v.W, v.R, routes.Activate)
		return
	}
	h.flow.Fail(v.W, v.R, v.Lang, err)
}

// The notices the list says after a bind or a create.
var notices = map[string]string{
	"bound": "bind.ws.bound.notice", "created": "bind.ws.created.notice",
}

var warnings = map[string]string{
	"gone": "bind.ws.gone", "taken": "bind.ws.taken", "closed": "bind.ws.closed",
	"unlinked": "bind.ws.unlinked", "other": "bind.ws.other.account", "full": "bind.ws.full",
}

// toList keeps note in the draft d and goes back to the list, which says
// it.
func (h *WorkspaceHandler) toList(v *flow.Visit, d workspaceDraft, note listNote) {
	note.At = h.Now().UTC()
	d.Last, d.Chosen = &note, ""
	if h.flow.Save(v, d.encode()) {
		flow.Redirect(v.W, v.R, routes.BindWorkspace)
	}
}

func (h *WorkspaceHandler) list(v *flow.Visit) {
	st, err := h.load(v)
	if err != nil {
		h.problem(v, err)
		return
	}
	d := decodeWorkspace(h.flow.Draft(v))
	view := web.BindWorkspaceView{
		Purchase: web.Purchase{MaskedUID: web.MaskUID(v.Sess.AliUID), Instance: v.Sess.InstanceID},
		Account:  st.account, Site: d.Site, Rows: st.rows,
	}
	// Confirm goes to the site of the workspace just bound or created,
	// else of the first one settled through the purchase.
	loginSite := st.inst.LoginSite
	// What the last bind or create did, while the purchase stands as it
	// did then (a freeze or a release says its own).
	if last := d.Last; last != nil && h.Now().Sub(last.At) < noteShown && st.inst.Status == activation.StatusActive {
		for _, r := range st.rows {
			if r.ID == last.Workspace {
				if key, ok := notices[last.Done]; ok {
					view.Notice = i18n.M(key, r.Name)
				}
				if r.State == "bound" {
					loginSite = r.Site
				}
			}
		}
		if key, ok := warnings[last.Warn]; ok {
			view.Warn = i18n.M(key)
		}
	}
	switch st.inst.Status {
	case activation.StatusFrozen:
		view.Warn, view.Closed = i18n.M("bind.ws.frozen"), true
		for i := range view.Rows {
			if view.Rows[i].State == "bound" {
				view.Rows[i].State = "suspended"
			}
		}
	case activation.StatusReleased:
		view.Warn, view.Closed = i18n.M("bind.ws.released.none"), true
		if st.inst.ReleasedWorkspaces > 0 {
			view.Warn = i18n.M("bind.ws.released")
		}
	}
	if st.inst.Activated() {
		view.LoginURL, view.LoginSite = h.LoginURLs[loginSite], loginSite
	}
	c := v.Chrome("bind.ws.title", routes.BindWorkspace, "")
	if !view.Closed {
		c.Tools = web.SiteSelector(c, d.Site)
	}
	h.flow.Render(v, http.StatusOK, web.BindWorkspacePage(c, view))
}

func (h *WorkspaceHandler) setSite(v *flow.Visit) {
	d := decodeWorkspace(h.flow.Draft(v))
	site := v.R.PostForm.Get("site")
	if !sites.Known(site) || h.LoginURLs[site] == "" {
		// Only a site a buyer can sign in to once the workspace exists.
		h.flow.Fail(v.W, v.R, v.Lang, web.ErrBadForm)
		return
	}
	// The note of the last bind or create was about the page before.
	d.Site, d.Last = site, nil
	if h.flow.Save(v, d.encode()) {
		back := web.LocalPath(v.R.PostForm.Get("return"))
		if back == "" {
			back = routes.BindWorkspace
		}
		flow.Redirect(v.W, v.R, back)
	}
}

// confirm asks before the chosen workspace (unbound) is settled by this
// purchase.
func (h *WorkspaceHandler) confirm(v *flow.Visit) {
	st, err := h.load(v)
	if err != nil {
		h.problem(v, err)
		return
	}
	d := decodeWorkspace(h.flow.Draft(v))
	for _, r := range st.rows {
		switch {
		case r.ID != d.Chosen:
			continue
		case r.Bindable() && st.inst.Status == activation.StatusActive:
			view := web.BindConfirmView{Purchase: web.Purchase{MaskedUID: web.MaskUID(v.Sess.AliUID), Instance: v.Sess.InstanceID}, Row: r}
			h.flow.Render(v, http.StatusOK, web.BindConfirmPage(v.Chrome("bind.ws.confirm.head", routes.BindConfirm, ""), view))
		default:
			// Bound already (reloaded, from the history), settled
			// elsewhere, or nothing can be bound: the list says how it
			// stands. (A page, not a form: nothing is written.)
			flow.Redirect(v.W, v.R, routes.BindWorkspace)
		}
		return
	}
	flow.Redirect(v.W, v.R, routes.BindWorkspace)
}

// confirmPost is the list's Bind (action "choose": the workspace to ask
// about, kept in the draft) or the confirmation's Bind.
func (h *WorkspaceHandler) confirmPost(v *flow.Visit) {
	if v.R.PostForm.Get("action") != "choose" {
		h.settle(v)
		return
	}
	d := decodeWorkspace(h.flow.Draft(v))
	d.Chosen = v.R.PostForm.Get("ws")
	if !guance.WellFormedWorkspaceID(d.Chosen) {
		h.refusal(v, guance.ErrWorkspaceGone)
		h.toList(v, d, listNote{Warn: "gone"})
		return
	}
	if h.flow.Save(v, d.encode()) {
		flow.Redirect(v.W, v.R, routes.BindConfirm)
	}
}

// settle settles the chosen workspace through this purchase.
func (h *WorkspaceHandler) settle(v *flow.Visit) {
	d := decodeWorkspace(h.flow.Draft(v))
	inst, account, err := h.account(v)
	if err != nil {
		h.problem(v, err)
		return
	}
	// The workspace's site is read for the instance's login site; the
	// transaction checks again that it is this account's and unsettled.
	id := v.R.PostForm.Get("ws")
	if !guance.WellFormedWorkspaceID(id) {
		// A forged id: no read (DynamoDB refuses some keys outright).
		h.refusal(v, guance.ErrWorkspaceGone)
		h.toList(v, d, listNote{Warn: "gone"})
		return
	}
	if err := roomFor(inst); err != nil {
		h.refusal(v, err)
		h.toList(v, d, listNote{Warn: "full"})
		return
	}
	ws, found, err := h.Records.Workspace(v.R.Context(), id)
	if err != nil {
		h.flow.Fail(v.W, v.R, v.Lang, err)
		return
	}
	if !found || ws.BillingAccount != account {
		h.refusal(v, guance.ErrWorkspaceGone)
		h.toList(v, d, listNote{Warn: "gone"})
		return
	}
	err = h.Records.SettleWorkspace(v.R.Context(), guance.Settle{WorkspaceID: id, Site: ws.Site, Account: account, UID: v.Sess.AliUID, Instance: inst.ID, At: h.Now().UTC()})
	if warn, ok := h.refusal(v, err); ok {
		h.toList(v, d, listNote{Warn: warn})
		return
	}
	if err != nil {
		h.flow.Fail(v.W, v.R, v.Lang, err)
		return
	}
	h.settled(v, inst, "bind", nil)
	h.toList(v, d, listNote{Done: "bound", Workspace: id})
}

// roomFor refuses a workspace more for an instance that settles the most
// one can (its item names each, and must stay bounded) before the buyer
// fills in the rest; the settling write checks it again, so binds at the
// same moment cannot pass it together.
func roomFor(inst activation.Instance) error {
	if len(inst.Workspaces) >= guance.MaxWorkspacesPerInstance {
		return guance.ErrTooManyWorkspaces
	}
	return nil
}

// settled logs and counts a workspace settled through the purchase, and
// the activation it completes (which narrows the session).
func (h *WorkspaceHandler) settled(v *flow.Visit, before activation.Instance, how string, step *session.Step) {
	h.Log.InfoContext(v.R.Context(), "workspace settled through the instance", "instanceId", before.ID, "how", how)
	h.Metrics.Count("WorkspacesSettled", map[string]string{"How": how})
	if !before.Activated() {
		h.Metrics.Count("ActivationsCompleted", map[string]string{"Path": "bind"})
		h.flow.Activated(v, step)
	}
}

// refusal maps a refused settlement to the warning the list shows.
func (h *WorkspaceHandler) refusal(v *flow.Visit, err error) (string, bool) {
	var warn string
	switch {
	case err == nil:
		return "", false
	case errors.Is(err, guance.ErrWorkspaceGone):
		warn = "gone"
	case errors.Is(err, guance.ErrWorkspaceSettled):
		warn = "taken"
	case activation.Unavailable(err):
		warn = "closed"
	case errors.Is(err, guance.ErrLinkChanged):
		warn = "unlinked"
	case errors.Is(err, guance.ErrOtherBilling), errors.Is(err, activation.ErrNotPending):
		warn = "other"
	case errors.Is(err, guance.ErrTooManyWorkspaces):
		warn = "full"
	default:
		return "", false
	}
	h.Log.InfoContext(v.R.Context(), "workspace binding refused", "code", warn)
	h.Metrics.Count("WorkspaceBindRefused", map[string]string{"Code": warn})
	return warn, true
}
