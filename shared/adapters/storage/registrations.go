package storage

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/guance/aliyun-marketplace/shared/domain/activation"
	"github.com/guance/aliyun-marketplace/shared/domain/guance"
	"github.com/guance/aliyun-marketplace/shared/domain/outbox"
	"github.com/guance/aliyun-marketplace/shared/domain/session"
)

// Registrations writes a new buyer's registration.
type Registrations struct{ st *Store }

// Register writes a new buyer's registration in one TransactWriteItems:
// the Guance account and its email guard, the billing center account, the
// cloud account link, the workspace, the instance moved from pending to
// activated (conditioned on it still being pending, active and the
// buyer's), the session's draft and the welcome mail. Any refusal cancels
// all; the error says which invariant refused.
func (s *Registrations) Register(ctx context.Context, r guance.Registration, step session.Step, mail *outbox.Item) error {
	t := s.st.tx()
	t.newAccount(r.Account)
	billing, err := withID(r.Billing, billingID(r.Billing.Username))
	t.fail(err)
	t.put(s.st.t.Accounts, billing, idAttr, because(guance.ErrUsernameTaken))
	link, err := withID(guance.CloudLink{Cloud: guance.CloudAliyun, UID: r.UID, BillingAccount: r.Billing.Username, Instances: []string{r.Instance}, Seq: 1, LinkedAt: r.At}, cloudKey(r.UID))
	t.fail(err)
	t.put(s.st.t.Accounts, link, idAttr, because(guance.ErrUIDLinked))
	workspace, err := marshal(r.Workspace)
	t.fail(err)
	t.put(s.st.t.Workspaces, workspace, idAttr, nil)
	t.settleFirst(r.UID, r.Instance, r.Workspace, r.At)
	t.draft(step, r.At)
	if mail != nil {
		t.mail(*mail)
	}
	t.audit(r.Events()...)
	return t.run(ctx, "register")
}

// settleFirst moves a pending instance to activated with its first
// workspace: conditioned on it being the buyer's, pending and active.
func (t *tx) settleFirst(uid, instance string, ws guance.Workspace, at time.Time) {
	name, value := expression.Name, expression.Value
	cond := name(instanceKey).AttributeExists().
		And(name("aliUid").Equal(value(uid))).
		And(name("status").Equal(value(activation.StatusActive))).
		And(name("progress").Equal(value(activation.ProgressPending)))
	t.settling(instance, cond, ws.BillingAccount, ws.ID, ws.Site, at, false, func(ctx context.Context, old map[string]types.AttributeValue) error {
		return t.s.whyNotActivatable(ctx, instance, uid, old)
	})
}

// whyNotActivatable reads why the instance refused: from the refusal's old
// item when DynamoDB returned it, otherwise with a read (the refusal path
// only).
func (s *Store) whyNotActivatable(ctx context.Context, id, uid string, old map[string]types.AttributeValue) error {
	inst, err := s.refusedInstance(ctx, id, old)
	if err != nil {
		return fmt.Errorf("read why instance %s refused: %w", id, err)
	}
	if err := inst.CheckActivatable(uid); err != nil {
		return err
	}
	// It has become activatable again since the refusal: a race; say it
	// was taken, the buyer retries.
	return activation.ErrNotPending
}
