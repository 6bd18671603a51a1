// Package marketapi calls the Alibaba Cloud Market OpenAPI (version
// 2015-11-01) through the official SDK's generic request, which covers the
// *ForIsv actions that have no typed method.
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

	"github.com/aliyun/alibaba-cloud-sdk-go/sdk"
	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/auth/credentials"
	sdkerrors "github.com/aliyun/alibaba-cloud-sdk-go/sdk/errors"
	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/requests"

	"github.com/guance/aliyun-marketplace/shared/activation"
	"github.com/guance/aliyun-marketplace/shared/logging"
)

// Version is the Market OpenAPI version.
const Version = "2015-11-01"

// DefaultEndpoint is the Market OpenAPI endpoint.
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
// SDK's client is not (each call sets its HTTP client's timeout), so
// concurrent calls each borrow one of a pool of them.
type Client struct {
	idle    chan *sdk.Client
	newSDK  func() (*sdk.Client, error)
	scheme  string
	host    string
	timeout time.Duration
}

// maxIdleSDKClients bounds the SDK clients kept for reuse.
const maxIdleSDKClients = 16

func (c *Client) borrow() (*sdk.Client, error) {
	select {
	case client := <-c.idle:
		return client, nil
	default:
		return c.newSDK()
	}
}

func (c *Client) giveBack(client *sdk.Client) {
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
	newSDK := func() (*sdk.Client, error) {
		sdkConfig := sdk.NewConfig().WithTimeout(cfg.Timeout).WithAutoRetry(false)
		client, err := sdk.NewClientWithOptions(region, sdkConfig, credentials.NewAccessKeyCredential(cfg.AccessKeyID, cfg.AccessKeySecret))
		if err != nil {
			return nil, fmt.Errorf("market openapi: %w", err)
		}
		return client, nil
	}
	client, err := newSDK()
	if err != nil {
		return nil, err
	}
	c := &Client{idle: make(chan *sdk.Client, maxIdleSDKClients), newSDK: newSDK, scheme: u.Scheme, host: u.Host, timeout: cfg.Timeout}
	c.idle <- client
	return c, nil
}

// ErrNotFound means the marketplace knows no such instance or order. It is
// activation.ErrUnknownToMarket, so the domain can test for it without
// knowing this package.
var ErrNotFound = activation.ErrUnknownToMarket

// ErrUnavailable means the call failed without an answer (network,
// timeout): worth trying again later. It is activation.ErrMarketUnavailable.
var ErrUnavailable = activation.ErrMarketUnavailable

// CodeFlowControl is the OpenAPI's throttling error code: back off.
const CodeFlowControl = "Service.Flow.Control"

// APIError is an answer of the OpenAPI that refuses the call.
type APIError struct {
	Action    string
	Status    int
	Code      string
	Message   string
	RequestID string
}

// Error names the action, status, code and request id, not the message:
// the OpenAPI's messages can quote the string it signed, AccessKeyId
// included (SignatureDoesNotMatch), and errors end up in logs.
func (e *APIError) Error() string {
	return fmt.Sprintf("market openapi %s: %d %s (request %s)", e.Action, e.Status, e.Code, e.RequestID)
}

// Is makes errors.Is(err, ErrNotFound) true when the answer says the
// instance or order does not exist. Other not-found codes (an unknown
// access key, an unknown action) are configuration faults, not answers
// about the buyer's purchase.
func (e *APIError) Is(target error) bool {
	if target != ErrNotFound {
		return false
	}
	code := strings.ToLower(e.Code)
	about := strings.Contains(code, "instance") || strings.Contains(code, "order")
	missing := strings.Contains(code, "notfound") || strings.Contains(code, "not_exist") || strings.Contains(code, "notexist")
	return about && missing
}

// call runs one action and decodes its JSON answer into out. Numbers are
// kept as written (json.Number): UIDs and ids exceed what a float holds.
func (c *Client) call(ctx context.Context, action string, params map[string]string, out any) error {
	req := requests.NewCommonRequest()
	req.Method = http.MethodPost
	req.Scheme = c.scheme
	req.Domain = c.host
	req.Version = Version
	req.ApiName = action
	req.Product = "Market"
	req.QueryParams = params
	req.SetReadTimeout(c.timeout)
	req.SetConnectTimeout(c.timeout)

	type result struct {
		body []byte
		err  error
	}
	done := make(chan result, 1)
	go func() {
		client, err := c.borrow()
		if err != nil {
			done <- result{err: err}
			return
		}
		defer c.giveBack(client)
		resp, err := client.ProcessCommonRequest(req)
		if err != nil {
			done <- result{err: err}
			return
		}
		done <- result{body: resp.GetHttpContentBytes()}
	}()
	var res result
	select {
	case res = <-done:
	case <-ctx.Done():
		return fmt.Errorf("market openapi %s: %w: %w", action, ErrUnavailable, ctx.Err())
	}
	if res.err != nil {
		var server *sdkerrors.ServerError
		if errors.As(res.err, &server) {
			return &APIError{Action: action, Status: server.HttpStatus(), Code: server.ErrorCode(), Message: server.Message(), RequestID: server.RequestId()}
		}
		kind := transportKind(res.err)
		if strings.HasSuffix(kind, "connection refused") || strings.HasSuffix(kind, "name not resolved") {
			// No connection was made: the call certainly did nothing.
			return fmt.Errorf("market openapi %s: %w: %w (%s)", action, ErrUnavailable, ErrNotSent, kind)
		}
		return fmt.Errorf("market openapi %s: %w (%s)", action, ErrUnavailable, kind)
	}
	dec := json.NewDecoder(bytes.NewReader(res.body))
	dec.UseNumber()
	if err := dec.Decode(out); err != nil {
		return fmt.Errorf("market openapi %s: decode answer: %w", action, err)
	}
	return nil
}

// transportKind names a failure that got no answer, without its text: the
// SDK's message quotes the request URL, which carries the AccessKeyId and
// the signature.
func transportKind(err error) string {
	var client *sdkerrors.ClientError
	if errors.As(err, &client) {
		if origin := client.OriginError(); origin != nil {
			return client.ErrorCode() + ": " + logging.NetworkKind(origin)
		}
		return client.ErrorCode()
	}
	return logging.NetworkKind(err)
}

// Instance is what DescribeInstanceForIsv says of an instance.
type Instance struct {
	InstanceID  string
	OrderID     string
	ProductCode string
	SKU         string
	// Status is OPENING, OPENED, EXPIRED or CLOSED.
	Status string
	Trial  bool
	EndOn  time.Time // zero when not given
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

// DescribeInstance calls DescribeInstanceForIsv.
func (c *Client) DescribeInstance(ctx context.Context, instanceID string) (Instance, error) {
	var out struct {
		InstanceID     json.Number `json:"InstanceId"`
		OrderID        json.Number `json:"OrderId"`
		ProductCode    string      `json:"ProductCode"`
		ProductSkuCode string      `json:"ProductSkuCode"`
		Status         string      `json:"Status"`
		IsTrial        bool        `json:"IsTrial"`
		EndOn          json.Number `json:"EndOn"`
	}
	if err := c.call(ctx, "DescribeInstanceForIsv", map[string]string{"InstanceId": instanceID}, &out); err != nil {
		return Instance{}, err
	}
	if out.InstanceID == "" || out.OrderID == "" {
		return Instance{}, fmt.Errorf("market openapi DescribeInstanceForIsv %s: answer without instance or order id", instanceID)
	}
	inst := Instance{
		InstanceID: out.InstanceID.String(), OrderID: out.OrderID.String(), ProductCode: out.ProductCode,
		SKU: out.ProductSkuCode, Status: out.Status, Trial: out.IsTrial,
	}
	if ms, err := out.EndOn.Int64(); err == nil && ms > 0 {
		inst.EndOn = time.UnixMilli(ms).UTC()
	}
	return inst, nil
}

// DescribeOrder calls DescribeOrderForIsv.
func (c *Client) DescribeOrder(ctx context.Context, orderID string) (Order, error) {
	var out struct {
		OrderID        json.Number `json:"OrderId"`
		AliUID         json.Number `json:"AliUid"`
		OrderStatus    string      `json:"OrderStatus"`
		ProductCode    string      `json:"ProductCode"`
		ProductSkuCode string      `json:"ProductSkuCode"`
		InstanceIDs    []any       `json:"InstanceIds"`
	}
	if err := c.call(ctx, "DescribeOrderForIsv", map[string]string{"OrderId": orderID}, &out); err != nil {
		return Order{}, err
	}
	if out.AliUID == "" {
		return Order{}, fmt.Errorf("market openapi DescribeOrderForIsv %s: answer without AliUid", orderID)
	}
	order := Order{OrderID: out.OrderID.String(), AliUID: out.AliUID.String(), OrderStatus: out.OrderStatus, ProductCode: out.ProductCode, SKU: out.ProductSkuCode}
	for _, id := range out.InstanceIDs {
		order.InstanceIDs = append(order.InstanceIDs, fmt.Sprint(id))
	}
	return order, nil
}

// InstanceStatus is the instance's status now (DescribeInstanceForIsv).
func (c *Client) InstanceStatus(ctx context.Context, instanceID string) (activation.MarketStatus, error) {
	inst, err := c.DescribeInstance(ctx, instanceID)
	if err != nil {
		return "", err
	}
	return activation.MarketStatus(inst.Status), nil
}

// Record rebuilds what createInstance would have told us of the instance,
// from DescribeInstanceForIsv and DescribeOrderForIsv (for the UID).
func (c *Client) Record(ctx context.Context, instanceID string) (activation.MarketRecord, error) {
	inst, err := c.DescribeInstance(ctx, instanceID)
	if err != nil {
		return activation.MarketRecord{}, err
	}
	order, err := c.DescribeOrder(ctx, inst.OrderID)
	if err != nil {
		return activation.MarketRecord{}, err
	}
	if inst.InstanceID != instanceID || len(order.AliUID) != 16 || strings.Trim(order.AliUID, "0123456789") != "" {
		return activation.MarketRecord{}, fmt.Errorf("market openapi: an unusable record of instance %s: %w", instanceID, ErrUnavailable)
	}
	return activation.MarketRecord{
		InstanceID: instanceID, OrderID: inst.OrderID, AliUID: order.AliUID, ProductCode: inst.ProductCode,
		SKU: inst.SKU, Status: activation.MarketStatus(inst.Status), Trial: inst.Trial, EndOn: inst.EndOn,
	}, nil
}

// Notification is one marketplace notification whose SPI call failed every
// retry (DescribeFailedNotifications).
type Notification struct {
	// RequestID identifies it for ConfirmNotification.
	RequestID string
	Action    string
	// Message is the call's parameters: a query string, or a JSON object.
	Message   string
	CreatedAt time.Time
}

// FailedNotifications calls DescribeFailedNotifications for one page
// (from 1). total is how many unconfirmed ones there are in all.
func (c *Client) FailedNotifications(ctx context.Context, page, size int) (list []Notification, total int, err error) {
	var out struct {
		TotalCount       json.Number `json:"TotalCount"`
		NotificationList []struct {
			Action                string      `json:"Action"`
			CreateTime            json.Number `json:"CreateTime"`
			Message               string      `json:"Message"`
			NotificationRequestID string      `json:"NotificationRequestId"`
		} `json:"NotificationList"`
	}
	params := map[string]string{"PageNumber": strconv.Itoa(page), "PageSize": strconv.Itoa(size)}
	if err := c.call(ctx, "DescribeFailedNotifications", params, &out); err != nil {
		return nil, 0, err
	}
	for _, n := range out.NotificationList {
		item := Notification{RequestID: n.NotificationRequestID, Action: n.Action, Message: n.Message}
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
func (c *Client) ConfirmNotification(ctx context.Context, requestID string) error {
	var out struct {
		Success *bool `json:"Success"`
	}
	if err := c.call(ctx, "ConfirmNotification", map[string]string{"NotificationRequestId": requestID}, &out); err != nil {
		return err
	}
	if out.Success != nil && !*out.Success {
		return fmt.Errorf("market openapi ConfirmNotification %s: refused", requestID)
	}
	return nil
}

// Throttled reports whether err is the OpenAPI asking to slow down.
func Throttled(err error) bool {
	var api *APIError
	return errors.As(err, &api) && api.Code == CodeFlowControl
}

// PushMeteringData reports pay-as-you-go usage: metering is the JSON
// array of records (at most 100, all of one product). An answer with
// Success false is an *APIError with its code, like a refused call.
func (c *Client) PushMeteringData(ctx context.Context, metering string) error {
	var out struct {
		Success *bool  `json:"Success"`
		Code    string `json:"Code"`
	}
	if err := c.call(ctx, "PushMeteringData", map[string]string{"Metering": metering}, &out); err != nil {
		return err
	}
	if out.Success != nil && !*out.Success {
		return &APIError{Action: "PushMeteringData", Status: http.StatusOK, Code: out.Code}
	}
	return nil
}

// ErrNotSent marks a failed call that never reached the OpenAPI (no
// connection was made): it certainly did nothing.
var ErrNotSent = errors.New("the request was not sent")

// Wait waits d before a call is tried again after throttling, or less if
// ctx ends first (its error then).
func Wait(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Sent reports whether a failed call may have reached the OpenAPI: an
// answer came, or the failure came after a connection was made (a
// timeout waiting for the answer).
func Sent(err error) bool { return !errors.Is(err, ErrNotSent) }
