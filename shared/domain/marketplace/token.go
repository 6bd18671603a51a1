package marketplace

import (
	"crypto/md5"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"sort"
	"strings"
)

// TokenParam is the parameter that carries the signature of every SPI call.
const TokenParam = "token"

var (
	// ErrMissingToken means the call carried no token at all.
	ErrMissingToken = errors.New("the token parameter is missing")
	// ErrTokenMismatch means the token does not match the parameters and the ISV key.
	ErrTokenMismatch = errors.New("the token does not match the parameters")
)

// Canonical is the string the marketplace hashes: every parameter except the
// token, decoded, sorted by name, joined as name=value with '&', followed by
// "&key=" and the ISV key. Every parameter present counts, never a fixed
// list, because the marketplace adds parameters over time.
func Canonical(params Params, key string) string {
	names := make([]string, 0, len(params))
	for name := range params {
		if name != TokenParam {
			names = append(names, name)
		}
	}
	sort.Strings(names)

	var b strings.Builder
	for _, name := range names {
		b.WriteString(name)
		b.WriteByte('=')
		b.WriteString(params[name])
		b.WriteByte('&')
	}
	b.WriteString("key=")
	b.WriteString(key)
	return b.String()
}

// Sign returns the token the marketplace would send with params: the
// lower-case hex MD5 of Canonical(params, key). The token parameter itself,
// if present, is ignored.
func Sign(params Params, key string) string {
	sum := md5.Sum([]byte(Canonical(params, key)))
	return hex.EncodeToString(sum[:])
}

// VerifyToken checks the token of params against key. The comparison runs in
// constant time and ignores the case of the hex digits.
func VerifyToken(params Params, key string) error {
	_, err := VerifyTokenOf(params, key)
	return err
}

// VerifyTokenOf checks the token of params against each key (the current
// ISV key, then the previous one while a rotation lasts; an empty key is
// skipped) and says which signed it. Every key is compared, in constant
// time, so the answer's timing does not tell which matched.
func VerifyTokenOf(params Params, keys ...string) (int, error) {
	given, ok := params[TokenParam]
	if !ok || given == "" {
		return -1, ErrMissingToken
	}
	given = strings.ToLower(given)
	match := -1
	for i, key := range keys {
		if key == "" {
			continue
		}
		if subtle.ConstantTimeCompare([]byte(given), []byte(Sign(params, key))) == 1 && match < 0 {
			match = i
		}
	}
	if match < 0 {
		return -1, ErrTokenMismatch
	}
	return match, nil
}
