package outbox

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/aws/aws-lambda-go/events"

	"github.com/guance/aliyun-marketplace/shared/logging"
)

// Invocation is the outbox function's handler. It is invoked two ways: by
// the table's stream, with the new items (deliver each at once), and by a
// schedule (deliver whatever is due: mails whose earlier attempt failed,
// or that the stream missed).
type Invocation struct {
	Deliverer *Deliverer
	// SweepLimit bounds how many due items one scheduled run tries.
	SweepLimit int
}

// Handle dispatches on the event's shape.
func (in *Invocation) Handle(ctx context.Context, raw json.RawMessage) (any, error) {
	var probe struct {
		Records []json.RawMessage `json:"Records"`
		Source  string            `json:"source"`
	}
	if err := json.Unmarshal(raw, &probe); err != nil {
		return nil, fmt.Errorf("outbox: unreadable event: %w", err)
	}
	if probe.Records == nil {
		r, err := in.Deliverer.Sweep(ctx, in.SweepLimit)
		in.Deliverer.Log.InfoContext(ctx, "outbox sweep", "sent", r.Sent, "failed", r.Failed, "dead", r.Dead, "skipped", r.Skipped)
		return r, err
	}
	var ev events.DynamoDBEvent
	if err := json.Unmarshal(raw, &ev); err != nil {
		return nil, fmt.Errorf("outbox: unreadable stream event: %w", err)
	}
	return in.HandleStream(ctx, ev), nil
}

// HandleStream delivers the items a stream batch inserted. A record whose
// delivery could not even be recorded is reported as failed, so Lambda
// retries from it (deliveries are claimed, so a retry never sends twice).
func (in *Invocation) HandleStream(ctx context.Context, ev events.DynamoDBEvent) events.DynamoDBEventResponse {
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
	return resp
}
