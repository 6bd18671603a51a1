package faults

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"
)

// count counts a fault of kind (roll counted nothing yet).
func (i *Injector) count(kind string) {
	i.mu.Lock()
	i.counts[kind]++
	i.mu.Unlock()
}

// hit rolls rate without counting: the caller counts the kind it picks.
func (i *Injector) hit(rate float64) bool {
	if i == nil || rate <= 0 {
		return false
	}
	i.mu.Lock()
	defer i.mu.Unlock()
	return !i.off && i.rng.Float64() < rate
}

// Hold is how long a call that times out is held: past the functions'
// 4-second deadlines for SES and the Market OpenAPI.
var Hold = 5 * time.Second

// timedOut holds a call past its caller's deadline, then lets it be
// served all the same (the caller is gone; what it asked is done).
func (i *Injector) timedOut(kind string) bool {
	if !i.hit(i.profile.Timeout) {
		return false
	}
	i.count(kind)
	time.Sleep(Hold)
	return true
}

func (i *Injector) sleep() {
	if d := i.delay(); d > 0 {
		time.Sleep(d)
	}
}

// lostAnswer serves the request, then answers the caller with status and
// body instead: the change is made, the caller cannot know it.
func lostAnswer(next http.Handler, w http.ResponseWriter, r *http.Request, status int, header http.Header, body string) {
	next.ServeHTTP(httptest.NewRecorder(), r)
	for k, v := range header {
		w.Header()[k] = v
	}
	w.WriteHeader(status)
	_, _ = io.WriteString(w, body)
}

// dynamoWrites are the DynamoDB operations that change items.
var dynamoWrites = map[string]bool{"PutItem": true, "UpdateItem": true, "DeleteItem": true, "TransactWriteItems": true, "BatchWriteItem": true}

func dynamoError(w http.ResponseWriter, status int, typ, message string, extra map[string]any) {
	body := map[string]any{"__type": "com.amazonaws.dynamodb.v20120810#" + typ, "message": message}
	for k, v := range extra {
		body[k] = v
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.0")
	w.Header().Set("X-Amzn-Requestid", "fault-injected")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}

// DynamoDB wraps the embedded DynamoDB's HTTP layer: a call is refused
// before it is applied (throttled, a 500, or, for a transaction,
// cancelled by a conflict with one reason per item, as DynamoDB answers),
// or applied with its answer lost (a 500), and delayed.
func (i *Injector) DynamoDB(next http.Handler) http.Handler {
	if i == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		i.sleep()
		op := strings.TrimPrefix(r.Header.Get("X-Amz-Target"), "DynamoDB_20120810.")
		if i.hit(i.profile.dynamoRate(op)) {
			switch {
			case op == "TransactWriteItems" && i.pick(2) == 0:
				body, _ := io.ReadAll(r.Body)
				var in struct{ TransactItems []json.RawMessage }
				_ = json.Unmarshal(body, &in)
				reasons := make([]map[string]string, len(in.TransactItems))
				codes := make([]string, len(in.TransactItems))
				for k := range reasons {
					reasons[k], codes[k] = map[string]string{"Code": "None"}, "None"
				}
				if len(reasons) > 0 {
					k := i.pick(len(reasons))
					reasons[k] = map[string]string{"Code": "TransactionConflict", "Message": "Transaction is ongoing for the item"}
					codes[k] = "TransactionConflict"
				}
				i.count(DynamoDBConflict)
				dynamoError(w, http.StatusBadRequest, "TransactionCanceledException",
					fmt.Sprintf("Transaction cancelled, please refer cancellation reasons for specific reasons [%s]", strings.Join(codes, ", ")),
					map[string]any{"CancellationReasons": reasons})
			case i.pick(2) == 0:
				i.count(DynamoDBThrottled)
				dynamoError(w, http.StatusBadRequest, "ProvisionedThroughputExceededException", "The level of configured provisioned throughput for the table was exceeded.", nil)
			default:
				i.count(DynamoDBInternal)
				dynamoError(w, http.StatusInternalServerError, "InternalServerError", "Internal server error", nil)
			}
			return
		}
		if dynamoWrites[op] && i.hit(i.profile.DynamoDBLost) {
			i.count(DynamoDBLostAnswer)
			h := http.Header{"Content-Type": {"application/x-amz-json-1.0"}}
			lostAnswer(next, w, r, http.StatusInternalServerError, h, `{"__type":"com.amazonaws.dynamodb.v20120810#InternalServerError","message":"Internal server error"}`)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// sesSend tells a request that sends a mail (SES v1's query API, or v2).
func sesSend(r *http.Request, body []byte) bool {
	return r.Method == http.MethodPost && (bytes.Contains(body, []byte("Action=SendEmail")) || bytes.Contains(body, []byte("Action=SendRawEmail")) ||
		strings.HasSuffix(r.URL.Path, "/outbound-emails"))
}

const sesThrottling = `<ErrorResponse xmlns="http://ses.amazonaws.com/doc/2010-12-01/"><Error><Type>Sender</Type><Code>Throttling</Code><Message>Maximum sending rate exceeded.</Message></Error><RequestId>fault-injected</RequestId></ErrorResponse>`

const sesInternal = `<ErrorResponse xmlns="http://ses.amazonaws.com/doc/2010-12-01/"><Error><Type>Receiver</Type><Code>InternalFailure</Code><Message>An internal error occurred.</Message></Error><RequestId>fault-injected</RequestId></ErrorResponse>`

// SES wraps the local SES: a send refused (throttled, a 500), or sent with
// its answer lost (the mail goes; the caller sees a 500), and delayed.
func (i *Injector) SES(next http.Handler) http.Handler {
	if i == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		if !sesSend(r, body) {
			next.ServeHTTP(w, r)
			return
		}
		i.sleep()
		xml := http.Header{"Content-Type": {"text/xml"}}
		if i.timedOut(SESTimeout) {
			next.ServeHTTP(w, r)
			return
		}
		switch {
		case i.hit(i.profile.SES):
			kind, status, answer := SESThrottled, http.StatusBadRequest, sesThrottling
			if i.pick(2) == 0 {
				kind, status, answer = SESInternal, http.StatusInternalServerError, sesInternal
			}
			i.count(kind)
			for k, v := range xml {
				w.Header()[k] = v
			}
			w.WriteHeader(status)
			_, _ = io.WriteString(w, answer)
		case i.hit(i.profile.SESLost):
			i.count(SESLostAnswer)
			lostAnswer(next, w, r, http.StatusInternalServerError, xml, sesInternal)
		default:
			next.ServeHTTP(w, r)
		}
	})
}

// Market wraps the Market OpenAPI: a call refused by flow control
// (Throttling.User) or by a failing service (503), and delayed.
func (i *Injector) Market(next http.Handler) http.Handler {
	if i == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		i.sleep()
		if i.timedOut(MarketTimeout) {
			next.ServeHTTP(w, r)
			return
		}
		if !i.hit(i.profile.Market) {
			next.ServeHTTP(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json;charset=utf-8")
		if i.pick(2) == 0 {
			i.count(MarketThrottled)
			w.WriteHeader(http.StatusBadRequest)
			_, _ = io.WriteString(w, `{"RequestId":"fault-injected","HostId":"market.aliyuncs.com","Code":"Throttling.User","Message":"Request was denied due to user flow control."}`)
			return
		}
		i.count(MarketUnavailable)
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = io.WriteString(w, `{"RequestId":"fault-injected","HostId":"market.aliyuncs.com","Code":"ServiceUnavailable","Message":"The request has failed due to a temporary failure of the server."}`)
	})
}
