package sites

import (
	"strings"
	"testing"
)

func TestParseLoginURLs(t *testing.T) {
	got, err := ParseLoginURLs(" cn1=https://console.example.com/login , us1=https://us1.example.com/login")
	if err != nil || got["cn1"] != "https://console.example.com/login" || got["us1"] != "https://us1.example.com/login" || len(got) != 2 {
		t.Fatalf("got %v, %v", got, err)
	}
	for setting, want := range map[string]string{
		"":                      "none configured",
		"cn1":                   "is not code=url",
		"xx9=https://a.example": "unknown site",
		"cn1=not a url":         "no valid URL",
		"cn1=ftp://a.example":   "no valid URL",
	} {
		if _, err := ParseLoginURLs(setting); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", setting, err, want)
		}
	}
	if len(All) != 9 || !Known("id1") || Known("cn3") {
		t.Fatal("site list")
	}
}
