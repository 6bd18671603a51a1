// Package smoke checks a deployed stage from the outside, without
// credentials and without side effects: what `make smoke URL=...` runs
// after each deploy, and what the stack tests run against the local stack.
package smoke

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/guance/aliyun-marketplace/shared/domain/marketplace"
	"github.com/guance/aliyun-marketplace/shared/endpoints/routes"
)

// Check is one check's outcome.
type Check struct {
	Name string
	Err  error // nil: passed
}

// Run checks the stage whose API is at base (https://..., no path):
//   - an SPI call signed with a key that is not the ISV key is refused with
//     403 InvalidToken, by the function (so it started, and read its key);
//   - the authUrl without a query answers the branded refusal page;
//   - an unknown path answers the branded 404;
//   - the pages carry the security headers.
//
// Nothing is written: the SPI call is refused at its token, before it is
// read, and the pages read nothing without a session.
func Run(ctx context.Context, client *http.Client, base string) []Check {
	base = strings.TrimRight(base, "/")
	return []Check{
		{"SPI call with a wrong key: 403 InvalidToken", spiRefusesAForeignKey(ctx, client, base)},
		{"authUrl without a query: the branded refusal page", brandedPage(ctx, client, base+routes.SSO, []int{http.StatusBadRequest, http.StatusForbidden})},
		{"unknown path: the branded 404", brandedPage(ctx, client, base+"/smoke-"+random(), []int{http.StatusNotFound})},
	}
}

// random is a fresh token: a path no one routes, a key no one holds.
func random() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func get(ctx context.Context, client *http.Client, target string) (*http.Response, []byte, error) {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return nil, nil, err
	}
	req.Header.Set("Accept-Language", "en")
	resp, err := client.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp, body, err
}

func spiRefusesAForeignKey(ctx context.Context, client *http.Client, base string) error {
	// A renewal of an instance no one has, signed with a random key: the
	// token is checked first, so nothing is looked up.
	params := marketplace.Params{"action": "renewInstance", "instanceId": "1", "orderId": "1"}.Signed("smoke-" + random())
	resp, body, err := get(ctx, client, base+routes.SPI+"?"+params.Encode())
	if err != nil {
		return err
	}
	var answer struct {
		Success *bool  `json:"success"`
		Code    string `json:"code"`
	}
	if err := json.Unmarshal(body, &answer); err != nil {
		return fmt.Errorf("%d, not JSON (is the function up?): %.200s", resp.StatusCode, body)
	}
	if resp.StatusCode != http.StatusForbidden || answer.Success == nil || *answer.Success || answer.Code != "InvalidToken" {
		return fmt.Errorf("got %d %s, want 403 InvalidToken", resp.StatusCode, body)
	}
	return nil
}

// securityHeaders are what every page must carry.
var securityHeaders = map[string]string{
	"Content-Security-Policy":   "default-src 'none'",
	"X-Content-Type-Options":    "nosniff",
	"X-Frame-Options":           "DENY",
	"Referrer-Policy":           "",
	"Strict-Transport-Security": "max-age=",
}

func brandedPage(ctx context.Context, client *http.Client, target string, statuses []int) error {
	resp, body, err := get(ctx, client, target)
	if err != nil {
		return err
	}
	var problems []string
	ok := false
	for _, s := range statuses {
		ok = ok || resp.StatusCode == s
	}
	if !ok {
		problems = append(problems, fmt.Sprintf("status %d, want one of %v", resp.StatusCode, statuses))
	}
	if !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") || !strings.Contains(string(body), "Guance") {
		problems = append(problems, "not the branded page")
	}
	for name, want := range securityHeaders {
		if v := resp.Header.Get(name); v == "" || !strings.Contains(v, want) {
			problems = append(problems, fmt.Sprintf("header %s is %q", name, v))
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("%s", strings.Join(problems, "; "))
	}
	return nil
}
