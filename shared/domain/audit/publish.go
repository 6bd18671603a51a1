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

// Published is the event as it is published. A person's own event says
// only that an operator acted: who (an identity's ARN, often a sign-in
// name) and why (free text) stay on the trail, for those who may read it.
func (e Event) Published() Published {
	if IsOperator(e.Actor) {
		e.Actor, e.Reason = ActorOperator, ""
	}
	return Published{ID: e.Key(), Kind: e.Kind, Event: e}
}

// JSON is the detail as the bus carries it.
func (p Published) JSON() ([]byte, error) { return json.Marshal(p) }

// Bus takes events: at most BusBatch a call, answering for each, in
// order, what became of it (EventBridge takes a call in part).
type Bus interface {
	Put(ctx context.Context, events []Event) ([]Put, error)
}

// Put is what the bus did with one event.
type Put struct {
	Outcome PutOutcome
	// Code is the bus's reason for an event not taken.
	Code string
}

// PutOutcome: taken, to try again, or refused for good.
type PutOutcome int

const (
	Taken PutOutcome = iota
	// Again: not taken this time (throttled, the bus failing): the same
	// event is taken later.
	Again
	// Refused: refused for good (malformed, too large, not allowed):
	// trying again never helps, and would hold up every event behind it.
	Refused
)

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

// Handle publishes the events a stream batch inserted. An event the bus
// refuses for good is logged by its key and counted
// (BusinessEventsRefused, alarmed), and the batch goes on: it stays on
// the trail, and the operator's tool publishes it again once its cause is
// fixed. An event not taken this time stops the batch there: Lambda hands
// it over again from that record (the events after it in the same call
// may come twice; consumers de-duplicate on the id).
func (p *Publisher) Handle(ctx context.Context, ev events.DynamoDBEvent) (events.DynamoDBEventResponse, error) {
	var resp events.DynamoDBEventResponse
	var batch []Event
	var seqs []string
	failed := false
	flush := func() {
		if len(batch) == 0 || failed {
			return
		}
		puts, err := p.Bus.Put(ctx, batch)
		if err != nil {
			p.Log.ErrorContext(ctx, "events not published; the batch will be handed over again from here", logging.Err(err))
		}
		for i, e := range batch {
			put := Put{Outcome: Again}
			if err == nil && i < len(puts) {
				put = puts[i]
			}
			switch put.Outcome {
			case Taken:
				p.Metrics.Count("BusinessEventsPublished", map[string]string{"Kind": string(e.Kind)})
				continue
			case Refused:
				p.Log.ErrorContext(ctx, "business event refused by the bus for good; publish it again once fixed (ops republish)", "event", e.String(), "code", put.Code)
				p.Metrics.Count("BusinessEventsRefused", nil)
				continue
			}
			// Lambda goes on from the first failure: everything after it
			// comes again too.
			failed = true
			resp.BatchItemFailures = append(resp.BatchItemFailures, events.DynamoDBBatchItemFailure{ItemIdentifier: seqs[i]})
			break
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
