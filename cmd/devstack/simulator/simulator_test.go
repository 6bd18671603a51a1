package simulator

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/guance/aliyun-marketplace/cmd/devstack/dynamotest"
	"github.com/guance/aliyun-marketplace/shared/domain/activation"
	"github.com/guance/aliyun-marketplace/shared/domain/marketplace"
	"github.com/guance/aliyun-marketplace/shared/endpoints/callback"
	"github.com/guance/aliyun-marketplace/shared/platform/logging"
)

// TestEventsAreCurrent fails when events/ no longer matches the samples, so
// the files the emulator tests replay cannot drift from the code.
func TestEventsAreCurrent(t *testing.T) {
	for _, s := range SampleEvents() {
		want, err := s.Event("local-isv-key")
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(filepath.Join("..", "..", "..", "events", s.File))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("events/%s is stale: run `go run ./cmd/marketsim events`", s.File)
		}
	}
}

func TestSampleParamsDecode(t *testing.T) {
	for _, action := range marketplace.LifecycleActions {
		if _, err := marketplace.Decode(SampleParams(action, SampleInstanceID, time.Now())); err != nil {
			t.Errorf("%s: %v", action, err)
		}
	}
}

func TestParseAssignments(t *testing.T) {
	p := marketplace.Params{"a": "1", "b": "2"}
	if err := ParseAssignments(p, []string{"a=3", "b=", "c=x=y"}); err != nil {
		t.Fatal(err)
	}
	if len(p) != 2 || p["a"] != "3" || p["c"] != "x=y" {
		t.Fatalf("got %v", p)
	}
	if err := ParseAssignments(p, []string{"novalue"}); err == nil {
		t.Fatal("want an error for an argument without =")
	}
}

// TestClientAndPageAgainstTheEndpoint drives the real SPI handler with the
// simulator: signed GET and POST calls are accepted, and the page shows them.
func TestClientAndPageAgainstTheEndpoint(t *testing.T) {
	db := dynamotest.Start(t)
	spi := httptest.NewServer(&callback.Handler{
		Key:     "sim-key",
		Applier: activation.NewService(db.Store().Instances(), nil, logging.New(io.Discard, slog.LevelInfo)),
		Log:     logging.New(io.Discard, slog.LevelInfo),
	})
	defer spi.Close()
	client := &Client{SPIURL: spi.URL + "/aliyun/spi", Key: "sim-key"}

	now := time.Now()
	for _, post := range []bool{false, true} {
		ex, err := client.Call(context.Background(), SampleParams(marketplace.ActionCreateInstance, "42", now), post)
		if err != nil || ex.Status != 200 || !strings.Contains(ex.Answer, `"instanceId":"42"`) {
			t.Fatalf("post=%v: %v %d %s", post, err, ex.Status, ex.Answer)
		}
	}
	wrongKey := &Client{SPIURL: client.SPIURL, Key: "other"}
	if ex, _ := wrongKey.Call(context.Background(), SampleParams(marketplace.ActionExpiredInstance, "42", now), false); ex.Status != 403 {
		t.Fatalf("wrong key: %d", ex.Status)
	}
	badToken := SampleParams(marketplace.ActionExpiredInstance, "42", now)
	badToken["token"] = "bad"
	if ex, _ := client.Call(context.Background(), badToken, true); ex.Status != 403 || !strings.Contains(ex.Body, "token=bad") {
		t.Fatalf("a given token must be sent as it is: %d %s", ex.Status, ex.Body)
	}

	page := httptest.NewServer(&Page{Client: client, Market: NewMarket(), Now: time.Now})
	defer page.Close()
	resp, err := http.Get(page.URL + "/console?action=renewInstance&instance=42")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), "instanceId=42") || !strings.Contains(string(body), "expiredOn=2100-01-01 00:00:00") {
		t.Fatalf("page does not prefill renewInstance:\n%s", body)
	}
	form := url.Values{"action": {"renewInstance"}, "instance": {"42"}, "params": {"instanceId=42\norderId=299999999999999\nexpiredOn=2100-01-01 00:00:00"}}
	resp, err = http.PostForm(page.URL+"/console/send", form)
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), "<h3>200 GET</h3>") || !strings.Contains(string(body), "{&#34;success&#34;:true}") {
		t.Fatalf("page after send:\n%s", body)
	}

	// What cmd/marketsim sends through the simulator shows in Purchased
	// Services like the page's own calls.
	market := NewMarket()
	api := httptest.NewServer(&Page{Client: client, Market: market, Now: time.Now})
	defer api.Close()
	for _, p := range []marketplace.Params{SampleParams(marketplace.ActionCreateInstance, "77", now), SampleParams(marketplace.ActionExpiredInstance, "77", now)} {
		raw, _ := json.Marshal(APICall{Params: p})
		resp, err := http.Post(api.URL+APICallPath, "application/json", bytes.NewReader(raw))
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("api call: %v %v", resp, err)
		}
		resp.Body.Close()
	}
	if bought, ok := market.Instance("77"); !ok || bought.Status != "EXPIRED" {
		t.Fatalf("the market did not follow the calls: %+v %v", bought, ok)
	}
}

// TestRunSummaryOnThePage: a run asked for by cmd/marketsim shows on the
// page as the last run, like one asked for by the page; a failed run says
// so.
func TestRunSummaryOnThePage(t *testing.T) {
	runs := 0
	page := httptest.NewServer(&Page{Market: NewMarket(), Now: time.Now, Meter: func(context.Context) ([]byte, error) {
		runs++
		if runs == 2 {
			return nil, io.ErrUnexpectedEOF
		}
		return []byte(`{"windowsPushed":3}`), nil
	}})
	defer page.Close()
	get := func() string {
		resp, err := http.Get(page.URL + "/")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return string(body)
	}
	for i, want := range []string{`&#34;windowsPushed&#34;: 3`, "The metering, run at"} {
		resp, err := http.Post(page.URL+APIMeterPath, "application/json", nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if wantStatus := []int{200, 502}[i]; resp.StatusCode != wantStatus {
			t.Fatalf("run %d: %d, want %d", i, resp.StatusCode, wantStatus)
		}
		if body := get(); !strings.Contains(body, want) {
			t.Fatalf("run %d: the page lacks %q:\n%s", i, want, body)
		}
	}
	if body := get(); !strings.Contains(body, "failed: unexpected EOF") || strings.Contains(body, "windowsPushed") {
		t.Fatalf("the failed run is not the one shown:\n%s", body)
	}
}

// TestBilledWindowsOnThePage: each purchase shows its billed total and
// each record as pushed, so a window billed twice would show twice.
func TestBilledWindowsOnThePage(t *testing.T) {
	market := NewMarket()
	at := time.Date(2026, 11, 26, 21, 40, 0, 0, time.UTC)
	bought := market.Buy(SampleUID, at)
	window := time.Date(2026, 11, 26, 20, 0, 0, 0, time.UTC).Unix()
	raw := `[{"InstanceId":"` + bought.InstanceID + `","StartTime":"` + strconv.FormatInt(window, 10) + `","EndTime":"` + strconv.FormatInt(window+3600, 10) +
		`","Entities":[{"Key":"Unit","Value":"5","meteringAssit":"c-Unit-1"},{"Key":"StorageGigaByte","Value":"3","meteringAssit":"c-StorageGigaByte-2"}]}]`
	if code, _ := market.pushMetering(raw, at); code != "" {
		t.Fatalf("push refused: %s", code)
	}
	page := httptest.NewServer(&Page{Market: market, Now: func() time.Time { return at }})
	defer page.Close()
	resp, err := http.Get(page.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{"StorageGigaByte 3 · Unit 5</dd>", "1 record(s) pushed", "<li>11-26 20:00-21:00 UTC: StorageGigaByte 3 · Unit 5 (pushed at 21:40:00)</li>"} {
		if !strings.Contains(string(body), want) {
			t.Fatalf("the page lacks %q:\n%s", want, body)
		}
	}
}

// TestConsoleSendsTheChosenAction: the SPI console sends the action chosen
// in its list, whatever the parameters say; a call given a token of the
// user's own (a refusal to see) moves nothing on the marketplace's side.
func TestConsoleSendsTheChosenAction(t *testing.T) {
	var got []marketplace.Params
	spi := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		params, _ := marketplace.ReadParams(r)
		got = append(got, params)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"success":true}`))
	}))
	defer spi.Close()
	market := NewMarket()
	bought := market.Buy(SampleUID, time.Now())
	market.SetStatus(bought.InstanceID, "OPENED")
	page := httptest.NewServer(&Page{Client: &Client{SPIURL: spi.URL, Key: "k"}, Market: market, Now: time.Now})
	defer page.Close()
	send := func(action, params string) {
		resp, err := http.PostForm(page.URL+"/console/send", url.Values{"action": {action}, "instance": {bought.InstanceID}, "params": {params}})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	// Filled in for renewInstance, then expiredInstance chosen.
	send("expiredInstance", "instanceId="+bought.InstanceID+"\naction=renewInstance\norderId=299999999999999")
	if len(got) != 1 || got[0]["action"] != "expiredInstance" {
		t.Fatalf("sent %v", got)
	}
	if p, _ := market.Instance(bought.InstanceID); p.Status != "EXPIRED" {
		t.Fatalf("the marketplace did not move with the call: %s", p.Status)
	}
	send("releaseInstance", "instanceId="+bought.InstanceID+"\ntoken=bad")
	if p, _ := market.Instance(bought.InstanceID); p.Status != "EXPIRED" {
		t.Fatalf("a call with the user's own token moved the marketplace: %s", p.Status)
	}
}

// TestLostCreateInstanceIsRetried: a createInstance the buyer asked to
// lose is not lost for good: the marketplace calls again later, and the
// purchase shows as opened once our side answers it (recovered by a Login
// Without Password meanwhile or not).
func TestLostCreateInstanceIsRetried(t *testing.T) {
	var calls atomic.Int32
	spi := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		params, _ := marketplace.ReadParams(r)
		calls.Add(1)
		w.Header().Set("Content-Type", "application/json")
		_, _ = fmt.Fprintf(w, `{"instanceId":%q,"appInfo":{"authUrl":"https://example.com/aliyun/sso"}}`, params["orderBizId"])
	}))
	defer spi.Close()
	market := NewMarket()
	page := httptest.NewServer(&Page{Client: &Client{SPIURL: spi.URL, Key: "k"}, Market: market, Now: time.Now, LostCreateRetry: 50 * time.Millisecond})
	defer page.Close()
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.PostForm(page.URL+"/buy", url.Values{"uid": {SampleUID}, "agree": {"1"}, "lose": {"1"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if calls.Load() != 0 {
		t.Fatal("the lost call reached our side at once")
	}
	id := market.Purchases()[0].InstanceID
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if p, _ := market.Instance(id); p.Status == "OPENED" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the lost createInstance was never called again (%d calls)", calls.Load())
		}
	}
}
