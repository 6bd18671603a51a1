package gateway

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
)

func TestMatchPath(t *testing.T) {
	tests := []struct {
		pattern, path string
		want          map[string]string
		ok            bool
	}{
		{"/aliyun/spi", "/aliyun/spi", map[string]string{}, true},
		{"/aliyun/spi", "/aliyun/spi/", map[string]string{}, true},
		{"/aliyun/spi", "/aliyun", nil, false},
		{"/aliyun/spi", "/aliyun/spi/x", nil, false},
		{"/items/{id}", "/items/42", map[string]string{"id": "42"}, true},
		{"/static/{proxy+}", "/static/css/site.css", map[string]string{"proxy": "css/site.css"}, true},
		{"/static/{proxy+}", "/static", nil, false},
	}
	for _, tt := range tests {
		got, ok := matchPath(tt.pattern, tt.path)
		if ok != tt.ok || (ok && !reflect.DeepEqual(got, tt.want)) {
			t.Errorf("matchPath(%q, %q) = %v, %v; want %v, %v", tt.pattern, tt.path, got, ok, tt.want, tt.ok)
		}
	}
}

func TestBuildEvent(t *testing.T) {
	req := httptest.NewRequest(http.MethodPost, "/aliyun/spi?a=1&b=x%20y", nil)
	req.Host = "127.0.0.1:3000"
	req.RemoteAddr = "127.0.0.1:5555"
	req.Header.Add("Cookie", "session=abc; lang=en")
	req.Header.Add("Accept-Language", "zh-CN")
	req.Header.Add("X-Multi", "1")
	req.Header.Add("X-Multi", "2")
	ev := BuildEvent(req, "POST /aliyun/spi", nil, []byte{0xff, 0x00})

	if ev.Version != "2.0" || ev.RawPath != "/aliyun/spi" || ev.RawQueryString != "a=1&b=x%20y" {
		t.Fatalf("path/query: %+v", ev)
	}
	if !reflect.DeepEqual(ev.Cookies, []string{"session=abc", "lang=en"}) {
		t.Errorf("cookies %v", ev.Cookies)
	}
	if _, ok := ev.Headers["cookie"]; ok {
		t.Error("cookies must not stay in the headers")
	}
	if ev.Headers["accept-language"] != "zh-CN" || ev.Headers["x-multi"] != "1,2" || ev.Headers["x-forwarded-proto"] != "http" {
		t.Errorf("headers %v", ev.Headers)
	}
	if ev.QueryStringParameters["b"] != "x y" || ev.RequestContext.HTTP.SourceIP != "127.0.0.1" || ev.RequestContext.DomainName != "127.0.0.1:3000" {
		t.Errorf("event %+v", ev)
	}
	if !ev.IsBase64Encoded || ev.Body != "/wA=" {
		t.Errorf("binary body: %q base64=%v", ev.Body, ev.IsBase64Encoded)
	}
}

func TestWriteResponseCookies(t *testing.T) {
	rec := httptest.NewRecorder()
	err := WriteResponse(rec, events.APIGatewayV2HTTPResponse{
		StatusCode: 303,
		Headers:    map[string]string{"Location": "/next"},
		Cookies:    []string{"a=1; HttpOnly", "b=2; Secure"},
		Body:       "aGk=", IsBase64Encoded: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	if rec.Code != 303 || rec.Header().Get("Location") != "/next" || rec.Body.String() != "hi" {
		t.Fatalf("got %d %v %q", rec.Code, rec.Header(), rec.Body.String())
	}
	if got := rec.Header().Values("Set-Cookie"); !reflect.DeepEqual(got, []string{"a=1; HttpOnly", "b=2; Secure"}) {
		t.Fatalf("Set-Cookie %v", got)
	}
}

type fakeInvoker struct {
	answer  string
	fnError bool
	got     events.APIGatewayV2HTTPRequest
}

func (f *fakeInvoker) Invoke(_ context.Context, payload []byte) ([]byte, bool, error) {
	_ = json.Unmarshal(payload, &f.got)
	return []byte(f.answer), f.fnError, nil
}

func TestGatewayRouting(t *testing.T) {
	ok := &fakeInvoker{answer: `{"statusCode":201,"headers":{"Content-Type":"text/plain"},"body":"made"}`}
	broken := &fakeInvoker{answer: `{"errorMessage":"boom","errorType":"Panic"}`, fnError: true}
	g := New([]Route{
		{Method: "GET", Path: "/aliyun/spi", Function: "Spi", Invoker: ok},
		{Method: "POST", Path: "/aliyun/spi", Function: "Spi", Invoker: ok},
		{Method: "ANY", Path: "/broken", Function: "Broken", Invoker: broken},
	}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	tests := []struct {
		method, path string
		status       int
		body         string
	}{
		{"GET", "/aliyun/spi?x=1", 201, "made"},
		{"POST", "/aliyun/spi", 201, "made"},
		{"PUT", "/aliyun/spi", 405, "Method Not Allowed"},
		{"GET", "/nowhere", 404, "Not Found"},
		{"DELETE", "/broken", 500, "Internal Server Error"},
	}
	for _, tt := range tests {
		rec := httptest.NewRecorder()
		g.ServeHTTP(rec, httptest.NewRequest(tt.method, tt.path, strings.NewReader("")))
		if rec.Code != tt.status || !strings.Contains(rec.Body.String(), tt.body) {
			t.Errorf("%s %s: %d %q, want %d %q", tt.method, tt.path, rec.Code, rec.Body.String(), tt.status, tt.body)
		}
	}
	if ok.got.RouteKey != "POST /aliyun/spi" {
		t.Errorf("route key %q", ok.got.RouteKey)
	}
}

// TestMostSpecificRouteWins: a catch-all route never shadows a real one,
// whatever the order, as API Gateway chooses.
func TestMostSpecificRouteWins(t *testing.T) {
	g := New([]Route{
		{Method: "ANY", Path: "/{proxy+}", Function: "catchAll"},
		{Method: "ANY", Path: "/", Function: "root"},
		{Method: "GET", Path: "/aliyun/spi", Function: "spiGet"},
		{Method: "POST", Path: "/aliyun/spi", Function: "spiPost"},
		{Method: "ANY", Path: "/items/{id}", Function: "item"},
		{Method: "GET", Path: "/items/new", Function: "newItem"},
	}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	for _, tt := range []struct{ method, path, want string }{
		{"GET", "/aliyun/spi", "spiGet"},
		{"POST", "/aliyun/spi", "spiPost"},
		{"PUT", "/aliyun/spi", "catchAll"},
		{"GET", "/items/new", "newItem"},
		{"GET", "/items/7", "item"},
		{"GET", "/register", "catchAll"},
		{"GET", "/a/b/c", "catchAll"},
		{"GET", "/", "root"},
	} {
		rt, _, _ := g.match(tt.method, tt.path)
		if rt == nil || rt.Function != tt.want {
			t.Errorf("%s %s went to %v, want %s", tt.method, tt.path, rt, tt.want)
		}
	}
}
