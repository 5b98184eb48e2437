package pipeline

import (
	"os"
	"path/filepath"
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
		// A column named y, n, yes, no, on or off is a boolean unless quoted.
		strings.Replace(base, "    cleanup: CLEANUP", "    columns:\n    - {source: Codigo, target: y}\n    - source: Ativo\n      target: on", 1): `line 20: spec.entities[0].columns[1].target: the bare word on is a boolean to kubectl and Kubernetes (YAML 1.1), not the text "on": write target: "on" in quotes`,
		strings.Replace(base, "    cleanup: CLEANUP", "    columns:\n    - {source: Codigo, target: y}", 1):                                        `spec.entities[0].columns[0].target: the bare word y is a boolean`,
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

// strict is a pipeline whose line numbers the strict tests count on: EXTRA
// is line 9 and SOURCE on line 12.
const strict = `apiVersion: sync.sisporta.io/v1alpha1
kind: SyncPipeline
metadata: {name: p, namespace: sales, labels: {team: erp}, creationTimestamp: null}
spec:
  schedule: "*/5 * * * *"
  source: {driver: sqlserver, dsnSecretRef: {name: s, key: dsn}}
  target: {dsnSecretRef: {name: t, key: dsn}}
  resources: {worker: {limits: {cpu: "1", memory: 256Mi}}}
  EXTRA: 1
  entities:
  - name: products
    source: {table: dbo.Produtos, keyColumns: [CodProduto], SOURCE: x}
    target: {table: products}
`

func strictWith(extra, source string) string {
	return strings.Replace(strings.Replace(strict, "EXTRA", extra, 1), "SOURCE", source, 1)
}

func TestParseRefusesUnknownFieldsAndDuplicateKeys(t *testing.T) {
	cases := []struct{ name, in, want string }{
		{"misspelt top-level spec field", strictWith("batchSzie", "where"),
			`line 9: unknown field "spec.batchSzie" (did you mean batchSize?)`},
		{"wrong case", strictWith("BatchSize", "where"),
			`line 9: unknown field "spec.BatchSize" (did you mean batchSize?)`},
		{"nested in an entity", strictWith("batchSize", "keyColumn"),
			`line 12: unknown field "spec.entities[0].source.keyColumn" (did you mean keyColumns?)`},
		{"nothing close", strictWith("frobnicate", "where"),
			`line 9: unknown field "spec.frobnicate": spec has no such field (it has schedule, timeZone, suspend,`},
		{"duplicate key", strictWith("schedule", "where"),
			`line 9: duplicate key "spec.schedule" (first at line 5): keep one`},
		{"duplicate key in a flow mapping", strictWith("batchSize", "table"),
			`line 12: duplicate key "spec.entities[0].source.table" (first at line 12): keep one`},
		{"duplicate label", strings.Replace(strictWith("batchSize", "where"), "labels: {team: erp}", "labels: {team: erp, team: sales}", 1),
			`line 3: duplicate key "metadata.labels.team" (first at line 3): keep one`},
		{"unknown metadata field", strings.Replace(strictWith("batchSize", "where"), "namespace: sales", "namespce: sales", 1),
			`line 3: unknown field "metadata.namespce" (did you mean namespace?)`},
		{"unknown top-level field", strictWith("batchSize", "where") + "specs: {}\n",
			`line 14: unknown field "specs" (did you mean spec?)`},
		{"under a resource list", strings.Replace(strictWith("batchSize", "where"), "limits:", "limts:", 1),
			`line 8: unknown field "spec.resources.worker.limts" (did you mean limits?)`},
	}
	for _, c := range cases {
		_, err := Parse([]byte(c.in))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: want an error containing\n  %s\ngot\n  %v", c.name, c.want, err)
		}
	}
	// The file is valid once the one thing is fixed.
	if _, err := Parse([]byte(strictWith("batchSize", "where"))); err != nil {
		t.Fatalf("the strict base is not valid: %v", err)
	}
}

func TestLoadNamesFileAndLineOfEveryProblem(t *testing.T) {
	in := strings.Replace(strictWith("batchSzie", "keyColumn"), "  entities:", "  batchSize: 10\n  batchSize: 20\n  entities:", 1)
	path := filepath.Join(t.TempDir(), "pipeline.yaml")
	if err := os.WriteFile(path, []byte(in), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Load(path)
	want := path + `: line 9: unknown field "spec.batchSzie" (did you mean batchSize?)` + "\n" +
		path + `: line 11: duplicate key "spec.batchSize" (first at line 10): keep one` + "\n" +
		path + `: line 14: unknown field "spec.entities[0].source.keyColumn" (did you mean keyColumns?)`
	if err == nil || err.Error() != want {
		t.Errorf("got\n%v\nwant\n%s", err, want)
	}
	// Other problems are prefixed with the file once, as before.
	if err := os.WriteFile(path, []byte("kind: Secret\napiVersion: v1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(path); err == nil || !strings.HasPrefix(err.Error(), path+": no SyncPipeline in the file") {
		t.Errorf("got %v", err)
	}
}

func TestParseStrictnessKeepsWhatIsValid(t *testing.T) {
	// Unknown fields in other documents are not the pipeline's business.
	in := "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\nstringDat: {dsn: x}\n---\n" + strictWith("batchSize", "where")
	if _, err := Parse([]byte(in)); err != nil {
		t.Errorf("a Secret's unknown field refused the pipeline: %v", err)
	}
	// YAML merge keys: the merged fields are checked, an explicit key
	// overrides a merged one without being a duplicate.
	merged := strings.Replace(strictWith("batchSize", "where"), "  entities:\n", "  workers: &w {minReplicas: 0, maxReplicas: 2}\n  entities:\n", 1)
	merged = strings.Replace(merged, "    target: {table: products}\n", "    target: {table: products}\n    cleanup: {<<: *w}\n", 1)
	if _, err := Parse([]byte(merged)); err == nil || !strings.Contains(err.Error(), `line 10: unknown field "spec.entities[0].cleanup.minReplicas"`) {
		t.Errorf("a merged unknown field: %v", err)
	}
	withMerge := strings.Replace(strictWith("batchSize", "where"), "    target: {table: products}\n",
		"    target: {table: products}\n    cleanup: {<<: {mode: SoftDelete, maxDeletePercent: 5}, maxDeletePercent: 7}\n", 1)
	p, err := Parse([]byte(withMerge))
	if err != nil {
		t.Fatalf("merge keys: %v", err)
	}
	if c := p.Spec.Entities[0].Cleanup; c.Mode != "SoftDelete" || *c.MaxDeletePercent != 7 {
		t.Errorf("merge keys read as %+v", c)
	}
	// JSON, one object after another without separators, as before; the
	// lines still count from the top of the file.
	js := `{"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}}
{"apiVersion": "sync.sisporta.io/v1alpha1", "kind": "SyncPipeline",
 "metadata": {"name": "p"},
 "spec": {"schedule": "@hourly", "batchSzie": 5,
  "source": {"driver": "mysql", "dsnSecretRef": {"name": "s", "key": "dsn"}},
  "target": {"dsnSecretRef": {"name": "t", "key": "dsn"}},
  "entities": [{"name": "e", "source": {"table": "t"}, "target": {"table": "t"}}]}}
`
	if _, err := Parse([]byte(js)); err == nil || !strings.Contains(err.Error(), `line 4: unknown field "spec.batchSzie" (did you mean batchSize?)`) {
		t.Errorf("JSON: %v", err)
	}
	p, err = Parse([]byte(strings.Replace(js, `"batchSzie"`, `"batchSize"`, 1)))
	if err != nil || p.Spec.BatchSize != 5 || p.Spec.Source.Driver != "mysql" {
		t.Errorf("JSON: %v %+v", err, p)
	}
	if _, err := Parse([]byte(strings.Replace(js, `"batchSzie": 5,`, `"batchSize": 5, "batchSize": 6,`, 1))); err == nil ||
		!strings.Contains(err.Error(), `line 4: duplicate key "spec.batchSize" (first at line 4)`) {
		t.Errorf("JSON duplicate: %v", err)
	}
	// A document that is not a mapping is refused, as it was.
	if _, err := Parse([]byte("- a\n- b\n")); err == nil || !strings.Contains(err.Error(), "not a mapping") {
		t.Errorf("a list document: %v", err)
	}
	if _, err := Parse([]byte("a: [\n")); err == nil || !strings.Contains(err.Error(), "not valid YAML") {
		t.Errorf("broken YAML: %v", err)
	}
}
