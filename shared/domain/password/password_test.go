package password

import (
	"errors"
	"strings"
	"testing"
)

// fast keeps the tests quick; Default is measured by the benchmark.
var fast = Params{MemoryKiB: 64, Time: 1, Threads: 1}

func TestHashAndVerify(t *testing.T) {
	h, err := Hash("correct horse 1", fast)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=64,t=1,p=1$") || strings.Contains(h, "correct") {
		t.Fatalf("hash %q", h)
	}
	if ok, err := Verify("correct horse 1", h); err != nil || !ok {
		t.Fatalf("right password: %v %v", ok, err)
	}
	if ok, err := Verify("correct horse 2", h); err != nil || ok {
		t.Fatalf("wrong password: %v %v", ok, err)
	}
	again, _ := Hash("correct horse 1", fast)
	if again == h {
		t.Fatal("each hash must have its own salt")
	}
	for _, bad := range []string{"", "plain", "$argon2i$v=19$m=64,t=1,p=1$AAAA$AAAA", "$argon2id$v=18$m=64,t=1,p=1$AAAA$AAAA", "$argon2id$v=19$m=0,t=1,p=1$AAAA$AAAA", "$argon2id$v=19$m=64,t=1,p=1$!!$AAAA"} {
		if _, err := Verify("x", bad); !errors.Is(err, ErrMalformedHash) {
			t.Errorf("%q: %v", bad, err)
		}
	}
}

// BenchmarkHashDefault is the time of one hash with the product's
// parameters, as registration pays it.
func BenchmarkHashDefault(b *testing.B) {
	for b.Loop() {
		if _, err := Hash("correct horse 1", Default); err != nil {
			b.Fatal(err)
		}
	}
}
