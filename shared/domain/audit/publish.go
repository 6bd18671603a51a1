package audit

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"

	"github.com/aws/aws-lambda-go/events"

	"github.com/guance/aliyun-marketplace/shared/platform/logging"
	"github.com/guance/aliyun-marketplace/shared/platform/metrics"
)

// Source is the events' source on the bus: what a rule of the rest of
// Guance matches, with the kind as the detail type.
const Source = "guance.aliyun-marketplace"

// BusBatch is the most events one PutEvents takes.
const BusBatch = 10

// Published is an event as the rest of Guance receives it (the
// EventBridge detail; schemas/events holds its JSON schema by kind): ID
// names it once across every purchase and every delivery, for a consumer
// to de-duplicate on (publishing is at least once).
type Published struct {
	ID   string `json:"id"`
	Kind Kind   `json:"kind"`
	Event
}

// Published is the event as it is published.
func (e Event) Published() Published { return Published{ID: e.Key(), Kind: e.Kind, Event: e} }

// JSON is the detail as the bus carries it.
func (p Published) JSON() ([]byte, error) { return json.Marshal(p) }

// Bus takes events: at most BusBatch a call, answering for each, in
// order, whether it was taken (EventBridge takes a call in part).
type Bus interface {
	Put(ctx context.Context, events []Event) (taken []bool, err error)
}

// Decoder reads the event a stream record of the trail inserted.
type Decoder func(record events.DynamoDBEventRecord) (Event, error)

// Publisher is the events function's handler: the trail's stream hands
// it the events as they are written, and it puts each on the bus. A
// record that was not taken is reported as failed, so that Lambda hands
// the batch over again from it: each event is published at least once,
// in the order of its purchase's trail (the stream keeps an item's
// partition in order).
type Publisher struct {
	Bus     Bus
	Decode  Decoder
	Log     *slog.Logger
	Metrics *metrics.Recorder
}

// Handle publishes the events a stream batch inserted.
func (p *Publisher) Handle(ctx context.Context, ev events.DynamoDBEvent) (events.DynamoDBEventResponse, error) {
	var resp events.DynamoDBEventResponse
	var batch []Event
	var seqs []string
	failed := false
	flush := func() {
		if len(batch) == 0 || failed {
			return
		}
		taken, err := p.Bus.Put(ctx, batch)
		if err != nil {
			p.Log.ErrorContext(ctx, "events not published; the batch will be handed over again from here", logging.Err(err))
		}
		for i := range batch {
			if err != nil || i >= len(taken) || !taken[i] {
				// Lambda goes on from the first failure: everything
				// after it comes again too.
				failed = true
				resp.BatchItemFailures = append(resp.BatchItemFailures, events.DynamoDBBatchItemFailure{ItemIdentifier: seqs[i]})
				break
			}
			p.Metrics.Count("BusinessEventsPublished", map[string]string{"Kind": string(batch[i].Kind)})
		}
		batch, seqs = batch[:0], seqs[:0]
	}
	for _, rec := range ev.Records {
		if failed {
			break
		}
		if rec.EventName != string(events.DynamoDBOperationTypeInsert) {
			continue
		}
		e, err := p.Decode(rec)
		if err != nil {
			// A record that cannot be read will not read better later:
			// it is logged (by its keys) and counted, not retried.
			p.Log.ErrorContext(ctx, "an event of the trail could not be read", "sequence", rec.Change.SequenceNumber, logging.Err(err))
			p.Metrics.Count("BusinessEventsUnreadable", nil)
			continue
		}
		batch, seqs = append(batch, e), append(seqs, rec.Change.SequenceNumber)
		if len(batch) == BusBatch {
			flush()
		}
	}
	flush()
	return resp, nil
}

// String names an event in logs: its kind and key (no personal data).
func (e Event) String() string { return fmt.Sprintf("%s %s", e.Kind, e.Key()) }
