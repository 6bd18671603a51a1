package simulator

import (
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/guance/aliyun-marketplace/shared/adapters/marketapi"
	"github.com/guance/aliyun-marketplace/shared/domain/activation"
	"github.com/guance/aliyun-marketplace/shared/domain/marketplace/marketplacetest"
)

// TestOpenAPIWithTheOfficialSDK drives the simulator's OpenAPI with our
// client over the official V2.0 SDK: the V3 signature matches, answers
// decode, and the failures come back typed.
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
	inst, err := client.Describe(ctx, bought.InstanceID)
	if err != nil {
		t.Fatal(err)
	}
	if inst.InstanceID != bought.InstanceID || inst.OrderID != bought.OrderID || inst.Status != activation.MarketOpening || inst.SKU != SampleSKU || inst.EndOn.Year() != 2099 {
		t.Fatalf("instance %+v", inst)
	}
	order, err := client.DescribeOrder(ctx, inst.OrderID)
	if err != nil {
		t.Fatal(err)
	}
	if order.AliUID != SampleUID || len(order.InstanceIDs) != 1 || order.InstanceIDs[0] != bought.InstanceID {
		t.Fatalf("order %+v (a 16-digit UID must survive decoding exactly)", order)
	}
	// An 11-digit UID, as the docs' own failed notification has.
	short := market.Buy("12211222211", time.Now())
	if rec, err := client.Record(ctx, short.InstanceID); err != nil || rec.AliUID != "12211222211" {
		t.Fatalf("record of an 11-digit UID's purchase: %+v %v", rec, err)
	}

	// An instance the marketplace does not know: an answer with no record.
	if _, err := client.Describe(ctx, "1"); !errors.Is(err, marketapi.ErrNotFound) || errors.Is(err, marketapi.ErrUnavailable) {
		t.Fatalf("unknown instance: %v, want ErrNotFound", err)
	}
	if _, err := client.Record(ctx, "1"); !errors.Is(err, marketapi.ErrNotFound) {
		t.Fatalf("record of an unknown instance: %v, want ErrNotFound", err)
	}
	wrongSecret, _ := marketapi.New(marketapi.Config{Endpoint: srv.URL, AccessKeyID: "ak", AccessKeySecret: "other"})
	var apiErr *marketapi.APIError
	if _, err := wrongSecret.Describe(ctx, bought.InstanceID); !errors.As(err, &apiErr) || apiErr.Code != "SignatureDoesNotMatch" {
		t.Fatalf("wrong secret: %v", err)
	}
	wrongKey, _ := marketapi.New(marketapi.Config{Endpoint: srv.URL, AccessKeyID: "nobody", AccessKeySecret: "sk"})
	if _, err := wrongKey.Describe(ctx, bought.InstanceID); !errors.As(err, &apiErr) || apiErr.Code != "InvalidAccessKeyId.NotFound" ||
		errors.Is(err, marketapi.ErrNotFound) || !errors.Is(err, marketapi.ErrUnavailable) {
		t.Fatalf("wrong key: %v (a refusal is a marketplace that did not answer, never an unknown purchase)", err)
	}

	// Failed notifications: the documented JSON, listed and confirmed.
	n, _ := market.QueueFailed(bought.InstanceID, time.Now())
	list, total, err := client.FailedNotifications(ctx, 1, 10)
	if err != nil || total != 1 || list[0].ID != n.ID || list[0].Action != "orderPay" || strings.Contains(list[0].Message, "token") || strings.Contains(list[0].Message, "requestId") {
		t.Fatalf("failed notifications: %+v %d %v", list, total, err)
	}
	if err := client.ConfirmNotification(ctx, n.ID); err != nil {
		t.Fatal(err)
	}
	if err := client.ConfirmNotification(ctx, n.ID); err == nil {
		t.Fatal("a notification confirmed twice")
	}

	srv.Close()
	if _, err := client.Describe(ctx, bought.InstanceID); !errors.Is(err, marketapi.ErrUnavailable) {
		t.Fatalf("server down: %v, want ErrUnavailable", err)
	}
}

// TestOpenAPIRefusesForgedAndReplayedSignatures: a V3-signed request
// changed after signing, replayed, or dated far off is refused.
func TestOpenAPIRefusesForgedAndReplayedSignatures(t *testing.T) {
	market := NewMarket()
	bought := market.Buy(SampleUID, time.Now())
	var last *http.Request
	var lastBody string
	api := &OpenAPI{Market: market, AccessKeyID: "ak", AccessKeySecret: "sk"}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b := make([]byte, r.ContentLength)
		_, _ = r.Body.Read(b)
		last, lastBody = r.Clone(context.Background()), string(b)
		r.Body = readCloser(lastBody)
		api.ServeHTTP(w, r)
	}))
	defer srv.Close()
	client, _ := marketapi.New(marketapi.Config{Endpoint: srv.URL, AccessKeyID: "ak", AccessKeySecret: "sk"})
	if _, err := client.Describe(context.Background(), bought.InstanceID); err != nil {
		t.Fatal(err)
	}
	send := func(body string, change func(h http.Header)) int {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/", strings.NewReader(body))
		for k, v := range last.Header {
			req.Header[k] = v
		}
		change(req.Header)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	forged := url.Values{"InstanceId": {"999"}}.Encode()
	for name, tt := range map[string]struct {
		body   string
		change func(h http.Header)
	}{
		"replayed as it was": {lastBody, func(http.Header) {}},
		"body changed":       {forged, func(http.Header) {}},
		"action changed":     {lastBody, func(h http.Header) { h.Set("x-acs-action", "DescribeOrderForIsv") }},
		"unsigned header":    {lastBody, func(h http.Header) { h.Set("x-acs-extra", "1") }},
		"old date":           {lastBody, func(h http.Header) { h.Set("x-acs-date", "2020-01-01T00:00:00Z") }},
	} {
		if status := send(tt.body, tt.change); status < 400 {
			t.Errorf("%s: taken (%d)", name, status)
		}
	}
}

type stringBody struct{ *strings.Reader }

func (stringBody) Close() error { return nil }

func readCloser(s string) stringBody { return stringBody{strings.NewReader(s)} }

// TestPushMeteringDataAsDocumented: the documented example (with its
// instance and times moved to a purchase and a closed hour) is taken;
// numbers where strings belong, a key the docs do not name, a missing or
// unlisted meteringAssit are refused with Invalid.Parameter.Metering.
func TestPushMeteringDataAsDocumented(t *testing.T) {
	example := marketplacetest.Load().Metering.Example
	at := time.Date(2026, 11, 26, 21, 40, 0, 0, time.UTC)
	window := strconv.FormatInt(time.Date(2026, 11, 26, 20, 0, 0, 0, time.UTC).Unix(), 10)
	end := strconv.FormatInt(time.Date(2026, 11, 26, 21, 0, 0, 0, time.UTC).Unix(), 10)
	for _, tt := range []struct {
		name, record string
		listing      map[string]string
		want         string
	}{
		{"the documented example", example, nil, ""},
		{"listed", example, map[string]string{"cmapi00060317-PeriodMin-4": "PeriodMin"}, ""},
		{"a meteringAssit not in the listing", example, map[string]string{"cmapi00060317-PeriodMin-5": "PeriodMin"}, "Invalid.Parameter.Metering"},
		{"numbers where strings belong", strings.Replace(example, `"Value":"96"`, `"Value":96`, 1), nil, "Invalid.Parameter.Metering"},
		{"a time as a number", strings.Replace(example, `"StartTime":"100000000"`, `"StartTime":100000000`, 1), nil, "Invalid.Parameter.Metering"},
		{"a key of our own", strings.Replace(example, `"Key":"PeriodMin"`, `"Key":"HostCount"`, 1), nil, "Invalid.Parameter.Metering"},
		{"no meteringAssit", strings.Replace(example, `,"meteringAssit":"cmapi00060317-PeriodMin-4"`, "", 1), nil, "Invalid.Parameter.Metering"},
		{"a negative value", strings.Replace(example, `"Value":"96"`, `"Value":"-1"`, 1), nil, "Invalid.Parameter.Metering"},
		{"not an array", `{"InstanceId":"1"}`, nil, "Invalid.Parameter.Metering"},
		{"no Metering at all", ``, nil, "Invalid.Parameter.Metering"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			market := NewMarket()
			market.SetListing(tt.listing)
			bought := market.Buy(SampleUID, at.Add(-3*time.Hour))
			record := strings.NewReplacer(`"InstanceId":"1000001"`, `"InstanceId":"`+bought.InstanceID+`"`,
				`"100000000"`, `"`+window+`"`, `"100000010"`, `"`+end+`"`, `:100000000`, `:`+window).Replace(tt.record)
			if code, _ := market.pushMetering(record, at); code != tt.want {
				t.Fatalf("code %q, want %q for %s", code, tt.want, record)
			}
			if tt.want == "" && market.Billed(bought.InstanceID)["PeriodMin"] != 96 {
				t.Fatalf("billed %v", market.Billed(bought.InstanceID))
			}
		})
	}
}

// TestOpenAPIRPCSignature: the older RPC signature (HMAC-SHA1 in the
// parameters) is taken once; the same signed request again (its
// SignatureNonce used), a changed parameter or a wrong secret is refused.
func TestOpenAPIRPCSignature(t *testing.T) {
	market := NewMarket()
	bought := market.Buy(SampleUID, time.Now())
	srv := httptest.NewServer(&OpenAPI{Market: market, AccessKeyID: "ak", AccessKeySecret: "sk"})
	defer srv.Close()
	sign := func(secret string, params url.Values) url.Values {
		names := make([]string, 0, len(params))
		for name := range params {
			names = append(names, name)
		}
		sort.Strings(names)
		pairs := make([]string, len(names))
		for i, name := range names {
			pairs[i] = rpcEncode(name) + "=" + rpcEncode(params.Get(name))
		}
		mac := hmac.New(sha1.New, []byte(secret+"&"))
		mac.Write([]byte("POST&%2F&" + rpcEncode(strings.Join(pairs, "&"))))
		signed := url.Values{}
		for k, v := range params {
			signed[k] = v
		}
		signed.Set("Signature", base64.StdEncoding.EncodeToString(mac.Sum(nil)))
		return signed
	}
	params := func(nonce string) url.Values {
		return url.Values{"Action": {"DescribeInstanceForIsv"}, "Version": {"2015-11-01"}, "AccessKeyId": {"ak"},
			"SignatureMethod": {"HMAC-SHA1"}, "SignatureVersion": {"1.0"}, "SignatureNonce": {nonce},
			"Timestamp": {time.Now().UTC().Format("2006-01-02T15:04:05Z")}, "Format": {"JSON"}, "InstanceId": {bought.InstanceID}}
	}
	post := func(form url.Values) int {
		resp, err := http.PostForm(srv.URL+"/", form)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	first := sign("sk", params("n-1"))
	if status := post(first); status != http.StatusOK {
		t.Fatalf("a well-signed RPC call: %d", status)
	}
	changed := sign("sk", params("n-2"))
	changed.Set("InstanceId", "999")
	for name, form := range map[string]url.Values{
		"replayed (nonce used)": first,
		"changed after signing": changed,
		"wrong secret":          sign("other", params("n-3")),
		"no nonce":              sign("sk", params("")),
	} {
		if status := post(form); status < 400 {
			t.Errorf("%s: taken (%d)", name, status)
		}
	}
}
