package usagepush

import (
	"github.com/guance/aliyun-marketplace/shared/config"
	"github.com/guance/aliyun-marketplace/shared/marketapi"
	"github.com/guance/aliyun-marketplace/shared/metering"
)

// Settings are the MeteringFunction's configuration, under the template's
// variable names. The OpenAPI's AccessKey is a secret, read apart.
type Settings struct {
	InstancesTable string // INSTANCES_TABLE
	UsageTable     string // USAGE_TABLE
	MeteringTable  string // METERING_TABLE
	// Mapping maps Guance's usage items to the product's billable items
	// (METERING_ITEMS, "usage=Key[:meteringAssit],...").
	Mapping metering.Mapping
	Market  marketapi.Settings
}

// LoadSettings reads the settings; env reports what is missing or wrong.
func LoadSettings(env *config.Env) Settings {
	s := Settings{
		InstancesTable: env.Required("INSTANCES_TABLE"),
		UsageTable:     env.Required("USAGE_TABLE"),
		MeteringTable:  env.Required("METERING_TABLE"),
		Market:         marketapi.LoadSettings(env),
	}
	m, err := metering.ParseMapping(env.Required("METERING_ITEMS"))
	env.Check(err)
	s.Mapping = m
	return s
}
