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
	InstancesTable string // INSTANCES_TABLE
	// The tables a status move's effects write: the workspaces, the
	// cloud account links (accounts) and the release notice (outbox).
	AccountsTable   string        // ACCOUNTS_TABLE
	WorkspacesTable string        // WORKSPACES_TABLE
	OutboxTable     string        // OUTBOX_TABLE
	PublicBaseURL   string        // PUBLIC_BASE_URL
	FrontEndURL     string        // FRONTEND_URL
	StaleHorizon    time.Duration // STALE_CALL_HORIZON
	// FirstCheck is when the reconciliation first asks about a pending
	// activation (PENDING_FIRST_CHECK, an hour; the local stack: a second).
	FirstCheck time.Duration
	Market     marketapi.Settings
}

// LoadSettings reads the settings; env reports what is missing or wrong.
func LoadSettings(env *config.Env) Settings {
	return Settings{
		InstancesTable:  env.Required("INSTANCES_TABLE"),
		AccountsTable:   env.Required("ACCOUNTS_TABLE"),
		WorkspacesTable: env.Required("WORKSPACES_TABLE"),
		OutboxTable:     env.Required("OUTBOX_TABLE"),
		PublicBaseURL:   env.Get("PUBLIC_BASE_URL", ""),
		FrontEndURL:     env.Get("FRONTEND_URL", "https://www.guance.com"),
		StaleHorizon:    env.Duration("STALE_CALL_HORIZON", activation.DefaultStaleHorizon),
		FirstCheck:      env.Duration("PENDING_FIRST_CHECK", activation.DefaultFirstCheck),
		Market:          marketapi.LoadSettings(env),
	}
}
