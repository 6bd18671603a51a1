package marketplace

import "testing"

// Two keys tried never widen what is accepted.
func TestTwoKeys(t *testing.T) {
	p := Params{"action": "renewInstance", "instanceId": "1"}
	if _, err := VerifyTokenOf(p.Signed(""), "cur", ""); err == nil {
		t.Fatal("a token signed with the empty key passed")
	}
	if _, err := VerifyTokenOf(p.Signed(""), "", ""); err == nil {
		t.Fatal("no keys at all accepted a token")
	}
	if i, err := VerifyTokenOf(p.Signed("same"), "same", "same"); err != nil || i != 0 {
		t.Fatalf("equal keys: %d %v", i, err)
	}
	if _, err := VerifyTokenOf(p.Signed("other"), "cur", "prev"); err == nil {
		t.Fatal("foreign key passed")
	}
}
