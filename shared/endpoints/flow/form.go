package flow

import (
	"net/url"
	"strings"
	"time"

	"github.com/guance/aliyun-marketplace/shared/domain/guance"
	"github.com/guance/aliyun-marketplace/shared/endpoints/i18n"
)

// Problems collects a form's fields at fault, each with what to tell the
// buyer.
type Problems map[string]i18n.Message

// Add notes a rule's refusal; a nil one is no problem.
func (p Problems) Add(err *guance.FieldError) {
	if err != nil {
		p[err.Field] = i18n.M(err.Key)
	}
}

// AddressProblem is what to say of an email address that did not pass:
// that one is needed, or that it is not one.
func AddressProblem(typed string) i18n.Message {
	if strings.TrimSpace(typed) == "" {
		return i18n.M("field.email.required")
	}
	return i18n.M("field.email")
}

// ChosenPassword is a password a form chose, kept hashed in the flow's
// draft so that a page sent back (a code sent, a field to correct) need
// not ask for it again. It is bound to the username it was checked
// against: a password must not contain the username, which only the
// plain password can tell.
type ChosenPassword struct {
	Hash string `json:"passwordHash,omitempty"`
	For  string `json:"passwordFor,omitempty"`
}

// KeptFor tells whether a password chosen before still holds for username.
func (p ChosenPassword) KeptFor(username string) bool {
	return p.Hash != "" && p.For == username
}

// Choose reads the password and confirm fields for username. Both left
// empty keep a password chosen before for the same username. The hash
// costs a tenth of a second, so it is left out while the username is at
// fault (bad holds "username"): the password is checked again once it is
// right. A hash that fails is reported as the service being unavailable.
func (p *ChosenPassword) Choose(form url.Values, username string, hash func(string) (string, error), bad Problems) {
	pw, confirm := form.Get("password"), form.Get("confirm")
	if pw == "" && confirm == "" && p.KeptFor(username) {
		return
	}
	if !p.Check(form, username, bad) {
		return
	}
	if _, at := bad["username"]; at {
		return
	}
	h, err := hash(pw)
	if err != nil {
		bad["password"] = i18n.M("err.unavailable.body")
		return
	}
	*p = ChosenPassword{Hash: h, For: username}
}

// Check checks the password fields against the rules, without hashing
// (so that every field's problem shows at once); empty fields are fine
// when a password is kept for username. It reports whether they pass.
func (p ChosenPassword) Check(form url.Values, username string, bad Problems) bool {
	pw, confirm := form.Get("password"), form.Get("confirm")
	if pw == "" && confirm == "" && p.KeptFor(username) {
		return true
	}
	if pw == "" {
		bad["password"] = i18n.M("field.password.required")
		return false
	}
	if err := guance.Password(pw, confirm, username); err != nil {
		bad.Add(err)
		return false
	}
	return true
}

// PasswordNotKept answers a password typed with a language switch: the
// switch hashes nothing (it looks nothing up, so no limit counts it, and a
// hash costs a tenth of a second), so the password is not kept, a kept
// one included, and the page says so beside the field. refused is the
// page's refusal, which the note joins.
func PasswordNotKept(v *Visit, refused *Refusal, page string, p *ChosenPassword, now time.Time) *Refusal {
	if v.R.PostForm.Get("password") == "" && v.R.PostForm.Get("confirm") == "" {
		return refused
	}
	*p = ChosenPassword{}
	r := refused.On(page, now)
	r.Page, r.At = page, now
	if r.Errors == nil {
		r.Errors = map[string]i18n.Message{}
	}
	r.Errors["password"] = i18n.M("field.password.retype")
	return &r
}

// PasswordNotTaken notes on r, the refusal of a post that typed a
// password without keeping it (the post was refused for another field,
// before the password's hash), that it must be typed again; a password
// kept from before goes too, so that the page does not call it kept.
func PasswordNotTaken(v *Visit, r *Refusal, p *ChosenPassword) {
	if v.R.PostForm.Get("password") == "" && v.R.PostForm.Get("confirm") == "" {
		return
	}
	if _, at := r.Errors["password"]; at {
		return
	}
	if _, at := r.Errors["confirm"]; at {
		return
	}
	*p = ChosenPassword{}
	if r.Errors == nil {
		r.Errors = Problems{}
	}
	r.Errors["password"] = i18n.M("field.password.again")
}
