package binding_test

import (
	"errors"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestLogsHoldNoPersonalData walks the refusal paths of both flows
// and checks that no log line holds a username, an email or a code.
func TestLogsHoldNoPersonalData(t *testing.T) {
	f := newFixture(t)
	b := f.buyer(t, "7000001")
	b.post("/bind/billing", url.Values{"username": {"acme"}, "action": {"send-code"}})
	b.post("/bind/billing", url.Values{"username": {"acme"}, "code": {"000000"}, "action": {"bind"}})
	b.post("/bind/billing", url.Values{"username": {"Bad Name!"}, "action": {"send-code"}})
	b.post("/bind/billing", url.Values{"username": {"acme"}, "action": {"send-code"}}) // cooldown
	f.now = f.now.Add(2 * time.Minute)
	b.bindBilling()
	f.mail.SetFail(errors.New("ses: cannot send to carol@example.com"))
	b.post("/bind/workspace/create/have", url.Values{"workspace": {"w"}, "wslang": {"en"}, "email": {"carol@example.com"}, "agree": {"yes"}, "action": {"send-code"}})
	f.mail.SetFail(nil)
	b.post("/bind/workspace/create/new", url.Values{"workspace": {"w"}, "wslang": {"en"}, "username": {"alice"}, "email": {"alice@acme.example"}, "agree": {"yes"}, "action": {"send-code"}}) // taken
	nw := url.Values{"workspace": {"w"}, "wslang": {"en"}, "username": {"carolus"}, "password": {"s3cret-pass"}, "confirm": {"s3cret-pass"}, "email": {"carol@example.com"}, "agree": {"yes"}, "action": {"send-code"}}
	b.post("/bind/workspace/create/new", nw)
	code := f.mail.Last().Code
	nw.Set("action", "create")
	nw.Set("code", code)
	b.post("/bind/workspace/create/new", nw)
	b.post("/bind/workspace/confirm", url.Values{"ws": {"wksp_theirs"}, "action": {"bind"}})
	b.post("/bind/workspace/confirm", url.Values{"ws": {"wksp_ghost"}, "action": {"choose"}})
	b.get("/bind/workspace/confirm")
	logs := f.logs.String()
	for _, s := range []string{"acme", "alice", "carol", "@", code, "Bad Name"} {
		if strings.Contains(logs, s) {
			t.Errorf("the log holds %q", s)
		}
	}
	if m := regexp.MustCompile(`\b\d{6}\b`).FindString(logs); m != "" {
		t.Errorf("the log holds a 6-digit number %q", m)
	}
}
