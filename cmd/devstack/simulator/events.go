package simulator

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/guance/aliyun-marketplace/cmd/devstack/gateway"
	"github.com/guance/aliyun-marketplace/cmd/devstack/lambdaevent"
	"github.com/guance/aliyun-marketplace/shared/domain/marketplace"
)

// SampleEvent is one file of events/: a payload 2.0 event as API Gateway
// would deliver a marketplace call or a buyer's request.
type SampleEvent struct {
	File string
	// Function is the logical id that serves it; empty: the SPI callback.
	Function string
	// Path defaults to the SPI endpoint.
	Path   string
	Post   bool
	Params marketplace.Params
	// Unsigned events carry the token as given in Params (or none).
	Unsigned bool
	// Status is what the SPI answers when the events are replayed in order.
	Status int
	// Trigger is how the event comes: "" is an HTTP request through API
	// Gateway; "schedule" an EventBridge schedule (Schedule names it);
	// "stream" a DynamoDB stream batch of the ids in Params["ids"].
	Trigger  string
	Schedule string
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
		// Login Without Password links carry a timeStamp, so a stored sample
		// is always out of its window: it shows the expired-link page.
		// `marketsim verify-event` prints a fresh one.
		{File: "sso-verify-expired.json", Function: "SsoRedirectFunction", Path: "/aliyun/sso",
			Params: marketplace.VerifyParams(id, time.Date(2026, 1, 1, 4, 0, 0, 0, time.UTC)), Status: 410},
		{File: "activate-without-session.json", Function: "SsoRedirectFunction", Path: "/activate", Unsigned: true, Status: 401},
		// A code can only be asked for inside an activation session.
		{File: "send-code-without-session.json", Function: "VerificationCodeFunction", Path: "/verification-codes", Post: true, Unsigned: true,
			Params: marketplace.Params{"address": "buyer@example.com", "purpose": "register", "lang": "en"}, Status: 401},
		// Registration's pages need an activation session.
		{File: "register-without-session.json", Function: "RegistrationFunction", Path: "/register/basic", Unsigned: true, Status: 401},
		// So do the binding pages.
		{File: "bind-billing-without-session.json", Function: "BillingBindFunction", Path: "/bind/billing", Unsigned: true, Status: 401},
		{File: "bind-workspace-without-session.json", Function: "WorkspaceBindFunction", Path: "/bind/workspace", Unsigned: true, Status: 401},
		// The outbox: a stream batch naming a mail that is not (or no
		// longer) there, which is skipped.
		{File: "outbox-stream.json", Function: "OutboxFunction", Trigger: "stream", Params: marketplace.Params{"ids": "mail#sample-that-is-gone"}},
		// The reconciliation's schedule.
		{File: "reconcile-schedule.json", Function: "ReconcileFunction", Trigger: "schedule", Schedule: "Schedule"},
		// The metering's schedule.
		{File: "metering-schedule.json", Function: "MeteringFunction", Trigger: "schedule", Schedule: "Schedule"},
	}
}

// FunctionID is the logical id of the function that serves the event.
func (s SampleEvent) FunctionID() string {
	if s.Function == "" {
		return "MarketplaceCallbackFunction"
	}
	return s.Function
}

// sampleTime is the fixed time of every sample, so the files change only
// when the samples do.
var sampleTime = time.Date(2026, 11, 26, 3, 20, 0, 0, time.UTC)

// Event renders a sample as the JSON file content, signed with key. Ids and
// times are fixed, so the files change only when the samples do.
func (s SampleEvent) Event(key string) ([]byte, error) {
	switch s.Trigger {
	case "schedule":
		return indent(lambdaevent.Scheduled(s.FunctionID(), s.Schedule, "sample-"+strings.TrimSuffix(s.File, ".json"), sampleTime))
	case "stream":
		var inserts []lambdaevent.StreamInsert
		for i, id := range strings.Split(s.Params["ids"], ",") {
			inserts = append(inserts, lambdaevent.StreamInsert{EventID: fmt.Sprintf("sample-%d", i+1), Sequence: lambdaevent.Sequence(int64(i + 1)), Keys: lambdaevent.IDKey(id)})
		}
		return indent(lambdaevent.Stream("OutboxTable", sampleTime, inserts...))
	}
	params := s.Params
	if !s.Unsigned {
		params = params.Signed(key)
	}
	path := s.Path
	if path == "" {
		path = "/aliyun/spi"
	}
	var req *http.Request
	var body []byte
	if s.Post {
		body = []byte(params.Encode())
		req = httptest.NewRequest(http.MethodPost, path, strings.NewReader(string(body)))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	} else {
		req = httptest.NewRequest(http.MethodGet, path+"?"+params.Encode(), nil)
		if len(params) == 0 {
			req.URL.RawQuery = ""
		}
	}
	req.Host = "abcdef1234.execute-api.us-east-1.amazonaws.com"
	req.RemoteAddr = "198.51.100.7:41234"
	req.Header.Set("User-Agent", "AlibabaCloud-Marketplace")
	req.Header.Set("X-Forwarded-Proto", "https")
	ev := gateway.BuildEvent(req, req.Method+" "+path, nil, body)
	ev.RequestContext.RequestID = "sample-" + strings.TrimSuffix(s.File, ".json")
	ev.RequestContext.Time = "26/Nov/2026:03:20:00 +0000"
	ev.RequestContext.TimeEpoch = 1795576800000
	ev.RequestContext.APIID = "abcdef1234"
	ev.RequestContext.HTTP.Protocol = "HTTP/1.1"
	return indent(ev)
}

// indent writes an event the way the files keep it: two-space indent, no
// HTML escaping (query strings keep their &).
func indent(v any) ([]byte, error) {
	var out bytes.Buffer
	enc := json.NewEncoder(&out)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	err := enc.Encode(v)
	return out.Bytes(), err
}
