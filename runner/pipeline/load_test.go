package pipeline

import (
	"strings"
	"testing"
)

const base = `apiVersion: v1
kind: Secret
metadata: {name: s}
stringData: {dsn: "x"}
---
apiVersion: sync.sisporta.io/v1alpha1
kind: SyncPipeline
metadata: {name: p, namespace: sales}
spec:
  schedule: "*/5 * * * *"
  source: {driver: sqlserver, dsnSecretRef: {name: s, key: dsn}}
  target: {dsnSecretRef: {name: t, key: dsn}}
  entities:
  - name: products
    source: {table: dbo.Produtos}
    target: {table: products}
    cleanup: CLEANUP
`

func TestParseDefaultsAndIgnoresOtherDocuments(t *testing.T) {
	p, err := Parse([]byte(strings.Replace(base, "CLEANUP", "{dryRun: true}", 1)))
	if err != nil {
		t.Fatal(err)
	}
	if p.Namespace != "sales" || p.Spec.BatchSize != 1000 || p.Spec.Entities[0].Cleanup.Mode != "Delete" || *p.Spec.Entities[0].Cleanup.MaxDeletePercent != 20 {
		t.Errorf("defaults not applied: %+v", p.Spec)
	}
}

func TestParseErrorsSayWhatToFix(t *testing.T) {
	cases := map[string]string{
		strings.Replace(base, "CLEANUP", "{mode: Off}", 1):      `write mode: "Off" in quotes`,
		strings.Replace(base, "CLEANUP", "{mode: Truncate}", 1): "use Delete, SoftDelete or Off",
		twoPipelines():                   "SyncPipelines in the file",
		"kind: Secret\napiVersion: v1\n": "no SyncPipeline in the file",
		strings.Replace(strings.Replace(base, "CLEANUP", "{}", 1), "*/5 * * * *", "every 5 minutes", 1):                   "not a cron expression",
		strings.Replace(strings.Replace(base, "CLEANUP", "{}", 1), "sync.sisporta.io/v1alpha1", "sync.sisporta.io/v1", 1): "apiVersion",
	}
	for in, want := range cases {
		_, err := Parse([]byte(in))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("want an error containing %q, got %v", want, err)
		}
	}
}

func twoPipelines() string {
	one := strings.Replace(base, "CLEANUP", "{}", 1)
	return one + "---\n" + strings.Replace(one[strings.Index(one, "apiVersion: sync"):], "name: p,", "name: p2,", 1)
}
