// Package marketplacetest holds the conformance fixtures taken from the
// Alibaba Cloud Marketplace documentation: each SPI action's sample
// request, the verify link, a failed notification as
// DescribeFailedNotifications lists it, and PushMeteringData's Metering
// example. Tests of the callback, the reconciliation, the metering run and
// the simulator run against them, so that what the docs show is what the
// code takes. Only tests import it.
package marketplacetest

import (
	_ "embed"
	"encoding/json"
	"net/url"
	"strings"

	"github.com/guance/aliyun-marketplace/shared/domain/marketplace"
)

//go:embed docsamples.json
var raw []byte

// Call is one documented sample request.
type Call struct {
	Action marketplace.Action `json:"action"`
	// Source names the document it comes from.
	Source string `json:"source"`
	// Query is the request's query string as the page prints it (a space
	// in a time unencoded, the docs' own token).
	Query string `json:"query"`
	// Answer is the documented answer, when the page shows one.
	Answer map[string]any `json:"answer,omitempty"`
}

// Params are the call's parameters, decoded as our endpoint decodes a
// query string (the page's unencoded spaces read as spaces).
func (c Call) Params() marketplace.Params {
	return parse(c.Query)
}

// Notification is a failed notification as the OpenAPI lists it.
type Notification struct {
	Action                string `json:"Action"`
	CreateTime            int64  `json:"CreateTime"`
	Message               string `json:"Message"`
	NotificationRequestID string `json:"NotificationRequestId"`
}

// Samples are all the fixtures.
type Samples struct {
	Calls  []Call `json:"calls"`
	Verify struct {
		Source string `json:"source"`
		Query  string `json:"query"`
	} `json:"verify"`
	FailedNotification struct {
		Source string       `json:"source"`
		Item   Notification `json:"item"`
	} `json:"failedNotification"`
	Metering struct {
		Source  string   `json:"source"`
		Example string   `json:"example"`
		Keys    []string `json:"keys"`
	} `json:"metering"`
}

// Load returns the fixtures.
func Load() Samples {
	var s Samples
	if err := json.Unmarshal(raw, &s); err != nil {
		panic("marketplacetest: docsamples.json: " + err.Error())
	}
	return s
}

// VerifyParams are the verify link's parameters.
func (s Samples) VerifyParams() marketplace.Params { return parse(s.Verify.Query) }

// parse reads a query string as printed in the docs: a literal space is
// a space.
func parse(query string) marketplace.Params {
	values, err := url.ParseQuery(strings.ReplaceAll(query, " ", "%20"))
	if err != nil {
		panic("marketplacetest: " + err.Error())
	}
	p := marketplace.Params{}
	for k, v := range values {
		p[k] = v[0]
	}
	return p
}
