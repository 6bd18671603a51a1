package marketplace

import (
	"encoding/json"
	"errors"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
)

type tokenVector struct {
	Name      string  `json:"name"`
	Method    string  `json:"method"`
	Key       string  `json:"key"`
	Valid     bool    `json:"valid"`
	Canonical string  `json:"canonical"`
	Token     *string `json:"token"`
	Query     string  `json:"query"`
	Body      string  `json:"body"`
}

func loadVectors(t testing.TB) []tokenVector {
	t.Helper()
	raw, err := os.ReadFile("testdata/spi-token-vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		Cases []tokenVector `json:"cases"`
	}
	if err := json.Unmarshal(raw, &file); err != nil {
		t.Fatal(err)
	}
	if len(file.Cases) == 0 {
		t.Fatal("no vectors")
	}
	return file.Cases
}

func TestTokenVectors(t *testing.T) {
	for _, v := range loadVectors(t) {
		t.Run(v.Name, func(t *testing.T) {
			req := httptest.NewRequest(v.Method, "/aliyun/spi?"+v.Query, strings.NewReader(v.Body))
			if v.Body != "" {
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			}
			params, err := ReadParams(req)
			if err != nil {
				t.Fatalf("ReadParams: %v", err)
			}
			err = VerifyToken(params, v.Key)
			if got := err == nil; got != v.Valid {
				t.Fatalf("VerifyToken valid=%v (err %v), want %v", got, err, v.Valid)
			}
			if v.Valid {
				if got := Canonical(params, v.Key); got != v.Canonical {
					t.Errorf("Canonical\n got %s\nwant %s", got, v.Canonical)
				}
				if got := Sign(params, v.Key); got != *v.Token {
					t.Errorf("Sign = %s, want %s", got, *v.Token)
				}
			}
		})
	}
}

func TestVerifyTokenRules(t *testing.T) {
	base := Params{"action": "expiredInstance", "instanceId": "5604018"}
	signed := base.Signed("k1")
	tests := []struct {
		name   string
		params Params
		key    string
		want   error
	}{
		{"valid", signed, "k1", nil},
		{"upper-case hex accepted", with(signed, TokenParam, strings.ToUpper(signed[TokenParam])), "k1", nil},
		{"wrong key", signed, "k2", ErrTokenMismatch},
		{"missing token", base, "k1", ErrMissingToken},
		{"empty token", with(base, TokenParam, ""), "k1", ErrMissingToken},
		{"added parameter", with(signed, "extra", "1"), "k1", ErrTokenMismatch},
		{"truncated token", with(signed, TokenParam, signed[TokenParam][:31]), "k1", ErrTokenMismatch},
		{"empty key does not verify a token made with a key", signed, "", ErrTokenMismatch},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := VerifyToken(tt.params, tt.key); err != tt.want {
				t.Fatalf("VerifyToken = %v, want %v", err, tt.want)
			}
		})
	}
}

func with(p Params, name, value string) Params {
	out := Params{}
	for k, v := range p {
		out[k] = v
	}
	out[name] = value
	return out
}

func TestReadParams(t *testing.T) {
	tests := []struct {
		name        string
		method      string
		query       string
		body        string
		contentType string
		want        Params
		wantErr     string
	}{
		{name: "query only", method: "GET", query: "a=1&b=x%20y", want: Params{"a": "1", "b": "x y"}},
		{name: "form body and query merge", method: "POST", query: "a=1", body: "b=2&c=%3A", contentType: "application/x-www-form-urlencoded; charset=UTF-8", want: Params{"a": "1", "b": "2", "c": ":"}},
		{name: "plus is a space in a form", method: "POST", body: "t=2099-01-01+00%3A00%3A00", contentType: "application/x-www-form-urlencoded", want: Params{"t": "2099-01-01 00:00:00"}},
		{name: "empty POST body", method: "POST", query: "a=1", want: Params{"a": "1"}},
		{name: "body ignored on GET", method: "GET", query: "a=1", body: "b=2", want: Params{"a": "1"}},
		{name: "duplicate in query", method: "GET", query: "a=1&a=2", wantErr: "parameter a: given more than once"},
		{name: "duplicate across query and body", method: "POST", query: "a=1", body: "a=1", contentType: "application/x-www-form-urlencoded", wantErr: "parameter a: given more than once"},
		{name: "bad escape", method: "GET", query: "a=%zz", wantErr: "not valid URL encoding"},
		{name: "JSON body refused", method: "POST", body: `{"a":1}`, contentType: "application/json", wantErr: ErrUnsupportedBody.Error()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest(tt.method, "/aliyun/spi?"+tt.query, strings.NewReader(tt.body))
			if tt.contentType != "" {
				req.Header.Set("Content-Type", tt.contentType)
			}
			got, err := ReadParams(req)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
			for k, v := range tt.want {
				if got[k] != v {
					t.Fatalf("got %v, want %v", got, tt.want)
				}
			}
		})
	}
}

// FuzzReadAndVerify feeds arbitrary query strings and bodies through the
// parser and the checker: neither may panic, a call signed by Signed must
// verify, and changing any value must break the token.
func FuzzReadAndVerify(f *testing.F) {
	for _, v := range loadVectors(f) {
		f.Add(v.Query, v.Body)
	}
	f.Add("a=%", "b=&&c")
	f.Add("", "token=x")
	f.Fuzz(func(t *testing.T, query, body string) {
		req := httptest.NewRequest("POST", "/aliyun/spi", strings.NewReader(body))
		req.URL.RawQuery = query
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		params, err := ReadParams(req)
		if err != nil {
			return
		}
		_ = VerifyToken(params, "fuzz-key")
		_, _ = Decode(params)

		signed := params.Signed("fuzz-key")
		if err := VerifyToken(signed, "fuzz-key"); err != nil {
			t.Fatalf("a freshly signed call does not verify: %v", err)
		}
		for name := range signed {
			if name == TokenParam {
				continue
			}
			tampered := with(signed, name, signed[name]+"x")
			if VerifyToken(tampered, "fuzz-key") == nil {
				t.Fatalf("changing %s kept the token valid", name)
			}
			break
		}
	})
}

func BenchmarkVerifyToken(b *testing.B) {
	params := Params{
		"action": "createInstance", "aliUid": "1234567890123456", "orderBizId": "5604018",
		"orderId": "205060317920890", "productCode": "cmgj00053362", "skuId": "cmgj00053362-postpay",
		"trial": "false", "expiredOn": "2099-01-01 00:00:00",
	}.Signed("bench-key")
	b.ReportAllocs()
	for b.Loop() {
		if err := VerifyToken(params, "bench-key"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkReadParams(b *testing.B) {
	query := loadVectors(b)[0].Query
	b.ReportAllocs()
	for b.Loop() {
		req := httptest.NewRequest("GET", "/aliyun/spi?"+query, nil)
		if _, err := ReadParams(req); err != nil {
			b.Fatal(err)
		}
	}
}

func TestVerifyTokenOf(t *testing.T) {
	p := Params{"action": "renewInstance", "instanceId": "5604018"}
	signed := p.Signed("old")
	for _, tc := range []struct {
		keys  []string
		which int
		err   error
	}{
		{[]string{"new", "old"}, 1, nil},
		{[]string{"old", "new"}, 0, nil},
		{[]string{"new", ""}, -1, ErrTokenMismatch},
		{[]string{"", "old"}, 1, nil},
		{nil, -1, ErrTokenMismatch},
	} {
		which, err := VerifyTokenOf(signed, tc.keys...)
		if which != tc.which || !errors.Is(err, tc.err) {
			t.Errorf("keys %q: %d %v, want %d %v", tc.keys, which, err, tc.which, tc.err)
		}
	}
	if _, err := VerifyTokenOf(p, "old"); !errors.Is(err, ErrMissingToken) {
		t.Errorf("unsigned: %v", err)
	}
}
