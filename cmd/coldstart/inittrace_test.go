package main

import (
	"os"
	"os/exec"
	"testing"
	"time"
)

func TestParseInitTrace(t *testing.T) {
	stderr := []byte(`init internal/bytealg @0.008 ms, 0 ms clock, 0 bytes, 0 allocs
init runtime @0.090 ms, 0.10 ms clock, 0 bytes, 0 allocs
some log line the process wrote
init github.com/aws/aws-sdk-go-v2/service/dynamodb @2.1 ms, 1.3 ms clock, 52416 bytes, 610 allocs
init  broken @x ms, 1 ms clock, 0 bytes, 0 allocs
init crypto/x509 @12 ms, 15 ms clock, 229376 bytes, 2040 allocs
init unicode @1.0 ms, 0.57 ms clock, 24 bytes, 1 allocs`)
	inits := ParseInitTrace(stderr)
	if len(inits) != 5 {
		t.Fatalf("%d inits: %+v", len(inits), inits)
	}
	want := PackageInit{Package: "github.com/aws/aws-sdk-go-v2/service/dynamodb", At: 2100 * time.Microsecond, Clock: 1300 * time.Microsecond, Bytes: 52416, Allocs: 610}
	if inits[2] != want {
		t.Errorf("got %+v, want %+v", inits[2], want)
	}
	if inits[4].Clock != 570*time.Microsecond {
		t.Errorf("0.57 ms parsed as %s", inits[4].Clock)
	}

	top := TopInits(inits, 3)
	var names []string
	for _, in := range top {
		names = append(names, in.Package)
	}
	wantNames := []string{"crypto/x509", "github.com/aws/aws-sdk-go-v2/service/dynamodb", "unicode"}
	if len(names) != 3 || names[0] != wantNames[0] || names[1] != wantNames[1] || names[2] != wantNames[2] {
		t.Errorf("top 3: %v, want %v", names, wantNames)
	}
	if got := TotalClock(inits); got != (15000+1300+100+570)*time.Microsecond {
		t.Errorf("total clock %s", got)
	}
	if got := TopInits(inits, 10); len(got) != 5 {
		t.Errorf("top 10 of 5: %d", len(got))
	}
}

// The format is the runtime's, not a promise: check it against this very
// Go version's output, from the test binary itself.
func TestParseInitTraceOfThisRuntime(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), "GODEBUG=inittrace=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	inits := ParseInitTrace(out)
	found := false
	for _, in := range inits {
		if in.Package == "os" {
			found = true
		}
	}
	if len(inits) < 10 || !found {
		t.Errorf("parsed %d package inits (os among them: %t) from:\n%s", len(inits), found, out)
	}
}
