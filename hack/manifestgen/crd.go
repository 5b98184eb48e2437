package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"sigs.k8s.io/yaml"
)

const chartTemplates = "charts/sisporta/templates"

// crdTemplatePath names the chart template of a CRD file of config/crd/bases.
func crdTemplatePath(src string) string {
	return filepath.Join(chartTemplates, "crd-"+filepath.Base(src))
}

// removeStaleCRDTemplates deletes templates of CRDs that no longer exist.
func removeStaleCRDTemplates(sources []string) error {
	keep := map[string]bool{}
	for _, s := range sources {
		keep[crdTemplatePath(s)] = true
	}
	old, err := filepath.Glob(filepath.Join(chartTemplates, "crd-*.yaml"))
	if err != nil {
		return err
	}
	for _, f := range old {
		if !keep[f] {
			if err := os.Remove(f); err != nil {
				return err
			}
		}
	}
	return nil
}

// writeCRDTemplate copies a controller-gen CRD into the chart. The CRD lives
// in templates/, not crds/, because Helm never upgrades what is in crds/;
// crds.keep adds helm.sh/resource-policy: keep so that uninstalling the chart
// does not delete every SyncPipeline with it.
func writeCRDTemplate(src string) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	var probe struct {
		Kind string `json:"kind"`
	}
	if err := yaml.Unmarshal(b, &probe); err != nil || probe.Kind != "CustomResourceDefinition" {
		return fmt.Errorf("%s is not one CustomResourceDefinition (%v): regenerate it with make manifests", src, err)
	}
	lines := strings.Split(strings.TrimRight(strings.TrimPrefix(string(b), "---\n"), "\n"), "\n")
	// controller-gen writes apiVersion, kind, then metadata with annotations
	// first and name last; insert the chart's annotations and labels there.
	i := indexOf(lines, "  name: ")
	if i < 0 || !contains(lines[:i], "  annotations:") || !contains(lines[:i], "metadata:") {
		return fmt.Errorf("%s: metadata is not in the shape controller-gen writes (metadata.annotations, then metadata.name); update hack/manifestgen/crd.go", src)
	}
	var out strings.Builder
	fmt.Fprintf(&out, "{{- /* "+generatedHeader+" */ -}}\n", src)
	out.WriteString("{{- if .Values.crds.enabled }}\n")
	for _, l := range lines[:i] {
		out.WriteString(escapeTemplate(l) + "\n")
	}
	out.WriteString(`    {{- if .Values.crds.keep }}
    helm.sh/resource-policy: keep
    {{- end }}
    {{- with .Values.crds.annotations }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  labels:
    {{- include "sisporta.labels" . | nindent 4 }}
`)
	for _, l := range lines[i:] {
		out.WriteString(escapeTemplate(l) + "\n")
	}
	out.WriteString("{{- end }}\n")
	return write(crdTemplatePath(src), []byte(out.String()))
}

// escapeTemplate keeps text that looks like a template action (a CEL
// message or description with "{{") literal in the chart.
func escapeTemplate(s string) string {
	return strings.ReplaceAll(s, "{{", `{{ "{{" }}`)
}

func indexOf(lines []string, prefix string) int {
	for i, l := range lines {
		if strings.HasPrefix(l, prefix) {
			return i
		}
	}
	return -1
}

func contains(lines []string, s string) bool {
	for _, l := range lines {
		if l == s {
			return true
		}
	}
	return false
}
