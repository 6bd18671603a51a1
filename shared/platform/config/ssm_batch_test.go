package config_test

// Batching every *_PARAMETER into one GetParameters call must not make an
// optional or lazily used parameter a dependency of every secret of the
// function: SSM answers a name it does not hold under InvalidParameters,
// and only the secret that names it fails.

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/guance/aliyun-marketplace/shared/adapters/ssmparam"
	"github.com/guance/aliyun-marketplace/shared/platform/config"
)

// ssmLike answers GetParameters as SSM does: names it does not hold come
// back under InvalidParameters (HTTP 200).
func ssmLike(t *testing.T, have map[string]string) *ssmparam.Store {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var in struct{ Names []string }
		_ = json.Unmarshal(body, &in)
		out := map[string]any{"Parameters": []map[string]string{}, "InvalidParameters": []string{}}
		for _, n := range in.Names {
			if v, ok := have[n]; ok {
				out["Parameters"] = append(out["Parameters"].([]map[string]string), map[string]string{"Name": n, "Value": v})
			} else {
				out["InvalidParameters"] = append(out["InvalidParameters"].([]string), n)
			}
		}
		_ = json.NewEncoder(w).Encode(out)
	}))
	t.Cleanup(srv.Close)
	return &ssmparam.Store{
		Credentials: credentials.NewStaticCredentialsProvider("AKID", "SECRET", ""),
		Region:      "ap-southeast-1", Endpoint: srv.URL, HTTP: srv.Client(), Now: time.Now,
	}
}

// TestAMisnamedPreviousKeyStopsNothing: the callback function during a rotation whose previous-key parameter
// name has a typo: the current key exists, yet Get("MARKET_ISV_KEY")
// fails, so the SPI function cannot start at all.
func TestAMisnamedPreviousKeyStopsNothing(t *testing.T) {
	store := ssmLike(t, map[string]string{
		"/gm/prod/isv-key-2": "new-key", "/gm/prod/ak-id": "ak", "/gm/prod/ak-secret": "sk",
	})
	s := config.FromMap(map[string]string{
		"MARKET_ISV_KEY_PARAMETER":           "/gm/prod/isv-key-2",
		"MARKET_ISV_KEY_PREVIOUS_PARAMETER":  "/gm/prod/isv-kye", // typo
		"MARKET_ACCESS_KEY_ID_PARAMETER":     "/gm/prod/ak-id",
		"MARKET_ACCESS_KEY_SECRET_PARAMETER": "/gm/prod/ak-secret",
	}).Secrets(store)
	if _, err := s.Get(context.Background(), "MARKET_ISV_KEY"); err != nil {
		t.Fatalf("the current ISV key, which exists, is not read: %v", err)
	}
}

// TestTheAccessKeyIsNoStartDependency: the callback reads the Market OpenAPI AccessKey lazily ("asked only about
// a contested freeze or resume"): a missing AccessKey parameter must not
// stop the SPI from verifying tokens.
func TestTheAccessKeyIsNoStartDependency(t *testing.T) {
	store := ssmLike(t, map[string]string{"/gm/prod/isv-key": "key"})
	s := config.FromMap(map[string]string{
		"MARKET_ISV_KEY_PARAMETER":           "/gm/prod/isv-key",
		"MARKET_ACCESS_KEY_ID_PARAMETER":     "/gm/prod/ak-id",
		"MARKET_ACCESS_KEY_SECRET_PARAMETER": "/gm/prod/ak-secret",
	}).Secrets(store)
	if _, err := s.Get(context.Background(), "MARKET_ISV_KEY"); err != nil {
		t.Fatalf("the ISV key is not read because of the lazily used AccessKey: %v", err)
	}
}
