package flow

import (
	"time"

	"github.com/guance/aliyun-marketplace/shared/endpoints/i18n"
	"github.com/guance/aliyun-marketplace/shared/endpoints/web"
)

// Refusal is what a refused post shows on its page. It is kept in the
// flow's draft and the post answers with a redirect to the page, like a
// post that went through (post/redirect/get): the browser's Back never
// offers to send the form again, and a reload shows the same page.
type Refusal struct {
	// Page is the page it is shown on.
	Page   string                  `json:"page"`
	Errors map[string]i18n.Message `json:"errors,omitempty"`
	// Notice is about the whole form, with where to put it right.
	Notice     i18n.Message `json:"notice,omitzero"`
	NoticeLink web.Link     `json:"noticeLink,omitzero"`
	// Closed: nothing on the page can be sent any more (another session
	// activated the purchase): the form's button is not offered.
	Closed bool `json:"closed,omitempty"`
	// CodeError is a refused Send code; WaitUntil ends its cooldown.
	CodeError i18n.Message `json:"codeError,omitzero"`
	WaitUntil time.Time    `json:"waitUntil,omitzero"`
	At        time.Time    `json:"at"`
}

// RefusalShown is how long a refusal stays on its page: past it the page
// is shown as the draft holds it, without the old problems.
const RefusalShown = 30 * time.Minute

// On returns the refusal to show on page at now (zero when none).
func (r *Refusal) On(page string, now time.Time) Refusal {
	if r == nil || r.Page != page || now.Sub(r.At) > RefusalShown {
		return Refusal{}
	}
	return *r
}

// Wait is the seconds of the cooldown a refused Send code met, left at now.
func (r Refusal) Wait(now time.Time) int {
	if r.WaitUntil.IsZero() {
		return 0
	}
	return max(int(r.WaitUntil.Sub(now).Round(time.Second).Seconds()), 0)
}

// Form is the form as the draft holds it, with the refusal's errors.
func (r Refusal) Form(values map[string]string) web.Form {
	return web.Form{Values: values, Errors: r.Errors}
}

// Refuse keeps r in the draft (save, given the refusal to store) and
// answers with a redirect to its page, at fragment (the first problem).
func (f *Flow) Refuse(v *Visit, r Refusal, keep func(*Refusal) bool, fragment string) {
	r.At = f.Now().UTC()
	if !keep(&r) {
		return
	}
	target := r.Page
	if fragment != "" {
		target += "#" + fragment
	}
	Redirect(v.W, v.R, target)
}

// AfterSwitch is what a language switch keeps of the page's refusal: what
// a refused post said of the values it sent is dropped (the values typed
// now may differ), a closed form stays closed.
func (r *Refusal) AfterSwitch() *Refusal {
	if r != nil && r.Closed {
		return r
	}
	return nil
}
