package storage

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/guance/aliyun-marketplace/shared/domain/activation"
	"github.com/guance/aliyun-marketplace/shared/domain/audit"
	"github.com/guance/aliyun-marketplace/shared/domain/guance"
	"github.com/guance/aliyun-marketplace/shared/domain/outbox"
)

// Effects carries out the effects of a status move (activation.Effects)
// on the records: the release, a freeze's marks, the flag.
type Effects struct{ st *Store }

// Get reads one instance, consistently.
func (s *Effects) Get(ctx context.Context, id string) (activation.Instance, error) {
	return s.st.instance(ctx, id)
}

// MarkWorkspace sets a workspace settled through the instance as
// suspended or not, unless a later move (seq) marked it already.
func (s *Effects) MarkWorkspace(ctx context.Context, workspaceID, instance string, suspended bool, seq int) error {
	return s.st.markWorkspace(ctx, workspaceID, instance, suspended, seq)
}

// EffectsDone takes the instance off the effectsDue index, unless a later
// move flagged it again; that refusal is no error (the caller reads the
// instance again).
func (s *Effects) EffectsDone(ctx context.Context, inst activation.Instance) error {
	name, value := expression.Name, expression.Value
	expr, err := expression.NewBuilder().
		WithCondition(name("effectsSeq").Equal(value(inst.EffectsSeq))).
		WithUpdate(expression.Remove(name("effects")).Remove(name("effectsAt"))).
		Build()
	if err != nil {
		return err
	}
	if _, err := s.st.update(ctx, s.st.t.Instances, instanceKeyOf(inst.ID), expr, false, false); err != nil {
		return fmt.Errorf("finish effects of instance %s: %w", inst.ID, err)
	}
	return nil
}

// ReleasedNoticeID is the outbox id of an instance's release notice: one
// per instance, whatever retries the release sees.
func ReleasedNoticeID(instance string) string { return "mail#released#" + instance }

// errReadAgain is a release step's refusal that only asks for the
// instance to be read again and the step made again.
var errReadAgain = errors.New("storage: read the instance again")

// ReleaseStep puts up to n of the released instance's workspaces back on
// billing center settlement in one transaction, taking them off the
// instance's list. When they are the last, the same transaction takes the
// instance off its cloud account link (deleting the link when it was the
// last instance on it), writes the release notice to the outbox, and
// takes the instance off the effectsDue index. It returns done when that
// last transaction went through; otherwise the caller reads the instance
// again and goes on.
func (s *Effects) ReleaseStep(ctx context.Context, inst activation.Instance, n int) (bool, error) {
	ids := slices.Sorted(slices.Values(inst.Workspaces))
	last := len(ids) <= n
	if !last {
		ids = ids[:n]
	}
	t := s.st.tx()
	now := time.Now().UTC()
	for _, id := range ids {
		t.audit(inst.WorkspaceReleasedEvent(id, now))
		t.backToBillingCenter(id, inst.ID, func(ctx context.Context, _ map[string]types.AttributeValue) error {
			// Not settled through this instance (any more): nothing to
			// put back. Take it off the list alone, and go on.
			if err := s.forgetWorkspace(ctx, inst.ID, id); err != nil {
				return err
			}
			return errReadAgain
		})
	}
	linkID, accountID := cloudKey(inst.AliUID), billingID(inst.BillingAccount)
	read := map[string]map[string]types.AttributeValue{}
	if last {
		// The link and the billing center account (when the instance was
		// bound to one), in one read. An instance never bound may still
		// be the last live one of a linked UID.
		keys := []map[string]types.AttributeValue{idKey(linkID)}
		if inst.BillingAccount != "" {
			keys = append(keys, idKey(accountID))
		}
		// Only what the unlink and the notice need: never a password
		// hash or a phone (the operator's policy allows these names only).
		found, err := s.st.batchGet(ctx, map[string]types.KeysAndAttributes{
			s.st.t.Accounts: {Keys: keys, ConsistentRead: aws.Bool(true), ProjectionExpression: aws.String(strings.Join(ReleaseReadAttributes, ", "))},
		})
		if err != nil {
			return false, fmt.Errorf("read the cloud link and billing center account of instance %s: %w", inst.ID, err)
		}
		for _, item := range found[s.st.t.Accounts] {
			read[stringOf(item[idAttr])] = item
		}
		if err := s.unlink(ctx, t, inst, read[linkID], now); err != nil {
			return false, err
		}
	}
	if last && inst.BillingAccount != "" {
		notice, err := releaseNotice(inst, read[accountID])
		if err != nil {
			return false, err
		}
		t.outboxOnce(notice, audit.ActorEffects, func(ctx context.Context, _ map[string]types.AttributeValue) error {
			// The notice is there: a release that finished before.
			// Nothing is left but the flag (the instance's condition is
			// the guard).
			if err := s.EffectsDone(ctx, inst); err != nil {
				return err
			}
			return errReadAgain
		})
	}
	t.releasedInstance(inst, ids, last)
	switch err := t.run(ctx, "release step of instance "+inst.ID); {
	case err == nil:
		return last, nil
	case errors.Is(err, errReadAgain), conflicted(err):
		return false, nil
	default:
		return false, err
	}
}

// ReleaseReadAttributes are the attributes a release reads of the cloud
// link and the billing center account (none is a reserved word).
var ReleaseReadAttributes = []string{idAttr, "cloud", "uid", "billingAccount", "instances", "seq", "linkedAt", "email", "lang"}

// backToBillingCenter is a workspace's part of a release: settled by the
// billing center again, not suspended, if it is still settled through
// the instance.
func (t *tx) backToBillingCenter(workspaceID, instance string, why refusal) {
	name, value := expression.Name, expression.Value
	settlement, err := attributevalue.Marshal(guance.Settlement{Type: guance.SettledByBillingCenter})
	t.fail(err)
	t.update(t.s.t.Workspaces, idKey(workspaceID),
		name("settlement.type").Equal(value(guance.SettledByCloud)).And(name("settlement.instance").Equal(value(instance))),
		expression.Set(name("settlement"), value(settlement)).Remove(name("suspended")).Remove(name("suspendedSeq")),
		why)
}

// unlink is the link's part of the last release step: the instance goes
// from the link, and the link goes once no live instance of the UID is
// left, whether or not this one was bound through it (a later purchase of
// a linked UID relies on the link without being listed in it, and may be
// the last to go). The write is conditioned on the link being as read
// (its seq), so an instance bound meanwhile is never dropped with it (its
// refusal reads again). item is the link as read (nil: none).
func (s *Effects) unlink(ctx context.Context, t *tx, inst activation.Instance, item map[string]types.AttributeValue, now time.Time) error {
	if len(item) == 0 {
		return nil
	}
	var link guance.CloudLink
	if err := attributevalue.UnmarshalMap(item, &link); err != nil {
		return fmt.Errorf("unmarshal cloud link: %w", err)
	}
	name, value := expression.Name, expression.Value
	asRead := name("seq").Equal(value(link.Seq))
	if link.Seq == 0 {
		asRead = name("seq").AttributeNotExists()
	}
	holds := slices.Contains(link.Instances, inst.ID)
	if others := len(link.Instances); others == 0 || holds && others == 1 {
		// No instance bound through the link is left: it goes with the
		// last live instance of the UID.
		live, err := s.st.otherLiveInstances(ctx, inst)
		if err != nil {
			return err
		}
		if !live {
			t.remove(s.st.t.Accounts, idKey(cloudKey(inst.AliUID)), &asRead, because(errReadAgain))
			t.audit(inst.LinkRemovedEvent(link.BillingAccount, now))
			return nil
		}
	}
	if !holds {
		return nil
	}
	t.update(s.st.t.Accounts, idKey(cloudKey(inst.AliUID)), asRead,
		expression.Delete(name("instances"), value(set(inst.ID))).Add(name("seq"), value(1)),
		because(errReadAgain))
	return nil
}

// releaseNotice is the outbox mail telling the billing center account of
// the release, written once (its id is the instance's). read is the
// account as read (nil: none).
func releaseNotice(inst activation.Instance, read map[string]types.AttributeValue) (outbox.Item, error) {
	var account guance.BillingAccount
	if err := attributevalue.UnmarshalMap(read, &account); err != nil {
		return outbox.Item{}, fmt.Errorf("unmarshal billing center account: %w", err)
	}
	item := outbox.New(outbox.KindReleased, account.Email, account.Lang, map[string]string{
		"instance": inst.ID, "account": inst.BillingAccount,
		"workspaces": strconv.Itoa(inst.ReleasedWorkspaces + len(inst.Workspaces)),
	}, time.Now().UTC(), outbox.Keep)
	item.ID, item.Instance = ReleasedNoticeID(inst.ID), inst.ID
	if account.Email == "" {
		// No address to tell (an account removed since): nothing is sent.
		item.Kind, item.To = outbox.KindVoid, ""
	}
	return item, nil
}

// releasedInstance is the instance's part of a release step: the
// workspaces put back leave its list and are counted; with the last step
// the effects are done. It must still be released, with no later move
// (its refusal reads again).
func (t *tx) releasedInstance(inst activation.Instance, ids []string, last bool) {
	name, value := expression.Name, expression.Value
	update := expression.Set(name("updatedAt"), value(time.Now().UTC()))
	if len(ids) > 0 {
		update = update.Delete(name("workspaces"), value(set(ids...))).
			Add(name("releasedWorkspaces"), value(len(ids)))
	}
	if last {
		update = update.Remove(name("effects")).Remove(name("effectsAt"))
	}
	t.update(t.s.t.Instances, instanceKeyOf(inst.ID),
		name("status").Equal(value(activation.StatusReleased)).And(name("effectsSeq").Equal(value(inst.EffectsSeq))),
		update, because(errReadAgain))
}

// forgetWorkspace takes a workspace off a released instance's list
// without touching the workspace (it is not settled through it).
func (s *Effects) forgetWorkspace(ctx context.Context, instance, workspaceID string) error {
	name, value := expression.Name, expression.Value
	expr, err := expression.NewBuilder().
		// While effects are due the list is there (the last step takes both
		// at once), so the delete never lands on a finished release.
		WithCondition(name("status").Equal(value(activation.StatusReleased)).And(name("effects").AttributeExists())).
		WithUpdate(expression.Delete(name("workspaces"), value(set(workspaceID)))).
		Build()
	if err != nil {
		return err
	}
	// Refused: the release is finished (another pass got there first).
	if _, err := s.st.update(ctx, s.st.t.Instances, instanceKeyOf(instance), expr, false, false); err != nil {
		return fmt.Errorf("forget workspace %s of instance %s: %w", workspaceID, instance, err)
	}
	return nil
}
