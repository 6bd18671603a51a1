package outbox

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/guance/aliyun-marketplace/shared/platform/logging"
	"github.com/guance/aliyun-marketplace/shared/platform/metrics"
)

var (
	// ErrNotDue means an item is not pending, or another deliverer holds
	// it, or its next attempt is not due yet.
	ErrNotDue = errors.New("outbox: item not due")
	// ErrNotFound means no item has the id (or TTL took it).
	ErrNotFound = errors.New("outbox: no such item")
)

// Store keeps the outbox items.
type Store interface {
	// Claim takes a due pending item for Lease under the token claim and
	// counts the attempt, in one conditional write, so that two deliverers
	// never send one mail.
	Claim(ctx context.Context, id, claim string, now time.Time) (Item, error)
	// Sent marks a claimed item delivered and drops what it sealed.
	Sent(ctx context.Context, item Item, now time.Time) error
	// Failed puts a claimed item back with its next due time, or marks it
	// dead after MaxAttempts (dead reports which).
	Failed(ctx context.Context, item Item, reason string, now time.Time) (dead bool, err error)
	// Due lists the ids of pending items due at now, oldest first, at most limit.
	Due(ctx context.Context, now time.Time, limit int) ([]string, error)
}

// Mailer sends one outbox item, given the secret it sealed (empty if none).
type Mailer interface {
	SendOutbox(ctx context.Context, item Item, secret string) error
}

// SendTimeout bounds one mail's send (the Mailer's own deadline).
const SendTimeout = 10 * time.Second

// Deliverer sends outbox items.
type Deliverer struct {
	Store   Store
	Mailer  Mailer
	Sealer  Sealer
	Now     func() time.Time
	Log     *slog.Logger
	Metrics *metrics.Recorder
	// Margin is how much of an invocation's time a sweep leaves unused:
	// enough for one more send and its record (a send cut short by the
	// deadline is neither marked sent nor failed, and would go twice).
	// Zero: SendTimeout and 5 s for the record.
	Margin time.Duration
}

// NewDeliverer is a deliverer with the real clock.
func NewDeliverer(store Store, mailer Mailer, sealer Sealer, log *slog.Logger, m *metrics.Recorder) *Deliverer {
	return &Deliverer{Store: store, Mailer: mailer, Sealer: sealer, Now: time.Now, Log: log, Metrics: m}
}

func (d *Deliverer) margin() time.Duration {
	if d.Margin > 0 {
		return d.Margin
	}
	return SendTimeout + 5*time.Second
}

// Result counts what a delivery run did.
type Result struct {
	Sent, Failed, Dead, Skipped int
}

// Add sums r and o.
func (r Result) Add(o Result) Result {
	return Result{Sent: r.Sent + o.Sent, Failed: r.Failed + o.Failed, Dead: r.Dead + o.Dead, Skipped: r.Skipped + o.Skipped}
}

// Deliver claims and sends the item id. An item that is not due is
// skipped (another deliverer has it, or it was sent); a mail that fails is
// put back for a later attempt. The error is only for the store failing,
// when the caller should retry the whole delivery.
func (d *Deliverer) Deliver(ctx context.Context, id string) (Result, error) {
	now := d.Now().UTC()
	item, err := d.Store.Claim(ctx, id, NewClaim(), now)
	if errors.Is(err, ErrNotDue) || errors.Is(err, ErrNotFound) {
		return Result{Skipped: 1}, nil
	}
	if err != nil {
		return Result{}, fmt.Errorf("claim outbox item: %w", err)
	}
	if item.Kind == KindVoid {
		// Nothing to send: settle it like a sent mail, quietly.
		if err := d.Store.Sent(ctx, item, now); err != nil {
			return Result{}, fmt.Errorf("settle void outbox item: %w", err)
		}
		return Result{Skipped: 1}, nil
	}
	if !item.ExpiresAt.IsZero() && !now.Before(item.ExpiresAt) {
		// What it carries no longer works (a code past its validity);
		// sending it would only confuse. It is dead, and counted.
		return d.fail(ctx, item, "Expired", now, true)
	}
	secret := ""
	if item.Sealed != "" {
		if secret, err = d.Sealer.Open(item.ID, item.Sealed); err != nil {
			return d.fail(ctx, item, "SealBroken", now, false)
		}
	}
	sendErr := d.Mailer.SendOutbox(ctx, item, secret)
	// The outcome is recorded even if the invocation's deadline passed
	// during the send: a mail that left must not be sent again.
	record, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if sendErr != nil {
		// The reason kept on the item and logged names the failure, not
		// its text, which can hold the recipient.
		return d.fail(record, item, logging.Describe(sendErr), now, false)
	}
	if err := d.Store.Sent(record, item, d.Now().UTC()); err != nil {
		// The mail left; if the mark is lost, the claim expires and the
		// mail may go twice, which beats never.
		return Result{Sent: 1}, fmt.Errorf("mark outbox item sent: %w", err)
	}
	d.Log.InfoContext(ctx, "outbox mail sent", "kind", item.Kind, "attempt", item.Attempts)
	d.Metrics.Count("OutboxMailsSent", map[string]string{"Kind": string(item.Kind)})
	return Result{Sent: 1}, nil
}

func (d *Deliverer) fail(ctx context.Context, item Item, reason string, now time.Time, final bool) (Result, error) {
	if final {
		item.Attempts = max(item.Attempts, MaxAttempts)
	}
	dead, err := d.Store.Failed(ctx, item, reason, now)
	if err != nil {
		return Result{}, fmt.Errorf("record failed outbox item: %w", err)
	}
	if dead {
		d.Log.ErrorContext(ctx, "outbox mail dead: too many failed attempts", "kind", item.Kind, "attempts", item.Attempts, "reason", reason)
		d.Metrics.Count("OutboxMailsDead", nil)
		return Result{Dead: 1}, nil
	}
	d.Metrics.Count("OutboxMailsFailed", map[string]string{"Kind": string(item.Kind)})
	d.Log.WarnContext(ctx, "outbox mail failed; will retry", "kind", item.Kind, "attempt", item.Attempts, "reason", reason, "retryIn", Backoff(item.Attempts).String())
	return Result{Failed: 1}, nil
}

// Sweep delivers what is due, until limit items were tried or the
// deadline is near: the scheduled retry of what the stream left behind.
func (d *Deliverer) Sweep(ctx context.Context, limit int) (Result, error) {
	ids, err := d.Store.Due(ctx, d.Now().UTC(), limit)
	if err != nil {
		return Result{}, fmt.Errorf("list due outbox items: %w", err)
	}
	var total Result
	for _, id := range ids {
		if deadline, ok := ctx.Deadline(); ctx.Err() != nil || ok && time.Until(deadline) < d.margin() {
			break
		}
		r, err := d.Deliver(ctx, id)
		total = total.Add(r)
		if err != nil {
			return total, err
		}
	}
	return total, nil
}
