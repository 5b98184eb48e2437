package deploy

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"
)

// TestDashboardQueriesMetricsThatExist: every sisporta_* series the Grafana
// dashboard queries is registered by the operator or the workers, so a
// renamed metric breaks this test rather than a panel.
func TestDashboardQueriesMetricsThatExist(t *testing.T) {
	var dash struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal([]byte(readRepoFile(t, "charts/sisporta/files/grafana-dashboard.json")), &dash); err != nil {
		t.Fatalf("the dashboard is not JSON: %v", err)
	}
	sources := readRepoFile(t, "controllers/metrics.go") + readRepoFile(t, "runner/metrics/metrics.go")
	name := regexp.MustCompile(`sisporta_[a-z_]+`)
	seen := 0
	for _, p := range dash.Panels {
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, q := range p.Targets {
			for _, m := range name.FindAllString(q.Expr, -1) {
				seen++
				base := strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(m, "_bucket"), "_sum"), "_count")
				if !strings.Contains(sources, `"`+base+`"`) {
					t.Errorf("panel %q queries %s, which no code registers", p.Title, m)
				}
			}
		}
	}
	if seen < 10 {
		t.Errorf("the dashboard queries only %d sisporta metrics", seen)
	}
}
