package outbox

import (
	"strings"
	"testing"
)

// The properties a rotation keeps.
func TestSealerRotationProperties(t *testing.T) {
	oldS, _ := NewSealer("old-secret-0123456789abcdef")
	newS, err := NewSealer("new-secret-0123456789abcdef", "old-secret-0123456789abcdef")
	if err != nil {
		t.Fatal(err)
	}
	v := oldS.Seal("item-1", "123456")
	if got, err := newS.Open("item-1", v); err != nil || got != "123456" {
		t.Fatalf("previous key: %q %v", got, err)
	}
	if _, err := newS.Open("item-2", v); err == nil {
		t.Fatal("moved to another item")
	}
	_, rest, _ := strings.Cut(v, ".")
	if _, err := newS.Open("item-1", "deadbeef."+rest); err == nil {
		t.Fatal("unknown key id opened")
	}
	if got, err := newS.Open("item-1", rest); err != nil || got != "123456" {
		t.Fatalf("legacy: %q %v", got, err)
	}
	third, _ := NewSealer("third-secret-0123456789abcdef", "new-secret-0123456789abcdef")
	if _, err := third.Open("item-1", v); err == nil {
		t.Fatal("a key two rotations back opened")
	}
}

// A malformed previous secret (a rotation's) never stops the outbox or
// the reconciliation from starting: the current secret is fine.
func TestABadPreviousSecretStartsAll(t *testing.T) {
	if _, err := NewSealer("new-secret-0123456789abcdef", "short"); err != nil {
		t.Fatalf("a bad previous secret refuses the sealer (function init fails): %v", err)
	}
}
