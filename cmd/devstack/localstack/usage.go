package localstack

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/guance/aliyun-marketplace/shared/adapters/storage"
	"github.com/guance/aliyun-marketplace/shared/domain/activation"
	"github.com/guance/aliyun-marketplace/shared/domain/guance"
	"github.com/guance/aliyun-marketplace/shared/domain/metering"
)

// Usage is a developer's usage for one workspace, as cmd/marketsim writes
// it into the running stack: Amount of Item in each of the last Hours
// closed hourly windows.
type Usage struct {
	WorkspaceID string
	Item        string
	Amount      int64
	Hours       int
	// Rewind moves the purchase's metering start back to the last closed
	// window (local only), so that it is billed now instead of from the
	// first full hour after the workspace was settled. Earlier windows are
	// past the marketplace's deadline (the end of the next hour) anyway.
	Rewind bool
	// RewindToFirst rewinds to the first window written instead: the
	// earlier ones are past their deadline, and a metering run decides
	// them late (the fault tests want a decision at any minute of the hour).
	RewindToFirst bool
}

// UsageWindow says what became of one window's usage.
type UsageWindow struct {
	Start time.Time
	// Written is false when the window held this usage already (the table
	// takes one record per workspace, item and window): Kept is the amount
	// that stands.
	Written bool
	Kept    int64
	// Decided is the state of the window's push record ("" while the
	// window is undecided): usage written after a window was decided is
	// not billed, except in an empty window still before its deadline.
	Decided metering.PushState
	// Billable is false for a window before the workspace is metered.
	Billable bool
	// DecidedFrom is when a metering run first takes the window, and
	// Deadline when the marketplace stops accepting it.
	DecidedFrom, Deadline time.Time
}

// UsageResult is what WriteUsage did.
type UsageResult struct {
	Instance string
	// MeteredFrom is the first window the workspace is billed for.
	MeteredFrom time.Time
	Rewound     bool
	Windows     []UsageWindow
}

// Usage refusals, each saying what to do instead.
var (
	ErrNoSuchWorkspace = errors.New("no such workspace in the local stack; the console stand-in lists a login's workspaces with their IDs")
	ErrNotMetered      = errors.New("nothing in this stack bills its usage")
)

// WriteUsage checks the usage against the stack's records and the billable
// items, rewinds the purchase's metering when asked, and writes the usage
// the way Guance's platform does.
func WriteUsage(ctx context.Context, db *dynamodb.Client, items metering.Mapping, u Usage, now time.Time) (UsageResult, error) {
	switch {
	case !guance.WellFormedWorkspaceID(u.WorkspaceID):
		return UsageResult{}, fmt.Errorf("-workspace %q: a workspace ID is wksp_ and 32 hex digits (the console stand-in lists them)", u.WorkspaceID)
	case items[u.Item] == (metering.BillableItem{}):
		return UsageResult{}, fmt.Errorf("-item %q is not a billable item; METERING_ITEMS maps %s", u.Item, strings.Join(items.Items(), ", "))
	case u.Amount < 0:
		return UsageResult{}, fmt.Errorf("-amount %d: usage is never negative", u.Amount)
	case u.Hours < 1 || u.Hours > 24:
		return UsageResult{}, fmt.Errorf("-hours %d: write 1 to 24 of the last closed hours", u.Hours)
	}
	st := storage.New(db, LocalTables)
	ws, ok, err := st.Bindings().Workspace(ctx, u.WorkspaceID)
	if err != nil {
		return UsageResult{}, err
	}
	if !ok {
		return UsageResult{}, fmt.Errorf("-workspace %s: %w", u.WorkspaceID, ErrNoSuchWorkspace)
	}
	if ws.Settlement.Instance == "" {
		return UsageResult{}, fmt.Errorf("-workspace %s is settled by its billing center account, not through a marketplace purchase: %w", u.WorkspaceID, ErrNotMetered)
	}
	inst, err := st.Instances().Get(ctx, ws.Settlement.Instance)
	if errors.Is(err, activation.ErrInstanceNotFound) {
		return UsageResult{}, fmt.Errorf("-workspace %s is settled through purchase %s, which this stack has no record of (another Alibaba Cloud account's): %w", u.WorkspaceID, ws.Settlement.Instance, ErrNotMetered)
	}
	if err != nil {
		return UsageResult{}, fmt.Errorf("read purchase %s: %w", ws.Settlement.Instance, err)
	}
	member, ok := memberOf(inst, ws.ID)
	if !ok || inst.Metering != activation.MeteringOn {
		return UsageResult{}, fmt.Errorf("purchase %s is no longer metered (%s)", inst.ID, inst.Status)
	}
	last := now.UTC().Truncate(metering.Window).Add(-metering.Window) // the last closed window
	first := last.Add(-time.Duration(u.Hours-1) * metering.Window)
	res := UsageResult{Instance: inst.ID, MeteredFrom: metering.Ceil(member.Since)}
	to := last
	if u.RewindToFirst {
		to = first
	}
	if (u.Rewind || u.RewindToFirst) && to.Before(res.MeteredFrom) {
		if err := rewind(ctx, db, inst, member, to); err != nil {
			return UsageResult{}, err
		}
		res.MeteredFrom, res.Rewound = to, true
	}
	store, pushes := st.Usage(), st.Pushes()
	for w := first; !w.After(last); w = w.Add(metering.Window) {
		end := w.Add(metering.Window)
		win := UsageWindow{Start: w, Billable: !w.Before(res.MeteredFrom), DecidedFrom: end.Add(metering.Grace), Deadline: end.Add(metering.Deadline)}
		err := store.Put(ctx, metering.Usage{WorkspaceID: ws.ID, Item: u.Item, WindowStart: w.Unix(), Amount: u.Amount})
		switch {
		case errors.Is(err, storage.ErrUsageExists):
			kept, _, err := store.Get(ctx, []string{ws.ID}, []time.Time{w}, []string{u.Item})
			if err != nil {
				return res, err
			}
			if len(kept) == 1 {
				win.Kept = kept[0].Amount
			}
		case err != nil:
			return res, fmt.Errorf("write usage of %s: %w", w.Format(time.RFC3339), err)
		default:
			win.Written = true
		}
		push, decided, err := pushes.Get(ctx, inst.ID, w)
		if err != nil {
			return res, err
		}
		if decided {
			win.Decided = push.State
		}
		res.Windows = append(res.Windows, win)
	}
	return res, nil
}

func memberOf(inst activation.Instance, workspaceID string) (metering.Member, bool) {
	for _, s := range inst.MeteredWorkspaces {
		if m, ok := metering.ParseMember(s); ok && m.WorkspaceID == workspaceID {
			return m, true
		}
	}
	return metering.Member{}, false
}

// rewind moves the purchase's metering back to start: where it begins, the
// first window not yet decided, and when the workspace joined. It edits
// our own records, which only a local stack may do; windows decided
// already keep their push records, so none is pushed twice.
func rewind(ctx context.Context, db *dynamodb.Client, inst activation.Instance, member metering.Member, start time.Time) error {
	members := slices.DeleteFunc(slices.Clone(inst.MeteredWorkspaces), func(s string) bool { return s == metering.FormatMember(member.WorkspaceID, member.Since) })
	members = append(members, metering.FormatMember(member.WorkspaceID, start))
	epoch := func(t time.Time) expression.ValueBuilder { return expression.Value(t.Unix()) }
	update := expression.Set(expression.Name("meteredWorkspaces"), expression.Value(&types.AttributeValueMemberSS{Value: members})).
		Set(expression.Name("meteredFrom"), epoch(earliest(inst.MeteredFrom, start))).
		Set(expression.Name("meteredUntil"), epoch(earliest(inst.MeteredUntil, start)))
	// As read: a run that moved the cursor meanwhile makes this fail
	// rather than be undone.
	cond := expression.Name("meteredUntil").Equal(epoch(inst.MeteredUntil)).
		And(expression.Contains(expression.Name("meteredWorkspaces"), metering.FormatMember(member.WorkspaceID, member.Since)))
	expr, err := expression.NewBuilder().WithUpdate(update).WithCondition(cond).Build()
	if err != nil {
		return err
	}
	_, err = db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: aws.String("InstancesTable"), Key: map[string]types.AttributeValue{"instanceId": &types.AttributeValueMemberS{Value: inst.ID}},
		UpdateExpression: expr.Update(), ConditionExpression: expr.Condition(),
		ExpressionAttributeNames: expr.Names(), ExpressionAttributeValues: expr.Values(),
	})
	if err != nil {
		return fmt.Errorf("rewind the metering of purchase %s (a metering run may have moved it; try again): %w", inst.ID, err)
	}
	return nil
}

func earliest(a, b time.Time) time.Time {
	if a.IsZero() || b.Before(a) {
		return b
	}
	return a
}

// MeteringItems is the stack's METERING_ITEMS: this shell's, as make dev
// would pass it, or the local one (LocalMeteringItems).
func MeteringItems() (metering.Mapping, error) {
	if v, ok := os.LookupEnv("METERING_ITEMS"); ok {
		return metering.ParseMapping(v)
	}
	return metering.ParseMapping(LocalMeteringItems)
}

// Listing is the simulated product's billable items as published: each
// meteringAssit of the stack's METERING_ITEMS with its Key.
func Listing() (map[string]string, error) {
	m, err := MeteringItems()
	if err != nil {
		return nil, err
	}
	listing := map[string]string{}
	for _, item := range m {
		listing[item.Assist] = item.Key
	}
	return listing, nil
}
