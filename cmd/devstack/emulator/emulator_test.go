package emulator

import "testing"

func TestIsFunctionError(t *testing.T) {
	tests := map[string]bool{
		`{"errorMessage":"boom","errorType":"Panic"}`:                      true,
		`{"errorType":"Runtime.ExitError","errorMessage":"exit status 1"}`: true,
		`{"statusCode":500,"body":"{\"errorMessage\":\"x\"}"}`:             false,
		`{"statusCode":200,"body":"errorType errorMessage"}`:               false,
		`Task timed out after 10.00 seconds`:                               false,
		`null`:                                                             false,
	}
	for body, want := range tests {
		if got := isFunctionError([]byte(body)); got != want {
			t.Errorf("%s: %v, want %v", body, got, want)
		}
	}
}
