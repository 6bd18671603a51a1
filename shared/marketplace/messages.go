package marketplace

import (
	"fmt"
	"strings"
	"time"
)

// Action names the event an SPI call carries.
type Action string

// The actions of the instance lifecycle SPI and the message SPI.
const (
	ActionCreateInstance      Action = "createInstance"
	ActionRenewInstance       Action = "renewInstance"
	ActionUpgradeInstance     Action = "upgradeInstance"
	ActionExpiredInstance     Action = "expiredInstance"
	ActionReleaseInstance     Action = "releaseInstance"
	ActionRefundRenewInstance Action = "refundRenewInstance"
	ActionResumeInstance      Action = "resumeInstance"
	ActionOrderPay            Action = "orderPay"
	// ActionVerify is the Login Without Password link, not an SPI call; it is
	// signed the same way.
	ActionVerify Action = "verify"
)

// LifecycleActions are the actions the SPI endpoint accepts, in the order a
// developer meets them.
var LifecycleActions = []Action{
	ActionCreateInstance, ActionRenewInstance, ActionUpgradeInstance, ActionExpiredInstance,
	ActionReleaseInstance, ActionRefundRenewInstance, ActionResumeInstance, ActionOrderPay,
}

// Message is a decoded SPI call: one of the pointer types below. The
// interface is sealed (its method is unexported), so a switch over the
// types is the whole story.
type Message interface{ spiMessage() }

func (*CreateInstance) spiMessage()      {}
func (*RenewInstance) spiMessage()       {}
func (*UpgradeInstance) spiMessage()     {}
func (*ExpiredInstance) spiMessage()     {}
func (*ReleaseInstance) spiMessage()     {}
func (*RefundRenewInstance) spiMessage() {}
func (*ResumeInstance) spiMessage()      {}
func (*OrderPay) spiMessage()            {}

// CreateInstance asks for a new instance after a purchase.
type CreateInstance struct {
	InstanceID  string // orderBizId: the marketplace's instance id, which we answer as ours
	AliUID      string
	OrderID     string
	ProductCode string
	SKU         string
	Trial       bool
	ExpiredOn   time.Time // zero when the marketplace sent none
	Template    string
	// BillableItems are the parameters the protocol does not name, which is
	// how billable items (and any parameter added later) arrive.
	BillableItems map[string]string
}

// RenewInstance extends an instance; for pay-as-you-go it means arrears were paid.
type RenewInstance struct {
	InstanceID string
	OrderID    string
	ExpiredOn  time.Time // zero when the marketplace sent none
}

// UpgradeInstance changes the SKU or the billable items of an instance.
type UpgradeInstance struct {
	InstanceID    string
	OrderID       string
	SKU           string
	BillableItems map[string]string
}

// ExpiredInstance freezes an instance: it ran out or is in arrears. Data is kept.
type ExpiredInstance struct {
	InstanceID string
}

// ReleaseInstance closes an instance for good.
type ReleaseInstance struct {
	InstanceID string
	Refund     bool
	OrderID    string // optional
}

// RefundRenewInstance takes back a renewal: the instance expires at ExpiredOn again.
type RefundRenewInstance struct {
	InstanceID string
	ExpiredOn  time.Time
}

// ResumeInstance unfreezes an instance.
type ResumeInstance struct {
	InstanceID  string
	ProductCode string
	SKU         string
}

// OrderPay is the message SPI telling that an order was paid. RequestID is
// its idempotency key.
type OrderPay struct {
	RequestID   string
	InstanceID  string // orderBizId
	AliUID      string
	OrderID     string
	ProductCode string
	SKU         string
}

// pattern is a character class and a length range. The checks are plain
// loops rather than regular expressions: compiling four expressions at
// package init cost every function about half a millisecond of cold start.
type pattern struct {
	min, max int
	extra    string // allowed besides letters and digits
	digits   bool   // digits only
}

var (
	uidPattern   = pattern{min: 16, max: 16, digits: true}
	idPattern    = pattern{min: 1, max: 32, digits: true}
	codePattern  = pattern{min: 1, max: 64, extra: "_.-"}
	tokenPattern = pattern{min: 1, max: 128, extra: "_-"}
)

// MatchString reports whether s is made of the pattern's characters and
// has a length in its range.
func (p pattern) MatchString(s string) bool {
	if len(s) < p.min || len(s) > p.max {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9':
		case p.digits:
			return false
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z':
		case strings.IndexByte(p.extra, c) >= 0:
		default:
			return false
		}
	}
	return true
}

// beijing is the marketplace's clock. China keeps no daylight saving time, so
// a fixed zone is exact and spares the binary a time zone database.
var beijing = time.FixedZone("Asia/Shanghai", 8*60*60)

// TimeLayout is how the marketplace writes times (Beijing time).
const TimeLayout = "2006-01-02 15:04:05"

// ParseTime reads a marketplace time such as "2099-01-01 00:00:00" (Beijing time).
func ParseTime(s string) (time.Time, error) {
	return time.ParseInLocation(TimeLayout, s, beijing)
}

// FormatTime writes t the way the marketplace does.
func FormatTime(t time.Time) string {
	return t.In(beijing).Format(TimeLayout)
}

// Decode validates the parameters of a lifecycle or message SPI call and
// returns its typed message. The token is not checked here; see
// VerifyToken.
func Decode(params Params) (Message, error) {
	d := decoder{params: params}
	action, ok := params["action"]
	if !ok || action == "" {
		return nil, &ParamError{Param: "action", Reason: "is required"}
	}
	var msg Message
	switch Action(action) {
	case ActionCreateInstance:
		msg = &CreateInstance{
			InstanceID:    d.id("orderBizId"),
			AliUID:        d.uid("aliUid"),
			OrderID:       d.id("orderId"),
			ProductCode:   d.code("productCode", true),
			SKU:           d.code("skuId", true),
			Trial:         d.boolean("trial", true),
			ExpiredOn:     d.time("expiredOn", false),
			Template:      d.code("template", false),
			BillableItems: d.rest("action", "aliUid", "orderBizId", "orderId", "productCode", "skuId", "trial", "expiredOn", "template"),
		}
	case ActionRenewInstance:
		msg = &RenewInstance{InstanceID: d.id("instanceId"), OrderID: d.id("orderId"), ExpiredOn: d.time("expiredOn", false)}
	case ActionUpgradeInstance:
		msg = &UpgradeInstance{
			InstanceID:    d.id("instanceId"),
			OrderID:       d.id("orderId"),
			SKU:           d.code("skuId", true),
			BillableItems: d.rest("action", "instanceId", "orderId", "skuId"),
		}
	case ActionExpiredInstance:
		msg = &ExpiredInstance{InstanceID: d.id("instanceId")}
	case ActionReleaseInstance:
		msg = &ReleaseInstance{InstanceID: d.id("instanceId"), Refund: d.boolean("isRefund", false), OrderID: d.optionalID("orderId")}
	case ActionRefundRenewInstance:
		msg = &RefundRenewInstance{InstanceID: d.id("instanceId"), ExpiredOn: d.time("expiredOn", true)}
	case ActionResumeInstance:
		msg = &ResumeInstance{InstanceID: d.id("instanceId"), ProductCode: d.code("productCode", false), SKU: d.code("skuId", false)}
	case ActionOrderPay:
		msg = &OrderPay{
			RequestID:   d.requestID("requestId"),
			InstanceID:  d.id("orderBizId"),
			AliUID:      d.uid("aliUid"),
			OrderID:     d.id("orderId"),
			ProductCode: d.code("productCode", false),
			SKU:         d.code("skuId", false),
		}
	default:
		return nil, &ParamError{Param: "action", Reason: fmt.Sprintf("unknown action %q", action)}
	}
	if d.err != nil {
		return nil, d.err
	}
	return msg, nil
}

// decoder reads parameters one by one and keeps the first problem it meets,
// so Decode reads as a list of fields instead of a ladder of checks.
type decoder struct {
	params Params
	err    error
}

func (d *decoder) fail(name, reason string) {
	if d.err == nil {
		d.err = &ParamError{Param: name, Reason: reason}
	}
}

func (d *decoder) get(name string, required bool) (string, bool) {
	v, ok := d.params[name]
	if !ok || v == "" {
		if required {
			d.fail(name, "is required")
		}
		return "", false
	}
	return v, true
}

func (d *decoder) match(name string, required bool, pattern pattern, want string) string {
	v, ok := d.get(name, required)
	if ok && !pattern.MatchString(v) {
		d.fail(name, "must be "+want)
		return ""
	}
	return v
}

func (d *decoder) id(name string) string {
	return d.match(name, true, idPattern, "a decimal number of at most 32 digits")
}

func (d *decoder) optionalID(name string) string {
	return d.match(name, false, idPattern, "a decimal number of at most 32 digits")
}

func (d *decoder) uid(name string) string {
	return d.match(name, true, uidPattern, "a 16-digit Alibaba Cloud account ID")
}

func (d *decoder) code(name string, required bool) string {
	return d.match(name, required, codePattern, "at most 64 letters, digits, '.', '_' or '-'")
}

func (d *decoder) requestID(name string) string {
	return d.match(name, true, tokenPattern, "at most 128 letters, digits, '_' or '-'")
}

func (d *decoder) boolean(name string, required bool) bool {
	v, ok := d.get(name, required)
	switch {
	case !ok:
		return false
	case v == "true":
		return true
	case v == "false":
		return false
	}
	d.fail(name, `must be "true" or "false"`)
	return false
}

func (d *decoder) time(name string, required bool) time.Time {
	v, ok := d.get(name, required)
	if !ok {
		return time.Time{}
	}
	t, err := ParseTime(v)
	if err != nil {
		d.fail(name, "must be a time written yyyy-MM-dd HH:mm:ss")
	}
	return t
}

// maxBillableItems bounds what one call can make us store.
const maxBillableItems = 32

// rest returns the parameters not named in known (nor the token), which the
// protocol uses for billable items; nil when there are none.
func (d *decoder) rest(known ...string) map[string]string {
	skip := map[string]bool{TokenParam: true}
	for _, name := range known {
		skip[name] = true
	}
	items := map[string]string{}
	for name, value := range d.params {
		if skip[name] {
			continue
		}
		if !codePattern.MatchString(name) || len(value) > 256 {
			d.fail(name, "is not a valid billable item (name of at most 64 letters, digits, '.', '_' or '-'; value of at most 256 bytes)")
			return nil
		}
		items[name] = value
	}
	if len(items) == 0 {
		return nil
	}
	if len(items) > maxBillableItems {
		d.fail("(billable items)", fmt.Sprintf("at most %d extra parameters are accepted", maxBillableItems))
		return nil
	}
	return items
}

// ValidUID reports whether s looks like an Alibaba Cloud account ID.
func ValidUID(s string) bool { return uidPattern.MatchString(s) }
