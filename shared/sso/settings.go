package sso

import (
	"time"

	"github.com/guance/aliyun-marketplace/shared/config"
	"github.com/guance/aliyun-marketplace/shared/marketapi"
	"github.com/guance/aliyun-marketplace/shared/sites"
	"github.com/guance/aliyun-marketplace/shared/web"
)

// Settings are the SsoRedirectFunction's configuration, under the
// template's variable names.
type Settings struct {
	InstancesTable string          // INSTANCES_TABLE
	SessionsTable  string          // SESSIONS_TABLE
	AccountsTable  string          // ACCOUNTS_TABLE
	LoginURLs      sites.LoginURLs // SITE_LOGIN_URLS
	Window         time.Duration   // SSO_LINK_WINDOW
	SessionTTL     time.Duration   // SESSION_TTL
	CookieSecure   bool            // COOKIE_SECURE
	MarketplaceURL string          // MARKETPLACE_URL
	Market         marketapi.Settings
}

// LoadSettings reads the settings; env reports what is missing or wrong.
func LoadSettings(env *config.Env) Settings {
	urls, err := sites.ParseLoginURLs(env.Required("SITE_LOGIN_URLS"))
	env.Check(err)
	return Settings{
		InstancesTable: env.Required("INSTANCES_TABLE"),
		SessionsTable:  env.Required("SESSIONS_TABLE"),
		AccountsTable:  env.Required("ACCOUNTS_TABLE"),
		LoginURLs:      urls,
		Window:         env.Duration("SSO_LINK_WINDOW", 5*time.Minute),
		SessionTTL:     env.Duration("SESSION_TTL", time.Hour),
		CookieSecure:   env.Bool("COOKIE_SECURE", true),
		MarketplaceURL: env.Get("MARKETPLACE_URL", web.DefaultMarketplaceURL),
		Market:         marketapi.LoadSettings(env),
	}
}
