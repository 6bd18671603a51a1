// Package localstack starts the pieces of the local stand-in for AWS: the
// embedded DynamoDB-compatible server with the template's tables, the local
// SES, and the template's functions built and run under the emulator.
package localstack

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/guance/aliyun-marketplace/cmd/devstack/console"
	"github.com/guance/aliyun-marketplace/cmd/devstack/dynamolocal"
	"github.com/guance/aliyun-marketplace/cmd/devstack/emulator"
	"github.com/guance/aliyun-marketplace/cmd/devstack/samtemplate"
	"github.com/guance/aliyun-marketplace/cmd/devstack/simulator"
	"github.com/guance/aliyun-marketplace/shared/adapters/storage"
)

// Addresses of the local services (the README lists them).
const (
	DynamoDBAddr  = "127.0.0.1:8000"
	SESAddr       = "127.0.0.1:8005"
	APIAddr       = "127.0.0.1:3000"
	SimulatorAddr = "127.0.0.1:3001"
	MarketAPIAddr = "127.0.0.1:3002"
	ConsoleAddr   = "127.0.0.1:3003"
	// AWSAddr serves the AWS APIs besides DynamoDB and SES that the
	// stack stands in for: EventBridge (and a page of its events) and
	// Lambda Invoke (the operator's tool runs a job with it).
	AWSAddr = "127.0.0.1:3004"
	Region  = "us-east-1"
)

// DefaultISVKey signs SPI calls locally unless MARKET_ISV_KEY says otherwise.
const DefaultISVKey = "local-isv-key"

// LocalMeteringItems is METERING_ITEMS locally (the template has none:
// a deploy sets its product's): the documented example's shape, with the
// simulator's product code, which the simulator's listing knows.
const LocalMeteringItems = "host=Unit:cmgj00053362-Unit-1,log_gb=StorageGigaByte:cmgj00053362-StorageGigaByte-2,span_k=Frequency:cmgj00053362-Frequency-3"

// LocalCodeHashSecret keys verification-code hashes locally.
const LocalCodeHashSecret = "local-code-hash-secret-not-for-production"

// The simulator's Market OpenAPI accepts this access key locally.
const (
	LocalMarketAccessKeyID     = "local-market-ak"
	LocalMarketAccessKeySecret = "local-market-secret"
)

// ISVKey is the key the local stack and the simulator share.
func ISVKey() string {
	if k := os.Getenv("MARKET_ISV_KEY"); k != "" {
		return k
	}
	return DefaultISVKey
}

// Root finds the project root (the folder holding template.yaml) from the
// working directory up.
func Root() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "template.yaml")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("template.yaml not found in this folder or above")
		}
		dir = parent
	}
}

// Listening reports whether something accepts connections at addr.
func Listening(addr string) bool {
	conn, err := net.DialTimeout("tcp", addr, 300*time.Millisecond)
	if err != nil {
		return false
	}
	conn.Close()
	return true
}

// WaitListening waits until addr accepts connections.
func WaitListening(ctx context.Context, addr string, within time.Duration) error {
	deadline := time.Now().Add(within)
	for !Listening(addr) {
		if time.Now().After(deadline) {
			return fmt.Errorf("nothing listens on %s after %s", addr, within)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	return nil
}

// DynamoDBClient returns an SDK client for a local endpoint.
// LocalTables are the tables of the local DynamoDB, named by their
// logical ids (the template gives them no names).
var LocalTables = storage.Tables{
	Instances: "InstancesTable", Sessions: "SessionsTable", Verification: "VerificationTable", Accounts: "AccountsTable",
	Workspaces: "WorkspacesTable", Outbox: "OutboxTable", Usage: "UsageTable", Metering: "MeteringTable",
	Audit: "AuditTable",
}

// LocalStore is the product's store over the local DynamoDB.
func LocalStore(endpoint string) *storage.Store {
	return storage.New(DynamoDBClient(endpoint), LocalTables)
}

func DynamoDBClient(endpoint string) *dynamodb.Client {
	return dynamodb.New(dynamodb.Options{
		Region:                          Region,
		BaseEndpoint:                    aws.String(endpoint),
		Credentials:                     credentials.NewStaticCredentialsProvider("local", "local", ""),
		DisableValidateResponseChecksum: true,
	})
}

// StartDynamoDB serves the embedded DynamoDB-compatible server on addr
// ("127.0.0.1:0" picks a port) and creates the template's tables. It
// returns the endpoint URL and the server, to stop it.
func StartDynamoDB(ctx context.Context, addr string, tables []samtemplate.Table) (string, *http.Server, error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return "", nil, fmt.Errorf("DynamoDB on %s: %w", addr, err)
	}
	srv := &http.Server{Handler: dynamolocal.New(), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(l) }()
	endpoint := "http://" + l.Addr().String()
	client := DynamoDBClient(endpoint)
	for _, t := range tables {
		if _, err := client.CreateTable(ctx, t.Definition); err != nil {
			srv.Close()
			return "", nil, fmt.Errorf("create table %s: %w", t.LogicalID, err)
		}
	}
	return endpoint, srv, nil
}

// StartSES runs the local SES (aws-ses-v2-local from the project's npm
// packages) on addr until ctx ends.
func StartSES(ctx context.Context, root, addr string, log io.Writer) (*exec.Cmd, error) {
	cli := filepath.Join(root, "node_modules", "aws-ses-v2-local", "dist", "cli.js")
	if _, err := os.Stat(cli); err != nil {
		return nil, errors.New("local SES is not installed: run `npm ci` (make dev does)")
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, "node", cli, "--host", host, "--port", port)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start local SES: %w", err)
	}
	if err := WaitListening(ctx, addr, 20*time.Second); err != nil {
		_ = cmd.Process.Kill()
		return nil, fmt.Errorf("local SES: %w", err)
	}
	return cmd, nil
}

// BuildFunction builds fn's bootstrap for this machine with the same
// Makefile target SAM calls (build-<LogicalId>), into dir/<LogicalId>.
func BuildFunction(ctx context.Context, root, dir string, fn samtemplate.Function, log io.Writer) (string, error) {
	if fn.BuildMethod != "makefile" {
		return "", fmt.Errorf("function %s: only BuildMethod makefile is supported locally", fn.LogicalID)
	}
	out, err := filepath.Abs(filepath.Join(dir, fn.LogicalID))
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return "", err
	}
	cmd := exec.CommandContext(ctx, "make", "--no-print-directory", "-C", root, "build-"+fn.LogicalID,
		"ARTIFACTS_DIR="+out, "GOARCH="+runtime.GOARCH)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("build %s: %w", fn.LogicalID, err)
	}
	return filepath.Join(out, "bootstrap"), nil
}

// Endpoints are the local services a function talks to.
type Endpoints struct {
	DynamoDB  string
	SES       string
	MarketAPI string
	// Marketplace is the simulator's Purchased Services page.
	Marketplace string
	// Console is the console login stand-in: the sites' login URLs.
	Console string
	// AWS is the stand-in of EventBridge and Lambda Invoke.
	AWS string
}

// DevEndpoints are the services of make dev, on their fixed ports.
func DevEndpoints() Endpoints {
	return Endpoints{
		DynamoDB: "http://" + DynamoDBAddr, SES: "http://" + SESAddr, MarketAPI: "http://" + MarketAPIAddr,
		Marketplace: "http://" + SimulatorAddr, Console: "http://" + ConsoleAddr, AWS: "http://" + AWSAddr,
	}
}

// FunctionEnv is the environment of fn's emulator: the template's
// variables, then what differs locally (secrets given directly, the
// simulator's OpenAPI, cookies without Secure over plain http), then any
// of those variables set in this shell, and what Lambda itself sets, with
// static dummy credentials and the local service endpoints that the AWS SDK
// reads from standard variables.
func FunctionEnv(fn samtemplate.Function, ep Endpoints) []string {
	vars := functionVars(fn, ep, ISVKey())
	for name := range vars {
		if v, ok := os.LookupEnv(name); ok {
			vars[name] = v
		}
	}
	timeout := fn.Timeout
	if timeout == 0 {
		timeout = 3
	}
	for name, value := range map[string]string{
		"PATH":                         "/usr/local/bin:/usr/bin:/bin",
		"TZ":                           ":UTC",
		"AWS_REGION":                   Region,
		"AWS_DEFAULT_REGION":           Region,
		"AWS_ACCESS_KEY_ID":            "local",
		"AWS_SECRET_ACCESS_KEY":        "local",
		"AWS_ENDPOINT_URL_DYNAMODB":    ep.DynamoDB,
		"AWS_ENDPOINT_URL_SES":         ep.SES,
		"AWS_ENDPOINT_URL_EVENTBRIDGE": ep.AWS,
		// Secrets come from variables locally; a stray Parameter Store
		// call must fail here instead of leaving the machine.
		"AWS_ENDPOINT_URL_SSM":        "http://127.0.0.1:1",
		"AWS_LAMBDA_FUNCTION_NAME":    fn.LogicalID,
		"AWS_LAMBDA_FUNCTION_TIMEOUT": strconv.Itoa(timeout),
		"AWS_EC2_METADATA_DISABLED":   "true",
	} {
		vars[name] = value
	}
	env := make([]string, 0, len(vars))
	for name, value := range vars {
		env = append(env, name+"="+value)
	}
	return env
}

// functionVars are fn's template variables with what differs locally.
func functionVars(fn samtemplate.Function, ep Endpoints, isvKey string) map[string]string {
	vars := map[string]string{}
	for name, value := range fn.Environment {
		vars[name] = value
	}
	local := map[string]string{
		"MARKET_ISV_KEY":           isvKey,
		"MARKET_ACCESS_KEY_ID":     LocalMarketAccessKeyID,
		"MARKET_ACCESS_KEY_SECRET": LocalMarketAccessKeySecret,
		"MARKET_ENDPOINT":          ep.MarketAPI,
		"COOKIE_SECURE":            "false",
		"CODE_HASH_SECRET":         LocalCodeHashSecret,
		"METERING_ITEMS":           LocalMeteringItems,
		// Locally a purchase left pending is checked by the next
		// reconciliation, so that the simulator's moves show at once.
		"PENDING_FIRST_CHECK": "1s",
		// And a live instance is compared with the marketplace's record
		// at every run, so that a lost lifecycle call shows at once.
		"AUDIT_FIRST": "1s",
		// The simulator sells one product.
		"PRODUCT_CODES": simulator.SampleProductCode,
		"AUDIT_EVERY":   "1s",
		"AUDIT_GRACE":   "1s",
		// A move's effects left unfinished (its call failed half way) are
		// finished by the next reconciliation, not a minute later.
		"EFFECTS_GRACE": "1s",
	}
	if ep.Marketplace != "" {
		local["MARKETPLACE_URL"] = ep.Marketplace + "/"
	}
	if ep.Console != "" {
		local["SITE_LOGIN_URLS"] = console.LoginURLs(ep.Console)
	}
	for name, value := range local {
		if _, used := vars[name]; used || name == "MARKET_ISV_KEY" || name == "CODE_HASH_SECRET" || name == "PENDING_FIRST_CHECK" || name == "AUDIT_FIRST" || name == "EFFECTS_GRACE" || strings.HasPrefix(name, "MARKET_ACCESS_KEY") {
			vars[name] = value
		}
	}
	return vars
}

// WriteSAMEnv writes SAMEnv as the JSON file sam local reads (sorted,
// indented: the committed file's form).
func WriteSAMEnv(w io.Writer, tmpl *samtemplate.Template, host string) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(SAMEnv(tmpl, host))
}

// DockerHost is how a container of sam local reaches this machine.
const DockerHost = "host.docker.internal"

// SAMEnv is the env-vars file of sam local invoke and sam local start-api
// (samconfig's env_vars; sam-local-env.json): for each function, the
// variables its template declares with the values make dev gives them,
// its services reached from a container (DockerHost). SAM overrides only
// the variables a template declares, which is why the template declares
// the endpoint and secret variables empty (empty, they change nothing in
// AWS).
//
// host is how the containers reach this machine: DockerHost with Docker
// Desktop; 127.0.0.1 with sam local's --docker-network host on Linux,
// where make dev's services listen on the loopback only.
func SAMEnv(tmpl *samtemplate.Template, host string) map[string]map[string]string {
	at := func(addr string) string {
		_, port, _ := net.SplitHostPort(addr)
		return "http://" + host + ":" + port
	}
	ep := Endpoints{
		DynamoDB: at(DynamoDBAddr), SES: at(SESAddr), MarketAPI: at(MarketAPIAddr), AWS: at(AWSAddr),
		// The buyer's browser, not the container, follows these.
		Marketplace: "http://" + SimulatorAddr, Console: "http://" + ConsoleAddr,
	}
	out := map[string]map[string]string{}
	for _, fn := range tmpl.Functions {
		vars := functionVars(fn, ep, DefaultISVKey)
		for name, value := range map[string]string{
			"AWS_ENDPOINT_URL_DYNAMODB": ep.DynamoDB, "AWS_ENDPOINT_URL_SES": ep.SES, "AWS_ENDPOINT_URL_EVENTBRIDGE": ep.AWS,
		} {
			vars[name] = value
		}
		declared := map[string]string{}
		for name := range fn.Environment {
			declared[name] = vars[name]
		}
		out[fn.LogicalID] = declared
	}
	return out
}

// NewPool returns an emulator pool for a built function.
func NewPool(fn samtemplate.Function, bootstrap, rie string, env []string, max int, log io.Writer) *emulator.Pool {
	timeout := time.Duration(fn.Timeout) * time.Second
	return emulator.NewPool(emulator.Function{Name: fn.LogicalID, Bootstrap: bootstrap, Env: env, Timeout: timeout}, rie, max, log)
}

// PoolInvoker adapts an emulator pool to the gateway.
type PoolInvoker struct{ Pool *emulator.Pool }

// Invoke runs one invocation.
func (p PoolInvoker) Invoke(ctx context.Context, payload []byte) ([]byte, bool, error) {
	res, err := p.Pool.Invoke(ctx, payload)
	return res.Payload, res.FunctionError, err
}
