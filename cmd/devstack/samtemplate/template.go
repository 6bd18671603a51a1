// Package samtemplate reads the parts of the project's SAM template that the
// local stack and the tests need: functions with their HTTP API routes and
// environment, and DynamoDB tables. Reading the template itself, rather than
// a copy of its facts, is what keeps the local stack from drifting from it.
package samtemplate

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"gopkg.in/yaml.v3"
)

// Template is a parsed SAM template.
type Template struct {
	Functions  []Function
	Tables     []Table
	params     map[string]string
	resources  map[string]string // logical id -> type
	conditions map[string]yaml.Node
}

// Function is an AWS::Serverless::Function.
type Function struct {
	LogicalID   string
	BuildMethod string
	Timeout     int
	Environment map[string]string
	Routes      []Route
	Schedules   []Schedule
	Streams     []Stream
}

// Schedule is a Schedule event of a function.
type Schedule struct {
	Name string
	// Expression is as written: rate(15 minutes) or cron(...).
	Expression string
	// Every is the period of a rate expression; zero for cron.
	Every time.Duration
}

// Stream is a DynamoDB stream event of a function.
type Stream struct {
	Name string
	// Table is the logical id of the table whose stream it reads.
	Table     string
	BatchSize int
	// EventNames are the eventName values its filter lets through; empty
	// when it has no filter.
	EventNames []string
}

// Route is one HttpApi event of a function.
type Route struct {
	Method string // upper case, or ANY
	Path   string // may hold {name} and {name+}
}

// Table is an AWS::DynamoDB::Table.
type Table struct {
	LogicalID  string
	Definition *dynamodb.CreateTableInput
	TTLField   string
	// StreamView is its stream's StreamViewType ("" without a stream).
	StreamView string
}

type rawTemplate struct {
	Parameters map[string]struct {
		Default any `yaml:"Default"`
	} `yaml:"Parameters"`
	Conditions map[string]yaml.Node `yaml:"Conditions"`
	Globals    struct {
		Function rawFunctionProps `yaml:"Function"`
	} `yaml:"Globals"`
	Resources map[string]struct {
		Type       string    `yaml:"Type"`
		Metadata   yaml.Node `yaml:"Metadata"`
		Properties yaml.Node `yaml:"Properties"`
	} `yaml:"Resources"`
}

type rawFunctionProps struct {
	Timeout     int `yaml:"Timeout"`
	Environment struct {
		Variables map[string]yaml.Node `yaml:"Variables"`
	} `yaml:"Environment"`
	Events map[string]struct {
		Type       string `yaml:"Type"`
		Properties struct {
			Path           string    `yaml:"Path"`
			Method         string    `yaml:"Method"`
			Schedule       yaml.Node `yaml:"Schedule"`
			Stream         yaml.Node `yaml:"Stream"`
			BatchSize      int       `yaml:"BatchSize"`
			FilterCriteria struct {
				Filters []struct {
					Pattern string `yaml:"Pattern"`
				} `yaml:"Filters"`
			} `yaml:"FilterCriteria"`
		} `yaml:"Properties"`
	} `yaml:"Events"`
}

type rawTableProps struct {
	TableName            yaml.Node `yaml:"TableName"`
	AttributeDefinitions []struct {
		AttributeName string `yaml:"AttributeName"`
		AttributeType string `yaml:"AttributeType"`
	} `yaml:"AttributeDefinitions"`
	KeySchema              []rawKey `yaml:"KeySchema"`
	GlobalSecondaryIndexes []struct {
		IndexName  string   `yaml:"IndexName"`
		KeySchema  []rawKey `yaml:"KeySchema"`
		Projection struct {
			ProjectionType   string   `yaml:"ProjectionType"`
			NonKeyAttributes []string `yaml:"NonKeyAttributes"`
		} `yaml:"Projection"`
	} `yaml:"GlobalSecondaryIndexes"`
	TimeToLiveSpecification struct {
		AttributeName string `yaml:"AttributeName"`
		Enabled       bool   `yaml:"Enabled"`
	} `yaml:"TimeToLiveSpecification"`
	StreamSpecification struct {
		StreamViewType string `yaml:"StreamViewType"`
	} `yaml:"StreamSpecification"`
}

type rawKey struct {
	AttributeName string `yaml:"AttributeName"`
	KeyType       string `yaml:"KeyType"`
}

// Load reads the template at path. overrides replace parameter defaults.
func Load(path string, overrides map[string]string) (*Template, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read template: %w", err)
	}
	return Parse(raw, overrides)
}

// Parse reads a template from its YAML text.
func Parse(text []byte, overrides map[string]string) (*Template, error) {
	var raw rawTemplate
	if err := yaml.Unmarshal(text, &raw); err != nil {
		return nil, fmt.Errorf("parse template: %w", err)
	}
	t := &Template{params: map[string]string{}, resources: map[string]string{}, conditions: raw.Conditions}
	for name, p := range raw.Parameters {
		if p.Default != nil {
			t.params[name] = fmt.Sprint(p.Default)
		} else {
			t.params[name] = ""
		}
	}
	for name, v := range overrides {
		t.params[name] = v
	}
	for id, r := range raw.Resources {
		t.resources[id] = r.Type
	}

	ids := make([]string, 0, len(raw.Resources))
	for id := range raw.Resources {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		r := raw.Resources[id]
		switch r.Type {
		case "AWS::Serverless::Function":
			fn, err := t.function(id, raw.Globals.Function, r.Properties, r.Metadata)
			if err != nil {
				return nil, err
			}
			t.Functions = append(t.Functions, fn)
		case "AWS::DynamoDB::Table":
			table, err := t.table(id, r.Properties)
			if err != nil {
				return nil, err
			}
			t.Tables = append(t.Tables, table)
		}
	}
	return t, nil
}

func (t *Template) function(id string, globals rawFunctionProps, propsNode, metaNode yaml.Node) (Function, error) {
	var props rawFunctionProps
	if err := propsNode.Decode(&props); err != nil {
		return Function{}, fmt.Errorf("function %s: %w", id, err)
	}
	var meta struct {
		BuildMethod string `yaml:"BuildMethod"`
	}
	if !metaNode.IsZero() {
		if err := metaNode.Decode(&meta); err != nil {
			return Function{}, fmt.Errorf("function %s metadata: %w", id, err)
		}
	}
	fn := Function{LogicalID: id, BuildMethod: meta.BuildMethod, Timeout: globals.Timeout, Environment: map[string]string{}}
	if props.Timeout != 0 {
		fn.Timeout = props.Timeout
	}
	for _, vars := range []map[string]yaml.Node{globals.Environment.Variables, props.Environment.Variables} {
		for name, node := range vars {
			v, err := t.resolve(&node)
			if errors.Is(err, errNoValue) {
				continue // an !If that leaves the variable out
			}
			if err != nil {
				return Function{}, fmt.Errorf("function %s variable %s: %w", id, name, err)
			}
			fn.Environment[name] = v
		}
	}
	names := make([]string, 0, len(props.Events))
	for name := range props.Events {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		ev := props.Events[name]
		switch ev.Type {
		case "HttpApi":
			method := strings.ToUpper(ev.Properties.Method)
			if method == "" {
				method = "ANY"
			}
			fn.Routes = append(fn.Routes, Route{Method: method, Path: ev.Properties.Path})
		case "Schedule", "ScheduleV2":
			expr, err := t.resolve(&ev.Properties.Schedule)
			if err != nil {
				return Function{}, fmt.Errorf("function %s event %s: %w", id, name, err)
			}
			every, err := RateOf(expr)
			if err != nil {
				return Function{}, fmt.Errorf("function %s event %s: %w", id, name, err)
			}
			fn.Schedules = append(fn.Schedules, Schedule{Name: name, Expression: expr, Every: every})
		case "DynamoDB":
			st, err := t.stream(name, ev.Properties.Stream, ev.Properties.BatchSize, ev.Properties.FilterCriteria.Filters)
			if err != nil {
				return Function{}, fmt.Errorf("function %s event %s: %w", id, name, err)
			}
			fn.Streams = append(fn.Streams, st)
		}
	}
	return fn, nil
}

// stream reads a DynamoDB event: its table (Stream: !GetAtt T.StreamArn),
// batch size and the eventName values of its filter.
func (t *Template) stream(name string, arn yaml.Node, batch int, filters []struct {
	Pattern string `yaml:"Pattern"`
}) (Stream, error) {
	table, attr, ok := strings.Cut(arn.Value, ".")
	if arn.Tag != "!GetAtt" || !ok || attr != "StreamArn" || t.resources[table] != "AWS::DynamoDB::Table" {
		return Stream{}, fmt.Errorf("the stream must be !GetAtt <Table>.StreamArn, not %s %q", arn.Tag, arn.Value)
	}
	if batch == 0 {
		batch = 100 // Lambda's default for DynamoDB streams
	}
	st := Stream{Name: name, Table: table, BatchSize: batch}
	for _, f := range filters {
		var pattern struct {
			EventName []string `json:"eventName"`
		}
		if err := json.Unmarshal([]byte(f.Pattern), &pattern); err != nil {
			return Stream{}, fmt.Errorf("filter %q: %w", f.Pattern, err)
		}
		st.EventNames = append(st.EventNames, pattern.EventName...)
	}
	return st, nil
}

var rateExpr = regexp.MustCompile(`^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$`)

// RateOf is the period of a rate(...) expression; zero for cron(...).
func RateOf(expr string) (time.Duration, error) {
	if strings.HasPrefix(expr, "cron(") {
		return 0, nil
	}
	m := rateExpr.FindStringSubmatch(expr)
	if m == nil {
		return 0, fmt.Errorf("schedule %q is neither rate(N unit) nor cron(...)", expr)
	}
	n, _ := strconv.Atoi(m[1])
	unit := map[string]time.Duration{"minute": time.Minute, "hour": time.Hour, "day": 24 * time.Hour}[strings.TrimSuffix(m[2], "s")]
	return time.Duration(n) * unit, nil
}

func (t *Template) table(id string, propsNode yaml.Node) (Table, error) {
	var props rawTableProps
	if err := propsNode.Decode(&props); err != nil {
		return Table{}, fmt.Errorf("table %s: %w", id, err)
	}
	in := &dynamodb.CreateTableInput{
		TableName:   aws.String(t.refName(id)),
		BillingMode: types.BillingModePayPerRequest,
	}
	for _, d := range props.AttributeDefinitions {
		in.AttributeDefinitions = append(in.AttributeDefinitions, types.AttributeDefinition{
			AttributeName: aws.String(d.AttributeName), AttributeType: types.ScalarAttributeType(d.AttributeType),
		})
	}
	in.KeySchema = keySchema(props.KeySchema)
	for _, g := range props.GlobalSecondaryIndexes {
		in.GlobalSecondaryIndexes = append(in.GlobalSecondaryIndexes, types.GlobalSecondaryIndex{
			IndexName: aws.String(g.IndexName),
			KeySchema: keySchema(g.KeySchema),
			Projection: &types.Projection{
				ProjectionType:   types.ProjectionType(g.Projection.ProjectionType),
				NonKeyAttributes: g.Projection.NonKeyAttributes,
			},
		})
	}
	table := Table{LogicalID: id, Definition: in, StreamView: props.StreamSpecification.StreamViewType}
	if props.TimeToLiveSpecification.Enabled {
		table.TTLField = props.TimeToLiveSpecification.AttributeName
	}
	return table, nil
}

func keySchema(keys []rawKey) []types.KeySchemaElement {
	out := make([]types.KeySchemaElement, len(keys))
	for i, k := range keys {
		out[i] = types.KeySchemaElement{AttributeName: aws.String(k.AttributeName), KeyType: types.KeyType(k.KeyType)}
	}
	return out
}

// refName is what !Ref of a resource means locally: tables are named by
// their logical id, since a local stack has no stack name to prefix.
func (t *Template) refName(id string) string { return id }

var subVar = regexp.MustCompile(`\$\{([A-Za-z0-9_:.]+)\}`)

// errNoValue is an !If choosing !Ref AWS::NoValue: the property is left out.
var errNoValue = errors.New("AWS::NoValue")

// resolve evaluates a scalar or the intrinsic functions an environment
// variable may use locally: !Ref, !Sub, and !If on the template's
// conditions. Anything else is an error, so a template change the local
// stack cannot honour is noticed at once.
func (t *Template) resolve(n *yaml.Node) (string, error) {
	switch n.Tag {
	case "!Ref":
		if n.Value == "AWS::NoValue" {
			return "", errNoValue
		}
		return t.ref(n.Value)
	case "!If":
		if n.Kind != yaml.SequenceNode || len(n.Content) != 3 {
			return "", errors.New("!If takes [condition, then, else]")
		}
		ok, err := t.condition(n.Content[0].Value)
		if err != nil {
			return "", err
		}
		if ok {
			return t.resolve(n.Content[1])
		}
		return t.resolve(n.Content[2])
	case "!Sub":
		var missing error
		out := subVar.ReplaceAllStringFunc(n.Value, func(m string) string {
			v, err := t.ref(m[2 : len(m)-1])
			if err != nil && missing == nil {
				missing = err
			}
			return v
		})
		return out, missing
	}
	if n.Kind != yaml.ScalarNode || (strings.HasPrefix(n.Tag, "!") && !strings.HasPrefix(n.Tag, "!!")) {
		return "", fmt.Errorf("%s is not supported locally (only !Ref and !Sub)", n.Tag)
	}
	return n.Value, nil
}

// condition evaluates one of the template's conditions.
func (t *Template) condition(name string) (bool, error) {
	n, ok := t.conditions[name]
	if !ok {
		return false, fmt.Errorf("no condition %s", name)
	}
	return t.eval(&n)
}

// eval evaluates a condition's function: !Equals, !Not, !And, !Or and
// !Condition.
func (t *Template) eval(n *yaml.Node) (bool, error) {
	args := n.Content
	switch n.Tag {
	case "!Condition":
		return t.condition(n.Value)
	case "!Equals":
		if len(args) != 2 {
			return false, errors.New("!Equals takes two values")
		}
		a, err := t.resolve(args[0])
		if err != nil {
			return false, err
		}
		b, err := t.resolve(args[1])
		return a == b, err
	case "!Not":
		if len(args) != 1 {
			return false, errors.New("!Not takes one condition")
		}
		v, err := t.eval(args[0])
		return !v, err
	case "!And", "!Or":
		all := n.Tag == "!And"
		for _, a := range args {
			v, err := t.eval(a)
			if err != nil {
				return false, err
			}
			if v != all {
				return v, nil
			}
		}
		return all, nil
	}
	return false, fmt.Errorf("%s is not supported in a condition locally", n.Tag)
}

func (t *Template) ref(name string) (string, error) {
	switch name {
	case "AWS::Region":
		return "us-east-1", nil
	case "AWS::AccountId":
		return "000000000000", nil
	case "AWS::StackName":
		return "local", nil
	case "AWS::Partition":
		return "aws", nil
	case "AWS::URLSuffix":
		return "amazonaws.com", nil
	}
	if v, ok := t.params[name]; ok {
		return v, nil
	}
	if _, ok := t.resources[name]; ok {
		return t.refName(name), nil
	}
	return "", fmt.Errorf("!Ref %s names nothing in the template", name)
}

// Function returns the function with the logical id.
func (t *Template) Function(id string) (Function, bool) {
	for _, f := range t.Functions {
		if f.LogicalID == id {
			return f, true
		}
	}
	return Function{}, false
}

// Table returns the table with the logical id.
func (t *Template) Table(id string) (Table, bool) {
	for _, tb := range t.Tables {
		if tb.LogicalID == id {
			return tb, true
		}
	}
	return Table{}, false
}
