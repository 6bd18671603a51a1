package usagepush

import (
	"github.com/guance/aliyun-marketplace/shared/domain/metering"
	"github.com/guance/aliyun-marketplace/shared/platform/config"
)

// Settings are the MeteringFunction's configuration, under the template's
// variable names. Where the Market OpenAPI is, and its AccessKey, are the
// adapter's, read by the function's wiring.
type Settings struct {
	// Mapping maps Guance's usage items to the product's billable items
	// (METERING_ITEMS, "usage=Key[:meteringAssit],...").
	Mapping metering.Mapping
}

// LoadSettings reads the settings; env reports what is missing or wrong.
// METERING_ITEMS may be empty outside prod (the template's Rule requires
// it in prod): a dev stack without a listing starts, and meters nothing.
func LoadSettings(env *config.Env) Settings {
	s := Settings{}
	if env.Get("METERING_ITEMS", "") == "" && env.Get("STAGE", "") != "prod" {
		return s
	}
	m, err := metering.ParseMapping(env.Required("METERING_ITEMS"))
	env.Check(err)
	s.Mapping = m
	return s
}
