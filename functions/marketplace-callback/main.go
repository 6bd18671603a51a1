// Command marketplace-callback is the MarketplaceCallbackFunction: the SPI
// endpoint the Alibaba Cloud Marketplace calls for every lifecycle event.
package main

import (
	"context"
	"log/slog"
	"net/http"
	"os"

	"github.com/guance/aliyun-marketplace/shared/activation"
	"github.com/guance/aliyun-marketplace/shared/apigateway"
	"github.com/guance/aliyun-marketplace/shared/callback"
	"github.com/guance/aliyun-marketplace/shared/config"
	"github.com/guance/aliyun-marketplace/shared/metrics"
	"github.com/guance/aliyun-marketplace/shared/storage"
)

func main() { apigateway.Main(build) }

func build(ctx context.Context, log *slog.Logger) (http.Handler, error) {
	table, err := config.Required("INSTANCES_TABLE")
	if err != nil {
		return nil, err
	}
	awsCfg, err := config.AWS(ctx)
	if err != nil {
		return nil, err
	}
	key, err := config.Secret(ctx, config.SSM(awsCfg), "MARKET_ISV_KEY")
	if err != nil {
		return nil, err
	}
	store := storage.NewInstances(config.DynamoDB(awsCfg), table)
	return &callback.Handler{
		Key:           key,
		Applier:       activation.NewService(store),
		PublicBaseURL: config.Get("PUBLIC_BASE_URL", ""),
		FrontEndURL:   config.Get("FRONTEND_URL", "https://www.guance.com"),
		Log:           log,
		Metrics:       metrics.NewRecorder(os.Stdout, config.Get("METRICS_NAMESPACE", "GuanceMarketplace")),
	}, nil
}
