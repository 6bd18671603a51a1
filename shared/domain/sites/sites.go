// Package sites lists the Guance sites a workspace can live on. Which site
// a workspace is on is chosen when it is created and never changes; each
// site has its own login URL, which is configuration, not code.
package sites

import (
	"fmt"
	"net/url"
	"strings"
)

// Site is one Guance site. Its location and provider, as the pages show
// them, are texts of the catalogue ("site.<code>").
type Site struct {
	Code string
}

// All is every site, in the order the pages list them.
var All = []Site{{"cn1"}, {"cn2"}, {"cn4"}, {"cn6"}, {"us1"}, {"eu1"}, {"ap1"}, {"za1"}, {"id1"}}

// Default is the site a new workspace is on unless the buyer picks another.
const Default = "cn1"

// Known reports whether code names a site.
func Known(code string) bool {
	for _, s := range All {
		if s.Code == code {
			return true
		}
	}
	return false
}

// LoginURLs maps a site code to its login page.
type LoginURLs map[string]string

// ParseLoginURLs reads "cn1=https://...,us1=https://..." (the SITE_LOGIN_URLS
// setting). Every code must be a known site and every URL absolute https.
func ParseLoginURLs(setting string) (LoginURLs, error) {
	urls := LoginURLs{}
	for _, pair := range strings.Split(setting, ",") {
		pair = strings.TrimSpace(pair)
		if pair == "" {
			continue
		}
		code, raw, ok := strings.Cut(pair, "=")
		if !ok {
			return nil, fmt.Errorf("site login URLs: %q is not code=url", pair)
		}
		if !Known(code) {
			return nil, fmt.Errorf("site login URLs: unknown site %q", code)
		}
		u, err := url.Parse(raw)
		if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
			return nil, fmt.Errorf("site login URLs: %s has no valid URL", code)
		}
		urls[code] = raw
	}
	if len(urls) == 0 {
		return nil, fmt.Errorf("site login URLs: none configured")
	}
	return urls, nil
}
