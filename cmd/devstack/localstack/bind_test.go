package localstack_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/guance/aliyun-marketplace/cmd/devstack/localstack"
	"github.com/guance/aliyun-marketplace/shared/domain/guance"
	"github.com/guance/aliyun-marketplace/shared/domain/marketplace"
)

// seedAccount puts a customer into the stack: billing center account
// billing, its owner's Guance account, and one workspace on billing
// center settlement unless empty.
func seedAccount(t *testing.T, s *localstack.Stack, billing, owner string, empty bool) {
	t.Helper()
	c := localstack.Customer{Billing: billing, Owner: owner}
	if !empty {
		c.Workspaces = []guance.Workspace{{ID: "wksp_" + billing, Name: billing + " prod", Site: "cn1"}}
	}
	if err := localstack.PutCustomer(context.Background(), localstack.DynamoDBClient(s.DynamoDBURL), c); err != nil {
		t.Fatal(err)
	}
}

// TestBindingRefusalsInChromium: the refusals a buyer can meet on the
// binding pages, each a message in place (or a page) with a way on.
func TestBindingRefusalsInChromium(t *testing.T) {
	s := startStackWith(t, freeAddr(t))
	seedAccount(t, s, "acme-r", "alice-r", false)

	// No session: the binding pages say so.
	ctx := browser(t, "en")
	do(t, ctx, "no session", chromedp.Navigate(s.APIURL+"/bind/workspace"), chromedp.WaitVisible(chromedp.CSS("h1")))
	if h1, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("h1"))); h1 != "Your activation session has ended" {
		t.Fatalf("without a session: %q", h1)
	}

	// A wrong code: said next to the field, tries left counted.
	bought := s.Market.Buy("2234567890120009", time.Now())
	link := s.APIURL + "/aliyun/sso?" + marketplace.VerifyParams(bought.InstanceID, time.Now()).Signed(localstack.ISVKey()).Encode()
	do(t, ctx, "send a billing code",
		chromedp.Navigate(link), chromedp.WaitVisible(chromedp.CSS("#bind a")),
		chromedp.Click(chromedp.CSS("#bind a")), chromedp.WaitVisible(chromedp.CSS("#f-username")),
		chromedp.SendKeys(chromedp.CSS("#f-username"), "acme-r"),
		chromedp.Click(chromedp.CSS("#send")), chromedp.WaitVisible(chromedp.CSS("#sent")),
	)
	code := sixDigits.FindString(mailTo(t, s.SESURL, "acme-r@billing.example").Body.Text)
	wrong := strings.Map(func(r rune) rune { return '0' + (r-'0'+1)%10 }, code)
	do(t, ctx, "type a wrong code",
		chromedp.SendKeys(chromedp.CSS("#f-code"), wrong+kb.Enter), chromedp.WaitVisible(chromedp.CSS("#f-code-error")),
	)
	screenshot(ctx, "bind refusal wrong code")
	if msg, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#f-code-error"))); msg != "The code is wrong. 4 tries left." {
		t.Fatalf("wrong code: %q", msg)
	}
	do(t, ctx, "type the right one",
		chromedp.SendKeys(chromedp.CSS("#f-code"), code+kb.Enter), chromedp.WaitVisible(chromedp.CSS("#account")),
	)

	// A forged workspace id (another account's): back to the list,
	// saying so, nothing bound. (A form changed in the browser's tools.)
	do(t, ctx, "forge a workspace id",
		script(`const f = document.querySelector('form.bind'); f.querySelector('input[name=ws]').value = 'wksp_acme-en';
			const b = f.querySelector('button'); b.value = 'bind'; b.click()`),
		chromedp.WaitVisible(chromedp.CSS("#warn")),
	)
	warn, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#warn")))
	if bound, _ := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('.badge.ok').length`)); bound != 0 || warn != "There is no such workspace of this billing center account." {
		t.Fatalf("a forged id: %d bound, warning %q", bound, warn)
	}

	// A username taken: said next to the field when the code is asked
	// for (none is sent), with what was typed kept.
	do(t, ctx, "create with a taken username",
		chromedp.Click(chromedp.CSS("#create-new")), chromedp.WaitVisible(chromedp.CSS("#f-username")),
		chromedp.SendKeys(chromedp.CSS("#f-workspace"), "w"),
		chromedp.SendKeys(chromedp.CSS("#f-username"), "alice-r"),
		chromedp.SendKeys(chromedp.CSS("#f-password"), "Guance2026"),
		chromedp.SendKeys(chromedp.CSS("#f-confirm"), "Guance2026"),
		chromedp.SendKeys(chromedp.CSS("#f-email"), "dave-r@example.com"),
		chromedp.Click(chromedp.CSS("#f-agree")),
		chromedp.Click(chromedp.CSS("#send")), chromedp.WaitVisible(chromedp.CSS("#f-username-error")),
	)
	screenshot(ctx, "bind refusal username taken")
	if msg, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#f-username-error"))); !strings.Contains(msg, "taken") {
		t.Fatalf("taken username: %q", msg)
	}
	if email, _ := chromedp.Run(ctx, chromedp.Value(chromedp.CSS("#f-email"))); email != "dave-r@example.com" {
		t.Fatalf("the email typed: %q", email)
	}
}

// script runs js in the page.
func script(js string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := chromedp.Evaluate[bool](`(() => { `+js+`; return true })()`)(ctx, t)
		return err
	})
}
