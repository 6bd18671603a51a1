package marketplace

import (
	"maps"
	"testing"
)

func TestParseMessage(t *testing.T) {
	for _, tt := range []struct {
		msg  string
		want Params
		bad  bool
	}{
		{"action=releaseInstance&instanceId=5604018&token=abc", Params{"action": "releaseInstance", "instanceId": "5604018", "token": "abc"}, false},
		{`{"action":"renewInstance","instanceId":5604018,"orderId":"205060317920999","trial":false}`, Params{"action": "renewInstance", "instanceId": "5604018", "orderId": "205060317920999", "trial": "false"}, false},
		{`{"aliUid":1234567890123456}`, Params{"aliUid": "1234567890123456"}, false},
		{`{"a":{"b":1},"c":null}`, Params{"a": `{"b":1}`}, false},
		{`{"productCode":"cmgj00001","orderId":"123456","orderBizId":"111222","action":"orderPay","aliUid":"12211222211","skuId":"cmgj00001-prepay"}`, Params{"productCode": "cmgj00001", "orderId": "123456", "orderBizId": "111222", "action": "orderPay", "aliUid": "12211222211", "skuId": "cmgj00001-prepay"}, false},
		{`[1]`, nil, true},
		{`{"a":`, nil, true},
		{"a=1&a=2", nil, true},
	} {
		got, err := ParseMessage(tt.msg)
		if (err != nil) != tt.bad || (!tt.bad && !maps.Equal(got, tt.want)) {
			t.Errorf("ParseMessage(%q) = %v, %v", tt.msg, got, err)
		}
	}
}
