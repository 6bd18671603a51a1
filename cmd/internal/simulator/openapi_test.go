package simulator

import (
	"context"
	"errors"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/guance/aliyun-marketplace/shared/marketapi"
)

// TestOpenAPIWithTheOfficialSDK drives the simulator's OpenAPI with our
// client over the official SDK: signatures match, answers decode, and the
// failures come back typed.
func TestOpenAPIWithTheOfficialSDK(t *testing.T) {
	market := NewMarket()
	bought := market.Buy(SampleUID, time.Now())
	srv := httptest.NewServer(&OpenAPI{Market: market, AccessKeyID: "ak", AccessKeySecret: "sk"})
	defer srv.Close()
	ctx := context.Background()

	client, err := marketapi.New(marketapi.Config{Endpoint: srv.URL, AccessKeyID: "ak", AccessKeySecret: "sk", Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	inst, err := client.DescribeInstance(ctx, bought.InstanceID)
	if err != nil {
		t.Fatal(err)
	}
	if inst.InstanceID != bought.InstanceID || inst.OrderID != bought.OrderID || inst.Status != "OPENING" || inst.SKU != SampleSKU || inst.EndOn.Year() != 2099 {
		t.Fatalf("instance %+v", inst)
	}
	order, err := client.DescribeOrder(ctx, inst.OrderID)
	if err != nil {
		t.Fatal(err)
	}
	if order.AliUID != SampleUID || len(order.InstanceIDs) != 1 || order.InstanceIDs[0] != bought.InstanceID {
		t.Fatalf("order %+v (a 16-digit UID must survive decoding exactly)", order)
	}

	if _, err := client.DescribeInstance(ctx, "1"); !errors.Is(err, marketapi.ErrNotFound) {
		t.Fatalf("unknown instance: %v, want ErrNotFound", err)
	}
	wrongSecret, _ := marketapi.New(marketapi.Config{Endpoint: srv.URL, AccessKeyID: "ak", AccessKeySecret: "other"})
	var apiErr *marketapi.APIError
	if _, err := wrongSecret.DescribeInstance(ctx, bought.InstanceID); !errors.As(err, &apiErr) || apiErr.Code != "SignatureDoesNotMatch" {
		t.Fatalf("wrong secret: %v", err)
	}
	wrongKey, _ := marketapi.New(marketapi.Config{Endpoint: srv.URL, AccessKeyID: "nobody", AccessKeySecret: "sk"})
	if _, err := wrongKey.DescribeInstance(ctx, bought.InstanceID); !errors.As(err, &apiErr) || apiErr.Code != "InvalidAccessKeyId.NotFound" || errors.Is(err, marketapi.ErrNotFound) {
		t.Fatalf("wrong key: %v (must not read as an unknown instance)", err)
	}

	srv.Close()
	if _, err := client.DescribeInstance(ctx, bought.InstanceID); !errors.Is(err, marketapi.ErrUnavailable) {
		t.Fatalf("server down: %v, want ErrUnavailable", err)
	}
}
