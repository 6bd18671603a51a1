// Package sites lists the Guance sites a workspace can live on. Which site
// a workspace is on is chosen when it is created and never changes; each
// site has its own login URL, which is configuration, not code.
package sites

import (
	"fmt"
	"net/url"
	"strings"
)

// Site is one Guance site.
type Site struct {
	Code     string
	Location string // in English
	LocZH    string // in Chinese
	Provider string
}

// All is every site, in the order the pages list them.
var All = []Site{
	{"cn1", "Hangzhou", "杭州", "Alibaba Cloud"},
	{"cn2", "Ningxia", "宁夏", "AWS China"},
	{"cn4", "Guangzhou", "广州", "Huawei Cloud"},
	{"cn6", "Hong Kong", "香港", "Alibaba Cloud International"},
	{"us1", "Oregon", "俄勒冈", "AWS"},
	{"eu1", "Frankfurt", "法兰克福", "AWS"},
	{"ap1", "Singapore", "新加坡", "AWS"},
	{"za1", "South Africa", "南非", "Huawei Cloud"},
	{"id1", "Jakarta", "雅加达", "Tencent Cloud"},
}

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
