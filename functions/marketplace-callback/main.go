// Command marketplace-callback is the MarketplaceCallbackFunction: the SPI
// endpoint the Alibaba Cloud Marketplace calls for every lifecycle event.
package main

import (
	"context"
	"net/http"

	"github.com/guance/aliyun-marketplace/shared/adapters/marketapi"
	"github.com/guance/aliyun-marketplace/shared/adapters/storage"
	"github.com/guance/aliyun-marketplace/shared/domain/activation"
	"github.com/guance/aliyun-marketplace/shared/endpoints/callback"
	"github.com/guance/aliyun-marketplace/shared/platform/function"
)

func main() { function.HTTP(build) }

func build(ctx context.Context, env *function.Env) (http.Handler, error) {
	s := callback.LoadSettings(env.Settings)
	key, err := env.Secrets.Get(ctx, "MARKET_ISV_KEY")
	if err != nil {
		return nil, err
	}
	// The key it replaced, while a rotation lasts (none: empty).
	previous := env.Previous(ctx, "MARKET_ISV_KEY")
	st := storage.New(storage.NewClient(env.AWS), storage.LoadTables(env.Settings, storage.InstancesTable, storage.AccountsTable, storage.WorkspacesTable, storage.OutboxTable, storage.AuditTable))
	store := st.Instances()
	// The OpenAPI is asked only about a contested freeze or resume.
	service := activation.NewService(store, marketapi.NewLazy(marketapi.LoadSettings(env.Settings), env.Secrets), env.Log)
	service.FirstCheck, service.FirstAudit, service.Products = s.FirstCheck, s.FirstAudit, s.Products
	// A move's effects run on the call; what a call cannot finish within
	// its few seconds, the reconciliation does.
	service.Effects = &activation.Effects{Store: st.Effects(), Log: env.Log}
	return &callback.Handler{
		Key:           key,
		PreviousKey:   previous,
		Applier:       service,
		PublicBaseURL: s.PublicBaseURL,
		FrontEndURL:   s.FrontEndURL,
		Log:           env.Log,
		Metrics:       env.Metrics,
	}, nil
}
