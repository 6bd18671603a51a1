package samtemplate_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/guance/aliyun-marketplace/shared/platform/logging"
	"github.com/guance/aliyun-marketplace/shared/platform/metrics"
)

// node is a YAML mapping read by key.
type node struct{ *yaml.Node }

func (n node) get(key string) node {
	if n.Node == nil || n.Kind != yaml.MappingNode {
		return node{}
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return node{n.Content[i+1]}
		}
	}
	return node{}
}

func (n node) list() []node {
	if n.Node == nil {
		return nil
	}
	if n.Kind != yaml.SequenceNode {
		return []node{n}
	}
	out := make([]node, len(n.Content))
	for i, c := range n.Content {
		out[i] = node{c}
	}
	return out
}

func (n node) value() string {
	if n.Node == nil {
		return ""
	}
	return n.Value
}

// mentions tells whether the subtree names s anywhere (a !Ref's value).
func (n node) mentions(s string) bool {
	if n.Node == nil {
		return false
	}
	if n.Value == s {
		return true
	}
	for _, c := range n.Content {
		if (node{c}).mentions(s) {
			return true
		}
	}
	return false
}

func projectTemplate(t *testing.T) node {
	t.Helper()
	text, err := os.ReadFile(filepath.Join("..", "..", "..", "template.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(text, &doc); err != nil {
		t.Fatal(err)
	}
	return node{doc.Content[0]}
}

// resourcesOf lists the template's resources of a type, by logical id.
func resourcesOf(root node, typ string) map[string]node {
	out := map[string]node{}
	res := root.get("Resources")
	for i := 0; i+1 < len(res.Content); i += 2 {
		r := node{res.Content[i+1]}
		if r.get("Type").value() == typ {
			out[res.Content[i].Value] = r
		}
	}
	return out
}

// scheduled tells whether a function runs on a schedule.
func scheduled(fn node) bool {
	events := fn.get("Properties").get("Events")
	for i := 1; i < len(events.Content); i += 2 {
		if (node{events.Content[i]}).get("Type").value() == "Schedule" {
			return true
		}
	}
	return false
}

// httpFunction tells whether a function serves the HTTP API.
func httpFunction(fn node) bool {
	events := fn.get("Properties").get("Events")
	for i := 1; i < len(events.Content); i += 2 {
		if (node{events.Content[i]}).get("Type").value() == "HttpApi" {
			return true
		}
	}
	return false
}

// TestEveryAlarmIsHeardBothWays: each alarm tells the topic when it fires
// and when it clears.
func TestEveryAlarmIsHeardBothWays(t *testing.T) {
	root := projectTemplate(t)
	alarms := resourcesOf(root, "AWS::CloudWatch::Alarm")
	if len(alarms) < 25 {
		t.Fatalf("%d alarms", len(alarms))
	}
	for id, a := range alarms {
		p := a.get("Properties")
		if !p.get("AlarmActions").mentions("AlarmTopic") || !p.get("OKActions").mentions("AlarmTopic") {
			t.Errorf("%s: AlarmActions and OKActions must both go to AlarmTopic", id)
		}
		if p.get("AlarmDescription").value() == "" {
			t.Errorf("%s: no description (the page says what it means)", id)
		}
	}
}

// TestEveryFunctionIsWatched: every function has an errors alarm; the
// scheduled ones a heartbeat that sees silence (missing data breaching);
// the stream ones an iterator age alarm; throttles of every function and
// of every table are alarmed.
func TestEveryFunctionIsWatched(t *testing.T) {
	root := projectTemplate(t)
	alarms := resourcesOf(root, "AWS::CloudWatch::Alarm")
	watched := func(fn, metric string) []node {
		var out []node
		for _, a := range alarms {
			p := a.get("Properties")
			if (p.get("MetricName").value() == metric || p.get("Metrics").mentions(metric)) && p.mentions(fn) {
				out = append(out, p)
			}
		}
		return out
	}
	for id, fn := range resourcesOf(root, "AWS::Serverless::Function") {
		if len(watched(id, "Errors")) == 0 {
			t.Errorf("%s: no alarm on its Errors", id)
		}
		if len(watched(id, "Throttles")) == 0 {
			t.Errorf("%s: no alarm on its Throttles", id)
		}
		if scheduled(fn) {
			beats := watched(id, "Invocations")
			if len(beats) != 1 || beats[0].get("TreatMissingData").value() != "breaching" || beats[0].get("ComparisonOperator").value() != "LessThanThreshold" {
				t.Errorf("%s: no heartbeat alarm (Invocations below 1, missing data breaching)", id)
			}
		}
		if fn.get("Properties").get("Events").mentions("DynamoDB") && len(watched(id, "IteratorAge")) == 0 {
			t.Errorf("%s: a stream function without an IteratorAge alarm", id)
		}
	}
	for id := range resourcesOf(root, "AWS::DynamoDB::Table") {
		if len(watched(id, "ReadThrottleEvents")) == 0 || len(watched(id, "WriteThrottleEvents")) == 0 {
			t.Errorf("table %s: throttles not alarmed", id)
		}
	}
	for _, metric := range []string{"MeteringLagMinutes", "SpiCallsRejected", "SpiCallsDisputed", "BusinessEventsRefused"} {
		found := false
		for _, a := range alarms {
			found = found || a.get("Properties").mentions(metric)
		}
		if !found {
			t.Errorf("no alarm on %s", metric)
		}
	}
}

// TestRetriesAreDeliberate: a scheduled run is never retried by Lambda
// (the next run resumes) and never overlaps another (reserved concurrency
// 1); a function-level dead-letter queue is set only where it applies
// (asynchronous invocations: the schedule's), never on a stream function,
// whose failures go to its event source's OnFailure destination.
func TestRetriesAreDeliberate(t *testing.T) {
	root := projectTemplate(t)
	for id, fn := range resourcesOf(root, "AWS::Serverless::Function") {
		p := fn.get("Properties")
		if scheduled(fn) {
			if p.get("EventInvokeConfig").get("MaximumRetryAttempts").value() != "0" {
				t.Errorf("%s: EventInvokeConfig.MaximumRetryAttempts must be 0", id)
			}
			if p.get("ReservedConcurrentExecutions").value() != "1" {
				t.Errorf("%s: ReservedConcurrentExecutions must be 1", id)
			}
			events := p.get("Events")
			for i := 1; i < len(events.Content); i += 2 {
				if e := (node{events.Content[i]}); e.get("Type").value() == "Schedule" && e.get("Properties").get("RetryPolicy").get("MaximumRetryAttempts").value() != "0" {
					t.Errorf("%s: the schedule's RetryPolicy must be 0", id)
				}
			}
		} else if p.get("DeadLetterQueue").Node != nil {
			t.Errorf("%s: a DeadLetterQueue on a function that is never invoked asynchronously", id)
		}
		if p.get("Events").mentions("DynamoDB") && !p.get("Events").mentions("OnFailure") {
			t.Errorf("%s: a stream without an OnFailure destination", id)
		}
	}
}

// TestCanaryDeploys: every HTTP function is deployed through an alias,
// gradually in prod, rolled back by its own errors alarm.
func TestCanaryDeploys(t *testing.T) {
	root := projectTemplate(t)
	alarms := resourcesOf(root, "AWS::CloudWatch::Alarm")
	for id, fn := range resourcesOf(root, "AWS::Serverless::Function") {
		p := fn.get("Properties")
		if !httpFunction(fn) {
			continue
		}
		if p.get("AutoPublishAlias").value() == "" {
			t.Errorf("%s: no AutoPublishAlias", id)
		}
		dp := p.get("DeploymentPreference")
		if !dp.get("Type").mentions("Canary10Percent5Minutes") {
			t.Errorf("%s: not a canary in prod", id)
		}
		rolledBack := false
		for _, a := range dp.get("Alarms").list() {
			alarm, ok := alarms[a.value()]
			if !ok {
				t.Errorf("%s: deployment alarm %s is not in the template", id, a.value())
			}
			rolledBack = rolledBack || alarm.get("Properties").mentions(id)
		}
		if !rolledBack {
			t.Errorf("%s: no alarm of its own rolls its deploy back", id)
		}
	}
}

// TestLogsAndMetricsSurviveTheLogLevel: the platform's REPORT lines are
// kept (SystemLogLevel INFO), the logger honours the level Lambda passes
// (AWS_LAMBDA_LOG_LEVEL, from ApplicationLogLevel), and a metric's line
// is kept whatever ApplicationLogLevel is raised to: Lambda drops a JSON
// line whose level is below it, and a dropped EMF line is a lost metric.
func TestLogsAndMetricsSurviveTheLogLevel(t *testing.T) {
	root := projectTemplate(t)
	logging := root.get("Globals").get("Function").get("LoggingConfig")
	if logging.get("LogFormat").value() != "JSON" || logging.get("SystemLogLevel").value() != "INFO" {
		t.Fatalf("Globals LoggingConfig: JSON and SystemLogLevel INFO, got %s %s", logging.get("LogFormat").value(), logging.get("SystemLogLevel").value())
	}
	order := []string{"TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"}
	levels := []string{logging.get("ApplicationLogLevel").value()}
	for id, fn := range resourcesOf(root, "AWS::Serverless::Function") {
		if l := fn.get("Properties").get("LoggingConfig").get("ApplicationLogLevel").value(); l != "" {
			levels = append(levels, l)
			t.Logf("%s: ApplicationLogLevel %s", id, l)
		}
	}
	var line bytes.Buffer
	metrics.NewRecorder(&line, "test").Count("X", nil)
	var emf struct {
		Level     string `json:"level"`
		Timestamp string `json:"timestamp"`
	}
	if err := json.Unmarshal(line.Bytes(), &emf); err != nil {
		t.Fatal(err)
	}
	// Lambda counts a line without a valid RFC 3339 timestamp as INFO.
	if _, err := time.Parse(time.RFC3339Nano, emf.Timestamp); err != nil {
		t.Fatalf("a metric's line has no valid timestamp: %q", emf.Timestamp)
	}
	// Every level an operator may set, not only today's.
	for _, set := range append(levels, order...) {
		if slices.Index(order, strings.ToUpper(emf.Level)) < slices.Index(order, set) {
			t.Errorf("ApplicationLogLevel %s would drop the metrics' lines (level %q)", set, emf.Level)
		}
	}
	checkLoggerHonours(t)
}

// checkLoggerHonours: at WARN, an INFO line is not written; at DEBUG, a
// debug line is.
func checkLoggerHonours(t *testing.T) {
	var out bytes.Buffer
	log := logging.New(&out, logging.Level("WARN"))
	log.Info("quiet")
	log.Warn("heard")
	if strings.Contains(out.String(), "quiet") || !strings.Contains(out.String(), "heard") {
		t.Fatalf("WARN: %s", out.String())
	}
	out.Reset()
	logging.New(&out, logging.Level("DEBUG")).Debug("detail")
	if !strings.Contains(out.String(), "detail") {
		t.Fatal("DEBUG dropped a debug line")
	}
}

// TestProdNeedsItsSettings: prod does not deploy without an alarm
// address, its own terms and support pages, the metering mapping and its
// product codes.
func TestProdNeedsItsSettings(t *testing.T) {
	root := projectTemplate(t)
	rules := root.get("Rules")
	for _, param := range []string{"AlarmEmail", "TermsUrl", "SupportUrl", "MeteringItems", "ProductCodes"} {
		if !rules.mentions(param) {
			t.Errorf("no rule holds prod to %s", param)
		}
	}
	if len(resourcesOf(root, "AWS::CloudWatch::Dashboard")) != 1 {
		t.Error("one dashboard")
	}
}
