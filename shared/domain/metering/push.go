package metering

import "time"

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
