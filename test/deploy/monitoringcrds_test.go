package deploy

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// The Prometheus Operator's CRDs (ServiceMonitor, PodMonitor,
// PrometheusRule) come, exactly as it publishes them, from its Go module on
// the module proxy: pinned by version and by the module's hash, fetched
// once into the Go module cache like every other dependency, and never
// copied into this repository (they are the Prometheus Operator's, and a
// copy would go stale). Their real schemas make the API server refuse what
// the Prometheus Operator would refuse: a `for` that is not a duration, a
// misplaced field, a label that is not a string.
const (
	promOperatorModule  = "github.com/prometheus-operator/prometheus-operator"
	promOperatorVersion = "v0.85.0"
	// The go.sum hash of the module: `go mod download` checks it against
	// the checksum database too; this holds it to the one reviewed here.
	promOperatorSum = "h1:M5xLCLEoaW2IJfnuCwFzzpL+jSVQu3KGT84Pye+fW8s="
)

var monitoringCRDFiles = []string{
	"monitoring.coreos.com_servicemonitors.yaml",
	"monitoring.coreos.com_podmonitors.yaml",
	"monitoring.coreos.com_prometheusrules.yaml",
}

// installMonitoringCRDs applies the Prometheus Operator's ServiceMonitor,
// PodMonitor and PrometheusRule CRDs to the test API server.
func installMonitoringCRDs(t *testing.T) {
	t.Helper()
	cmd := exec.Command("go", "mod", "download", "-json", promOperatorModule+"@"+promOperatorVersion)
	// Outside any module: the repository's go.mod and go.sum stay as they are.
	cmd.Dir = t.TempDir()
	cmd.Env = append(os.Environ(), "GO111MODULE=on", "GOFLAGS=-mod=mod")
	out, err := cmd.Output()
	var mod struct{ Dir, Sum, Error string }
	if jerr := json.Unmarshal(out, &mod); err != nil || jerr != nil || mod.Error != "" {
		t.Fatalf("go mod download %s@%s (the Prometheus Operator's CRDs): %v %v %s", promOperatorModule, promOperatorVersion, err, jerr, mod.Error)
	}
	if mod.Sum != promOperatorSum {
		t.Fatalf("%s@%s has hash %s, want %s", promOperatorModule, promOperatorVersion, mod.Sum, promOperatorSum)
	}
	for _, f := range monitoringCRDFiles {
		b, err := os.ReadFile(filepath.Join(mod.Dir, "example", "prometheus-operator-crd", f))
		if err != nil {
			t.Fatal(err)
		}
		for _, crd := range decodeObjects(t, string(b)) {
			applyCRD(t, crd)
		}
	}
}

// TestPrometheusRuleIsCheckedByTheRealCRD: the PrometheusRule CRD on the
// test API server is the Prometheus Operator's, with its schema: the
// chart's rule is accepted, and the same rule with a `for` that is not a
// duration, or a rule without expr, is refused.
func TestPrometheusRuleIsCheckedByTheRealCRD(t *testing.T) {
	ensureNamespace(t, releaseNS, nil)
	installMonitoringCRDs(t)
	pr := find(t, helmTemplate(t, "--set", "metrics.prometheusRule.enabled=true"), "PrometheusRule", "sisporta")
	acceptAll(t, []*unstructured.Unstructured{pr})
	for name, breakIt := range map[string]func(rule map[string]any){
		"for is not a duration": func(rule map[string]any) { rule["for"] = "ten minutes" },
		"no expr":               func(rule map[string]any) { delete(rule, "expr") },
	} {
		bad := pr.DeepCopy()
		groups, _, _ := unstructured.NestedSlice(bad.Object, "spec", "groups")
		rules := groups[0].(map[string]any)["rules"].([]any)
		breakIt(rules[0].(map[string]any))
		if err := unstructured.SetNestedSlice(bad.Object, groups, "spec", "groups"); err != nil {
			t.Fatal(err)
		}
		err := env.Client.Patch(context.Background(), bad, client.Apply, client.ForceOwnership, fieldOwner, client.DryRunAll)
		if err == nil {
			t.Errorf("%s: the API server accepts the PrometheusRule: is the PrometheusRule CRD the real one?", name)
		} else {
			t.Logf("%s: refused: %v", name, err)
		}
	}
}
