// Command sso-redirect is the SsoRedirectFunction: the authUrl the
// marketplace sends the buyer's browser to (Login Without Password), and the
// activation page behind it.
package main

import (
	"context"
	"log/slog"
	"net/http"
	"os"
	"time"

	"github.com/guance/aliyun-marketplace/shared/apigateway"
	"github.com/guance/aliyun-marketplace/shared/config"
	"github.com/guance/aliyun-marketplace/shared/marketapi"
	"github.com/guance/aliyun-marketplace/shared/metrics"
	"github.com/guance/aliyun-marketplace/shared/sites"
	"github.com/guance/aliyun-marketplace/shared/sso"
	"github.com/guance/aliyun-marketplace/shared/storage"
)

func main() { apigateway.Main(build) }

func build(ctx context.Context, log *slog.Logger) (http.Handler, error) {
	instancesTable, err := config.Required("INSTANCES_TABLE")
	if err != nil {
		return nil, err
	}
	sessionsTable, err := config.Required("SESSIONS_TABLE")
	if err != nil {
		return nil, err
	}
	loginURLs, err := sites.ParseLoginURLs(os.Getenv("SITE_LOGIN_URLS"))
	if err != nil {
		return nil, err
	}
	window, err := config.Duration("SSO_LINK_WINDOW", 5*time.Minute)
	if err != nil {
		return nil, err
	}
	ttl, err := config.Duration("SESSION_TTL", time.Hour)
	if err != nil {
		return nil, err
	}
	secure, err := config.Bool("COOKIE_SECURE", true)
	if err != nil {
		return nil, err
	}
	awsCfg, err := config.AWS(ctx)
	if err != nil {
		return nil, err
	}
	ssm := config.SSM(awsCfg)
	key, err := config.Secret(ctx, ssm, "MARKET_ISV_KEY")
	if err != nil {
		return nil, err
	}
	db := config.DynamoDB(awsCfg)
	h := &sso.Handler{
		Key: key, Window: window, SessionTTL: ttl, CookieSecure: secure,
		Instances: storage.NewInstances(db, instancesTable),
		Sessions:  storage.NewSessions(db, sessionsTable),
		// Built on first use: only a lost createInstance needs the OpenAPI.
		Market: &marketapi.Lazy{Build: func(ctx context.Context) (*marketapi.Client, error) {
			id, err := config.Secret(ctx, ssm, "MARKET_ACCESS_KEY_ID")
			if err != nil {
				return nil, err
			}
			secret, err := config.Secret(ctx, ssm, "MARKET_ACCESS_KEY_SECRET")
			if err != nil {
				return nil, err
			}
			return marketapi.New(marketapi.Config{
				Endpoint: config.Get("MARKET_ENDPOINT", marketapi.DefaultEndpoint), Region: config.Get("MARKET_REGION", "cn-hangzhou"),
				AccessKeyID: id, AccessKeySecret: secret, Timeout: 4 * time.Second,
			})
		}},
		LoginURLs: loginURLs,
		Log:       log,
		Metrics:   metrics.NewRecorder(os.Stdout, config.Get("METRICS_NAMESPACE", "GuanceMarketplace")),
		Now:       time.Now,
	}
	return h.Routes(), nil
}
