// Command events is the EventsFunction: it publishes the audit trail's
// events, as the table's stream reports them, to the business event bus
// the rest of Guance listens to.
package main

import (
	"context"

	"github.com/aws/aws-lambda-go/events"

	"github.com/guance/aliyun-marketplace/shared/adapters/eventbus"
	"github.com/guance/aliyun-marketplace/shared/adapters/storage"
	"github.com/guance/aliyun-marketplace/shared/domain/audit"
	"github.com/guance/aliyun-marketplace/shared/platform/function"
)

type handler = func(ctx context.Context, event events.DynamoDBEvent) (events.DynamoDBEventResponse, error)

func main() { function.Main(build) }

func build(_ context.Context, env *function.Env) (handler, error) {
	publisher := &audit.Publisher{
		Bus:    &eventbus.Bus{API: eventbus.NewClient(env.AWS), Name: env.Settings.Required("EVENT_BUS_NAME")},
		Decode: storage.AuditEvent, Log: env.Log, Metrics: env.Metrics,
	}
	return publisher.Handle, nil
}
