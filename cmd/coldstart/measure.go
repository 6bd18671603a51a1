package main

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// caBundleVar is set on this machine but never in Lambda. With it the AWS
// SDK's default configuration parses a few hundred KB of certificates at
// init, which would be measured as if it were the function's own cost.
const caBundleVar = "AWS_CA_BUNDLE"

// Target is one binary to measure.
type Target struct {
	Name      string
	Bootstrap string   // built for this machine
	Env       []string // the function's environment, without the Runtime API
	Event     []byte   // the first (and only) event
	EventName string   // where the event came from, for the report
}

// Run is one cold start: a fresh process, one event.
type Run struct {
	// Init is exec to the first GET .../invocation/next.
	Init time.Duration
	// FirstResponse is exec to the post that ended the invocation,
	// a response or an invocation error.
	FirstResponse time.Duration
	Outcome       Outcome
	Stderr        []byte
}

// Runner starts runtime processes against a fake Runtime API, one at a time.
type Runner struct {
	API *RuntimeAPI
	// Timeout bounds one run, from exec to the first response.
	Timeout time.Duration
}

// RunOnce starts t's bootstrap, hands it t.Event and kills it once it has
// answered. extraEnv is added to (and overrides) t.Env.
func (r *Runner) RunOnce(ctx context.Context, t Target, extraEnv ...string) (Run, error) {
	inv := r.API.Arm(t.Name, t.Event)
	cmd := exec.Command(t.Bootstrap)
	cmd.Env = processEnv(t.Env, append([]string{"AWS_LAMBDA_RUNTIME_API=" + r.API.Addr}, extraEnv...)...)
	// Lambda starts the bootstrap in its own folder (/var/task).
	cmd.Dir = filepath.Dir(t.Bootstrap)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	// The process has no children, but bound the wait for its output pipes
	// all the same.
	cmd.WaitDelay = 2 * time.Second

	start := time.Now()
	if err := cmd.Start(); err != nil {
		return Run{}, fmt.Errorf("start %s: %w", t.Bootstrap, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stopped := false
	var exitErr error
	stop := func() {
		if !stopped {
			_ = cmd.Process.Kill()
			exitErr = <-exited
			stopped = true
		}
	}
	defer stop()

	timer := time.NewTimer(r.Timeout)
	defer timer.Stop()
	ended, exitedEarly := false, false
	select {
	case <-inv.Done():
		ended = true
	case exitErr = <-exited:
		stopped, exitedEarly = true, true
		// It may have answered and then exited (a handler that asks to
		// exit after an error): the answer still counts.
		select {
		case <-inv.Done():
			ended = true
		default:
		}
	case <-timer.C:
	case <-ctx.Done():
		return Run{}, ctx.Err()
	}
	// Kill before reading the buffers: only then are they complete and no
	// longer written to.
	stop()
	tail := func() string { return outputTail(stdout.Bytes(), stderr.Bytes()) }
	if !ended {
		if exitedEarly {
			return Run{}, fmt.Errorf("%s exited before answering (%v)%s", t.Name, exitErr, tail())
		}
		return Run{}, fmt.Errorf("%s did not answer within %s%s", t.Name, r.Timeout, tail())
	}
	out := inv.Outcome()
	if out.Kind == OutcomeInitError {
		return Run{}, fmt.Errorf("%s reported an init error: %s%s", t.Name, out.ErrorSummary(), tail())
	}
	return Run{
		Init:          inv.NextAt().Sub(start),
		FirstResponse: out.At.Sub(start),
		Outcome:       out,
		Stderr:        stderr.Bytes(),
	}, nil
}

// Measurement is a target's runs summed up.
type Measurement struct {
	Init, FirstResponse Summary
	// Last is the last run's outcome: what the handler answered.
	Last Outcome
	// Errors counts runs whose handler posted an invocation error.
	Errors int
}

// Measure runs t n times, each in a fresh process, and sums the runs up.
func (r *Runner) Measure(ctx context.Context, t Target, n int) (Measurement, error) {
	var inits, firsts []time.Duration
	var m Measurement
	for i := range n {
		run, err := r.RunOnce(ctx, t)
		if err != nil {
			return Measurement{}, fmt.Errorf("run %d of %d: %w", i+1, n, err)
		}
		inits = append(inits, run.Init)
		firsts = append(firsts, run.FirstResponse)
		if run.Outcome.Kind == OutcomeError {
			m.Errors++
		}
		m.Last = run.Outcome
	}
	m.Init, m.FirstResponse = Summarize(inits), Summarize(firsts)
	return m, nil
}

// Summary is the median and range of some runs.
type Summary struct {
	Median, Min, Max time.Duration
}

// Summarize takes the median (the mean of the middle two for an even count)
// and the extremes; the median because a cold start has a long tail (page
// cache, a busy neighbour) that a mean would smear over every run.
func Summarize(ds []time.Duration) Summary {
	if len(ds) == 0 {
		return Summary{}
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	mid := len(s) / 2
	median := s[mid]
	if len(s)%2 == 0 {
		median = (s[mid-1] + s[mid]) / 2
	}
	return Summary{Median: median, Min: s[0], Max: s[len(s)-1]}
}

// processEnv is base plus extra (later entries win), without AWS_CA_BUNDLE.
// Nothing is taken from this process's own environment: base is built from
// scratch (localstack.FunctionEnv), as Lambda builds a function's.
func processEnv(base []string, extra ...string) []string {
	seen := map[string]int{}
	var env []string
	for _, kv := range slices.Concat(base, extra) {
		name, _, _ := strings.Cut(kv, "=")
		if name == caBundleVar {
			continue
		}
		if i, ok := seen[name]; ok {
			env[i] = kv
			continue
		}
		seen[name] = len(env)
		env = append(env, kv)
	}
	return env
}

// outputTail is the end of a failed process's output, to say why it failed.
func outputTail(stdout, stderr []byte) string {
	var b strings.Builder
	for _, out := range []struct {
		name string
		text []byte
	}{{"stdout", stdout}, {"stderr", stderr}} {
		text := strings.TrimSpace(string(out.text))
		if text == "" {
			continue
		}
		lines := strings.Split(text, "\n")
		if len(lines) > 8 {
			lines = lines[len(lines)-8:]
		}
		fmt.Fprintf(&b, "\n  %s:\n    %s", out.name, strings.Join(lines, "\n    "))
	}
	return b.String()
}

// firstLine is s up to its first line break, at most n bytes.
func firstLine(s string, n int) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	if len(s) > n {
		s = s[:n] + "..."
	}
	return s
}
