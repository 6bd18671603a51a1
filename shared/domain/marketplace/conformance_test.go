package marketplace_test

import (
	"testing"

	"github.com/guance/aliyun-marketplace/shared/domain/marketplace"
	"github.com/guance/aliyun-marketplace/shared/domain/marketplace/marketplacetest"
)

// TestDocumentedSamplesDecode: every sample request the docs show is
// taken as it is (signed again with our key: the docs' tokens are theirs),
// and the verify link too.
func TestDocumentedSamplesDecode(t *testing.T) {
	samples := marketplacetest.Load()
	for _, call := range samples.Calls {
		signed := call.Params().Signed("k")
		if err := marketplace.VerifyToken(signed, "k"); err != nil {
			t.Fatalf("%s: %v", call.Action, err)
		}
		if _, err := marketplace.Decode(signed); err != nil {
			t.Errorf("%s (%s): %v", call.Action, call.Source, err)
		}
	}
	v, err := marketplace.DecodeVerify(samples.VerifyParams())
	if err != nil || v.InstanceID != "1" || marketplace.FormatTime(v.TimeStamp) != "2013-01-01 01:01:01" {
		t.Fatalf("verify link (%s): %+v %v", samples.Verify.Source, v, err)
	}
	params, err := marketplace.ParseMessage(samples.FailedNotification.Item.Message)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := marketplace.DecodeNotification(params); err != nil {
		t.Fatalf("failed notification (%s): %v", samples.FailedNotification.Source, err)
	}
}
