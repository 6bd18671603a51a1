package ssmparam

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
)

var signedAt = time.Date(2026, 11, 26, 3, 0, 0, 0, time.UTC)

// fakeSSM answers GetParameters after checking the request the way SSM
// does: the target, the content type, and a SigV4 signature computed again
// here from the same credentials and time. fail, when set, answers a call
// first (a status and an error type) when it returns one.
func fakeSSM(t *testing.T, creds aws.Credentials, params map[string]string, calls *atomic.Int32, fail func(n int32) (int, string)) *httptest.Server {
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := calls.Add(1)
		body, _ := io.ReadAll(r.Body)
		if r.Header.Get("X-Amz-Target") != "AmazonSSM.GetParameters" || r.Header.Get("Content-Type") != "application/x-amz-json-1.1" {
			t.Errorf("headers %v", r.Header)
		}
		check, _ := http.NewRequest(r.Method, "http://"+r.Host+r.URL.Path, strings.NewReader(string(body)))
		check.Header.Set("Content-Type", r.Header.Get("Content-Type"))
		check.Header.Set("X-Amz-Target", r.Header.Get("X-Amz-Target"))
		sum := sha256.Sum256(body)
		if err := v4.NewSigner().SignHTTP(context.Background(), creds, check, hex.EncodeToString(sum[:]), "ssm", "ap-southeast-1", signedAt); err != nil {
			t.Fatal(err)
		}
		if got, want := r.Header.Get("Authorization"), check.Header.Get("Authorization"); got != want || !strings.Contains(got, "/ap-southeast-1/ssm/aws4_request") {
			w.WriteHeader(http.StatusBadRequest)
			_, _ = w.Write([]byte(`{"__type":"InvalidSignatureException","message":"nope"}`))
			return
		}
		if fail != nil {
			if status, code := fail(n); status != 0 {
				w.WriteHeader(status)
				_, _ = w.Write([]byte(`{"__type":"com.amazonaws.ssm#` + code + `","message":"x"}`))
				return
			}
		}
		var in struct {
			Names          []string
			WithDecryption bool
		}
		_ = json.Unmarshal(body, &in)
		if !in.WithDecryption || len(in.Names) > MaxNames {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		out := map[string]any{"Parameters": []any{}, "InvalidParameters": []string{}}
		for _, name := range in.Names {
			if v, ok := params[name]; ok {
				out["Parameters"] = append(out["Parameters"].([]any), map[string]any{"Name": name, "Type": "SecureString", "Value": v})
			} else {
				out["InvalidParameters"] = append(out["InvalidParameters"].([]string), name)
			}
		}
		_ = json.NewEncoder(w).Encode(out)
	}))
}

var testCreds = aws.Credentials{AccessKeyID: "AKIDEXAMPLE", SecretAccessKey: "secret", SessionToken: "session"}

func newStore(srv *httptest.Server) *Store {
	return &Store{
		Credentials: credentials.NewStaticCredentialsProvider(testCreds.AccessKeyID, testCreds.SecretAccessKey, testCreds.SessionToken),
		Region:      "ap-southeast-1", Endpoint: srv.URL, HTTP: srv.Client(), Now: func() time.Time { return signedAt },
		Sleep: func(context.Context, time.Duration) error { return nil },
	}
}

// TestSecureStrings: every name in one call; a missing one named; a
// wrong signature refused.
func TestSecureStrings(t *testing.T) {
	var calls atomic.Int32
	srv := fakeSSM(t, testCreds, map[string]string{"/app/isv-key": "k-123", "/app/code-secret": "c-456"}, &calls, nil)
	defer srv.Close()
	store := newStore(srv)
	got, err := store.SecureStrings(context.Background(), []string{"/app/isv-key", "/app/code-secret"})
	if err != nil || got["/app/isv-key"] != "k-123" || got["/app/code-secret"] != "c-456" || calls.Load() != 1 {
		t.Fatalf("got %v, %v in %d calls", got, err, calls.Load())
	}
	if v, err := store.SecureString(context.Background(), "/app/isv-key"); err != nil || v != "k-123" {
		t.Fatalf("one: %q %v", v, err)
	}
	// A name SSM does not have is left out; the others are read.
	got, err = store.SecureStrings(context.Background(), []string{"/app/isv-key", "/app/missing"})
	if _, has := got["/app/missing"]; err != nil || has || got["/app/isv-key"] != "k-123" {
		t.Fatalf("one missing of two: %v %v", got, err)
	}
	_, err = store.SecureString(context.Background(), "/app/missing")
	if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "/app/missing") {
		t.Fatalf("missing parameter: %v", err)
	}
	store.Credentials = credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "wrong", "session")
	var ssmErr *Error
	if _, err := store.SecureString(context.Background(), "/app/isv-key"); !errors.As(err, &ssmErr) || ssmErr.Code != "InvalidSignatureException" {
		t.Fatalf("wrong secret key: %v", err)
	}
}

// TestRetries: throttling and 5xx are tried again, Attempts times in all;
// a refusal that another attempt would not change is not.
func TestRetries(t *testing.T) {
	for _, tc := range []struct {
		name      string
		fail      func(n int32) (int, string)
		wantCalls int32
		wantCode  string
	}{
		{"throttled twice, then taken", func(n int32) (int, string) {
			if n <= 2 {
				return 400, "ThrottlingException"
			}
			return 0, ""
		}, 3, ""},
		{"5xx every time", func(int32) (int, string) { return 500, "InternalServerError" }, Attempts, "InternalServerError"},
		{"access denied at once", func(int32) (int, string) { return 400, "AccessDeniedException" }, 1, "AccessDeniedException"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var calls atomic.Int32
			srv := fakeSSM(t, testCreds, map[string]string{"/app/isv-key": "k-123"}, &calls, tc.fail)
			defer srv.Close()
			v, err := newStore(srv).SecureString(context.Background(), "/app/isv-key")
			var ssmErr *Error
			switch {
			case calls.Load() != tc.wantCalls:
				t.Fatalf("%d calls, want %d", calls.Load(), tc.wantCalls)
			case tc.wantCode == "" && (err != nil || v != "k-123"):
				t.Fatalf("%q %v", v, err)
			case tc.wantCode != "" && (!errors.As(err, &ssmErr) || ssmErr.Code != tc.wantCode):
				t.Fatalf("%v", err)
			}
		})
	}
}

func TestEndpoint(t *testing.T) {
	t.Setenv("AWS_ENDPOINT_URL_SSM", "")
	t.Setenv("AWS_ENDPOINT_URL", "")
	for region, want := range map[string]string{
		"ap-southeast-1": "https://ssm.ap-southeast-1.amazonaws.com",
		"cn-north-1":     "https://ssm.cn-north-1.amazonaws.com.cn",
		"cn-northwest-1": "https://ssm.cn-northwest-1.amazonaws.com.cn",
	} {
		if got := (&Store{Region: region}).endpoint(); got != want {
			t.Errorf("%s: %s, want %s", region, got, want)
		}
	}
}
