package guance

import (
	"strings"
	"testing"
)

func TestUsername(t *testing.T) {
	for in, want := range map[string]string{
		"Alice":                 "alice",
		" bob_2 ":               "bob_2",
		"a.b-c":                 "a.b-c",
		"abcd":                  "abcd",
		"abc":                   "",
		"1abc":                  "",
		"_abc":                  "",
		"ab cd":                 "",
		"abc@d":                 "",
		"名字名字":                  "",
		strings.Repeat("a", 32): strings.Repeat("a", 32),
		strings.Repeat("a", 33): "",
	} {
		got, err := Username(in)
		if got != want || (want == "") != (err != nil) {
			t.Errorf("Username(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}

func TestPassword(t *testing.T) {
	tests := []struct {
		pw, confirm, user string
		field             string
	}{
		{"abcdef12", "abcdef12", "alice", ""},
		{"密码密码密码12", "密码密码密码12", "alice", ""},
		{"abcdefgh", "abcdefgh", "alice", "password"},
		{"12345678", "12345678", "alice", "password"},
		{"abc12", "abc12", "alice", "password"},
		{strings.Repeat("a1", 17), strings.Repeat("a1", 17), "alice", "password"},
		{"xxALICE99", "xxALICE99", "alice", "password"},
		{"abcdef12", "abcdef13", "alice", "confirm"},
	}
	for _, tt := range tests {
		err := Password(tt.pw, tt.confirm, tt.user)
		got := ""
		if err != nil {
			got = err.Field
		}
		if got != tt.field {
			t.Errorf("Password(%q, %q, %q) = %v, want field %q", tt.pw, tt.confirm, tt.user, err, tt.field)
		}
	}
	if err := Password("xxALICE99", "xxALICE99", "alice"); err.Key != "field.password.username" {
		t.Errorf("containing the username: %v", err)
	}
}

func TestPhone(t *testing.T) {
	for in, want := range map[string]string{
		"":                       "",
		"+86 138-0013-8000":      "+8613800138000",
		"13800138000":            "13800138000",
		"+1 (555) 010":           "!",
		"12345":                  "!",
		"+123456789012345678901": "!",
		"138 0013 8000 x2":       "!",
	} {
		got, err := Phone(in)
		if want == "!" {
			if err == nil {
				t.Errorf("Phone(%q) accepted as %q", in, got)
			}
			continue
		}
		if err != nil || got != want {
			t.Errorf("Phone(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}

func TestTexts(t *testing.T) {
	for _, tt := range []struct {
		in   string
		ok   bool
		want string
	}{
		{"  生产环境 ", true, "生产环境"},
		{"prod (eu)", true, "prod (eu)"},
		{"", false, ""},
		{"   ", false, ""},
		{strings.Repeat("工", 50), true, strings.Repeat("工", 50)},
		{strings.Repeat("工", 51), false, ""},
		{"a\u200bb", false, ""},
		{"a\nb", false, ""},
		{"a\x00b", false, ""},
	} {
		got, err := WorkspaceName(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("WorkspaceName(%q) = %q, %v", tt.in, got, err)
		}
	}
	if _, err := CompanyName(""); err == nil || err.Field != "company" {
		t.Fatal("a company name is required")
	}
	if got, err := Text("industry", "", 50, false); err != nil || got != "" {
		t.Fatal("an optional text may be empty")
	}
	if _, err := Description("line one\nline two"); err != nil {
		t.Fatal(err)
	}
	if _, err := Description(strings.Repeat("x", 501)); err == nil {
		t.Fatal("a long description")
	}
}

func TestWorkspaceID(t *testing.T) {
	a, b := NewWorkspaceID(), NewWorkspaceID()
	if a == b || len(a) != 37 || !strings.HasPrefix(a, "wksp_") {
		t.Fatalf("%q %q", a, b)
	}
	for id, want := range map[string]bool{
		a: true, "wksp_demo_production": true, "wksp_a-b": true,
		"": false, "wksp_": false, "wksp": false, "ws_123": false, "wksp_a b": false, "wksp_é": false,
		"wksp_" + strings.Repeat("a", 60): false, "wksp_x\x00": false,
	} {
		if got := WellFormedWorkspaceID(id); got != want {
			t.Errorf("WellFormedWorkspaceID(%q) = %v", id, got)
		}
	}
}

// TestNamesAreOneWayOfWriting: bytes that are not UTF-8 do not pass, and
// a name is kept in NFC, so é typed as one character or as e and a
// combining accent is the same name.
func TestNamesAreOneWayOfWriting(t *testing.T) {
	if _, err := WorkspaceName("prod\xff"); err == nil {
		t.Error("a workspace name that is not UTF-8 passed")
	}
	if _, err := Description("notes\xc3"); err == nil {
		t.Error("a description that is not UTF-8 passed")
	}
	composed, _ := CompanyName("Caf\u00e9")
	decomposed, _ := CompanyName("Cafe\u0301")
	if composed != decomposed || composed != "Caf\u00e9" {
		t.Errorf("%q and %q are two ways of one name", composed, decomposed)
	}
}
