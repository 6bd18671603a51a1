package localstack

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os/exec"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"github.com/guance/aliyun-marketplace/cmd/devstack/faults"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/guance/aliyun-marketplace/cmd/devstack/console"
	"github.com/guance/aliyun-marketplace/cmd/devstack/dynamolocal"
	"github.com/guance/aliyun-marketplace/cmd/devstack/emulator"
	"github.com/guance/aliyun-marketplace/cmd/devstack/eventbus"
	"github.com/guance/aliyun-marketplace/cmd/devstack/gateway"
	"github.com/guance/aliyun-marketplace/cmd/devstack/samtemplate"
	"github.com/guance/aliyun-marketplace/cmd/devstack/simulator"
	"github.com/guance/aliyun-marketplace/shared/adapters/storage"
)

// Options say where the stack listens; "127.0.0.1:0" picks a free port,
// which is how tests run several stacks side by side.
type Options struct {
	Root          string
	Template      *samtemplate.Template
	RIE           string
	BuildDir      string
	APIAddr       string
	SimulatorAddr string
	MarketAPIAddr string
	// ConsoleAddr serves the stand-in of each site's console login.
	ConsoleAddr    string
	AWSAddr        string // EventBridge and Lambda Invoke (AWSAPIs)
	DynamoDBAddr   string
	SESAddr        string // empty: no local SES
	MaxPerFunction int
	// RunSchedules fires each schedule of the template on its rate (make
	// dev); tests fire them on demand with FireSchedule.
	RunSchedules bool
	// StreamRetry is how long a failed stream batch waits before it is
	// handed over again (default a second).
	StreamRetry time.Duration
	// Faults is the fault profile (off: none): the functions' DynamoDB,
	// SES and Market OpenAPI, their stream deliveries and their processes
	// fail as it says, at the wire; tests and tools reach the same
	// services without faults (DynamoDBURL, SESURL).
	Faults faults.Profile
	// Output receives build output and the functions' logs.
	Output io.Writer
	Log    *slog.Logger
}

// Stack is the whole system running locally.
type Stack struct {
	APIURL       string
	SimulatorURL string
	MarketAPIURL string
	// ConsoleURL is the console login stand-in: <ConsoleURL>/<site>/.
	ConsoleURL  string
	DynamoDBURL string
	SESURL      string
	// AWSURL serves EventBridge (its events on a page) and Lambda Invoke.
	AWSURL string
	Market *simulator.Market
	// Bus is the business event bus's stand-in.
	Bus *eventbus.Bus
	// Faults injects the profile's faults (nil: none) and counts them.
	Faults *faults.Injector
	// FunctionDynamoDBURL and FunctionSESURL are where the functions reach
	// DynamoDB and SES: through the faults, when there are any.
	FunctionDynamoDBURL, FunctionSESURL string

	servers    []*http.Server
	dynamo     *http.Server
	ddb        *dynamolocal.Server
	pools      map[string]*emulator.Pool
	schedulers map[string]*Scheduler
	stop       context.CancelFunc
	background sync.WaitGroup
	ses        *exec.Cmd
	stopSES    context.CancelFunc
}

// Start brings the stack up: listeners first (so every URL is known), then
// DynamoDB with the template's tables, the local SES, the functions built
// and pooled under the emulator behind the gateway, and the simulator.
func Start(ctx context.Context, o Options) (_ *Stack, err error) {
	s := &Stack{Market: simulator.NewMarket(), Bus: &eventbus.Bus{}, pools: map[string]*emulator.Pool{}, schedulers: map[string]*Scheduler{}, Faults: faults.New(o.Faults)}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	listing, err := Listing()
	if err != nil {
		return nil, fmt.Errorf("METERING_ITEMS: %w", err)
	}
	s.Market.SetListing(listing)
	listen := func(addr string) (net.Listener, string, error) {
		l, err := net.Listen("tcp", addr)
		if err != nil {
			return nil, "", fmt.Errorf("listen on %s: %w", addr, err)
		}
		return l, "http://" + l.Addr().String(), nil
	}
	var listeners []net.Listener
	closeListeners := func() error {
		var errs []error
		for _, l := range listeners {
			errs = append(errs, l.Close())
		}
		return errors.Join(errs...)
	}
	var urls []string
	awsAddr := o.AWSAddr
	if awsAddr == "" {
		awsAddr = "127.0.0.1:0"
	}
	for _, addr := range []string{o.APIAddr, o.SimulatorAddr, o.MarketAPIAddr, o.ConsoleAddr, awsAddr} {
		l, u, err := listen(addr)
		if err != nil {
			return nil, errors.Join(err, closeListeners())
		}
		listeners, urls = append(listeners, l), append(urls, u)
	}
	apiL, simL, marketL, consoleL, awsL := listeners[0], listeners[1], listeners[2], listeners[3], listeners[4]
	apiURL, simURL, marketURL := urls[0], urls[1], urls[2]
	s.APIURL, s.SimulatorURL, s.MarketAPIURL, s.ConsoleURL, s.AWSURL = apiURL, simURL, marketURL, urls[3], urls[4]

	dynamoURL, dynamo, err := StartDynamoDB(ctx, o.DynamoDBAddr, o.Template.Tables)
	if err != nil {
		return nil, errors.Join(err, closeListeners())
	}
	s.DynamoDBURL, s.dynamo, s.ddb = dynamoURL, dynamo, dynamo.Handler.(*dynamolocal.Server)
	s.servers = append(s.servers, dynamo)
	s.FunctionDynamoDBURL = dynamoURL
	if s.Faults != nil {
		// The functions' way in, through the faults.
		if s.FunctionDynamoDBURL, err = s.serve(s.Faults.DynamoDB(s.ddb)); err != nil {
			return nil, errors.Join(err, closeListeners())
		}
	}

	if o.SESAddr != "" {
		sesCtx, stop := context.WithCancel(context.Background())
		s.stopSES = stop
		if s.ses, err = StartSES(sesCtx, o.Root, o.SESAddr, o.Output); err != nil {
			return nil, errors.Join(err, closeListeners())
		}
		s.SESURL = "http://" + o.SESAddr
	}
	s.FunctionSESURL = s.SESURL
	if s.Faults != nil && s.SESURL != "" {
		target, _ := url.Parse(s.SESURL)
		proxy := httputil.NewSingleHostReverseProxy(target)
		// A call held past its deadline is cancelled by its caller: that
		// is the fault, not news.
		proxy.ErrorLog = log.New(io.Discard, "", 0)
		if s.FunctionSESURL, err = s.serve(s.Faults.SES(proxy)); err != nil {
			return nil, errors.Join(err, closeListeners())
		}
	}

	endpoints := Endpoints{DynamoDB: s.FunctionDynamoDBURL, SES: s.FunctionSESURL, MarketAPI: marketURL, Marketplace: simURL, Console: s.ConsoleURL, AWS: s.AWSURL}
	if endpoints.SES == "" {
		endpoints.SES = "http://127.0.0.1:1" // nothing there: a mail fails fast
	}
	bg, stop := context.WithCancel(context.Background())
	s.stop = stop
	dynamoClient := DynamoDBClient(dynamoURL)
	var routes []gateway.Route
	for _, fn := range o.Template.Functions {
		bootstrap, err := BuildFunction(ctx, o.Root, o.BuildDir, fn, o.Output)
		if err != nil {
			return nil, errors.Join(err, closeListeners())
		}
		pool := NewPool(fn, bootstrap, o.RIE, FunctionEnv(fn, endpoints), o.MaxPerFunction, o.Output)
		if s.Faults != nil {
			pool.Kill = s.Faults.Kill
		}
		s.pools[fn.LogicalID] = pool
		for _, rt := range fn.Routes {
			routes = append(routes, gateway.Route{Method: rt.Method, Path: rt.Path, Function: fn.LogicalID, Invoker: PoolInvoker{Pool: pool}})
		}
		for _, st := range fn.Streams {
			table, ok := o.Template.Table(st.Table)
			if !ok {
				return nil, errors.Join(fmt.Errorf("function %s: no table %s", fn.LogicalID, st.Table), closeListeners())
			}
			retry := o.StreamRetry
			if retry <= 0 {
				retry = time.Second
			}
			feed := &StreamFeed{Feed: s.ddb.Subscribe(aws.ToString(table.Definition.TableName)),
				Table: table, Stream: st, Function: fn.LogicalID, Pool: pool, Log: o.Log, Retry: retry}
			if s.Faults != nil {
				feed.Again = s.Faults.StreamDup
			}
			s.background.Go(func() { feed.Run(bg) })
		}
		for _, sc := range fn.Schedules {
			scheduler := &Scheduler{Function: fn.LogicalID, Schedule: sc, Pool: pool, Log: o.Log}
			s.schedulers[fn.LogicalID+"/"+sc.Name] = scheduler
			if o.RunSchedules {
				s.background.Go(func() { scheduler.Run(bg) })
			}
		}
	}

	page := &simulator.Page{
		Client:  &simulator.Client{SPIURL: apiURL + "/aliyun/spi", Key: ISVKey()},
		Market:  s.Market,
		AuthURL: apiURL + "/aliyun/sso",
		Now:     time.Now,
		Faults:  s.Faults.Profile().String(),
	}
	if _, ok := s.schedulers[ReconcileSchedule]; ok {
		page.Reconcile = func(ctx context.Context) ([]byte, error) {
			return s.schedulers[ReconcileSchedule].Fire(ctx)
		}
	}
	if _, ok := s.schedulers[MeteringSchedule]; ok {
		page.Meter = func(ctx context.Context) ([]byte, error) {
			return s.schedulers[MeteringSchedule].Fire(ctx)
		}
	}
	consoleHandler := &console.Handler{
		Records: storage.New(dynamoClient, storage.Tables{Accounts: tableName(o.Template, "AccountsTable"), Workspaces: tableName(o.Template, "WorkspacesTable")}).Console(),
		Log:     o.Log,
	}
	openapi := &simulator.OpenAPI{Market: s.Market, AccessKeyID: LocalMarketAccessKeyID, AccessKeySecret: LocalMarketAccessKeySecret}
	for _, run := range []struct {
		l net.Listener
		h http.Handler
	}{{apiL, gateway.New(routes, o.Log)}, {simL, page}, {marketL, s.Faults.Market(openapi)}, {consoleL, consoleHandler}, {awsL, &AWSAPIs{Bus: s.Bus, Pools: s.pools}}} {
		srv := &http.Server{Handler: run.h, ReadHeaderTimeout: 10 * time.Second}
		s.servers = append(s.servers, srv)
		go func() { _ = srv.Serve(run.l) }()
	}
	return s, nil
}

// ReconcileSchedule is the reconciliation's schedule, as Schedules names it.
const ReconcileSchedule = "ReconcileFunction/Schedule"

// MeteringSchedule is the metering's schedule.
const MeteringSchedule = "MeteringFunction/Schedule"

// FireSchedule runs a function's schedule once now, as EventBridge would.
func (s *Stack) FireSchedule(ctx context.Context, fn, schedule string) ([]byte, error) {
	sc, ok := s.schedulers[fn+"/"+schedule]
	if !ok {
		return nil, fmt.Errorf("no schedule %s of %s in the template", schedule, fn)
	}
	return sc.Fire(ctx)
}

// Schedules lists the template's schedules as "Function/Name".
func (s *Stack) Schedules() []string {
	var out []string
	for k := range s.schedulers {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// DynamoDBRequests counts the requests the local DynamoDB has served.
func (s *Stack) DynamoDBRequests() int64 {
	if s.ddb != nil {
		return s.ddb.Requests()
	}
	return 0
}

// serve serves h on a free local port until the stack stops.
func (s *Stack) serve(h http.Handler) (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	s.servers = append(s.servers, srv)
	go func() { _ = srv.Serve(l) }()
	return "http://" + l.Addr().String(), nil
}

// Pool is the emulator pool of a function (tests invoke it directly).
func (s *Stack) Pool(fn string) *emulator.Pool { return s.pools[fn] }

// Close stops everything the stack started.
func (s *Stack) Close() {
	if s.stop != nil {
		s.stop()
	}
	s.background.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, srv := range s.servers {
		_ = srv.Shutdown(ctx)
	}
	for _, p := range s.pools {
		p.Close()
	}
	if s.stopSES != nil {
		s.stopSES()
		if s.ses != nil {
			_ = s.ses.Wait()
		}
	}
}

// DefaultBuildDir is where the local stack keeps bootstraps.
func DefaultBuildDir(root string) string { return filepath.Join(root, ".local", "build") }

// tableName is the name a template table has (its logical id locally).
func tableName(t *samtemplate.Template, logicalID string) string {
	if table, ok := t.Table(logicalID); ok {
		return aws.ToString(table.Definition.TableName)
	}
	return logicalID
}
