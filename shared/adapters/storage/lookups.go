package storage

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/guance/aliyun-marketplace/shared/domain/guance"
	"github.com/guance/aliyun-marketplace/shared/domain/verification"
)

// Lookups answer whether a username or an email is taken, each lookup
// counted first (in the verification table, beside the code sends'
// counters) against the purchase and the client network that ask, in one
// transaction: a lookup over a cap reads nothing.
type Lookups struct{ st *Store }

// Taken counts the lookup, then reads the accounts it asks about (one
// consistent BatchGetItem).
func (s *Lookups) Taken(ctx context.Context, q guance.Lookup) (guance.Taken, error) {
	hour := q.Now.Truncate(time.Hour)
	end := hour.Add(time.Hour)
	window := strconv.FormatInt(hour.Unix(), 10)
	t := s.st.tx()
	count := func(id string, limit int) {
		t.update(s.st.t.Verification, idKey(id),
			expression.Or(expression.Name("count").AttributeNotExists(), expression.Name("count").LessThan(expression.Value(limit))),
			expression.Add(expression.Name("count"), expression.Value(1)).
				Set(expression.Name(expiresAt), expression.IfNotExists(expression.Name(expiresAt), expression.Value(end.Add(time.Hour).Unix()))),
			because(&guance.LookupLimitError{RetryAfter: retryAfter(end, q.Now)}))
	}
	count("rate#lookup-purchase#"+verification.SessionKey(q.Scope)+"#"+window, guance.LookupsPerPurchaseHour)
	if q.Network != "" {
		count("rate#lookup-client#"+q.Network+"#"+window, guance.LookupsPerNetworkHour)
	}
	if err := t.run(ctx, "count account lookup"); err != nil {
		return guance.Taken{}, err
	}
	var keys []map[string]types.AttributeValue
	if q.Username != "" {
		keys = append(keys, idKey(guanceKey(q.Username)))
		if q.Billing {
			keys = append(keys, idKey(billingID(q.Username)))
		}
	}
	if q.Email != "" {
		keys = append(keys, idKey(emailGuardKey(q.Email)))
	}
	if len(keys) == 0 {
		return guance.Taken{}, nil
	}
	found, err := s.st.batchGet(ctx, map[string]types.KeysAndAttributes{s.st.t.Accounts: {Keys: keys, ConsistentRead: aws.Bool(true)}})
	if err != nil {
		return guance.Taken{}, fmt.Errorf("look up accounts: %w", err)
	}
	var taken guance.Taken
	for _, item := range found[s.st.t.Accounts] {
		switch id := stringOf(item[idAttr]); id {
		case guanceKey(q.Username), billingID(q.Username):
			taken.Username = true
		case emailGuardKey(q.Email):
			taken.Email, taken.Account = true, stringOf(item["username"])
		}
	}
	return taken, nil
}
