package storage_test

// One payment, one event, whichever way it arrives.

import (
	"context"
	"testing"
	"time"

	"github.com/guance/aliyun-marketplace/shared/domain/activation"
	"github.com/guance/aliyun-marketplace/shared/domain/audit"
	"github.com/guance/aliyun-marketplace/shared/domain/marketplace"
)

// TestOrderPaidOncePerOrder: the marketplace delivers orderPay over the
// SPI; our answer is lost, so it also lists the message in
// DescribeFailedNotifications, and the reconciliation applies it. Both
// are keyed on the order: one order paid once is one "Order Paid" on the
// trail (and the bus, whose consumers de-duplicate by event id).
func TestOrderPaidOncePerOrder(t *testing.T) {
	db := startDB(t)
	st := db.Store()
	inst := sample()
	ctx := context.Background()
	if _, _, err := st.Instances().Create(ctx, inst); err != nil {
		t.Fatal(err)
	}
	svc := activation.NewService(st.Instances(), nil, quiet)
	svc.Now = func() time.Time { return t0 }
	if _, err := svc.Handle(ctx, &marketplace.OrderPay{RequestID: "469363e82a2847838bfcaeed436da272", InstanceID: inst.ID,
		AliUID: inst.AliUID, OrderID: "205060317920893", ProductCode: inst.ProductCode, SKU: inst.SKU}); err != nil {
		t.Fatal(err)
	}
	n := marketplace.FailedNotification{ID: "deab3673236843a3b378c7d8d25c5f01", Action: "orderPay", CreatedAt: t0,
		Message: `{"productCode":"cmgj00053362","orderId":"205060317920893","orderBizId":"5604018","action":"orderPay","aliUid":"1234567890123456","skuId":"cmgj00053362-postpay"}`}
	outcome, err := svc.ApplyNotification(ctx, n)
	if err != nil {
		t.Fatal(err)
	}
	list, err := st.Trail().Events(ctx, inst.ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	paid := 0
	for _, ev := range list {
		if ev.Kind == audit.OrderPaid && ev.OrderID == "205060317920893" {
			paid++
			t.Logf("%s actor=%s id=%s", ev.Kind, ev.Actor, ev.Key())
		}
	}
	if paid != 1 {
		t.Fatalf("order 205060317920893 paid once, %d Order Paid events (notification outcome %s)", paid, outcome)
	}
}
