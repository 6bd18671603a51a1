package audit_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/guance/aliyun-marketplace/shared/domain/audit"
	"github.com/guance/aliyun-marketplace/shared/platform/metrics"
)

// fakeBus takes events, not this time those whose instance is in
// throttle, never those in refuse, or fails whole calls while down.
type fakeBus struct {
	taken    []audit.Event
	calls    []int
	throttle map[string]bool
	refuse   map[string]bool
	down     bool
}

func (b *fakeBus) Put(_ context.Context, events []audit.Event) ([]audit.Put, error) {
	b.calls = append(b.calls, len(events))
	if b.down {
		return nil, errors.New("bus down")
	}
	out := make([]audit.Put, len(events))
	for i, e := range events {
		switch {
		case b.throttle[e.Instance]:
			out[i] = audit.Put{Outcome: audit.Again, Code: "ThrottlingException"}
		case b.refuse[e.Instance]:
			out[i] = audit.Put{Outcome: audit.Refused, Code: "MalformedDetail"}
		default:
			b.taken = append(b.taken, e)
		}
	}
	return out, nil
}

func records(n int) events.DynamoDBEvent {
	var ev events.DynamoDBEvent
	for i := range n {
		ev.Records = append(ev.Records, events.DynamoDBEventRecord{EventName: "INSERT", Change: events.DynamoDBStreamRecord{
			SequenceNumber: fmt.Sprintf("%04d", i),
			NewImage:       map[string]events.DynamoDBAttributeValue{"instanceId": events.NewStringAttribute(fmt.Sprint(5700000 + i))},
		}})
	}
	return ev
}

func decode(rec events.DynamoDBEventRecord) (audit.Event, error) {
	id := rec.Change.NewImage["instanceId"].String()
	if id == "5700003" {
		return audit.Event{}, errors.New("unreadable")
	}
	return audit.New(audit.SessionOpened, id, audit.ActorBuyer, time.Now()), nil
}

func TestPublisher(t *testing.T) {
	m := metrics.NewRecorder(io.Discard, "test")
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	for name, tt := range map[string]struct {
		bus      *fakeBus
		failedAt string // the first record reported failed ("" for none)
		taken    int
		calls    string
	}{
		"all taken, 10 a call, the unreadable one skipped": {&fakeBus{}, "", 24, "[10 10 4]"},
		"one not taken: the batch comes again from it":     {&fakeBus{throttle: map[string]bool{"5700012": true}}, "0012", 19, "[10 10]"},
		"one refused for good: counted, and the rest go":   {&fakeBus{refuse: map[string]bool{"5700012": true}}, "", 23, "[10 10 4]"},
		"the bus down: from the first":                     {&fakeBus{down: true}, "0000", 0, "[10]"},
	} {
		t.Run(name, func(t *testing.T) {
			p := &audit.Publisher{Bus: tt.bus, Decode: decode, Log: log, Metrics: m}
			resp, err := p.Handle(context.Background(), records(25))
			if err != nil {
				t.Fatal(err)
			}
			first := ""
			if len(resp.BatchItemFailures) > 0 {
				first = resp.BatchItemFailures[0].ItemIdentifier
			}
			if first != tt.failedAt || len(tt.bus.taken) != tt.taken || fmt.Sprint(tt.bus.calls) != tt.calls {
				t.Fatalf("failed at %q, %d taken, calls %v", first, len(tt.bus.taken), tt.bus.calls)
			}
		})
	}
}
