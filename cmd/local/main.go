// Command local runs the project without Docker or an AWS account, driven by
// template.yaml (the stand-in for `sam local`):
//
//	local dev                                  the whole stack, until Ctrl-C
//	local invoke <LogicalId> -e events/x.json  one invocation of one function
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"

	"github.com/guance/aliyun-marketplace/cmd/devstack/emulator"
	"github.com/guance/aliyun-marketplace/cmd/devstack/faults"
	"github.com/guance/aliyun-marketplace/cmd/devstack/localstack"
	"github.com/guance/aliyun-marketplace/cmd/devstack/samtemplate"
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	switch os.Args[1] {
	case "dev":
		err = dev(ctx, os.Args[2:])
	case "invoke":
		err = invoke(ctx, os.Args[2:])
	case "sam-env":
		err = samEnv(os.Stdout, os.Args[2:])
	default:
		usage()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "local:", err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: local dev | local invoke <LogicalId> -e <event.json> | local sam-env [-host H] > sam-local-env.json")
	os.Exit(2)
}

func dev(ctx context.Context, args []string) error {
	flags := flag.NewFlagSet("dev", flag.ExitOnError)
	poolMax := flags.Int("max-per-function", 8, "most emulator processes per function")
	faultFlag := flags.String("faults", os.Getenv("FAULTS"), "fault profile: off, all, or name=rate,... (README, Faults on purpose); default $FAULTS")
	_ = flags.Parse(args)
	profile, err := faults.Parse(*faultFlag)
	if err != nil {
		return err
	}

	root, tmpl, rie, err := setup()
	if err != nil {
		return err
	}
	for _, addr := range []string{localstack.DynamoDBAddr, localstack.SESAddr, localstack.APIAddr, localstack.SimulatorAddr, localstack.MarketAPIAddr, localstack.ConsoleAddr, localstack.AWSAddr} {
		if localstack.Listening(addr) {
			return fmt.Errorf("%s is taken: is another `make dev` running?", addr)
		}
	}
	fmt.Fprintln(os.Stderr, "building the functions and starting the local stack")
	stack, err := localstack.Start(ctx, localstack.Options{
		Root: root, Template: tmpl, RIE: rie, BuildDir: localstack.DefaultBuildDir(root),
		APIAddr: localstack.APIAddr, SimulatorAddr: localstack.SimulatorAddr, MarketAPIAddr: localstack.MarketAPIAddr, ConsoleAddr: localstack.ConsoleAddr,
		DynamoDBAddr: localstack.DynamoDBAddr, SESAddr: localstack.SESAddr, AWSAddr: localstack.AWSAddr,
		MaxPerFunction: *poolMax, RunSchedules: true, Output: os.Stderr, Faults: profile,
		Log: slog.New(slog.NewTextHandler(os.Stderr, nil)),
	})
	if err != nil {
		return err
	}
	defer func() {
		stack.Close()
		if stack.Faults != nil {
			fmt.Fprint(os.Stderr, stack.Faults.Report())
		}
	}()
	demo := localstack.DemoCustomer
	if err := localstack.PutCustomer(ctx, localstack.DynamoDBClient(stack.DynamoDBURL), demo); err != nil {
		return err
	}

	fmt.Printf(`
Local stack is up (Ctrl-C stops it):
  Marketplace simulator  %[1]s   (buy the plan, then Login Without Password)
    SPI console          %[1]s/console
    Market OpenAPI       %[2]s
  HTTP API               %[3]s
    SPI callback         %[3]s/aliyun/spi
    authUrl              %[3]s/aliyun/sso
  Guance console login   %[13]s/cn1/   (a stand-in per site: /<site>/; Confirm ends here)
  DynamoDB               %[4]s   (tables: %[5]s)
  SES                    %[6]s   (sent mail: %[6]s/store)
  Business events        %[14]s   (the EventBridge bus: what the rest of Guance hears; JSON at /events.json)
  Operator's tool        go run ./cmd/ops -local find <instance id | order id | UID | username | wksp_...>
  ISV key                %[7]s
  Faults                 %[15]s
  An existing customer, for "Has billing center account":
    billing center       %[8]s   (its codes go to %[9]s)
    Guance account       %[10]s   (email %[11]s, password %[12]s)
  Everything lives in memory: stopping the stack forgets every purchase,
  account and mail (the next make dev starts from the demo customer again).
`, stack.SimulatorURL, stack.MarketAPIURL, stack.APIURL, stack.DynamoDBURL, tableNames(tmpl), stack.SESURL, keyHint(),
		demo.Billing, demo.BillingEmail(), demo.Owner, demo.OwnerEmail(), demo.Password, stack.ConsoleURL, stack.AWSURL, faultHint(profile))

	<-ctx.Done()
	fmt.Fprintln(os.Stderr, "\nstopping")
	return nil
}

func faultHint(p faults.Profile) string {
	if p.Off() {
		return "off (FAULTS=all make dev injects AWS's and the marketplace's failures)"
	}
	return p.String() + " (counts printed at Ctrl-C)"
}

func keyHint() string {
	if os.Getenv("MARKET_ISV_KEY") != "" {
		return "from MARKET_ISV_KEY"
	}
	return localstack.DefaultISVKey + " (the local default; set MARKET_ISV_KEY to change it)"
}

func tableNames(t *samtemplate.Template) string {
	names := make([]string, len(t.Tables))
	for i, tb := range t.Tables {
		names[i] = tb.LogicalID
	}
	return strings.Join(names, ", ")
}

func setup() (string, *samtemplate.Template, string, error) {
	root, err := localstack.Root()
	if err != nil {
		return "", nil, "", err
	}
	tmpl, err := samtemplate.Load(filepath.Join(root, "template.yaml"), nil)
	if err != nil {
		return "", nil, "", err
	}
	rie, err := emulator.FindRIE()
	if err != nil {
		return "", nil, "", err
	}
	return root, tmpl, rie, nil
}

// invoke runs one function once with an event, like `sam local invoke`. It
// uses the DynamoDB of a running `make dev` when there is one, and an
// empty embedded one otherwise.
func invoke(ctx context.Context, args []string) error {
	if len(args) < 1 || strings.HasPrefix(args[0], "-") {
		return errors.New("usage: local invoke <LogicalId> -e <event.json>")
	}
	id := args[0]
	flags := flag.NewFlagSet("invoke", flag.ExitOnError)
	eventPath := flags.String("e", "", "event file (JSON)")
	_ = flags.Parse(args[1:])
	if *eventPath == "" {
		return errors.New("give the event with -e events/<file>.json")
	}
	event, err := os.ReadFile(*eventPath)
	if err != nil {
		return err
	}
	if !json.Valid(event) {
		return fmt.Errorf("%s is not JSON", *eventPath)
	}

	root, tmpl, rie, err := setup()
	if err != nil {
		return err
	}
	fn, ok := tmpl.Function(id)
	if !ok {
		names := make([]string, len(tmpl.Functions))
		for i, f := range tmpl.Functions {
			names[i] = f.LogicalID
		}
		return fmt.Errorf("no function %s in template.yaml; the functions are: %s", id, strings.Join(names, ", "))
	}
	endpoints := localstack.Endpoints{DynamoDB: "http://" + localstack.DynamoDBAddr, SES: "http://" + localstack.SESAddr, MarketAPI: "http://" + localstack.MarketAPIAddr}
	if !localstack.Listening(localstack.DynamoDBAddr) {
		url, srv, err := localstack.StartDynamoDB(ctx, "127.0.0.1:0", tmpl.Tables)
		if err != nil {
			return err
		}
		defer srv.Close()
		endpoints.DynamoDB = url
		fmt.Fprintf(os.Stderr, "no DynamoDB on %s (make dev): using an empty one at %s\n", localstack.DynamoDBAddr, url)
	}
	bootstrap, err := localstack.BuildFunction(ctx, root, localstack.DefaultBuildDir(root), fn, os.Stderr)
	if err != nil {
		return err
	}
	// The function's log goes to stderr while it runs; what the runtime
	// says after the invocation (the emulator being stopped) is noise.
	logs := &invocationLog{w: os.Stderr}
	pool := localstack.NewPool(fn, bootstrap, rie, localstack.FunctionEnv(fn, endpoints), 1, logs)
	defer pool.Close()
	res, err := pool.Invoke(ctx, event)
	logs.done.Store(true)
	if err != nil {
		return err
	}
	fmt.Println(string(res.Payload))
	if res.Report != "" {
		fmt.Fprintln(os.Stderr, res.Report)
	}
	if res.FunctionError {
		return errors.New("the function returned an error")
	}
	return nil
}

// invocationLog passes the function's log lines on until done, leaving out
// the REPORT line, which invoke prints once at the end.
type invocationLog struct {
	w    io.Writer
	done atomic.Bool
}

func (l *invocationLog) Write(b []byte) (int, error) {
	if l.done.Load() || strings.Contains(string(b), "] REPORT RequestId:") {
		return len(b), nil
	}
	return l.w.Write(b)
}

// samEnv writes sam local's env-vars file (localstack.SAMEnv) for the
// template, as sam-local-env.json holds it.
func samEnv(w io.Writer, args []string) error {
	flags := flag.NewFlagSet("sam-env", flag.ExitOnError)
	host := flags.String("host", localstack.DockerHost, "how the containers reach this machine (127.0.0.1 with --docker-network host on Linux)")
	_ = flags.Parse(args)
	root, err := localstack.Root()
	if err != nil {
		return err
	}
	tmpl, err := samtemplate.Load(filepath.Join(root, "template.yaml"), nil)
	if err != nil {
		return err
	}
	return localstack.WriteSAMEnv(w, tmpl, *host)
}
