package config

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// Env reads a function's settings from environment variables. Each getter
// records what is wrong and returns a usable zero; Err reports every
// problem at once, so a misconfigured function names all its missing
// variables in one failed init rather than one per deploy.
type Env struct {
	lookup func(string) (string, bool)
	names  func() []string // every variable's name
	errs   []error
}

// FromEnvironment reads the process environment.
func FromEnvironment() *Env {
	return &Env{lookup: os.LookupEnv, names: func() []string {
		var names []string
		for _, kv := range os.Environ() {
			if name, _, ok := strings.Cut(kv, "="); ok {
				names = append(names, name)
			}
		}
		return names
	}}
}

// FromMap reads vars (tests, and tools that work as a function would).
func FromMap(vars map[string]string) *Env {
	return &Env{
		lookup: func(name string) (string, bool) { v, ok := vars[name]; return v, ok },
		names: func() []string {
			names := make([]string, 0, len(vars))
			for name := range vars {
				names = append(names, name)
			}
			return names
		},
	}
}

func (e *Env) value(name string) string {
	v, _ := e.lookup(name)
	return v
}

func (e *Env) fail(format string, args ...any) { e.errs = append(e.errs, fmt.Errorf(format, args...)) }

// Required returns the variable name, or records that it is not set.
func (e *Env) Required(name string) string {
	v := e.value(name)
	if v == "" {
		e.fail("environment variable %s is not set", name)
	}
	return v
}

// Get returns the variable name, or fallback when it is empty.
func (e *Env) Get(name, fallback string) string {
	if v := e.value(name); v != "" {
		return v
	}
	return fallback
}

// Duration reads a positive Go duration ("5m"), or fallback when unset.
func (e *Env) Duration(name string, fallback time.Duration) time.Duration {
	v := e.value(name)
	if v == "" {
		return fallback
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		e.fail("environment variable %s: %q is not a positive duration", name, v)
		return fallback
	}
	return d
}

// Int reads a positive integer, or fallback when unset.
func (e *Env) Int(name string, fallback int) int {
	v := e.value(name)
	if v == "" {
		return fallback
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		e.fail("environment variable %s: %q is not a positive integer", name, v)
		return fallback
	}
	return n
}

// Bool reads "true" or "false", or fallback when unset.
func (e *Env) Bool(name string, fallback bool) bool {
	switch v := e.value(name); v {
	case "":
		return fallback
	case "true":
		return true
	case "false":
		return false
	default:
		e.fail("environment variable %s: %q is not true or false", name, v)
		return fallback
	}
}

// List reads a comma-separated list, each entry trimmed and empty ones
// dropped; nil when unset.
func (e *Env) List(name string) []string {
	var out []string
	for _, entry := range strings.Split(e.value(name), ",") {
		if entry = strings.TrimSpace(entry); entry != "" {
			out = append(out, entry)
		}
	}
	return out
}

// Check records err (a setting that failed its own parsing).
func (e *Env) Check(err error) {
	if err != nil {
		e.errs = append(e.errs, err)
	}
}

// Err is every problem met so far, or nil.
func (e *Env) Err() error { return errors.Join(e.errs...) }
