package config

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
)

// ParameterStore reads one SecureString parameter, decrypted.
type ParameterStore interface {
	SecureString(ctx context.Context, name string) (string, error)
}

// BatchStore reads several SecureString parameters in one call.
type BatchStore interface {
	SecureStrings(ctx context.Context, names []string) (map[string]string, error)
}

// Secrets reads secrets by name. The environment variable name itself
// wins (the local stack sets it); otherwise name+"_PARAMETER" names a
// SecureString in Parameter Store. A store that reads several at once
// (BatchStore) is asked, at the first secret wanted, for every secret the
// environment names that way: a function's start makes one call for all
// of them. A value is never logged.
type Secrets struct {
	lookup func(string) (string, bool)
	names  func() []string
	store  ParameterStore

	mu      sync.Mutex
	values  map[string]string // by parameter name, once the batch is read
	missing map[string]bool   // the batch's names SSM did not return
}

// NewSecrets reads the process environment, and store when a secret is
// named by a parameter.
func NewSecrets(store ParameterStore) *Secrets {
	return FromEnvironment().Secrets(store)
}

// Secrets reads the secrets named by e's variables (and store when a
// secret is named by a parameter): a function's, for a tool that works as
// the function would.
func (e *Env) Secrets(store ParameterStore) *Secrets {
	return &Secrets{lookup: e.lookup, names: e.names, store: store}
}

// Get returns the secret called name, without the white space around it
// (a value put from a file usually ends with a newline, and a key with
// one signs nothing right).
func (s *Secrets) Get(ctx context.Context, name string) (string, error) {
	if v := strings.TrimSpace(s.value(name)); v != "" {
		return v, nil
	}
	param, _ := s.lookup(name + "_PARAMETER")
	if param == "" {
		return "", fmt.Errorf("secret %s: set %s or %s_PARAMETER", name, name, name)
	}
	v, err := s.read(ctx, param)
	if err != nil {
		return "", fmt.Errorf("secret %s: read parameter %s: %w", name, param, err)
	}
	v = strings.TrimSpace(v)
	if v == "" {
		return "", fmt.Errorf("secret %s: parameter %s is empty", name, param)
	}
	return v, nil
}

func (s *Secrets) value(name string) string {
	v, _ := s.lookup(name)
	return v
}

// Optional returns the secret called name, or "" when neither name nor
// name+"_PARAMETER" is set (a secret only some deployments have, such as
// the key a rotation replaces). One that is named and cannot be read
// returns "" and the error, for the caller to log: an optional secret
// never keeps a function from starting.
func (s *Secrets) Optional(ctx context.Context, name string) (string, error) {
	v, _ := s.lookup(name)
	param, _ := s.lookup(name + "_PARAMETER")
	if v == "" && param == "" {
		return "", nil
	}
	return s.Get(ctx, name)
}

// ErrNotFound: the parameter a secret names does not exist (or the
// function may not read it).
var ErrNotFound = errors.New("no such parameter")

// read returns a parameter's value: from what the first batch read, or
// read now. The first read asks, in one call, for every parameter the
// environment names; a parameter that call did not return fails only
// the secret that names it. If the call itself fails (one parameter the
// role may not read refuses all of them), this parameter is read alone.
func (s *Secrets) read(ctx context.Context, param string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if v, ok := s.values[param]; ok {
		return v, nil
	}
	if s.missing[param] {
		return "", ErrNotFound
	}
	batch, ok := s.store.(BatchStore)
	if !ok || s.names == nil || s.values != nil {
		return s.store.SecureString(ctx, param)
	}
	wanted := []string{param}
	for _, variable := range s.names() {
		base, ok := strings.CutSuffix(variable, "_PARAMETER")
		if !ok {
			continue
		}
		other, _ := s.lookup(variable)
		if direct, _ := s.lookup(base); other != "" && other != param && direct == "" && !slices.Contains(wanted, other) {
			wanted = append(wanted, other)
		}
	}
	values, err := batch.SecureStrings(ctx, wanted)
	if err != nil {
		return s.store.SecureString(ctx, param)
	}
	s.values, s.missing = values, map[string]bool{}
	for _, name := range wanted {
		if _, ok := values[name]; !ok {
			s.missing[name] = true
		}
	}
	v, ok := values[param]
	if !ok {
		return "", ErrNotFound
	}
	return v, nil
}
