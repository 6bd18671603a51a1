// Command sso-redirect is the SsoRedirectFunction: the authUrl the
// marketplace sends the buyer's browser to (Login Without Password), the
// activation page behind it, and the not-found page of every other path.
package main

import (
	"context"
	"net/http"
	"time"

	"github.com/guance/aliyun-marketplace/shared/adapters/marketapi"
	"github.com/guance/aliyun-marketplace/shared/adapters/storage"
	"github.com/guance/aliyun-marketplace/shared/endpoints/sso"
	"github.com/guance/aliyun-marketplace/shared/platform/function"
)

func main() { function.HTTP(build) }

func build(ctx context.Context, env *function.Env) (http.Handler, error) {
	s := sso.LoadSettings(env.Settings)
	key, err := env.Secrets.Get(ctx, "MARKET_ISV_KEY")
	if err != nil {
		return nil, err
	}
	// The key it replaced, while a rotation lasts (none: empty).
	previous := env.Previous(ctx, "MARKET_ISV_KEY")
	st := storage.New(storage.NewClient(env.AWS), storage.LoadTables(env.Settings, storage.InstancesTable, storage.SessionsTable, storage.AccountsTable, storage.AuditTable))
	h := &sso.Handler{
		Key: key, PreviousKey: previous, Window: s.Window, SessionTTL: s.SessionTTL, Web: s.Web,
		Instances: st.Instances(),
		Sessions:  st.Sessions(),
		Links:     st.Links(),
		// Built on first use: only a lost createInstance needs the OpenAPI.
		Market:    marketapi.NewLazy(marketapi.LoadSettings(env.Settings), env.Secrets),
		LoginURLs: s.LoginURLs,
		Products:  s.Products,
		Log:       env.Log,
		Metrics:   env.Metrics,
		Now:       time.Now,
	}
	return h.Routes(), nil
}
