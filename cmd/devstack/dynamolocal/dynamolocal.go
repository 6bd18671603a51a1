// Package dynamolocal is the embedded DynamoDB-compatible server the tests
// and the local stack run (minidyn), with the gaps that would make code
// written for DynamoDB behave differently here closed at the wire:
//
//   - REMOVE of a top-level attribute in an UpdateItem (alone or in a
//     transaction) is ignored by the engine; here it takes effect.
//   - A DELETE that empties a set leaves an empty set; DynamoDB drops the
//     attribute, and so does this.
//
// Queries on a global secondary index are answered from the table (see
// index.go): the engine's index loses entries.
//
// Both matter for sparse indexes: an item leaves one when its key
// attribute goes. The fix applies the same request's effect after the
// engine's, under a lock that makes the pair atomic to other clients.
// (ReturnValues of such an update still show the engine's view.)
//
// Writes are also serialized: the engine rolls a failed transaction back
// by restoring a snapshot, which would undo a write that landed meanwhile.
package dynamolocal

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	miniserver "github.com/truora/minidyn/server"
)

// Server is the engine behind the fixes.
type Server struct {
	// Engine injects failures (EmulateFailure, EmulateFailureForTable).
	Engine *miniserver.Server
	// mu is held for writing by every write (and an update's fix), and
	// for reading by reads.
	mu sync.RWMutex

	schemaMu sync.Mutex
	tables   map[string]tableSchema // those with global secondary indexes

	// feedMu guards the change feeds (feed.go), the tables' key
	// attributes and the changes' sequence (and their writes').
	feedMu sync.Mutex
	feeds  map[string][]*Feed
	keys   map[string][]string
	seq    int64
	writes int64

	requests atomic.Int64

	// tokens are the ClientRequestTokens of the transactions that
	// succeeded, with what they wrote and when (under mu).
	tokens map[string]tokenUse
}

// tokenUse is a transaction's token: a hash of its items, and its time.
type tokenUse struct {
	items [32]byte
	at    time.Time
}

// TokenWindow is how long DynamoDB remembers a transaction's token.
const TokenWindow = 10 * time.Minute

// Requests counts the requests served but Scans: the product never scans
// (only local tooling does, such as the stream's emulation), so this is
// the product's round trips.
func (s *Server) Requests() int64 { return s.requests.Load() }

// New returns a server with no tables.
func New() *Server {
	return &Server{Engine: miniserver.NewServer()}
}

const targetPrefix = "DynamoDB_20120810."

// update is the part of an UpdateItem (or a transaction's Update) the
// fixes read.
type update struct {
	TableName                string
	Key                      map[string]json.RawMessage
	UpdateExpression         string
	ExpressionAttributeNames map[string]string
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	op := strings.TrimPrefix(r.Header.Get("X-Amz-Target"), targetPrefix)
	if op != "Scan" {
		s.requests.Add(1)
	}
	switch op {
	case "CreateTable", "Query":
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		if op == "CreateTable" {
			s.noteTable(body)
		}
		s.mu.RLock()
		defer s.mu.RUnlock()
		if op == "Query" && s.indexQuery(w, r, body) {
			return
		}
		s.Engine.ServeHTTP(w, r)
		return
	case "UpdateItem", "TransactWriteItems", "PutItem", "DeleteItem", "BatchWriteItem":
	default:
		s.mu.RLock()
		defer s.mu.RUnlock()
		s.Engine.ServeHTTP(w, r)
		return
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var updates []update
	switch op {
	case "UpdateItem":
		var u update
		if json.Unmarshal(body, &u) == nil {
			updates = append(updates, u)
		}
	case "TransactWriteItems":
		var tx struct{ TransactItems []struct{ Update *update } }
		if json.Unmarshal(body, &tx) == nil {
			for _, it := range tx.TransactItems {
				if it.Update != nil {
					updates = append(updates, *it.Update)
				}
			}
		}
	}
	updates = slices.DeleteFunc(updates, func(u update) bool { return !needsFix(u.UpdateExpression) })
	r.Body = io.NopCloser(bytes.NewReader(body))
	s.mu.Lock()
	defer s.mu.Unlock()
	token, items := transactionToken(op, body)
	if token != "" {
		if used, ok := s.tokens[token]; ok && time.Since(used.at) < TokenWindow {
			// DynamoDB answers a transaction sent again with its token as
			// the first time, without applying it again; with other items,
			// it refuses.
			w.Header().Set("Content-Type", "application/x-amz-json-1.0")
			if used.items != items {
				w.WriteHeader(http.StatusBadRequest)
				_, _ = io.WriteString(w, `{"__type":"com.amazonaws.dynamodb.v20120810#IdempotentParameterMismatchException","message":"The request uses the same client token as a previous, but non-identical request."}`)
				return
			}
			_, _ = io.WriteString(w, `{}`)
			return
		}
	}
	// The items a subscribed table's feed records, as they were before.
	refs := s.touched(op, body)
	before := s.images(r, refs)
	if len(updates) == 0 && len(refs) == 0 && token == "" {
		s.Engine.ServeHTTP(w, r)
		return
	}
	rec := httptest.NewRecorder()
	s.Engine.ServeHTTP(rec, r)
	if rec.Code == http.StatusOK {
		for _, u := range updates {
			s.fix(r, u)
		}
		s.publish(refs, before, s.images(r, refs))
		if token != "" {
			if s.tokens == nil {
				s.tokens = map[string]tokenUse{}
			}
			now := time.Now()
			if len(s.tokens)%1024 == 1023 {
				// Forget the tokens past their window, as DynamoDB does:
				// a long make dev session must not keep them all.
				for t, used := range s.tokens {
					if now.Sub(used.at) >= TokenWindow {
						delete(s.tokens, t)
					}
				}
			}
			s.tokens[token] = tokenUse{items: items, at: now}
		}
	}
	for k, v := range rec.Header() {
		w.Header()[k] = v
	}
	w.WriteHeader(rec.Code)
	_, _ = w.Write(rec.Body.Bytes())
}

// transactionToken is a TransactWriteItems' ClientRequestToken and a hash
// of its items ("" for another operation, or none given).
func transactionToken(op string, body []byte) (string, [32]byte) {
	if op != "TransactWriteItems" {
		return "", [32]byte{}
	}
	var tx struct {
		ClientRequestToken string
		TransactItems      json.RawMessage
	}
	if json.Unmarshal(body, &tx) != nil {
		return "", [32]byte{}
	}
	// The same items in any order of their keys (a client marshals maps
	// in no fixed order): compared in the canonical form, keys sorted.
	return tx.ClientRequestToken, sha256.Sum256(Canonical(tx.TransactItems))
}

var clause = regexp.MustCompile(`(?i)\b(SET|REMOVE|ADD|DELETE)\b`)

func needsFix(expr string) bool {
	for _, m := range clause.FindAllString(expr, -1) {
		if k := strings.ToUpper(m); k == "REMOVE" || k == "DELETE" {
			return true
		}
	}
	return false
}

// removed lists the top-level attributes an update expression removes.
func removed(expr string, names map[string]string) []string {
	var out []string
	idx := clause.FindAllStringIndex(expr, -1)
	for i, at := range idx {
		if !strings.EqualFold(expr[at[0]:at[1]], "REMOVE") {
			continue
		}
		end := len(expr)
		if i+1 < len(idx) {
			end = idx[i+1][0]
		}
		for _, path := range strings.Split(expr[at[1]:end], ",") {
			path = strings.TrimSpace(path)
			if path == "" || strings.ContainsAny(path, ".[") {
				continue // nested paths the engine handles
			}
			if n, ok := names[path]; ok {
				path = n
			}
			out = append(out, path)
		}
	}
	return out
}

// fix reads the updated item and writes it back without the removed
// attributes and the emptied sets.
func (s *Server) fix(orig *http.Request, u update) {
	var got struct {
		Item map[string]map[string]json.RawMessage
	}
	if !s.call(orig, "GetItem", map[string]any{"TableName": u.TableName, "Key": u.Key, "ConsistentRead": true}, &got) || got.Item == nil {
		return
	}
	changed := false
	for _, name := range removed(u.UpdateExpression, u.ExpressionAttributeNames) {
		if _, ok := got.Item[name]; ok {
			delete(got.Item, name)
			changed = true
		}
	}
	for name, av := range got.Item {
		// The engine leaves an emptied set as a value of no type.
		empty := len(av) == 0
		for _, set := range []string{"SS", "NS", "BS"} {
			if raw, ok := av[set]; ok && (string(raw) == "[]" || string(raw) == "null") {
				empty = true
			}
		}
		if empty {
			delete(got.Item, name)
			changed = true
		}
	}
	if changed {
		s.call(orig, "PutItem", map[string]any{"TableName": u.TableName, "Item": got.Item}, nil)
	}
}

// call sends one request to the engine, as orig's client would.
func (s *Server) call(orig *http.Request, op string, in any, out any) bool {
	body, err := json.Marshal(in)
	if err != nil {
		return false
	}
	req := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body)).WithContext(orig.Context())
	req.Header.Set("Content-Type", "application/x-amz-json-1.0")
	req.Header.Set("X-Amz-Target", targetPrefix+op)
	req.Header.Set("Authorization", orig.Header.Get("Authorization"))
	rec := httptest.NewRecorder()
	s.Engine.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		return false
	}
	return out == nil || json.Unmarshal(rec.Body.Bytes(), out) == nil
}
