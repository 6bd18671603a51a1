// Command verification-code is the VerificationCodeFunction: it sends
// verification codes by mail, inside an activation session.
package main

import (
	"context"
	"log/slog"
	"net/http"
	"os"
	"time"

	"github.com/guance/aliyun-marketplace/shared/apigateway"
	"github.com/guance/aliyun-marketplace/shared/config"
	"github.com/guance/aliyun-marketplace/shared/mail"
	"github.com/guance/aliyun-marketplace/shared/metrics"
	"github.com/guance/aliyun-marketplace/shared/sendcode"
	"github.com/guance/aliyun-marketplace/shared/storage"
	"github.com/guance/aliyun-marketplace/shared/verification"
)

func main() { apigateway.Main(build) }

func build(ctx context.Context, log *slog.Logger) (http.Handler, error) {
	tables := map[string]string{}
	for _, name := range []string{"SESSIONS_TABLE", "VERIFICATION_TABLE", "ACCOUNTS_TABLE", "MAIL_FROM"} {
		v, err := config.Required(name)
		if err != nil {
			return nil, err
		}
		tables[name] = v
	}
	awsCfg, err := config.AWS(ctx)
	if err != nil {
		return nil, err
	}
	secret, err := config.Secret(ctx, config.SSM(awsCfg), "CODE_HASH_SECRET")
	if err != nil {
		return nil, err
	}
	hasher, err := verification.NewHasher(secret)
	if err != nil {
		return nil, err
	}
	db := config.DynamoDB(awsCfg)
	h := &sendcode.Handler{
		Sender: &verification.Sender{
			Store:    storage.NewCodes(db, tables["VERIFICATION_TABLE"]),
			Mailer:   &mail.Mailer{Client: config.SES(awsCfg), From: tables["MAIL_FROM"], Timeout: 4 * time.Second},
			Accounts: storage.NewAccounts(db, tables["ACCOUNTS_TABLE"]),
			Hasher:   hasher,
			Limits:   verification.DefaultLimits,
			Now:      time.Now,
			Log:      log,
		},
		Sessions: storage.NewSessions(db, tables["SESSIONS_TABLE"]),
		Log:      log,
		Metrics:  metrics.NewRecorder(os.Stdout, config.Get("METRICS_NAMESPACE", "GuanceMarketplace")),
		Now:      time.Now,
	}
	return h.Routes(), nil
}
