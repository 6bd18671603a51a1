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
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
)

var signedAt = time.Date(2026, 11, 26, 3, 0, 0, 0, time.UTC)

// fakeSSM answers GetParameter after checking the request the way SSM
// does: the target, the content type, and a SigV4 signature computed again
// here from the same credentials and time.
func fakeSSM(t *testing.T, creds aws.Credentials, params map[string]string) *httptest.Server {
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if r.Header.Get("X-Amz-Target") != "AmazonSSM.GetParameter" || r.Header.Get("Content-Type") != "application/x-amz-json-1.1" {
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
		var in struct {
			Name           string
			WithDecryption bool
		}
		_ = json.Unmarshal(body, &in)
		v, ok := params[in.Name]
		if !ok || !in.WithDecryption {
			w.WriteHeader(http.StatusBadRequest)
			_, _ = w.Write([]byte(`{"__type":"com.amazonaws.ssm#ParameterNotFound","message":"Parameter ` + in.Name + ` not found."}`))
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"Parameter": map[string]any{"Name": in.Name, "Type": "SecureString", "Value": v}})
	}))
}

func TestSecureString(t *testing.T) {
	creds := aws.Credentials{AccessKeyID: "AKIDEXAMPLE", SecretAccessKey: "secret", SessionToken: "session"}
	srv := fakeSSM(t, creds, map[string]string{"/app/isv-key": "k-123"})
	defer srv.Close()
	store := &Store{
		Credentials: credentials.NewStaticCredentialsProvider(creds.AccessKeyID, creds.SecretAccessKey, creds.SessionToken),
		Region:      "ap-southeast-1", Endpoint: srv.URL, HTTP: srv.Client(), Now: func() time.Time { return signedAt },
	}
	got, err := store.SecureString(context.Background(), "/app/isv-key")
	if err != nil || got != "k-123" {
		t.Fatalf("got %q, %v", got, err)
	}
	_, err = store.SecureString(context.Background(), "/app/missing")
	var ssmErr *Error
	if !errors.As(err, &ssmErr) || ssmErr.Code != "ParameterNotFound" || strings.Contains(err.Error(), "/app/missing") {
		t.Fatalf("missing parameter: %v", err)
	}
	store.Credentials = credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "wrong", "session")
	if _, err := store.SecureString(context.Background(), "/app/isv-key"); !errors.As(err, &ssmErr) || ssmErr.Code != "InvalidSignatureException" {
		t.Fatalf("wrong secret key: %v", err)
	}
}
