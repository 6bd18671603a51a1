package outbox

import (
	"context"

	"github.com/aws/aws-lambda-go/events"

	"github.com/guance/aliyun-marketplace/shared/platform/logging"
)

// Invocation is the outbox function's handler: the table's stream hands it
// the new items, and it delivers each at once. Mails whose attempt failed,
// or that the stream missed, are the reconciliation's (Deliverer.Sweep).
type Invocation struct {
	Deliverer *Deliverer
}

// Handle delivers the items a stream batch inserted. A record whose
// delivery could not even be recorded is reported as failed, so Lambda
// retries from it (deliveries are claimed, so a retry never sends twice).
func (in *Invocation) Handle(ctx context.Context, ev events.DynamoDBEvent) (events.DynamoDBEventResponse, error) {
	var resp events.DynamoDBEventResponse
	for _, rec := range ev.Records {
		if rec.EventName != string(events.DynamoDBOperationTypeInsert) {
			continue
		}
		id := rec.Change.Keys["id"]
		if id.DataType() != events.DataTypeString {
			continue
		}
		if _, err := in.Deliverer.Deliver(ctx, id.String()); err != nil {
			in.Deliverer.Log.ErrorContext(ctx, "outbox delivery not recorded; the batch will be retried from here", logging.Err(err))
			resp.BatchItemFailures = append(resp.BatchItemFailures, events.DynamoDBBatchItemFailure{ItemIdentifier: rec.Change.SequenceNumber})
		}
	}
	return resp, nil
}
