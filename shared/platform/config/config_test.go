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

// batchStore reads several parameters at once, counting its calls: as
// SSM, it leaves out the names it does not hold; down, every call fails.
type batchStore struct {
	values map[string]string
	down   bool
	calls  [][]string
}

func (b *batchStore) SecureString(ctx context.Context, name string) (string, error) {
	v, err := b.SecureStrings(ctx, []string{name})
	if err != nil {
		return "", err
	}
	if _, ok := v[name]; !ok {
		return "", errors.New("ParameterNotFound " + name)
	}
	return v[name], nil
}

func (b *batchStore) SecureStrings(_ context.Context, names []string) (map[string]string, error) {
	b.calls = append(b.calls, names)
	if b.down {
		return nil, errors.New("ThrottlingException")
	}
	out := map[string]string{}
	for _, n := range names {
		if v, ok := b.values[n]; ok {
			out[n] = v
		}
	}
	return out, nil
}

// TestSecretsInOneCall: a function's start reads every secret its
// environment names by parameter in one call, and none it has directly;
// a parameter misnamed fails only the secret that names it (an optional
// one, without stopping anything); a failed call is not remembered.
func TestSecretsInOneCall(t *testing.T) {
	store := &batchStore{values: map[string]string{"/p/isv": "k", "/p/ak": "a", "/p/sk": "s"}}
	s := FromMap(map[string]string{
		"MARKET_ISV_KEY_PARAMETER": "/p/isv", "MARKET_ACCESS_KEY_ID_PARAMETER": "/p/ak", "MARKET_ACCESS_KEY_SECRET_PARAMETER": "/p/sk",
		"MARKET_ISV_KEY_PREVIOUS_PARAMETER": "/p/isv-typo",
		"CODE_HASH_SECRET":                  "direct", "CODE_HASH_SECRET_PARAMETER": "/p/unread", "STAGE": "dev",
	}).Secrets(store)
	for name, want := range map[string]string{"MARKET_ISV_KEY": "k", "MARKET_ACCESS_KEY_ID": "a", "MARKET_ACCESS_KEY_SECRET": "s", "CODE_HASH_SECRET": "direct"} {
		if got, err := s.Get(context.Background(), name); err != nil || got != want {
			t.Fatalf("%s: %q %v", name, got, err)
		}
	}
	if v, err := s.Optional(context.Background(), "MARKET_ISV_KEY_PREVIOUS"); v != "" || !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "/p/isv-typo") {
		t.Fatalf("a misnamed optional secret: %q %v", v, err)
	}
	if v, err := s.Optional(context.Background(), "NOT_SET_AT_ALL"); v != "" || err != nil {
		t.Fatalf("an optional secret not set: %q %v", v, err)
	}
	if len(store.calls) != 1 || len(store.calls[0]) != 4 {
		t.Fatalf("calls %v, want one of the four parameters", store.calls)
	}
	down := &batchStore{down: true}
	s = FromMap(map[string]string{"K_PARAMETER": "/p/k"}).Secrets(down)
	for range 2 {
		if _, err := s.Get(context.Background(), "K"); err == nil {
			t.Fatal("read while SSM is down")
		}
	}
	down.down, down.values = false, map[string]string{"/p/k": "v"}
	if v, err := s.Get(context.Background(), "K"); err != nil || v != "v" {
		t.Fatalf("after SSM came back: %q %v", v, err)
	}
}

// TestSecretsWithoutTheirNewline: a value put from a file (with its final
// newline) is the key without it.
func TestSecretsWithoutTheirNewline(t *testing.T) {
	store := &batchStore{values: map[string]string{"/p/isv": "k-123\n"}}
	s := FromMap(map[string]string{"MARKET_ISV_KEY_PARAMETER": "/p/isv", "CODE_HASH_SECRET": "  direct\r\n"}).Secrets(store)
	for name, want := range map[string]string{"MARKET_ISV_KEY": "k-123", "CODE_HASH_SECRET": "direct"} {
		if got, err := s.Get(context.Background(), name); err != nil || got != want {
			t.Errorf("%s: %q %v", name, got, err)
		}
	}
}
