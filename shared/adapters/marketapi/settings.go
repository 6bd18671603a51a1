package marketapi

import (
	"context"
	"time"

	"github.com/guance/aliyun-marketplace/shared/platform/config"
)

// Settings say where the Market OpenAPI is; the AccessKey is a secret.
type Settings struct {
	Endpoint string // MARKET_ENDPOINT
	Region   string // MARKET_REGION
}

// LoadSettings reads the settings under the template's variable names.
func LoadSettings(env *config.Env) Settings {
	return Settings{Endpoint: env.Get("MARKET_ENDPOINT", DefaultEndpoint), Region: env.Get("MARKET_REGION", "cn-hangzhou")}
}

// Secrets reads a secret by name.
type Secrets interface {
	Get(ctx context.Context, name string) (string, error)
}

// NewLazy is a client built on first use, with the AccessKey read then
// (MARKET_ACCESS_KEY_ID and MARKET_ACCESS_KEY_SECRET).
func NewLazy(s Settings, secrets Secrets) *Lazy {
	return &Lazy{Build: func(ctx context.Context) (*Client, error) {
		id, err := secrets.Get(ctx, "MARKET_ACCESS_KEY_ID")
		if err != nil {
			return nil, err
		}
		secret, err := secrets.Get(ctx, "MARKET_ACCESS_KEY_SECRET")
		if err != nil {
			return nil, err
		}
		return New(Config{Endpoint: s.Endpoint, Region: s.Region, AccessKeyID: id, AccessKeySecret: secret, Timeout: 4 * time.Second})
	}}
}
