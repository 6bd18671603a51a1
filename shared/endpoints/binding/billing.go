package binding

import (
	"errors"
	"net/http"
	"time"

	"github.com/guance/aliyun-marketplace/shared/domain/activation"
	"github.com/guance/aliyun-marketplace/shared/domain/guance"
	"github.com/guance/aliyun-marketplace/shared/domain/verification"
	"github.com/guance/aliyun-marketplace/shared/endpoints/flow"
	"github.com/guance/aliyun-marketplace/shared/endpoints/i18n"
	"github.com/guance/aliyun-marketplace/shared/endpoints/routes"
	"github.com/guance/aliyun-marketplace/shared/endpoints/web"
)

// BillingHandler serves the billing center binding page.
type BillingHandler struct {
	Common
	Sessions flow.Sessions

	flow *flow.Flow
}

// billingDraft is the binding's progress in the session.
type billingDraft struct {
	Username string         `json:"username,omitempty"`
	Code     flow.CodeState `json:"code"`
	Bound    string         `json:"bound,omitempty"`
	// Refused is what the last refused post showed (post/redirect/get).
	Refused *flow.Refusal `json:"refused,omitempty"`
}

func decodeBilling(s string) billingDraft { return flow.DecodeDraft[billingDraft](s) }

func (d billingDraft) encode() string { return flow.EncodeDraft(d) }

// Routes returns the handler's routes, behind the cross-origin guard.
func (h *BillingHandler) Routes() http.Handler {
	h.flow = &flow.Flow{Name: "bind-billing", Sessions: h.Sessions, Web: h.Web, Log: h.Log, Metrics: h.Metrics, Now: h.Now}
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+routes.BindBilling, h.flow.Page(h.show))
	mux.HandleFunc("POST "+routes.BindBilling, h.flow.Form(h.post))
	return h.flow.Guard(mux)
}

// bound reports whether the purchase needs no billing binding (its UID is
// linked, or the instance is bound already): the workspace page is next.
func (h *BillingHandler) bound(v *flow.Visit) (bool, error) {
	inst, _, linked, err := h.Records.Purchase(v.R.Context(), v.Sess.InstanceID, v.Sess.AliUID)
	if err != nil {
		return false, err
	}
	return linked || inst.BillingAccount != "", nil
}

func (h *BillingHandler) show(v *flow.Visit) {
	bound, err := h.bound(v)
	if err != nil {
		h.flow.Fail(v.W, v.R, v.Lang, err)
		return
	}
	d := decodeBilling(h.flow.Draft(v))
	now := h.Now()
	refused := d.Refused.On(routes.BindBilling, now)
	if bound && refused.Notice.IsZero() {
		// (A binding refused because the UID was linked meanwhile says
		// so here first.)
		flow.Redirect(v.W, v.R, routes.BindWorkspace)
		return
	}
	view := web.BindBillingView{
		Purchase:  web.Purchase{MaskedUID: web.MaskUID(v.Sess.AliUID), Instance: v.Sess.InstanceID},
		Form:      refused.Form(map[string]string{"username": d.Username, "code": d.Code.Typed}),
		Notice:    refused.Notice,
		CodeError: refused.CodeError,
	}
	// The code on its way is said for the username it went to only: a
	// username changed since needs a code of its own.
	typed, err := verification.NormalizeUsername(d.Username)
	if err != nil {
		typed = d.Username
	}
	view.CodeSent, view.Wait = d.Code.Shown(verification.BindBilling, typed, now)
	if w := refused.Wait(now); w > view.Wait {
		view.Wait = w
	}
	c := v.Chrome("bind.billing.title", routes.BindBilling, web.WaitStyle(view.Wait))
	c.Form = web.PageForm
	// The site selector sits at the top right of this page already, as the
	// seed shows it: it decides only where a workspace created later goes,
	// so it is the workspace binding's choice (its draft), not this one's.
	c.Tools = web.SiteSelectorBack(c, decodeWorkspace(v.Sess.Draft(workspaceFlow)).Site, routes.BindBilling)
	h.flow.Render(v, http.StatusOK, web.BindBillingPage(c, view))
}

// refuse keeps d with r and shows r on the page.
func (h *BillingHandler) refuse(v *flow.Visit, d billingDraft, r flow.Refusal) {
	r.Page = routes.BindBilling
	h.flow.Refuse(v, r, func(r *flow.Refusal) bool { d.Refused = r; return h.flow.Save(v, d.encode()) }, "form-error")
}

func (h *BillingHandler) post(v *flow.Visit) {
	d := decodeBilling(h.flow.Draft(v))
	f := v.R.PostForm
	d.Username, d.Code.Typed = f.Get("username"), f.Get("code")
	if h.flow.Switching(v, routes.BindBilling, func() bool {
		// What a refused post said is about what it sent, not about
		// what is typed now.
		d.Refused = d.Refused.AfterSwitch()
		return h.flow.Save(v, d.encode())
	}) {
		return
	}
	username, err := verification.NormalizeUsername(f.Get("username"))
	if err != nil {
		h.refuse(v, d, flow.Refusal{Errors: flow.Problems{"username": i18n.M("code.error.username")}})
		return
	}
	d.Username = username
	if f.Get("action") == "send-code" {
		h.sendCode(v, d)
		return
	}
	if d.Bound == username {
		// Bound by this session already (a second submit): the code is
		// spent, and the binding is done.
		flow.Redirect(v.W, v.R, routes.BindWorkspace)
		return
	}
	if d.Code.To != "" && d.Code.To != username {
		// The code went for another username: this one needs its own.
		h.refuse(v, d, flow.Refusal{Errors: flow.Problems{"code": i18n.M("bind.billing.changed")}})
		return
	}
	err = h.Verifier.Verify(v.R.Context(), verification.BindBilling, v.Sess.CodeScope(), username, f.Get("code"))
	if err != nil {
		if !flow.IsCodeRefusal(err) {
			h.flow.Fail(v.W, v.R, v.Lang, err)
			return
		}
		h.Log.InfoContext(v.R.Context(), "billing binding code refused", "kind", verification.ErrorKind(err))
		d.Code.Refused(err)
		h.refuse(v, d, flow.Refusal{Errors: flow.Problems{"code": flow.VerifyMessage(err)}})
		return
	}
	d.Bound, d.Refused, d.Code.Typed = username, nil, ""
	now := h.Now().UTC()
	// The session is renewed with the binding: an id planted in the
	// buyer's browser before (session fixation) reaches nothing bound.
	step := h.flow.Step(v, d.encode())
	renewed := v.Sess.Renewed()
	step.Renewed = &renewed
	err = h.Records.BindBilling(v.R.Context(), guance.BillingBind{UID: v.Sess.AliUID, Instance: v.Sess.InstanceID, Account: username, At: now}, step)
	switch {
	case err == nil:
		h.Log.InfoContext(v.R.Context(), "billing center account bound", "instanceId", v.Sess.InstanceID)
		h.Metrics.Count("BillingBound", nil)
		h.Web.Jar.Set(v.W, renewed, now)
		flow.Redirect(v.W, v.R, routes.BindWorkspace)
	case errors.Is(err, activation.ErrNotPending):
		// Bound already (a second click): the workspace page says how.
		flow.Redirect(v.W, v.R, routes.BindWorkspace)
	case errors.Is(err, guance.ErrUIDLinked):
		h.refused(v, d, "UIDLinked", "bind.billing.linked")
	case errors.Is(err, guance.ErrNoSuchAccount):
		h.refused(v, d, "NoSuchAccount", "bind.billing.unknown")
	case activation.Unavailable(err):
		h.refused(v, d, "InstanceClosed", "bind.billing.closed")
	default:
		h.flow.Fail(v.W, v.R, v.Lang, err)
	}
}

func (h *BillingHandler) refused(v *flow.Visit, d billingDraft, code, key string) {
	h.Log.InfoContext(v.R.Context(), "billing binding refused", "code", code)
	h.Metrics.Count("BillingBindRefused", map[string]string{"Code": code})
	d.Bound = ""
	h.refuse(v, d, flow.Refusal{Notice: i18n.M(key)})
}

// sendCode keeps the username, then sends a bind-billing code to the
// account's email on file: the same answer whether or not it exists.
func (h *BillingHandler) sendCode(v *flow.Visit, d billingDraft) {
	d.Refused = nil
	sent := h.flow.SendCode(v, h.Codes, verification.BindBilling, d.Username, &d.Code, func() bool { return h.flow.Save(v, d.encode()) })
	switch {
	case sent.Answered:
	case sent.Sent:
		flow.Redirect(v.W, v.R, routes.BindBilling+"#"+web.CodeAnchor)
	default:
		h.refuse(v, d, flow.Refusal{CodeError: sent.Message, WaitUntil: h.Now().Add(time.Duration(sent.Wait) * time.Second)})
	}
}
