// Command coldstart measures the cold start and the size of the project's
// Lambda functions against two baselines it builds itself, without any
// Lambda emulator:
//
//   - bare: aws-lambda-go with a handler that returns a fixed value;
//   - floor: bare plus the AWS SDK's default configuration and a DynamoDB
//     client at init, and one DynamoDB call per event.
//
// Each binary runs as Lambda would start it: a fresh process pointed at a
// fake Runtime API (AWS_LAMBDA_RUNTIME_API), given one event, killed once it
// has answered. Init is exec to its first GET .../invocation/next; first
// response is exec to the post that answers the event. The functions get the
// local stack's environment (localstack.FunctionEnv) and an embedded
// DynamoDB with the template's tables; sizes are of the stripped linux/arm64
// builds Lambda runs.
//
//	go run ./cmd/coldstart [-runs 15] [-only Id,...] [-inittrace] [-v]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/guance/aliyun-marketplace/cmd/devstack/localstack"
	"github.com/guance/aliyun-marketplace/cmd/devstack/samtemplate"
	"github.com/guance/aliyun-marketplace/cmd/devstack/simulator"
)

// options are the command line.
type options struct {
	runs      int
	only      []string
	inittrace bool
	verbose   bool
	timeout   time.Duration
}

// The baselines, as packages of this module, relative to its root.
var baselines = []struct{ name, dir string }{
	{"bare", "cmd/coldstart/baselines/bare"},
	{"floor", "cmd/coldstart/baselines/floor"},
}

// unreachable is an endpoint nothing listens on: a function that tries to
// send mail or call the Market OpenAPI fails fast instead of leaving the
// machine (none of the sample events should).
const unreachable = "http://127.0.0.1:1"

// topInits is how many package inits -inittrace lists per binary.
const topInits = 10

func main() {
	var o options
	var only string
	flag.IntVar(&o.runs, "runs", 15, "cold starts per binary, each a fresh process")
	flag.StringVar(&only, "only", "", "measure only these functions (logical ids, comma-separated); the baselines always run")
	flag.BoolVar(&o.inittrace, "inittrace", false, "run each binary once more with GODEBUG=inittrace=1 and list its most expensive package inits")
	flag.BoolVar(&o.verbose, "v", false, "show the build commands and their output")
	flag.DurationVar(&o.timeout, "timeout", 30*time.Second, "limit of one run, from exec to the first response")
	flag.Parse()
	if only != "" {
		for id := range strings.SplitSeq(only, ",") {
			if id = strings.TrimSpace(id); id != "" {
				o.only = append(o.only, id)
			}
		}
	}
	if o.runs < 1 {
		fmt.Fprintln(os.Stderr, "coldstart: -runs must be at least 1")
		os.Exit(2)
	}

	// Ctrl-C ends the run in progress, and the deferred clean-up kills its
	// process and removes the builds.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	err := run(ctx, o, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "coldstart:", err)
		os.Exit(1)
	}
}

// run builds, measures and prints the report on out; progress goes to
// progress.
func run(ctx context.Context, o options, out, progress io.Writer) error {
	if runtime.GOOS != "linux" {
		// The Makefile builds for linux; the host build has to run here.
		return fmt.Errorf("runs on linux only (this is %s)", runtime.GOOS)
	}
	root, err := localstack.Root()
	if err != nil {
		return err
	}
	tmpl, err := samtemplate.Load(filepath.Join(root, "template.yaml"), nil)
	if err != nil {
		return err
	}
	fns, err := selectFunctions(tmpl.Functions, o.only)
	if err != nil {
		return err
	}
	if len(tmpl.Tables) == 0 {
		return errors.New("the template has no DynamoDB table for the floor to describe")
	}

	dir, err := os.MkdirTemp("", "coldstart-")
	if err != nil {
		return fmt.Errorf("build folder: %w", err)
	}
	defer os.RemoveAll(dir)
	b := Builder{Root: root, Dir: dir}
	if o.verbose {
		b.Log = progress
	}

	dynamoURL, dynamo, err := localstack.StartDynamoDB(ctx, "127.0.0.1:0", tmpl.Tables)
	if err != nil {
		return fmt.Errorf("embedded DynamoDB: %w", err)
	}
	defer dynamo.Close()
	endpoints := localstack.Endpoints{DynamoDB: dynamoURL, SES: unreachable, MarketAPI: unreachable}

	// Build everything first, so the measurements do not share the CPU
	// with the compiler.
	var rows []*row
	for _, bl := range baselines {
		fn := samtemplate.Function{LogicalID: bl.name, Timeout: 10}
		if bl.name == "floor" {
			fn.Environment = map[string]string{"TABLE_NAME": aws.ToString(tmpl.Tables[0].Definition.TableName)}
		}
		r := &row{target: Target{Name: bl.name, Env: localstack.FunctionEnv(fn, endpoints), Event: []byte("{}"), EventName: "{}"}}
		fmt.Fprintf(progress, "building %s (linux/%s and linux/%s)\n", bl.name, runtime.GOARCH, deployArch)
		r.target.Bootstrap, r.arm64, err = buildBoth(runtime.GOARCH, func(goarch string) (string, error) {
			return b.Baseline(ctx, bl.name, bl.dir, goarch)
		})
		if err != nil {
			return err
		}
		rows = append(rows, r)
	}
	samples := simulator.SampleEvents()
	for _, fn := range fns {
		event, eventName, err := firstEvent(samples, fn.LogicalID)
		if err != nil {
			return err
		}
		r := &row{target: Target{Name: fn.LogicalID, Env: localstack.FunctionEnv(fn, endpoints), Event: event, EventName: eventName}}
		fmt.Fprintf(progress, "building %s (linux/%s and linux/%s)\n", fn.LogicalID, runtime.GOARCH, deployArch)
		// A function that does not build (someone is half-way through a
		// change) is reported as such; the others are still measured.
		r.target.Bootstrap, r.arm64, r.err = buildBoth(runtime.GOARCH, func(goarch string) (string, error) {
			return b.Function(ctx, fn, goarch)
		})
		if ctx.Err() != nil {
			return ctx.Err()
		}
		rows = append(rows, r)
	}
	for _, r := range rows {
		if r.err != nil {
			continue
		}
		if r.size, err = fileSize(r.arm64); err != nil {
			return err
		}
	}

	api, err := StartRuntimeAPI()
	if err != nil {
		return err
	}
	defer api.Close()
	runner := &Runner{API: api, Timeout: o.timeout}
	for _, r := range rows {
		if r.err != nil {
			fmt.Fprintf(progress, "skipping %s: it did not build\n", r.target.Name)
			continue
		}
		fmt.Fprintf(progress, "measuring %s: %d cold starts\n", r.target.Name, o.runs)
		r.m, r.err = runner.Measure(ctx, r.target, o.runs)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if o.inittrace && r.err == nil {
			traced, err := runner.RunOnce(ctx, r.target, "GODEBUG=inittrace=1")
			if err != nil {
				r.traceErr = fmt.Errorf("inittrace run: %w", err)
			} else {
				r.inits = ParseInitTrace(traced.Stderr)
			}
		}
	}

	writeReport(out, rows, o)
	if o.inittrace {
		writeInitTraces(out, rows)
	}
	return nil
}

// buildBoth builds for this machine (to run) and for the deploy
// architecture (to weigh); on an arm64 machine that is one build.
func buildBoth(hostArch string, build func(goarch string) (string, error)) (host, deploy string, err error) {
	if host, err = build(hostArch); err != nil {
		return "", "", err
	}
	if hostArch == deployArch {
		return host, host, nil
	}
	if deploy, err = build(deployArch); err != nil {
		return "", "", err
	}
	return host, deploy, nil
}

// selectFunctions is the template's functions in logical id order, or the
// ones only names (each of which must exist).
func selectFunctions(all []samtemplate.Function, only []string) ([]samtemplate.Function, error) {
	fns := slices.Clone(all)
	slices.SortFunc(fns, func(a, b samtemplate.Function) int { return strings.Compare(a.LogicalID, b.LogicalID) })
	if len(only) == 0 {
		return fns, nil
	}
	var picked []samtemplate.Function
	for _, fn := range fns {
		if slices.Contains(only, fn.LogicalID) {
			picked = append(picked, fn)
		}
	}
	for _, id := range only {
		if !slices.ContainsFunc(fns, func(fn samtemplate.Function) bool { return fn.LogicalID == id }) {
			ids := make([]string, len(fns))
			for i, fn := range fns {
				ids[i] = fn.LogicalID
			}
			return nil, fmt.Errorf("-only: no function %s in template.yaml (there are %s)", id, strings.Join(ids, ", "))
		}
	}
	return picked, nil
}

// firstEvent is the first sample event served by the function, as a
// payload 2.0 event signed with the local ISV key, or {} when the function
// has no sample.
func firstEvent(samples []simulator.SampleEvent, logicalID string) ([]byte, string, error) {
	for _, s := range samples {
		if s.FunctionID() != logicalID {
			continue
		}
		ev, err := s.Event(localstack.ISVKey())
		if err != nil {
			return nil, "", fmt.Errorf("sample event %s: %w", s.File, err)
		}
		return ev, s.File, nil
	}
	return []byte("{}"), "{}", nil
}
