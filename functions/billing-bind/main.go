// Command billing-bind is the BillingBindFunction: an existing billing
// center account, proven by a code sent to its email, takes over the
// buyer's Alibaba Cloud account and purchase.
package main

import (
	"context"
	"net/http"
	"time"

	"github.com/guance/aliyun-marketplace/shared/adapters/storage"
	"github.com/guance/aliyun-marketplace/shared/domain/verification"
	"github.com/guance/aliyun-marketplace/shared/endpoints/binding"
	"github.com/guance/aliyun-marketplace/shared/endpoints/flow"
	"github.com/guance/aliyun-marketplace/shared/platform/function"
)

func main() { function.HTTP(build) }

func build(ctx context.Context, env *function.Env) (http.Handler, error) {
	s := flow.LoadSettings(env.Settings)
	hasher, sealer, err := verification.LoadKeys(ctx, env.Secrets)
	if err != nil {
		return nil, err
	}
	st := storage.New(storage.NewClient(env.AWS), storage.LoadTables(env.Settings, storage.InstancesTable, storage.SessionsTable, storage.VerificationTable, storage.AccountsTable, storage.WorkspacesTable, storage.OutboxTable, storage.AuditTable))
	codes := st.Codes()
	h := &binding.BillingHandler{
		Common: binding.Common{
			Records: st.Bindings(),
			// bind-billing codes go through the outbox: no mail is sent here.
			Codes:    verification.NewSender(codes, nil, st.Accounts(), hasher, sealer, env.Log),
			Verifier: &verification.Verifier{Store: codes, Hasher: hasher, Now: time.Now},
			Web:      s.Web, Log: env.Log, Metrics: env.Metrics, Now: time.Now,
		},
		Sessions: st.Sessions(),
	}
	return h.Routes(), nil
}
