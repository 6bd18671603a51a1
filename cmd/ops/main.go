// Command ops is the operator's tool: it finds a purchase, shows all
// there is to know of it, lists what needs a person, and repairs, each
// with the product's own conditional writes and an event on the
// purchase's audit trail naming the operator and their reason. It works
// with the operator's own AWS credentials against a deployed stack
// (-stack NAME: its outputs name the tables and functions), or against
// make dev (-local). It adds no endpoint to the stack.
//
//	ops [-local | -stack NAME] find <instance id | order id | UID | billing center username | wksp_...>
//	ops [...] show <instance id> [-events 50] [-windows 24]
//	ops [...] todo [-since 720h]
//	ops [...] requeue-mail <mail id> [-apply -reason "..."]
//	ops [...] requeue-window <instance id> <window> [-apply -reason "..."]
//	ops [...] mark-window <instance id> <window> pushed|written-off [-apply -reason "..."]
//	ops [...] reask <instance id> [-apply -reason "..."]
//	ops [...] release-workspace <wksp_...> [-apply -reason "..."]
//	ops [...] republish <instance id> [-since 24h] [-apply -reason "..."]
//	ops [...] republish -from T1 [-to T2] [-apply -reason "..."]
//	ops [...] run reconcile|metering [-apply -reason "..."]
//
// A repair without -apply is a dry run: it says what it would do.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"

	"github.com/guance/aliyun-marketplace/cmd/devstack/localstack"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := realMain(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "ops:", err)
		}
		os.Exit(1)
	}
}

// realMain runs one command with its arguments, writing to out.
func realMain(ctx context.Context, args []string, out, errOut io.Writer) error {
	flags := flag.NewFlagSet("ops", flag.ContinueOnError)
	flags.SetOutput(errOut)
	local := flags.Bool("local", false, "the stack of make dev (127.0.0.1)")
	stack := flags.String("stack", "", "the deployed stack's name (its outputs name the tables and functions)")
	region := flags.String("region", "", "the stack's region (default: the AWS configuration's)")
	flags.Usage = func() { fmt.Fprint(errOut, usage) }
	if err := flags.Parse(args); err != nil {
		return err
	}
	if flags.NArg() == 0 {
		flags.Usage()
		return flag.ErrHelp
	}
	var target *target
	switch {
	case *local && *stack != "":
		return errors.New("-local or -stack, not both")
	case *local:
		if !localstack.Listening(localstack.DynamoDBAddr) {
			return errors.New("make dev is not running (nothing on " + localstack.DynamoDBAddr + ")")
		}
		target = localTarget(localstack.DevEndpoints())
	case *stack != "":
		var err error
		if target, err = stackTarget(ctx, *stack, *region); err != nil {
			return err
		}
	default:
		return errors.New("say which stack: -local (make dev) or -stack NAME")
	}
	t := target.tool()
	t.out = out
	return t.run(ctx, flags.Arg(0), flags.Args()[1:])
}

const usage = `ops: the operator's tool (see OPERATIONS.md)

  ops [-local | -stack NAME [-region R]] <command> ...

Find and show:
  find <instance id | order id | UID | billing center username | wksp_...>
  show <instance id> [-events 50] [-windows 24]
  todo [-since 720h]                   what needs a person

Repairs (a dry run unless -apply; -apply needs -reason "..."):
  requeue-mail <mail id>               a dead mail, sent again by the next reconciliation
  requeue-window <instance> <window>   a refused, uncertain or late window, within its deadline
  mark-window <instance> <window> pushed|written-off
  reask <instance>                     ask the marketplace (DescribeInstanceForIsv) and apply its answer
  release-workspace <wksp_...>         a workspace a release left settled through its instance
  republish <instance> [-since 24h]    put a purchase's events on the bus again
  republish -from T1 [-to T2]          every purchase's events of a time range (RFC 3339)
  run reconcile|metering               run the job now (Lambda Invoke)

A window is its start, as 2026-12-04T08:00:00Z or in epoch seconds.
`

// repairFlags are the flags every repair takes.
type repairFlags struct {
	apply  bool
	reason string
}

func parseRepair(name string, args []string, extra func(*flag.FlagSet)) (*repairFlags, []string, error) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	r := &repairFlags{}
	fs.BoolVar(&r.apply, "apply", false, "make the repair (without it: a dry run)")
	fs.StringVar(&r.reason, "reason", "", "why (recorded on the purchase's trail)")
	if extra != nil {
		extra(fs)
	}
	positional, err := parseInterleaved(fs, args)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", name, err)
	}
	if r.apply && strings.TrimSpace(r.reason) == "" {
		return nil, nil, fmt.Errorf("%s -apply needs -reason \"...\": it is recorded on the audit trail (a job's run on the trail of no purchase: ops show -)", name)
	}
	return r, positional, nil
}
