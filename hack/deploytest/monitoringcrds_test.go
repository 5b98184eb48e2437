package deploytest

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
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
