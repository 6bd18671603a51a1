package function

import (
	"context"
	"net/http"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/guance/aliyun-marketplace/shared/platform/logging"
)

func TestHandlerAdaptsPayload2(t *testing.T) {
	var gotID, gotAPIID, gotQuery, gotCookie, gotHost string
	h := HTTPHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotID = logging.RequestID(r.Context())
		gotAPIID = logging.APIRequestID(r.Context())
		gotQuery = r.URL.Query().Get("a")
		gotHost = r.Host
		if c, err := r.Cookie("s"); err == nil {
			gotCookie = c.Value
		}
		http.SetCookie(w, &http.Cookie{Name: "s", Value: "2", HttpOnly: true})
		w.WriteHeader(http.StatusTeapot)
		_, _ = w.Write([]byte("ok"))
	}))
	ctx := lambdacontext.NewContext(context.Background(), &lambdacontext.LambdaContext{AwsRequestID: "lambda-req"})
	resp, err := h(ctx, events.APIGatewayV2HTTPRequest{
		RawPath: "/x", RawQueryString: "a=1", Cookies: []string{"s=1"},
		RequestContext: events.APIGatewayV2HTTPRequestContext{
			DomainName: "api.example.com",
			RequestID:  "api-req",
			HTTP:       events.APIGatewayV2HTTPRequestContextHTTPDescription{Method: "GET", Path: "/x"},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusTeapot || resp.Body != "ok" {
		t.Fatalf("response %+v", resp)
	}
	if gotID != "lambda-req" || gotAPIID != "api-req" || gotQuery != "1" || gotCookie != "1" || gotHost != "api.example.com" {
		t.Fatalf("request seen as id=%q query=%q cookie=%q host=%q", gotID, gotQuery, gotCookie, gotHost)
	}
	if len(resp.Cookies) != 1 || resp.Cookies[0] != "s=2; HttpOnly" {
		t.Fatalf("cookies %v", resp.Cookies)
	}
}
