package localstack_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/guance/aliyun-marketplace/cmd/devstack/jobtest"
	"github.com/guance/aliyun-marketplace/cmd/devstack/localstack"
	"github.com/guance/aliyun-marketplace/cmd/devstack/simulator"
	"github.com/guance/aliyun-marketplace/shared/domain/guance"
)

const (
	usageWS   = "wksp_0123456789abcdef0123456789abcdef"
	billingWS = "wksp_fedcba9876543210fedcba9876543210"
	unknownWS = "wksp_00000000000000000000000000000000"
	foreignWS = "wksp_11111111111111111111111111111111"
)

// usageStack is a purchase activated at 21:29 with one workspace, and a
// workspace settled by the billing center, with the clock at 21:40.
func usageStack(t *testing.T) (*jobtest.MeteringFixture, string) {
	f := jobtest.NewMeteringFixture(t)
	activatedAt := time.Date(2026, 11, 26, 21, 29, 0, 0, time.UTC)
	f.Now = time.Date(2026, 11, 26, 21, 40, 0, 0, time.UTC)
	instance := f.Activated(t, simulator.SampleProductCode, activatedAt, usageWS)
	for _, ws := range []guance.Workspace{
		{ID: usageWS, Name: "Metered", Site: "cn1", Owner: "owner", BillingAccount: "billing", Settlement: guance.ByInstance(simulator.SampleUID, instance), CreatedAt: activatedAt},
		{ID: billingWS, Name: "Billing", Site: "cn1", Owner: "owner", BillingAccount: "billing", Settlement: guance.Settlement{Type: guance.SettledByBillingCenter}, CreatedAt: activatedAt},
		{ID: foreignWS, Name: "Partner", Site: "cn1", Owner: "owner", BillingAccount: "billing", Settlement: guance.ByInstance("1999999999999999", "5999999"), CreatedAt: activatedAt},
	} {
		item, err := attributevalue.MarshalMap(ws)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.DB.Client().PutItem(context.Background(), &dynamodb.PutItemInput{TableName: aws.String(f.Tables["WorkspacesTable"]), Item: item}); err != nil {
			t.Fatal(err)
		}
	}
	return f, instance
}

// TestWriteUsageRefusals: a developer's mistakes are named, and nothing
// is written for them.
func TestWriteUsageRefusals(t *testing.T) {
	f, _ := usageStack(t)
	tests := []struct {
		name string
		u    localstack.Usage
		want string
		is   error
	}{
		{"malformed workspace", localstack.Usage{WorkspaceID: "Metered", Item: "host", Amount: 5, Hours: 1}, "wksp_ and 32 hex digits", nil},
		{"unknown workspace", localstack.Usage{WorkspaceID: unknownWS, Item: "host", Amount: 5, Hours: 1}, "console stand-in", localstack.ErrNoSuchWorkspace},
		{"billing center settled", localstack.Usage{WorkspaceID: billingWS, Item: "host", Amount: 5, Hours: 1}, "not through a marketplace purchase", localstack.ErrNotMetered},
		{"purchase unknown here", localstack.Usage{WorkspaceID: foreignWS, Item: "host", Amount: 5, Hours: 1}, "purchase 5999999, which this stack has no record of", localstack.ErrNotMetered},
		{"unknown item", localstack.Usage{WorkspaceID: usageWS, Item: "cpu_hours", Amount: 5, Hours: 1}, "METERING_ITEMS maps host, log_gb", nil},
		{"negative amount", localstack.Usage{WorkspaceID: usageWS, Item: "host", Amount: -1, Hours: 1}, "-amount -1", nil},
		{"no hours", localstack.Usage{WorkspaceID: usageWS, Item: "host", Amount: 5, Hours: 0}, "-hours 0", nil},
		{"too many hours", localstack.Usage{WorkspaceID: usageWS, Item: "host", Amount: 5, Hours: 25}, "-hours 25", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := localstack.WriteUsage(context.Background(), f.DB.Client(), jobtest.MeteringMapping, tt.u, f.Clock())
			if err == nil || !strings.Contains(err.Error(), tt.want) || tt.is != nil && !errors.Is(err, tt.is) {
				t.Fatalf("err %v, want %q", err, tt.want)
			}
		})
	}
	out, err := f.DB.Client().Scan(context.Background(), &dynamodb.ScanInput{TableName: aws.String(f.Tables["UsageTable"])})
	if err != nil || len(out.Items) != 0 {
		t.Fatalf("%v: %d usage records written", err, len(out.Items))
	}
}

// TestWriteUsageRewind: usage of the hour before an activation is not
// billed and says so; with Rewind the purchase is metered from that hour,
// the next metering run bills it once, and a second write and run change
// nothing.
func TestWriteUsageRewind(t *testing.T) {
	f, instance := usageStack(t)
	ctx := context.Background()
	u := localstack.Usage{WorkspaceID: usageWS, Item: "host", Amount: 5, Hours: 2}
	res, err := localstack.WriteUsage(ctx, f.DB.Client(), jobtest.MeteringMapping, u, f.Clock())
	if err != nil {
		t.Fatal(err)
	}
	if res.Rewound || !res.MeteredFrom.Equal(time.Date(2026, 11, 26, 22, 0, 0, 0, time.UTC)) || len(res.Windows) != 2 {
		t.Fatalf("%+v", res)
	}
	for _, w := range res.Windows {
		if !w.Written || w.Billable {
			t.Fatalf("window %+v: written, and not billable before 22:00", w)
		}
	}
	if s := f.Run(t); s.Pushed != 0 {
		t.Fatalf("pushed %+v before the workspace is metered", s)
	}

	u.Rewind = true
	res, err = localstack.WriteUsage(ctx, f.DB.Client(), jobtest.MeteringMapping, u, f.Clock())
	if err != nil {
		t.Fatal(err)
	}
	last := time.Date(2026, 11, 26, 20, 0, 0, 0, time.UTC)
	if !res.Rewound || !res.MeteredFrom.Equal(last) || res.Windows[0].Billable || !res.Windows[1].Billable || res.Windows[1].Written {
		t.Fatalf("rewound: %+v", res)
	}
	if !res.Windows[1].DecidedFrom.Equal(last.Add(90*time.Minute)) || !res.Windows[1].Deadline.Equal(last.Add(2*time.Hour)) {
		t.Fatalf("times %+v", res.Windows[1])
	}
	if s := f.Run(t); s.Pushed != 1 || s.Late != 0 {
		t.Fatalf("after the rewind: %+v", s)
	}
	if got := f.Market.Billed(instance)["Unit"]; got != 5 {
		t.Fatalf("billed %d, want 5", got)
	}
	// Again, with another amount: nothing more is written, rewound or
	// billed, and the answer says what stands and that the window is
	// billed already.
	u.Amount = 7
	res, err = localstack.WriteUsage(ctx, f.DB.Client(), jobtest.MeteringMapping, u, f.Clock())
	if w := res.Windows[1]; err != nil || res.Rewound || w.Written || w.Kept != 5 || w.Decided != "pushed" {
		t.Fatalf("%v %+v", err, res)
	}
	// Another item in the billed window is written, and not billed.
	res, err = localstack.WriteUsage(ctx, f.DB.Client(), jobtest.MeteringMapping, localstack.Usage{WorkspaceID: usageWS, Item: "log_gb", Amount: 3, Hours: 1}, f.Clock())
	if w := res.Windows[0]; err != nil || !w.Written || w.Decided != "pushed" {
		t.Fatalf("%v %+v", err, res)
	}
	if s := f.Run(t); s.Pushed != 0 || f.Market.Billed(instance)["Unit"] != 5 {
		t.Fatalf("second run: %+v, billed %v", s, f.Market.Billed(instance))
	}
}
