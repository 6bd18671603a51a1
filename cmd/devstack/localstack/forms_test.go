package localstack_test

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/guance/aliyun-marketplace/cmd/devstack/localstack"
	"github.com/guance/aliyun-marketplace/shared/domain/guance"
	"github.com/guance/aliyun-marketplace/shared/domain/marketplace"
)

// The buyer's forms as a real person meets them, in Chromium against the
// whole local stack: every problem said when a step is sent, what was
// typed kept through refusals, language switches and a second Login
// Without Password, the code field found after a send on a phone, a
// resend that says when it is ready, and Back after a refusal.

// value is the value of the input sel.
func (j *journey) value(sel string) string {
	j.t.Helper()
	v, err := chromedp.Run(j.ctx, chromedp.Value(chromedp.CSS(sel)))
	if err != nil {
		j.t.Fatalf("%s: %v", sel, err)
	}
	return v
}

// has tells whether the page holds an element matching sel.
func (j *journey) has(sel string) bool {
	j.t.Helper()
	n, err := chromedp.Run(j.ctx, chromedp.Evaluate[int](`document.querySelectorAll(`+fmt.Sprintf("%q", sel)+`).length`))
	if err != nil {
		j.t.Fatal(err)
	}
	return n > 0
}

func TestFormsInChromium(t *testing.T) {
	s := startStackWith(t, freeAddr(t))
	seedCustomer(t, s, localstack.Customer{Billing: "forms-billing", Owner: "forms-owner", Password: consolePassword,
		Workspaces: []guance.Workspace{{ID: "wksp_forms", Name: "forms", Site: "cn1"}}})

	t.Run("every problem at once, what was typed kept", func(t *testing.T) {
		j := newJourney(t, s, "en", "forms1", false)
		id := j.buy("3300000000000001")
		j.loginWithoutPassword(id, "#register a")
		// A taken username and a taken email: both said when the code is
		// asked for, none sent; nothing typed is lost.
		j.step("taken username and email",
			chromedp.Click(chromedp.CSS("#register a")), chromedp.WaitVisible(chromedp.CSS("#f-username")),
			chromedp.SendKeys(chromedp.CSS("#f-username"), "forms-owner"),
			chromedp.SendKeys(chromedp.CSS("#f-password"), consolePassword),
			chromedp.SendKeys(chromedp.CSS("#f-confirm"), consolePassword),
			chromedp.SendKeys(chromedp.CSS("#f-email"), "forms-owner@example.com"),
			chromedp.SendKeys(chromedp.CSS("#f-phone"), "+86 138 0013 8000"),
			chromedp.Click(chromedp.CSS("#send")), chromedp.WaitVisible(chromedp.CSS("#f-username-error")),
		)
		if !j.has("#f-email-error") || j.value("#f-email") != "forms-owner@example.com" || j.value("#f-username") != "forms-owner" {
			t.Fatal("both problems at once, with what was typed")
		}
		// Back after the refused form: a page, not the browser's "Confirm
		// Form Resubmission" (the refusal answered with a redirect).
		j.step("back after a refusal", chromedp.NavigateBack(), chromedp.WaitVisible(chromedp.CSS("#f-username")))
		if url, _ := chromedp.Run(j.ctx, chromedp.Location()); !strings.HasPrefix(url, s.APIURL+"/register/basic") {
			t.Fatalf("Back went to %q", url)
		}
	})

	t.Run("a phone: the code field after a send, the password kept, the resend disabled", func(t *testing.T) {
		j := newJourney(t, s, "en", "forms2", false)
		id := j.buy("3300000000000002")
		j.loginWithoutPassword(id, "#register a")
		j.step("phone width", chromedp.EmulateViewport(390, 700))
		j.step("send a code",
			chromedp.Click(chromedp.CSS("#register a")), chromedp.WaitVisible(chromedp.CSS("#f-username")),
			chromedp.SendKeys(chromedp.CSS("#f-username"), "phone-buyer"),
			chromedp.SendKeys(chromedp.CSS("#f-password"), consolePassword),
			chromedp.SendKeys(chromedp.CSS("#f-confirm"), consolePassword),
			chromedp.SendKeys(chromedp.CSS("#f-email"), "phone-buyer@example.com"),
			chromedp.Click(chromedp.CSS("#send")), chromedp.WaitVisible(chromedp.CSS("#sent")),
		)
		top, err := chromedp.Run(j.ctx, chromedp.Evaluate[float64](`document.getElementById('f-code').getBoundingClientRect().top`))
		if err != nil || top < 0 || top > 700 {
			t.Fatalf("the code field is not on the screen after the send (top %v): %v", top, err)
		}
		if !j.has("#password-kept") {
			t.Fatal("the page does not say the password was kept")
		}
		disabled, _ := chromedp.Run(j.ctx, chromedp.Evaluate[bool](`document.getElementById('send-wait').disabled`))
		if !disabled || !strings.Contains(j.text("#send-wait"), "New code in") {
			t.Fatal("during the cooldown the resend button looks live")
		}
		// Five wrong codes: no banner says the code is still on its way.
		code := j.code("phone-buyer@example.com")
		wrong := strings.Map(func(r rune) rune { return '0' + (r-'0'+1)%10 }, code)
		for i := range 5 {
			j.step(fmt.Sprintf("wrong code %d", i+1),
				script(`document.body.appendChild(Object.assign(document.createElement('i'), {id: 'stale'}))`),
				clear("#f-code"), chromedp.SendKeys(chromedp.CSS("#f-code"), wrong+kb.Enter),
				chromedp.WaitNotPresent(chromedp.CSS("#stale")), chromedp.WaitVisible(chromedp.CSS("#f-code-error")),
			)
		}
		if j.has("#sent") {
			t.Fatalf("after five wrong codes the page still says the code was sent: %q", j.text("#f-code-error"))
		}
	})

	t.Run("the language switch and a second Login Without Password keep the form", func(t *testing.T) {
		j := newJourney(t, s, "en", "forms3", false)
		id := j.buy("3300000000000003")
		j.loginWithoutPassword(id, "#register a")
		j.step("type and switch",
			chromedp.Click(chromedp.CSS("#register a")), chromedp.WaitVisible(chromedp.CSS("#f-username")),
			chromedp.SendKeys(chromedp.CSS("#f-username"), "switcher"),
			chromedp.SendKeys(chromedp.CSS("#f-email"), "switcher@example.com"),
			chromedp.SendKeys(chromedp.CSS("#f-code"), "123456"),
			chromedp.Click(chromedp.CSS("#language")), chromedp.WaitVisible(chromedp.CSS(`html[lang="zh-CN"]`)),
		)
		if j.value("#f-username") != "switcher" || j.value("#f-email") != "switcher@example.com" || j.value("#f-code") != "123456" {
			t.Fatal("the language switch lost what was typed")
		}
		// A second Login Without Password of the same purchase, in another
		// tab: a new session, whose cookie replaces this one's in the
		// browser. This tab's form still goes through, with what it typed,
		// and the page says what happened.
		link := s.APIURL + "/aliyun/sso?" + marketplace.VerifyParams(id, time.Now().Add(2*time.Second)).Signed(localstack.ISVKey()).Encode()
		other := newBuyer(t)
		if code, _ := other.get(link); code != http.StatusOK {
			t.Fatalf("the second link: %d", code)
		}
		api, _ := url.Parse(s.APIURL)
		if _, err := chromedp.Call(j.ctx, network.SetCookie, network.SetCookieParams{
			Name: "guance_activation", Value: other.sessionID(s.APIURL), URL: s.APIURL, Domain: api.Hostname(), Path: "/", HTTPOnly: ptr(true), SameSite: network.CookieSameSiteLax,
		}); err != nil {
			t.Fatal(err)
		}
		j.step("the first tab sends its form",
			clear("#f-username"), chromedp.SendKeys(chromedp.CSS("#f-username"), "switcher2"),
			chromedp.Click(chromedp.CSS("#send")), chromedp.WaitVisible(chromedp.CSS("#banner")),
		)
		if j.value("#f-username") != "switcher2" || !j.has("#sent") {
			t.Fatal("the first tab's form was lost after a second Login Without Password")
		}
		// The language chosen for the purchase goes on in the new
		// session, over the browser's (English here).
		if !j.has(`html[lang="zh-CN"]`) {
			t.Fatal("the continued session lost the language chosen")
		}
		// The company step: the tick survives the switch back.
		code := j.code("switcher@example.com")
		j.step("step 1 done",
			chromedp.SendKeys(chromedp.CSS("#f-password"), consolePassword),
			chromedp.SendKeys(chromedp.CSS("#f-confirm"), consolePassword),
			clear("#f-code"), chromedp.SendKeys(chromedp.CSS("#f-code"), code+kb.Enter), chromedp.WaitVisible(chromedp.CSS("#f-company")),
		)
		j.step("tick and switch",
			chromedp.WaitVisible(chromedp.CSS(`html[lang="zh-CN"]`)),
			chromedp.SendKeys(chromedp.CSS("#f-company"), "Switch Co"), chromedp.Click(chromedp.CSS("#f-agree")),
			chromedp.Click(chromedp.CSS("#language")), chromedp.WaitVisible(chromedp.CSS(`html[lang="en"]`)),
		)
		ticked, _ := chromedp.Run(j.ctx, chromedp.Evaluate[bool](`document.getElementById('f-agree').checked`))
		if !ticked || j.value("#f-company") != "Switch Co" {
			t.Fatal("the language switch lost the terms tick")
		}
		// Back to step 1, the proven address changed: the page says a new
		// code is needed, and offers it.
		j.step("change the proven address",
			chromedp.Click(chromedp.CSS("#back")), chromedp.WaitVisible(chromedp.CSS("#verified")),
			clear("#f-email"), chromedp.SendKeys(chromedp.CSS("#f-email"), "switcher.new@example.com"),
			chromedp.Click(chromedp.CSS("#next")), chromedp.WaitVisible(chromedp.CSS("#f-code-error")),
		)
		if !strings.Contains(j.text("#f-code-error"), "no longer the address you proved") || !j.has("#send") || j.has("#verified") {
			t.Fatalf("a changed proven address: %q", j.text("#f-code-error"))
		}
	})
}

// TestFormPostOfAnOldBrowserThroughTheGateway: a browser without Fetch
// Metadata (Safari before 16.4, some in-app browsers) sends only Origin on
// a form post; with the pages' referrer policy it is our own origin, and
// the post goes through the real path (gateway, adapter, function).
func TestFormPostOfAnOldBrowserThroughTheGateway(t *testing.T) {
	s := startStackWith(t, freeAddr(t))
	b := newBuyer(t)
	csrf := activate(t, s, b)
	api, _ := url.Parse(s.APIURL)
	var cookie string
	for _, c := range b.jar.Cookies(api) {
		cookie = c.Name + "=" + c.Value
	}
	send := func(origin string) *http.Response {
		req, _ := http.NewRequest(http.MethodPost, s.APIURL+"/activate/language", strings.NewReader(url.Values{"csrf": {csrf}, "lang": {"en"}, "return": {"/activate"}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Cookie", cookie)
		req.Header.Set("Origin", origin)
		resp, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	if resp := send(s.APIURL); resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Referrer-Policy") != "same-origin" {
		t.Fatalf("an old browser's own-origin post: %d %v", resp.StatusCode, resp.Header)
	}
	if resp := send("null"); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("Origin: null (what no-referrer made such a browser send): %d", resp.StatusCode)
	}
}

func ptr[T any](v T) *T { return &v }
