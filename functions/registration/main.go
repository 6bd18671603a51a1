// Command registration is the RegistrationFunction: the "No billing center
// account" pages, from basic information to the activated workspace.
package main

import (
	"context"
	"net/http"
	"time"

	"github.com/guance/aliyun-marketplace/shared/adapters/mail"
	"github.com/guance/aliyun-marketplace/shared/adapters/storage"
	"github.com/guance/aliyun-marketplace/shared/domain/password"
	"github.com/guance/aliyun-marketplace/shared/domain/verification"
	"github.com/guance/aliyun-marketplace/shared/endpoints/flow"
	"github.com/guance/aliyun-marketplace/shared/endpoints/registration"
	"github.com/guance/aliyun-marketplace/shared/platform/function"
)

func main() { function.HTTP(build) }

func build(ctx context.Context, env *function.Env) (http.Handler, error) {
	s := flow.LoadAccountSettings(env.Settings)
	hasher, sealer, err := verification.LoadKeys(ctx, env.Secrets)
	if err != nil {
		return nil, err
	}
	st := storage.New(storage.NewClient(env.AWS), storage.LoadTables(env.Settings, storage.InstancesTable, storage.SessionsTable, storage.VerificationTable, storage.AccountsTable, storage.WorkspacesTable, storage.OutboxTable, storage.AuditTable))
	codes := st.Codes()
	h := &registration.Handler{
		Sessions:  st.Sessions(),
		Instances: st.Instances(),
		Codes: verification.NewSender(codes, &mail.Sender{Client: mail.NewClient(env.AWS), From: s.MailFrom, Timeout: s.MailTimeout},
			st.Accounts(), hasher, sealer, env.Log),
		Verifier:     &verification.Verifier{Store: codes, Hasher: hasher, Now: time.Now},
		Records:      st.Registrations(),
		Lookups:      st.Lookups(),
		HashPassword: func(pw string) (string, error) { return password.Hash(pw, password.Default) },
		LoginURLs:    s.LoginURLs, TermsURL: s.TermsURL, Web: s.Web,
		Log: env.Log, Metrics: env.Metrics, Now: time.Now,
	}
	return h.Routes(), nil
}
