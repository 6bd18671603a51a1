package samtemplate_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// step is a workflow step.
type step struct {
	Uses string            `yaml:"uses"`
	Run  string            `yaml:"run"`
	With map[string]string `yaml:"with"`
}

// TestDeliveryPipeline: main deploys to dev, smoke-tests it, and only then
// (after the prod environment's approval) deploys to prod, smoke-tests and
// tags it; every AWS step takes its stage's role by OIDC, never a stored
// key.
func TestDeliveryPipeline(t *testing.T) {
	text, err := os.ReadFile(filepath.Join("..", "..", "..", ".github", "workflows", "deploy.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var wf struct {
		Jobs map[string]struct {
			Needs       any               `yaml:"needs"`
			Environment string            `yaml:"environment"`
			Permissions map[string]string `yaml:"permissions"`
			Steps       []step            `yaml:"steps"`
		} `yaml:"jobs"`
	}
	if err := yaml.Unmarshal(text, &wf); err != nil {
		t.Fatal(err)
	}
	needs := func(job string) string {
		if s, ok := wf.Jobs[job].Needs.(string); ok {
			return s
		}
		return ""
	}
	for job, after := range map[string]string{"build": "test", "deploy-dev": "build", "smoke-dev": "deploy-dev", "deploy-prod": "smoke-dev", "tag": "deploy-prod"} {
		if needs(job) != after {
			t.Errorf("%s needs %q, want %q", job, needs(job), after)
		}
	}
	if wf.Jobs["deploy-dev"].Environment != "dev" || wf.Jobs["deploy-prod"].Environment != "prod" {
		t.Error("each deploy job runs in its stage's environment (prod's holds the approval)")
	}
	var prodRuns []string
	for _, job := range []string{"deploy-dev", "deploy-prod"} {
		j := wf.Jobs[job]
		if j.Permissions["id-token"] != "write" {
			t.Errorf("%s: no OIDC token", job)
		}
		oidc := false
		for _, st := range j.Steps {
			if strings.HasPrefix(st.Uses, "aws-actions/configure-aws-credentials@") {
				oidc = st.With["role-to-assume"] != "" && st.With["aws-access-key-id"] == ""
			}
			if job == "deploy-prod" {
				prodRuns = append(prodRuns, st.Run)
			}
		}
		if !oidc {
			t.Errorf("%s: credentials are not a role by OIDC", job)
		}
	}
	all := strings.Join(prodRuns, "\n")
	if !strings.Contains(all, "make smoke") || strings.Index(all, "sam deploy") > strings.Index(all, "make smoke") {
		t.Error("prod: deploy, then smoke")
	}
	// Only the tag job writes to the repository, and it has no AWS role.
	for job, j := range wf.Jobs {
		if j.Permissions["contents"] == "write" && (job != "tag" || j.Permissions["id-token"] != "") {
			t.Errorf("%s may write to the repository", job)
		}
	}
	smoked := false
	for _, st := range wf.Jobs["smoke-dev"].Steps {
		smoked = smoked || strings.Contains(st.Run, "make smoke")
	}
	if !smoked {
		t.Error("dev is smoke-tested")
	}
}

// TestDeployRoleCanDeploy: what sam deploy does with the deploy role (a
// change set, its execution, the stack's outputs, the packages, handing
// over the execution role) is granted; and the workflow's deploys do not
// ask SAM for a bucket of its own beside the stage's (--resolve-s3 with
// --s3-bucket is refused), and make the downloaded bootstraps runnable.
func TestDeployRoleCanDeploy(t *testing.T) {
	text, err := os.ReadFile(filepath.Join("..", "..", "..", "pipeline", "roles.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(text, &doc); err != nil {
		t.Fatal(err)
	}
	role := node{doc.Content[0]}.get("Resources").get("DeployRole").get("Properties").get("Policies")
	for _, want := range []string{"cloudformation:CreateChangeSet", "cloudformation:ExecuteChangeSet", "cloudformation:DescribeChangeSet",
		"cloudformation:DescribeStacks", "cloudformation:DescribeStackEvents", "iam:PassRole", "s3:PutObject"} {
		if !role.mentions(want) {
			t.Errorf("the deploy role lacks %s", want)
		}
	}
	config, err := os.ReadFile(filepath.Join("..", "..", "..", "pipeline", "samconfig.toml"))
	if err != nil || strings.Contains(string(config), "resolve_s3") {
		t.Fatalf("pipeline/samconfig.toml: %v, or it asks for resolve_s3", err)
	}
	workflow, _ := os.ReadFile(filepath.Join("..", "..", "..", ".github", "workflows", "deploy.yml"))
	if strings.Count(string(workflow), "--config-file pipeline/samconfig.toml") != 2 || strings.Count(string(workflow), "chmod +x .aws-sam/build/*/bootstrap") != 2 {
		t.Error("each deploy uses pipeline/samconfig.toml and makes the bootstraps runnable")
	}
}
