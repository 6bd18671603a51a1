package simulator

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/guance/aliyun-marketplace/shared/adapters/marketapi"
	"github.com/guance/aliyun-marketplace/shared/domain/marketplace"
)

// TestUpgradeMovesTheRecord: the marketplace's record shows an upgrade
// before it calls, SKU and billable items (DescribeInstanceForIsv's
// ProductSkuCode and ComponentJson), as our endpoint asks about an
// upgrade without an order id.
func TestUpgradeMovesTheRecord(t *testing.T) {
	m := NewMarket()
	p := m.Buy(SampleUID, time.Now())
	m.Applied(marketplace.Params{"action": "upgradeInstance", "instanceId": p.InstanceID, "skuId": "sku-large", "Count": "8"})
	srv := httptest.NewServer(&OpenAPI{Market: m, AccessKeyID: "ak", AccessKeySecret: "sk"})
	defer srv.Close()
	client, err := marketapi.New(marketapi.Config{Endpoint: srv.URL, AccessKeyID: "ak", AccessKeySecret: "sk", Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	got, err := client.Describe(context.Background(), p.InstanceID)
	if err != nil {
		t.Fatal(err)
	}
	if got.SKU != "sku-large" || got.Components["Count"] != "8" || !got.Holds("sku-large", map[string]string{"Count": "8"}) {
		t.Fatalf("after upgradeInstance the record says %+v", got)
	}
}
