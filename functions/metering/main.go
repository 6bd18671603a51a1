// Command metering is the MeteringFunction, run on a schedule: it pushes
// the pay-as-you-go usage of every activated instance's workspaces to the
// marketplace (PushMeteringData), each hourly window at most once.
package main

import (
	"context"
	"encoding/json"
	"time"

	"github.com/guance/aliyun-marketplace/shared/adapters/marketapi"
	"github.com/guance/aliyun-marketplace/shared/adapters/storage"
	"github.com/guance/aliyun-marketplace/shared/jobs/usagepush"
	"github.com/guance/aliyun-marketplace/shared/platform/function"
)

type handler = func(ctx context.Context, event json.RawMessage) (usagepush.Summary, error)

func main() { function.Main(build) }

func build(ctx context.Context, env *function.Env) (handler, error) {
	s := usagepush.LoadSettings(env.Settings)
	st := storage.New(storage.NewClient(env.AWS), storage.LoadTables(env.Settings, storage.InstancesTable, storage.UsageTable, storage.MeteringTable, storage.AuditTable))
	m := &usagepush.Meter{
		Instances: st.Queue(),
		Usage:     st.Usage(),
		Pushes:    st.Pushes(),
		// The generic request of the SDK already used for the other
		// Market actions: a second SDK would cost cold start and size.
		Market:  marketapi.NewLazy(marketapi.LoadSettings(env.Settings), env.Secrets),
		Mapping: s.Mapping,
		Now:     time.Now, Log: env.Log, Metrics: env.Metrics,
	}
	return func(ctx context.Context, _ json.RawMessage) (usagepush.Summary, error) {
		return m.Run(ctx)
	}, nil
}
