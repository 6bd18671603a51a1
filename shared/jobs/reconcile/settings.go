package reconcile

import (
	"time"

	"github.com/guance/aliyun-marketplace/shared/domain/activation"
	"github.com/guance/aliyun-marketplace/shared/platform/config"
)

// Settings are the ReconcileFunction's configuration, under the
// template's variable names, and what paces a run. Where the Market OpenAPI is, its AccessKey
// and the outbox's sealing secret are the adapters', read by the
// function's wiring. (No ISV key: the failed
// notifications come over the signed OpenAPI, with no token to check.)
type Settings struct {
	MailFrom string // MAIL_FROM
	// CheckEvery is how long a pending activation waits between two
	// questions to the marketplace (PENDING_CHECK_EVERY).
	CheckEvery time.Duration
	// AbandonAfter is the age at which a pending activation is given up
	// (ABANDON_AFTER).
	AbandonAfter time.Duration
	// AuditEvery and AuditPerRun pace the comparison of live instances
	// with the marketplace (AUDIT_EVERY, AUDIT_PER_RUN).
	AuditEvery  time.Duration
	AuditPerRun int
	// AuditGrace leaves an instance that moved this recently out of the
	// comparison (AUDIT_GRACE; see activation.DefaultAuditGrace).
	AuditGrace time.Duration
	// EffectsGrace leaves a move's effects this long to the call that
	// made the move (EFFECTS_GRACE; DefaultEffectsGrace).
	EffectsGrace time.Duration
	// Products are the product codes this stack sells (PRODUCT_CODES,
	// comma-separated): see activation.Service.Products.
	Products []string
	// Concurrency is how many pending activations are checked at once.
	Concurrency int
	// OutboxLimit bounds the mails one run tries.
	OutboxLimit int
}

// withDefaults fills what is not set: the one place the run's defaults
// are.
func (s Settings) withDefaults() Settings {
	set := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	set(&s.CheckEvery, DefaultCheckEvery)
	set(&s.AbandonAfter, DefaultAbandonAfter)
	set(&s.AuditEvery, activation.DefaultAuditEvery)
	set(&s.AuditGrace, activation.DefaultAuditGrace)
	set(&s.EffectsGrace, DefaultEffectsGrace)
	if s.AuditPerRun <= 0 {
		s.AuditPerRun = DefaultAuditPerRun
	}
	if s.Concurrency <= 0 {
		s.Concurrency = DefaultConcurrency
	}
	if s.OutboxLimit <= 0 {
		s.OutboxLimit = DefaultOutboxLimit
	}
	return s
}

// LoadSettings reads the settings; env reports what is missing or wrong.
func LoadSettings(env *config.Env) Settings {
	return Settings{
		MailFrom:     env.Required("MAIL_FROM"),
		CheckEvery:   env.Duration("PENDING_CHECK_EVERY", DefaultCheckEvery),
		AbandonAfter: env.Duration("ABANDON_AFTER", DefaultAbandonAfter),
		AuditEvery:   env.Duration("AUDIT_EVERY", activation.DefaultAuditEvery),
		AuditPerRun:  env.Int("AUDIT_PER_RUN", DefaultAuditPerRun),
		AuditGrace:   env.Duration("AUDIT_GRACE", activation.DefaultAuditGrace),
		EffectsGrace: env.Duration("EFFECTS_GRACE", DefaultEffectsGrace),
		Products:     env.List("PRODUCT_CODES"),
	}
}
