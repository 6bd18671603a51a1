package config

import (
	"context"
	"fmt"
	"os"
)

// ParameterStore reads one SecureString parameter, decrypted.
type ParameterStore interface {
	SecureString(ctx context.Context, name string) (string, error)
}

// Secrets reads secrets by name. The environment variable name itself
// wins (the local stack sets it); otherwise name+"_PARAMETER" names a
// SecureString in Parameter Store. A value is never logged.
type Secrets struct {
	lookup func(string) (string, bool)
	store  ParameterStore
}

// NewSecrets reads the process environment, and store when a secret is
// named by a parameter.
func NewSecrets(store ParameterStore) *Secrets {
	return &Secrets{lookup: os.LookupEnv, store: store}
}

// Secrets reads the secrets named by e's variables (and store when a
// secret is named by a parameter): a function's, for a tool that works as
// the function would.
func (e *Env) Secrets(store ParameterStore) *Secrets {
	return &Secrets{lookup: e.lookup, store: store}
}

// Get returns the secret called name.
func (s *Secrets) Get(ctx context.Context, name string) (string, error) {
	if v, _ := s.lookup(name); v != "" {
		return v, nil
	}
	param, _ := s.lookup(name + "_PARAMETER")
	if param == "" {
		return "", fmt.Errorf("secret %s: set %s or %s_PARAMETER", name, name, name)
	}
	v, err := s.store.SecureString(ctx, param)
	if err != nil {
		return "", fmt.Errorf("secret %s: read parameter %s: %w", name, param, err)
	}
	if v == "" {
		return "", fmt.Errorf("secret %s: parameter %s is empty", name, param)
	}
	return v, nil
}
