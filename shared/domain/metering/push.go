package metering

import (
	"time"

	"github.com/guance/aliyun-marketplace/shared/domain/audit"
)

// PushState is where a window's push record stands.
type PushState string

// The push states. A window is pushed at most once: pending, then sending
// for the length of one call, then one of the final states; nothing is
// sent again from sending.
const (
	PushPending   PushState = "pending"   // decided, not sent
	PushSending   PushState = "sending"   // a call with it is under way
	PushPushed    PushState = "pushed"    // the marketplace took it
	PushRefused   PushState = "refused"   // the marketplace refused it (Reason)
	PushUncertain PushState = "uncertain" // a call whose fate is unknown: never sent again
	PushEmpty     PushState = "empty"     // nothing billable was used
	PushLate      PushState = "late"      // past its deadline before it could be sent
	PushSkipped   PushState = "skipped"   // not billable (frozen, released)
	// PushWrittenOff is a window a person decided will not be billed
	// (refused, uncertain or late, checked with the marketplace).
	PushWrittenOff PushState = "written-off"
)

// Push is the push record of one window of one instance.
type Push struct {
	InstanceID string    `dynamodbav:"instanceId"`
	Window     int64     `dynamodbav:"window"`
	State      PushState `dynamodbav:"state"`
	Product    string    `dynamodbav:"product,omitempty"`
	// Record is the Record as JSON: what is sent, fixed when the window
	// is decided.
	Record string `dynamodbav:"record,omitempty"`
	Reason string `dynamodbav:"reason,omitempty"`
	// Members are the metered workspaces (FormatMember) of an empty
	// window, to look again for usage written late.
	Members   []string  `dynamodbav:"members,stringset,omitempty"`
	UpdatedAt time.Time `dynamodbav:"updatedAt"`
	// Unsent ("pending", "sending" or "empty") puts the record in the
	// unsent index until it is final.
	Unsent PushState `dynamodbav:"unsent,omitempty"`
}

// Event is the trail's record of the window reaching state to, if it is
// one the trail keeps: pushed, refused, uncertain or late (final), or an
// operator's repair (requeued, marked).
func (p Push) Event(to PushState, reason string, at time.Time) (audit.Event, bool) {
	kinds := map[PushState]audit.Kind{PushPushed: audit.WindowPushed, PushRefused: audit.WindowRefused, PushUncertain: audit.WindowUncertain, PushLate: audit.WindowLate}
	kind, ok := kinds[to]
	if !ok {
		return audit.Event{}, false
	}
	ev := audit.New(kind, p.InstanceID, audit.ActorMetering, at)
	ev.Window, ev.Reason, ev.Status = time.Unix(p.Window, 0).UTC(), reason, string(to)
	if p.Product != "" {
		ev.Detail = map[string]string{"productCode": p.Product}
	}
	return ev, true
}
