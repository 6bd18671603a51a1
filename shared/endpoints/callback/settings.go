package callback

import (
	"time"

	"github.com/guance/aliyun-marketplace/shared/domain/activation"
	"github.com/guance/aliyun-marketplace/shared/platform/config"
)

// Settings are the MarketplaceCallbackFunction's configuration, under the
// template's variable names. The ISV key and the OpenAPI's AccessKey are
// secrets, read apart.
type Settings struct {
	PublicBaseURL string // PUBLIC_BASE_URL
	FrontEndURL   string // FRONTEND_URL
	// Products are the product codes this stack sells (PRODUCT_CODES):
	// a createInstance of another is refused.
	Products []string
	// FirstCheck is when the reconciliation first asks about a pending
	// activation (PENDING_FIRST_CHECK, an hour; the local stack: a second).
	FirstCheck time.Duration
	// FirstAudit is when the reconciliation first compares a new instance
	// with the marketplace (AUDIT_FIRST, a day; the local stack: a second).
	FirstAudit time.Duration
}

// LoadSettings reads the settings; env reports what is missing or wrong.
func LoadSettings(env *config.Env) Settings {
	return Settings{
		PublicBaseURL: env.Get("PUBLIC_BASE_URL", ""),
		FrontEndURL:   env.Get("FRONTEND_URL", "https://www.guance.com"),
		Products:      env.List("PRODUCT_CODES"),
		FirstCheck:    env.Duration("PENDING_FIRST_CHECK", activation.DefaultFirstCheck),
		FirstAudit:    env.Duration("AUDIT_FIRST", activation.DefaultAuditEvery),
	}
}
