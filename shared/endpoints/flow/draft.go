package flow

import "encoding/json"

// DecodeDraft reads a flow's draft (its own JSON) as the session holds
// it; a draft it cannot read starts over, as the zero T.
func DecodeDraft[T any](s string) T {
	var d T
	if s != "" {
		_ = json.Unmarshal([]byte(s), &d)
	}
	return d
}

// EncodeDraft writes a flow's draft for the session.
func EncodeDraft(d any) string {
	b, _ := json.Marshal(d)
	return string(b)
}
