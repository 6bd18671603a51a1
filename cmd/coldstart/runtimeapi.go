package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// The Runtime API as aws-lambda-go's runtime client speaks it
// (lambda/runtime_api_client.go in github.com/aws/aws-lambda-go v1.55.1):
// every path is under /2018-06-01/runtime/, the invocation metadata travels
// in these response headers, and a POST must be answered 202 or the client
// gives up.
const (
	apiVersion = "2018-06-01"

	headerRequestID          = "Lambda-Runtime-Aws-Request-Id"
	headerDeadlineMS         = "Lambda-Runtime-Deadline-Ms"
	headerInvokedFunctionARN = "Lambda-Runtime-Invoked-Function-Arn"
	headerTraceID            = "Lambda-Runtime-Trace-Id"
	// The client sends the error type as a trailer when the response body
	// itself fails half-way (a streamed io.Reader response); other runtimes
	// send it as a header on /error.
	headerFunctionErrorType = "Lambda-Runtime-Function-Error-Type"

	// invocationDeadline is what Lambda-Runtime-Deadline-Ms allows: far
	// beyond any cold start here, so a handler never sees its context end.
	invocationDeadline = 30 * time.Second

	// maxPayload is Lambda's limit on a synchronous response.
	maxPayload = 6 << 20
)

// OutcomeKind says which post ended an invocation.
type OutcomeKind int

// The three ways a runtime reports back.
const (
	// OutcomeResponse is POST /runtime/invocation/{id}/response.
	OutcomeResponse OutcomeKind = iota + 1
	// OutcomeError is POST /runtime/invocation/{id}/error: the handler
	// returned an error or panicked. It still ends the invocation, so its
	// time is the first response.
	OutcomeError
	// OutcomeInitError is POST /runtime/init/error: the runtime failed
	// before it asked for an invocation.
	OutcomeInitError
)

func (k OutcomeKind) String() string {
	switch k {
	case OutcomeResponse:
		return "response"
	case OutcomeError:
		return "invocation error"
	case OutcomeInitError:
		return "init error"
	}
	return "no outcome"
}

// Outcome is the first post that ended an invocation.
type Outcome struct {
	Kind OutcomeKind
	// At is when the post arrived (its headers, before its body was read),
	// the moment Lambda would consider the invocation answered.
	At   time.Time
	Body []byte
	// ErrorType is the Lambda-Runtime-Function-Error-Type header or
	// trailer, when the runtime sent one.
	ErrorType string
}

// ErrorSummary is "type: message" for an error outcome, from the JSON body
// aws-lambda-go posts ({"errorMessage", "errorType"}), or the raw body.
func (o Outcome) ErrorSummary() string {
	var body struct {
		Message string `json:"errorMessage"`
		Type    string `json:"errorType"`
	}
	if err := json.Unmarshal(o.Body, &body); err != nil || (body.Message == "" && body.Type == "") {
		return firstLine(string(o.Body), 120)
	}
	typ := body.Type
	if typ == "" {
		typ = o.ErrorType
	}
	return firstLine(typ+": "+body.Message, 120)
}

// Invocation is the single event one runtime process is given. The fake API
// hands it to the first GET .../invocation/next and records the first post
// that ends it; later GETs wait, as a real execution environment is frozen
// between invocations, until the process is killed or the next invocation
// is armed.
type Invocation struct {
	ID       string
	Function string
	event    []byte

	// served and the fields after it are guarded by RuntimeAPI.mu; nextAt
	// and outcome are also safe to read once nextCh or doneCh is closed.
	served  bool
	nextAt  time.Time
	outcome Outcome
	nextCh  chan struct{} // closed when the event is handed out
	doneCh  chan struct{} // closed at the first ending post
	retired chan struct{} // closed when another invocation replaces it
}

// Next is closed once the runtime has asked for the event: its init is over.
func (inv *Invocation) Next() <-chan struct{} { return inv.nextCh }

// Done is closed once a response, an invocation error or an init error has
// been posted.
func (inv *Invocation) Done() <-chan struct{} { return inv.doneCh }

// NextAt is when the runtime first asked for an invocation. Read it only
// after Next is closed.
func (inv *Invocation) NextAt() time.Time { return inv.nextAt }

// Outcome is the post that ended the invocation. Read it only after Done
// is closed.
func (inv *Invocation) Outcome() Outcome { return inv.outcome }

// RuntimeAPI is a minimal Lambda Runtime API for one runtime process at a
// time: enough for aws-lambda-go to start, take one event and answer it.
type RuntimeAPI struct {
	// Addr is host:port, the value of AWS_LAMBDA_RUNTIME_API.
	Addr string

	srv    *http.Server
	closed chan struct{}

	mu  sync.Mutex
	cur *Invocation
	seq int
}

// StartRuntimeAPI serves the fake Runtime API on a free port of 127.0.0.1.
func StartRuntimeAPI() (*RuntimeAPI, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("runtime API: listen: %w", err)
	}
	a := &RuntimeAPI{Addr: l.Addr().String(), closed: make(chan struct{})}
	prefix := "/" + apiVersion + "/runtime/"
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+prefix+"invocation/next", a.handleNext)
	mux.HandleFunc("POST "+prefix+"invocation/{id}/response", a.handleEnd(OutcomeResponse))
	mux.HandleFunc("POST "+prefix+"invocation/{id}/error", a.handleEnd(OutcomeError))
	mux.HandleFunc("POST "+prefix+"init/error", a.handleEnd(OutcomeInitError))
	a.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = a.srv.Serve(l) }()
	return a, nil
}

// Close releases any waiting GET and stops the server.
func (a *RuntimeAPI) Close() error {
	a.mu.Lock()
	select {
	case <-a.closed:
	default:
		close(a.closed)
	}
	a.mu.Unlock()
	return a.srv.Close()
}

// Arm makes event the next invocation, for function (which names it in the
// invoked function ARN), and retires the previous one: a process still
// waiting on it is told there is nothing more for it.
func (a *RuntimeAPI) Arm(function string, event []byte) *Invocation {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.cur != nil {
		close(a.cur.retired)
	}
	a.seq++
	a.cur = &Invocation{
		ID:       fmt.Sprintf("coldstart-%06d", a.seq),
		Function: function,
		event:    event,
		nextCh:   make(chan struct{}),
		doneCh:   make(chan struct{}),
		retired:  make(chan struct{}),
	}
	return a.cur
}

func (a *RuntimeAPI) handleNext(w http.ResponseWriter, r *http.Request) {
	now := time.Now()
	a.mu.Lock()
	inv := a.cur
	deliver := inv != nil && !inv.served
	if deliver {
		inv.served = true
		inv.nextAt = now
		close(inv.nextCh)
	}
	a.mu.Unlock()

	if !deliver {
		// A runtime asks for its next event as soon as it has answered;
		// hold that request like a frozen environment would, until the
		// process goes away or there is nothing more to give it.
		var retired <-chan struct{}
		if inv != nil {
			retired = inv.retired
		}
		select {
		case <-r.Context().Done():
		case <-retired:
		case <-a.closed:
		}
		writeAPIError(w, http.StatusServiceUnavailable, "NoInvocation", "no further invocation for this runtime")
		return
	}

	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set(headerRequestID, inv.ID)
	h.Set(headerDeadlineMS, strconv.FormatInt(time.Now().Add(invocationDeadline).UnixMilli(), 10))
	h.Set(headerInvokedFunctionARN, "arn:aws:lambda:us-east-1:000000000000:function:"+inv.Function)
	h.Set(headerTraceID, traceID(now, inv.ID))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(inv.event)
}

// handleEnd records the first post that ends the current invocation.
func (a *RuntimeAPI) handleEnd(kind OutcomeKind) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		now := time.Now()
		body, err := io.ReadAll(io.LimitReader(r.Body, maxPayload+1))
		if err != nil {
			writeAPIError(w, http.StatusBadRequest, "InvalidRequest", "read body: "+err.Error())
			return
		}
		if len(body) > maxPayload {
			writeAPIError(w, http.StatusRequestEntityTooLarge, "RequestEntityTooLarge", "payload over 6 MB")
			return
		}
		errorType := r.Header.Get(headerFunctionErrorType)
		// Trailers are only known once the body has been read.
		if t := r.Trailer.Get(headerFunctionErrorType); t != "" {
			errorType = t
			if kind == OutcomeResponse {
				// The response stream failed: Lambda reports a function error.
				kind = OutcomeError
			}
		}

		a.mu.Lock()
		defer a.mu.Unlock()
		inv := a.cur
		if inv == nil || (kind != OutcomeInitError && inv.ID != r.PathValue("id")) {
			writeAPIError(w, http.StatusBadRequest, "InvalidRequestID", "unknown request id "+r.PathValue("id"))
			return
		}
		if kind != OutcomeInitError && !inv.served {
			writeAPIError(w, http.StatusBadRequest, "InvalidRequestID", "invocation "+inv.ID+" was never handed out")
			return
		}
		select {
		case <-inv.doneCh:
			writeAPIError(w, http.StatusForbidden, "InvalidStateTransition", "invocation "+inv.ID+" already ended")
			return
		default:
		}
		inv.outcome = Outcome{Kind: kind, At: now, Body: body, ErrorType: errorType}
		close(inv.doneCh)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusAccepted)
		_, _ = io.WriteString(w, `{"status":"OK"}`)
	}
}

// writeAPIError answers like the Runtime API does: a JSON error body.
func writeAPIError(w http.ResponseWriter, status int, errorType, message string) {
	body, _ := json.Marshal(map[string]string{"errorType": errorType, "errorMessage": message})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// traceID is an X-Ray trace header of the right shape; nothing reads it
// here, but the runtime copies it into _X_AMZN_TRACE_ID as in Lambda.
func traceID(now time.Time, id string) string {
	return fmt.Sprintf("Root=1-%08x-%024x;Parent=%016x;Sampled=0", now.Unix(), now.UnixNano(), len(id))
}
