package localstack_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/guance/aliyun-marketplace/cmd/devstack/smoke"
)

// TestSmokeAgainstTheLocalStack: make smoke's checks pass against the
// stack of make dev (the real functions under the emulator, behind the
// local gateway), and change nothing.
func TestSmokeAgainstTheLocalStack(t *testing.T) {
	s := startStack(t)
	trail := s.WatchTrail()
	client := &http.Client{Timeout: 20 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, c := range smoke.Run(context.Background(), client, s.APIURL) {
		if c.Err != nil {
			t.Errorf("%s: %v", c.Name, c.Err)
		}
	}
	if v := trail.Violations(); len(v) != 0 || trail.Changes != 0 {
		t.Fatalf("the smoke checks changed a purchase: %d changes %v", trail.Changes, v)
	}
	// And a check fails when it should: a stage that is not there.
	for _, c := range smoke.Run(context.Background(), client, "http://127.0.0.1:1") {
		if c.Err == nil {
			t.Errorf("%s passed against nothing", c.Name)
		}
	}
}
