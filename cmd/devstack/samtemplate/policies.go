package samtemplate

import (
	"fmt"
	"os"
	"strings"

	"gopkg.in/yaml.v3"
)

// Statement is an Allow statement of an IAM policy of the template, as the
// tests that hold code to its policies read it: resources by logical id
// (${InstancesTable.Arn} is InstancesTable, ${InstancesTable.Arn}/index/x
// is InstancesTable/index/x), and the LeadingKeys patterns of its
// ForAllValues:StringLike condition (nil: none).
type Statement struct {
	Actions, Resources, LeadingKeys []string
}

// Grants is every "action resource" a set of statements allows.
func Grants(statements []Statement) map[string]bool {
	out := map[string]bool{}
	for _, st := range statements {
		for _, a := range st.Actions {
			for _, r := range st.Resources {
				out[a+" "+r] = true
			}
		}
	}
	return out
}

// Statements reads the Allow statements of a resource's policies: a
// function's inline Policies, or a managed policy's PolicyDocument.
func Statements(path, logicalID string) ([]Statement, error) {
	text, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read template: %w", err)
	}
	var doc struct {
		Resources map[string]struct {
			Properties struct {
				Policies       []policyDocument `yaml:"Policies"`
				PolicyDocument policyDocument   `yaml:"PolicyDocument"`
			} `yaml:"Properties"`
		} `yaml:"Resources"`
	}
	if err := yaml.Unmarshal(text, &doc); err != nil {
		return nil, fmt.Errorf("parse template: %w", err)
	}
	res, ok := doc.Resources[logicalID]
	if !ok {
		return nil, fmt.Errorf("no resource %s in the template", logicalID)
	}
	var out []Statement
	for _, p := range append(res.Properties.Policies, res.Properties.PolicyDocument) {
		for _, st := range p.Statement {
			if st.Effect != "Allow" {
				continue
			}
			s := Statement{Actions: scalars(st.Action)}
			for _, r := range scalars(st.Resource) {
				s.Resources = append(s.Resources, strings.NewReplacer("${", "", "}", "", ".Arn", "").Replace(r))
			}
			if c, ok := st.Condition["ForAllValues:StringLike"]; ok {
				s.LeadingKeys = scalars(c["dynamodb:LeadingKeys"])
			}
			out = append(out, s)
		}
	}
	return out, nil
}

type policyDocument struct {
	Statement []struct {
		Effect    string                          `yaml:"Effect"`
		Action    yaml.Node                       `yaml:"Action"`
		Resource  yaml.Node                       `yaml:"Resource"`
		Condition map[string]map[string]yaml.Node `yaml:"Condition"`
	} `yaml:"Statement"`
}

// scalars are a node's values: itself, or a list's items (an intrinsic
// function within a list, such as !If, has none).
func scalars(n yaml.Node) []string {
	if n.Kind != yaml.SequenceNode {
		return []string{n.Value}
	}
	var out []string
	for _, c := range n.Content {
		if c.Kind == yaml.ScalarNode {
			out = append(out, c.Value)
		}
	}
	return out
}
