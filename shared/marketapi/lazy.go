package marketapi

import (
	"context"
	"sync"
)

// Lazy builds its Client on first use. The OpenAPI is needed only when a
// createInstance callback was lost, so a cold start should not pay for
// reading its credentials. A failed build is retried on the next call.
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
			return nil, err
		}
		l.client = c
	}
	return l.client, nil
}

// DescribeInstance calls DescribeInstanceForIsv.
func (l *Lazy) DescribeInstance(ctx context.Context, id string) (Instance, error) {
	c, err := l.get(ctx)
	if err != nil {
		return Instance{}, err
	}
	return c.DescribeInstance(ctx, id)
}

// DescribeOrder calls DescribeOrderForIsv.
func (l *Lazy) DescribeOrder(ctx context.Context, id string) (Order, error) {
	c, err := l.get(ctx)
	if err != nil {
		return Order{}, err
	}
	return c.DescribeOrder(ctx, id)
}
