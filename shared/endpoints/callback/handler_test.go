package callback_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	miniserver "github.com/truora/minidyn/server"

	"github.com/guance/aliyun-marketplace/cmd/devstack/dynamotest"
	"github.com/guance/aliyun-marketplace/shared/adapters/storage"
	"github.com/guance/aliyun-marketplace/shared/domain/activation"
	"github.com/guance/aliyun-marketplace/shared/domain/marketplace"
	"github.com/guance/aliyun-marketplace/shared/domain/marketplace/marketplacetest"
	"github.com/guance/aliyun-marketplace/shared/endpoints/callback"
	"github.com/guance/aliyun-marketplace/shared/platform/logging"
	"github.com/guance/aliyun-marketplace/shared/platform/logging/logtest"
	"github.com/guance/aliyun-marketplace/shared/platform/metrics"
)

const key = "test-isv-key"

type fixture struct {
	handler *callback.Handler
	store   *storage.Instances
	db      *dynamotest.Server
	logs    *logtest.Buffer
	market  *market
}

// market is the Market OpenAPI as a test sets it.
type market struct {
	mu     sync.Mutex
	status activation.MarketStatus
	sku    string
	// components are ComponentJson's items.
	components map[string]string
	err        error
	asked      int
	// onAsk runs while the marketplace is being asked (a call racing it).
	onAsk func()
}

func (m *market) Describe(_ context.Context, id string) (activation.MarketInstance, error) {
	m.mu.Lock()
	m.asked++
	status, sku, components, err, onAsk := m.status, m.sku, m.components, m.err, m.onAsk
	m.mu.Unlock()
	if onAsk != nil {
		onAsk()
	}
	return activation.MarketInstance{InstanceID: id, Status: status, SKU: sku, Components: components}, err
}

func (m *market) set(status activation.MarketStatus, err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.status, m.err = status, err
}

func newFixture(t testing.TB) *fixture {
	db := dynamotest.Start(t)
	store := db.Store().Instances()
	logs := &logtest.Buffer{}
	log := logging.New(logs, slog.LevelDebug)
	m := &market{}
	return &fixture{
		handler: &callback.Handler{
			Key:         key,
			Applier:     activation.NewService(store, m, log),
			FrontEndURL: "https://www.guance.com",
			Log:         log,
		},
		store: store, db: db, logs: logs, market: m,
	}
}

func createParams() marketplace.Params {
	return marketplace.Params{
		"action": "createInstance", "aliUid": "1234567890123456", "orderBizId": "5604018",
		"orderId": "205060317920890", "productCode": "cmgj00053362", "skuId": "cmgj00053362-postpay",
		"trial": "false", "expiredOn": "2099-01-01 00:00:00",
	}
}

// call sends a GET with params signed by signKey ("" leaves them unsigned).
func (f *fixture) call(t testing.TB, params marketplace.Params, signKey string) (int, map[string]any) {
	t.Helper()
	if signKey != "" {
		params = params.Signed(signKey)
	}
	req := httptest.NewRequest(http.MethodGet, "/aliyun/spi?"+params.Encode(), nil)
	req.Host = "api.example.com"
	return f.do(t, req)
}

func (f *fixture) do(t testing.TB, req *http.Request) (int, map[string]any) {
	t.Helper()
	rec := httptest.NewRecorder()
	f.handler.ServeHTTP(rec, req)
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("Content-Type = %q, want JSON", ct)
	}
	var body map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatalf("body %q is not JSON: %v", rec.Body.String(), err)
	}
	return rec.Code, body
}

func with(p marketplace.Params, kv ...string) marketplace.Params {
	out := marketplace.Params{}
	for k, v := range p {
		out[k] = v
	}
	for i := 0; i < len(kv); i += 2 {
		out[kv[i]] = kv[i+1]
	}
	return out
}

func TestCreateInstanceAnswer(t *testing.T) {
	f := newFixture(t)
	status, body := f.call(t, createParams(), key)
	if status != http.StatusOK {
		t.Fatalf("status %d body %v", status, body)
	}
	want := map[string]any{
		"instanceId": "5604018",
		"appInfo":    map[string]any{"frontEndUrl": "https://www.guance.com", "authUrl": "https://api.example.com/aliyun/sso"},
	}
	if !jsonEqual(body, want) {
		t.Fatalf("answer %v, want %v", body, want)
	}
	inst, err := f.store.Get(context.Background(), "5604018")
	if err != nil {
		t.Fatal(err)
	}
	if inst.AliUID != "1234567890123456" || inst.Status != activation.StatusActive || inst.Progress != activation.ProgressPending || inst.Orders[activation.OrderCreate] != "205060317920890" {
		t.Fatalf("stored %+v", inst)
	}

	// A configured public origin wins over the request's.
	f.handler.PublicBaseURL = "https://activate.example.com/"
	_, body = f.call(t, createParams(), key)
	if got := body["appInfo"].(map[string]any)["authUrl"]; got != "https://activate.example.com/aliyun/sso" {
		t.Fatalf("authUrl %v", got)
	}
}

func jsonEqual(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return bytes.Equal(x, y)
}

func TestFormPostIsAccepted(t *testing.T) {
	f := newFixture(t)
	signed := createParams().Signed(key)
	req := httptest.NewRequest(http.MethodPost, "/aliyun/spi", strings.NewReader(signed.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if status, body := f.do(t, req); status != http.StatusOK || body["instanceId"] != "5604018" {
		t.Fatalf("status %d body %v", status, body)
	}
}

// TestConcurrentDuplicateCreates is the marketplace retrying while the
// first call is still running: 50 identical calls at once make one instance
// and 50 identical answers.
func TestConcurrentDuplicateCreates(t *testing.T) {
	f := newFixture(t)
	const n = 50
	answers := make([]string, n)
	statuses := make([]int, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			rec := httptest.NewRecorder()
			req := httptest.NewRequest(http.MethodGet, "/aliyun/spi?"+createParams().Signed(key).Encode(), nil)
			f.handler.ServeHTTP(rec, req)
			statuses[i], answers[i] = rec.Code, rec.Body.String()
		})
	}
	close(start)
	wg.Wait()
	for i := range n {
		if statuses[i] != http.StatusOK || answers[i] != answers[0] {
			t.Fatalf("answer %d: %d %s; first was %s", i, statuses[i], answers[i], answers[0])
		}
	}
	if _, err := f.store.Get(context.Background(), "5604018"); err != nil {
		t.Fatal(err)
	}
	if got := strings.Count(f.logs.String(), `"outcome":"applied"`); got != 1 {
		t.Fatalf("%d calls applied, want exactly 1", got)
	}
}

// TestLifecycleActions plays every action twice (the repeat answers the
// same and changes nothing). A freeze and a resume carry no order id and
// no time: the Market OpenAPI decides each (a call its record does not
// show is refused, 409, so that the marketplace calls again); a renewal
// lifting a freeze asks it too.
func TestLifecycleActions(t *testing.T) {
	f := newFixture(t)
	f.call(t, createParams(), key)
	steps := []struct {
		name       string
		params     marketplace.Params
		market     activation.MarketStatus // what the OpenAPI says, when asked
		code       int                     // the answer; 0 for 200
		trips      int64                   // first attempt's round trips (asked: read, settled; contested: refused, read, settled)
		wantStatus activation.Status
		wantExpiry string
		wantSKU    string
	}{
		{"expired freezes: the marketplace says expired", marketplace.Params{"action": "expiredInstance", "instanceId": "5604018"}, activation.MarketExpired, 0, 2, activation.StatusFrozen, "2099-01-01 00:00:00", "cmgj00053362-postpay"},
		{"resume: the marketplace says opened", marketplace.Params{"action": "resumeInstance", "instanceId": "5604018", "productCode": "cmgj00053362", "skuId": "cmgj00053362-postpay"}, activation.MarketOpened, 0, 2, activation.StatusActive, "2099-01-01 00:00:00", "cmgj00053362-postpay"},
		{"a late retry of the first expire: the marketplace says opened", marketplace.Params{"action": "expiredInstance", "instanceId": "5604018"}, activation.MarketOpened, http.StatusConflict, 1, activation.StatusActive, "2099-01-01 00:00:00", "cmgj00053362-postpay"},
		{"expired again, for real", marketplace.Params{"action": "expiredInstance", "instanceId": "5604018"}, activation.MarketExpired, 0, 2, activation.StatusFrozen, "2099-01-01 00:00:00", "cmgj00053362-postpay"},
		{"renew lifts the freeze once the marketplace says opened", marketplace.Params{"action": "renewInstance", "instanceId": "5604018", "orderId": "205060317920891", "expiredOn": "2100-01-01 00:00:00"}, activation.MarketOpened, 0, 3, activation.StatusActive, "2100-01-01 00:00:00", "cmgj00053362-postpay"},
		{"stale renew changes nothing", marketplace.Params{"action": "renewInstance", "instanceId": "5604018", "orderId": "205060317920889", "expiredOn": "2098-01-01 00:00:00"}, "", 0, 2, activation.StatusActive, "2100-01-01 00:00:00", "cmgj00053362-postpay"},
		{"upgrade", marketplace.Params{"action": "upgradeInstance", "instanceId": "5604018", "orderId": "205060317920892", "skuId": "sku-large", "Count": "9"}, "", 0, 1, activation.StatusActive, "2100-01-01 00:00:00", "sku-large"},
		{"refund of the renewal", marketplace.Params{"action": "refundRenewInstance", "instanceId": "5604018", "expiredOn": "2099-01-01 00:00:00"}, "", 0, 1, activation.StatusActive, "2099-01-01 00:00:00", "sku-large"},
		{"order paid", marketplace.Params{"action": "orderPay", "requestId": "469363e82a2847838bfcaeed436da272", "orderBizId": "5604018", "aliUid": "1234567890123456", "orderId": "205060317920893", "productCode": "cmgj00053362", "skuId": "sku-large"}, "", 0, 1, activation.StatusActive, "2099-01-01 00:00:00", "sku-large"},
		{"release", marketplace.Params{"action": "releaseInstance", "instanceId": "5604018", "isRefund": "false"}, "", 0, 1, activation.StatusReleased, "2099-01-01 00:00:00", "sku-large"},
		{"renew after release changes nothing", marketplace.Params{"action": "renewInstance", "instanceId": "5604018", "orderId": "205060317920899", "expiredOn": "2101-01-01 00:00:00"}, "", 0, 2, activation.StatusReleased, "2099-01-01 00:00:00", "sku-large"},
	}
	for _, step := range steps {
		f.market.set(step.market, nil)
		want := step.code
		if want == 0 {
			want = http.StatusOK
		}
		for attempt := range 2 {
			before, _ := f.store.Get(context.Background(), "5604018")
			f.db.ResetRoundTrips()
			status, body := f.call(t, step.params, key)
			if status != want || (want == http.StatusOK) != (body["success"] == true) {
				t.Fatalf("%s (attempt %d): %d %v", step.name, attempt, status, body)
			}
			if n := f.db.RoundTrips(); attempt == 0 && n != step.trips || attempt == 1 && n > step.trips {
				t.Errorf("%s (attempt %d): %d round trips, want %d", step.name, attempt, n, step.trips)
			}
			inst, err := f.store.Get(context.Background(), "5604018")
			if err != nil {
				t.Fatal(err)
			}
			if inst.Status != step.wantStatus || marketplace.FormatTime(inst.ExpiredOn) != step.wantExpiry || inst.SKU != step.wantSKU {
				t.Fatalf("%s (attempt %d): status %s expiry %s sku %s", step.name, attempt, inst.Status, marketplace.FormatTime(inst.ExpiredOn), inst.SKU)
			}
			if attempt == 1 && !inst.UpdatedAt.Equal(before.UpdatedAt) {
				t.Fatalf("%s: the repeat changed the instance", step.name)
			}
		}
	}
	inst, _ := f.store.Get(context.Background(), "5604018")
	if inst.BillableItems["Count"] != "9" {
		t.Errorf("billable items %v", inst.BillableItems)
	}
	if inst.LastCalls[marketplace.ActionOrderPay].OrderID != "205060317920893" {
		t.Errorf("orderPay not recorded: %v", inst.LastCalls)
	}
}

// TestContestedFreezeDoesNotUndoARenewal: while the marketplace is asked
// about a contested freeze (and says EXPIRED), a renewal lands; the freeze
// must not undo it.
func TestContestedFreezeDoesNotUndoARenewal(t *testing.T) {
	f := newFixture(t)
	f.call(t, createParams(), key)
	f.call(t, marketplace.Params{"action": "renewInstance", "instanceId": "5604018", "orderId": "205060317920891"}, key)
	f.market.set(activation.MarketExpired, nil)
	f.market.onAsk = func() {
		// In the same second: only a count of the moves tells them apart.
		f.call(t, marketplace.Params{"action": "renewInstance", "instanceId": "5604018", "orderId": "205060317920892"}, key)
	}
	if status, body := f.call(t, marketplace.Params{"action": "expiredInstance", "instanceId": "5604018"}, key); status != http.StatusOK {
		t.Fatalf("%d %v", status, body)
	}
	inst, _ := f.store.Get(context.Background(), "5604018")
	if inst.Status != activation.StatusActive || inst.Orders[activation.OrderRenew] != "205060317920892" {
		t.Fatalf("the freeze undid the renewal: status %s, renewal %s", inst.Status, inst.Orders[activation.OrderRenew])
	}
}

// TestContestedCallWhileTheMarketIsDown: a freeze that the order history
// contradicts, while the OpenAPI cannot be asked, is recorded for the
// reconciliation and acknowledged; the instance stays as it was.
func TestContestedCallWhileTheMarketIsDown(t *testing.T) {
	f := newFixture(t)
	f.call(t, createParams(), key)
	f.call(t, marketplace.Params{"action": "renewInstance", "instanceId": "5604018", "orderId": "205060317920891"}, key)
	f.market.set("", fmt.Errorf("market openapi DescribeInstanceForIsv: %w (timeout)", activation.ErrMarketUnavailable))
	status, body := f.call(t, marketplace.Params{"action": "expiredInstance", "instanceId": "5604018"}, key)
	if status != http.StatusOK || body["success"] != true {
		t.Fatalf("%d %v", status, body)
	}
	inst, _ := f.store.Get(context.Background(), "5604018")
	if inst.Status != activation.StatusActive || inst.DisputedAction != marketplace.ActionExpiredInstance {
		t.Fatalf("status %s dispute %q", inst.Status, inst.DisputedAction)
	}
	if strings.Contains(f.logs.String(), "timeout)") && !strings.Contains(f.logs.String(), `"error":"MarketUnavailable"`) {
		t.Fatalf("log: %s", f.logs.String())
	}
}

func TestRejections(t *testing.T) {
	renew := marketplace.Params{"action": "renewInstance", "instanceId": "5604018", "orderId": "205060317920891"}
	tests := []struct {
		name      string
		params    marketplace.Params
		signKey   string
		status    int
		code      string
		parameter string
	}{
		{"missing token", createParams(), "", 403, "MissingToken", "token"},
		{"wrong key", createParams(), "another-key", 403, "InvalidToken", "token"},
		{"token of other values", with(createParams(), "token", marketplace.Sign(createParams(), key), "aliUid", "1234567890123457"), "", 403, "InvalidToken", "token"},
		{"unknown action", marketplace.Params{"action": "deleteInstance", "instanceId": "1"}, key, 400, "InvalidAction", "action"},
		{"missing action", marketplace.Params{"instanceId": "1"}, key, 400, "InvalidAction", "action"},
		{"missing required parameter", with(createParams(), "orderId", ""), key, 400, "InvalidParameter", "orderId"},
		{"malformed instance id", with(renew, "instanceId", "56O4018"), key, 400, "InvalidParameter", "instanceId"},
		{"malformed uid", with(createParams(), "aliUid", "12a45"), key, 400, "InvalidParameter", "aliUid"},
		{"malformed instance id of createInstance", with(createParams(), "orderBizId", "5604O18"), key, 400, "InvalidParameter", "orderBizId"},
		{"unknown instance", renew, key, 404, "InstanceNotFound", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			status, body := f.call(t, tt.params, tt.signKey)
			if status != tt.status || body["code"] != tt.code || body["success"] != false || body["message"] == "" {
				t.Fatalf("got %d %v, want %d %s", status, body, tt.status, tt.code)
			}
			// A refused createInstance says, as the docs ask, that no
			// instance was made: instanceId "0", and the marketplace calls
			// again. Other actions carry no instance id.
			if _, has := body["instanceId"]; has != (tt.params["action"] == "createInstance") || has && body["instanceId"] != "0" {
				t.Fatalf("instanceId in %v", body)
			}
			if tt.parameter != "" && body["parameter"] != tt.parameter {
				t.Fatalf("parameter %v, want %s", body["parameter"], tt.parameter)
			}
			wantTrips := int64(0)
			if tt.status == http.StatusNotFound {
				wantTrips = 1 // the conditional write that found no instance
			}
			if n := f.db.RoundTrips(); n != wantTrips {
				t.Fatalf("a rejected call made %d round trips, want %d", n, wantTrips)
			}
			if _, err := f.store.Get(context.Background(), "5604018"); err == nil {
				t.Fatal("a rejected call wrote an instance")
			}
			logs := f.logs.String()
			if !strings.Contains(logs, `"msg":"spi call rejected"`) || strings.Contains(logs, key) {
				t.Fatalf("rejection log missing or holding the key: %s", logs)
			}
		})
	}
}

func TestOversizedBody(t *testing.T) {
	f := newFixture(t)
	body := "pad=" + strings.Repeat("a", callback.MaxBodyBytes)
	req := httptest.NewRequest(http.MethodPost, "/aliyun/spi?"+createParams().Signed(key).Encode(), strings.NewReader(body))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if status, answer := f.do(t, req); status != http.StatusRequestEntityTooLarge || answer["code"] != "BodyTooLarge" {
		t.Fatalf("got %d %v", status, answer)
	}
}

func TestWrongMethodAndBody(t *testing.T) {
	f := newFixture(t)
	if status, body := f.do(t, httptest.NewRequest(http.MethodPut, "/aliyun/spi", nil)); status != 405 || body["code"] != "MethodNotAllowed" {
		t.Fatalf("PUT: %d %v", status, body)
	}
	req := httptest.NewRequest(http.MethodPost, "/aliyun/spi", strings.NewReader(`{"action":"createInstance"}`))
	req.Header.Set("Content-Type", "application/json")
	if status, body := f.do(t, req); status != 415 || body["code"] != "UnsupportedBody" {
		t.Fatalf("JSON body: %d %v", status, body)
	}
}

// TestDynamoDBFailureIsRetryable: a createInstance our storage cannot
// record answers as the docs ask of a failure a retry can fix, 200 with
// instanceId "0" (the marketplace calls again, up to 120 times); any
// other action answers 500, which the marketplace also retries.
func TestDynamoDBFailureIsRetryable(t *testing.T) {
	f := newFixture(t)
	f.call(t, createParams(), key)
	f.db.Engine.EmulateFailureForTable(f.db.Tables["InstancesTable"], miniserver.FailureConditionInternalServerError)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	create := with(createParams(), "orderBizId", "5604019")
	req := httptest.NewRequestWithContext(ctx, http.MethodGet, "/aliyun/spi?"+create.Signed(key).Encode(), nil)
	status, body := f.do(t, req)
	if status != http.StatusOK || body["instanceId"] != "0" || body["code"] != "InternalError" {
		t.Fatalf("createInstance: got %d %v, want 200 with instanceId 0", status, body)
	}
	renew := marketplace.Params{"action": "renewInstance", "instanceId": "5604018", "orderId": "205060317920891"}
	req = httptest.NewRequestWithContext(ctx, http.MethodGet, "/aliyun/spi?"+renew.Signed(key).Encode(), nil)
	if status, body := f.do(t, req); status != http.StatusInternalServerError || body["code"] != "InternalError" {
		t.Fatalf("renewInstance: got %d %v, want 500 InternalError", status, body)
	}
	if !strings.Contains(f.logs.String(), `"level":"ERROR"`) {
		t.Fatalf("a store failure must be logged as an error: %s", f.logs.String())
	}
	f.db.Engine.EmulateFailureForTable(f.db.Tables["InstancesTable"], miniserver.FailureConditionNone)
	if status, body := f.call(t, create, key); status != http.StatusOK || body["instanceId"] != "5604019" {
		t.Fatalf("after recovery: %d %v", status, body)
	}
}

// TestUpgradeWithoutOrderID: both documented upgrade samples carry no
// orderId. Nothing tells such an upgrade from a late retry or a replay of
// an older one, so the marketplace's record decides every time: applied
// when it shows the SKU and the items, refused (the marketplace calls
// again) when it does not yet or cannot say, never dropped as answered;
// its repeat changes nothing and asks nothing.
func TestUpgradeWithoutOrderID(t *testing.T) {
	f := newFixture(t)
	f.call(t, createParams(), key)
	upgrade := func(sku string) marketplace.Params {
		return marketplace.Params{"action": "upgradeInstance", "instanceId": "5604018", "skuId": sku}
	}
	steps := []struct {
		name       string
		params     marketplace.Params
		market     string // the SKU the OpenAPI says, when asked
		components map[string]string
		down       bool
		status     int
		wantSKU    string
		asked      int
	}{
		{"first upgrade: the marketplace shows it", upgrade("sku-a"), "sku-a", nil, false, 200, "sku-a", 1},
		{"its repeat: nothing asked, nothing changed", upgrade("sku-a"), "sku-a", nil, false, 200, "sku-a", 0},
		{"a second while the record lags: refused, not dropped", upgrade("sku-b"), "sku-a", nil, false, 409, "sku-a", 1},
		{"the same again once the record shows it", upgrade("sku-b"), "sku-b", nil, false, 200, "sku-b", 1},
		// Applied before and replaced since: known without asking.
		{"a late retry (or replay) of the first: answered, not applied", upgrade("sku-a"), "sku-b", nil, false, 200, "sku-b", 0},
		{"a retry of one never applied, the record shows another: refused", upgrade("sku-z"), "sku-b", nil, false, 409, "sku-b", 1},
		{"same SKU, an item the record lists otherwise: refused", with(upgrade("sku-b"), "Count", "4"), "sku-b", map[string]string{"Count": "8"}, false, 409, "sku-b", 1},
		{"same SKU, the item as the record lists it", with(upgrade("sku-b"), "Count", "8"), "sku-b", map[string]string{"Count": "8", "package_version": "x"}, false, 200, "sku-b", 1},
		{"the marketplace cannot be asked: refused, retried later", upgrade("sku-c"), "", nil, true, 500, "sku-b", 1},
		{"an upgrade with an order id: nothing asked", with(upgrade("sku-d"), "orderId", "205060317920895"), "", nil, false, 200, "sku-d", 0},
		{"then one without, shown by the record", upgrade("sku-e"), "sku-e", nil, false, 200, "sku-e", 1},
	}
	for _, step := range steps {
		f.market.mu.Lock()
		f.market.sku, f.market.components, f.market.err, f.market.asked = step.market, step.components, nil, 0
		if step.down {
			f.market.err = fmt.Errorf("market openapi: %w", activation.ErrMarketUnavailable)
		}
		f.market.mu.Unlock()
		status, body := f.call(t, step.params, key)
		if status != step.status {
			t.Fatalf("%s: %d %v", step.name, status, body)
		}
		inst, _ := f.store.Get(context.Background(), "5604018")
		if inst.SKU != step.wantSKU || f.market.asked != step.asked {
			t.Fatalf("%s: sku %s, asked %d; want %s, %d", step.name, inst.SKU, f.market.asked, step.wantSKU, step.asked)
		}
	}
}

// TestDocumentedSamples plays every SPI sample request of the docs
// (marketplacetest), signed with our key, in lifecycle order: each is
// taken, answers success, and moves the instance as the action says.
func TestDocumentedSamples(t *testing.T) {
	f := newFixture(t)
	f.market.set(activation.MarketExpired, nil)
	want := map[marketplace.Action]activation.Status{
		"createInstance": activation.StatusActive, "renewInstance": activation.StatusActive, "upgradeInstance": activation.StatusActive,
		"expiredInstance": activation.StatusFrozen, "resumeInstance": activation.StatusActive, "refundRenewInstance": activation.StatusActive,
		"orderPay": activation.StatusActive, "releaseInstance": activation.StatusReleased,
	}
	for _, call := range marketplacetest.Load().Calls {
		params := call.Params()
		if call.Action == marketplace.ActionResumeInstance {
			f.market.set(activation.MarketOpened, nil) // a resume just after the freeze is asked about
		}
		if call.Action == marketplace.ActionUpgradeInstance {
			f.market.mu.Lock()
			f.market.sku = params["skuId"] // an upgrade without orderId is asked about
			f.market.mu.Unlock()
		}
		status, body := f.call(t, params, key)
		if status != http.StatusOK {
			t.Fatalf("%s (%s): %d %v", call.Action, call.Source, status, body)
		}
		if call.Action == marketplace.ActionCreateInstance && body["instanceId"] != "1" {
			t.Fatalf("createInstance answered %v", body)
		}
		if call.Action != marketplace.ActionCreateInstance && body["success"] != true {
			t.Fatalf("%s answered %v", call.Action, body)
		}
		inst, err := f.store.Get(context.Background(), "1")
		if err != nil || inst.Status != want[call.Action] {
			t.Fatalf("after %s: %+v %v", call.Action, inst.Status, err)
		}
		switch call.Action {
		case marketplace.ActionCreateInstance:
			if inst.AliUID != "12345678901234" || inst.BillableItems["Count"] != "2" || inst.BillableItems["Num"] != "3" {
				t.Fatalf("createInstance stored %+v", inst)
			}
		case marketplace.ActionUpgradeInstance:
			if inst.SKU != "cmgj00001" {
				t.Fatalf("upgrade without orderId not applied: %s", inst.SKU)
			}
		}
	}
}

// TestEveryCreateFailureAnswersZero: a createInstance refused while its
// parameters are read (before any token check) still answers instanceId
// "0", so that whatever the marketplace reads, it calls again.
func TestEveryCreateFailureAnswersZero(t *testing.T) {
	f := newFixture(t)
	signed := createParams().Signed(key).Encode()
	form := func(contentType, body string) *http.Request {
		r := httptest.NewRequest(http.MethodPost, "/aliyun/spi?action=createInstance", strings.NewReader(body))
		r.Header.Set("Content-Type", contentType)
		return r
	}
	for name, req := range map[string]*http.Request{
		"a repeated parameter":     httptest.NewRequest(http.MethodGet, "/aliyun/spi?"+signed+"&Count=2&Count=3", nil),
		"a body of another type":   form("text/plain", signed),
		"a body past 64 KiB":       form("application/x-www-form-urlencoded", "pad="+strings.Repeat("x", 70<<10)),
		"a body not URL encoding":  form("application/x-www-form-urlencoded", "a=%zz"),
		"the action twice, at odd": httptest.NewRequest(http.MethodGet, "/aliyun/spi?"+signed+"&action=createInstance", nil),
	} {
		status, body := f.do(t, req)
		if body["instanceId"] != "0" || status < 400 {
			t.Errorf("%s: createInstance answered %d %v, want a refusal with instanceId \"0\"", name, status, body)
		}
	}
}

// TestSemicolonIsText: a ';' left unescaped in a query is part of a
// value, as some encoders write it; Go's parser alone would refuse the
// call.
func TestSemicolonIsText(t *testing.T) {
	f := newFixture(t)
	params := with(createParams(), "template", "a;b").Signed(key)
	query := strings.ReplaceAll(params.Encode(), "%3B", ";")
	status, body := f.do(t, httptest.NewRequest(http.MethodGet, "/aliyun/spi?"+query, nil))
	if status != http.StatusOK || body["instanceId"] != "5604018" {
		t.Fatalf("createInstance with an unescaped ';': %d %v", status, body)
	}
	if inst, _ := f.store.Get(context.Background(), "5604018"); inst.Template != "a;b" {
		t.Fatalf("template stored as %q", inst.Template)
	}
}

// at sets the service's clock.
func (f *fixture) at(t time.Time) {
	f.handler.Applier.(*activation.Service).Now = func() time.Time { return t }
}

// replay sends a captured query string exactly as it was seen.
func (f *fixture) replay(t *testing.T, rawQuery string) (int, map[string]any) {
	t.Helper()
	return f.do(t, httptest.NewRequest(http.MethodGet, "/aliyun/spi?"+rawQuery, nil))
}

// TestReplaysAndLateRetries: the token of a call without an order id
// signs its parameters and no time, so a captured URL is valid forever,
// and a retry may land long after newer calls. Each is put to the
// marketplace's record, however long after the opposite move: a replayed
// freeze of a paid-up instance, a replayed resume of one in arrears, a
// late renewal after a newer freeze, a replayed upgrade after a newer one
// change nothing; a genuine freeze the record does not show yet is
// refused (the marketplace calls again), never acknowledged and dropped.
func TestReplaysAndLateRetries(t *testing.T) {
	expire := marketplace.Params{"action": "expiredInstance", "instanceId": "5604018"}
	resume := marketplace.Params{"action": "resumeInstance", "instanceId": "5604018", "productCode": "cmgj00053362", "skuId": "cmgj00053362-postpay"}
	renewal := marketplace.Params{"action": "renewInstance", "instanceId": "5604018", "orderId": "205060317920900", "expiredOn": "2099-01-01 00:00:00"}
	t.Run("a replayed freeze, days after the renewal", func(t *testing.T) {
		f := newFixture(t)
		t0 := time.Now().Add(-72 * time.Hour)
		f.at(t0)
		f.call(t, createParams(), key)
		captured := expire.Signed(key).Encode()
		f.market.set(activation.MarketExpired, nil)
		f.at(t0.Add(time.Hour))
		if status, body := f.replay(t, captured); status != http.StatusOK {
			t.Fatalf("genuine freeze: %d %v", status, body)
		}
		f.market.set(activation.MarketOpened, nil) // the buyer paid
		f.at(t0.Add(2 * time.Hour))
		if status, body := f.call(t, renewal, key); status != http.StatusOK {
			t.Fatalf("renewal: %d %v", status, body)
		}
		f.at(t0.Add(27 * time.Hour))
		status, _ := f.replay(t, captured)
		if inst, _ := f.store.Get(context.Background(), "5604018"); inst.Status != activation.StatusActive || status != http.StatusConflict {
			t.Fatalf("the replay: %d, status %s", status, inst.Status)
		}
	})
	t.Run("a replayed resume, days after the freeze", func(t *testing.T) {
		f := newFixture(t)
		t0 := time.Now().Add(-10 * 24 * time.Hour)
		f.at(t0)
		f.call(t, createParams(), key)
		f.market.set(activation.MarketExpired, nil)
		f.at(t0.Add(time.Hour))
		f.call(t, expire, key)
		captured := resume.Signed(key).Encode()
		f.market.set(activation.MarketOpened, nil)
		f.at(t0.Add(48 * time.Hour))
		if status, body := f.replay(t, captured); status != http.StatusOK {
			t.Fatalf("genuine resume: %d %v", status, body)
		}
		f.market.set(activation.MarketExpired, nil) // arrears again
		f.at(t0.Add(5 * 24 * time.Hour))
		if status, body := f.call(t, expire, key); status != http.StatusOK {
			t.Fatalf("second freeze: %d %v", status, body)
		}
		f.at(t0.Add(6 * 24 * time.Hour))
		status, _ := f.replay(t, captured)
		if inst, _ := f.store.Get(context.Background(), "5604018"); inst.Status != activation.StatusFrozen || status != http.StatusConflict {
			t.Fatalf("the replay: %d, status %s", status, inst.Status)
		}
	})
	t.Run("a late renewal retry after a newer freeze", func(t *testing.T) {
		f := newFixture(t)
		t0 := time.Now().Add(-10 * time.Hour)
		f.at(t0)
		f.call(t, createParams(), key)
		f.market.set(activation.MarketExpired, nil)
		f.at(t0.Add(2 * time.Hour))
		if status, body := f.call(t, expire, key); status != http.StatusOK {
			t.Fatalf("freeze: %d %v", status, body)
		}
		f.at(t0.Add(5 * time.Hour))
		status, _ := f.call(t, renewal, key)
		if inst, _ := f.store.Get(context.Background(), "5604018"); inst.Status != activation.StatusFrozen || status != http.StatusConflict {
			t.Fatalf("the late renewal: %d, status %s", status, inst.Status)
		}
		// Once the arrears are paid, its next retry lifts the freeze.
		f.market.set(activation.MarketOpened, nil)
		if status, body := f.call(t, renewal, key); status != http.StatusOK {
			t.Fatalf("the renewal, paid: %d %v", status, body)
		}
		if inst, _ := f.store.Get(context.Background(), "5604018"); inst.Status != activation.StatusActive {
			t.Fatalf("after the paid renewal: %s", inst.Status)
		}
	})
	t.Run("a genuine freeze the record does not show yet", func(t *testing.T) {
		f := newFixture(t)
		f.call(t, createParams(), key)
		f.market.set(activation.MarketOpened, nil)
		status, _ := f.call(t, expire, key)
		inst, _ := f.store.Get(context.Background(), "5604018")
		if status != http.StatusConflict || inst.Status != activation.StatusActive {
			t.Fatalf("%d, status %s", status, inst.Status)
		}
		f.market.set(activation.MarketExpired, nil)
		if status, _ := f.call(t, expire, key); status != http.StatusOK {
			t.Fatalf("the marketplace's retry: %d", status)
		}
	})
	t.Run("a replayed upgrade, same SKU, no components listed", func(t *testing.T) {
		f := newFixture(t)
		f.call(t, createParams(), key)
		up := func(count string) marketplace.Params {
			return marketplace.Params{"action": "upgradeInstance", "instanceId": "5604018", "skuId": "sku-b", "Count": count}
		}
		first := up("2").Signed(key).Encode()
		f.market.mu.Lock()
		f.market.sku, f.market.components = "sku-b", nil
		f.market.mu.Unlock()
		if status, body := f.replay(t, first); status != http.StatusOK {
			t.Fatalf("first upgrade: %d %v", status, body)
		}
		if status, body := f.call(t, up("8"), key); status != http.StatusOK {
			t.Fatalf("second upgrade: %d %v", status, body)
		}
		f.replay(t, first)
		if inst, _ := f.store.Get(context.Background(), "5604018"); inst.BillableItems["Count"] != "8" {
			t.Fatalf("a replayed upgrade undid the later one: Count %q", inst.BillableItems["Count"])
		}
	})
}

// TestCreateOfAnotherProduct: one ISV key signs every product of the
// ISV; a createInstance of a product this stack does not sell is refused
// (and, like every refused createInstance, answers "0").
func TestCreateOfAnotherProduct(t *testing.T) {
	f := newFixture(t)
	f.handler.Applier.(*activation.Service).Products = []string{"cmgj00053362"}
	status, body := f.call(t, with(createParams(), "productCode", "cmgj00099999"), key)
	if status != http.StatusBadRequest || body["instanceId"] != "0" || body["code"] != "UnknownProduct" {
		t.Fatalf("%d %v", status, body)
	}
	if _, err := f.store.Get(context.Background(), "5604018"); !errors.Is(err, activation.ErrInstanceNotFound) {
		t.Fatalf("recorded: %v", err)
	}
	if status, body := f.call(t, createParams(), key); status != http.StatusOK || body["instanceId"] != "5604018" {
		t.Fatalf("our product: %d %v", status, body)
	}
}

// TestISVKeyRotation: while a rotation lasts, a call signed with the
// previous key is taken (the marketplace may still sign with it) and
// counted; once the previous key is dropped it is refused; a key that is
// neither is refused throughout.
func TestISVKeyRotation(t *testing.T) {
	f := newFixture(t)
	var metricsOut bytes.Buffer
	f.handler.Key, f.handler.PreviousKey = "new-key", key
	f.handler.Metrics = metrics.NewRecorder(&metricsOut, "test")
	if status, body := f.call(t, createParams(), key); status != http.StatusOK || body["instanceId"] != "5604018" {
		t.Fatalf("signed with the previous key: %d %v", status, body)
	}
	if !strings.Contains(metricsOut.String(), `"IsvPreviousKeyUsed":1`) {
		t.Fatalf("not counted: %s", metricsOut.String())
	}
	renew := marketplace.Params{"action": "renewInstance", "instanceId": "5604018", "orderId": "205060317920891"}
	if status, _ := f.call(t, renew, "new-key"); status != http.StatusOK {
		t.Fatalf("signed with the new key: %d", status)
	}
	if status, body := f.call(t, with(renew, "orderId", "205060317920892"), "a-third-key"); status != http.StatusForbidden {
		t.Fatalf("a third key: %d %v", status, body)
	}
	f.handler.PreviousKey = ""
	if status, body := f.call(t, with(renew, "orderId", "205060317920893"), key); status != http.StatusForbidden || body["code"] != "InvalidToken" {
		t.Fatalf("the previous key after the rotation: %d %v", status, body)
	}
}
