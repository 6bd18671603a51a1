package simulator

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

// OpenAPI answers the Market OpenAPI calls we make (DescribeInstanceForIsv,
// DescribeOrderForIsv, DescribeFailedNotifications, ConfirmNotification)
// from the Market, after checking the caller's access key and signature the
// way Alibaba Cloud's RPC APIs do; Market.Throttle plays its flow control.
type OpenAPI struct {
	Market          *Market
	AccessKeyID     string
	AccessKeySecret string
}

func (o *OpenAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		o.fail(w, http.StatusBadRequest, "InvalidParameter", "the request could not be read")
		return
	}
	params := r.Form
	if params.Get("AccessKeyId") != o.AccessKeyID {
		o.fail(w, http.StatusNotFound, "InvalidAccessKeyId.NotFound", "Specified access key is not found.")
		return
	}
	if !o.signatureValid(r.Method, params) {
		o.fail(w, http.StatusBadRequest, "SignatureDoesNotMatch", "Specified signature is not matched with our calculation.")
		return
	}
	if params.Get("Version") != "2015-11-01" {
		o.fail(w, http.StatusBadRequest, "InvalidVersion", "Specified parameter Version is not valid.")
		return
	}
	if o.Market.call(params.Get("Action")) {
		o.fail(w, http.StatusBadRequest, "Service.Flow.Control", "Request was denied due to flow control.")
		return
	}
	switch params.Get("Action") {
	case "DescribeFailedNotifications":
		page, _ := strconv.Atoi(params.Get("PageNumber"))
		size, _ := strconv.Atoi(params.Get("PageSize"))
		if page < 1 || size < 1 || size > 100 {
			o.fail(w, http.StatusBadRequest, "InvalidParameter", "PageNumber and PageSize (1 to 100) are required.")
			return
		}
		list, total := o.Market.FailedNotifications(page, size)
		items := make([]map[string]any, len(list))
		for i, n := range list {
			items[i] = map[string]any{"NotificationRequestId": n.RequestID, "Action": n.Action, "Message": n.Message, "CreateTime": n.CreateTime.UnixMilli()}
		}
		o.answer(w, map[string]any{"NotificationList": items, "PageNumber": page, "PageSize": size, "TotalCount": total})
	case "ConfirmNotification":
		if !o.Market.Confirm(params.Get("NotificationRequestId")) {
			o.fail(w, http.StatusNotFound, "NotificationNotFound", "The notification does not exist or was confirmed.")
			return
		}
		o.answer(w, map[string]any{"Success": true})
	case "PushMeteringData":
		code, drop := o.Market.pushMetering(params.Get("Metering"), o.Market.Now())
		switch {
		case drop:
			// Taken, and the answer lost: the connection drops.
			if hj, ok := w.(http.Hijacker); ok {
				if conn, _, err := hj.Hijack(); err == nil {
					_ = conn.Close()
					return
				}
			}
			o.fail(w, http.StatusBadGateway, "ServiceUnavailable", "The answer was lost.")
		case code == "Service.Flow.Control":
			o.fail(w, http.StatusBadRequest, code, "Request was denied due to flow control.")
		case code != "":
			o.fail(w, http.StatusBadRequest, code, "The metering data is not accepted.")
		default:
			o.answer(w, map[string]any{"Success": true, "Code": "200"})
		}
	case "DescribeInstanceForIsv":
		p, ok := o.Market.Instance(params.Get("InstanceId"))
		if !ok {
			o.fail(w, http.StatusNotFound, "InstanceNotFound", "The instance does not exist.")
			return
		}
		o.answer(w, map[string]any{
			"InstanceId": json.Number(p.InstanceID), "OrderId": json.Number(p.OrderID),
			"ProductCode": p.ProductCode, "ProductSkuCode": p.SKU, "ProductType": "APP",
			"Status": p.Status, "IsTrial": false,
			"CreatedOn": p.CreatedOn.UnixMilli(), "BeganOn": p.CreatedOn.UnixMilli(), "EndOn": p.EndOn.UnixMilli(),
		})
	case "DescribeOrderForIsv":
		p, ok := o.Market.Order(params.Get("OrderId"))
		if !ok {
			o.fail(w, http.StatusNotFound, "OrderNotFound", "The order does not exist.")
			return
		}
		o.answer(w, map[string]any{
			"OrderId": json.Number(p.OrderID), "AliUid": json.Number(p.AliUID), "OrderStatus": "NORMAL",
			"PayStatus": "PAID", "OrderType": "NEW", "ProductCode": p.ProductCode, "ProductSkuCode": p.SKU,
			"InstanceIds": []string{p.InstanceID}, "CreatedOn": p.CreatedOn.UnixMilli(), "PaidOn": p.CreatedOn.UnixMilli(),
		})
	default:
		o.fail(w, http.StatusNotFound, "InvalidAction.NotFound", "Specified api is not found, please check your url and method.")
	}
}

// signatureValid checks the RPC signature: HMAC-SHA1, keyed with the
// secret and "&", of METHOD&%2F&encode(sorted, encoded name=value pairs).
func (o *OpenAPI) signatureValid(method string, params url.Values) bool {
	given := params.Get("Signature")
	if given == "" || params.Get("SignatureMethod") != "HMAC-SHA1" {
		return false
	}
	if ts, err := time.Parse("2006-01-02T15:04:05Z", params.Get("Timestamp")); err != nil || time.Since(ts).Abs() > 15*time.Minute {
		return false
	}
	names := make([]string, 0, len(params))
	for name := range params {
		if name != "Signature" {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	pairs := make([]string, len(names))
	for i, name := range names {
		pairs[i] = rpcEncode(name) + "=" + rpcEncode(params.Get(name))
	}
	toSign := method + "&" + rpcEncode("/") + "&" + rpcEncode(strings.Join(pairs, "&"))
	mac := hmac.New(sha1.New, []byte(o.AccessKeySecret+"&"))
	mac.Write([]byte(toSign))
	want := base64.StdEncoding.EncodeToString(mac.Sum(nil))
	return subtle.ConstantTimeCompare([]byte(given), []byte(want)) == 1
}

// rpcEncode is RFC 3986 percent-encoding as the RPC signature uses it.
func rpcEncode(s string) string {
	e := url.QueryEscape(s)
	e = strings.ReplaceAll(e, "+", "%20")
	e = strings.ReplaceAll(e, "*", "%2A")
	return strings.ReplaceAll(e, "%7E", "~")
}

func (o *OpenAPI) answer(w http.ResponseWriter, body map[string]any) {
	body["RequestId"] = requestID()
	w.Header().Set("Content-Type", "application/json;charset=utf-8")
	_ = json.NewEncoder(w).Encode(body)
}

func (o *OpenAPI) fail(w http.ResponseWriter, status int, code, message string) {
	w.Header().Set("Content-Type", "application/json;charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"RequestId": requestID(), "HostId": "market.aliyuncs.com", "Code": code, "Message": message})
}

func requestID() string {
	return strings.ToUpper(time.Now().Format("20060102150405.000000000"))
}
