package localstack_test

import (
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/guance/aliyun-marketplace/cmd/internal/localstack"
	"github.com/guance/aliyun-marketplace/shared/marketplace"
)

// TestRegistrationInChromium is the new buyer's path in a real browser:
// Login Without Password, the activation page, the three registration
// steps with the code read from the local SES, the success page and its
// Confirm, in Chinese and in English.
func TestRegistrationInChromium(t *testing.T) {
	s := startStackWith(t, freeAddr(t))
	for _, tt := range []struct {
		lang, uid, username, email, done string
	}{
		{"zh-CN", "1234567890120001", "zhang.san", "zhang@example.com", "开通成功"},
		{"en", "1234567890120002", "jane-doe", "jane@example.com", "Activated"},
	} {
		t.Run(tt.lang, func(t *testing.T) {
			ctx := browser(t, tt.lang)
			bought := s.Market.Buy(tt.uid, time.Now())
			link := s.APIURL + "/aliyun/sso?" + marketplace.VerifyParams(bought.InstanceID, time.Now()).Signed(localstack.ISVKey()).Encode()
			shot := func(name string) { screenshot(ctx, "register "+tt.lang+" "+name) }
			err := chromedp.Do(ctx,
				chromedp.Navigate(link), chromedp.WaitVisible(chromedp.CSS("#register a")),
				chromedp.Click(chromedp.CSS("#register a")), chromedp.WaitVisible(chromedp.CSS("#f-username")),
				chromedp.SendKeys(chromedp.CSS("#f-username"), tt.username),
				chromedp.SendKeys(chromedp.CSS("#f-password"), "Guance2026"),
				chromedp.SendKeys(chromedp.CSS("#f-confirm"), "Guance2026"),
				chromedp.SendKeys(chromedp.CSS("#f-email"), tt.email),
				chromedp.Click(chromedp.CSS("#send")), chromedp.WaitVisible(chromedp.CSS("#sent")),
			)
			if err != nil {
				t.Fatal(err)
			}
			shot("1 basic")
			code := sixDigits.FindString(mailTo(t, s.SESURL, tt.email).Body.Text)
			err = chromedp.Do(ctx,
				chromedp.SendKeys(chromedp.CSS("#f-code"), code),
				chromedp.Click(chromedp.CSS("#next")), chromedp.WaitVisible(chromedp.CSS("#f-company")),
			)
			if err != nil {
				t.Fatal(err)
			}
			shot("2 company")
			err = chromedp.Do(ctx,
				chromedp.SendKeys(chromedp.CSS("#f-company"), "Acme 观测"),
				chromedp.Click(chromedp.CSS("#f-agree")),
				chromedp.Click(chromedp.CSS("#next")), chromedp.WaitVisible(chromedp.CSS("#f-workspace")),
			)
			if err != nil {
				t.Fatal(err)
			}
			shot("3 activate")
			uid, _ := chromedp.Run(ctx, chromedp.Value(chromedp.CSS("#f-uid")))
			instance, _ := chromedp.Run(ctx, chromedp.Value(chromedp.CSS("#f-instance")))
			if uid != tt.uid || instance != bought.InstanceID {
				t.Fatalf("the purchase is filled in from the session: %q %q", uid, instance)
			}
			err = chromedp.Do(ctx,
				chromedp.SendKeys(chromedp.CSS("#f-workspace"), "生产 prod"),
				chromedp.Click(chromedp.CSS("#activate")), chromedp.WaitVisible(chromedp.CSS("#done")),
			)
			if err != nil {
				t.Fatal(err)
			}
			shot("4 done")
			head, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#done")))
			user, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#username")))
			attr, _ := chromedp.Run(ctx, chromedp.AttributeValue(chromedp.CSS("#confirm"), "href"))
			href := attr.Value
			if head != tt.done || user != tt.username || !strings.HasPrefix(href, "http") {
				t.Fatalf("success page: %q %q %q", head, user, href)
			}
			if welcome := mailWith(t, s.SESURL, tt.email, href); !strings.Contains(welcome.Body.Text, tt.username) {
				t.Fatalf("welcome mail %+v", welcome)
			}
			// The next Login Without Password goes straight to the site's login.
			again := s.APIURL + "/aliyun/sso?" + marketplace.VerifyParams(bought.InstanceID, time.Now().Add(time.Second)).Signed(localstack.ISVKey()).Encode()
			resp := noRedirectGet(t, again)
			if resp.StatusCode != 303 || resp.Header.Get("Location") != href {
				t.Fatalf("after activation the link goes to %d %q, want the login page %q", resp.StatusCode, resp.Header.Get("Location"), href)
			}
		})
	}
}
