// Command marketsim plays the Alibaba Cloud Marketplace from the shell:
//
//	marketsim call <action> [name=value ...]   send a signed SPI call
//	marketsim events [-dir events]             rewrite the sample events
//	marketsim link [-instance ID] [name=value ...]  print a fresh Login Without Password link
//	marketsim reconcile                        run the reconciliation now (make dev)
//	marketsim meter                            run the metering now (make dev)
//	marketsim usage -workspace ID [-item host] [-amount 5] [-hours 1] [-rewind]
//	                                           write a workspace's usage, as Guance's platform does (make dev)
//
// Without name=value arguments a call carries sample parameters; name=value
// overrides one, and name= removes it.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/guance/aliyun-marketplace/cmd/devstack/localstack"
	"github.com/guance/aliyun-marketplace/cmd/devstack/simulator"
	"github.com/guance/aliyun-marketplace/shared/domain/marketplace"
	"github.com/guance/aliyun-marketplace/shared/domain/metering"
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	var err error
	switch os.Args[1] {
	case "call":
		err = call(os.Args[2:])
	case "events":
		err = events(os.Args[2:])
	case "link":
		err = link(os.Args[2:])
	case "reconcile":
		_, err = runNow("reconciliation", simulator.APIReconcilePath, os.Args[2:])
	case "meter":
		err = meter(os.Args[2:])
	case "usage":
		err = writeUsage(os.Args[2:])
	default:
		usage()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "marketsim:", err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, `usage:
  marketsim call [-spi URL] [-key KEY] [-post] [-instance ID] <action> [name=value ...]
  marketsim events [-dir events]
  marketsim link [-auth URL] [-key KEY] [-instance ID]   a fresh Login Without Password link
  marketsim reconcile                                     run the reconciliation now (while make dev runs)
  marketsim meter                                         run the metering now (while make dev runs)
  marketsim usage -workspace ID [-item host] [-amount 5] [-hours 1] [-rewind]
                                                          write usage of the last closed hours (while make dev runs)
actions:`, marketplace.LifecycleActions)
	os.Exit(2)
}

func call(args []string) error {
	flags := flag.NewFlagSet("call", flag.ExitOnError)
	spi := flags.String("spi", defaultSPI, "SPI endpoint")
	key := flags.String("key", localstack.ISVKey(), "ISV key (default: $MARKET_ISV_KEY or the local default)")
	post := flags.Bool("post", false, "send a form POST instead of a GET")
	instance := flags.String("instance", simulator.SampleInstanceID, "instance id (orderBizId)")
	_ = flags.Parse(flagsFirst(args, "spi", "key", "instance"))
	if flags.NArg() < 1 {
		usage()
	}
	params := simulator.SampleParams(marketplace.Action(flags.Arg(0)), *instance, time.Now())
	if err := simulator.ParseAssignments(params, flags.Args()[1:]); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var ex simulator.Exchange
	var err error
	if *spi == defaultSPI && localstack.Listening(localstack.SimulatorAddr) {
		// make dev runs the simulator: send through it, so Purchased
		// Services and the console see the call too.
		ex, err = viaSimulator(ctx, params, *post)
	} else {
		client := &simulator.Client{SPIURL: *spi, Key: *key}
		ex, err = client.Call(ctx, params, *post)
	}
	if err != nil {
		return err
	}
	fmt.Printf("%s %s\n", ex.Method, ex.URL)
	if ex.Body != "" {
		fmt.Println(ex.Body)
	}
	fmt.Printf("=> %d %s\n", ex.Status, ex.Answer)
	if ex.Status >= 400 {
		os.Exit(1)
	}
	return nil
}

var defaultSPI = "http://" + localstack.APIAddr + "/aliyun/spi"

// flagsFirst moves the flags to the front, so that they may follow the
// action too (flag stops at the first argument that is not one). valued
// names the flags that take the next argument as their value.
func flagsFirst(args []string, valued ...string) []string {
	var flags, rest []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if !strings.HasPrefix(a, "-") || a == "-" {
			rest = append(rest, a)
			continue
		}
		flags = append(flags, a)
		name := strings.TrimLeft(a, "-")
		if !strings.Contains(name, "=") && slices.Contains(valued, name) && i+1 < len(args) {
			i++
			flags = append(flags, args[i])
		}
	}
	return append(flags, rest...)
}

// runNow runs a scheduled job (the reconciliation, the metering) through
// the running simulator.
func runNow(name, path string, args []string) ([]byte, error) {
	if len(args) > 0 {
		return nil, fmt.Errorf("unexpected %q: the %s takes no arguments", args[0], name)
	}
	if !localstack.Listening(localstack.SimulatorAddr) {
		return nil, fmt.Errorf("no simulator on %s: start make dev first", localstack.SimulatorAddr)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+localstack.SimulatorAddr+path, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("run the %s: %w", name, err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	var pretty bytes.Buffer
	if json.Indent(&pretty, out, "", "  ") == nil {
		fmt.Println(pretty.String())
	} else {
		fmt.Println(string(out))
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("the %s failed (%s)", name, resp.Status)
	}
	return out, nil
}

// meter runs the metering now and, when it pushed nothing, says when the
// next window is decided.
func meter(args []string) error {
	out, err := runNow("metering", simulator.APIMeterPath, args)
	if err != nil {
		return err
	}
	var summary struct {
		Pushed int `json:"windowsPushed"`
	}
	if json.Unmarshal(out, &summary) == nil && summary.Pushed == 0 {
		next := nextDecided(time.Now())
		fmt.Printf("Nothing was pushed: no window with unbilled usage was due. A window is decided %d minutes after it ends; the next, %s-%s, at %s.\n",
			int(metering.Grace/time.Minute), next.Format("15:04"), next.Add(metering.Window).Format("15:04 UTC"), next.Add(metering.Window+metering.Grace).Format("15:04 UTC"))
	}
	return nil
}

// nextDecided is the start of the next window a metering run decides
// after now.
func nextDecided(now time.Time) time.Time {
	last := now.UTC().Truncate(metering.Window).Add(-metering.Window) // the last closed window
	if now.Before(last.Add(metering.Window + metering.Grace)) {
		return last
	}
	return last.Add(metering.Window)
}

// viaSimulator sends a call through the running simulator, which signs it
// with the stack's key.
func viaSimulator(ctx context.Context, params marketplace.Params, post bool) (simulator.Exchange, error) {
	body, err := json.Marshal(simulator.APICall{Params: params, Post: post})
	if err != nil {
		return simulator.Exchange{}, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+localstack.SimulatorAddr+simulator.APICallPath, bytes.NewReader(body))
	if err != nil {
		return simulator.Exchange{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return simulator.Exchange{}, fmt.Errorf("call through the simulator: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return simulator.Exchange{}, fmt.Errorf("the simulator answered %s: %s", resp.Status, bytes.TrimSpace(msg))
	}
	var ex simulator.Exchange
	return ex, json.NewDecoder(resp.Body).Decode(&ex)
}

func events(args []string) error {
	flags := flag.NewFlagSet("events", flag.ExitOnError)
	dir := flags.String("dir", "events", "folder to write")
	_ = flags.Parse(args)
	if err := os.MkdirAll(*dir, 0o755); err != nil {
		return err
	}
	for _, s := range simulator.SampleEvents() {
		out, err := s.Event(localstack.DefaultISVKey)
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(*dir, s.File), out, 0o644); err != nil {
			return err
		}
	}
	fmt.Printf("wrote %d events to %s (signed with the local default key)\n", len(simulator.SampleEvents()), *dir)
	return nil
}

func link(args []string) error {
	flags := flag.NewFlagSet("link", flag.ExitOnError)
	auth := flags.String("auth", "http://"+localstack.APIAddr+"/aliyun/sso", "authUrl")
	key := flags.String("key", localstack.ISVKey(), "ISV key (default: $MARKET_ISV_KEY or the local default)")
	instance := flags.String("instance", simulator.SampleInstanceID, "instance id (a purchase on Purchased Services)")
	_ = flags.Parse(args)
	// name=value overrides a parameter before signing (timeStamp= an old
	// time makes an expired link), name= removes one.
	params := marketplace.VerifyParams(*instance, time.Now())
	if err := simulator.ParseAssignments(params, flags.Args()); err != nil {
		return err
	}
	fmt.Println(*auth + "?" + params.Signed(*key).Encode())
	return nil
}

// writeUsage writes a workspace's usage for the last closed hourly windows
// into the running stack's usage table, the way Guance's platform reports
// it, and says when each window is billed.
func writeUsage(args []string) error {
	flags := flag.NewFlagSet("usage", flag.ContinueOnError)
	u := localstack.Usage{}
	flags.StringVar(&u.WorkspaceID, "workspace", "", "workspace ID (wksp_..., listed by the console stand-in)")
	flags.StringVar(&u.Item, "item", "host", "Guance usage item (one of METERING_ITEMS)")
	flags.Int64Var(&u.Amount, "amount", 5, "amount in each window")
	flags.IntVar(&u.Hours, "hours", 1, "how many of the last closed hours (1 to 24)")
	flags.BoolVar(&u.Rewind, "rewind", false, "local only: move the purchase's metering start back to the last closed hour, so that it is billed now")
	if err := flags.Parse(args); err != nil {
		os.Exit(2)
	}
	switch {
	case flags.NArg() > 0:
		return fmt.Errorf("unexpected %q: flags only (-workspace ID -item host -amount 5 -hours 1 -rewind)", flags.Arg(0))
	case u.WorkspaceID == "":
		return fmt.Errorf("-workspace is required: sign in to the console stand-in (http://%s/<site>/) to see a workspace's ID", localstack.ConsoleAddr)
	}
	if !localstack.Listening(localstack.DynamoDBAddr) {
		return fmt.Errorf("no DynamoDB on %s: start make dev first", localstack.DynamoDBAddr)
	}
	items, err := localstack.MeteringItems()
	if err != nil {
		return fmt.Errorf("read the billable items: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	now := time.Now()
	res, err := localstack.WriteUsage(ctx, localstack.DynamoDBClient("http://"+localstack.DynamoDBAddr), items, u, now)
	if err != nil {
		return err
	}
	const clock = "15:04 UTC"
	if res.Rewound {
		fmt.Printf("Purchase %s is now metered from %s (rewound, local only).\n", res.Instance, res.MeteredFrom.Format(clock))
	}
	for i, w := range res.Windows {
		line := fmt.Sprintf("%s %s %s-%s: ", u.WorkspaceID, u.Item, w.Start.Format("2006-01-02 15:04"), w.Start.Add(metering.Window).Format(clock))
		if w.Written {
			line += fmt.Sprintf("%d written", u.Amount)
		} else {
			line += fmt.Sprintf("recorded already with %d (one record per workspace, item and window: the first stands)", w.Kept)
		}
		when := "now"
		if now.Before(w.DecidedFrom) {
			when = "from " + w.DecidedFrom.Format(clock)
		}
		switch {
		case w.Decided == metering.PushEmpty && now.Before(w.Deadline):
			line += fmt.Sprintf("; the window was decided empty and is looked at again until %s: billed by the next metering run", w.Deadline.Format(clock))
		case w.Decided == metering.PushPushed:
			line += "; the window is billed already (pushed once, with what it held then): usage written later is not"
		case w.Decided != "":
			line += fmt.Sprintf("; the window was decided already (%s): usage written later is not billed", w.Decided)
		case !w.Billable && i == len(res.Windows)-1:
			line += fmt.Sprintf("; not billed: the workspace is metered from %s (with -rewind this hour is billed %s)", res.MeteredFrom.Format(clock), when)
		case !w.Billable:
			line += fmt.Sprintf("; not billed: the workspace is metered from %s", res.MeteredFrom.Format(clock))
		case now.After(w.Deadline):
			line += "; too late to bill (the marketplace takes a window until the end of the next hour)"
		case now.Before(w.DecidedFrom):
			line += fmt.Sprintf("; billed by the first metering run from %s (run `go run ./cmd/marketsim meter` then)", w.DecidedFrom.Format(clock))
		default:
			line += "; billed by the next metering run (`go run ./cmd/marketsim meter` runs it now)"
		}
		fmt.Println(line)
	}
	return nil
}
