package metrics

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"
)

func TestCountWritesEMF(t *testing.T) {
	var buf bytes.Buffer
	r := NewRecorder(&buf, "Guance")
	r.now = func() time.Time { return time.UnixMilli(1700000000000) }
	r.Count("ActivationsStarted", map[string]string{"Action": "createInstance"})

	var line struct {
		AWS struct {
			Timestamp         int64
			CloudWatchMetrics []struct {
				Namespace  string
				Dimensions [][]string
				Metrics    []struct{ Name, Unit string }
			}
		} `json:"_aws"`
		Level              string
		Timestamp          string
		Action             string
		ActivationsStarted int
	}
	if err := json.Unmarshal(buf.Bytes(), &line); err != nil {
		t.Fatal(err)
	}
	m := line.AWS.CloudWatchMetrics
	if line.AWS.Timestamp != 1700000000000 || len(m) != 1 || m[0].Namespace != "Guance" || m[0].Dimensions[0][0] != "Action" ||
		m[0].Metrics[0].Name != "ActivationsStarted" || line.Action != "createInstance" || line.Level != AlwaysKept || line.Timestamp != "2023-11-14T22:13:20Z" || line.ActivationsStarted != 1 {
		t.Fatalf("EMF line %s", buf.String())
	}

	var nilRecorder *Recorder
	nilRecorder.Count("x", nil) // a handler without metrics must not crash
}
