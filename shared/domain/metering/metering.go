// Package metering turns the workspaces' hourly usage into the
// pay-as-you-go records the marketplace bills (PushMeteringData): which
// hourly windows of an instance are billable and due, what each window's
// record holds (its workspaces' usage summed per billable item), and how
// records are grouped into calls within the marketplace's limits.
//
// The marketplace documents no de-duplication, so a window is pushed at
// most once: each (instance, window) has a push record whose state moves
// pending, sending, then pushed (or refused, or uncertain when a call's
// fate is unknown), and nothing is sent again from sending.
package metering

import (
	"fmt"
	"maps"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Marketplace limits (the PushMeteringData documentation).
const (
	// MaxRecordsPerCall is the most records one PushMeteringData takes.
	MaxRecordsPerCall = 100
	// RecordsPerCall is the most we send in one: half of it, because a
	// call's windows move together in one transaction (at most 100
	// items), each with its event on the trail.
	RecordsPerCall = MaxRecordsPerCall / 2
	// Window is the length of a window: usage is reported hourly.
	Window = time.Hour
	// Deadline is how long after its end an hourly window is accepted:
	// before the end of the next hour.
	Deadline = time.Hour
	// Grace is how long after a window's end its usage is taken as
	// complete: the platform must have written a window's usage by then
	// (usage written later is not billed). It leaves the push half an hour
	// before the deadline.
	Grace = 30 * time.Minute
	// MaxAmount bounds one usage record's amount: a larger one is taken
	// as corrupt (sums must never overflow).
	MaxAmount = int64(1) << 40
	// CallEvery is the least time between two calls for one instance.
	CallEvery = 60 * time.Second
)

// Keys are the billable item keys PushMeteringData documents: usage is
// mapped onto these, never onto a key of our own.
var Keys = []string{
	"Frequency", "Period", "Storage", "NetworkOut", "NetworkIn", "Character", "DailyActiveUser",
	"PeriodMin", "VirtualCpu", "Unit", "Memory", "KTokens", "Suit", "StorageGigaByte",
}

// BillableItem is a billable item of the product, as published on the
// marketplace: one of the documented Keys, and its meteringAssit (the
// item's code in the product's listing, such as
// "cmapi00060317-PeriodMin-4"), which the docs require of products
// published now.
type BillableItem struct {
	Key    string
	Assist string
}

// ExampleMapping is METERING_ITEMS for Guance's usage, as a deploy sets
// it with its own product's codes: hosts as Unit, log storage as
// StorageGigaByte, thousands of trace spans as Frequency.
const ExampleMapping = "host=Unit:cmapi00012345-Unit-1,log_gb=StorageGigaByte:cmapi00012345-StorageGigaByte-2,span_k=Frequency:cmapi00012345-Frequency-3"

// Mapping maps Guance's usage items to the product's billable items
// (configuration: METERING_ITEMS).
type Mapping map[string]BillableItem

// Items are the usage items the mapping bills, sorted.
func (m Mapping) Items() []string { return slices.Sorted(maps.Keys(m)) }

// ParseMapping reads "usage=Key:meteringAssit,..." (METERING_ITEMS): each
// Key one of the documented Keys, each meteringAssit given (the billable
// item's code in the product's listing). Metering cannot start without
// it: the marketplace refuses a record of any other shape.
func ParseMapping(setting string) (Mapping, error) {
	m := Mapping{}
	assists := map[string]string{}
	for _, pair := range strings.Split(setting, ",") {
		pair = strings.TrimSpace(pair)
		if pair == "" {
			continue
		}
		usage, target, ok := strings.Cut(pair, "=")
		key, assist, _ := strings.Cut(target, ":")
		switch {
		case !ok || usage == "" || key == "" || assist == "":
			return nil, fmt.Errorf("metering items: %q is not usage=Key:meteringAssit (for example %s)", pair, ExampleMapping)
		case !slices.Contains(Keys, key):
			return nil, fmt.Errorf("metering items: %q maps onto %q, which PushMeteringData does not document (one of %s)", usage, key, strings.Join(Keys, ", "))
		case !validAssist(assist):
			return nil, fmt.Errorf("metering items: the meteringAssit of %q is not a listing's code (letters, digits, '-', '_', '.')", usage)
		}
		if _, dup := m[usage]; dup {
			return nil, fmt.Errorf("metering items: %q is mapped twice", usage)
		}
		if other, dup := assists[assist]; dup {
			return nil, fmt.Errorf("metering items: %q and %q share one meteringAssit", other, usage)
		}
		assists[assist] = usage
		m[usage] = BillableItem{Key: key, Assist: assist}
	}
	if len(m) == 0 {
		return nil, fmt.Errorf("metering items: none configured (METERING_ITEMS, for example %s)", ExampleMapping)
	}
	return m, nil
}

func validAssist(s string) bool {
	if len(s) > 128 {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

// Usage is one usage record of the platform: one workspace, one usage
// item, one hourly window (its start, Unix seconds), an amount.
type Usage struct {
	WorkspaceID string `dynamodbav:"workspaceId" json:"workspaceId"`
	Item        string `dynamodbav:"item" json:"item"`
	WindowStart int64  `dynamodbav:"windowStart" json:"windowStart"`
	Amount      int64  `dynamodbav:"amount" json:"amount"`
	// ExpiresAt (Unix seconds, optional) lets DynamoDB's TTL delete it
	// once it can no longer be billed.
	ExpiresAt int64 `dynamodbav:"expiresAt,omitempty" json:"expiresAt,omitempty"`
}

// Entity is one billable item's amount in a record. The documented
// example writes every value as a string ("Value":"96"), and the docs ask
// that it be followed exactly: the ",string" options write the numbers so.
type Entity struct {
	Key    string `json:"Key"`
	Value  int64  `json:"Value,string"`
	Assist string `json:"meteringAssit"`
}

// Record is one window of one instance, as PushMeteringData takes it:
// [{"InstanceId":"1000001","StartTime":"100000000","EndTime":"100000010",
// "Entities":[{"Key":"PeriodMin","Value":"96","meteringAssit":"..."}]}].
type Record struct {
	InstanceID string   `json:"InstanceId"`
	StartTime  int64    `json:"StartTime,string"`
	EndTime    int64    `json:"EndTime,string"`
	Entities   []Entity `json:"Entities"`
}

// Member is a workspace settled through the instance from Since.
type Member struct {
	WorkspaceID string
	Since       time.Time
}

// ParseMember reads "wksp_x@1764100000" (the instance's metered
// workspaces: the id and when it was first settled through it).
func ParseMember(s string) (Member, bool) {
	id, at, ok := strings.Cut(s, "@")
	sec, err := strconv.ParseInt(at, 10, 64)
	if !ok || id == "" || err != nil {
		return Member{}, false
	}
	return Member{WorkspaceID: id, Since: time.Unix(sec, 0).UTC()}, true
}

// ParseMembers reads an instance's metered workspaces (those that parse)
// and returns them with their ids.
func ParseMembers(raw []string) (members []Member, ids []string) {
	for _, r := range raw {
		if mb, ok := ParseMember(r); ok {
			members, ids = append(members, mb), append(ids, mb.WorkspaceID)
		}
	}
	return members, ids
}

// FormatMember is ParseMember's inverse.
func FormatMember(workspaceID string, since time.Time) string {
	return workspaceID + "@" + strconv.FormatInt(since.Unix(), 10)
}

// Span is what decides an instance's billable windows.
type Span struct {
	// From is where metering starts: the first window boundary at or
	// after the activation (a window straddling it is not billed).
	From time.Time
	// Until is where billing stops (release, expiry): windows ending
	// after it are not billed. Zero: open.
	Until time.Time
	// Paused is a freeze: windows overlapping [Paused.From, Paused.To)
	// are not billed; To zero while still frozen.
	PausedFrom, PausedTo time.Time
}

// Window states of one planning pass.
type Plan struct {
	// Due are the billable windows whose usage is complete and that can
	// still be pushed, oldest first.
	Due []time.Time
	// Late are billable windows past their deadline, never pushed.
	Late []time.Time
	// Skipped are windows that are not billable (frozen, after release).
	Skipped []time.Time
	// Next is where the next plan starts: after every window decided.
	Next time.Time
}

// Ceil is the first window boundary at or after t.
func Ceil(t time.Time) time.Time {
	f := t.UTC().Truncate(Window)
	if f.Equal(t.UTC()) {
		return f
	}
	return f.Add(Window)
}

// PlanWindows decides the windows from cursor (a window start) up to now.
func PlanWindows(cursor time.Time, span Span, now time.Time) Plan {
	start := cursor.UTC().Truncate(Window)
	if from := Ceil(span.From); start.Before(from) {
		start = from
	}
	p := Plan{Next: start}
	for w := start; !w.Add(Window + Grace).After(now); w = w.Add(Window) {
		end := w.Add(Window)
		switch {
		case !span.Until.IsZero() && end.After(span.Until):
			p.Skipped = append(p.Skipped, w)
		case !span.PausedFrom.IsZero() && end.After(span.PausedFrom) && (span.PausedTo.IsZero() || w.Before(span.PausedTo)):
			if span.PausedTo.IsZero() {
				// Still frozen: wait, the freeze may end (a window after
				// the restore is billable; these are skipped then).
				return p
			}
			p.Skipped = append(p.Skipped, w)
		case now.After(end.Add(Deadline)):
			p.Late = append(p.Late, w)
		default:
			p.Due = append(p.Due, w)
		}
		p.Next = end
	}
	return p
}

// Aggregate builds the record of one window of an instance: its members'
// usage in the window (a member counts from the first window after it was
// settled), summed per billable item. ok is false when nothing billable
// was used (no record is pushed for an empty window). Usage items without
// a mapping are reported in unmapped.
func Aggregate(instance string, window time.Time, members []Member, usage []Usage, m Mapping) (rec Record, ok bool, unmapped []string) {
	counts := map[string]int64{}
	in := map[string]bool{}
	for _, mb := range members {
		if !window.Before(Ceil(mb.Since)) {
			in[mb.WorkspaceID] = true
		}
	}
	seenUnmapped := map[string]bool{}
	for _, u := range usage {
		if u.WindowStart != window.Unix() || !in[u.WorkspaceID] || u.Amount < 0 || u.Amount > MaxAmount {
			continue // not this window's, or corrupt (the reader counts those)
		}
		item, mapped := m[u.Item]
		if !mapped {
			if !seenUnmapped[u.Item] {
				seenUnmapped[u.Item] = true
				unmapped = append(unmapped, u.Item)
			}
			continue
		}
		counts[item.Key+"\x00"+item.Assist] += u.Amount
	}
	if len(counts) == 0 {
		return Record{}, false, unmapped
	}
	rec = Record{InstanceID: instance, StartTime: window.Unix(), EndTime: window.Add(Window).Unix()}
	for k, v := range counts {
		key, assist, _ := strings.Cut(k, "\x00")
		rec.Entities = append(rec.Entities, Entity{Key: key, Value: v, Assist: assist})
	}
	sort.Slice(rec.Entities, func(i, j int) bool { return rec.Entities[i].Key < rec.Entities[j].Key })
	return rec, true, unmapped
}

// Pending is a record to push, with what a call needs to know of it.
type Pending struct {
	Product string
	Record  Record
}

// Batch groups records into calls: one product a call, at most
// RecordsPerCall records, and all of an instance's records in one call
// (one call per instance per CallEvery: a run makes one call per
// instance). An instance with more records than a call takes keeps the
// oldest RecordsPerCall for this run.
func Batch(records []Pending) [][]Pending {
	byProduct := map[string]map[string][]Pending{}
	var products []string
	for _, p := range records {
		if byProduct[p.Product] == nil {
			byProduct[p.Product] = map[string][]Pending{}
			products = append(products, p.Product)
		}
		byProduct[p.Product][p.Record.InstanceID] = append(byProduct[p.Product][p.Record.InstanceID], p)
	}
	sort.Strings(products)
	var calls [][]Pending
	for _, product := range products {
		instances := byProduct[product]
		ids := make([]string, 0, len(instances))
		for id := range instances {
			ids = append(ids, id)
		}
		sort.Strings(ids)
		var call []Pending
		for _, id := range ids {
			recs := instances[id]
			sort.Slice(recs, func(i, j int) bool { return recs[i].Record.StartTime < recs[j].Record.StartTime })
			if len(recs) > RecordsPerCall {
				recs = recs[:RecordsPerCall]
			}
			if len(call)+len(recs) > RecordsPerCall {
				calls = append(calls, call)
				call = nil
			}
			call = append(call, recs...)
		}
		if len(call) > 0 {
			calls = append(calls, call)
		}
	}
	return calls
}
