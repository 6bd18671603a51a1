package dynamolocal

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// The engine keeps a secondary index as a sorted list beside a map, and an
// update that brings an item into an index (a new item, or a sparse
// index's key attribute set) overwrites the list's first entry instead of
// adding one: queries then miss items. So queries on a global secondary
// index are answered here, from the table itself, by the index's key
// schema and projection, recorded when the table is created.

// indexSchema is one global secondary index.
type indexSchema struct {
	hash, sort string // attribute names; sort may be empty
	projection string // ALL, KEYS_ONLY or INCLUDE
	include    []string
}

// tableSchema is what the queries need of a table.
type tableSchema struct {
	keys    []string // the table's key attributes
	indexes map[string]indexSchema
}

// av is an attribute value as it travels: {"S": "..."}.
type av = map[string]json.RawMessage

type item = map[string]av

func (s *Server) noteTable(body []byte) {
	var in struct {
		TableName string
		KeySchema []struct{ AttributeName string }
		GSIs      []struct {
			IndexName  string
			KeySchema  []struct{ AttributeName, KeyType string }
			Projection struct {
				ProjectionType   string
				NonKeyAttributes []string
			}
		} `json:"GlobalSecondaryIndexes"`
	}
	if json.Unmarshal(body, &in) != nil {
		return
	}
	s.feedMu.Lock()
	if s.keys == nil {
		s.keys = map[string][]string{}
	}
	for _, k := range in.KeySchema {
		s.keys[in.TableName] = append(s.keys[in.TableName], k.AttributeName)
	}
	s.feedMu.Unlock()
	if len(in.GSIs) == 0 {
		return
	}
	t := tableSchema{indexes: map[string]indexSchema{}}
	for _, k := range in.KeySchema {
		t.keys = append(t.keys, k.AttributeName)
	}
	for _, g := range in.GSIs {
		ix := indexSchema{projection: g.Projection.ProjectionType, include: g.Projection.NonKeyAttributes}
		for _, k := range g.KeySchema {
			if k.KeyType == "HASH" {
				ix.hash = k.AttributeName
			} else {
				ix.sort = k.AttributeName
			}
		}
		t.indexes[g.IndexName] = ix
	}
	s.schemaMu.Lock()
	defer s.schemaMu.Unlock()
	if s.tables == nil {
		s.tables = map[string]tableSchema{}
	}
	s.tables[in.TableName] = t
}

// queryInput is the part of a Query this answers.
type queryInput struct {
	TableName                 string
	IndexName                 string
	KeyConditionExpression    string
	ExpressionAttributeNames  map[string]string
	ExpressionAttributeValues map[string]av
	ProjectionExpression      string
	ExclusiveStartKey         item
	Limit                     int
	ScanIndexForward          *bool
	FilterExpression          string
}

// indexQuery answers a Query on a global secondary index, or reports
// false when it is not one this knows (the engine answers).
func (s *Server) indexQuery(w http.ResponseWriter, r *http.Request, body []byte) bool {
	var in queryInput
	if json.Unmarshal(body, &in) != nil || in.IndexName == "" || in.FilterExpression != "" {
		return false
	}
	s.schemaMu.Lock()
	t, ok := s.tables[in.TableName]
	s.schemaMu.Unlock()
	ix, known := t.indexes[in.IndexName]
	if !ok || !known {
		return false
	}
	cond, err := parseKeyCondition(in.KeyConditionExpression, in.ExpressionAttributeNames, in.ExpressionAttributeValues)
	if err != nil || cond.hash != ix.hash || (cond.sort != "" && cond.sort != ix.sort) {
		writeError(w, "ValidationException", fmt.Sprintf("Query condition not understood locally: %v", err))
		return true
	}
	var scan struct{ Items []item }
	if !s.call(r, "Scan", map[string]any{"TableName": in.TableName}, &scan) {
		writeError(w, "InternalServerError", "the table could not be read")
		return true
	}
	var rows []item
	for _, it := range scan.Items {
		h, okh := it[ix.hash]
		if !okh || (ix.sort != "" && it[ix.sort] == nil) {
			continue // not in this sparse index
		}
		if compare(h, cond.hashValue) != 0 || !cond.matches(it[ix.sort]) {
			continue
		}
		rows = append(rows, it)
	}
	order := func(a, b item) int {
		if ix.sort != "" {
			if c := compare(a[ix.sort], b[ix.sort]); c != 0 {
				return c
			}
		}
		return strings.Compare(keyString(a, t.keys), keyString(b, t.keys))
	}
	slices.SortFunc(rows, order)
	forward := in.ScanIndexForward == nil || *in.ScanIndexForward
	if !forward {
		slices.Reverse(rows)
	}
	if start := in.ExclusiveStartKey; start != nil {
		// After the start key's place in the order, whether or not its
		// item is still in the index (it may have left it since).
		rows = slices.DeleteFunc(rows, func(it item) bool {
			c := order(it, start)
			return c == 0 || (c < 0) == forward
		})
	}
	var last item
	if in.Limit > 0 && len(rows) > in.Limit {
		rows = rows[:in.Limit]
		last = item{}
		for _, k := range append(append([]string{}, t.keys...), ix.hash, ix.sort) {
			if v, ok := rows[len(rows)-1][k]; ok && k != "" {
				last[k] = v
			}
		}
	}
	out := make([]item, len(rows))
	for i, it := range rows {
		out[i] = project(it, ix, t.keys, in.ProjectionExpression, in.ExpressionAttributeNames)
	}
	resp := map[string]any{"Items": out, "Count": len(out), "ScannedCount": len(out)}
	if last != nil {
		resp["LastEvaluatedKey"] = last
	}
	b, _ := json.Marshal(resp)
	w.Header().Set("Content-Type", "application/x-amz-json-1.0")
	_, _ = w.Write(b)
	return true
}

func writeError(w http.ResponseWriter, code, msg string) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.0")
	w.WriteHeader(http.StatusBadRequest)
	b, _ := json.Marshal(map[string]string{"__type": "com.amazonaws.dynamodb.v20120810#" + code, "message": msg})
	_, _ = w.Write(b)
}

func keyString(it item, keys []string) string {
	var b bytes.Buffer
	for _, k := range keys {
		for t, v := range it[k] {
			b.WriteString(t + string(v) + "\x00")
		}
	}
	return b.String()
}

// project applies the index's projection, then a ProjectionExpression of
// top-level names.
func project(it item, ix indexSchema, keys []string, expr string, names map[string]string) item {
	out := item{}
	switch ix.projection {
	case "KEYS_ONLY", "INCLUDE":
		names := append(append([]string{}, keys...), ix.hash, ix.sort)
		if ix.projection == "INCLUDE" {
			names = append(names, ix.include...)
		}
		for _, k := range names {
			if v, ok := it[k]; ok && k != "" {
				out[k] = v
			}
		}
	default:
		for k, v := range it {
			out[k] = v
		}
	}
	if expr == "" {
		return out
	}
	picked := item{}
	for _, p := range strings.Split(expr, ",") {
		p = strings.TrimSpace(p)
		if n, ok := names[p]; ok {
			p = n
		}
		if v, ok := out[p]; ok {
			picked[p] = v
		}
	}
	return picked
}

// keyCondition is "hash = :v" and an optional condition on the sort key.
type keyCondition struct {
	hash      string
	hashValue av
	sort      string
	op        string // =, <, <=, >, >=, BETWEEN, begins_with
	values    []av
}

var (
	hashEq  = regexp.MustCompile(`^\s*(#?\w+)\s*=\s*(:\w+)\s*$`)
	compOp  = regexp.MustCompile(`^\s*(#?\w+)\s*(<=|>=|<|>|=)\s*(:\w+)\s*$`)
	between = regexp.MustCompile(`(?i)^\s*(#?\w+)\s+BETWEEN\s+(:\w+)\s+AND\s+(:\w+)\s*$`)
	begins  = regexp.MustCompile(`^\s*begins_with\s*\(\s*(#?\w+)\s*,\s*(:\w+)\s*\)\s*$`)
	andSep  = regexp.MustCompile(`(?i)\s+AND\s+`)
)

func parseKeyCondition(expr string, names map[string]string, values map[string]av) (keyCondition, error) {
	name := func(n string) string {
		if v, ok := names[n]; ok {
			return v
		}
		return n
	}
	expr = strings.TrimSpace(strings.Trim(strings.TrimSpace(expr), "()"))
	parts := andSep.Split(expr, 2)
	// A BETWEEN's own AND: "h = :h AND s BETWEEN :a AND :b" splits in two
	// at the first AND, which is the one between the conditions.
	var c keyCondition
	var sortPart string
	for _, p := range parts {
		p = strings.TrimSpace(strings.Trim(strings.TrimSpace(p), "()"))
		if m := hashEq.FindStringSubmatch(p); m != nil && c.hash == "" {
			c.hash, c.hashValue = name(m[1]), values[m[2]]
			continue
		}
		sortPart = p
	}
	if c.hash == "" || c.hashValue == nil {
		return c, fmt.Errorf("no hash key equality in %q", expr)
	}
	if sortPart == "" {
		return c, nil
	}
	switch {
	case between.MatchString(sortPart):
		m := between.FindStringSubmatch(sortPart)
		c.sort, c.op, c.values = name(m[1]), "BETWEEN", []av{values[m[2]], values[m[3]]}
	case begins.MatchString(sortPart):
		m := begins.FindStringSubmatch(sortPart)
		c.sort, c.op, c.values = name(m[1]), "begins_with", []av{values[m[2]]}
	case compOp.MatchString(sortPart):
		m := compOp.FindStringSubmatch(sortPart)
		c.sort, c.op, c.values = name(m[1]), m[2], []av{values[m[3]]}
	default:
		return c, fmt.Errorf("sort key condition %q", sortPart)
	}
	for _, v := range c.values {
		if v == nil {
			return c, fmt.Errorf("a value of %q is missing", sortPart)
		}
	}
	return c, nil
}

func (c keyCondition) matches(v av) bool {
	if c.sort == "" {
		return true
	}
	if v == nil {
		return false
	}
	switch c.op {
	case "=":
		return compare(v, c.values[0]) == 0
	case "<":
		return compare(v, c.values[0]) < 0
	case "<=":
		return compare(v, c.values[0]) <= 0
	case ">":
		return compare(v, c.values[0]) > 0
	case ">=":
		return compare(v, c.values[0]) >= 0
	case "BETWEEN":
		return compare(v, c.values[0]) >= 0 && compare(v, c.values[1]) <= 0
	case "begins_with":
		a, b := scalar(v), scalar(c.values[0])
		return strings.HasPrefix(a, b)
	}
	return false
}

// compare orders two scalar values: numbers as numbers, else as strings.
func compare(a, b av) int {
	if na, ok := a["N"]; ok {
		if nb, ok := b["N"]; ok {
			x, _ := strconv.ParseFloat(unquote(na), 64)
			y, _ := strconv.ParseFloat(unquote(nb), 64)
			switch {
			case x < y:
				return -1
			case x > y:
				return 1
			}
			return 0
		}
	}
	return strings.Compare(scalar(a), scalar(b))
}

func scalar(v av) string {
	for _, t := range []string{"S", "N", "B"} {
		if raw, ok := v[t]; ok {
			return unquote(raw)
		}
	}
	return ""
}

func unquote(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	return string(raw)
}
