// Package gateway is a local stand-in for API Gateway HTTP APIs: it routes
// requests by the template's HttpApi events and turns each into a payload
// 2.0 event for the function, and the function's answer back into HTTP.
package gateway

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-lambda-go/events"
)

// Invoker runs one invocation of a function.
type Invoker interface {
	Invoke(ctx context.Context, payload []byte) (payload2 []byte, functionError bool, err error)
}

// Route sends requests matching Method and Path to a function.
type Route struct {
	Method   string // upper case, or ANY
	Path     string // as in the template: /a/{id}/{proxy+}
	Function string
	Invoker  Invoker
}

// Gateway routes HTTP requests to functions.
type Gateway struct {
	Routes []Route
	Log    *slog.Logger
	// MaxBody is API Gateway's payload limit.
	MaxBody int64
}

// New returns a gateway for routes.
func New(routes []Route, log *slog.Logger) *Gateway {
	return &Gateway{Routes: routes, Log: log, MaxBody: 10 << 20}
}

func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	route, params, methodMismatch := g.match(r.Method, r.URL.Path)
	if route == nil {
		status := http.StatusNotFound
		if methodMismatch {
			status = http.StatusMethodNotAllowed // API Gateway answers 404 here; 405 helps a developer more
		}
		writeMessage(w, status, http.StatusText(status))
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, g.MaxBody+1))
	if err != nil || int64(len(body)) > g.MaxBody {
		writeMessage(w, http.StatusRequestEntityTooLarge, "Request Entity Too Large")
		return
	}
	event := BuildEvent(r, route.Method+" "+route.Path, params, body)
	payload, err := json.Marshal(event)
	if err != nil {
		writeMessage(w, http.StatusInternalServerError, "Internal Server Error")
		return
	}
	start := time.Now()
	answer, functionError, err := route.Invoker.Invoke(r.Context(), payload)
	if err != nil || functionError {
		g.Log.Error("function failed", "function", route.Function, "error", errString(err), "answer", string(answer))
		writeMessage(w, http.StatusInternalServerError, "Internal Server Error")
		return
	}
	var resp events.APIGatewayV2HTTPResponse
	if err := json.Unmarshal(answer, &resp); err != nil || resp.StatusCode == 0 {
		g.Log.Error("function answered no payload 2.0 response", "function", route.Function, "answer", string(answer))
		writeMessage(w, http.StatusInternalServerError, "Internal Server Error")
		return
	}
	if err := WriteResponse(w, resp); err != nil {
		g.Log.Error("bad function response", "function", route.Function, "error", err.Error())
		return
	}
	g.Log.Info("request", "method", r.Method, "path", r.URL.Path, "status", resp.StatusCode, "function", route.Function, "ms", time.Since(start).Milliseconds())
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func writeMessage(w http.ResponseWriter, status int, message string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"message": message})
}

// match finds the route for method and path, with its path parameters.
// Like API Gateway, the most specific route wins whatever the order of
// the template: literal segments over {variables} over a greedy {proxy+},
// and a route's own method over ANY.
func (g *Gateway) match(method, path string) (*Route, map[string]string, bool) {
	methodMismatch := false
	var best *Route
	var bestParams map[string]string
	bestScore := -1
	for i := range g.Routes {
		rt := &g.Routes[i]
		params, ok := matchPath(rt.Path, path)
		if !ok {
			continue
		}
		if rt.Method != "ANY" && rt.Method != method {
			methodMismatch = true
			continue
		}
		if score := specificity(*rt); score > bestScore {
			best, bestParams, bestScore = rt, params, score
		}
	}
	if best == nil {
		return nil, nil, methodMismatch
	}
	return best, bestParams, false
}

// specificity ranks a route: no greedy segment first, then more literal
// segments, then more segments, then a named method over ANY.
func specificity(rt Route) int {
	score := 0
	segments := strings.Split(strings.Trim(rt.Path, "/"), "/")
	greedy := false
	for _, seg := range segments {
		switch {
		case strings.HasSuffix(seg, "+}"):
			greedy = true
		case strings.HasPrefix(seg, "{"):
		default:
			score += 100
		}
	}
	score += len(segments)
	if !greedy {
		score += 10000
	}
	if rt.Method != "ANY" {
		score++
	}
	return score * 2
}

func matchPath(pattern, path string) (map[string]string, bool) {
	pp := strings.Split(strings.Trim(pattern, "/"), "/")
	sp := strings.Split(strings.Trim(path, "/"), "/")
	params := map[string]string{}
	for i, seg := range pp {
		if strings.HasPrefix(seg, "{") && strings.HasSuffix(seg, "+}") {
			if i >= len(sp) {
				return nil, false
			}
			params[seg[1:len(seg)-2]] = strings.Join(sp[i:], "/")
			return params, true
		}
		if i >= len(sp) {
			return nil, false
		}
		if strings.HasPrefix(seg, "{") && strings.HasSuffix(seg, "}") {
			params[seg[1:len(seg)-1]] = sp[i]
			continue
		}
		if seg != sp[i] {
			return nil, false
		}
	}
	return params, len(pp) == len(sp)
}

// BuildEvent turns a request into the payload 2.0 event API Gateway sends:
// lower-case headers joined with commas, cookies in their own list, the raw
// query string, and a base64 body unless it is UTF-8 text.
func BuildEvent(r *http.Request, routeKey string, pathParams map[string]string, body []byte) events.APIGatewayV2HTTPRequest {
	headers := map[string]string{}
	var cookies []string
	for name, values := range r.Header {
		lower := strings.ToLower(name)
		if lower == "cookie" {
			for _, v := range values {
				for _, c := range strings.Split(v, ";") {
					if c = strings.TrimSpace(c); c != "" {
						cookies = append(cookies, c)
					}
				}
			}
			continue
		}
		headers[lower] = strings.Join(values, ",")
	}
	headers["host"] = r.Host
	if headers["x-forwarded-proto"] == "" {
		headers["x-forwarded-proto"] = "http" // the local gateway serves plain http
	}
	sourceIP, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		sourceIP = r.RemoteAddr
	}
	headers["x-forwarded-for"] = sourceIP

	var query map[string]string
	if r.URL.RawQuery != "" {
		query = map[string]string{}
		for name, values := range r.URL.Query() {
			query[name] = strings.Join(values, ",")
		}
	}
	if len(pathParams) == 0 {
		pathParams = nil
	}
	now := time.Now()
	id := requestID()
	event := events.APIGatewayV2HTTPRequest{
		Version:               "2.0",
		RouteKey:              routeKey,
		RawPath:               r.URL.EscapedPath(),
		RawQueryString:        r.URL.RawQuery,
		Cookies:               cookies,
		Headers:               headers,
		QueryStringParameters: query,
		PathParameters:        pathParams,
		RequestContext: events.APIGatewayV2HTTPRequestContext{
			RouteKey:     routeKey,
			AccountID:    "000000000000",
			Stage:        "$default",
			RequestID:    id,
			APIID:        "local",
			DomainName:   r.Host,
			DomainPrefix: strings.Split(r.Host, ".")[0],
			Time:         now.UTC().Format("02/Jan/2006:15:04:05 -0700"),
			TimeEpoch:    now.UnixMilli(),
			HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{
				Method:    r.Method,
				Path:      r.URL.Path,
				Protocol:  r.Proto,
				SourceIP:  sourceIP,
				UserAgent: r.UserAgent(),
			},
		},
	}
	if len(body) > 0 {
		if utf8.Valid(body) {
			event.Body = string(body)
		} else {
			event.Body = base64.StdEncoding.EncodeToString(body)
			event.IsBase64Encoded = true
		}
	}
	return event
}

func requestID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// WriteResponse writes a payload 2.0 response: its headers, each of its
// cookies as its own Set-Cookie header, and its (possibly base64) body.
func WriteResponse(w http.ResponseWriter, resp events.APIGatewayV2HTTPResponse) error {
	for name, value := range resp.Headers {
		w.Header().Set(name, value)
	}
	for name, values := range resp.MultiValueHeaders {
		for _, v := range values {
			w.Header().Add(name, v)
		}
	}
	for _, c := range resp.Cookies {
		w.Header().Add("Set-Cookie", c)
	}
	body := []byte(resp.Body)
	if resp.IsBase64Encoded {
		decoded, err := base64.StdEncoding.DecodeString(resp.Body)
		if err != nil {
			w.WriteHeader(http.StatusInternalServerError)
			return fmt.Errorf("response body is not base64: %w", err)
		}
		body = decoded
	}
	w.WriteHeader(resp.StatusCode)
	_, err := w.Write(body)
	return err
}
