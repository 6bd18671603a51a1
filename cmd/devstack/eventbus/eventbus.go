// Package eventbus is the local stand-in for Amazon EventBridge: it takes
// PutEvents (the AWS JSON 1.1 protocol the SDK speaks), keeps every event
// in memory, and shows them on a page, so that a person running the
// stack, and a test, can read what the rest of Guance would hear.
package eventbus

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"
)

// Event is one event the bus took.
type Event struct {
	ID         string          `json:"id"`
	Bus        string          `json:"bus"`
	Source     string          `json:"source"`
	DetailType string          `json:"detailType"`
	Time       time.Time       `json:"time"`
	Detail     json.RawMessage `json:"detail"`
}

// Bus takes PutEvents and keeps what it took.
type Bus struct {
	// Refuse, when set, is asked of each entry: an error code refuses it
	// (as EventBridge refuses an entry of a call: the rest are taken).
	Refuse func(detailType string) string

	mu     sync.Mutex
	events []Event
	wait   chan struct{}
}

// Events returns every event taken, in order.
func (b *Bus) Events() []Event {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.events)
}

// Changed is closed at the next event taken.
func (b *Bus) Changed() <-chan struct{} {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.wait == nil {
		b.wait = make(chan struct{})
	}
	return b.wait
}

const target = "AWSEvents.PutEvents"

func (b *Bus) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.Method == http.MethodPost && r.Header.Get("X-Amz-Target") == target:
		b.putEvents(w, r)
	case r.Method == http.MethodPost:
		apiError(w, http.StatusBadRequest, "UnknownOperationException", "only PutEvents is served here")
	case r.URL.Path == "/events.json":
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(b.Events())
	case r.URL.Path == "/" || r.URL.Path == "/events":
		b.page(w)
	default:
		http.NotFound(w, r)
	}
}

type entry struct {
	EventBusName, Source, DetailType, Detail string
	Time                                     *float64
}

func (b *Bus) putEvents(w http.ResponseWriter, r *http.Request) {
	var in struct{ Entries []entry }
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err == nil {
		err = json.Unmarshal(body, &in)
	}
	switch {
	case err != nil:
		apiError(w, http.StatusBadRequest, "ValidationException", "the request could not be read")
		return
	case len(in.Entries) == 0 || len(in.Entries) > 10:
		apiError(w, http.StatusBadRequest, "ValidationException", fmt.Sprintf("%d entries: PutEvents takes 1 to 10", len(in.Entries)))
		return
	}
	type result struct {
		EventId      string `json:",omitempty"`
		ErrorCode    string `json:",omitempty"`
		ErrorMessage string `json:",omitempty"`
	}
	out := struct {
		FailedEntryCount int
		Entries          []result
	}{}
	b.mu.Lock()
	for _, e := range in.Entries {
		code := b.refused(e)
		if code != "" {
			out.FailedEntryCount++
			out.Entries = append(out.Entries, result{ErrorCode: code, ErrorMessage: "refused"})
			continue
		}
		at := time.Now().UTC()
		if e.Time != nil {
			at = time.Unix(0, int64(*e.Time*1e9)).UTC()
		}
		ev := Event{ID: newID(), Bus: e.EventBusName, Source: e.Source, DetailType: e.DetailType, Time: at, Detail: json.RawMessage(e.Detail)}
		b.events = append(b.events, ev)
		out.Entries = append(out.Entries, result{EventId: ev.ID})
	}
	if b.wait != nil {
		close(b.wait)
		b.wait = nil
	}
	b.mu.Unlock()
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	_ = json.NewEncoder(w).Encode(out)
}

// refused checks an entry as EventBridge does (what a PutEvents entry
// must hold), then asks Refuse.
func (b *Bus) refused(e entry) string {
	switch {
	case e.Source == "" || e.DetailType == "" || e.Detail == "":
		return "InvalidArgument"
	case !json.Valid([]byte(e.Detail)) || !strings.HasPrefix(strings.TrimSpace(e.Detail), "{"):
		return "MalformedDetail"
	case strings.HasPrefix(e.Source, "aws."):
		return "NotAuthorizedForSourceException"
	case len(e.Detail) > 256*1024:
		return "InvalidArgument"
	}
	if b.Refuse != nil {
		return b.Refuse(e.DetailType)
	}
	return ""
}

func apiError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"__type": code, "message": msg})
}

func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

var pageTemplate = template.Must(template.New("events").Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>Business events (local EventBridge)</title>
<style>body{font:14px system-ui,sans-serif;margin:1.5rem;color:#1f2329}table{border-collapse:collapse;width:100%}td,th{border-bottom:1px solid #e5e6eb;padding:.4rem;text-align:left;vertical-align:top}pre{margin:0;white-space:pre-wrap;word-break:break-all;font-size:12px}</style></head>
<body><h1>Business events</h1>
<p>What the rest of Guance would hear on the bus, newest first ({{len .}}). As JSON: <a href="/events.json">/events.json</a>.</p>
<table><thead><tr><th>Time (UTC)</th><th>Detail type</th><th>Detail</th></tr></thead><tbody>
{{range .}}<tr><td>{{.Time.Format "2006-01-02 15:04:05"}}</td><td>{{.DetailType}}</td><td><pre>{{printf "%s" .Detail}}</pre></td></tr>
{{else}}<tr><td colspan="3">No event yet: buy the plan in the simulator.</td></tr>{{end}}
</tbody></table></body></html>`))

func (b *Bus) page(w http.ResponseWriter) {
	list := b.Events()
	slices.Reverse(list)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_ = pageTemplate.Execute(w, list)
}
