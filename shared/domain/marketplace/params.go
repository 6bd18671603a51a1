package marketplace

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// Params are the decoded parameters of one SPI call, by name. A name given
// more than once is refused when the call is read, so each has one value.
type Params map[string]string

// ErrUnsupportedBody means a POST carried a body that is not form-encoded.
var ErrUnsupportedBody = errors.New("the body must be application/x-www-form-urlencoded")

// ParamError says which parameter of a call is wrong and why.
type ParamError struct {
	Param  string
	Reason string
}

func (e *ParamError) Error() string {
	if e.Param == "" {
		return e.Reason
	}
	return fmt.Sprintf("parameter %s: %s", e.Param, e.Reason)
}

// ReadParams collects the parameters of r from its query string and, for a
// POST, from its form-encoded body. The caller bounds the body size (for
// example with http.MaxBytesReader); a read error is returned as it is.
func ReadParams(r *http.Request) (Params, error) {
	params := Params{}
	if err := addEncoded(params, r.URL.RawQuery); err != nil {
		return nil, err
	}
	if r.Method != http.MethodPost || r.Body == nil {
		return params, nil
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return nil, fmt.Errorf("read body: %w", err)
	}
	if len(body) == 0 {
		return params, nil
	}
	if mediaType, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mediaType != "application/x-www-form-urlencoded" {
		return nil, ErrUnsupportedBody
	}
	if err := addEncoded(params, string(body)); err != nil {
		return nil, err
	}
	return params, nil
}

// ParseMessage reads the parameters of a message the marketplace failed to
// deliver, as DescribeFailedNotifications lists it: a JSON object of the
// parameters (documented), or a query string. A value that is not a plain
// string, number or boolean is kept as its JSON text: a field added later
// never makes the message unreadable.
func ParseMessage(message string) (Params, error) {
	message = strings.TrimSpace(message)
	params := Params{}
	if strings.HasPrefix(message, "[") {
		return nil, &ParamError{Reason: "the notification's message is not a JSON object"}
	}
	if strings.HasPrefix(message, "{") {
		var raw map[string]any
		dec := json.NewDecoder(strings.NewReader(message))
		dec.UseNumber() // ids exceed what a float holds exactly
		if err := dec.Decode(&raw); err != nil {
			return nil, &ParamError{Reason: "the notification's message is not a JSON object"}
		}
		for name, v := range raw {
			switch v := v.(type) {
			case string:
				params[name] = v
			case json.Number:
				params[name] = v.String()
			case bool:
				params[name] = strconv.FormatBool(v)
			case nil:
				// absent
			default:
				raw, _ := json.Marshal(v)
				params[name] = string(raw)
			}
		}
		return params, nil
	}
	if err := addEncoded(params, message); err != nil {
		return nil, err
	}
	return params, nil
}

// addEncoded decodes a query string or form body into params. A name that
// appears twice, in one source or across both, makes the call ambiguous: the
// marketplace never sends that, so it is refused rather than guessed at.
func addEncoded(params Params, encoded string) error {
	// A ';' is plain text in a query (some encoders leave it unescaped),
	// never a separator; Go's parser refuses it unescaped.
	values, err := url.ParseQuery(strings.ReplaceAll(encoded, ";", "%3B"))
	if err != nil {
		return &ParamError{Reason: "the parameters are not valid URL encoding"}
	}
	for name, list := range values {
		if _, seen := params[name]; seen || len(list) > 1 {
			return &ParamError{Param: name, Reason: "given more than once"}
		}
		params[name] = list[0]
	}
	return nil
}

// Encode returns params as a URL query string, sorted by name.
func (p Params) Encode() string {
	values := make(url.Values, len(p))
	for name, value := range p {
		values.Set(name, value)
	}
	return values.Encode()
}

// Signed returns a copy of p with its token set for key, as the marketplace
// sends it.
func (p Params) Signed(key string) Params {
	out := make(Params, len(p)+1)
	for name, value := range p {
		out[name] = value
	}
	delete(out, TokenParam)
	out[TokenParam] = Sign(out, key)
	return out
}

// MaskUID shows an Alibaba Cloud account ID the way a person may read it,
// on our pages and in mails: its first and last four digits, the rest
// starred (as many stars as digits, so its length shows).
func MaskUID(uid string) string {
	if len(uid) < 8 {
		return strings.Repeat("*", len(uid))
	}
	return uid[:4] + strings.Repeat("*", len(uid)-8) + uid[len(uid)-4:]
}
