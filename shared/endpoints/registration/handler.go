// Package registration is the "No billing center account" path: three
// pages (basic information, company, activation), each its own form post,
// whose progress lives in the activation session; Activate writes the
// Guance account, the billing center account, the workspace, the cloud
// account link and the instance's activation in one transaction.
package registration

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/guance/aliyun-marketplace/shared/domain/activation"
	"github.com/guance/aliyun-marketplace/shared/domain/guance"
	"github.com/guance/aliyun-marketplace/shared/domain/outbox"
	"github.com/guance/aliyun-marketplace/shared/domain/session"
	"github.com/guance/aliyun-marketplace/shared/domain/sites"
	"github.com/guance/aliyun-marketplace/shared/domain/verification"
	"github.com/guance/aliyun-marketplace/shared/endpoints/flow"
	"github.com/guance/aliyun-marketplace/shared/endpoints/routes"
	"github.com/guance/aliyun-marketplace/shared/endpoints/web"
	"github.com/guance/aliyun-marketplace/shared/platform/metrics"
)

// Instances reads an instance the buyer names.
type Instances interface {
	Get(ctx context.Context, id string) (activation.Instance, error)
}

// Codes sends register codes.
type Codes interface {
	Send(ctx context.Context, req verification.Request) (verification.Sent, error)
}

// Verifier consumes a code.
type Verifier interface {
	Verify(ctx context.Context, purpose verification.Purpose, sessionID, target, code string) error
}

// Records writes the registration.
type Records interface {
	Register(ctx context.Context, r guance.Registration, step session.Step, mail *outbox.Item) error
}

// Handler serves the registration pages.
type Handler struct {
	Sessions  flow.Sessions
	Instances Instances
	Codes     Codes
	Verifier  Verifier
	Records   Records
	// Lookups tell whether a username or an email is taken, as step 1 is
	// sent (counted).
	Lookups flow.Lookups
	// HashPassword is argon2id with the product's parameters.
	HashPassword func(pw string) (string, error)
	LoginURLs    sites.LoginURLs
	// TermsURL is the terms of service the buyer accepts.
	TermsURL string
	// Web is what every page function shares (the session cookie, the
	// marketplace's and support's links).
	Web     web.Settings
	Log     *slog.Logger
	Metrics *metrics.Recorder
	Now     func() time.Time

	flow *flow.Flow
}

// Routes returns the handler's routes, behind the cross-origin guard.
func (h *Handler) Routes() http.Handler {
	h.flow = &flow.Flow{Name: flowName, Sessions: h.Sessions, Web: h.Web, Log: h.Log, Metrics: h.Metrics, Now: h.Now}
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+routes.Register, h.flow.Page(h.entry))
	mux.HandleFunc("GET "+routes.RegisterBasic, h.page(h.showBasic))
	mux.HandleFunc("POST "+routes.RegisterBasic, h.form(h.postBasic))
	mux.HandleFunc("GET "+routes.RegisterCompany, h.page(h.showCompany))
	mux.HandleFunc("POST "+routes.RegisterCompany, h.form(h.postCompany))
	mux.HandleFunc("GET "+routes.RegisterActivate, h.page(h.showActivate))
	mux.HandleFunc("POST "+routes.RegisterActivate, h.form(h.postActivate))
	mux.HandleFunc("GET "+routes.RegisterDone, h.page(h.showDone))
	return h.flow.Guard(mux)
}

// visit is one request inside a live session, with the registration's
// draft.
type visit struct {
	*flow.Visit
	draft draft
}

func (h *Handler) page(show func(*visit)) http.HandlerFunc {
	return h.flow.Page(func(fv *flow.Visit) { show(&visit{Visit: fv, draft: decodeDraft(h.flow.Draft(fv))}) })
}

func (h *Handler) form(post func(*visit)) http.HandlerFunc {
	return h.flow.Form(func(fv *flow.Visit) { post(&visit{Visit: fv, draft: decodeDraft(h.flow.Draft(fv))}) })
}

// entry goes to the first step not done yet.
func (h *Handler) entry(v *flow.Visit) {
	d := decodeDraft(h.flow.Draft(v))
	if d.Step == 0 {
		// A purchase bound to a billing center account meanwhile (the
		// other path, in this session or another) has nothing to
		// register: its workspaces are bound next.
		inst, err := h.Instances.Get(v.R.Context(), v.Sess.InstanceID)
		if err != nil {
			h.flow.Fail(v.W, v.R, v.Lang, err)
			return
		}
		if inst.BillingAccount != "" {
			flow.Redirect(v.W, v.R, routes.BindWorkspace)
			return
		}
	}
	flow.Redirect(v.W, v.R, nextPath(d))
}

// nextPath is the page a draft is at.
func nextPath(d draft) string {
	switch {
	case d.Done != nil:
		return routes.RegisterDone
	case d.Step >= 2:
		return routes.RegisterActivate
	case d.Step == 1:
		return routes.RegisterCompany
	}
	return routes.RegisterBasic
}

// gate sends a visit to the step it is at when it asks for a later one
// (or anything once registration is done).
func gate(v *visit, need int) bool {
	switch {
	case v.draft.Done != nil && v.R.Method == http.MethodPost && v.R.PostForm.Get("workspace") != v.draft.Done.Workspace:
		// A tab still open on a step after the purchase was activated
		// (in another tab or session): what it sent is not used, and
		// the page it lands on says so. (The same Activate sent twice
		// is simply done.)
		flow.Redirect(v.W, v.R, routes.RegisterDone+"?"+alreadyQuery)
		return false
	case v.draft.Done != nil || v.draft.Step < need:
		flow.Redirect(v.W, v.R, nextPath(v.draft))
		return false
	}
	return true
}

// alreadyQuery marks the success page a step's post led to after the
// purchase was activated elsewhere.
const alreadyQuery = "already"

// save keeps the draft; false when it could not, and the refusal is
// answered.
func (h *Handler) save(v *visit) bool { return h.flow.Save(v.Visit, v.draft.encode()) }

// kept saves the draft, then answers with then; a save that failed has
// answered already.
func (h *Handler) kept(v *visit, then func()) {
	if h.save(v) {
		then()
	}
}

func (h *Handler) fail(v *visit, err error) { h.flow.Fail(v.W, v.R, v.Lang, err) }
