package samtemplate

import (
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/guance/aliyun-marketplace/shared/endpoints/routes"
)

func TestProjectTemplate(t *testing.T) {
	tmpl, err := Load(filepath.Join("..", "..", "..", "template.yaml"), map[string]string{"FrontEndUrl": "https://front.example"})
	if err != nil {
		t.Fatal(err)
	}
	fn, ok := tmpl.Function("MarketplaceCallbackFunction")
	if !ok {
		t.Fatal("no MarketplaceCallbackFunction")
	}
	if fn.BuildMethod != "makefile" || fn.Timeout != 10 {
		t.Errorf("build %q timeout %d", fn.BuildMethod, fn.Timeout)
	}
	wantRoutes := map[Route]bool{{"GET", "/aliyun/spi"}: true, {"POST", "/aliyun/spi"}: true}
	if len(fn.Routes) != len(wantRoutes) {
		t.Errorf("routes %v", fn.Routes)
	}
	for _, r := range fn.Routes {
		if !wantRoutes[r] {
			t.Errorf("unexpected route %v", r)
		}
	}
	for name, want := range map[string]string{
		"INSTANCES_TABLE":          "InstancesTable",
		"FRONTEND_URL":             "https://front.example",
		"MARKET_ISV_KEY_PARAMETER": "/guance-marketplace/dev/isv-key",
		"STAGE":                    "dev", // from Globals
	} {
		if got := fn.Environment[name]; got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
	// Declared for sam local only, and empty: the template never
	// carries a secret itself.
	for _, secret := range []string{"MARKET_ISV_KEY", "CODE_HASH_SECRET", "MARKET_ACCESS_KEY_ID", "MARKET_ACCESS_KEY_SECRET"} {
		if v := fn.Environment[secret]; v != "" {
			t.Errorf("the template gives %s a value", secret)
		}
	}
	ttl := map[string]string{}
	for _, table := range tmpl.Tables {
		ttl[aws.ToString(table.Definition.TableName)] = table.TTLField
	}
	want := map[string]string{"AccountsTable": "", "InstancesTable": "expiresAt", "SessionsTable": "expiresAt", "VerificationTable": "expiresAt", "OutboxTable": "expiresAt", "WorkspacesTable": "", "UsageTable": "expiresAt", "MeteringTable": "", "AuditTable": "expiresAt"}
	if len(ttl) != len(want) {
		t.Fatalf("tables %v", ttl)
	}
	for name, field := range want {
		if got, ok := ttl[name]; !ok || got != field {
			t.Errorf("table %s: TTL %q, want %q", name, got, field)
		}
	}
	outbox, ok := tmpl.Function("OutboxFunction")
	if !ok || len(outbox.Streams) != 1 || outbox.Streams[0].Table != "OutboxTable" || outbox.Streams[0].BatchSize != 10 ||
		len(outbox.Streams[0].EventNames) != 1 || outbox.Streams[0].EventNames[0] != "INSERT" || len(outbox.Schedules) != 0 {
		t.Fatalf("OutboxFunction events: %+v %+v", outbox.Streams, outbox.Schedules)
	}
	reconcile, ok := tmpl.Function("ReconcileFunction")
	if !ok || len(reconcile.Schedules) != 1 || reconcile.Schedules[0].Every != 15*time.Minute {
		t.Fatalf("ReconcileFunction schedules: %+v", reconcile.Schedules)
	}
	sso, ok := tmpl.Function("SsoRedirectFunction")
	if !ok || len(sso.Routes) != 7 || sso.Environment["SESSIONS_TABLE"] != "SessionsTable" || sso.Environment["COOKIE_SECURE"] != "true" {
		t.Fatalf("SsoRedirectFunction %+v", sso)
	}
}

func TestIntrinsics(t *testing.T) {
	text := []byte(`
Parameters:
  Name: {Type: String, Default: world}
Resources:
  T:
    Type: AWS::DynamoDB::Table
    Properties:
      KeySchema: [{AttributeName: pk, KeyType: HASH}]
      AttributeDefinitions: [{AttributeName: pk, AttributeType: S}]
      TimeToLiveSpecification: {AttributeName: expiresAt, Enabled: true}
  F:
    Type: AWS::Serverless::Function
    Metadata: {BuildMethod: makefile}
    Properties:
      Environment:
        Variables:
          A: !Ref Name
          B: !Sub "hello ${Name} in ${AWS::Region} via ${T}"
          C: plain
      Events:
        Tick: {Type: Schedule, Properties: {Schedule: rate(5 minutes)}}
        Page: {Type: HttpApi, Properties: {Path: "/p/{id}"}}
`)
	tmpl, err := Parse(text, nil)
	if err != nil {
		t.Fatal(err)
	}
	fn, _ := tmpl.Function("F")
	if fn.Environment["A"] != "world" || fn.Environment["B"] != "hello world in us-east-1 via T" || fn.Environment["C"] != "plain" {
		t.Errorf("env %v", fn.Environment)
	}
	if len(fn.Routes) != 1 || fn.Routes[0] != (Route{"ANY", "/p/{id}"}) || len(fn.Schedules) != 1 || fn.Schedules[0].Every != 5*time.Minute {
		t.Errorf("events %v %v", fn.Routes, fn.Schedules)
	}
	if tmpl.Tables[0].TTLField != "expiresAt" {
		t.Errorf("ttl %q", tmpl.Tables[0].TTLField)
	}

	bad := []byte("Resources:\n  F:\n    Type: AWS::Serverless::Function\n    Properties:\n      Environment:\n        Variables:\n          A: !Ref Nothing\n")
	if _, err := Parse(bad, nil); err == nil {
		t.Error("a !Ref to nothing must be an error")
	}
	getAtt := []byte("Resources:\n  F:\n    Type: AWS::Serverless::Function\n    Properties:\n      Environment:\n        Variables:\n          A: !GetAtt X.Arn\n")
	if _, err := Parse(getAtt, nil); err == nil {
		t.Error("an intrinsic the local stack cannot evaluate must be an error")
	}
}

func TestRateOf(t *testing.T) {
	for expr, want := range map[string]time.Duration{
		"rate(1 minute)": time.Minute, "rate(15 minutes)": 15 * time.Minute, "rate(2 hours)": 2 * time.Hour,
		"rate(1 day)": 24 * time.Hour, "cron(0 12 * * ? *)": 0,
	} {
		if got, err := RateOf(expr); err != nil || got != want {
			t.Errorf("RateOf(%q) = %v, %v; want %v", expr, got, err, want)
		}
	}
	for _, bad := range []string{"rate(minute)", "every 5 minutes", "rate(5 weeks)"} {
		if _, err := RateOf(bad); err == nil {
			t.Errorf("RateOf(%q) accepted", bad)
		}
	}
}

// TestRoutesAreTheTemplates: every path the HTTP API routes to a function
// is one of the routes package's, and every one of those is routed.
func TestRoutesAreTheTemplates(t *testing.T) {
	tmpl, err := Load(filepath.Join("..", "..", "..", "template.yaml"), nil)
	if err != nil {
		t.Fatal(err)
	}
	routed := map[string]bool{}
	for _, fn := range tmpl.Functions {
		for _, r := range fn.Routes {
			if r.Path == "/" || r.Path == "/{proxy+}" {
				continue // the catch-all not-found page
			}
			if !slices.Contains(routes.All, r.Path) {
				t.Errorf("%s routes %s %s, which shared/endpoints/routes does not name", fn.LogicalID, r.Method, r.Path)
			}
			routed[r.Path] = true
		}
	}
	for _, p := range routes.All {
		if !routed[p] {
			t.Errorf("routes.%s is routed to no function", p)
		}
	}
}

// TestConditionalVariables: an !If on a condition picks its value, and
// one that picks AWS::NoValue leaves the variable out, as CloudFormation
// does.
func TestConditionalVariables(t *testing.T) {
	text := `
Parameters:
  Previous: {Type: String, Default: ""}
  Domain: {Type: String, Default: "api.example.com"}
Conditions:
  HasPrevious: !Not [!Equals [!Ref Previous, ""]]
  HasDomain: !And [!Not [!Equals [!Ref Domain, ""]], !Condition HasAny]
  HasAny: !Or [!Equals [!Ref Domain, "x"], !Equals ["a", "a"]]
Resources:
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      Environment:
        Variables:
          PREVIOUS_PARAMETER: !If [HasPrevious, !Ref Previous, !Ref AWS::NoValue]
          PUBLIC_BASE_URL: !If [HasDomain, !Sub "https://${Domain}", ""]
`
	for _, tc := range []struct {
		overrides map[string]string
		previous  string
		has       bool
		base      string
	}{
		{nil, "", false, "https://api.example.com"},
		{map[string]string{"Previous": "/p/old", "Domain": ""}, "/p/old", true, ""},
	} {
		tmpl, err := Parse([]byte(text), tc.overrides)
		if err != nil {
			t.Fatal(err)
		}
		fn, _ := tmpl.Function("Fn")
		v, ok := fn.Environment["PREVIOUS_PARAMETER"]
		if ok != tc.has || v != tc.previous || fn.Environment["PUBLIC_BASE_URL"] != tc.base {
			t.Fatalf("%v: %v", tc.overrides, fn.Environment)
		}
	}
}
