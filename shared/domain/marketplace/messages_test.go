package marketplace

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestDecode(t *testing.T) {
	create := Params{
		"action": "createInstance", "aliUid": "1234567890123456", "orderBizId": "5604018",
		"orderId": "205060317920890", "productCode": "cmgj00053362", "skuId": "cmgj00053362-postpay",
		"trial": "false", "expiredOn": "2099-01-01 00:00:00", "token": "ignored",
	}
	tests := []struct {
		name    string
		params  Params
		want    any
		wantErr string
	}{
		{
			name:   "createInstance with billable items",
			params: with(with(create, "Count", "2"), "template", "std"),
			want: &CreateInstance{
				InstanceID: "5604018", AliUID: "1234567890123456", OrderID: "205060317920890",
				ProductCode: "cmgj00053362", SKU: "cmgj00053362-postpay", Trial: false,
				ExpiredOn:     time.Date(2098, 12, 31, 16, 0, 0, 0, time.UTC),
				Template:      "std",
				BillableItems: map[string]string{"Count": "2"},
			},
		},
		{
			name:   "createInstance trial without expiry",
			params: with(without(create, "expiredOn"), "trial", "true"),
			want: &CreateInstance{
				InstanceID: "5604018", AliUID: "1234567890123456", OrderID: "205060317920890",
				ProductCode: "cmgj00053362", SKU: "cmgj00053362-postpay", Trial: true,
			},
		},
		{name: "missing action", params: Params{}, wantErr: "parameter action: is required"},
		{name: "unknown action", params: Params{"action": "deleteEverything"}, wantErr: `parameter action: unknown action "deleteEverything"`},
		{name: "verify is not an SPI action", params: Params{"action": "verify", "instanceId": "1"}, wantErr: "unknown action"},
		{name: "missing aliUid", params: without(create, "aliUid"), wantErr: "parameter aliUid: is required"},
		// The docs' own UIDs have 11, 14 and 16 digits.
		{name: "11-digit aliUid", params: with(create, "aliUid", "12211222211"), want: createWith("aliUid", "12211222211")},
		{name: "14-digit aliUid", params: with(create, "aliUid", "12345678901234"), want: createWith("aliUid", "12345678901234")},
		{name: "1-digit aliUid", params: with(create, "aliUid", "7"), want: createWith("aliUid", "7")},
		{name: "aliUid not decimal", params: with(create, "aliUid", "1234-5678"), wantErr: "parameter aliUid: must be an Alibaba Cloud account ID"},
		{name: "aliUid too long", params: with(create, "aliUid", strings.Repeat("1", 33)), wantErr: "parameter aliUid"},
		{name: "non-decimal orderBizId", params: with(create, "orderBizId", "56a"), wantErr: "parameter orderBizId: must be a decimal"},
		{name: "trial in capitals", params: with(create, "trial", "TRUE"), want: createWith("trial", "true")},
		{name: "trial written otherwise is kept, not refused", params: with(create, "trial", "yes"), want: createWith("extra", "trial=yes")},
		{name: "trial missing", params: without(create, "trial"), want: createWith("trial", "false")},
		{name: "expiredOn written otherwise is kept, not refused", params: with(create, "expiredOn", "2099-01-01"), want: createWith("extra", "expiredOn=2099-01-01")},
		{name: "a new system parameter is kept", params: with(create, "package_version", "yuncode1394000000"), want: createWith("extra", "package_version=yuncode1394000000")},
		{name: "a billable item of any name and value is kept", params: with(create, "a b", "名 称 !"), want: createWith("extra", "a b=名 称 !")},
		{name: "invalid UTF-8 is made storable", params: with(create, "Count", "2\xff"), want: createWith("extra", "Count=2\uFFFD")},
		{name: "product code beyond the old charset", params: with(create, "productCode", "cmgj 0005/3362"), want: createWith("productCode", "cmgj 0005/3362")},
		{name: "product code with a control character", params: with(create, "productCode", "a\x00b"), wantErr: "parameter productCode"},
		{
			name:   "renewInstance",
			params: Params{"action": "renewInstance", "instanceId": "5604018", "orderId": "2", "expiredOn": "2100-01-01 00:00:00"},
			want:   &RenewInstance{InstanceID: "5604018", OrderID: "2", ExpiredOn: time.Date(2099, 12, 31, 16, 0, 0, 0, time.UTC)},
		},
		{name: "renewInstance without orderId", params: Params{"action": "renewInstance", "instanceId": "5604018"}, wantErr: "parameter orderId: is required"},
		{
			name:   "upgradeInstance",
			params: Params{"action": "upgradeInstance", "instanceId": "1", "orderId": "3", "skuId": "sku-2", "Count": "5"},
			want:   &UpgradeInstance{InstanceID: "1", OrderID: "3", SKU: "sku-2", BillableItems: map[string]string{"Count": "5"}},
		},
		{
			// Both documented samples send no orderId.
			name:   "upgradeInstance without orderId",
			params: Params{"action": "upgradeInstance", "instanceId": "1", "skuId": "cmgj00001"},
			want:   &UpgradeInstance{InstanceID: "1", SKU: "cmgj00001"},
		},
		{name: "upgradeInstance with a malformed orderId", params: Params{"action": "upgradeInstance", "instanceId": "1", "skuId": "s", "orderId": "x1"}, wantErr: "parameter orderId"},
		{name: "expiredInstance", params: Params{"action": "expiredInstance", "instanceId": "1"}, want: &ExpiredInstance{InstanceID: "1"}},
		{name: "expiredInstance without instanceId", params: Params{"action": "expiredInstance"}, wantErr: "parameter instanceId: is required"},
		{name: "releaseInstance", params: Params{"action": "releaseInstance", "instanceId": "1", "isRefund": "true"}, want: &ReleaseInstance{InstanceID: "1", Refund: true}},
		{name: "releaseInstance without isRefund, as the sample", params: Params{"action": "releaseInstance", "instanceId": "1"}, want: &ReleaseInstance{InstanceID: "1"}},
		{name: "releaseInstance bad orderId", params: Params{"action": "releaseInstance", "instanceId": "1", "orderId": "x"}, wantErr: "parameter orderId"},
		{name: "refundRenewInstance needs expiredOn", params: Params{"action": "refundRenewInstance", "instanceId": "1"}, wantErr: "parameter expiredOn: is required"},
		{name: "resumeInstance", params: Params{"action": "resumeInstance", "instanceId": "1", "productCode": "p", "skuId": "s"}, want: &ResumeInstance{InstanceID: "1", ProductCode: "p", SKU: "s"}},
		{
			name:   "orderPay",
			params: Params{"action": "orderPay", "requestId": "469363e8", "orderBizId": "1", "aliUid": "1234567890123456", "orderId": "9", "productCode": "p", "skuId": "s"},
			want:   &OrderPay{RequestID: "469363e8", InstanceID: "1", AliUID: "1234567890123456", OrderID: "9", ProductCode: "p", SKU: "s"},
		},
		{name: "orderPay without requestId", params: Params{"action": "orderPay", "orderBizId": "1", "aliUid": "1234567890123456", "orderId": "9"}, wantErr: "parameter requestId: is required"},
		{
			name:   "orderPay as the docs' sample",
			params: Params{"action": "orderPay", "aliUid": "12345678901234", "orderBizId": "12345", "orderId": "123456789", "productCode": "cmapi00001", "requestId": "469363e82a2847838bfcaeed436da272", "skuId": "yuncode215700000"},
			want:   &OrderPay{RequestID: "469363e82a2847838bfcaeed436da272", InstanceID: "12345", AliUID: "12345678901234", OrderID: "123456789", ProductCode: "cmapi00001", SKU: "yuncode215700000"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Decode(tt.params)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c, ok := got.(*CreateInstance); ok && !c.ExpiredOn.IsZero() {
				c.ExpiredOn = c.ExpiredOn.UTC()
			}
			if r, ok := got.(*RenewInstance); ok {
				r.ExpiredOn = r.ExpiredOn.UTC()
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got  %#v\nwant %#v", got, tt.want)
			}
		})
	}
}

func without(p Params, name string) Params {
	out := with(p, name, "")
	delete(out, name)
	return out
}

func TestTimeRoundTrip(t *testing.T) {
	ts, err := ParseTime("2026-11-26 11:20:00")
	if err != nil {
		t.Fatal(err)
	}
	if got := ts.UTC().Format(time.RFC3339); got != "2026-11-26T03:20:00Z" {
		t.Fatalf("Beijing 11:20 is %s in UTC, want 03:20", got)
	}
	if got := FormatTime(ts.UTC()); got != "2026-11-26 11:20:00" {
		t.Fatalf("FormatTime = %s", got)
	}
}

func TestPatterns(t *testing.T) {
	tests := []struct {
		p    pattern
		s    string
		want bool
	}{
		{uidPattern, "1234567890123456", true},
		{uidPattern, "12211222211", true},
		{uidPattern, "123456789012345a", false},
		{idPattern, "0", true},
		{idPattern, "", false},
		{idPattern, strings.Repeat("9", 32), true},
		{idPattern, strings.Repeat("9", 33), false},
		{idPattern, "12 3", false},
		{textPattern, "cmgj00053362-postpay", true},
		{textPattern, "a b/名", true},
		{textPattern, "a\tb", false},
		{textPattern, "\xff", false},
		{textPattern, strings.Repeat("x", 256), true},
		{textPattern, strings.Repeat("x", 257), false},
	}
	for _, tt := range tests {
		if got := tt.p.MatchString(tt.s); got != tt.want {
			t.Errorf("%+v.MatchString(%q) = %v", tt.p, tt.s, got)
		}
	}
}

// createWith is the decoded create of TestDecode's sample call with one
// change: a field set, or (name "extra") one unnamed parameter kept.
func createWith(name, value string) *CreateInstance {
	c := &CreateInstance{
		InstanceID: "5604018", AliUID: "1234567890123456", OrderID: "205060317920890",
		ProductCode: "cmgj00053362", SKU: "cmgj00053362-postpay",
		ExpiredOn: time.Date(2098, 12, 31, 16, 0, 0, 0, time.UTC),
	}
	switch name {
	case "aliUid":
		c.AliUID = value
	case "trial":
		c.Trial = value == "true"
	case "productCode":
		c.ProductCode = value
	case "extra":
		k, v, _ := strings.Cut(value, "=")
		c.BillableItems = map[string]string{k: v}
		if k == "expiredOn" {
			c.ExpiredOn = time.Time{}
		}
	}
	return c
}

func TestDecodeNotification(t *testing.T) {
	// DescribeFailedNotifications' documented message: no token, no requestId.
	params, err := ParseMessage(`{"productCode":"cmgj00001","orderId":"123456","orderBizId":"111222","action":"orderPay","aliUid":"12211222211","skuId":"cmgj00001-prepay"}`)
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeNotification(params)
	if err != nil {
		t.Fatal(err)
	}
	want := &OrderPay{InstanceID: "111222", AliUID: "12211222211", OrderID: "123456", ProductCode: "cmgj00001", SKU: "cmgj00001-prepay"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %#v, want %#v", got, want)
	}
	for _, bad := range []Params{
		{"action": "releaseInstance", "instanceId": "1"},
		{"action": "orderPay", "orderId": "1", "aliUid": "2"},
		{},
	} {
		if _, err := DecodeNotification(bad); err == nil {
			t.Errorf("DecodeNotification(%v) took it", bad)
		}
	}
}

// TestFoldedParameterRefused: the token signs "name=value&..." unescaped,
// so a captured call re-split with a documented parameter folded into
// another's value (or name) keeps its token. Decoding refuses it: an
// ordered upgrade must not come back as an orderless one.
func TestFoldedParameterRefused(t *testing.T) {
	const key = "k"
	legit := Params{"action": "upgradeInstance", "instanceId": "5604018", "memory": "4", "orderId": "205060317920890", "skuId": "sku-a"}.Signed(key)
	tests := map[string]Params{
		"into a value": {"action": "upgradeInstance", "instanceId": "5604018", "memory": "4&orderId=205060317920890", "skuId": "sku-a", "token": legit["token"]},
		"into a name":  {"action": "upgradeInstance", "instanceId": "5604018", "memory=4&orderId": "205060317920890", "skuId": "sku-a", "token": legit["token"]},
	}
	for name, forged := range tests {
		t.Run(name, func(t *testing.T) {
			if err := VerifyToken(forged, key); err != nil {
				t.Fatalf("the re-split call no longer matches its token (%v): the test shows nothing", err)
			}
			if msg, err := Decode(forged); err == nil {
				t.Fatalf("decoded as %+v", msg)
			}
		})
	}
	// A '&' or '=' alone in a value is text.
	if _, err := Decode(Params{"action": "upgradeInstance", "instanceId": "1", "skuId": "s", "note": "a&b=c"}); err != nil {
		t.Fatalf("a value with '&' and '=' that names no parameter: %v", err)
	}
}

// TestOneLargeExtraDropsOnlyItself: past MaxExtraBytes a parameter too
// large is dropped, and the smaller ones after it are still kept.
func TestOneLargeExtraDropsOnlyItself(t *testing.T) {
	msg, err := Decode(Params{"action": "upgradeInstance", "instanceId": "1", "skuId": "s",
		"AExtension": strings.Repeat("x", MaxExtraBytes), "Count": "2"})
	if err != nil {
		t.Fatal(err)
	}
	items := msg.(*UpgradeInstance).BillableItems
	if items["Count"] != "2" || items["AExtension"] != "" {
		t.Fatalf("kept %d items, Count %q", len(items), items["Count"])
	}
}

// FuzzDecode: whatever the parameters, decoding never panics and keeps
// at most MaxExtraBytes of unnamed ones, none with an empty name.
func FuzzDecode(f *testing.F) {
	f.Add("action=upgradeInstance&instanceId=1&skuId=s&Count=2&trial=x")
	f.Add("action=createInstance&aliUid=1&orderBizId=1&orderId=1&productCode=p&skuId=s&trial=TRUE&expiredOn=x&%ff=%fe")
	f.Add(`{"action":"orderPay","aliUid":1,"orderBizId":2,"orderId":3,"x":[1,{"a":null}]}`)
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParseMessage(s)
		if err != nil {
			return
		}
		_, _ = DecodeNotification(p)
		msg, err := Decode(p)
		if err != nil {
			return
		}
		var items map[string]string
		switch m := msg.(type) {
		case *CreateInstance:
			items = m.BillableItems
		case *UpgradeInstance:
			items = m.BillableItems
		}
		size := 0
		for k, v := range items {
			size += len(k) + len(v)
			if k == "" {
				t.Fatal("an unnamed parameter kept")
			}
		}
		if size > MaxExtraBytes {
			t.Fatalf("unnamed parameters of %d bytes kept", size)
		}
	})
}
