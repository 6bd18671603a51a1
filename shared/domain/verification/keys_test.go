package verification_test

import (
	"context"
	"errors"
	"testing"

	"github.com/guance/aliyun-marketplace/shared/domain/verification"
)

type secrets map[string]string

func (s secrets) Get(_ context.Context, name string) (string, error) {
	v, ok := s[name]
	if !ok {
		return "", errors.New("no such secret")
	}
	return v, nil
}

// TestLoadKeys: both keys come from CODE_HASH_SECRET; a missing or short
// secret stops the function at init rather than hashing with it.
func TestLoadKeys(t *testing.T) {
	hasher, sealer, err := verification.LoadKeys(context.Background(), secrets{verification.CodeSecret: "a-test-secret-of-enough-length"})
	if err != nil {
		t.Fatal(err)
	}
	if hasher.Hash(verification.Register, "a@example.com", "123456") == "" {
		t.Fatal("no hash")
	}
	if code, err := sealer.Open("id", sealer.Seal("id", "123456")); err != nil || code != "123456" {
		t.Fatalf("seal and open: %q %v", code, err)
	}
	for name, s := range map[string]secrets{"missing": {}, "short": {verification.CodeSecret: "short"}} {
		if _, _, err := verification.LoadKeys(context.Background(), s); err == nil {
			t.Errorf("%s secret accepted", name)
		}
	}
}
