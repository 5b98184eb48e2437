package main

import (
	"fmt"
	"os"
	"strings"

	"sigs.k8s.io/yaml"
)

// writeRulesTemplate copies the rules of controller-gen's manager-role into
// a named template that the chart's ClusterRole (or, with watchNamespace,
// Role) includes, so that the chart grants exactly what the markers in
// controllers/ ask for.
func writeRulesTemplate(src, dst string) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	var role struct {
		Kind  string           `json:"kind"`
		Rules []map[string]any `json:"rules"`
	}
	if err := yaml.Unmarshal(b, &role); err != nil {
		return fmt.Errorf("%s: %v (regenerate it with make manifests)", src, err)
	}
	if role.Kind != "ClusterRole" || len(role.Rules) == 0 {
		return fmt.Errorf("%s: want one ClusterRole with rules, as controller-gen writes for rbac:roleName=manager-role; update hack/manifestgen/rbac.go if markers now make namespaced Roles", src)
	}
	text := string(b)
	i := strings.Index(text, "\nrules:\n")
	if i < 0 {
		return fmt.Errorf("%s: no top-level rules: list", src)
	}
	rules := strings.TrimRight(text[i+len("\nrules:\n"):], "\n")
	var out strings.Builder
	fmt.Fprintf(&out, "{{- /* "+generatedHeader+" */ -}}\n", src)
	out.WriteString("{{- /* The operator's RBAC rules, as the +kubebuilder:rbac markers in controllers/ ask. */ -}}\n")
	out.WriteString("{{- define \"sisporta.managerRules\" }}\n")
	out.WriteString(escapeTemplate(rules) + "\n")
	out.WriteString("{{- end }}\n")
	return write(dst, []byte(out.String()))
}
