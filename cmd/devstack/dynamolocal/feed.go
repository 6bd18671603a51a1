package dynamolocal

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"sync"
)

// Change is one item's change, as a DynamoDB stream records it: the item's
// keys, and its images before and after (nil for none), in the engine's
// wire form.
type Change struct {
	Table string
	// Event is INSERT, MODIFY or REMOVE.
	Event string
	Keys  map[string]json.RawMessage
	Old   map[string]json.RawMessage
	New   map[string]json.RawMessage
	// Seq orders the changes of a server, as a stream's sequence numbers.
	Seq int64
	// Write names the request that made the change: the changes of one
	// transaction share it (a stream does not say; the checks of what a
	// transaction holds read it).
	Write int64
}

// Feed is the changes of one table from the moment it was subscribed, in
// the order they were made (so in order per item too, as a stream is).
// Writers never wait for its reader: it queues.
type Feed struct {
	mu      sync.Mutex
	queue   []Change
	waiting chan struct{}
}

// Next waits for at least one change, and returns at most n, oldest first.
func (f *Feed) Next(ctx context.Context, n int) ([]Change, error) {
	for {
		f.mu.Lock()
		if len(f.queue) > 0 {
			k := min(n, len(f.queue))
			out := append([]Change(nil), f.queue[:k]...)
			f.queue = f.queue[k:]
			f.mu.Unlock()
			return out, nil
		}
		if f.waiting == nil {
			f.waiting = make(chan struct{})
		}
		wait := f.waiting
		f.mu.Unlock()
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-wait:
		}
	}
}

// Drain returns every change queued, without waiting.
func (f *Feed) Drain() []Change {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := f.queue
	f.queue = nil
	return out
}

// Again puts changes back in front of the queue, as a stream hands the
// records of a failed batch over again, from the first that failed.
func (f *Feed) Again(changes []Change) {
	f.mu.Lock()
	f.queue = append(append([]Change(nil), changes...), f.queue...)
	f.wake()
	f.mu.Unlock()
}

func (f *Feed) push(c Change) {
	f.mu.Lock()
	f.queue = append(f.queue, c)
	f.wake()
	f.mu.Unlock()
}

// wake lets a waiting Next go on (f.mu held).
func (f *Feed) wake() {
	if f.waiting != nil {
		close(f.waiting)
		f.waiting = nil
	}
}

// Subscribe returns the feed of table's changes from now on.
func (s *Server) Subscribe(table string) *Feed {
	s.feedMu.Lock()
	defer s.feedMu.Unlock()
	if s.feeds == nil {
		s.feeds = map[string][]*Feed{}
	}
	f := &Feed{}
	s.feeds[table] = append(s.feeds[table], f)
	return f
}

// itemRef is an item a write touches.
type itemRef struct {
	table string
	key   map[string]json.RawMessage
}

// touched lists the items of subscribed tables that the write op (its
// body) touches; nil when none is subscribed.
func (s *Server) touched(op string, body []byte) []itemRef {
	s.feedMu.Lock()
	subscribed := len(s.feeds) > 0
	s.feedMu.Unlock()
	if !subscribed {
		return nil
	}
	type write struct {
		TableName string
		Key       map[string]json.RawMessage
		Item      map[string]json.RawMessage
	}
	var writes []write
	switch op {
	case "PutItem", "UpdateItem", "DeleteItem":
		var w write
		if json.Unmarshal(body, &w) == nil {
			writes = append(writes, w)
		}
	case "TransactWriteItems":
		var tx struct {
			TransactItems []struct{ Put, Update, Delete *write }
		}
		if json.Unmarshal(body, &tx) == nil {
			for _, it := range tx.TransactItems {
				for _, w := range []*write{it.Put, it.Update, it.Delete} {
					if w != nil {
						writes = append(writes, *w)
					}
				}
			}
		}
	case "BatchWriteItem":
		var batch struct {
			RequestItems map[string][]struct {
				PutRequest    *struct{ Item map[string]json.RawMessage }
				DeleteRequest *struct{ Key map[string]json.RawMessage }
			}
		}
		if json.Unmarshal(body, &batch) == nil {
			for table, reqs := range batch.RequestItems {
				for _, r := range reqs {
					switch {
					case r.PutRequest != nil:
						writes = append(writes, write{TableName: table, Item: r.PutRequest.Item})
					case r.DeleteRequest != nil:
						writes = append(writes, write{TableName: table, Key: r.DeleteRequest.Key})
					}
				}
			}
		}
	}
	var refs []itemRef
	s.feedMu.Lock()
	defer s.feedMu.Unlock()
	for _, w := range writes {
		if len(s.feeds[w.TableName]) == 0 {
			continue
		}
		key := w.Key
		if key == nil {
			key = map[string]json.RawMessage{}
			for _, name := range s.keys[w.TableName] {
				key[name] = w.Item[name]
			}
		}
		refs = append(refs, itemRef{table: w.TableName, key: key})
	}
	return refs
}

// images reads the items refs name (nil for one that is not there).
func (s *Server) images(orig *http.Request, refs []itemRef) []map[string]json.RawMessage {
	out := make([]map[string]json.RawMessage, len(refs))
	for i, ref := range refs {
		var got struct{ Item map[string]json.RawMessage }
		if s.call(orig, "GetItem", map[string]any{"TableName": ref.table, "Key": ref.key, "ConsistentRead": true}, &got) {
			out[i] = got.Item
		}
	}
	return out
}

// publish hands each item's change (before, after) to its table's feeds.
func (s *Server) publish(refs []itemRef, before, after []map[string]json.RawMessage) {
	s.feedMu.Lock()
	defer s.feedMu.Unlock()
	s.writes++
	for i, ref := range refs {
		old, cur := before[i], after[i]
		event := "MODIFY"
		switch {
		case old == nil && cur == nil:
			continue
		case old == nil:
			event = "INSERT"
		case cur == nil:
			event = "REMOVE"
		case sameItem(old, cur):
			continue // a write that changed nothing makes no record
		}
		s.seq++
		c := Change{Table: ref.table, Event: event, Keys: ref.key, Old: old, New: cur, Seq: s.seq, Write: s.writes}
		for _, f := range s.feeds[ref.table] {
			f.push(c)
		}
	}
}

func sameItem(a, b map[string]json.RawMessage) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		w, ok := b[k]
		if !ok || !bytes.Equal(Canonical(v), Canonical(w)) {
			return false
		}
	}
	return true
}

// Canonical is v re-encoded, so that two encodings of one value compare
// equal (a set's order aside).
func Canonical(v json.RawMessage) []byte {
	var x any
	if json.Unmarshal(v, &x) != nil {
		return v
	}
	b, _ := json.Marshal(x)
	return b
}
