package shared_test

import (
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/guance/aliyun-marketplace/"

// layer names what a package of the module is.
func layer(pkg string) string {
	p := strings.TrimPrefix(pkg, module)
	switch {
	case strings.HasPrefix(p, "shared/domain/"):
		return "domain"
	case strings.HasPrefix(p, "shared/endpoints/"):
		switch strings.Split(p, "/")[2] {
		case "flow", "web", "i18n", "routes":
			return "plumbing"
		}
		return "endpoint"
	case p == "shared/jobs/runner":
		return "runner"
	case strings.HasPrefix(p, "shared/jobs/"):
		return "job"
	case strings.HasPrefix(p, "shared/adapters/"):
		return "adapter"
	case strings.HasPrefix(p, "shared/platform/"):
		return "platform"
	case strings.HasPrefix(p, "functions/"):
		return "function"
	case strings.HasPrefix(p, "cmd/"):
		return "dev"
	case !strings.HasPrefix(pkg, module):
		return "outside"
	}
	return "shared"
}

// forbidden says why an import from one layer to another breaks the
// direction, or "".
func forbidden(from, to string, sameTop bool) string {
	switch {
	case to == "outside" || from == to && from != "endpoint" && from != "job":
		return ""
	case to == "dev":
		return "nothing that ships in a function imports the dev-only tree"
	case from == "domain" && to != "platform":
		return "the domain imports only the domain and the platform"
	case from == "endpoint" && to == "endpoint" && !sameTop:
		return "a surface never imports another surface"
	case from == "job" && to == "job" && !sameTop:
		return "a job never imports another job"
	case from == "job" && (to == "endpoint" || to == "plumbing" || to == "adapter"):
		return "a job reaches storage and the marketplace through interfaces it declares, and no surface"
	case from == "plumbing" && (to == "endpoint" || to == "job"):
		return "what the surfaces share imports none of them"
	case from == "adapter" && (to == "endpoint" || to == "job"):
		return "an adapter imports no surface and no job"
	case from == "platform" && to != "adapter":
		return "the platform imports only the platform (and Parameter Store for secrets)"
	case from == "runner" && to != "platform" && to != "domain":
		return "the runner imports only the domain and the platform"
	case to == "function":
		return "no package imports a function"
	}
	return ""
}

// TestImportsPointOneWay walks the module's packages with go list: every
// import of every package that ships in a function follows the layers
// (see doc.go), and no function links anything of the dev-only tree.
func TestImportsPointOneWay(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", "{{.ImportPath}}|{{join .Imports \",\"}}|{{join .Deps \",\"}}", module+"shared/...", module+"functions/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		parts := strings.Split(line, "|")
		pkg, from := parts[0], layer(parts[0])
		for _, imp := range strings.Split(parts[1], ",") {
			if imp == "" {
				continue
			}
			top := func(p string) string {
				s := strings.Split(strings.TrimPrefix(p, module), "/")
				return strings.Join(s[:min(3, len(s))], "/")
			}
			if why := forbidden(from, layer(imp), top(pkg) == top(imp)); why != "" {
				t.Errorf("%s (%s) imports %s (%s): %s", strings.TrimPrefix(pkg, module), from, strings.TrimPrefix(imp, module), layer(imp), why)
			}
		}
		if from == "function" {
			for _, dep := range strings.Split(parts[2], ",") {
				if layer(dep) == "dev" {
					t.Errorf("%s links %s, which is dev-only", strings.TrimPrefix(pkg, module), strings.TrimPrefix(dep, module))
				}
			}
		}
	}
}

// TestTheRulesBite: the rules refuse what they are meant to.
func TestTheRulesBite(t *testing.T) {
	for _, tt := range []struct{ from, to string }{
		{module + "shared/domain/activation", module + "shared/adapters/storage"},
		{module + "shared/domain/activation", module + "shared/endpoints/callback"},
		{module + "shared/endpoints/registration", module + "shared/endpoints/sendcode"},
		{module + "shared/jobs/reconcile", module + "shared/endpoints/callback"},
		{module + "shared/jobs/reconcile", module + "shared/adapters/storage"},
		{module + "shared/endpoints/flow", module + "shared/endpoints/sso"},
		{module + "shared/adapters/storage", module + "cmd/devstack/dynamotest"},
	} {
		if forbidden(layer(tt.from), layer(tt.to), false) == "" {
			t.Errorf("%s -> %s is allowed", tt.from, tt.to)
		}
	}
}
