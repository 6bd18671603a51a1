// Command outbox is the OutboxFunction: it sends the outbox's mails as the
// table's stream reports them (the reconciliation retries the ones whose
// attempt failed).
package main

import (
	"context"

	"github.com/aws/aws-lambda-go/events"

	"github.com/guance/aliyun-marketplace/shared/adapters/mail"
	"github.com/guance/aliyun-marketplace/shared/adapters/storage"
	"github.com/guance/aliyun-marketplace/shared/domain/outbox"
	"github.com/guance/aliyun-marketplace/shared/platform/function"
)

type handler = func(ctx context.Context, event events.DynamoDBEvent) (events.DynamoDBEventResponse, error)

func main() { function.Main(build) }

func build(ctx context.Context, env *function.Env) (handler, error) {
	from := env.Settings.Required("MAIL_FROM")
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
	invocation := &outbox.Invocation{
		Deliverer: outbox.NewDeliverer(storage.New(storage.NewClient(env.AWS), storage.LoadTables(env.Settings, storage.OutboxTable, storage.AuditTable)).Outbox(),
			&mail.Sender{Client: mail.NewClient(env.AWS), From: from, Timeout: outbox.SendTimeout}, sealer, env.Log, env.Metrics),
	}
	return invocation.Handle, nil
}
