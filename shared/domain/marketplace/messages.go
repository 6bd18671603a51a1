package marketplace

import (
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
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
// its idempotency key; empty when the message came listed as a failed
// notification (see DecodeNotification).
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
	digits   bool // digits only; otherwise any text (see text)
}

// The docs type every field as a String with no length. Ids are kept to
// decimal digits because they become keys and are compared as numbers
// (their own examples run from 1 to 16 digits: "instanceId=1", UIDs of 11,
// 14 and 16 digits), at any sane length. Everything else is text: the
// marketplace may send any product code, SKU or request id, and a call is
// never refused over a format the docs do not promise.
var (
	idPattern   = pattern{min: 1, max: 32, digits: true}
	uidPattern  = idPattern
	textPattern = pattern{min: 1, max: 256}
)

// MatchString reports whether s fits the pattern: for digits, a run of
// decimal digits; for text, valid UTF-8 without control characters, at
// most max bytes.
func (p pattern) MatchString(s string) bool {
	if len(s) < p.min || len(s) > p.max {
		return false
	}
	if !p.digits {
		return text(s)
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// text reports whether s is valid UTF-8 without control characters: what
// can be stored and shown as it came.
func text(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if unicode.IsControl(r) {
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
	action, ok := params["action"]
	if !ok || action == "" {
		return nil, &ParamError{Param: "action", Reason: "is required"}
	}
	d := decoder{params: params, named: documented[Action(action)]}
	if name, ok := folded(params, d.named); ok {
		return nil, &ParamError{Param: name, Reason: "holds another parameter of the call (\"&name=\"), which no marketplace call does"}
	}
	var msg Message
	switch Action(action) {
	case ActionCreateInstance:
		msg = &CreateInstance{
			InstanceID:    d.id("orderBizId"),
			AliUID:        d.uid("aliUid"),
			OrderID:       d.id("orderId"),
			ProductCode:   d.text("productCode", true),
			SKU:           d.text("skuId", true),
			Trial:         d.boolean("trial"),
			ExpiredOn:     d.optionalTime("expiredOn"),
			Template:      d.text("template", false),
			BillableItems: d.rest(),
		}
	case ActionRenewInstance:
		msg = &RenewInstance{InstanceID: d.id("instanceId"), OrderID: d.id("orderId"), ExpiredOn: d.optionalTime("expiredOn")}
	case ActionUpgradeInstance:
		// The Chinese table marks orderId required, the English one has no
		// such row, and both sample requests leave it out: optional.
		msg = &UpgradeInstance{
			InstanceID:    d.id("instanceId"),
			OrderID:       d.optionalID("orderId"),
			SKU:           d.text("skuId", true),
			BillableItems: d.rest(),
		}
	case ActionExpiredInstance:
		msg = &ExpiredInstance{InstanceID: d.id("instanceId")}
	case ActionReleaseInstance:
		// The Chinese table marks isRefund required; the sample leaves it out.
		msg = &ReleaseInstance{InstanceID: d.id("instanceId"), Refund: d.boolean("isRefund"), OrderID: d.optionalID("orderId")}
	case ActionRefundRenewInstance:
		// The expiry it sets back is the whole call: without it there is
		// nothing to act on.
		msg = &RefundRenewInstance{InstanceID: d.id("instanceId"), ExpiredOn: d.time("expiredOn")}
	case ActionResumeInstance:
		msg = &ResumeInstance{InstanceID: d.id("instanceId"), ProductCode: d.text("productCode", false), SKU: d.text("skuId", false)}
	case ActionOrderPay:
		msg = decodeOrderPay(&d, true)
	default:
		return nil, &ParamError{Param: "action", Reason: fmt.Sprintf("unknown action %q", action)}
	}
	if d.err != nil {
		return nil, d.err
	}
	return msg, nil
}

// FailedNotification is a message SPI call the marketplace gave up
// delivering, as DescribeFailedNotifications lists it.
type FailedNotification struct {
	// ID (NotificationRequestId) identifies it for ConfirmNotification.
	ID     string
	Action string
	// Message is the message's parameters, a JSON object (ParseMessage).
	Message   string
	CreatedAt time.Time
}

// decodeOrderPay reads the message SPI's orderPay. Its requestId is the
// idempotency key of a call; the same message listed by
// DescribeFailedNotifications carries none (see DecodeNotification).
func decodeOrderPay(d *decoder, withRequestID bool) *OrderPay {
	m := &OrderPay{
		InstanceID:  d.id("orderBizId"),
		AliUID:      d.uid("aliUid"),
		OrderID:     d.id("orderId"),
		ProductCode: d.text("productCode", false),
		SKU:         d.text("skuId", false),
	}
	if withRequestID {
		m.RequestID = d.text("requestId", true)
	}
	return m
}

// DecodeNotification decodes the message of a notification the
// marketplace failed to deliver, as DescribeFailedNotifications lists it:
// a JSON object of the message SPI's parameters, with no token (it comes
// over the signed OpenAPI, so there is nothing to check) and no requestId
// (the notification's own id stands for it). Only the message SPI is
// listed there; lifecycle calls are not.
func DecodeNotification(params Params) (*OrderPay, error) {
	d := decoder{params: params}
	if action := params["action"]; Action(action) != ActionOrderPay {
		return nil, &ParamError{Param: "action", Reason: fmt.Sprintf("unknown message %q", action)}
	}
	m := decodeOrderPay(&d, false)
	if d.err != nil {
		return nil, d.err
	}
	return m, nil
}

// documented are the parameters each call's documentation names; the
// others are kept as they came (see decoder.rest).
var documented = map[Action][]string{
	ActionCreateInstance:      {"action", "aliUid", "orderBizId", "orderId", "productCode", "skuId", "trial", "expiredOn", "template"},
	ActionRenewInstance:       {"action", "instanceId", "orderId", "expiredOn"},
	ActionUpgradeInstance:     {"action", "instanceId", "orderId", "skuId"},
	ActionExpiredInstance:     {"action", "instanceId"},
	ActionReleaseInstance:     {"action", "instanceId", "isRefund", "orderId"},
	ActionRefundRenewInstance: {"action", "instanceId", "expiredOn"},
	ActionResumeInstance:      {"action", "instanceId", "productCode", "skuId"},
	ActionOrderPay:            {"action", "requestId", "orderBizId", "aliUid", "orderId", "productCode", "skuId"},
}

// folded finds a parameter that holds a documented one inside it. The
// token signs "name=value&..." with nothing escaped, so a captured call
// can be re-split: "memory=4", "orderId=5" become the one parameter
// "memory" = "4&orderId=5", under the same token, and the call loses its
// order id. No honest call writes "&orderId=" inside a parameter.
func folded(params Params, named []string) (string, bool) {
	for name, value := range params {
		if name == TokenParam {
			continue
		}
		pair := name + "=" + value + "&"
		for _, other := range named {
			if strings.Contains(pair, "&"+other+"=") {
				return name, true
			}
		}
	}
	return "", false
}

// decoder reads parameters one by one and keeps the first problem it meets,
// so Decode reads as a list of fields instead of a ladder of checks.
type decoder struct {
	params Params
	// named are the parameters the call's documentation names.
	named []string
	err   error
	// odd are optional parameters written otherwise than documented:
	// read as absent, and kept with the unnamed ones.
	odd []string
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
	return d.match(name, true, uidPattern, "an Alibaba Cloud account ID (decimal digits, at most 32)")
}

func (d *decoder) text(name string, required bool) string {
	return d.match(name, required, textPattern, "text of at most 256 bytes (valid UTF-8, no control characters)")
}

// boolean reads a flag the way the docs write it ("true", "false"), in
// any case. A flag that is absent or written otherwise reads false: none
// of them decides whether the call can be acted on, and the raw value is
// kept with the unnamed parameters.
func (d *decoder) boolean(name string) bool {
	v, ok := d.get(name, false)
	if ok && strings.EqualFold(v, "true") {
		return true
	}
	if ok && !strings.EqualFold(v, "false") {
		d.odd = append(d.odd, name)
	}
	return false
}

// time reads a required marketplace time.
func (d *decoder) time(name string) time.Time {
	v, ok := d.get(name, true)
	if !ok {
		return time.Time{}
	}
	t, err := ParseTime(v)
	if err != nil {
		d.fail(name, "must be a time written yyyy-MM-dd HH:mm:ss")
	}
	return t
}

// optionalTime reads a time the call can do without (createInstance's and
// renewInstance's expiredOn): written otherwise than documented, it is
// kept as it came with the unnamed parameters rather than refused.
func (d *decoder) optionalTime(name string) time.Time {
	v, ok := d.get(name, false)
	if !ok {
		return time.Time{}
	}
	t, err := ParseTime(v)
	if err != nil {
		d.odd = append(d.odd, name)
		return time.Time{}
	}
	return t
}

// MaxExtraBytes bounds what the unnamed parameters of one call make us
// store (names and values together). The SPI endpoint's body limit is
// larger; past this bound the rest is dropped, never the call.
const MaxExtraBytes = 16 << 10

// rest returns the parameters the documentation does not name (nor the token), and
// those read but written otherwise than documented: the protocol's
// billable items, and any parameter the marketplace adds later
// (package_version, ecsInstanceId, ...). Every one is kept, whatever its
// name or value, made valid UTF-8 so that it can be stored; nil when there
// are none.
func (d *decoder) rest() map[string]string {
	skip := map[string]bool{TokenParam: true}
	for _, name := range d.named {
		skip[name] = true
	}
	for _, name := range d.odd {
		skip[name] = false
	}
	names := make([]string, 0, len(d.params))
	for name := range d.params {
		if !skip[name] && name != "" {
			names = append(names, name)
		}
	}
	if len(names) == 0 {
		return nil
	}
	slices.Sort(names) // a bound keeps the same ones on every repeat
	items, size := make(map[string]string, len(names)), 0
	for _, name := range names {
		value := strings.ToValidUTF8(d.params[name], "\uFFFD")
		key := strings.ToValidUTF8(name, "\uFFFD")
		if len(key)+len(value) > MaxExtraBytes-size {
			continue // this one is too large; smaller ones may still fit
		}
		size += len(key) + len(value)
		items[key] = value
	}
	return items
}

// ValidUID reports whether s looks like an Alibaba Cloud account ID: a run
// of decimal digits of a sane length. The docs promise no length, and
// their own examples have 11, 14 and 16 digits.
func ValidUID(s string) bool { return uidPattern.MatchString(s) }

// ValidID reports whether s looks like a marketplace instance or order id.
func ValidID(s string) bool { return idPattern.MatchString(s) }
