package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
)

// helperModeVar makes the test binary itself a Lambda runtime (see
// TestMain), so the real aws-lambda-go client is run against the fake API
// without building anything.
const helperModeVar = "COLDSTART_TEST_RUNTIME"

func TestMain(m *testing.M) {
	if mode := os.Getenv(helperModeVar); mode != "" {
		helperRuntime(mode)
		return
	}
	os.Exit(m.Run())
}

// helperRuntime is a tiny function in each of the ways a runtime can end.
func helperRuntime(mode string) {
	switch mode {
	case "ok":
		lambda.Start(func(ctx context.Context, ev map[string]any) (string, error) {
			lc, _ := lambdacontext.FromContext(ctx)
			deadline, _ := ctx.Deadline()
			return fmt.Sprintf("pong %v %s %t", ev["ping"], lc.InvokedFunctionArn, time.Until(deadline) > 20*time.Second), nil
		})
	case "fail":
		lambda.Start(func() (string, error) { return "", errors.New("boom") })
	case "env":
		// Reports whether the measured process can see the CA bundle.
		lambda.Start(func() (string, error) {
			_, ok := os.LookupEnv(caBundleVar)
			return "bundle " + strconv.FormatBool(ok), nil
		})
	case "initfail":
		fmt.Fprintln(os.Stderr, "cannot start: no table")
		os.Exit(1)
	}
	os.Exit(3)
}

func helperTarget(t *testing.T, mode string, env ...string) Target {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return Target{Name: "helper-" + mode, Bootstrap: exe, Env: append([]string{helperModeVar + "=" + mode}, env...), Event: []byte(`{"ping":1}`)}
}

func startAPI(t *testing.T) *RuntimeAPI {
	t.Helper()
	api, err := StartRuntimeAPI()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { api.Close() })
	return api
}

func TestRunOnceWithTheRealRuntimeClient(t *testing.T) {
	api := startAPI(t)
	r := &Runner{API: api, Timeout: 10 * time.Second}
	ctx := context.Background()

	run, err := r.RunOnce(ctx, helperTarget(t, "ok"))
	if err != nil {
		t.Fatal(err)
	}
	if run.Outcome.Kind != OutcomeResponse {
		t.Fatalf("outcome %v %s", run.Outcome.Kind, run.Outcome.Body)
	}
	want := `"pong 1 arn:aws:lambda:us-east-1:000000000000:function:helper-ok true"`
	if string(run.Outcome.Body) != want {
		t.Errorf("answer %s, want %s", run.Outcome.Body, want)
	}
	if run.Init <= 0 || run.FirstResponse < run.Init || run.FirstResponse > 10*time.Second {
		t.Errorf("init %s, first response %s", run.Init, run.FirstResponse)
	}

	// A handler error ends the invocation too, and is timed.
	run, err = r.RunOnce(ctx, helperTarget(t, "fail"))
	if err != nil {
		t.Fatal(err)
	}
	if run.Outcome.Kind != OutcomeError || run.FirstResponse < run.Init {
		t.Fatalf("outcome %v after %s", run.Outcome.Kind, run.FirstResponse)
	}
	if got := run.Outcome.ErrorSummary(); got != "errorString: boom" {
		t.Errorf("error summary %q", got)
	}

	// A runtime that dies at init is a failed run, with its output.
	_, err = r.RunOnce(ctx, helperTarget(t, "initfail"))
	if err == nil || !strings.Contains(err.Error(), "exited before answering") || !strings.Contains(err.Error(), "no table") {
		t.Errorf("init failure: %v", err)
	}
}

func TestMeasuredProcessesNeverSeeTheCABundle(t *testing.T) {
	t.Setenv(caBundleVar, "/etc/ssl/certs/ca-certificates.crt")
	r := &Runner{API: startAPI(t), Timeout: 10 * time.Second}
	// Even when the target's own environment carries it.
	run, err := r.RunOnce(context.Background(), helperTarget(t, "env", caBundleVar+"=/somewhere"))
	if err != nil {
		t.Fatal(err)
	}
	if got := string(run.Outcome.Body); got != `"bundle false"` {
		t.Errorf("the process saw the CA bundle: %s", got)
	}
}

func TestMeasureSummarizesFreshProcesses(t *testing.T) {
	r := &Runner{API: startAPI(t), Timeout: 10 * time.Second}
	m, err := r.Measure(context.Background(), helperTarget(t, "fail"), 3)
	if err != nil {
		t.Fatal(err)
	}
	if m.Errors != 3 || m.Last.Kind != OutcomeError {
		t.Errorf("errors %d, last %v", m.Errors, m.Last.Kind)
	}
	if m.Init.Min <= 0 || m.Init.Min > m.Init.Median || m.Init.Median > m.Init.Max || m.FirstResponse.Median < m.Init.Median {
		t.Errorf("init %+v, first response %+v", m.Init, m.FirstResponse)
	}
}

// The server on its own, driven over HTTP as the runtime client would.
func TestRuntimeAPIProtocol(t *testing.T) {
	api := startAPI(t)
	base := "http://" + api.Addr + "/2018-06-01/runtime/"
	post := func(path, body string) (int, string) {
		t.Helper()
		resp, err := http.Post(base+path, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}

	inv := api.Arm("MyFunction", []byte(`{"hello":"world"}`))
	before := time.Now()
	resp, err := http.Get(base + "invocation/next")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || string(body) != `{"hello":"world"}` {
		t.Fatalf("next: %d %s", resp.StatusCode, body)
	}
	select {
	case <-inv.Next():
	default:
		t.Fatal("Next not closed after the event was handed out")
	}
	if inv.NextAt().Before(before) {
		t.Errorf("next at %s, before the request", inv.NextAt())
	}
	if got := resp.Header.Get("Lambda-Runtime-Aws-Request-Id"); got != inv.ID {
		t.Errorf("request id %q, want %q", got, inv.ID)
	}
	deadline, err := strconv.ParseInt(resp.Header.Get("Lambda-Runtime-Deadline-Ms"), 10, 64)
	if left := time.Until(time.UnixMilli(deadline)); err != nil || left < 25*time.Second || left > 31*time.Second {
		t.Errorf("deadline %q: %s left", resp.Header.Get("Lambda-Runtime-Deadline-Ms"), left)
	}
	if got := resp.Header.Get("Lambda-Runtime-Invoked-Function-Arn"); !strings.HasSuffix(got, ":function:MyFunction") {
		t.Errorf("function arn %q", got)
	}
	if !strings.HasPrefix(resp.Header.Get("Lambda-Runtime-Trace-Id"), "Root=1-") {
		t.Errorf("trace id %q", resp.Header.Get("Lambda-Runtime-Trace-Id"))
	}

	// A later next waits, as in a frozen environment, until the invocation
	// is retired.
	parked := make(chan int, 1)
	go func() {
		resp, err := http.Get(base + "invocation/next")
		if err != nil {
			parked <- -1
			return
		}
		resp.Body.Close()
		parked <- resp.StatusCode
	}()

	if code, _ := post("invocation/not-"+inv.ID+"/response", `"x"`); code != http.StatusBadRequest {
		t.Errorf("response for an unknown id: %d", code)
	}
	if code, _ := post("invocation/"+inv.ID+"/response", `"done"`); code != http.StatusAccepted {
		t.Fatalf("response: %d", code)
	}
	<-inv.Done()
	if out := inv.Outcome(); out.Kind != OutcomeResponse || string(out.Body) != `"done"` || out.At.Before(inv.NextAt()) {
		t.Errorf("outcome %v %s at %s", out.Kind, out.Body, out.At)
	}
	if code, _ := post("invocation/"+inv.ID+"/error", `{}`); code != http.StatusForbidden {
		t.Errorf("a second answer: %d", code)
	}

	select {
	case code := <-parked:
		t.Fatalf("the second next returned %d at once", code)
	case <-time.After(100 * time.Millisecond):
	}
	inv2 := api.Arm("MyFunction", []byte(`{}`))
	select {
	case code := <-parked:
		if code != http.StatusServiceUnavailable {
			t.Errorf("retired next: %d", code)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the parked next was not released when its invocation was retired")
	}

	// An invocation error.
	resp, err = http.Get(base + "invocation/next")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if code, _ := post("invocation/"+inv2.ID+"/error", `{"errorMessage":"boom","errorType":"errorString"}`); code != http.StatusAccepted {
		t.Fatalf("error: %d", code)
	}
	if out := inv2.Outcome(); out.Kind != OutcomeError || out.ErrorSummary() != "errorString: boom" {
		t.Errorf("error outcome %v %q", out.Kind, out.ErrorSummary())
	}

	// An init error, before any next.
	inv3 := api.Arm("MyFunction", []byte(`{}`))
	if code, _ := post("invocation/"+inv3.ID+"/response", `"early"`); code != http.StatusBadRequest {
		t.Errorf("response before next: %d", code)
	}
	code, answer := post("init/error", `{"errorMessage":"no config","errorType":"Runtime.InitError"}`)
	if code != http.StatusAccepted {
		t.Fatalf("init error: %d %s", code, answer)
	}
	var status struct{ Status string }
	if err := json.Unmarshal([]byte(answer), &status); err != nil || status.Status != "OK" {
		t.Errorf("init error answer %q", answer)
	}
	if out := inv3.Outcome(); out.Kind != OutcomeInitError || out.ErrorSummary() != "Runtime.InitError: no config" {
		t.Errorf("init error outcome %v %q", out.Kind, out.ErrorSummary())
	}
}

func TestProcessEnv(t *testing.T) {
	got := processEnv([]string{"A=1", caBundleVar + "=/x", "B=2"}, "A=3", "C=4")
	want := []string{"A=3", "B=2", "C=4"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("env %v, want %v", got, want)
	}
}

func TestSummarize(t *testing.T) {
	ms := func(v ...int) []time.Duration {
		out := make([]time.Duration, len(v))
		for i, x := range v {
			out[i] = time.Duration(x) * time.Millisecond
		}
		return out
	}
	for _, c := range []struct {
		in   []time.Duration
		want Summary
	}{
		{ms(5, 1, 3), Summary{3 * time.Millisecond, time.Millisecond, 5 * time.Millisecond}},
		{ms(4, 1, 2, 8), Summary{3 * time.Millisecond, time.Millisecond, 8 * time.Millisecond}},
		{ms(7), Summary{7 * time.Millisecond, 7 * time.Millisecond, 7 * time.Millisecond}},
		{nil, Summary{}},
	} {
		if got := Summarize(c.in); got != c.want {
			t.Errorf("Summarize(%v) = %+v, want %+v", c.in, got, c.want)
		}
	}
}
