// Package faults injects, at the wire of the local stack, the failures
// AWS and the Alibaba Cloud Marketplace really produce: DynamoDB
// throttling, 500s, transactions cancelled by a conflict and answers lost
// after the write; SES throttling, 500s and lost answers; the Market
// OpenAPI's flow control and 5xx; added latency; stream batches delivered
// twice; function processes killed in the middle of an invocation. The
// product's code is never changed: the faults are in the HTTP servers and
// the emulator pool the functions talk to. Every fault is counted.
package faults

import (
	"fmt"
	"math/rand/v2"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Profile is how often each fault happens: rates are per call (0 to 1).
type Profile struct {
	Seed uint64
	// DynamoDB: a call refused before it is applied (throttled, a 500, a
	// transaction cancelled by a conflict), and a call applied whose answer
	// is lost (a 500 after the write).
	DynamoDB, DynamoDBLost float64
	// DynamoDBOps, when set, is the refusal rate of one operation
	// (TransactWriteItems, Query, ...) instead of DynamoDB's.
	DynamoDBOps map[string]float64
	// SES: a send refused (throttled, a 500), and one sent whose answer is
	// lost.
	SES, SESLost float64
	// Market: an OpenAPI call refused (Throttling.User, a 503).
	Market float64
	// Latency is the most added to a call (uniform from zero).
	Latency time.Duration
	// Timeout: an SES or Market OpenAPI call held past its caller's
	// deadline (Hold), then served all the same: the caller gives up on
	// a call that was made.
	Timeout float64
	// StreamDup: a stream batch delivered a second time.
	StreamDup float64
	// Kill: a function process killed during an invocation.
	Kill float64
}

// Off is no fault at all.
func (p Profile) Off() bool {
	for _, rate := range p.DynamoDBOps {
		if rate > 0 {
			return false
		}
	}
	return p.DynamoDB == 0 && p.DynamoDBLost == 0 && p.SES == 0 && p.SESLost == 0 && p.Market == 0 &&
		p.Latency == 0 && p.Timeout == 0 && p.StreamDup == 0 && p.Kill == 0
}

// dynamoRate is the refusal rate of a DynamoDB operation.
func (p Profile) dynamoRate(op string) float64 {
	if rate, ok := p.DynamoDBOps[op]; ok {
		return rate
	}
	return p.DynamoDB
}

// All is every fault on, at rates the product must live with.
func All(seed uint64) Profile {
	return Profile{Seed: seed, DynamoDB: 0.05, DynamoDBLost: 0.02, SES: 0.1, SESLost: 0.03, Market: 0.15,
		Latency: 20 * time.Millisecond, Timeout: 0.02, StreamDup: 0.2, Kill: 0.02}
}

// Parse reads a profile: "" or "off"; "all" (All); or name=value pairs
// separated by commas (ddb, ddb.<Operation> for one DynamoDB operation,
// ddb-lost, ses, ses-lost, market, latency, timeout, stream-dup, kill,
// seed), which may follow "all" to change it.
func Parse(s string) (Profile, error) {
	s = strings.TrimSpace(s)
	if s == "" || s == "off" {
		return Profile{}, nil
	}
	var p Profile
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "all" {
			p = All(p.Seed)
			continue
		}
		name, value, ok := strings.Cut(part, "=")
		if !ok {
			return Profile{}, fmt.Errorf("fault %q: want name=value (or all)", part)
		}
		if name == "seed" {
			n, err := strconv.ParseUint(value, 10, 64)
			if err != nil {
				return Profile{}, fmt.Errorf("seed %q: %w", value, err)
			}
			p.Seed = n
			continue
		}
		if name == "latency" {
			d, err := time.ParseDuration(value)
			if err != nil {
				return Profile{}, fmt.Errorf("latency %q: %w", value, err)
			}
			p.Latency = d
			continue
		}
		rate, err := strconv.ParseFloat(value, 64)
		if err != nil || rate < 0 || rate > 1 {
			return Profile{}, fmt.Errorf("fault %s=%q: want a rate from 0 to 1", name, value)
		}
		if op, ok := strings.CutPrefix(name, "ddb."); ok && op != "" {
			if p.DynamoDBOps == nil {
				p.DynamoDBOps = map[string]float64{}
			}
			p.DynamoDBOps[op] = rate
			continue
		}
		field := map[string]*float64{"ddb": &p.DynamoDB, "ddb-lost": &p.DynamoDBLost, "ses": &p.SES, "ses-lost": &p.SESLost,
			"market": &p.Market, "timeout": &p.Timeout, "stream-dup": &p.StreamDup, "kill": &p.Kill}[name]
		if field == nil {
			return Profile{}, fmt.Errorf("no fault %q (ddb, ddb.<Operation>, ddb-lost, ses, ses-lost, market, latency, timeout, stream-dup, kill, seed)", name)
		}
		*field = rate
	}
	return p, nil
}

// String is the profile as Parse reads it.
func (p Profile) String() string {
	if p.Off() {
		return "off"
	}
	ops := make([]string, 0, len(p.DynamoDBOps))
	for op, rate := range p.DynamoDBOps {
		ops = append(ops, fmt.Sprintf(",ddb.%s=%g", op, rate))
	}
	sort.Strings(ops)
	return fmt.Sprintf("ddb=%g%s,ddb-lost=%g,ses=%g,ses-lost=%g,market=%g,latency=%s,timeout=%g,stream-dup=%g,kill=%g,seed=%d",
		p.DynamoDB, strings.Join(ops, ""), p.DynamoDBLost, p.SES, p.SESLost, p.Market, p.Latency, p.Timeout, p.StreamDup, p.Kill, p.Seed)
}

// Injector rolls the dice of a profile and counts what it injected. It
// can be switched off and on (a test lets the jobs finish without faults).
type Injector struct {
	mu      sync.Mutex
	profile Profile
	off     bool
	rng     *rand.Rand
	counts  map[string]int
}

// New returns an injector of p (nil when p is off: no fault anywhere).
func New(p Profile) *Injector {
	if p.Off() {
		return nil
	}
	return &Injector{profile: p, rng: rand.New(rand.NewPCG(p.Seed, p.Seed^0x9e3779b97f4a7c15)), counts: map[string]int{}}
}

// Profile is the injector's profile ("off" for a nil injector).
func (i *Injector) Profile() Profile {
	if i == nil {
		return Profile{}
	}
	return i.profile
}

// Pause stops injecting (true) or starts again (false).
func (i *Injector) Pause(paused bool) {
	if i == nil {
		return
	}
	i.mu.Lock()
	i.off = paused
	i.mu.Unlock()
}

// roll says whether a fault of rate happens now, and counts it as kind.
func (i *Injector) roll(rate float64, kind string) bool {
	if !i.hit(rate) {
		return false
	}
	i.count(kind)
	return true
}

// pick is a uniform choice among n, from the injector's source.
func (i *Injector) pick(n int) int {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.rng.IntN(n)
}

// delay is a latency to add now (zero when off).
func (i *Injector) delay() time.Duration {
	if i == nil || i.profile.Latency <= 0 {
		return 0
	}
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.off {
		return 0
	}
	return time.Duration(i.rng.Int64N(int64(i.profile.Latency)))
}

// Counts is what was injected so far, by kind.
func (i *Injector) Counts() map[string]int {
	out := map[string]int{}
	if i == nil {
		return out
	}
	i.mu.Lock()
	defer i.mu.Unlock()
	for k, v := range i.counts {
		out[k] = v
	}
	return out
}

// Count is how many faults of kind were injected.
func (i *Injector) Count(kind string) int { return i.Counts()[kind] }

// Report is the counts on one line each, sorted ("no fault injected"
// when none).
func (i *Injector) Report() string {
	counts := i.Counts()
	if len(counts) == 0 {
		return "no fault injected"
	}
	kinds := make([]string, 0, len(counts))
	total := 0
	for k, n := range counts {
		kinds = append(kinds, k)
		total += n
	}
	sort.Strings(kinds)
	var b strings.Builder
	fmt.Fprintf(&b, "%d faults injected (profile %s):\n", total, i.profile)
	for _, k := range kinds {
		fmt.Fprintf(&b, "  %-40s %d\n", k, counts[k])
	}
	return b.String()
}

// The kinds of faults, as counted.
const (
	DynamoDBThrottled  = "dynamodb ProvisionedThroughputExceeded"
	DynamoDBInternal   = "dynamodb InternalServerError"
	DynamoDBConflict   = "dynamodb TransactionCanceled (TransactionConflict)"
	DynamoDBLostAnswer = "dynamodb answer lost after the write"
	SESThrottled       = "ses Throttling"
	SESInternal        = "ses 500"
	SESLostAnswer      = "ses answer lost after the send"
	MarketThrottled    = "market Throttling.User"
	MarketUnavailable  = "market 503 ServiceUnavailable"
	SESTimeout         = "ses held past the caller's deadline"
	MarketTimeout      = "market held past the caller's deadline"
	StreamDuplicate    = "stream batch delivered twice"
	FunctionKilled     = "function process killed mid-invocation"
)

// StreamDup says whether to deliver a stream batch once more.
func (i *Injector) StreamDup() bool {
	return i != nil && i.roll(i.profile.StreamDup, StreamDuplicate)
}

// Kill says whether to kill the process of an invocation starting now,
// and after how long (within the first 200 ms: a cold start, a call in
// flight, a write half done).
func (i *Injector) Kill() (time.Duration, bool) {
	if i == nil || !i.roll(i.profile.Kill, FunctionKilled) {
		return 0, false
	}
	return time.Duration(i.pick(200)) * time.Millisecond, true
}
