package deploy

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

var (
	promOnce sync.Once
	promDir  string
	promErr  error
)

// prometheusBin returns the path of Debian's prometheus or promtool, which
// hack/prometheus.sh unpacks into a per-user cache (`make test` runs it
// first, so here it only prints the directory; it honours
// PROMETHEUS_BIN_DIR). A missing binary fails the test.
func prometheusBin(t *testing.T, name string) string {
	t.Helper()
	promOnce.Do(func() {
		cmd := exec.Command(filepath.Join(repoRoot(t), "hack", "prometheus.sh"))
		cmd.Stderr = os.Stderr
		out, err := cmd.Output()
		if err != nil {
			promErr = err
			return
		}
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		promDir = lines[len(lines)-1]
	})
	if promErr != nil {
		t.Fatalf("hack/prometheus.sh (it fetches Debian's prometheus package) failed: %v", promErr)
	}
	p := filepath.Join(promDir, name)
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("%s: %v (run hack/prometheus.sh, or set PROMETHEUS_BIN_DIR)", name, err)
	}
	return p
}

// promtool runs promtool in dir and returns its output and error.
func promtool(t *testing.T, dir string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(prometheusBin(t, "promtool"), args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// prometheusRuleGroups renders the chart's PrometheusRule with extra helm
// arguments and returns its spec (a Prometheus rule file's content).
func prometheusRuleGroups(t *testing.T, args ...string) map[string]any {
	t.Helper()
	objs := helmTemplate(t, append([]string{"--set", "metrics.prometheusRule.enabled=true"}, args...)...)
	pr := find(t, objs, "PrometheusRule", "sisporta")
	spec, ok := pr.Object["spec"].(map[string]any)
	if !ok {
		t.Fatalf("PrometheusRule without a spec: %v", pr.Object)
	}
	return spec
}

// ruleList returns (copies of) the rules of every group of a rule file's
// content.
func ruleList(t *testing.T, spec map[string]any) []map[string]any {
	t.Helper()
	groups, _, err := unstructured.NestedSlice(spec, "groups")
	if err != nil || len(groups) == 0 {
		t.Fatalf("no rule groups: %v %v", err, spec)
	}
	var rules []map[string]any
	for _, g := range groups {
		rs, _, _ := unstructured.NestedSlice(g.(map[string]any), "rules")
		for _, r := range rs {
			rules = append(rules, r.(map[string]any))
		}
	}
	return rules
}

func alertNames(t *testing.T, spec map[string]any) []string {
	var names []string
	for _, r := range ruleList(t, spec) {
		if a, ok := r["alert"].(string); ok {
			names = append(names, a)
		}
	}
	return names
}

// chartAlerts are the alerts the chart ships; the docs have a section for
// each (TestMonitoringDocsCoverEveryAlertAndMetric).
var chartAlerts = []string{
	"SisportaMirrorStale", "SisportaCleanupGuardTripped", "SisportaDeadLetterTasks", "SisportaPipelineNotReady",
	"SisportaPipelineDegraded", "SisportaBatchFailureRatioHigh", "SisportaWorkersNotReady", "SisportaOperatorAbsent",
}

func writeYAML(t *testing.T, path string, v any) {
	t.Helper()
	b, err := yaml.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestAlertRulesWithPromtool: the rendered rules pass `promtool check
// rules` (PromQL, durations, templates of the annotations), with the
// defaults and with every option; and `promtool test rules` runs
// testdata/alerts-test.yaml against the default rules: each alert fires on
// the series that should raise it and stays quiet on those that should not.
func TestAlertRulesWithPromtool(t *testing.T) {
	dir := t.TempDir()
	defaults := prometheusRuleGroups(t)
	if got := alertNames(t, defaults); !slices.Equal(got, chartAlerts) {
		t.Fatalf("the chart's alerts are %v, want %v", got, chartAlerts)
	}
	every := prometheusRuleGroups(t, "-f", allValues)
	for name, spec := range map[string]map[string]any{"rules-defaults.yaml": defaults, "rules-every-option.yaml": every} {
		writeYAML(t, filepath.Join(dir, name), spec)
		out, err := promtool(t, dir, "check", "rules", name)
		if err != nil || !strings.Contains(out, "SUCCESS") {
			t.Errorf("promtool check rules %s: %v\n%s", name, err, out)
		}
		t.Logf("promtool check rules %s: %s", name, strings.TrimSpace(out))
	}

	// promtool test rules compares annotations word for word: the rules
	// under test leave them out (they are checked expanded, on a real
	// Prometheus, in TestDashboardAndAlertsOnARealPrometheus).
	stripped := prometheusRuleGroups(t)
	for _, g := range stripped["groups"].([]any) {
		for _, r := range g.(map[string]any)["rules"].([]any) {
			delete(r.(map[string]any), "annotations")
		}
	}
	writeYAML(t, filepath.Join(dir, "rules.yaml"), stripped)
	tests, err := os.ReadFile("testdata/alerts-test.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "alerts-test.yaml"), tests, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := promtool(t, dir, "test", "rules", "alerts-test.yaml")
	if err != nil || !strings.Contains(out, "SUCCESS") {
		t.Fatalf("promtool test rules: %v\n%s", err, out)
	}

	// Each alert has a case where it fires and one where it does not.
	var file struct {
		Tests []struct {
			AlertRuleTest []struct {
				Alertname string `json:"alertname"`
				ExpAlerts []any  `json:"exp_alerts"`
			} `json:"alert_rule_test"`
		} `json:"tests"`
	}
	if err := yaml.Unmarshal(tests, &file); err != nil {
		t.Fatal(err)
	}
	fires, quiet := map[string]bool{}, map[string]bool{}
	for _, g := range file.Tests {
		for _, c := range g.AlertRuleTest {
			if len(c.ExpAlerts) > 0 {
				fires[c.Alertname] = true
			} else {
				quiet[c.Alertname] = true
			}
		}
	}
	for _, a := range chartAlerts {
		if !fires[a] || !quiet[a] {
			t.Errorf("testdata/alerts-test.yaml: %s needs a case where it fires (%v) and one where it does not (%v)", a, fires[a], quiet[a])
		}
	}
}

// TestPrometheusRuleOptions: what each value of metrics.prometheusRule
// changes in the rendered rule.
func TestPrometheusRuleOptions(t *testing.T) {
	if prs := ofKind(helmTemplate(t), "PrometheusRule"); len(prs) != 0 {
		t.Errorf("a PrometheusRule is rendered by default: %v", kindsAndNames(prs))
	}

	objs := helmTemplate(t, "-f", allValues)
	pr := find(t, objs, "PrometheusRule", "sisporta")
	if pr.GetNamespace() != "monitoring" || pr.GetLabels()["release"] != "prometheus" || pr.GetAnnotations()["example.com/owner"] != "data-platform" {
		t.Errorf("namespace %q, labels %v, annotations %v: want metrics.prometheusRule.namespace, labels and annotations",
			pr.GetNamespace(), pr.GetLabels(), pr.GetAnnotations())
	}
	rules := map[string]map[string]any{}
	for _, r := range ruleList(t, pr.Object["spec"].(map[string]any)) {
		name, _ := r["alert"].(string)
		if name == "" {
			name, _ = r["record"].(string)
		}
		rules[name] = r
	}
	for _, a := range chartAlerts {
		r := rules[a]
		labels, _, _ := unstructured.NestedStringMap(r, "labels")
		annotations, _, _ := unstructured.NestedStringMap(r, "annotations")
		if labels["team"] != "data" {
			t.Errorf("%s: labels %v lack alertLabels team=data", a, labels)
		}
		if want := "https://wiki.example.com/runbooks/sisporta#" + strings.ToLower(a); annotations["runbook_url"] != want {
			t.Errorf("%s: runbook_url %q, want %q", a, annotations["runbook_url"], want)
		}
		for _, k := range []string{"summary", "description", "runbook"} {
			if strings.TrimSpace(annotations[k]) == "" {
				t.Errorf("%s has no %s annotation", a, k)
			}
		}
	}
	for alert, want := range map[string][]string{
		"SisportaMirrorStale":           {"* 1.5, 7200)", "for=10m", "severity=page"},
		"SisportaCleanupGuardTripped":   {"for=1m"},
		"SisportaDeadLetterTasks":       {"for=1h30m"},
		"SisportaPipelineNotReady":      {"for=20m", "severity=critical"},
		"SisportaPipelineDegraded":      {"for=1h", "severity=info"},
		"SisportaBatchFailureRatioHigh": {"[30m]", "> 0.25", "for=0m"},
		"SisportaWorkersNotReady":       {"for=30m"},
		"SisportaOperatorAbsent":        {`absent(up{job="sisporta-metrics", namespace=~"sisporta-system|ops"} == 1)`, "for=5m"},
	} {
		r := rules[alert]
		labels, _, _ := unstructured.NestedStringMap(r, "labels")
		got := []string{r["expr"].(string), "for=" + r["for"].(string), "severity=" + labels["severity"]}
		for _, w := range want {
			if !strings.Contains(strings.Join(got, "\n"), w) {
				t.Errorf("%s does not hold %q: %v", alert, w, got)
			}
		}
	}
	if r := rules["SisportaMirrorLagHigh"]; r == nil || r["for"] != "30m" {
		t.Errorf("extraRules' alert missing or changed: %v", r)
	}
	if r := rules["sisporta:pipeline_staleness_seconds"]; r == nil {
		t.Error("extraRules' recording rule missing")
	}

	// Defaults: the operator absent alert selects what the chart's
	// ServiceMonitor scrapes; each alert can be turned off; no runbook_url
	// without a base.
	spec := prometheusRuleGroups(t, "--set", "metrics.prometheusRule.alerts.workersNotReady.enabled=false,metrics.prometheusRule.runbookUrl=")
	for _, r := range ruleList(t, spec) {
		if r["alert"] == "SisportaWorkersNotReady" {
			t.Error("alerts.workersNotReady.enabled=false still renders the alert")
		}
		if r["alert"] == "SisportaOperatorAbsent" && r["expr"] != `absent(up{job="sisporta-metrics", namespace="sisporta-system"} == 1)` {
			t.Errorf("operator absent expr %q, want the job and namespace of the chart's ServiceMonitor", r["expr"])
		}
		if _, ok, _ := unstructured.NestedString(r, "annotations", "runbook_url"); ok {
			t.Errorf("%s has a runbook_url with runbookUrl empty", r["alert"])
		}
	}

	for set, want := range map[string]string{
		"metrics.prometheusRule.enabled=true,metrics.prometheusRule.alertLabels.severity=page": "must not set severity",
	} {
		out, err := helmTemplateErr(t, "--set", set)
		if err == nil || !strings.Contains(out, want) {
			t.Errorf("--set %s: err %v, output should say %q:\n%s", set, err, want, out)
		}
	}
}

// TestMonitoringDocsCoverEveryAlertAndMetric: docs/monitoring.md has a
// section for each alert (each alert's runbook_url points there), a row for
// each metric the operator and the workers register and for each dashboard
// panel, and the README points to it.
func TestMonitoringDocsCoverEveryAlertAndMetric(t *testing.T) {
	docs := readRepoFile(t, "docs/monitoring.md")
	for _, a := range chartAlerts {
		if !strings.Contains(docs, "\n### "+a+"\n") {
			t.Errorf("docs/monitoring.md has no section ### %s (its runbook_url anchor)", a)
		}
	}
	names := regexp.MustCompile(`Name: +"(sisporta_\w+)"`)
	sources := readRepoFile(t, "controllers/metrics.go") + readRepoFile(t, "runner/metrics/metrics.go")
	found := names.FindAllStringSubmatch(sources, -1)
	if len(found) < 15 {
		t.Fatalf("found only %d metric names in the sources", len(found))
	}
	for _, m := range found {
		if !strings.Contains(docs, "| `"+m[1]+"` |") {
			t.Errorf("docs/monitoring.md has no row for metric %s", m[1])
		}
	}
	var dash struct {
		Panels []struct {
			Title string `json:"title"`
		} `json:"panels"`
	}
	if err := json.Unmarshal([]byte(readRepoFile(t, "charts/sisporta/files/grafana-dashboard.json")), &dash); err != nil {
		t.Fatal(err)
	}
	for _, p := range dash.Panels {
		if !strings.Contains(docs, "\n| "+p.Title+" |") {
			t.Errorf("docs/monitoring.md has no row for dashboard panel %q", p.Title)
		}
	}
	if readme := readRepoFile(t, "README.md"); !strings.Contains(readme, "## Monitoring") || !strings.Contains(readme, "(docs/monitoring.md)") {
		t.Error("the README has no Monitoring section pointing to docs/monitoring.md")
	}
}
