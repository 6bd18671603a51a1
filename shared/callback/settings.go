package callback

import (
	"time"

	"github.com/guance/aliyun-marketplace/shared/activation"
	"github.com/guance/aliyun-marketplace/shared/config"
	"github.com/guance/aliyun-marketplace/shared/marketapi"
)

// Settings are the MarketplaceCallbackFunction's configuration, under the
// template's variable names. The ISV key and the OpenAPI's AccessKey are
// secrets, read apart.
type Settings struct {
	InstancesTable string        // INSTANCES_TABLE
	PublicBaseURL  string        // PUBLIC_BASE_URL
	FrontEndURL    string        // FRONTEND_URL
	StaleHorizon   time.Duration // STALE_CALL_HORIZON
	Market         marketapi.Settings
}

// LoadSettings reads the settings; env reports what is missing or wrong.
func LoadSettings(env *config.Env) Settings {
	return Settings{
		InstancesTable: env.Required("INSTANCES_TABLE"),
		PublicBaseURL:  env.Get("PUBLIC_BASE_URL", ""),
		FrontEndURL:    env.Get("FRONTEND_URL", "https://www.guance.com"),
		StaleHorizon:   env.Duration("STALE_CALL_HORIZON", activation.DefaultStaleHorizon),
		Market:         marketapi.LoadSettings(env),
	}
}
