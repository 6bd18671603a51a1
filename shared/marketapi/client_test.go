package marketapi

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
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
	c, err := New(Config{AccessKeyID: "k", AccessKeySecret: "s"})
	if err != nil || c.scheme != "https" || c.host != "market.aliyuncs.com" {
		t.Fatalf("default endpoint: %+v %v", c, err)
	}
	c, _ = New(Config{Endpoint: "127.0.0.1:3002", AccessKeyID: "k", AccessKeySecret: "s"})
	if c.scheme != "https" || c.host != "127.0.0.1:3002" {
		t.Fatalf("bare host: %+v", c)
	}
}

func TestNotFoundIsAboutThePurchase(t *testing.T) {
	tests := map[string]bool{
		"InstanceNotFound":            true,
		"ORDER_NOT_EXIST":             true,
		"InvalidInstanceId.NotExist":  true,
		"InvalidAccessKeyId.NotFound": false,
		"InvalidAction.NotFound":      false,
		"Throttling":                  false,
	}
	for code, want := range tests {
		if got := errors.Is(&APIError{Code: code, Status: 404}, ErrNotFound); got != want {
			t.Errorf("%s: %v, want %v", code, got, want)
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

// TestWait: a wait ends when its time is up, or early with the context's
// error when the context ends first.
func TestWait(t *testing.T) {
	if err := Wait(context.Background(), time.Millisecond); err != nil {
		t.Fatalf("a wait that ran out: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := Wait(ctx, time.Hour); !errors.Is(err, context.Canceled) {
		t.Fatalf("a wait whose context ended: %v", err)
	}
}
