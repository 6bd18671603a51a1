package storage_test

import (
	"context"
	"testing"

	"github.com/guance/aliyun-marketplace/shared/domain/activation"
	"github.com/guance/aliyun-marketplace/shared/domain/guance"
	"github.com/guance/aliyun-marketplace/shared/domain/marketplace"
)

// TestReleaseKeepsLinkWhileAnotherLiveInstanceOfTheUID: the product
// says the cloud account link is "removed when the last live instance of
// that UID is released", and TestLaterPurchaseOfALinkedUID shows a linked
// UID's later, still-pending purchase settles workspaces *through the
// link* (the "fresh" branch of settleInstance + keepLink). ReleaseStep
// must not look at link.Instances alone, which does not list such a
// pending purchase: the link stays while the second one is live, so its
// buyer is not sent back to bind billing again.
func TestReleaseKeepsLinkWhileAnotherLiveInstanceOfTheUID(t *testing.T) {
	f := newRecords(t)
	ctx := context.Background()
	f.existing(t)
	f.instance(t, "7000001", uidA, nil)
	f.bind(t, "7000001", uidA)
	f.settled(t, "7000001", uidA, 1)
	// The buyer bought again: a second live instance of the same UID,
	// pending, routed to the workspace binding page because the UID is linked.
	f.instance(t, "7000005", uidA, nil)

	if res, err := f.service().Handle(ctx, &marketplace.ReleaseInstance{InstanceID: "7000001"}); err != nil || res.Outcome != activation.Applied {
		t.Fatalf("%v %v", res, err)
	}
	if _, ok := f.link(t, uidA); !ok {
		t.Errorf("the link was deleted although instance 7000005 of the same UID is live (pending)")
	}
	err := f.records.Bindings().SettleWorkspace(ctx, guance.Settle{WorkspaceID: "wksp_free", Site: "cn1", Account: "acme", UID: uidA, Instance: "7000005", At: t0})
	if err != nil {
		t.Errorf("the live second purchase can no longer settle through the link: %v", err)
	}
}

// TestLinkGoesWithTheLastLiveInstance: the UID's first purchase (bound
// through the link) is released while a later one, never activated, is
// live: the link stays. When that later one is released too, nothing of
// the UID is live: the link goes, and the UID may bind another billing
// center account.
func TestLinkGoesWithTheLastLiveInstance(t *testing.T) {
	f := newRecords(t)
	ctx := context.Background()
	f.existing(t)
	f.instance(t, "7000001", uidA, nil)
	f.bind(t, "7000001", uidA)
	f.settled(t, "7000001", uidA, 1)
	f.instance(t, "7000005", uidA, nil)
	for _, id := range []string{"7000001", "7000005"} {
		if res, err := f.service().Handle(ctx, &marketplace.ReleaseInstance{InstanceID: id}); err != nil || res.Outcome != activation.Applied {
			t.Fatalf("release %s: %v %v", id, res, err)
		}
		if _, ok := f.link(t, uidA); ok != (id == "7000001") {
			t.Fatalf("after releasing %s the link is there: %v", id, ok)
		}
	}
}
