package marketapi

import (
	"context"
	"encoding/json"
	"errors"
	"maps"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/guance/aliyun-marketplace/shared/domain/marketplace"
)

func TestNewValidatesConfig(t *testing.T) {
	for name, cfg := range map[string]Config{
		"no key":       {AccessKeySecret: "s"},
		"no secret":    {AccessKeyID: "k"},
		"bad scheme":   {Endpoint: "ftp://market.example", AccessKeyID: "k", AccessKeySecret: "s"},
		"bad endpoint": {Endpoint: "http://", AccessKeyID: "k", AccessKeySecret: "s"},
	} {
		if _, err := New(cfg); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	for _, endpoint := range []string{"", "127.0.0.1:3002", "https://market.ap-southeast-1.aliyuncs.com"} {
		if _, err := New(Config{Endpoint: endpoint, AccessKeyID: "k", AccessKeySecret: "s"}); err != nil {
			t.Errorf("endpoint %q: %v", endpoint, err)
		}
	}
}

func TestAPIErrorKeepsTheMessageOut(t *testing.T) {
	err := &APIError{Action: "DescribeInstanceForIsv", Status: 400, Code: "SignatureDoesNotMatch", RequestID: "R1",
		Message: "Specified signature is not matched with our calculation. server string to sign is:POST&%2F&AccessKeyId%3DLTAI5tEXAMPLE"}
	if got := err.Error(); strings.Contains(got, "LTAI5tEXAMPLE") || !strings.Contains(got, "SignatureDoesNotMatch") || !strings.Contains(got, "R1") {
		t.Fatalf("%q", got)
	}
}

// TestWhatAnAnswerMeans: an instance the marketplace does not know is an
// answer holding no record; every refusal, the documented ones
// (IllegalPermission 400, UnknownError 500) and any other code, is a
// marketplace that did not answer, never "no such purchase".
func TestWhatAnAnswerMeans(t *testing.T) {
	for _, tt := range []struct {
		name        string
		status      int
		body        string
		notFound    bool
		unavailable bool
		throttled   bool
	}{
		{"a record, ids as Long", 200, `{"InstanceId":5604018,"OrderId":205060317920890,"Status":"OPENED","ProductSkuCode":"s","EndOn":4070908800000,"RequestId":"r"}`, false, false, false},
		{"no record", 200, `{"RequestId":"r"}`, true, false, false},
		// Not found only from an answer of the OpenAPI itself (a RequestId):
		// an empty 200 is a proxy or a cut answer.
		{"an empty body", 200, ``, false, true, false},
		{"null", 200, `null`, false, true, false},
		{"an empty object", 200, `{}`, false, true, false},
		{"a zero record", 200, `{"InstanceId":0,"RequestId":"r"}`, true, false, false},
		{"another instance", 200, `{"InstanceId":1,"RequestId":"r"}`, false, true, false},
		{"not JSON", 200, `<html>`, false, true, false},
		{"IllegalPermission", 400, `{"Code":"IllegalPermission","Message":"m","RequestId":"r"}`, false, true, false},
		{"UnknownError", 500, `{"Code":"UnknownError","Message":"m","RequestId":"r"}`, false, true, false},
		{"a not-found code of no document", 404, `{"Code":"InstanceNotFound","Message":"m","RequestId":"r"}`, false, true, false},
		{"flow control", 400, `{"Code":"Service.Flow.Control","Message":"m","RequestId":"r"}`, false, true, true},
		{"throttling", 400, `{"Code":"Throttling.User","Message":"m","RequestId":"r"}`, false, true, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(tt.status)
				_, _ = w.Write([]byte(tt.body))
			}))
			defer srv.Close()
			c, err := New(Config{Endpoint: srv.URL, AccessKeyID: "k", AccessKeySecret: "s", Timeout: 2 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			inst, err := c.Describe(context.Background(), "5604018")
			if errors.Is(err, ErrNotFound) != tt.notFound || errors.Is(err, ErrUnavailable) != tt.unavailable || errors.Is(err, marketplace.ErrThrottled) != tt.throttled {
				t.Fatalf("err %v: not found %v, unavailable %v, throttled %v", err, errors.Is(err, ErrNotFound), errors.Is(err, ErrUnavailable), errors.Is(err, marketplace.ErrThrottled))
			}
			if err == nil && (inst.InstanceID != "5604018" || inst.OrderID != "205060317920890" || inst.EndOn.Year() != 2099) {
				t.Fatalf("record %+v", inst)
			}
		})
	}
}

// TestComponents: ComponentJson, documented as a string holding JSON, is
// read into the billable items (as an object too); values that are not
// text keep their JSON; anything unreadable is no components.
func TestComponents(t *testing.T) {
	for _, tt := range []struct {
		raw  string
		want map[string]string
	}{
		{`"{\"package_version\":\"yuncode000111\"}"`, map[string]string{"package_version": "yuncode000111"}},
		{`{"Count":"8","Num":3,"on":true}`, map[string]string{"Count": "8", "Num": "3", "on": "true"}},
		{`""`, nil},
		{`"not json"`, nil},
		{`null`, nil},
		{`[1]`, nil},
	} {
		if got := components(json.RawMessage(tt.raw)); !maps.Equal(got, tt.want) {
			t.Errorf("components(%s) = %v, want %v", tt.raw, got, tt.want)
		}
	}
}

// TestACallEndsWithItsContext: a marketplace that does not answer holds a
// caller no longer than its context.
func TestACallEndsWithItsContext(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-release }))
	defer srv.Close()
	defer close(release)
	c, _ := New(Config{Endpoint: srv.URL, AccessKeyID: "k", AccessKeySecret: "s", Timeout: 10 * time.Second})
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	if _, err := c.Describe(ctx, "1"); !errors.Is(err, ErrUnavailable) || !marketplace.Sent(err) {
		t.Fatalf("%v", err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("the call held its caller %v", took)
	}
}

// TestNoConnectionIsNotSent: a call that could not connect certainly did
// nothing (a metering push may go again).
func TestNoConnectionIsNotSent(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	addr := srv.URL
	srv.Close()
	c, _ := New(Config{Endpoint: addr, AccessKeyID: "k", AccessKeySecret: "s"})
	if err := c.PushMeteringData(context.Background(), "[]"); !errors.Is(err, ErrUnavailable) || marketplace.Sent(err) {
		t.Fatalf("%v: want unavailable and not sent", err)
	}
}

// TestConcurrentCalls: run with -race. The SDK's client is not safe for
// concurrent calls; ours is.
func TestConcurrentCalls(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(`{"InstanceId":1,"OrderId":2,"Status":"OPENED","RequestId":"r"}`))
	}))
	defer srv.Close()
	c, _ := New(Config{Endpoint: srv.URL, AccessKeyID: "k", AccessKeySecret: "s"})
	done := make(chan error, 8)
	for range 8 {
		go func() {
			_, err := c.Describe(context.Background(), "1")
			done <- err
		}()
	}
	for range 8 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
}
