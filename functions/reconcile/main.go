// Command reconcile is the ReconcileFunction, run on a schedule: it
// finishes the lifecycle effects left due, asks the marketplace about
// pending activations, applies the notifications it failed to deliver,
// and sends the outbox's waiting mails.
package main

import (
	"context"
	"encoding/json"
	"time"

	"github.com/guance/aliyun-marketplace/shared/adapters/mail"
	"github.com/guance/aliyun-marketplace/shared/adapters/marketapi"
	"github.com/guance/aliyun-marketplace/shared/adapters/storage"
	"github.com/guance/aliyun-marketplace/shared/domain/activation"
	"github.com/guance/aliyun-marketplace/shared/domain/outbox"
	"github.com/guance/aliyun-marketplace/shared/jobs/reconcile"
	"github.com/guance/aliyun-marketplace/shared/platform/function"
)

type handler = func(ctx context.Context, event json.RawMessage) (reconcile.Summary, error)

func main() { function.Main(build) }

func build(ctx context.Context, env *function.Env) (handler, error) {
	s := reconcile.LoadSettings(env.Settings)
	secret, err := env.Secrets.Get(ctx, "CODE_HASH_SECRET")
	if err != nil {
		return nil, err
	}
	// The secret it replaced, while a rotation lasts: mails sealed
	// before it still open.
	previous := env.Previous(ctx, "CODE_HASH_SECRET", outbox.CheckSecret)
	sealer, err := outbox.NewSealer(secret, previous)
	if err != nil {
		return nil, err
	}
	st := storage.New(storage.NewClient(env.AWS), storage.LoadTables(env.Settings, storage.InstancesTable, storage.AccountsTable, storage.WorkspacesTable, storage.OutboxTable, storage.AuditTable))
	instances := st.Instances()
	market := marketapi.NewLazy(marketapi.LoadSettings(env.Settings), env.Secrets)
	effects := &activation.Effects{Store: st.Effects(), Log: env.Log}
	service := activation.NewService(instances, market, env.Log)
	service.Effects, service.Records, service.Products = effects, market, s.Products
	r := &reconcile.Reconciler{
		Queue: st.Queue(), Instances: instances, Market: market,
		Domain: service, Effects: effects,
		Outbox: outbox.NewDeliverer(st.Outbox(), &mail.Sender{Client: mail.NewClient(env.AWS), From: s.MailFrom, Timeout: outbox.SendTimeout},
			sealer, env.Log, env.Metrics),
		Settings: s,
		Now:      time.Now, Log: env.Log, Metrics: env.Metrics,
	}
	// Every event (the schedule's, or one sent by hand) is one run.
	return func(ctx context.Context, _ json.RawMessage) (reconcile.Summary, error) {
		return r.Run(ctx)
	}, nil
}
