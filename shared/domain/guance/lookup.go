package guance

import (
	"fmt"
	"time"
)

// Lookup asks whether a username and an email are taken, before a form
// with them goes any further: every problem is said when the step is
// sent, not one at a time at its end. Asking tells whether an account
// exists, as every sign-up form does, so each lookup is counted against
// the purchase and the client network that ask (see the Lookups* caps).
type Lookup struct {
	// Username and Email are normalized; "" asks nothing of it.
	Username string
	Email    string
	// Billing counts a billing center account of the username as taking
	// it too: registration creates both, and answers the same for either.
	Billing bool
	// Scope is the purchase asking; Network its client network.
	Scope   string
	Network string
	Now     time.Time
}

// Taken is a lookup's answer.
type Taken struct {
	Username bool
	Email    bool
	// Account is the Guance account of the email, when it has one (the
	// owner of a workspace created with an existing account).
	Account string
}

// The caps of lookups, each in a fixed hour: a buyer correcting a form
// never meets them; a script testing names does.
const (
	LookupsPerPurchaseHour = 30
	LookupsPerNetworkHour  = 300
)

// LookupLimitError says a cap of lookups was met, and when to ask again.
type LookupLimitError struct {
	RetryAfter time.Duration
}

func (e *LookupLimitError) Error() string {
	return fmt.Sprintf("too many account lookups: try again in %s", e.RetryAfter.Round(time.Second))
}
