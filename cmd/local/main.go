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
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/guance/aliyun-marketplace/cmd/internal/emulator"
	"github.com/guance/aliyun-marketplace/cmd/internal/gateway"
	"github.com/guance/aliyun-marketplace/cmd/internal/localstack"
	"github.com/guance/aliyun-marketplace/cmd/internal/simulator"
	"github.com/guance/aliyun-marketplace/shared/samtemplate"
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
	default:
		usage()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "local:", err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: local dev | local invoke <LogicalId> -e <event.json>")
	os.Exit(2)
}

func dev(ctx context.Context, args []string) error {
	flags := flag.NewFlagSet("dev", flag.ExitOnError)
	poolMax := flags.Int("max-per-function", 8, "most emulator processes per function")
	_ = flags.Parse(args)

	root, tmpl, rie, err := setup()
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	for _, addr := range []string{localstack.DynamoDBAddr, localstack.SESAddr, localstack.APIAddr, localstack.SimulatorAddr} {
		if localstack.Listening(addr) {
			return fmt.Errorf("%s is taken: is another `make dev` running?", addr)
		}
	}

	dynamoURL, dynamo, err := localstack.StartDynamoDB(ctx, localstack.DynamoDBAddr, tmpl.Tables)
	if err != nil {
		return err
	}
	defer dynamo.Close()

	sesCtx, stopSES := context.WithCancel(context.Background())
	defer stopSES()
	if _, err := localstack.StartSES(sesCtx, root, localstack.SESAddr, prefixed("ses", os.Stderr)); err != nil {
		return err
	}

	endpoints := localstack.Endpoints{DynamoDB: dynamoURL, SES: "http://" + localstack.SESAddr}
	var routes []gateway.Route
	for _, fn := range tmpl.Functions {
		if len(fn.Routes) == 0 {
			continue
		}
		fmt.Fprintf(os.Stderr, "building %s\n", fn.LogicalID)
		bootstrap, err := localstack.BuildFunction(ctx, root, filepath.Join(root, ".local", "build"), fn, os.Stderr)
		if err != nil {
			return err
		}
		pool := localstack.NewPool(fn, bootstrap, rie, localstack.FunctionEnv(fn, endpoints), *poolMax, os.Stderr)
		defer pool.Close()
		for _, rt := range fn.Routes {
			routes = append(routes, gateway.Route{Method: rt.Method, Path: rt.Path, Function: fn.LogicalID, Invoker: localstack.PoolInvoker{Pool: pool}})
		}
	}

	api := &http.Server{Addr: localstack.APIAddr, Handler: gateway.New(routes, log), ReadHeaderTimeout: 10 * time.Second}
	sim := &http.Server{Addr: localstack.SimulatorAddr, ReadHeaderTimeout: 10 * time.Second, Handler: &simulator.Page{
		Client: &simulator.Client{SPIURL: "http://" + localstack.APIAddr + "/aliyun/spi", Key: localstack.ISVKey()},
		Now:    time.Now,
	}}
	errs := make(chan error, 2)
	for _, srv := range []*http.Server{api, sim} {
		l, err := net.Listen("tcp", srv.Addr)
		if err != nil {
			return err
		}
		go func() { errs <- srv.Serve(l) }()
	}

	fmt.Printf(`
Local stack is up (Ctrl-C stops it):
  HTTP API               http://%[1]s
    SPI callback         http://%[1]s/aliyun/spi
  Marketplace simulator  http://%[2]s
  DynamoDB               %[3]s   (tables: %[4]s)
  SES                    http://%[5]s   (sent mail: http://%[5]s/store)
  ISV key                %[6]s
`, localstack.APIAddr, localstack.SimulatorAddr, dynamoURL, tableNames(tmpl), localstack.SESAddr, keyHint())

	select {
	case <-ctx.Done():
	case err := <-errs:
		return err
	}
	fmt.Fprintln(os.Stderr, "\nstopping")
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = api.Shutdown(shutdown)
	_ = sim.Shutdown(shutdown)
	return nil
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
		return fmt.Errorf("no function %s in template.yaml", id)
	}
	endpoints := localstack.Endpoints{DynamoDB: "http://" + localstack.DynamoDBAddr, SES: "http://" + localstack.SESAddr}
	if !localstack.Listening(localstack.DynamoDBAddr) {
		url, srv, err := localstack.StartDynamoDB(ctx, "127.0.0.1:0", tmpl.Tables)
		if err != nil {
			return err
		}
		defer srv.Close()
		endpoints.DynamoDB = url
		fmt.Fprintf(os.Stderr, "no DynamoDB on %s (make dev): using an empty one at %s\n", localstack.DynamoDBAddr, url)
	}
	bootstrap, err := localstack.BuildFunction(ctx, root, filepath.Join(root, ".local", "build"), fn, os.Stderr)
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

// prefixed returns a writer that tags each write with a name.
func prefixed(name string, w io.Writer) io.Writer {
	if name == "" {
		return w
	}
	return prefixWriter{name: "[" + name + "] ", w: w}
}

type prefixWriter struct {
	name string
	w    io.Writer
}

func (p prefixWriter) Write(b []byte) (int, error) {
	for _, line := range strings.SplitAfter(string(b), "\n") {
		if line != "" {
			if _, err := io.WriteString(p.w, p.name+line); err != nil {
				return 0, err
			}
		}
	}
	return len(b), nil
}
