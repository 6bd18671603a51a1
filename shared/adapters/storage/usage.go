package storage

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/guance/aliyun-marketplace/shared/domain/metering"
)

// The usage table: the platform's hourly usage per workspace and item, one
// item per (workspace, window, usage item) under the key
// id = "<workspaceId>#<window start, 10 digits>#<item>": the platform's
// PutItem is conditioned on the key being new, and the metering reads the
// records it needs by key (BatchGetItem), never by scanning.

// ErrUsageExists refuses a second usage record of a workspace, item and
// window.
var ErrUsageExists = errors.New("usage of this workspace, item and window is recorded already")

// Usage reads and writes usage records.
type Usage struct{ st *Store }

// UsageID is a usage record's key.
func UsageID(workspaceID string, windowStart int64, item string) string {
	return fmt.Sprintf("%s#%010d#%s", workspaceID, windowStart, item)
}

// Put records one usage record, once (the platform's own write is the
// same PutItem with the same condition).
func (s *Usage) Put(ctx context.Context, u metering.Usage) error {
	item, err := attributevalue.MarshalMap(u)
	if err != nil {
		return err
	}
	item[idAttr] = str(UsageID(u.WorkspaceID, u.WindowStart, u.Item))
	refused, err := s.st.putNew(ctx, s.st.t.Usage, item, idAttr)
	switch {
	case err != nil:
		return fmt.Errorf("put usage: %w", err)
	case refused:
		return ErrUsageExists
	}
	return nil
}

// Get reads the usage records of these workspaces, windows and items
// (those that exist), 100 keys a batch. The workspace, window and item
// come from the key asked for, never from the item's own attributes; an
// item whose amount is unreadable or out of range is left out and counted
// in bad (one corrupt record must not hold up the others).
func (s *Usage) Get(ctx context.Context, workspaces []string, windows []time.Time, items []string) (list []metering.Usage, bad int, err error) {
	type want struct {
		ws, item string
		window   int64
	}
	asked := map[string]want{}
	var keys []map[string]types.AttributeValue
	for _, ws := range workspaces {
		for _, w := range windows {
			for _, item := range items {
				id := UsageID(ws, w.Unix(), item)
				asked[id] = want{ws: ws, item: item, window: w.Unix()}
				keys = append(keys, idKey(id))
			}
		}
	}
	for len(keys) > 0 {
		n := min(len(keys), 100)
		batch := keys[:n]
		keys = keys[n:]
		found, err := s.st.batchGet(ctx, map[string]types.KeysAndAttributes{s.st.t.Usage: {Keys: batch}})
		if err != nil {
			return nil, 0, fmt.Errorf("read usage: %w", err)
		}
		for _, item := range found[s.st.t.Usage] {
			w, ok := asked[stringOf(item[idAttr])]
			var amount int64
			if !ok || attributevalue.Unmarshal(item["amount"], &amount) != nil || amount < 0 || amount > metering.MaxAmount {
				bad++
				continue
			}
			list = append(list, metering.Usage{WorkspaceID: w.ws, Item: w.item, WindowStart: w.window, Amount: amount})
		}
	}
	return list, bad, nil
}
