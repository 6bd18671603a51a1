// Package marketapi calls the Alibaba Cloud Market OpenAPI (version
// 2015-11-01) through the official V2.0 SDK's generic CallApi
// (github.com/alibabacloud-go/darabonba-openapi/v2), which covers the
// *ForIsv actions without the generated market-20151101 client.
//
// What an answer means is decided here, from what the documentation
// shows of it: the only documented errors of these actions are
// IllegalPermission (400) and UnknownError (500), so an instance or order
// the marketplace does not know is read from an answer that holds no
// record (no InstanceId, no AliUid), and every refusal or failure is "the
// marketplace did not answer", never "no such purchase".
package marketapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	openapi "github.com/alibabacloud-go/darabonba-openapi/v2/client"
	openapiutil "github.com/alibabacloud-go/darabonba-openapi/v2/utils"
	"github.com/alibabacloud-go/tea/dara"

	"github.com/guance/aliyun-marketplace/shared/domain/activation"
	"github.com/guance/aliyun-marketplace/shared/domain/marketplace"
	"github.com/guance/aliyun-marketplace/shared/platform/logging"
)

// Version is the Market OpenAPI version.
const Version = "2015-11-01"

// DefaultEndpoint is the Market OpenAPI endpoint of the China site; the
// international site's is market.ap-southeast-1.aliyuncs.com.
const DefaultEndpoint = "https://market.aliyuncs.com"

// Config says where and as whom to call.
type Config struct {
	// Endpoint is a URL (https://market.aliyuncs.com) or a bare host.
	Endpoint        string
	Region          string
	AccessKeyID     string
	AccessKeySecret string
	// Timeout bounds each call, connection included.
	Timeout time.Duration
}

// Client calls the Market OpenAPI. It is safe for concurrent use: the
// SDK's client is not (an RPC call reads and clears a field of it), so
// concurrent calls each borrow one of a pool of them.
type Client struct {
	idle    chan *openapi.Client
	newSDK  func() (*openapi.Client, error)
	timeout time.Duration
}

// maxIdleSDKClients bounds the SDK clients kept for reuse.
const maxIdleSDKClients = 16

func (c *Client) borrow() (*openapi.Client, error) {
	select {
	case client := <-c.idle:
		return client, nil
	default:
		return c.newSDK()
	}
}

func (c *Client) giveBack(client *openapi.Client) {
	select {
	case c.idle <- client:
	default: // enough kept
	}
}

// New returns a client for cfg.
func New(cfg Config) (*Client, error) {
	if cfg.AccessKeyID == "" || cfg.AccessKeySecret == "" {
		return nil, errors.New("market openapi: access key id and secret are required")
	}
	endpoint := cfg.Endpoint
	if endpoint == "" {
		endpoint = DefaultEndpoint
	}
	if !strings.Contains(endpoint, "://") {
		endpoint = "https://" + endpoint
	}
	u, err := url.Parse(endpoint)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return nil, fmt.Errorf("market openapi: bad endpoint %q", cfg.Endpoint)
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 5 * time.Second
	}
	region := cfg.Region
	if region == "" {
		region = "cn-hangzhou"
	}
	ms := int(cfg.Timeout.Milliseconds())
	// One HTTP client of our own for every call: the SDK's default one is
	// shared process-wide and rewritten on each call (a data race), and
	// builds a transport a call (no connection reuse).
	transport := http.DefaultTransport.(*http.Transport).Clone()
	doer := httpDoer{client: &http.Client{Timeout: cfg.Timeout, Transport: transport}}
	newSDK := func() (*openapi.Client, error) {
		client, err := openapi.NewClient(&openapiutil.Config{
			AccessKeyId: dara.String(cfg.AccessKeyID), AccessKeySecret: dara.String(cfg.AccessKeySecret),
			Endpoint: dara.String(u.Host), Protocol: dara.String(u.Scheme), RegionId: dara.String(region),
			ReadTimeout: dara.Int(ms), ConnectTimeout: dara.Int(ms), HttpClient: doer,
		})
		if err != nil {
			return nil, fmt.Errorf("market openapi: %w", errorKindOnly(err))
		}
		// Errors as the SDK's typed ClientError, ServerError and
		// ThrottlingError rather than one flattened SDKError.
		client.DisableSDKError = dara.Bool(true)
		return client, nil
	}
	client, err := newSDK()
	if err != nil {
		return nil, err
	}
	c := &Client{idle: make(chan *openapi.Client, maxIdleSDKClients), newSDK: newSDK, timeout: cfg.Timeout}
	c.idle <- client
	return c, nil
}

// httpDoer makes the SDK's HTTP calls with our client.
type httpDoer struct{ client *http.Client }

// Call sends req; the SDK's per-call transport is not used.
func (d httpDoer) Call(req *http.Request, _ *http.Transport) (*http.Response, error) {
	return d.client.Do(req)
}

// ErrNotFound means the marketplace's answer holds no such instance or
// order. It is activation.ErrUnknownToMarket, so the domain can test for
// it without knowing this package.
var ErrNotFound = activation.ErrUnknownToMarket

// ErrUnavailable means the call got no usable answer (network, timeout,
// a refusal, an answer that cannot be read): worth asking again later.
// It is activation.ErrMarketUnavailable.
var ErrUnavailable = activation.ErrMarketUnavailable

// APIError is an answer of the OpenAPI that refuses the call
// (marketplace.APIError). It counts as ErrUnavailable too: a refusal says
// nothing about the buyer's purchase.
type APIError = marketplace.APIError

// ErrNotSent marks a call that certainly did nothing (marketplace.ErrNotSent).
var ErrNotSent = marketplace.ErrNotSent

// refused wraps an OpenAPI refusal so that it is also ErrUnavailable: no
// documented error code means "no such instance" (the documented ones are
// IllegalPermission and UnknownError), so a refused call is a marketplace
// that did not answer.
func refused(api *APIError) error { return fmt.Errorf("%w: %w", ErrUnavailable, api) }

// params are the action's parameters, sent as a signed form body (POST):
// PushMeteringData's records would not fit a URL.
type params map[string]string

// call runs one action and decodes its JSON answer into out. Numbers are
// kept as written (json.Number): UIDs and ids exceed what a float holds.
func (c *Client) call(ctx context.Context, action string, in params, out any) error {
	body := make(map[string]any, len(in))
	for k, v := range in {
		body[k] = v
	}
	spec := &openapiutil.Params{
		Action: dara.String(action), Version: dara.String(Version), Protocol: dara.String("HTTPS"),
		Pathname: dara.String("/"), Method: dara.String("POST"), AuthType: dara.String("AK"),
		Style: dara.String("RPC"), ReqBodyType: dara.String("formData"), BodyType: dara.String("json"),
	}
	ms := int(c.timeout.Milliseconds())
	runtime := &dara.RuntimeOptions{ReadTimeout: dara.Int(ms), ConnectTimeout: dara.Int(ms), Autoretry: dara.Bool(false)}

	// The SDK's transport does not stop when ctx ends: the call runs
	// apart, bounded by its own timeouts, and ctx bounds the wait.
	type result struct {
		answer map[string]any
		err    error
	}
	done := make(chan result, 1)
	go func() {
		client, err := c.borrow()
		if err != nil {
			done <- result{err: fmt.Errorf("%w: %w", ErrNotSent, err)}
			return
		}
		defer c.giveBack(client)
		answer, err := client.CallApiWithCtx(context.WithoutCancel(ctx), spec, &openapiutil.OpenApiRequest{Body: body}, runtime)
		done <- result{answer, err}
	}()
	var res result
	select {
	case res = <-done:
	case <-ctx.Done():
		return fmt.Errorf("market openapi %s: %w: %w", action, ErrUnavailable, ctx.Err())
	}
	if res.err != nil {
		return classify(action, res.err)
	}
	raw, err := json.Marshal(res.answer["body"])
	if err != nil {
		return fmt.Errorf("market openapi %s: %w: encode answer: %w", action, ErrUnavailable, err)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(out); err != nil {
		return fmt.Errorf("market openapi %s: %w: decode answer: %w", action, ErrUnavailable, err)
	}
	return nil
}

// classify turns the SDK's error into an *APIError (the OpenAPI answered
// with a refusal) or an ErrUnavailable that says whether the request could
// have been sent, without the SDK's text: it can quote the request.
func classify(action string, err error) error {
	var (
		client     *openapi.ClientError
		server     *openapi.ServerError
		throttling *openapi.ThrottlingError
	)
	answered := func(status *int, code, message, request *string) error {
		return refused(&APIError{Action: action, Status: dara.IntValue(status), Code: dara.StringValue(code), Message: dara.StringValue(message), RequestID: dara.StringValue(request)})
	}
	switch {
	case errors.As(err, &throttling):
		return answered(throttling.StatusCode, throttling.Code, throttling.Message, throttling.RequestId)
	case errors.As(err, &client) && client.StatusCode != nil:
		return answered(client.StatusCode, client.Code, client.Message, client.RequestId)
	case errors.As(err, &server) && server.StatusCode != nil:
		return answered(server.StatusCode, server.Code, server.Message, server.RequestId)
	}
	kind := logging.NetworkKind(err)
	if strings.HasSuffix(kind, "connection refused") || strings.HasSuffix(kind, "name not resolved") {
		// No connection was made: the call certainly did nothing.
		return fmt.Errorf("market openapi %s: %w: %w (%s)", action, ErrUnavailable, ErrNotSent, kind)
	}
	return fmt.Errorf("market openapi %s: %w (%s)", action, ErrUnavailable, kind)
}

// errorKindOnly keeps an SDK error's kind and drops its text.
func errorKindOnly(err error) error { return errors.New(logging.NetworkKind(err)) }

// absent is the verdict on an answer without the record asked for: "not
// found" only from an answer of the OpenAPI itself, which always carries
// a RequestId; an empty 200 (a proxy, a truncated body) is a marketplace
// that did not answer.
func absent(action, id, requestID string) error {
	if requestID == "" {
		return fmt.Errorf("market openapi %s %s: %w: an answer without a RequestId", action, id, ErrUnavailable)
	}
	return fmt.Errorf("market openapi %s %s: %w", action, id, ErrNotFound)
}

// components reads ComponentJson: documented as a string holding a flat
// JSON object (taken as the object itself too). A value that is not text
// is kept as its JSON; anything unreadable is no components at all (the
// SKU alone then speaks).
func components(raw json.RawMessage) map[string]string {
	var text string
	if json.Unmarshal(raw, &text) == nil {
		raw = json.RawMessage(text)
	}
	var fields map[string]json.RawMessage
	if json.Unmarshal(raw, &fields) != nil || len(fields) == 0 {
		return nil
	}
	out := make(map[string]string, len(fields))
	for name, value := range fields {
		var text string
		if json.Unmarshal(value, &text) == nil {
			out[name] = text
			continue
		}
		out[name] = string(value)
	}
	return out
}

// Describe calls DescribeInstanceForIsv. An answer without the instance
// (no InstanceId, or another one) is ErrNotFound; the documented answer of
// a known instance always carries it.
func (c *Client) Describe(ctx context.Context, instanceID string) (activation.MarketInstance, error) {
	var out struct {
		RequestID      string          `json:"RequestId"`
		InstanceID     json.Number     `json:"InstanceId"`
		OrderID        json.Number     `json:"OrderId"`
		ProductCode    string          `json:"ProductCode"`
		ProductSkuCode string          `json:"ProductSkuCode"`
		Status         string          `json:"Status"`
		IsTrial        bool            `json:"IsTrial"`
		EndOn          json.Number     `json:"EndOn"`
		ComponentJSON  json.RawMessage `json:"ComponentJson"`
	}
	if err := c.call(ctx, "DescribeInstanceForIsv", params{"InstanceId": instanceID}, &out); err != nil {
		return activation.MarketInstance{}, err
	}
	switch id := out.InstanceID.String(); {
	case id == "" || id == "0":
		return activation.MarketInstance{}, absent("DescribeInstanceForIsv", instanceID, out.RequestID)
	case id != instanceID:
		return activation.MarketInstance{}, fmt.Errorf("market openapi DescribeInstanceForIsv %s: %w: the answer is about another instance", instanceID, ErrUnavailable)
	}
	inst := activation.MarketInstance{
		InstanceID: out.InstanceID.String(), OrderID: out.OrderID.String(), ProductCode: out.ProductCode,
		SKU: out.ProductSkuCode, Status: activation.MarketStatus(out.Status), Trial: out.IsTrial,
		Components: components(out.ComponentJSON),
	}
	if ms, err := out.EndOn.Int64(); err == nil && ms > 0 {
		inst.EndOn = time.UnixMilli(ms).UTC()
	}
	return inst, nil
}

// Order is what DescribeOrderForIsv says of an order.
type Order struct {
	OrderID     string
	AliUID      string
	OrderStatus string
	ProductCode string
	SKU         string
	InstanceIDs []string
}

// DescribeOrder calls DescribeOrderForIsv. An answer without the buyer
// (no AliUid) is ErrNotFound.
func (c *Client) DescribeOrder(ctx context.Context, orderID string) (Order, error) {
	var out struct {
		RequestID      string      `json:"RequestId"`
		OrderID        json.Number `json:"OrderId"`
		AliUID         json.Number `json:"AliUid"`
		OrderStatus    string      `json:"OrderStatus"`
		ProductCode    string      `json:"ProductCode"`
		ProductSkuCode string      `json:"ProductSkuCode"`
		InstanceIDs    []any       `json:"InstanceIds"`
	}
	if err := c.call(ctx, "DescribeOrderForIsv", params{"OrderId": orderID}, &out); err != nil {
		return Order{}, err
	}
	if uid := out.AliUID.String(); uid == "" || uid == "0" {
		return Order{}, absent("DescribeOrderForIsv", orderID, out.RequestID)
	}
	order := Order{OrderID: out.OrderID.String(), AliUID: out.AliUID.String(), OrderStatus: out.OrderStatus, ProductCode: out.ProductCode, SKU: out.ProductSkuCode}
	for _, id := range out.InstanceIDs {
		order.InstanceIDs = append(order.InstanceIDs, fmt.Sprint(id))
	}
	return order, nil
}

// Record rebuilds what createInstance would have told us of the instance,
// from DescribeInstanceForIsv and DescribeOrderForIsv (for the UID). An
// instance the marketplace knows whose order it cannot describe is a
// marketplace that did not answer, never an unknown purchase.
func (c *Client) Record(ctx context.Context, instanceID string) (activation.MarketRecord, error) {
	inst, err := c.Describe(ctx, instanceID)
	if err != nil {
		return activation.MarketRecord{}, err
	}
	order, err := c.DescribeOrder(ctx, inst.OrderID)
	if errors.Is(err, ErrNotFound) {
		err = fmt.Errorf("%w: the order of a known instance is not described", ErrUnavailable)
	}
	if err != nil {
		return activation.MarketRecord{}, err
	}
	if !marketplace.ValidUID(order.AliUID) || !marketplace.ValidID(inst.OrderID) {
		return activation.MarketRecord{}, fmt.Errorf("market openapi: an unusable record of instance %s: %w", instanceID, ErrUnavailable)
	}
	return activation.MarketRecord{
		InstanceID: instanceID, OrderID: inst.OrderID, AliUID: order.AliUID, ProductCode: inst.ProductCode,
		SKU: inst.SKU, Status: inst.Status, Trial: inst.Trial, EndOn: inst.EndOn,
	}, nil
}

// FailedNotifications calls DescribeFailedNotifications for one page
// (from 1). total is how many unconfirmed ones there are in all.
func (c *Client) FailedNotifications(ctx context.Context, page, size int) (list []marketplace.FailedNotification, total int, err error) {
	var out struct {
		TotalCount       json.Number `json:"TotalCount"`
		NotificationList []struct {
			Action                string      `json:"Action"`
			CreateTime            json.Number `json:"CreateTime"`
			Message               string      `json:"Message"`
			NotificationRequestID string      `json:"NotificationRequestId"`
		} `json:"NotificationList"`
	}
	if err := c.call(ctx, "DescribeFailedNotifications", params{"PageNumber": strconv.Itoa(page), "PageSize": strconv.Itoa(size)}, &out); err != nil {
		return nil, 0, err
	}
	for _, n := range out.NotificationList {
		item := marketplace.FailedNotification{ID: n.NotificationRequestID, Action: n.Action, Message: n.Message}
		if ms, err := n.CreateTime.Int64(); err == nil && ms > 0 {
			item.CreatedAt = time.UnixMilli(ms).UTC()
		}
		list = append(list, item)
	}
	count, _ := out.TotalCount.Int64()
	return list, int(count), nil
}

// ConfirmNotification tells the marketplace a failed notification was
// applied: it is not listed again.
func (c *Client) ConfirmNotification(ctx context.Context, id string) error {
	var out struct {
		Success *bool `json:"Success"`
	}
	if err := c.call(ctx, "ConfirmNotification", params{"NotificationRequestId": id}, &out); err != nil {
		return err
	}
	if out.Success != nil && !*out.Success {
		return fmt.Errorf("market openapi ConfirmNotification %s: %w: refused", id, ErrUnavailable)
	}
	return nil
}

// PushMeteringData reports pay-as-you-go usage: metering is the JSON
// array of records (at most 100, all of one product). An answer with
// Success false is an *APIError with its code, like a refused call.
func (c *Client) PushMeteringData(ctx context.Context, metering string) error {
	var out struct {
		Success *bool  `json:"Success"`
		Code    string `json:"Code"`
	}
	if err := c.call(ctx, "PushMeteringData", params{"Metering": metering}, &out); err != nil {
		return err
	}
	if out.Success != nil && !*out.Success {
		return refused(&APIError{Action: "PushMeteringData", Status: 200, Code: out.Code})
	}
	return nil
}
