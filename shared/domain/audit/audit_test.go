package audit_test

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/guance/aliyun-marketplace/schemas"
	"github.com/guance/aliyun-marketplace/shared/domain/audit"
)

// TestEveryKindHasItsSchema: each kind (a detail type on the bus) has its
// JSON schema under schemas/events, and each schema is a kind's.
func TestEveryKindHasItsSchema(t *testing.T) {
	want := map[string]bool{}
	for _, k := range audit.Kinds {
		want[k.Slug()+".json"] = true
		if !schemas.Has(string(k)) {
			t.Errorf("no schema for %q", k)
		}
	}
	files, err := filepath.Glob(filepath.Join("..", "..", "..", "schemas", "events", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if !want[filepath.Base(f)] {
			t.Errorf("%s names no kind", f)
		}
	}
	if len(files) != len(audit.Kinds) {
		t.Errorf("%d schemas for %d kinds", len(files), len(audit.Kinds))
	}
}

// TestPublishedDetail: the detail is the event with the id a consumer
// de-duplicates on; an operator's context names them and their reason;
// the schema takes it, and refuses a detail that lacks what its kind
// requires.
func TestPublishedDetail(t *testing.T) {
	at := time.Date(2026, 12, 4, 8, 0, 0, 0, time.UTC)
	ev := audit.New(audit.PurchaseActivated, "5604018", audit.ActorBuyer, at)
	ev.BillingAccount, ev.Workspace, ev.Site = "acme", "wksp_1", "cn1"
	detail, err := ev.Published().JSON()
	if err != nil {
		t.Fatal(err)
	}
	if err := schemas.Validate(string(ev.Kind), detail); err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	_ = json.Unmarshal(detail, &got)
	if got["id"] != "5604018/"+ev.ID || got["kind"] != "Purchase Activated" || got["at"] != "2026-12-04T08:00:00Z" || got["window"] != nil || got["expiresAt"] != nil {
		t.Fatalf("detail %s", detail)
	}
	ev.Workspace = ""
	if d, _ := ev.Published().JSON(); schemas.Validate(string(ev.Kind), d) == nil {
		t.Fatal("an activation without its workspace passed its schema")
	}
	op := audit.New(audit.OperatorAction, "5604018", audit.ActorBuyer, at).By(audit.WithOperator(context.Background(), audit.Operator{Who: "arn:aws:iam::1:user/ana", Why: "mail bounced, address fixed"}))
	op.Detail = map[string]string{"action": "requeue-mail"}
	if op.Actor != "operator:arn:aws:iam::1:user/ana" || op.Reason != "mail bounced, address fixed" {
		t.Fatalf("operator event %+v", op)
	}
	if d, _ := op.Published().JSON(); schemas.Validate(string(op.Kind), d) != nil {
		t.Fatalf("operator event: %v", schemas.Validate(string(op.Kind), d))
	}
}

// TestEventIDsOrderAndDiffer: ids sort by time, and two events of one
// instance at one instant differ.
func TestEventIDsOrderAndDiffer(t *testing.T) {
	at := time.Date(2026, 12, 4, 8, 0, 0, 0, time.UTC)
	a, b := audit.NewID(audit.MailSent, at), audit.NewID(audit.MailSent, at)
	c := audit.NewID(audit.MailSent, at.Add(time.Microsecond))
	if a == b || !(a < c && b < c) || !strings.HasPrefix(a, "20261204T080000.000000Z_mail-sent_") {
		t.Fatalf("%s %s %s", a, b, c)
	}
}
