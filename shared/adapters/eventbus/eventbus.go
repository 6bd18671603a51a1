// Package eventbus puts the audit trail's events on the Amazon
// EventBridge bus the rest of Guance listens to (audit.Bus).
package eventbus

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge/types"

	"github.com/guance/aliyun-marketplace/shared/domain/audit"
)

// API is the part of the EventBridge client the bus uses.
type API interface {
	PutEvents(ctx context.Context, in *eventbridge.PutEventsInput, opts ...func(*eventbridge.Options)) (*eventbridge.PutEventsOutput, error)
}

// Bus is one event bus.
type Bus struct {
	API  API
	Name string // the bus's name or ARN
}

// NewClient returns an EventBridge client.
func NewClient(cfg aws.Config) *eventbridge.Client { return eventbridge.NewFromConfig(cfg) }

// Put puts events on the bus (at most audit.BusBatch), each with its
// kind as the detail type and its time as the event's, and says for each,
// in order, what became of it.
func (b *Bus) Put(ctx context.Context, events []audit.Event) ([]audit.Put, error) {
	if len(events) > audit.BusBatch {
		return nil, fmt.Errorf("put %d events: at most %d a call", len(events), audit.BusBatch)
	}
	entries := make([]types.PutEventsRequestEntry, len(events))
	for i, e := range events {
		detail, err := e.Published().JSON()
		if err != nil {
			return nil, fmt.Errorf("encode event %s: %w", e, err)
		}
		entries[i] = types.PutEventsRequestEntry{
			EventBusName: aws.String(b.Name), Source: aws.String(audit.Source), DetailType: aws.String(string(e.Kind)),
			Detail: aws.String(string(detail)), Time: aws.Time(e.At),
		}
	}
	out, err := b.API.PutEvents(ctx, &eventbridge.PutEventsInput{Entries: entries})
	if err != nil {
		return nil, fmt.Errorf("put events on bus %s: %w", b.Name, err)
	}
	puts := make([]audit.Put, len(events))
	for i := range puts {
		// The answer lists the entries in the order sent; a failed one
		// carries an error code.
		if i >= len(out.Entries) {
			puts[i] = audit.Put{Outcome: audit.Again, Code: "NoAnswer"}
			continue
		}
		puts[i] = outcome(aws.ToString(out.Entries[i].ErrorCode))
	}
	return puts, nil
}

// outcome reads an entry's error code: throttling and the bus's own
// failures pass; anything else (InvalidArgument, MalformedDetail, an
// authorization refusal) does not.
func outcome(code string) audit.Put {
	switch code {
	case "":
		return audit.Put{Outcome: audit.Taken}
	case "InternalFailure", "InternalException", "ThrottlingException", "ServiceUnavailable":
		return audit.Put{Outcome: audit.Again, Code: code}
	}
	return audit.Put{Outcome: audit.Refused, Code: code}
}
