package localstack_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/guance/aliyun-marketplace/cmd/devstack/localstack"
	"github.com/guance/aliyun-marketplace/cmd/devstack/samtemplate"
)

// TestSAMEnvIsInStep: sam-local-env.json, sam local's env-vars file, is
// what the template makes of it today (regenerate it with
// `go run ./cmd/local sam-env > sam-local-env.json`): every function,
// only variables the template declares (SAM ignores others), pointing at
// make dev's services from a container, with the local secrets; and
// samconfig.toml hands it to sam local.
func TestSAMEnvIsInStep(t *testing.T) {
	root, err := localstack.Root()
	if err != nil {
		t.Fatal(err)
	}
	tmpl, err := samtemplate.Load(filepath.Join(root, "template.yaml"), nil)
	if err != nil {
		t.Fatal(err)
	}
	var want bytes.Buffer
	if err := localstack.WriteSAMEnv(&want, tmpl, localstack.DockerHost); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(root, "sam-local-env.json"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want.Bytes()) {
		t.Fatalf("sam-local-env.json is stale: run `go run ./cmd/local sam-env > sam-local-env.json`")
	}
	var file map[string]map[string]string
	if err := json.Unmarshal(got, &file); err != nil {
		t.Fatal(err)
	}
	if len(file) != len(tmpl.Functions) {
		t.Fatalf("%d functions in the file, %d in the template", len(file), len(tmpl.Functions))
	}
	for _, fn := range tmpl.Functions {
		vars := file[fn.LogicalID]
		for name := range vars {
			if _, declared := fn.Environment[name]; !declared {
				t.Errorf("%s: %s is not declared by the template: sam local would ignore it", fn.LogicalID, name)
			}
		}
		for _, name := range []string{"AWS_ENDPOINT_URL_DYNAMODB", "AWS_ENDPOINT_URL_SES", "AWS_ENDPOINT_URL_EVENTBRIDGE"} {
			if !strings.HasPrefix(vars[name], "http://"+localstack.DockerHost+":") {
				t.Errorf("%s: %s = %q", fn.LogicalID, name, vars[name])
			}
		}
		// Every secret the function would read from Parameter Store is
		// given directly (a container has no way to it).
		for name := range fn.Environment {
			if secret, ok := strings.CutSuffix(name, "_PARAMETER"); ok && !strings.HasSuffix(secret, "_PREVIOUS") && vars[secret] == "" {
				t.Errorf("%s: %s is read from Parameter Store and not given locally", fn.LogicalID, secret)
			}
		}
		// In the template itself these are empty: never a value in AWS.
		for _, name := range []string{"AWS_ENDPOINT_URL_DYNAMODB", "MARKET_ISV_KEY", "CODE_HASH_SECRET", "MARKET_ACCESS_KEY_SECRET"} {
			if fn.Environment[name] != "" {
				t.Errorf("%s: template.yaml gives %s a value", fn.LogicalID, name)
			}
		}
	}
	config, err := os.ReadFile(filepath.Join(root, "samconfig.toml"))
	if err != nil || strings.Count(string(config), `env_vars = "sam-local-env.json"`) != 2 {
		t.Fatalf("samconfig.toml does not hand the file to sam local invoke and start-api: %v", err)
	}
}
