package sso

import (
	"time"

	"github.com/guance/aliyun-marketplace/shared/domain/sites"
	"github.com/guance/aliyun-marketplace/shared/endpoints/web"
	"github.com/guance/aliyun-marketplace/shared/platform/config"
)

// Settings are the SsoRedirectFunction's configuration, under the
// template's variable names.
type Settings struct {
	Web        web.Settings
	LoginURLs  sites.LoginURLs // SITE_LOGIN_URLS
	Window     time.Duration   // SSO_LINK_WINDOW
	SessionTTL time.Duration   // SESSION_TTL
	Products   []string        // PRODUCT_CODES
}

// LoadSettings reads the settings; env reports what is missing or wrong.
func LoadSettings(env *config.Env) Settings {
	urls, err := sites.ParseLoginURLs(env.Required("SITE_LOGIN_URLS"))
	env.Check(err)
	return Settings{
		Web:        web.LoadSettings(env),
		LoginURLs:  urls,
		Window:     env.Duration("SSO_LINK_WINDOW", 5*time.Minute),
		SessionTTL: env.Duration("SESSION_TTL", time.Hour),
		Products:   env.List("PRODUCT_CODES"),
	}
}
