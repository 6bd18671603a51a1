package localstack

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/guance/aliyun-marketplace/cmd/devstack/dynamolocal"
	"github.com/guance/aliyun-marketplace/cmd/devstack/emulator"
	"github.com/guance/aliyun-marketplace/cmd/devstack/lambdaevent"
	"github.com/guance/aliyun-marketplace/cmd/devstack/samtemplate"
)

// StreamFeed is a DynamoDB stream event source mapping: it reads the
// change feed of the embedded DynamoDB (every write that changed an item,
// in order), keeps the records the function's filter lets through (its
// eventName values), shapes them as the table's StreamViewType says, and
// invokes the function with batches of the event's BatchSize. Records the
// function reports as failed (or a whole batch, on a function error) are
// handed over again, from the first that failed, after a short wait, as
// Lambda retries; nothing after them goes first, so a key's records stay
// in order.
type StreamFeed struct {
	Feed     *dynamolocal.Feed
	Table    samtemplate.Table
	Stream   samtemplate.Stream
	Function string
	Pool     *emulator.Pool
	Log      *slog.Logger
	// Retry is the wait before a failed batch is handed over again.
	Retry time.Duration
	// Again, when set, is asked after each batch the function took
	// whether to deliver it once more (a duplicate delivery, which Lambda
	// may make: fault injection).
	Again func() bool
}

// Run delivers until ctx ends.
func (f *StreamFeed) Run(ctx context.Context) {
	for {
		changes, err := f.Feed.Next(ctx, f.Stream.BatchSize)
		if err != nil {
			return
		}
		var batch []dynamolocal.Change
		for _, c := range changes {
			if len(f.Stream.EventNames) == 0 || slices.Contains(f.Stream.EventNames, c.Event) {
				batch = append(batch, c)
			}
		}
		if len(batch) == 0 {
			continue
		}
		failed := f.deliver(ctx, batch)
		if len(failed) == 0 && f.Again != nil && f.Again() {
			_ = f.deliver(ctx, batch)
		}
		if len(failed) > 0 {
			select {
			case <-ctx.Done():
				return
			case <-time.After(f.Retry):
			}
			f.Feed.Again(failed)
		}
	}
}

// deliver invokes the function with one batch and returns the records to
// hand over again.
func (f *StreamFeed) deliver(ctx context.Context, batch []dynamolocal.Change) []dynamolocal.Change {
	table := aws.ToString(f.Table.Definition.TableName)
	var ev events.DynamoDBEvent
	for _, c := range batch {
		ev.Records = append(ev.Records, lambdaevent.StreamRecord(table, f.Table.StreamView, c.Event, lambdaevent.Sequence(c.Seq), time.Now(),
			images(c.Keys), images(c.Old), images(c.New)))
	}
	payload, err := json.Marshal(ev)
	if err != nil {
		return nil
	}
	res, err := f.Pool.Invoke(ctx, payload)
	if err != nil || res.FunctionError {
		f.Log.Warn("stream batch failed; it will be handed over again", "function", f.Function, "records", len(batch))
		return batch
	}
	var resp events.DynamoDBEventResponse
	if json.Unmarshal(res.Payload, &resp) != nil || len(resp.BatchItemFailures) == 0 {
		return nil
	}
	for i, c := range batch {
		for _, failure := range resp.BatchItemFailures {
			if failure.ItemIdentifier == lambdaevent.Sequence(c.Seq) {
				f.Log.Warn("stream records failed; they will be handed over again", "function", f.Function, "records", len(batch)-i)
				return batch[i:]
			}
		}
	}
	return nil
}

// images reads an item in the wire form as a stream record carries it.
func images(item map[string]json.RawMessage) map[string]events.DynamoDBAttributeValue {
	if item == nil {
		return nil
	}
	out := make(map[string]events.DynamoDBAttributeValue, len(item))
	for name, raw := range item {
		var v events.DynamoDBAttributeValue
		if json.Unmarshal(raw, &v) == nil {
			out[name] = v
		}
	}
	return out
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// Scheduler fires a function's schedule on its rate until ctx ends.
type Scheduler struct {
	Function string
	Schedule samtemplate.Schedule
	Pool     *emulator.Pool
	Log      *slog.Logger
}

// Run fires every Schedule.Every (cron schedules fire only on demand).
func (s *Scheduler) Run(ctx context.Context) {
	if s.Schedule.Every <= 0 {
		return
	}
	ticker := time.NewTicker(s.Schedule.Every)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
			if _, err := s.Fire(ctx); err != nil && ctx.Err() == nil {
				s.Log.Warn("scheduled run failed", "function", s.Function, "schedule", s.Schedule.Name, "error", err.Error())
			}
		}
	}
}

// Fire runs the schedule once now and returns the function's answer.
func (s *Scheduler) Fire(ctx context.Context) ([]byte, error) {
	event, err := json.Marshal(lambdaevent.Scheduled(s.Function, s.Schedule.Name, randomHex(16), time.Now()))
	if err != nil {
		return nil, err
	}
	res, err := s.Pool.Invoke(ctx, event)
	if err != nil {
		return nil, err
	}
	if res.FunctionError {
		return res.Payload, fmt.Errorf("%s: %s", s.Function, res.Payload)
	}
	return res.Payload, nil
}
