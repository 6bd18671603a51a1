package flow

import (
	"time"

	"github.com/guance/aliyun-marketplace/shared/domain/sites"
	"github.com/guance/aliyun-marketplace/shared/endpoints/web"
	"github.com/guance/aliyun-marketplace/shared/platform/config"
)

// Settings are the flow functions' configuration (registration, billing
// and workspace binding), under the template's variable names. The
// tables are the store's (loaded by the function's wiring), the
// code-hashing secret is read apart.
type Settings struct {
	Web         web.Settings
	LoginURLs   sites.LoginURLs // SITE_LOGIN_URLS
	MailFrom    string          // MAIL_FROM
	MailTimeout time.Duration   // MAIL_TIMEOUT
	TermsURL    string          // TERMS_URL
}

// LoadSettings reads what every flow needs; it is all the billing binding
// needs (its codes go through the outbox, it creates nothing to log in
// to). env reports what is missing or wrong.
func LoadSettings(env *config.Env) Settings {
	return Settings{Web: web.LoadSettings(env)}
}

// LoadAccountSettings adds what a flow that creates Guance accounts and
// workspaces needs (registration, workspace binding): the sender of its
// codes, the sites' login pages, the terms.
func LoadAccountSettings(env *config.Env) Settings {
	s := LoadSettings(env)
	urls, err := sites.ParseLoginURLs(env.Required("SITE_LOGIN_URLS"))
	env.Check(err)
	s.LoginURLs = urls
	s.MailFrom = env.Required("MAIL_FROM")
	s.MailTimeout = env.Duration("MAIL_TIMEOUT", 4*time.Second)
	s.TermsURL = env.Required("TERMS_URL")
	return s
}
