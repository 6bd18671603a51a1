package simulator

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/guance/aliyun-marketplace/cmd/internal/gateway"
	"github.com/guance/aliyun-marketplace/shared/marketplace"
)

// SampleEvent is one file of events/: a payload 2.0 event as API Gateway
// would deliver a marketplace call.
type SampleEvent struct {
	File   string
	Post   bool
	Params marketplace.Params
	// Unsigned events carry the token as given in Params (or none).
	Unsigned bool
	// Status is what the SPI answers when the events are replayed in order.
	Status int
}

// SampleEvents is the lifecycle of one instance, in the order the
// marketplace would call, and a few calls it must refuse.
func SampleEvents() []SampleEvent {
	const (
		id    = SampleInstanceID
		order = "205060317920890"
	)
	create := marketplace.Params{
		"action": "createInstance", "aliUid": SampleUID, "orderBizId": id, "orderId": order,
		"productCode": SampleProductCode, "skuId": SampleSKU, "trial": "false", "expiredOn": "2099-01-01 00:00:00",
	}
	return []SampleEvent{
		{File: "create-instance.json", Params: create, Status: 200},
		{File: "create-instance-post.json", Post: true, Params: create, Status: 200},
		{File: "expired-instance.json", Params: marketplace.Params{"action": "expiredInstance", "instanceId": id}, Status: 200},
		{File: "resume-instance.json", Params: marketplace.Params{"action": "resumeInstance", "instanceId": id, "productCode": SampleProductCode, "skuId": SampleSKU}, Status: 200},
		{File: "renew-instance.json", Params: marketplace.Params{"action": "renewInstance", "instanceId": id, "orderId": "205060317920891", "expiredOn": "2100-01-01 00:00:00"}, Status: 200},
		{File: "upgrade-instance.json", Params: marketplace.Params{"action": "upgradeInstance", "instanceId": id, "orderId": "205060317920892", "skuId": SampleSKU, "Count": "3"}, Status: 200},
		{File: "refund-renew-instance.json", Params: marketplace.Params{"action": "refundRenewInstance", "instanceId": id, "expiredOn": "2099-01-01 00:00:00"}, Status: 200},
		{File: "order-pay.json", Params: marketplace.Params{"action": "orderPay", "requestId": "469363e82a2847838bfcaeed436da272", "orderBizId": id, "aliUid": SampleUID, "orderId": "205060317920893", "productCode": SampleProductCode, "skuId": SampleSKU}, Status: 200},
		{File: "release-instance.json", Params: marketplace.Params{"action": "releaseInstance", "instanceId": id, "isRefund": "false"}, Status: 200},
		{File: "bad-token.json", Unsigned: true, Params: marketplace.Params{"action": "releaseInstance", "instanceId": id, "token": "00000000000000000000000000000000"}, Status: 403},
		{File: "unknown-action.json", Params: marketplace.Params{"action": "deleteInstance", "instanceId": id}, Status: 400},
		{File: "unknown-instance.json", Params: marketplace.Params{"action": "expiredInstance", "instanceId": "9999999"}, Status: 404},
	}
}

// Event renders a sample as the JSON file content, signed with key. Ids and
// times are fixed, so the files change only when the samples do.
func (s SampleEvent) Event(key string) ([]byte, error) {
	params := s.Params
	if !s.Unsigned {
		params = params.Signed(key)
	}
	var req *http.Request
	var body []byte
	if s.Post {
		body = []byte(params.Encode())
		req = httptest.NewRequest(http.MethodPost, "/aliyun/spi", strings.NewReader(string(body)))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	} else {
		req = httptest.NewRequest(http.MethodGet, "/aliyun/spi?"+params.Encode(), nil)
	}
	req.Host = "abcdef1234.execute-api.us-east-1.amazonaws.com"
	req.RemoteAddr = "198.51.100.7:41234"
	req.Header.Set("User-Agent", "AlibabaCloud-Marketplace")
	req.Header.Set("X-Forwarded-Proto", "https")
	ev := gateway.BuildEvent(req, req.Method+" /aliyun/spi", nil, body)
	ev.RequestContext.RequestID = "sample-" + strings.TrimSuffix(s.File, ".json")
	ev.RequestContext.Time = "26/Nov/2026:03:20:00 +0000"
	ev.RequestContext.TimeEpoch = 1795576800000
	ev.RequestContext.APIID = "abcdef1234"
	ev.RequestContext.HTTP.Protocol = "HTTP/1.1"
	var out bytes.Buffer
	enc := json.NewEncoder(&out)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	err := enc.Encode(ev)
	return out.Bytes(), err
}
