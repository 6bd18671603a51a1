package localstack

import (
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/guance/aliyun-marketplace/cmd/devstack/dynamolocal"
)

// TrailCheck watches every write the local DynamoDB takes and finds the
// business changes made without their event on the audit trail in the
// same write: the invariant "no change without its event" (the other
// half, no event without its change, holds by construction: an event is
// an item of the change's own transaction).
//
// A business change is one a purchase's trail records: an instance's
// state (but for the bookkeeping of the runs: the next check, the next
// comparison, the effects flag, the metering cursor), a workspace's
// settlement or suspension, a mail queued or settled, a metering window
// decided, a session opened. What tests and the demo seed put in place
// directly (a billing center account and its workspaces, as Guance's
// platform would) is not a change of a purchase.
type TrailCheck struct {
	feeds map[string]*dynamolocal.Feed
	// Writes counts the writes looked at, Changes the business changes
	// among them (each with its event).
	Writes, Changes int
}

// The tables the check reads, by logical id.
var trailTables = []string{"InstancesTable", "WorkspacesTable", "OutboxTable", "MeteringTable", "SessionsTable", "AuditTable"}

// WatchTrail starts a check of every write the stack's DynamoDB takes
// from now on.
func (s *Stack) WatchTrail() *TrailCheck {
	ddb := s.ddb
	c := &TrailCheck{feeds: map[string]*dynamolocal.Feed{}}
	for _, table := range trailTables {
		c.feeds[table] = ddb.Subscribe(table)
	}
	return c
}

// Violations lists the business changes made since the last call without
// an event of the trail in the same write.
func (c *TrailCheck) Violations() []string {
	var changes []dynamolocal.Change
	for _, f := range c.feeds {
		changes = append(changes, f.Drain()...)
	}
	sort.Slice(changes, func(i, j int) bool { return changes[i].Seq < changes[j].Seq })
	byWrite := map[int64][]dynamolocal.Change{}
	var writes []int64
	for _, ch := range changes {
		if _, ok := byWrite[ch.Write]; !ok {
			writes = append(writes, ch.Write)
		}
		byWrite[ch.Write] = append(byWrite[ch.Write], ch)
	}
	var out []string
	for _, w := range writes {
		c.Writes++
		group := byWrite[w]
		events := slices.ContainsFunc(group, func(ch dynamolocal.Change) bool { return ch.Table == "AuditTable" && ch.Event == "INSERT" })
		for _, ch := range group {
			what := businessChange(ch)
			if what == "" {
				continue
			}
			c.Changes++
			if !events {
				out = append(out, fmt.Sprintf("%s %s of %s (%s) without its event", ch.Table, ch.Event, keyText(ch.Keys), what))
			}
		}
	}
	return out
}

// businessChange names what a change does to a purchase ("" for
// bookkeeping, or what is not a purchase's).
func businessChange(ch dynamolocal.Change) string {
	switch ch.Table {
	case "InstancesTable":
		id := str(ch.Keys["instanceId"])
		if strings.HasPrefix(id, "lease#") || strings.HasPrefix(id, "payment#") {
			return "" // a run's lease; an orderPay's key, with its own event
		}
		if ch.Event == "INSERT" {
			return "created"
		}
		changed := changedAttributes(ch.Old, ch.New)
		// The metering's members move alone only with the local rewind
		// (marketsim usage -rewind); the settling write that adds one
		// changes the workspaces too.
		bookkeeping := []string{"updatedAt", "checkAt", "auditAt", "audit", "effects", "effectsAt", "metering", "meteredUntil", "meteredFrom", "meteredWorkspaces"}
		if str(ch.New["status"]) == "released" {
			// A released instance's list forgets a workspace not settled
			// through it (the workspace itself is not touched).
			bookkeeping = append(bookkeeping, "workspaces")
		}
		for _, a := range changed {
			if !slices.Contains(bookkeeping, a) {
				return "changed " + strings.Join(changed, ",")
			}
		}
	case "WorkspacesTable":
		if ch.Event == "INSERT" && !strings.Contains(string(ch.New["settlement"]), `"instance"`) {
			return "" // put in place by Guance's platform (a seed)
		}
		for _, a := range changedAttributes(ch.Old, ch.New) {
			if a == "settlement" || a == "suspended" || a == "suspendedSeq" {
				return "settlement or suspension"
			}
		}
		if ch.Event == "INSERT" {
			return "created"
		}
	case "OutboxTable":
		switch {
		case (str(ch.New["kind"]) == "void" || str(ch.New["kind"]) == "code") && ch.Event != "INSERT":
			return "" // a code's mail, or the item standing in for one: its request is its record
		case ch.Event == "INSERT":
			return "queued"
		case str(ch.New["state"]) != str(ch.Old["state"]):
			return "settled " + str(ch.New["state"])
		}
	case "MeteringTable":
		state, was := str(ch.New["state"]), str(ch.Old["state"])
		final := []string{"pushed", "refused", "uncertain", "late", "written-off"}
		if state != was && (slices.Contains(final, state) || slices.Contains(final, was)) {
			return "window " + was + " to " + state
		}
	case "SessionsTable":
		if ch.Event == "INSERT" && ch.New["csrf"] != nil && ch.New["aliUid"] != nil {
			return "session opened"
		}
	}
	return ""
}

// changedAttributes lists the attributes whose values differ.
func changedAttributes(old, cur map[string]json.RawMessage) []string {
	var out []string
	for name, v := range cur {
		if w, ok := old[name]; !ok || string(dynamolocal.Canonical(v)) != string(dynamolocal.Canonical(w)) {
			out = append(out, name)
		}
	}
	for name := range old {
		if _, ok := cur[name]; !ok {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}

// str is a string attribute's value in the wire form ({"S": "..."}).
func str(v json.RawMessage) string {
	var s struct{ S string }
	_ = json.Unmarshal(v, &s)
	return s.S
}

func keyText(keys map[string]json.RawMessage) string {
	var parts []string
	for name, v := range keys {
		parts = append(parts, name+"="+str(v))
	}
	sort.Strings(parts)
	return strings.Join(parts, ",")
}
