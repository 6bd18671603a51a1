package eventbus

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge/types"

	"github.com/guance/aliyun-marketplace/shared/domain/audit"
)

// answering is a PutEvents that answers each entry with a code by its
// detail type.
type answering struct{ codes map[string]string }

func (a answering) PutEvents(_ context.Context, in *eventbridge.PutEventsInput, _ ...func(*eventbridge.Options)) (*eventbridge.PutEventsOutput, error) {
	out := &eventbridge.PutEventsOutput{}
	for _, e := range in.Entries {
		code := a.codes[aws.ToString(e.DetailType)]
		entry := types.PutEventsResultEntry{}
		if code != "" {
			entry.ErrorCode = aws.String(code)
		} else {
			entry.EventId = aws.String("id")
		}
		out.Entries = append(out.Entries, entry)
	}
	return out, nil
}

// TestOutcomes: each entry's answer, in order: taken; throttled or the
// bus failing, again; anything else, refused for good.
func TestOutcomes(t *testing.T) {
	bus := &Bus{Name: "b", API: answering{codes: map[string]string{
		string(audit.WorkspaceSettled): "ThrottlingException",
		string(audit.PurchaseFrozen):   "InternalFailure",
		string(audit.MailSent):         "MalformedDetail",
	}}}
	now := time.Now()
	kinds := []audit.Kind{audit.PurchaseCreated, audit.WorkspaceSettled, audit.PurchaseFrozen, audit.MailSent}
	var list []audit.Event
	for _, k := range kinds {
		list = append(list, audit.New(k, "5700001", audit.ActorMarketplace, now))
	}
	puts, err := bus.Put(context.Background(), list)
	if err != nil {
		t.Fatal(err)
	}
	want := []audit.PutOutcome{audit.Taken, audit.Again, audit.Again, audit.Refused}
	for i, p := range puts {
		if p.Outcome != want[i] {
			t.Errorf("%s: %v (%s), want %v", kinds[i], p.Outcome, p.Code, want[i])
		}
	}
	if _, err := bus.Put(context.Background(), make([]audit.Event, audit.BusBatch+1)); err == nil {
		t.Fatal("more than a call takes")
	}
}
