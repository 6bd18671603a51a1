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
		{name: "short aliUid", params: with(create, "aliUid", "123"), wantErr: "parameter aliUid: must be a 16-digit"},
		{name: "non-decimal orderBizId", params: with(create, "orderBizId", "56a"), wantErr: "parameter orderBizId: must be a decimal"},
		{name: "bad trial", params: with(create, "trial", "yes"), wantErr: `parameter trial: must be "true" or "false"`},
		{name: "bad expiredOn", params: with(create, "expiredOn", "2099-01-01"), wantErr: "parameter expiredOn: must be a time"},
		{name: "bad billable item name", params: with(create, "a b", "1"), wantErr: "parameter a b: is not a valid billable item"},
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
		{name: "expiredInstance", params: Params{"action": "expiredInstance", "instanceId": "1"}, want: &ExpiredInstance{InstanceID: "1"}},
		{name: "expiredInstance without instanceId", params: Params{"action": "expiredInstance"}, wantErr: "parameter instanceId: is required"},
		{name: "releaseInstance", params: Params{"action": "releaseInstance", "instanceId": "1", "isRefund": "true"}, want: &ReleaseInstance{InstanceID: "1", Refund: true}},
		{name: "releaseInstance bad orderId", params: Params{"action": "releaseInstance", "instanceId": "1", "orderId": "x"}, wantErr: "parameter orderId"},
		{name: "refundRenewInstance needs expiredOn", params: Params{"action": "refundRenewInstance", "instanceId": "1"}, wantErr: "parameter expiredOn: is required"},
		{name: "resumeInstance", params: Params{"action": "resumeInstance", "instanceId": "1", "productCode": "p", "skuId": "s"}, want: &ResumeInstance{InstanceID: "1", ProductCode: "p", SKU: "s"}},
		{
			name:   "orderPay",
			params: Params{"action": "orderPay", "requestId": "469363e8", "orderBizId": "1", "aliUid": "1234567890123456", "orderId": "9", "productCode": "p", "skuId": "s"},
			want:   &OrderPay{RequestID: "469363e8", InstanceID: "1", AliUID: "1234567890123456", OrderID: "9", ProductCode: "p", SKU: "s"},
		},
		{name: "orderPay without requestId", params: Params{"action": "orderPay", "orderBizId": "1", "aliUid": "1234567890123456", "orderId": "9"}, wantErr: "parameter requestId: is required"},
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
		{uidPattern, "123456789012345", false},
		{uidPattern, "123456789012345a", false},
		{idPattern, "0", true},
		{idPattern, "", false},
		{idPattern, strings.Repeat("9", 33), false},
		{idPattern, "12 3", false},
		{codePattern, "cmgj00053362-postpay", true},
		{codePattern, "a.b_c-D", true},
		{codePattern, "a b", false},
		{codePattern, "名", false},
		{codePattern, strings.Repeat("x", 65), false},
		{tokenPattern, "469363e8_2a28-47", true},
		{tokenPattern, "a.b", false},
	}
	for _, tt := range tests {
		if got := tt.p.MatchString(tt.s); got != tt.want {
			t.Errorf("%+v.MatchString(%q) = %v", tt.p, tt.s, got)
		}
	}
}
