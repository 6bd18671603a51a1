package guance

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// FieldError says which field of a form is wrong; Key is the message of
// the catalogue that tells the buyer how to put it right.
type FieldError struct {
	Field string
	Key   string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Key }

func bad(field, key string) *FieldError { return &FieldError{Field: field, Key: key} }

// Username: 4 to 32 letters, digits, '_', '-' or '.', starting with a
// letter; case-insensitive, so it is returned in lower case.
func Username(s string) (string, *FieldError) {
	s = strings.ToLower(strings.TrimSpace(s))
	if s == "" {
		return "", bad("username", "field.username.required")
	}
	if len(s) < 4 || len(s) > 32 || s[0] < 'a' || s[0] > 'z' {
		return "", bad("username", "field.username")
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.') {
			return "", bad("username", "field.username")
		}
	}
	return s, nil
}

// Password: 8 to 32 characters with at least a letter and a digit, not
// containing the username, and typed twice alike.
func Password(pw, confirm, username string) *FieldError {
	n := utf8.RuneCountInString(pw)
	var letter, digit bool
	for _, r := range pw {
		letter = letter || unicode.IsLetter(r)
		digit = digit || unicode.IsDigit(r)
	}
	switch {
	case n < 8 || n > 32 || !letter || !digit:
		return bad("password", "field.password")
	case username != "" && strings.Contains(strings.ToLower(pw), strings.ToLower(username)):
		return bad("password", "field.password.username")
	case pw != confirm:
		return bad("confirm", "field.confirm")
	}
	return nil
}

// Phone is optional; when given, a common international format: an
// optional +, then 6 to 20 digits, spaces and dashes allowed between.
// It is returned without the spaces and dashes.
func Phone(s string) (string, *FieldError) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", nil
	}
	var b strings.Builder
	for i, r := range s {
		switch {
		case r == '+' && i == 0:
			b.WriteRune(r)
		case r >= '0' && r <= '9':
			b.WriteRune(r)
		case r == ' ' || r == '-':
		default:
			return "", bad("phone", "field.phone")
		}
	}
	digits := strings.TrimPrefix(b.String(), "+")
	if len(digits) < 6 || len(digits) > 20 {
		return "", bad("phone", "field.phone")
	}
	return b.String(), nil
}

// Text is a required or optional one-line text of at most max visible
// characters (letters, marks, numbers, punctuation, symbols, spaces: no
// control or format characters), trimmed.
//
// It is kept in Unicode NFC, so that one name is written one way; bytes
// that are not UTF-8 do not pass.
func Text(field, s string, max int, required bool) (string, *FieldError) {
	if !utf8.ValidString(s) {
		return "", bad(field, "field."+field)
	}
	s = norm.NFC.String(strings.TrimSpace(s))
	if s == "" {
		if required {
			return "", bad(field, "field."+field)
		}
		return "", nil
	}
	if utf8.RuneCountInString(s) > max || !visible(s) {
		return "", bad(field, "field."+field)
	}
	return s, nil
}

func visible(s string) bool {
	for _, r := range s {
		if r == ' ' {
			continue
		}
		if !unicode.IsGraphic(r) || unicode.Is(unicode.Cf, r) {
			return false
		}
	}
	return true
}

// WorkspaceName: 1 to 50 visible characters.
func WorkspaceName(s string) (string, *FieldError) { return Text("workspace", s, 50, true) }

// CompanyName: 1 to 100 visible characters.
func CompanyName(s string) (string, *FieldError) { return Text("company", s, 100, true) }

// Description: at most 500 characters, lines allowed.
func Description(s string) (string, *FieldError) {
	if !utf8.ValidString(s) {
		return "", bad("description", "field.description")
	}
	s = norm.NFC.String(strings.TrimSpace(s))
	if utf8.RuneCountInString(s) > 500 {
		return "", bad("description", "field.description")
	}
	for _, r := range s {
		if r != '\n' && r != '\r' && r != '\t' && (!unicode.IsGraphic(r) || unicode.Is(unicode.Cf, r)) && r != ' ' {
			return "", bad("description", "field.description")
		}
	}
	return s, nil
}
