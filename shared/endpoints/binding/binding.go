// Package binding is the "Has billing center account" path: the buyer
// proves a billing center account with a code sent to its email, which
// links their Alibaba Cloud account and this purchase to it (billing
// binding); then settles workspaces of that account through the purchase:
// existing ones, or new ones created with a Guance account or with a new
// one (workspace binding).
package binding

import (
	"context"
	"log/slog"
	"time"

	"github.com/guance/aliyun-marketplace/shared/domain/activation"
	"github.com/guance/aliyun-marketplace/shared/domain/guance"
	"github.com/guance/aliyun-marketplace/shared/domain/outbox"
	"github.com/guance/aliyun-marketplace/shared/domain/session"
	"github.com/guance/aliyun-marketplace/shared/domain/verification"
	"github.com/guance/aliyun-marketplace/shared/endpoints/flow"
	"github.com/guance/aliyun-marketplace/shared/endpoints/web"
	"github.com/guance/aliyun-marketplace/shared/platform/metrics"
)

// Records reads and writes the records of the binding flows.
type Records interface {
	Purchase(ctx context.Context, instanceID, uid string) (activation.Instance, guance.CloudLink, bool, error)
	BindBilling(ctx context.Context, b guance.BillingBind, step session.Step) error
	Workspaces(ctx context.Context, account string, ids []string) ([]guance.Workspace, error)
	Workspace(ctx context.Context, id string) (guance.Workspace, bool, error)
	SettleWorkspace(ctx context.Context, st guance.Settle) error
	// CreateWorkspace writes the workspace (and its new owner's account,
	// with mail the welcome mail) in one transaction with step.
	CreateWorkspace(ctx context.Context, c guance.NewWorkspace, step session.Step, mail *outbox.Item) error
	UsernameByEmail(ctx context.Context, email string) (string, bool, error)
}

// Codes sends verification codes.
type Codes interface {
	Send(ctx context.Context, req verification.Request) (verification.Sent, error)
}

// Verifier consumes a code.
type Verifier interface {
	Verify(ctx context.Context, purpose verification.Purpose, sessionID, target, code string) error
}

// Common are the dependencies both binding handlers share.
type Common struct {
	Records Records
	Codes   Codes
	// Lookups tell whether a username or an email is taken (counted).
	Lookups  flow.Lookups
	Verifier Verifier
	// Web is what every page function shares (the session cookie, the
	// marketplace's and support's links).
	Web     web.Settings
	Log     *slog.Logger
	Metrics *metrics.Recorder
	Now     func() time.Time
}
