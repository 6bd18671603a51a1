// Package emulator runs a function's real bootstrap under the AWS Lambda
// Runtime Interface Emulator, as sam local does inside its containers.
//
// One emulator process serves one invocation at a time (a second concurrent
// one crashes it), which is also Lambda's model of an execution environment.
// A Pool therefore hands each process one request at a time and starts
// another process when all are busy.
package emulator

import (
	"bufio"
	"bytes"
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
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Function is what the pool needs to start a function.
type Function struct {
	Name      string   // logical id, used in log prefixes
	Bootstrap string   // path of the built bootstrap
	Env       []string // the function's whole environment
	Timeout   time.Duration
}

// Pool runs up to Max emulator processes of one function.
type Pool struct {
	fn  Function
	rie string
	max int
	log io.Writer

	// Kill, when set, is asked at each invocation whether to kill its
	// process and after how long: a function timing out or running out of
	// memory mid-invocation (fault injection).
	Kill func() (after time.Duration, kill bool)

	mu      sync.Mutex
	idle    []*process
	started int
	closed  bool
	wake    chan struct{}
}

// FindRIE locates the emulator binary: $AWS_LAMBDA_RIE, the project's
// .local/bin, then $PATH.
func FindRIE() (string, error) {
	if p := os.Getenv("AWS_LAMBDA_RIE"); p != "" {
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	if wd, err := os.Getwd(); err == nil {
		for dir := wd; ; dir = filepath.Dir(dir) {
			p := filepath.Join(dir, ".local", "bin", "aws-lambda-rie")
			if _, err := os.Stat(p); err == nil {
				return p, nil
			}
			if filepath.Dir(dir) == dir {
				break
			}
		}
	}
	if p, err := exec.LookPath("aws-lambda-rie"); err == nil {
		return p, nil
	}
	return "", errors.New("aws-lambda-rie not found: run `make tools` (or set AWS_LAMBDA_RIE)")
}

// NewPool returns a pool for fn, starting processes on demand up to max.
// Each process's output goes to log, line by line, prefixed with the name.
func NewPool(fn Function, rie string, max int, log io.Writer) *Pool {
	if max < 1 {
		max = 1
	}
	return &Pool{fn: fn, rie: rie, max: max, log: log, wake: make(chan struct{}, 1)}
}

// Result is one invocation's answer.
type Result struct {
	Payload []byte
	// FunctionError is set when the function returned an error or crashed
	// (the payload then holds errorMessage and errorType).
	FunctionError bool
	// Report is the emulator's REPORT line (init and duration), when seen.
	Report string
}

// Invoke runs one invocation on an idle process, starting one if all are
// busy and the pool is not full, or waiting for one otherwise.
func (p *Pool) Invoke(ctx context.Context, payload []byte) (Result, error) {
	proc, err := p.acquire(ctx)
	if err != nil {
		return Result{}, err
	}
	var killed *time.Timer
	if p.Kill != nil {
		if after, kill := p.Kill(); kill {
			killed = time.AfterFunc(after, proc.stop)
		}
	}
	res, err := proc.invoke(ctx, payload, p.fn.Timeout)
	if killed != nil && !killed.Stop() && err == nil {
		// Killed as it answered: the environment is gone all the same.
		err = errors.New("invoke: the function's process was killed")
	}
	// A function error may have killed the runtime: start the next request
	// on a fresh environment, as Lambda does.
	p.release(proc, err == nil && !res.FunctionError)
	return res, err
}

func (p *Pool) acquire(ctx context.Context) (*process, error) {
	for {
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			return nil, errors.New("pool closed")
		}
		if n := len(p.idle); n > 0 {
			proc := p.idle[n-1]
			p.idle = p.idle[:n-1]
			p.mu.Unlock()
			return proc, nil
		}
		if p.started < p.max {
			p.started++
			p.mu.Unlock()
			proc, err := startProcess(ctx, p.fn, p.rie, p.log)
			if err != nil {
				p.mu.Lock()
				p.started--
				p.mu.Unlock()
				return nil, err
			}
			return proc, nil
		}
		p.mu.Unlock()
		select {
		case <-p.wake:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// release returns a healthy process to the pool; a failed one is stopped,
// so the next request gets a fresh environment, as Lambda does.
func (p *Pool) release(proc *process, healthy bool) {
	p.mu.Lock()
	if healthy && !p.closed && proc.alive() {
		p.idle = append(p.idle, proc)
	} else {
		p.started--
		defer proc.stop()
	}
	p.mu.Unlock()
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// Size is the number of running processes.
func (p *Pool) Size() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.started
}

// Close stops every idle process; busy ones stop when released.
func (p *Pool) Close() {
	p.mu.Lock()
	p.closed = true
	idle := p.idle
	p.idle = nil
	p.mu.Unlock()
	for _, proc := range idle {
		proc.stop()
	}
}

type process struct {
	cmd     *exec.Cmd
	addr    string
	reports chan string
	done    chan struct{}
	// stopping silences the output once the process is being stopped:
	// what a runtime says while its emulator dies ("failed to get the
	// next invoke") is noise, not a failure.
	stopping atomic.Bool
}

func freePort() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

func startProcess(ctx context.Context, fn Function, rie string, log io.Writer) (*process, error) {
	addr, err := freePort()
	if err != nil {
		return nil, fmt.Errorf("pick a port for %s: %w", fn.Name, err)
	}
	runtimeAPI, err := freePort()
	if err != nil {
		return nil, fmt.Errorf("pick a port for %s: %w", fn.Name, err)
	}
	cmd := exec.Command(rie,
		"--runtime-interface-emulator-address", addr,
		"--runtime-api-address", runtimeAPI,
		"--log-level", "error",
		fn.Bootstrap)
	cmd.Dir = filepath.Dir(fn.Bootstrap)
	cmd.Env = fn.Env
	// Its own process group, so stopping it also stops the bootstrap.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start emulator for %s: %w", fn.Name, err)
	}
	proc := &process{cmd: cmd, addr: addr, reports: make(chan string, 16), done: make(chan struct{})}
	go proc.copyOutput(out, fn.Name, log)
	go func() {
		_ = cmd.Wait()
		close(proc.done)
	}()
	if err := proc.waitReady(ctx); err != nil {
		proc.stop()
		return nil, fmt.Errorf("emulator for %s: %w", fn.Name, err)
	}
	return proc, nil
}

func (p *process) copyOutput(out io.Reader, name string, log io.Writer) {
	scanner := bufio.NewScanner(out)
	scanner.Buffer(make([]byte, 64<<10), 1<<20)
	for scanner.Scan() {
		line := scanner.Text()
		if strings.HasPrefix(line, "REPORT ") {
			select {
			case p.reports <- line:
			default:
			}
		}
		if log != nil && !p.stopping.Load() {
			fmt.Fprintf(log, "[%s] %s\n", name, line)
		}
	}
}

func (p *process) waitReady(ctx context.Context) error {
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-p.done:
			return errors.New("exited while starting")
		case <-ctx.Done():
			return ctx.Err()
		default:
		}
		conn, err := net.DialTimeout("tcp", p.addr, 200*time.Millisecond)
		if err == nil {
			conn.Close()
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return errors.New("not listening after 10s")
}

func (p *process) alive() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

func (p *process) stop() {
	p.stopping.Store(true)
	if p.cmd.Process != nil {
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	}
	<-p.done
}

var httpClient = &http.Client{}

func (p *process) invoke(ctx context.Context, payload []byte, timeout time.Duration) (Result, error) {
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	// The emulator enforces the function timeout itself; this bounds a hung
	// emulator, with room for a cold start.
	ctx, cancel := context.WithTimeout(ctx, timeout+10*time.Second)
	defer cancel()
	// Drop a REPORT left over from an invocation whose line came late.
	for len(p.reports) > 0 {
		<-p.reports
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+p.addr+"/2015-03-31/functions/function/invocations", bytes.NewReader(payload))
	if err != nil {
		return Result{}, err
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return Result{}, fmt.Errorf("invoke: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return Result{}, fmt.Errorf("read invocation answer: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return Result{Payload: body, FunctionError: true}, fmt.Errorf("emulator answered %s: %s", resp.Status, bytes.TrimSpace(body))
	}
	res := Result{Payload: body, FunctionError: isFunctionError(body)}
	// The emulator prints REPORT just before it answers; give the reader a
	// moment to pass it on.
	select {
	case res.Report = <-p.reports:
	case <-time.After(time.Second):
	}
	return res, nil
}

// isFunctionError recognises the emulator's error payload, an object with
// errorMessage and no statusCode: the emulator sets no error header, so the
// payload is all there is to go by.
func isFunctionError(body []byte) bool {
	var payload struct {
		ErrorMessage *string `json:"errorMessage"`
		StatusCode   *int    `json:"statusCode"`
	}
	return json.Unmarshal(body, &payload) == nil && payload.ErrorMessage != nil && payload.StatusCode == nil
}
