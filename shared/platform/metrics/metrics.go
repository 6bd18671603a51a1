// Package metrics writes CloudWatch Embedded Metric Format lines: metrics
// that cost no API call, extracted by CloudWatch from the function's log.
package metrics

import (
	"encoding/json"
	"io"
	"sync"
	"time"
)

// Recorder writes metrics in one namespace to a log stream.
type Recorder struct {
	Namespace string
	mu        sync.Mutex
	w         io.Writer
	now       func() time.Time
}

// AlwaysKept is the level of a metric's log line: see Add.
const AlwaysKept = "FATAL"

// NewRecorder returns a Recorder writing to w (in Lambda, standard output).
func NewRecorder(w io.Writer, namespace string) *Recorder {
	return &Recorder{Namespace: namespace, w: w, now: time.Now}
}

// Count records one occurrence of the named metric, with dimensions.
func (r *Recorder) Count(name string, dimensions map[string]string) {
	r.Add(name, 1, dimensions)
}

// Add records n occurrences of the named metric at once (a run's totals).
func (r *Recorder) Add(name string, n float64, dimensions map[string]string) {
	if r == nil || r.w == nil {
		return
	}
	keys := make([]string, 0, len(dimensions))
	line := map[string]any{name: n}
	for k, v := range dimensions {
		keys = append(keys, k)
		line[k] = v
	}
	// Lambda filters JSON log lines by their "level" (a line without one
	// counts as INFO) once a function's ApplicationLogLevel is raised; an
	// EMF line dropped there is a metric lost, and the alarms on it go
	// blind. FATAL is not a severity here: it is the level no filter drops.
	line["level"] = AlwaysKept
	// And a valid RFC 3339 timestamp: Lambda counts a line without one
	// as INFO, whatever its level says.
	line["timestamp"] = r.now().UTC().Format(time.RFC3339Nano)
	line["_aws"] = map[string]any{
		"Timestamp": r.now().UnixMilli(),
		"CloudWatchMetrics": []any{map[string]any{
			"Namespace":  r.Namespace,
			"Dimensions": [][]string{keys},
			"Metrics":    []any{map[string]string{"Name": name, "Unit": "Count"}},
		}},
	}
	b, err := json.Marshal(line)
	if err != nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	_, _ = r.w.Write(append(b, '\n'))
}
