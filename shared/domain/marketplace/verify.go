package marketplace

import (
	"errors"
	"time"
)

// Verify is a Login Without Password link: the marketplace sends the buyer's
// browser to our authUrl with action=verify, the instance and a Beijing-time
// timeStamp, all signed like an SPI call. It carries no UID: that comes from
// the instance recorded at createInstance.
type Verify struct {
	InstanceID string
	TimeStamp  time.Time
	// Token identifies the link, so that each is accepted once.
	Token string
}

var (
	// ErrLinkExpired means the link's timeStamp is older than the window.
	ErrLinkExpired = errors.New("the link has expired")
	// ErrLinkFromFuture means the timeStamp is ahead of our clock by more than the window.
	ErrLinkFromFuture = errors.New("the link is dated in the future")
)

// DecodeVerify validates the parameters of a verify link. The token is not
// checked here; see VerifyToken.
func DecodeVerify(params Params) (*Verify, error) {
	d := decoder{params: params}
	if action := params["action"]; action != string(ActionVerify) {
		d.fail("action", `must be "verify"`)
	}
	v := &Verify{
		InstanceID: d.id("instanceId"),
		TimeStamp:  d.time("timeStamp"),
		Token:      params[TokenParam],
	}
	if d.err != nil {
		return nil, d.err
	}
	return v, nil
}

// CheckWindow accepts the link only if its timeStamp is within window of now,
// either way: links are short-lived, and clocks drift a little.
func (v *Verify) CheckWindow(now time.Time, window time.Duration) error {
	switch age := now.Sub(v.TimeStamp); {
	case age > window:
		return ErrLinkExpired
	case age < -window:
		return ErrLinkFromFuture
	}
	return nil
}

// VerifyParams are the parameters of a verify link for instanceID at t,
// before signing: what the marketplace (and our simulator) builds.
func VerifyParams(instanceID string, t time.Time) Params {
	return Params{"action": string(ActionVerify), "instanceId": instanceID, "timeStamp": FormatTime(t)}
}
