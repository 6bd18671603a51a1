package marketapi

import (
	"context"
	"fmt"
	"sync"

	"github.com/guance/aliyun-marketplace/shared/domain/activation"
	"github.com/guance/aliyun-marketplace/shared/domain/marketplace"
)

// Lazy builds its Client on first use. The OpenAPI is needed only on rare
// paths (a lost createInstance, a contested lifecycle call), so a cold
// start should not pay for reading its credentials. A failed build is
// retried on the next call.
type Lazy struct {
	Build func(ctx context.Context) (*Client, error)

	mu     sync.Mutex
	client *Client
}

func (l *Lazy) get(ctx context.Context) (*Client, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.client == nil {
		c, err := l.Build(ctx)
		if err != nil {
			// No client, no call: whatever it was certainly did nothing.
			return nil, fmt.Errorf("%w: %w", ErrNotSent, err)
		}
		l.client = c
	}
	return l.client, nil
}

// Describe calls DescribeInstanceForIsv.
func (l *Lazy) Describe(ctx context.Context, id string) (activation.MarketInstance, error) {
	c, err := l.get(ctx)
	if err != nil {
		return activation.MarketInstance{}, err
	}
	return c.Describe(ctx, id)
}

// Record calls DescribeInstanceForIsv and DescribeOrderForIsv.
func (l *Lazy) Record(ctx context.Context, id string) (activation.MarketRecord, error) {
	c, err := l.get(ctx)
	if err != nil {
		return activation.MarketRecord{}, err
	}
	return c.Record(ctx, id)
}

// FailedNotifications calls DescribeFailedNotifications.
func (l *Lazy) FailedNotifications(ctx context.Context, page, size int) ([]marketplace.FailedNotification, int, error) {
	c, err := l.get(ctx)
	if err != nil {
		return nil, 0, err
	}
	return c.FailedNotifications(ctx, page, size)
}

// ConfirmNotification calls ConfirmNotification.
func (l *Lazy) ConfirmNotification(ctx context.Context, id string) error {
	c, err := l.get(ctx)
	if err != nil {
		return err
	}
	return c.ConfirmNotification(ctx, id)
}

// PushMeteringData calls PushMeteringData.
func (l *Lazy) PushMeteringData(ctx context.Context, metering string) error {
	c, err := l.get(ctx)
	if err != nil {
		return err
	}
	return c.PushMeteringData(ctx, metering)
}
