package i18n

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"

	"github.com/guance/aliyun-marketplace/shared/domain/sites"
)

func TestNegotiate(t *testing.T) {
	tests := []struct {
		values []string
		want   Lang
	}{
		{nil, ZH},
		{[]string{""}, ZH},
		{[]string{"en"}, EN},
		{[]string{"en-US,en;q=0.9"}, EN},
		{[]string{"zh-CN,zh;q=0.9,en;q=0.8"}, ZH},
		{[]string{"fr-FR,en;q=0.5,zh;q=0.4"}, EN},
		// What the Lambda adapter makes of the same header: one value per comma.
		{[]string{"fr-FR", "en;q=0.5", "zh;q=0.4"}, EN},
		{[]string{"fr-FR", "zh-TW;q=0.7", "en;q=0.6"}, ZH},
		{[]string{"de"}, ZH},
		{[]string{"en;q=0,zh;q=0.1"}, ZH},
		{[]string{"EN-gb"}, EN},
		{[]string{"en;q=abc,zh;q=0.2"}, ZH},
		{[]string{"en;q=2"}, ZH},
	}
	for _, tt := range tests {
		if got := Negotiate(tt.values...); got != tt.want {
			t.Errorf("Negotiate(%q) = %s, want %s", tt.values, got, tt.want)
		}
	}
}

var verb = regexp.MustCompile(`%[sdv]`)

// TestCatalogueComplete: every text exists in both languages with the same
// arguments, so no page shows a key, a %!d(MISSING) or a silent fallback.
func TestCatalogueComplete(t *testing.T) {
	for key, e := range catalogue {
		if strings.TrimSpace(e.ZH) == "" || strings.TrimSpace(e.EN) == "" {
			t.Errorf("%s: missing a language", key)
		}
		zh, en := verb.FindAllString(e.ZH, -1), verb.FindAllString(e.EN, -1)
		if strings.Join(zh, "") != strings.Join(en, "") {
			t.Errorf("%s: arguments differ: zh %v, en %v", key, zh, en)
		}
		if e.EnOne != "" && strings.Join(verb.FindAllString(e.EnOne, -1), "") != strings.Join(en, "") {
			t.Errorf("%s: the singular form takes other arguments", key)
		}
	}
}

func TestPlural(t *testing.T) {
	tests := []struct {
		lang Lang
		n    int
		want string
	}{
		{EN, 1, "The code is wrong. 1 try left."},
		{EN, 2, "The code is wrong. 2 tries left."},
		{EN, 0, "The code is wrong. 0 tries left."},
		{ZH, 1, "验证码不正确，还可尝试 1 次。"},
	}
	for _, tt := range tests {
		if got := T(tt.lang, "code.error.wrong", tt.n); got != tt.want {
			t.Errorf("%s %d: %q, want %q", tt.lang, tt.n, got, tt.want)
		}
	}
	if got := M("code.error.cooldown", 1).In(EN); got != "A code was just sent. Wait 1 second before asking for another." {
		t.Errorf("cooldown: %q", got)
	}
	if got := (Message{}).In(EN); got != "" {
		t.Errorf("zero message renders %q", got)
	}
}

func TestEverySiteHasItsName(t *testing.T) {
	for _, s := range sites.All {
		for _, lang := range Langs {
			if got := T(lang, "site."+s.Code); got == "site."+s.Code || !strings.Contains(got, s.Code) {
				t.Errorf("site %s in %s: %q", s.Code, lang, got)
			}
		}
	}
}

func TestMessageJSON(t *testing.T) {
	m := M("code.error.wrong", 1)
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	var back Message
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if back.In(EN) != m.In(EN) || back.In(ZH) != m.In(ZH) {
		t.Fatalf("%q != %q", back.In(EN), m.In(EN))
	}
}
