// Package simulator plays the Alibaba Cloud Marketplace against the local
// stack: it signs SPI calls with the ISV key and sends them to our endpoint,
// and serves a page from which a developer can do the same by hand.
package simulator

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/guance/aliyun-marketplace/shared/domain/marketplace"
)

// Sample ids a developer can recognise in logs and tables.
const (
	SampleUID         = "1234567890123456"
	SampleInstanceID  = "5604018"
	SampleProductCode = "cmgj00053362"
	SampleSKU         = "cmgj00053362-postpay"
)

// SampleParams returns plausible parameters for action on instance id, the
// way the marketplace would send them (without the token). Order ids grow
// with the clock, like the marketplace's, so later calls carry newer orders.
func SampleParams(action marketplace.Action, instanceID string, now time.Time) marketplace.Params {
	order := fmt.Sprintf("2%014d", now.UnixMilli()%1e14)
	switch action {
	case marketplace.ActionCreateInstance:
		return marketplace.Params{
			"action": string(action), "aliUid": SampleUID, "orderBizId": instanceID, "orderId": order,
			"productCode": SampleProductCode, "skuId": SampleSKU, "trial": "false",
			"expiredOn": "2099-01-01 00:00:00",
		}
	case marketplace.ActionRenewInstance:
		return marketplace.Params{"action": string(action), "instanceId": instanceID, "orderId": order, "expiredOn": "2100-01-01 00:00:00"}
	case marketplace.ActionUpgradeInstance:
		return marketplace.Params{"action": string(action), "instanceId": instanceID, "orderId": order, "skuId": SampleSKU}
	case marketplace.ActionReleaseInstance:
		return marketplace.Params{"action": string(action), "instanceId": instanceID, "isRefund": "false"}
	case marketplace.ActionRefundRenewInstance:
		return marketplace.Params{"action": string(action), "instanceId": instanceID, "expiredOn": "2099-01-01 00:00:00"}
	case marketplace.ActionResumeInstance:
		return marketplace.Params{"action": string(action), "instanceId": instanceID, "productCode": SampleProductCode, "skuId": SampleSKU}
	case marketplace.ActionOrderPay:
		return marketplace.Params{
			"action": string(action), "requestId": fmt.Sprintf("%032x", now.UnixNano()), "orderBizId": instanceID,
			"aliUid": SampleUID, "orderId": order, "productCode": SampleProductCode, "skuId": SampleSKU,
		}
	}
	return marketplace.Params{"action": string(action), "instanceId": instanceID}
}

// Client sends signed SPI calls, as the marketplace does.
type Client struct {
	SPIURL string
	Key    string
	HTTP   *http.Client
}

// Exchange is one call and its answer, for display.
type Exchange struct {
	Method string
	URL    string
	Body   string
	Status int
	Answer string
}

// Call signs params and sends them: as a query string (GET) or, with post,
// as a form body. Params that already hold a token are sent as they are,
// so a developer can see how a bad token is refused.
func (c *Client) Call(ctx context.Context, params marketplace.Params, post bool) (Exchange, error) {
	signed := params
	if _, given := params[marketplace.TokenParam]; !given {
		signed = params.Signed(c.Key)
	}
	ex := Exchange{Method: http.MethodGet, URL: c.SPIURL + "?" + signed.Encode()}
	var body io.Reader
	if post {
		ex.Method, ex.URL, ex.Body = http.MethodPost, c.SPIURL, signed.Encode()
		body = strings.NewReader(ex.Body)
	}
	req, err := http.NewRequestWithContext(ctx, ex.Method, ex.URL, body)
	if err != nil {
		return ex, err
	}
	if post {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	client := c.HTTP
	if client == nil {
		client = &http.Client{Timeout: 30 * time.Second}
	}
	resp, err := client.Do(req)
	if err != nil {
		return ex, fmt.Errorf("call %s: %w", c.SPIURL, err)
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	ex.Status, ex.Answer = resp.StatusCode, strings.TrimSpace(string(answer))
	return ex, err
}

// ParseAssignments reads name=value arguments into params.
func ParseAssignments(params marketplace.Params, args []string) error {
	for _, a := range args {
		name, value, ok := strings.Cut(a, "=")
		if !ok || name == "" {
			return fmt.Errorf("%q is not name=value", a)
		}
		if value == "" {
			delete(params, name) // name= removes a parameter, to try a call without it
			continue
		}
		params[name] = value
	}
	return nil
}

// SortedNames returns the names of params in order, for stable display.
func SortedNames(params marketplace.Params) []string {
	names := make([]string, 0, len(params))
	for n := range params {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
