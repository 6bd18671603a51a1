// Package i18n is the product's one message catalogue: every text a page or
// a mail shows, in Chinese and English, looked up by key. Pages and mails
// share it, so a term (a billing center account, Login Without Password)
// reads the same wherever the buyer meets it.
package i18n

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Lang is a language of pages and mails.
type Lang string

// The product's languages.
const (
	ZH Lang = "zh"
	EN Lang = "en"
)

// Langs lists the languages in the order a switcher offers them.
var Langs = []Lang{ZH, EN}

// ParseLang accepts "zh" or "en".
func ParseLang(s string) (Lang, bool) {
	switch Lang(s) {
	case ZH, EN:
		return Lang(s), true
	}
	return "", false
}

// Or returns the language s names, or fallback when it names none.
func Or(s string, fallback Lang) Lang {
	if l, ok := ParseLang(s); ok {
		return l
	}
	return fallback
}

// HTMLLang is the value of an html lang attribute for l.
func (l Lang) HTMLLang() string {
	if l == EN {
		return "en"
	}
	return "zh-CN"
}

// Other is the language a switcher offers from l.
func (l Lang) Other() Lang {
	if l == ZH {
		return EN
	}
	return ZH
}

// Negotiate picks the language from Accept-Language header values: the
// buyer's most preferred language we have, by weight; Chinese when none
// matches, since the marketplace's buyers mostly read it.
//
// It takes every value of the header, because the Lambda adapter splits a
// header at its commas into several values: reading only the first would
// see "fr-FR" of "fr-FR,en;q=0.5" and never the English behind it.
func Negotiate(values ...string) Lang {
	best, bestQ := ZH, 0.0
	for _, value := range values {
		for _, part := range strings.Split(value, ",") {
			tag, params, _ := strings.Cut(strings.TrimSpace(part), ";")
			q := 1.0
			if v, ok := strings.CutPrefix(strings.TrimSpace(params), "q="); ok {
				parsed, err := strconv.ParseFloat(v, 64)
				if err != nil || parsed < 0 || parsed > 1 {
					continue
				}
				q = parsed
			}
			primary, _, _ := strings.Cut(strings.ToLower(strings.TrimSpace(tag)), "-")
			if lang, ok := ParseLang(primary); ok && q > bestQ {
				best, bestQ = lang, q
			}
		}
	}
	return best
}

// text is one catalogue entry. EnOne, when set, is the English text for a
// count of exactly one (the first argument): "1 try left", not "1 tries".
// Chinese has no plural forms.
type text struct {
	ZH, EN, EnOne string
}

// T returns the text of key in lang, formatted with args. A missing key
// comes back as the key itself, which the catalogue test never lets ship.
func T(lang Lang, key string, args ...any) string {
	entry, ok := catalogue[key]
	if !ok {
		return key
	}
	msg := entry.ZH
	if lang == EN {
		msg = entry.EN
		if entry.EnOne != "" && len(args) > 0 && isOne(args[0]) {
			msg = entry.EnOne
		}
	}
	if len(args) > 0 {
		return fmt.Sprintf(msg, args...)
	}
	return msg
}

func isOne(v any) bool {
	switch n := v.(type) {
	case int:
		return n == 1
	case int64:
		return n == 1
	}
	return false
}

// Message is a key with its arguments, rendered later in the reader's
// language (a field error, a notice).
type Message struct {
	Key  string
	Args []any
}

// M is a Message for key with args.
func M(key string, args ...any) Message { return Message{Key: key, Args: args} }

// In renders m in lang; the zero Message renders empty.
func (m Message) In(lang Lang) string {
	if m.Key == "" {
		return ""
	}
	return T(lang, m.Key, m.Args...)
}

// IsZero reports whether m holds no message.
func (m Message) IsZero() bool { return m.Key == "" }

// Keys lists every key of the catalogue, for tests.
func Keys() []string {
	keys := make([]string, 0, len(catalogue))
	for k := range catalogue {
		keys = append(keys, k)
	}
	return keys
}

// UnmarshalJSON reads a Message kept as JSON (a draft's refusal). Whole
// numbers come back as int, as the catalogue's %d and plural forms want.
func (m *Message) UnmarshalJSON(b []byte) error {
	var raw struct {
		Key  string
		Args []any
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	for i, a := range raw.Args {
		if f, ok := a.(float64); ok && f == math.Trunc(f) && math.Abs(f) < 1<<53 {
			raw.Args[i] = int(f)
		}
	}
	m.Key, m.Args = raw.Key, raw.Args
	return nil
}
