// Package lambdaevent builds the events Lambda delivers for the template's
// non-HTTP triggers (an EventBridge schedule, a DynamoDB stream), in the
// shapes aws-lambda-go decodes, for the local stack and the sample events.
package lambdaevent

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"strconv"
	"time"

	"github.com/aws/aws-lambda-go/events"
)

// Region and Account are the local stand-ins in ARNs.
const (
	Region  = "us-east-1"
	Account = "000000000000"
)

// Scheduled is the event EventBridge sends when a function's schedule
// fires; id identifies the event.
func Scheduled(fn, schedule, id string, at time.Time) events.EventBridgeEvent {
	return events.EventBridgeEvent{
		Version: "0", ID: id, DetailType: "Scheduled Event", Source: "aws.events",
		AccountID: Account, Time: at.UTC(), Region: Region,
		Resources: []string{"arn:aws:events:" + Region + ":" + Account + ":rule/" + fn + schedule},
		Detail:    json.RawMessage("{}"),
	}
}

// StreamInsert is one INSERT record of a keys-only stream.
type StreamInsert struct {
	EventID  string
	Sequence string
	Keys     map[string]events.DynamoDBAttributeValue
}

// Stream is a DynamoDB stream batch of inserts on table, as the event
// source mapping delivers it.
func Stream(table string, at time.Time, inserts ...StreamInsert) events.DynamoDBEvent {
	var ev events.DynamoDBEvent
	for _, in := range inserts {
		ev.Records = append(ev.Records, events.DynamoDBEventRecord{
			EventID: in.EventID, EventName: "INSERT", EventSource: "aws:dynamodb", EventVersion: "1.1",
			AWSRegion:      Region,
			EventSourceArn: "arn:aws:dynamodb:" + Region + ":" + Account + ":table/" + table + "/stream/local",
			Change: events.DynamoDBStreamRecord{
				ApproximateCreationDateTime: events.SecondsEpochTime{Time: at.UTC().Truncate(time.Second)},
				Keys:                        in.Keys, SequenceNumber: in.Sequence, SizeBytes: 64, StreamViewType: "KEYS_ONLY",
			},
		})
	}
	return ev
}

// StreamRecord is one record of a stream of view type view on table:
// eventName event (INSERT, MODIFY, REMOVE), the item's keys, and the
// images the view carries (KEYS_ONLY: none; NEW_IMAGE, OLD_IMAGE,
// NEW_AND_OLD_IMAGES).
func StreamRecord(table, view, event, sequence string, at time.Time, keys, old, cur map[string]events.DynamoDBAttributeValue) events.DynamoDBEventRecord {
	change := events.DynamoDBStreamRecord{
		ApproximateCreationDateTime: events.SecondsEpochTime{Time: at.UTC().Truncate(time.Second)},
		Keys:                        keys, SequenceNumber: sequence, SizeBytes: 64, StreamViewType: view,
	}
	if view == "NEW_IMAGE" || view == "NEW_AND_OLD_IMAGES" {
		change.NewImage = cur
	}
	if view == "OLD_IMAGE" || view == "NEW_AND_OLD_IMAGES" {
		change.OldImage = old
	}
	return events.DynamoDBEventRecord{
		EventID: randomID(), EventName: event, EventSource: "aws:dynamodb", EventVersion: "1.1",
		AWSRegion:      Region,
		EventSourceArn: "arn:aws:dynamodb:" + Region + ":" + Account + ":table/" + table + "/stream/local",
		Change:         change,
	}
}

func randomID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// IDKey is the keys of an item whose key is the string attribute "id".
func IDKey(id string) map[string]events.DynamoDBAttributeValue {
	return map[string]events.DynamoDBAttributeValue{"id": events.NewStringAttribute(id)}
}

// Sequence is a stream sequence number.
func Sequence(n int64) string { return strconv.FormatInt(n, 10) }
