package main

import (
	"fmt"
	"os"
	"strings"

	"sigs.k8s.io/yaml"
)

// writeRulesTemplate copies the rules of controller-gen's manager-role into
// named templates that the chart includes, so that the chart grants exactly
// what the markers in controllers/ ask for:
//
//   - sisporta.managerRules, from the ClusterRole: the chart's ClusterRole
//     (or, with watchNamespace, Role) of the operator;
//   - sisporta.defaultRedisRules, from the Role controller-gen writes for
//     the markers scoped to namespace "system": the Role that lets the
//     operator keep its copy of the default Redis URL in a namespace (the
//     release namespace, watchNamespace and defaultRedis.namespaces).
func writeRulesTemplate(src, dst string) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	rules := map[string]string{}
	for _, doc := range strings.Split(strings.TrimPrefix(string(b), "---\n"), "\n---\n") {
		var role struct {
			Kind     string `json:"kind"`
			Metadata struct {
				Name      string `json:"name"`
				Namespace string `json:"namespace"`
			} `json:"metadata"`
			Rules []map[string]any `json:"rules"`
		}
		if err := yaml.Unmarshal([]byte(doc), &role); err != nil {
			return fmt.Errorf("%s: %v (regenerate it with make manifests)", src, err)
		}
		if role.Metadata.Name != "manager-role" || len(role.Rules) == 0 || (role.Kind == "Role" && role.Metadata.Namespace != "system") {
			return fmt.Errorf("%s: a %s %s/%s, want controller-gen's manager-role: a ClusterRole, and a Role in namespace system; update hack/manifestgen/rbac.go if the markers changed shape", src, role.Kind, role.Metadata.Namespace, role.Metadata.Name)
		}
		i := strings.Index(doc, "\nrules:\n")
		if i < 0 {
			return fmt.Errorf("%s: no top-level rules: list in the %s", src, role.Kind)
		}
		if _, dup := rules[role.Kind]; dup {
			return fmt.Errorf("%s: two %ss", src, role.Kind)
		}
		rules[role.Kind] = strings.TrimRight(doc[i+len("\nrules:\n"):], "\n")
	}
	if rules["ClusterRole"] == "" || rules["Role"] == "" {
		return fmt.Errorf("%s: want a ClusterRole and a Role in namespace system, as controller-gen writes for rbac:roleName=manager-role and the markers in controllers/doc.go", src)
	}
	var out strings.Builder
	fmt.Fprintf(&out, "{{- /* "+generatedHeader+" */ -}}\n", src)
	out.WriteString("{{- /* The operator's RBAC rules, as the +kubebuilder:rbac markers in controllers/ ask. */ -}}\n")
	out.WriteString("{{- define \"sisporta.managerRules\" }}\n")
	out.WriteString(escapeTemplate(rules["ClusterRole"]) + "\n")
	out.WriteString("{{- end }}\n")
	out.WriteString("{{- /* The writes of the operator's copy of the default Redis URL, granted per namespace. */ -}}\n")
	out.WriteString("{{- define \"sisporta.defaultRedisRules\" }}\n")
	out.WriteString(escapeTemplate(rules["Role"]) + "\n")
	out.WriteString("{{- end }}\n")
	return write(dst, []byte(out.String()))
}
