package web

import (
	"github.com/guance/aliyun-marketplace/shared/domain/session"
	"github.com/guance/aliyun-marketplace/shared/endpoints/i18n"
	"github.com/guance/aliyun-marketplace/shared/platform/config"
)

// DefaultSupportURL is where "Contact Guance support" goes unless
// SUPPORT_URL says otherwise.
const DefaultSupportURL = "https://www.guance.com/"

// Settings are what every function serving pages shares, under the
// template's variable names.
type Settings struct {
	// MarketplaceURL is the buyer's Purchased Services page, where a new
	// Login Without Password link comes from (MARKETPLACE_URL).
	MarketplaceURL string
	// SupportURL is where every page's "Contact Guance support" goes
	// (SUPPORT_URL).
	SupportURL string
	// Jar is the session cookie's policy: Secure unless COOKIE_SECURE is
	// false (plain-http local runs only).
	Jar session.Jar
}

// LoadSettings reads the settings; env reports what is wrong.
func LoadSettings(env *config.Env) Settings {
	return Settings{
		MarketplaceURL: env.Get("MARKETPLACE_URL", DefaultMarketplaceURL),
		SupportURL:     env.Get("SUPPORT_URL", DefaultSupportURL),
		Jar:            session.Jar{Secure: env.Bool("COOKIE_SECURE", true)},
	}
}

// Chrome is a page frame in lang, with the support link.
func (s Settings) Chrome(lang i18n.Lang, title string) Chrome {
	return Chrome{Lang: lang, Title: title, Support: s.SupportURL}
}
