package audit_test

// The publisher against a bus that refuses, and what a consumer reads.

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/guance/aliyun-marketplace/shared/domain/audit"
	"github.com/guance/aliyun-marketplace/shared/platform/metrics"
)

// TestOneRefusedEntryDoesNotHoldUpTheRest: EventBridge refuses an entry
// for good (InvalidArgument / MalformedDetail: retrying never helps). Were
// it reported failed, Lambda would hand the batch over again from it up to
// 100 times, publishing the events after it again each time and never
// reaching the rest: one purchase's event would hold up every purchase's
// on the shard. It is counted and passed; the others are published once.
func TestOneRefusedEntryDoesNotHoldUpTheRest(t *testing.T) {
	bus := &fakeBus{refuse: map[string]bool{"5700012": true}}
	p := &audit.Publisher{Bus: bus, Decode: decode, Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Metrics: metrics.NewRecorder(io.Discard, "test")}
	batch := records(25)
	for retry := 0; retry < 5; retry++ { // Lambda's retries, from the reported record
		resp, err := p.Handle(context.Background(), batch)
		if err != nil {
			t.Fatal(err)
		}
		if len(resp.BatchItemFailures) == 0 {
			break
		}
		from := resp.BatchItemFailures[0].ItemIdentifier
		var rest []events.DynamoDBEventRecord
		for _, r := range batch.Records {
			if r.Change.SequenceNumber >= from {
				rest = append(rest, r)
			}
		}
		batch.Records = rest
	}
	seen := map[string]int{}
	for _, e := range bus.taken {
		seen[e.Instance]++
	}
	if seen["5700024"] == 0 || seen["5700013"] > 1 {
		t.Fatalf("one entry refused for good, 5 deliveries: 5700013 published %d times, 5700024 %d times", seen["5700013"], seen["5700024"])
	}
}

// TestOperatorIdentityStaysOffTheBus: against a stack the operator is
// named by sts GetCallerIdentity's ARN, whose session name under IAM
// Identity Center is usually the person's email address; their reason is
// free text. Both stay on the trail: the bus (every consumer, and its
// archive) hears only that an operator acted.
func TestOperatorIdentityStaysOffTheBus(t *testing.T) {
	ctx := audit.WithOperator(context.Background(), audit.Operator{
		Who: "arn:aws:sts::111122223333:assumed-role/AWSReservedSSO_Operators_0a1b2c/ana.lopez@guance.com",
		Why: "buyer ana@example.com phoned: resend the welcome mail",
	})
	ev := audit.New(audit.OperatorAction, "5604018", "", time.Now()).By(ctx)
	ev.Detail = map[string]string{"action": "requeue-mail"}
	detail, _ := ev.Published().JSON()
	if strings.Contains(string(detail), "@") {
		t.Fatalf("published detail holds addresses: %s", detail)
	}
}
