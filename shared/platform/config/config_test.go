package config

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

type fakeStore struct {
	calls int
	name  string
	value string
	err   error
}

func (f *fakeStore) SecureString(_ context.Context, name string) (string, error) {
	f.calls++
	f.name = name
	return f.value, f.err
}

func TestSecrets(t *testing.T) {
	tests := []struct {
		name      string
		env       map[string]string
		store     *fakeStore
		want      string
		wantErr   string
		wantCalls int
	}{
		{name: "variable wins, no Parameter Store call", env: map[string]string{"K": "k1", "K_PARAMETER": "/p"}, store: &fakeStore{value: "k2"}, want: "k1"},
		{name: "from Parameter Store", env: map[string]string{"K_PARAMETER": "/app/isv-key"}, store: &fakeStore{value: "k2"}, want: "k2", wantCalls: 1},
		{name: "neither set", env: map[string]string{}, store: &fakeStore{}, wantErr: "set K or K_PARAMETER"},
		{name: "Parameter Store fails", env: map[string]string{"K_PARAMETER": "/p"}, store: &fakeStore{err: errors.New("AccessDeniedException")}, wantErr: "read parameter /p: AccessDeniedException", wantCalls: 1},
		{name: "empty parameter", env: map[string]string{"K_PARAMETER": "/p"}, store: &fakeStore{}, wantErr: "parameter /p is empty", wantCalls: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &Secrets{lookup: func(n string) (string, bool) { v, ok := tt.env[n]; return v, ok }, store: tt.store}
			got, err := s.Get(context.Background(), "K")
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
			} else if err != nil || got != tt.want {
				t.Fatalf("got %q, %v; want %q", got, err, tt.want)
			}
			if tt.store.calls != tt.wantCalls {
				t.Fatalf("%d Parameter Store calls, want %d", tt.store.calls, tt.wantCalls)
			}
		})
	}
}

func TestEnv(t *testing.T) {
	env := FromMap(map[string]string{"D": "90s", "B": "false", "N": "7", "S": "x", "BAD_D": "soon", "BAD_B": "yes", "BAD_N": "-1"})
	if env.Duration("D", 0) != 90*time.Second || env.Duration("UNSET", 5*time.Minute) != 5*time.Minute {
		t.Fatal("durations")
	}
	if env.Bool("B", true) || !env.Bool("UNSET", true) || env.Int("N", 1) != 7 || env.Get("S", "") != "x" || env.Required("S") != "x" {
		t.Fatal("values")
	}
	if err := env.Err(); err != nil {
		t.Fatalf("no problem yet: %v", err)
	}
	env.Duration("BAD_D", 0)
	env.Bool("BAD_B", false)
	env.Int("BAD_N", 1)
	env.Required("MISSING_TABLE")
	err := env.Err()
	// Every problem is named at once, so one failed init says it all.
	for _, want := range []string{"BAD_D", "BAD_B", "BAD_N", "MISSING_TABLE is not set"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not name %s", err, want)
		}
	}
}

func TestEnvList(t *testing.T) {
	env := FromMap(map[string]string{"L": " a, b ,,c ", "E": ""})
	if got := env.List("L"); !slices.Equal(got, []string{"a", "b", "c"}) {
		t.Fatalf("List = %q", got)
	}
	if env.List("E") != nil || env.List("UNSET") != nil {
		t.Fatal("an empty or unset list is nil")
	}
}

// batchStore reads several parameters at once, counting its calls.
type batchStore struct {
	values map[string]string
	calls  [][]string
}

func (b *batchStore) SecureString(ctx context.Context, name string) (string, error) {
	v, err := b.SecureStrings(ctx, []string{name})
	return v[name], err
}

func (b *batchStore) SecureStrings(_ context.Context, names []string) (map[string]string, error) {
	b.calls = append(b.calls, names)
	out := map[string]string{}
	for _, n := range names {
		v, ok := b.values[n]
		if !ok {
			return nil, errors.New("ParameterNotFound " + n)
		}
		out[n] = v
	}
	return out, nil
}

// TestSecretsInOneCall: a function's start reads every secret its
// environment names by parameter in one call, and none it has directly.
func TestSecretsInOneCall(t *testing.T) {
	store := &batchStore{values: map[string]string{"/p/isv": "k", "/p/ak": "a", "/p/sk": "s"}}
	s := FromMap(map[string]string{
		"MARKET_ISV_KEY_PARAMETER": "/p/isv", "MARKET_ACCESS_KEY_ID_PARAMETER": "/p/ak", "MARKET_ACCESS_KEY_SECRET_PARAMETER": "/p/sk",
		"CODE_HASH_SECRET": "direct", "CODE_HASH_SECRET_PARAMETER": "/p/unread", "STAGE": "dev",
	}).Secrets(store)
	for name, want := range map[string]string{"MARKET_ISV_KEY": "k", "MARKET_ACCESS_KEY_ID": "a", "MARKET_ACCESS_KEY_SECRET": "s", "CODE_HASH_SECRET": "direct"} {
		if got, err := s.Get(context.Background(), name); err != nil || got != want {
			t.Fatalf("%s: %q %v", name, got, err)
		}
	}
	if len(store.calls) != 1 || len(store.calls[0]) != 3 {
		t.Fatalf("calls %v, want one of the three parameters", store.calls)
	}
	// A failed read is not remembered: the next Get asks again.
	failing := &batchStore{values: map[string]string{}}
	s = FromMap(map[string]string{"K_PARAMETER": "/p/k"}).Secrets(failing)
	for range 2 {
		if _, err := s.Get(context.Background(), "K"); err == nil {
			t.Fatal("a missing parameter read")
		}
	}
	if len(failing.calls) != 2 {
		t.Fatalf("calls %v", failing.calls)
	}
}
