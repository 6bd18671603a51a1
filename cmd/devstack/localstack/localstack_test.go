package localstack_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/guance/aliyun-marketplace/cmd/devstack/emulator"
	"github.com/guance/aliyun-marketplace/cmd/devstack/gateway"
	"github.com/guance/aliyun-marketplace/cmd/devstack/localstack"
	"github.com/guance/aliyun-marketplace/cmd/devstack/samtemplate"
	"github.com/guance/aliyun-marketplace/cmd/devstack/simulator"
	"github.com/guance/aliyun-marketplace/shared/platform/logging/logtest"
)

const fnID = "MarketplaceCallbackFunction"

// stack is the real bootstrap of every function, built once with its SAM
// Makefile target, and the emulator binary.
var stack struct {
	once       sync.Once
	err        error
	root       string
	tmpl       *samtemplate.Template
	fn         samtemplate.Function // the SPI callback
	bootstrap  string               // the SPI callback's
	bootstraps map[string]string
	rie        string
}

func setup(t testing.TB) {
	t.Helper()
	stack.once.Do(func() {
		if stack.root, stack.err = localstack.Root(); stack.err != nil {
			return
		}
		if stack.tmpl, stack.err = samtemplate.Load(filepath.Join(stack.root, "template.yaml"), nil); stack.err != nil {
			return
		}
		stack.fn, _ = stack.tmpl.Function(fnID)
		if stack.rie, stack.err = emulator.FindRIE(); stack.err != nil {
			return
		}
		dir, err := os.MkdirTemp("", "bootstrap")
		if err != nil {
			stack.err = err
			return
		}
		stack.bootstraps = map[string]string{}
		for _, fn := range stack.tmpl.Functions {
			if stack.bootstraps[fn.LogicalID], stack.err = localstack.BuildFunction(context.Background(), stack.root, dir, fn, io.Discard); stack.err != nil {
				return
			}
		}
		stack.bootstrap = stack.bootstraps[fnID]
	})
	if stack.err != nil {
		t.Fatalf("set up the emulator run: %v", stack.err)
	}
}

func startDynamoDB(t *testing.T) string { return startDynamoDBB(t) }

func startDynamoDBB(t testing.TB) string {
	url, srv, err := localstack.StartDynamoDB(context.Background(), "127.0.0.1:0", stack.tmpl.Tables)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return url
}

func newPool(t *testing.T, dynamoURL string, max int) *emulator.Pool {
	return newPoolB(t, dynamoURL, max)
}

func newPoolB(t testing.TB, dynamoURL string, max int) *emulator.Pool {
	return poolOf(t, fnID, localstack.Endpoints{DynamoDB: dynamoURL, SES: "http://127.0.0.1:1", MarketAPI: "http://127.0.0.1:1"}, max)
}

// poolOf runs the function id's real bootstrap against the endpoints.
func poolOf(t testing.TB, id string, ep localstack.Endpoints, max int) *emulator.Pool {
	fn, ok := stack.tmpl.Function(id)
	if !ok {
		t.Fatalf("no function %s", id)
	}
	pool := localstack.NewPool(fn, stack.bootstraps[id], stack.rie, localstack.FunctionEnv(fn, ep), max, io.Discard)
	t.Cleanup(pool.Close)
	return pool
}

func answerOf(t *testing.T, res emulator.Result) events.APIGatewayV2HTTPResponse {
	t.Helper()
	if res.FunctionError {
		t.Fatalf("function error: %s", res.Payload)
	}
	var resp events.APIGatewayV2HTTPResponse
	if err := json.Unmarshal(res.Payload, &resp); err != nil {
		t.Fatalf("answer %s: %v", res.Payload, err)
	}
	return resp
}

// TestEventsUnderEmulator replays events/*.json, in lifecycle order, through
// the real bootstrap under the Runtime Interface Emulator.
func TestEventsUnderEmulator(t *testing.T) {
	setup(t)
	pool := newPool(t, startDynamoDB(t), 1)
	var samples []simulator.SampleEvent
	for _, s := range simulator.SampleEvents() {
		if s.FunctionID() == fnID {
			samples = append(samples, s)
		}
	}
	for i, sample := range samples {
		event, err := os.ReadFile(filepath.Join(stack.root, "events", sample.File))
		if err != nil {
			t.Fatal(err)
		}
		res, err := pool.Invoke(context.Background(), event)
		if err != nil {
			t.Fatalf("%s: %v", sample.File, err)
		}
		resp := answerOf(t, res)
		if resp.StatusCode != sample.Status {
			t.Errorf("%s: status %d (%s), want %d", sample.File, resp.StatusCode, resp.Body, sample.Status)
		}
		if !strings.HasPrefix(resp.Headers["Content-Type"], "application/json") || !json.Valid([]byte(resp.Body)) {
			t.Errorf("%s: answer is not JSON: %v %s", sample.File, resp.Headers, resp.Body)
		}
		if i == 0 {
			if !strings.Contains(res.Report, "Init Duration") {
				t.Errorf("first invocation's REPORT has no init duration: %q", res.Report)
			}
			want := `"authUrl":"https://abcdef1234.execute-api.us-east-1.amazonaws.com/aliyun/sso"`
			if !strings.Contains(resp.Body, want) || !strings.Contains(resp.Body, `"instanceId":"5604018"`) {
				t.Errorf("createInstance answer %s", resp.Body)
			}
		}
	}
	if pool.Size() != 1 {
		t.Errorf("one invocation at a time needs one process; pool has %d", pool.Size())
	}
}

// TestGatewayConcurrency sends simultaneous requests through the gateway:
// the pool starts more emulator processes (never two invocations on one),
// and 24 identical createInstance calls make one instance.
func TestGatewayConcurrency(t *testing.T) {
	setup(t)
	dynamoURL := startDynamoDB(t)
	pool := newPool(t, dynamoURL, 4)
	var routes []gateway.Route
	for _, rt := range stack.fn.Routes {
		routes = append(routes, gateway.Route{Method: rt.Method, Path: rt.Path, Function: fnID, Invoker: localstack.PoolInvoker{Pool: pool}})
	}
	api := httptest.NewServer(gateway.New(routes, slog.New(slog.NewTextHandler(io.Discard, nil))))
	defer api.Close()

	client := &simulator.Client{SPIURL: api.URL + "/aliyun/spi", Key: localstack.ISVKey(), HTTP: &http.Client{Timeout: 60 * time.Second}}
	params := simulator.SampleParams("createInstance", "7700001", time.Now())
	const n = 24
	answers := make([]simulator.Exchange, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { answers[i], errs[i] = client.Call(context.Background(), params, i%2 == 0) })
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil || answers[i].Status != 200 || answers[i].Answer != answers[0].Answer {
			t.Fatalf("call %d: %v %d %s (first: %s)", i, errs[i], answers[i].Status, answers[i].Answer, answers[0].Answer)
		}
	}
	if size := pool.Size(); size < 2 || size > 4 {
		t.Errorf("pool has %d processes, want 2..4 under concurrent load", size)
	}
	out, err := localstack.DynamoDBClient(dynamoURL).GetItem(context.Background(), &dynamodb.GetItemInput{
		TableName: aws.String("InstancesTable"),
		Key:       map[string]types.AttributeValue{"instanceId": &types.AttributeValueMemberS{Value: "7700001"}},
	})
	if err != nil || len(out.Item) == 0 {
		t.Fatalf("instance not stored: %v", err)
	}
	if orders, ok := out.Item["orders"].(*types.AttributeValueMemberM); !ok || len(orders.Value) != 1 {
		t.Fatalf("orders %v, want the one create", out.Item["orders"])
	}
}

// TestDynamoDBDown runs the real binary with nothing at its DynamoDB
// endpoint: createInstance answers, as the docs ask of a failure, instance
// id "0", so that the marketplace calls again; any other action a 5xx.
func TestDynamoDBDown(t *testing.T) {
	setup(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + l.Addr().String()
	l.Close() // nobody listens there now
	pool := newPool(t, closed, 1)
	event, err := os.ReadFile(filepath.Join(stack.root, "events", "create-instance.json"))
	if err != nil {
		t.Fatal(err)
	}
	res, err := pool.Invoke(context.Background(), event)
	if err != nil {
		t.Fatal(err)
	}
	resp := answerOf(t, res)
	if resp.StatusCode != 200 || !strings.Contains(resp.Body, `"instanceId":"0"`) || !strings.Contains(resp.Body, "InternalError") {
		t.Fatalf("got %d %s, want 200 with instanceId 0", resp.StatusCode, resp.Body)
	}
	event, err = os.ReadFile(filepath.Join(stack.root, "events", "renew-instance.json"))
	if err != nil {
		t.Fatal(err)
	}
	if res, err = pool.Invoke(context.Background(), event); err != nil {
		t.Fatal(err)
	}
	if resp := answerOf(t, res); resp.StatusCode != 500 || !strings.Contains(resp.Body, "InternalError") {
		t.Fatalf("renewInstance: got %d %s, want 500 InternalError", resp.StatusCode, resp.Body)
	}
}

// TestMissingKeyFailsInit: without an ISV key the function refuses to start
// instead of accepting tokens signed with an empty key.
func TestMissingKeyFailsInit(t *testing.T) {
	setup(t)
	var env []string
	for _, kv := range localstack.FunctionEnv(stack.fn, localstack.Endpoints{DynamoDB: startDynamoDB(t)}) {
		if !strings.HasPrefix(kv, "MARKET_ISV_KEY=") && !strings.HasPrefix(kv, "MARKET_ISV_KEY_PARAMETER=") {
			env = append(env, kv)
		}
	}
	logs := &logtest.Buffer{}
	pool := emulator.NewPool(emulator.Function{Name: fnID, Bootstrap: stack.bootstrap, Env: env, Timeout: 10 * time.Second}, stack.rie, 1, logs)
	defer pool.Close()
	event, _ := os.ReadFile(filepath.Join(stack.root, "events", "create-instance.json"))
	res, err := pool.Invoke(context.Background(), event)
	if err == nil && !res.FunctionError {
		t.Fatalf("the function started without a key: %s", res.Payload)
	}
	// The process's output is copied as it comes: the failed start's
	// line may arrive just after the invocation's answer.
	const why = "secret MARKET_ISV_KEY: set MARKET_ISV_KEY or MARKET_ISV_KEY_PARAMETER"
	for wait := time.Now().Add(5 * time.Second); !strings.Contains(logs.String(), why) && time.Now().Before(wait); {
		time.Sleep(20 * time.Millisecond)
	}
	if !strings.Contains(logs.String(), why) {
		t.Fatalf("init failure not explained in the log:\n%s", logs.String())
	}
}
