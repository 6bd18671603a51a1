// Command verification-code is the VerificationCodeFunction: it sends
// verification codes by mail, inside an activation session.
package main

import (
	"context"
	"net/http"
	"time"

	"github.com/guance/aliyun-marketplace/shared/adapters/mail"
	"github.com/guance/aliyun-marketplace/shared/adapters/storage"
	"github.com/guance/aliyun-marketplace/shared/domain/verification"
	"github.com/guance/aliyun-marketplace/shared/endpoints/sendcode"
	"github.com/guance/aliyun-marketplace/shared/platform/function"
)

func main() { function.HTTP(build) }

func build(ctx context.Context, env *function.Env) (http.Handler, error) {
	s := sendcode.LoadSettings(env.Settings)
	hasher, sealer, err := verification.LoadKeys(ctx, env.Secrets)
	if err != nil {
		return nil, err
	}
	st := storage.New(storage.NewClient(env.AWS), storage.LoadTables(env.Settings, storage.SessionsTable, storage.VerificationTable, storage.AccountsTable, storage.OutboxTable, storage.AuditTable))
	h := &sendcode.Handler{
		Sender: verification.NewSender(st.Codes(), &mail.Sender{Client: mail.NewClient(env.AWS), From: s.MailFrom, Timeout: s.MailTimeout},
			st.Accounts(), hasher, sealer, env.Log),
		Sessions: st.Sessions(),
		Web:      s.Web,
		Log:      env.Log,
		Metrics:  env.Metrics,
		Now:      time.Now,
	}
	return h.Routes(), nil
}
