package simulator

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// OpenAPI answers the Market OpenAPI calls we make (DescribeInstanceForIsv,
// DescribeOrderForIsv, DescribeFailedNotifications, ConfirmNotification,
// PushMeteringData) from the Market, after checking the caller's access
// key and signature the way Alibaba Cloud's APIs do: the V3 signature
// (ACS3-HMAC-SHA256 in the Authorization header), which the V2.0 SDK
// sends, or the older RPC signature (HMAC-SHA1 in the parameters).
// Market.Throttle plays its flow control.
//
// Answers follow what the documentation shows: an instance or order the
// marketplace does not know is an answer with no record in it (the only
// documented errors are IllegalPermission and UnknownError), never an
// error code of our own invention.
type OpenAPI struct {
	Market          *Market
	AccessKeyID     string
	AccessKeySecret string

	mu     sync.Mutex
	nonces map[string]time.Time // V3 signature nonces seen, to refuse a replay
}

// maxOpenAPIBody bounds a call's form body (100 metering records fit).
const maxOpenAPIBody = 1 << 20

func (o *OpenAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxOpenAPIBody))
	if err != nil {
		o.fail(w, http.StatusBadRequest, "InvalidParameter", "the request could not be read")
		return
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		o.fail(w, http.StatusBadRequest, "InvalidParameter", "the request could not be read")
		return
	}
	params := r.URL.Query()
	for k, v := range form {
		params[k] = v
	}
	action, version := params.Get("Action"), params.Get("Version")
	if auth := r.Header.Get("Authorization"); auth != "" {
		code, message := o.checkV3(r, auth, body)
		if code != "" {
			status := http.StatusBadRequest
			if code == "InvalidAccessKeyId.NotFound" {
				status = http.StatusNotFound
			}
			o.fail(w, status, code, message)
			return
		}
		action, version = r.Header.Get("x-acs-action"), r.Header.Get("x-acs-version")
	} else {
		if params.Get("AccessKeyId") != o.AccessKeyID {
			o.fail(w, http.StatusNotFound, "InvalidAccessKeyId.NotFound", "Specified access key is not found.")
			return
		}
		if !o.signatureValid(r.Method, params) {
			o.fail(w, http.StatusBadRequest, "SignatureDoesNotMatch", "Specified signature is not matched with our calculation.")
			return
		}
		if ts, _ := time.Parse("2006-01-02T15:04:05Z", params.Get("Timestamp")); !o.freshNonce(params.Get("SignatureNonce"), ts) {
			o.fail(w, http.StatusBadRequest, "SignatureNonceUsed", "Specified signature nonce was used already.")
			return
		}
	}
	if version != "2015-11-01" {
		o.fail(w, http.StatusBadRequest, "InvalidVersion", "Specified parameter Version is not valid.")
		return
	}
	if o.Market.call(action) {
		o.fail(w, http.StatusBadRequest, "Service.Flow.Control", "Request was denied due to flow control.")
		return
	}
	switch action {
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
			items[i] = map[string]any{"NotificationRequestId": n.ID, "Action": n.Action, "Message": n.Message, "CreateTime": n.CreateTime.UnixMilli()}
		}
		o.answer(w, map[string]any{"NotificationList": items, "PageNumber": page, "PageSize": size, "TotalCount": total})
	case "ConfirmNotification":
		// The documented answer is Success; a notification that is not
		// (or no longer) listed is not confirmed.
		o.answer(w, map[string]any{"Success": o.Market.Confirm(params.Get("NotificationRequestId"))})
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
		case code == "UnknownError":
			o.fail(w, http.StatusInternalServerError, code, "An unknown error occurred.")
		case code != "":
			o.fail(w, http.StatusBadRequest, code, "The metering data is not accepted.")
		default:
			o.answer(w, map[string]any{"Success": true})
		}
	case "DescribeInstanceForIsv":
		p, ok := o.Market.Instance(params.Get("InstanceId"))
		if !ok {
			o.answer(w, map[string]any{}) // no record
			return
		}
		// InstanceId and OrderId are Long in the documented answer;
		// ComponentJson is a string holding JSON (the doc's sample when the
		// purchase set no billable items).
		components := `{"package_version":"yuncode000111"}`
		if len(p.Components) > 0 {
			raw, _ := json.Marshal(p.Components)
			components = string(raw)
		}
		o.answer(w, map[string]any{
			"InstanceId": json.Number(p.InstanceID), "OrderId": json.Number(p.OrderID),
			"ProductCode": p.ProductCode, "ProductSkuCode": p.SKU, "ProductType": "APP",
			"Status": p.Status, "IsTrial": false, "ComponentJson": components,
			"CreatedOn": p.CreatedOn.UnixMilli(), "BeganOn": p.CreatedOn.UnixMilli(), "EndOn": p.EndOn.UnixMilli(),
		})
	case "DescribeOrderForIsv":
		p, ok := o.Market.Order(params.Get("OrderId"))
		if !ok {
			o.answer(w, map[string]any{}) // no record
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

// checkV3 checks an ACS3-HMAC-SHA256 signature: the canonical request
// (method, path, sorted query, the signed headers, the body's SHA-256)
// hashed, prefixed with the algorithm, and keyed with the secret. Every
// x-acs-* header must be signed, the body must match its declared hash,
// the date must be near, and a nonce is taken once.
func (o *OpenAPI) checkV3(r *http.Request, auth string, body []byte) (code, message string) {
	const algorithm = "ACS3-HMAC-SHA256"
	bad := func() (string, string) {
		return "SignatureDoesNotMatch", "Specified signature is not matched with our calculation."
	}
	rest, ok := strings.CutPrefix(auth, algorithm+" ")
	if !ok {
		return "InvalidAuthorization", "The Authorization header is not an ACS3-HMAC-SHA256 signature."
	}
	fields := map[string]string{}
	for _, part := range strings.Split(rest, ",") {
		name, value, _ := strings.Cut(strings.TrimSpace(part), "=")
		fields[name] = value
	}
	if fields["Credential"] != o.AccessKeyID {
		return "InvalidAccessKeyId.NotFound", "Specified access key is not found."
	}
	sum := sha256.Sum256(body)
	if r.Header.Get("x-acs-content-sha256") != hex.EncodeToString(sum[:]) {
		return bad()
	}
	date, err := time.Parse("2006-01-02T15:04:05Z", r.Header.Get("x-acs-date"))
	if err != nil || time.Since(date).Abs() > 15*time.Minute {
		return "InvalidTimeStamp.Expired", "Specified time stamp or date value is expired."
	}
	signed := strings.Split(fields["SignedHeaders"], ";")
	for name := range r.Header {
		if lower := strings.ToLower(name); strings.HasPrefix(lower, "x-acs-") && !contains(signed, lower) {
			return bad()
		}
	}
	if !contains(signed, "host") || !contains(signed, "x-acs-action") || !contains(signed, "x-acs-date") || !contains(signed, "x-acs-signature-nonce") {
		return bad()
	}
	var headers strings.Builder
	for _, name := range signed {
		value := r.Header.Get(name)
		if name == "host" {
			value = r.Host
		}
		headers.WriteString(name + ":" + strings.TrimSpace(value) + "\n")
	}
	query := r.URL.Query()
	names := make([]string, 0, len(query))
	for name := range query {
		names = append(names, name)
	}
	sort.Strings(names)
	pairs := make([]string, len(names))
	for i, name := range names {
		pairs[i] = name + "=" + rpcEncode(query.Get(name))
	}
	path := r.URL.EscapedPath()
	if path == "" {
		path = "/"
	}
	canonical := strings.Join([]string{r.Method, path, strings.Join(pairs, "&"), headers.String(), strings.Join(signed, ";"), hex.EncodeToString(sum[:])}, "\n")
	hashed := sha256.Sum256([]byte(canonical))
	mac := hmac.New(sha256.New, []byte(o.AccessKeySecret))
	mac.Write([]byte(algorithm + "\n" + hex.EncodeToString(hashed[:])))
	if subtle.ConstantTimeCompare([]byte(fields["Signature"]), []byte(hex.EncodeToString(mac.Sum(nil)))) != 1 {
		return bad()
	}
	if !o.freshNonce(r.Header.Get("x-acs-signature-nonce"), date) {
		return "SignatureNonceUsed", "Specified signature nonce was used already."
	}
	return "", ""
}

// freshNonce takes a signature nonce once; those older than the date
// window are forgotten.
func (o *OpenAPI) freshNonce(nonce string, at time.Time) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.nonces == nil {
		o.nonces = map[string]time.Time{}
	}
	for n, t := range o.nonces {
		if time.Since(t) > 30*time.Minute {
			delete(o.nonces, n)
		}
	}
	if _, seen := o.nonces[nonce]; seen || nonce == "" {
		return false
	}
	o.nonces[nonce] = at
	return true
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
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

// rpcEncode is RFC 3986 percent-encoding as the signatures use it.
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
