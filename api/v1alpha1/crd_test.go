package v1alpha1_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	syncv1alpha1 "github.com/sisporta/sisporta/api/v1alpha1"
	"github.com/sisporta/sisporta/test/testenv"
)

var env *testenv.Env

func TestMain(m *testing.M) { os.Exit(testenv.Main(m, &env)) }

// validPipeline is the base every invalid case differs from by one thing.
func validPipeline(name string) map[string]any {
	return map[string]any{
		"apiVersion": "sync.sisporta.io/v1alpha1",
		"kind":       "SyncPipeline",
		"metadata":   map[string]any{"name": name, "namespace": "default"},
		"spec": map[string]any{
			"schedule": "*/15 * * * *",
			"source":   map[string]any{"driver": "sqlserver", "dsnSecretRef": map[string]any{"name": "erp", "key": "dsn"}},
			"target":   map[string]any{"driver": "mysql", "dsnSecretRef": map[string]any{"name": "mirror", "key": "dsn"}},
			"workers":  map[string]any{"minReplicas": int64(0), "maxReplicas": int64(4), "targetPendingPerReplica": int64(50)},
			"entities": []any{
				map[string]any{
					"name":    "products",
					"source":  map[string]any{"table": "dbo.Produtos", "keyColumns": []any{"CodProduto"}, "where": "Ativo = 1"},
					"target":  map[string]any{"table": "products"},
					"columns": []any{map[string]any{"source": "CodProduto", "target": "id"}, map[string]any{"source": "Descricao", "target": "name"}},
					"cleanup": map[string]any{"mode": "Delete", "maxDeletePercent": int64(20)},
				},
				map[string]any{
					"name":   "dealers",
					"source": map[string]any{"table": "dbo.Revendedores"},
					"target": map[string]any{"table": "dealers"},
				},
			},
		},
	}
}

func create(ctx context.Context, obj map[string]any) error {
	return env.Client.Create(ctx, &unstructured.Unstructured{Object: obj})
}

func spec(o map[string]any) map[string]any { return o["spec"].(map[string]any) }
func entity(o map[string]any, i int) map[string]any {
	return spec(o)["entities"].([]any)[i].(map[string]any)
}
func entitySource(o map[string]any, i int) map[string]any {
	return entity(o, i)["source"].(map[string]any)
}

func TestValidPipelineIsAccepted(t *testing.T) {
	if err := create(context.Background(), validPipeline("valid-base")); err != nil {
		t.Fatalf("the base of the invalid cases must itself be valid: %v", err)
	}
}

func TestInvalidPipelinesAreRefused(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(o map[string]any)
		want   string
	}{
		{"no entities", func(o map[string]any) { spec(o)["entities"] = []any{} },
			"should have at least 1 items"},
		{"duplicate entity names", func(o map[string]any) { entity(o, 1)["name"] = "products" },
			"entity names must be unique"},
		{"entity name not a DNS label", func(o map[string]any) { entity(o, 0)["name"] = "Products_2024" },
			"entity name must be a DNS label"},
		{"two entities on one target table", func(o map[string]any) {
			entity(o, 1)["target"] = map[string]any{"table": "products"}
		}, "target tables must be unique across entities"},
		{"quote in source table", func(o map[string]any) { entitySource(o, 0)["table"] = "dbo.Produtos'--" },
			"must not contain quotes"},
		{"semicolon in target table", func(o map[string]any) {
			entity(o, 0)["target"] = map[string]any{"table": "products; DROP TABLE x"}
		}, "must not contain quotes"},
		{"backtick in column", func(o map[string]any) {
			entity(o, 0)["columns"] = []any{map[string]any{"source": "Cod`Produto", "target": "id"}}
		}, "must not contain quotes"},
		{"control character in key column", func(o map[string]any) { entitySource(o, 0)["keyColumns"] = []any{"Cod\nProduto"} },
			"must not contain quotes"},
		{"unknown source driver", func(o map[string]any) { spec(o)["source"].(map[string]any)["driver"] = "oracle" },
			`supported values: "sqlserver", "mysql"`},
		{"unknown target driver", func(o map[string]any) { spec(o)["target"].(map[string]any)["driver"] = "postgres" },
			`supported values: "mysql"`},
		{"minReplicas above maxReplicas", func(o map[string]any) {
			spec(o)["workers"] = map[string]any{"minReplicas": int64(5), "maxReplicas": int64(2)}
		}, "workers.minReplicas must not be greater than workers.maxReplicas"},
		{"targetPendingPerReplica zero", func(o map[string]any) {
			spec(o)["workers"].(map[string]any)["targetPendingPerReplica"] = int64(0)
		}, "targetPendingPerReplica: Invalid value: 0: spec.workers.targetPendingPerReplica in body should be greater than or equal to 1"},
		{"batchSize zero", func(o map[string]any) { spec(o)["batchSize"] = int64(0) },
			"batchSize in body should be greater than or equal to 1"},
		{"batchSize too large", func(o map[string]any) { spec(o)["batchSize"] = int64(1_000_000) },
			"batchSize in body should be less than or equal to 50000"},
		{"maxDeletePercent above 100", func(o map[string]any) {
			entity(o, 0)["cleanup"] = map[string]any{"mode": "Delete", "maxDeletePercent": int64(150)}
		}, "maxDeletePercent in body should be less than or equal to 100"},
		{"unknown cleanup mode", func(o map[string]any) {
			entity(o, 0)["cleanup"] = map[string]any{"mode": "Truncate"}
		}, `supported values: "Delete", "SoftDelete", "Off"`},
		{"empty schedule", func(o map[string]any) { spec(o)["schedule"] = "" },
			"spec.schedule in body should be at least 1 chars long"},
		{"schedule with four fields", func(o map[string]any) { spec(o)["schedule"] = "*/15 * * *" },
			"schedule must be a cron expression of five fields"},
		{"schedule with TZ prefix", func(o map[string]any) { spec(o)["schedule"] = "TZ=UTC */15 * * * *" },
			"schedule must be a cron expression of five fields"},
		{"table and query both set", func(o map[string]any) { entitySource(o, 0)["query"] = "SELECT 1 AS x" },
			"set exactly one of source.table or source.query"},
		{"query without key columns", func(o map[string]any) {
			entity(o, 1)["source"] = map[string]any{"query": "SELECT * FROM dbo.Revendedores"}
		}, "source.query needs source.keyColumns"},
		{"query that is not a SELECT", func(o map[string]any) {
			entity(o, 1)["source"] = map[string]any{"query": "DELETE FROM dbo.Revendedores", "keyColumns": []any{"id"}}
		}, "source.query must start with SELECT"},
		{"rowversion cursor on a mysql source", func(o map[string]any) {
			spec(o)["source"].(map[string]any)["driver"] = "mysql"
			entitySource(o, 0)["cursor"] = map[string]any{"column": "rv", "kind": "RowVersion"}
		}, "cursor kind RowVersion needs source.driver sqlserver"},
		{"snapshot isolation on a mysql source", func(o map[string]any) {
			src := spec(o)["source"].(map[string]any)
			src["driver"], src["isolation"] = "mysql", "Snapshot"
			delete(entitySource(o, 0), "cursor")
		}, "source.isolation Snapshot is for SQL Server sources"},
		{"unknown isolation", func(o map[string]any) { spec(o)["source"].(map[string]any)["isolation"] = "Serializable" },
			"supported values: \"ReadCommitted\", \"Snapshot\""},
		{"lock timeout of zero", func(o map[string]any) { spec(o)["source"].(map[string]any)["lockTimeoutSeconds"] = int64(0) },
			"spec.source.lockTimeoutSeconds: Invalid value: 0: spec.source.lockTimeoutSeconds in body should be greater than or equal to 1"},
		{"missing target secret", func(o map[string]any) { delete(spec(o)["target"].(map[string]any), "dsnSecretRef") },
			"spec.target.dsnSecretRef: Required value"},
		{"secret name with capitals", func(o map[string]any) {
			spec(o)["source"].(map[string]any)["dsnSecretRef"] = map[string]any{"name": "ERP", "key": "dsn"}
		}, "must be a Secret name"},
	}
	if len(cases) < 15 {
		t.Fatalf("the issue asks for at least 15 invalid cases, have %d", len(cases))
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o := validPipeline(fmt.Sprintf("invalid-%d", i))
			tc.mutate(o)
			err := create(context.Background(), o)
			if err == nil {
				t.Fatalf("the API server accepted an invalid pipeline; want an error containing %q", tc.want)
			}
			if !apierrors.IsInvalid(err) {
				t.Fatalf("want an Invalid error, got %v", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error does not say what to fix:\n got: %v\nwant: %q", err, tc.want)
			}
			// `sisporta sync -f` validates in Go what never reaches an API server.
			local, err := syncv1alpha1.Decode(o)
			if err != nil {
				return // refused while decoding: as good as refused
			}
			if err := local.Validate(); err == nil {
				t.Fatalf("Validate accepted what the API server refuses")
			}
		})
	}
}

// TestWhereAndQueryAreJudgedInTheSourceDialect: the API server cannot
// tokenize SQL, so where and query are judged by Validate (the operator's
// InvalidSpec, and sisporta sync) in the source's dialect. The API server
// accepts what only a tokenizer can tell apart, harmless or not; the one
// rule it keeps (a query starts with SELECT or WITH) never refuses what
// Validate accepts.
func TestWhereAndQueryAreJudgedInTheSourceDialect(t *testing.T) {
	cases := []struct {
		name, driver, where, query string
		want                       string // "" = valid
	}{
		{"semicolon inside a string", "sqlserver", "Codigo <> 'a;b'", "", ""},
		{"comment markers inside strings", "mysql", "name = 'it''s -- fine' AND note LIKE '%#%' AND x <> '/*'", "", ""},
		{"second statement after a semicolon", "sqlserver", "1=1; DELETE FROM dbo.Produtos", "",
			`spec.entities[0].source.where: a ';' at character 4 (";")`},
		{"INTO OUTFILE escaping the parentheses", "mysql", "1=1) INTO OUTFILE '/tmp/x' #", "",
			`spec.entities[0].source.where: a ')' without a matching '(' at character 4 (")")`},
		{"T-SQL batch without a separator", "sqlserver", "1=1) DELETE FROM x WHERE (1=1", "",
			`spec.entities[0].source.where: a ')' without a matching '(' at character 4`},
		{"MySQL # comment", "mysql", "Ativo = 1 # rest", "",
			`spec.entities[0].source.where: a comment starts at character 11 ("#")`},
		{"query escaping its derived table", "mysql", "", "SELECT 1 AS id) q, (SELECT f_write() AS z) z2 #",
			`spec.entities[1].source.query: a ')' without a matching '(' at character 15`},
		{"query with a WITH clause on MySQL", "mysql", "", "WITH d AS (SELECT id FROM dealers) SELECT id FROM d", ""},
		{"query with a WITH clause on SQL Server", "sqlserver", "", "WITH d AS (SELECT id FROM dealers) SELECT id FROM d",
			"SQL Server does not allow WITH inside a derived table"},
		{"query in parentheses", "sqlserver", "", "\n (SELECT id FROM a) UNION (SELECT id FROM b)", ""},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o := validPipeline(fmt.Sprintf("dialect-%d", i))
			spec(o)["source"].(map[string]any)["driver"] = tc.driver
			if tc.where != "" {
				entitySource(o, 0)["where"] = tc.where
			}
			if tc.query != "" {
				entity(o, 1)["source"] = map[string]any{"query": tc.query, "keyColumns": []any{"id"}}
			}
			if err := create(context.Background(), o); err != nil {
				t.Fatalf("the API server refused what only Validate can judge: %v", err)
			}
			local, err := syncv1alpha1.Decode(o)
			if err != nil {
				t.Fatal(err)
			}
			err = local.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("Validate refused a harmless fragment: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("Validate: got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

// TestQueryStartRuleNeverRefusesWhatValidateAccepts holds the CRD's rule on
// source.query to a subset of CheckQuery's refusals, on the API server.
func TestQueryStartRuleNeverRefusesWhatValidateAccepts(t *testing.T) {
	queries := []string{"SELECT 1 AS id", "select\t1 AS id", "\v\f\r\n SELECT 1 AS id", "((SELECT 1 AS id))",
		"( ( SELECT 1 AS id) )", "SELECT@a AS id", "SELECT$x", "Select`x`", "SELECT(1)", "SELECT'1' AS id", "SELECT", "WITH",
		"WITH c AS (SELECT 1 AS id) SELECT id FROM c", "ſelect 1", "SELECTé 1", "SELECT_x", "\u00a0SELECT 1", "DELETE FROM t",
		"/* c */ SELECT 1", "(", "x", "WITHOUT 1", "With`c` AS (SELECT 1 id) SELECT id FROM c"}
	// What the rule refuses; RE2's (?i) folds ſ to s, so it lets ſelect
	// through to CheckQuery, which does not.
	notSelect := map[string]bool{"DELETE FROM t": true, "/* c */ SELECT 1": true, "(": true, "x": true, "WITHOUT 1": true,
		"SELECT_x": true, "SELECT$x": true, "\u00a0SELECT 1": true}
	for _, driver := range []string{"mysql", "sqlserver"} {
		for i, q := range queries {
			o := validPipeline(fmt.Sprintf("start-%s-%d", driver, i))
			spec(o)["source"].(map[string]any)["driver"] = driver
			entity(o, 1)["source"] = map[string]any{"query": q, "keyColumns": []any{"id"}}
			apiErr := create(context.Background(), o)
			goErr := syncv1alpha1.CheckQuery(syncv1alpha1.SourceDriver(driver), q)
			if apiErr != nil && goErr == nil {
				t.Errorf("%s %q: the API server refuses what CheckQuery accepts: %v", driver, q, apiErr)
			}
			if apiErr != nil && !strings.Contains(apiErr.Error(), "source.query must start with SELECT") {
				t.Errorf("%s %q: refused for another reason: %v", driver, q, apiErr)
			}
			if notSelect[q] != (apiErr != nil) {
				t.Errorf("%s %q: the API server's verdict is %v, want refused=%v", driver, q, apiErr, notSelect[q])
			}
		}
	}
}

func TestDefaultsAreApplied(t *testing.T) {
	ctx := context.Background()
	o := validPipeline("defaults")
	delete(spec(o), "workers")
	delete(entity(o, 0), "cleanup")
	delete(spec(o)["target"].(map[string]any), "driver")
	if err := create(ctx, o); err != nil {
		t.Fatal(err)
	}
	var got syncv1alpha1.SyncPipeline
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: "default", Name: "defaults"}, &got); err != nil {
		t.Fatal(err)
	}
	s := got.Spec
	if s.BatchSize != 1000 {
		t.Errorf("batchSize = %d, want 1000", s.BatchSize)
	}
	wantWorkers := syncv1alpha1.WorkersSpec{MinReplicas: 0, MaxReplicas: 4, TargetPendingPerReplica: 50, ScaleDownStabilizationSeconds: 300, Concurrency: 4}
	if s.Workers != wantWorkers {
		t.Errorf("workers = %+v, want %+v", s.Workers, wantWorkers)
	}
	if s.Queue.MaxRetry == nil || *s.Queue.MaxRetry != 12 {
		t.Errorf("queue.maxRetry = %v, want 12", s.Queue.MaxRetry)
	}
	if s.Target.Driver != syncv1alpha1.TargetMySQL {
		t.Errorf("target.driver = %q, want mysql", s.Target.Driver)
	}
	for _, e := range s.Entities {
		if e.Cleanup.Mode != syncv1alpha1.CleanupDelete || e.Cleanup.MaxDeletePercent == nil || *e.Cleanup.MaxDeletePercent != 20 || e.Cleanup.DryRun {
			t.Errorf("entity %s cleanup = %+v, want Delete, 20%%, not dry-run", e.Name, e.Cleanup)
		}
	}
	// The Go defaulting used for manifests that never reach an API server
	// must agree with the API server's.
	local, err := syncv1alpha1.Decode(o)
	if err != nil {
		t.Fatal(err)
	}
	if !equality.Semantic.DeepEqual(local.Spec, got.Spec) {
		t.Errorf("Go defaults differ from the API server's:\n  go: %+v\n api: %+v", local.Spec, got.Spec)
	}
}

func TestSamplesAreAccepted(t *testing.T) {
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	files, err := filepath.Glob(filepath.Join(root, "config", "samples", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	created := 0
	for _, f := range files {
		if filepath.Base(f) == "kustomization.yaml" {
			continue
		}
		for _, obj := range readObjects(t, f) {
			obj.SetNamespace("samples")
			if created == 0 {
				ns := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]any{"name": "samples"}}}
				if err := env.Client.Create(context.Background(), ns); err != nil {
					t.Fatal(err)
				}
			}
			if err := env.Client.Create(context.Background(), obj); err != nil {
				t.Errorf("%s: %s %s refused: %v", filepath.Base(f), obj.GetKind(), obj.GetName(), err)
			}
			created++
		}
	}
	var list syncv1alpha1.SyncPipelineList
	if err := env.Client.List(context.Background(), &list, client.InNamespace("samples")); err != nil {
		t.Fatal(err)
	}
	if len(list.Items) < 2 {
		t.Fatalf("want at least 2 sample SyncPipelines, found %d", len(list.Items))
	}
}

func readObjects(t *testing.T, path string) []*unstructured.Unstructured {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []*unstructured.Unstructured
	dec := yaml.NewYAMLOrJSONDecoder(bytes.NewReader(b), 4096)
	for {
		var m map[string]any
		if err := dec.Decode(&m); err == io.EOF {
			break
		} else if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if m != nil {
			out = append(out, &unstructured.Unstructured{Object: m})
		}
	}
	return out
}

func TestPrinterColumns(t *testing.T) {
	ctx := context.Background()
	var crd apiextensionsv1.CustomResourceDefinition
	if err := env.Client.Get(ctx, client.ObjectKey{Name: "syncpipelines.sync.sisporta.io"}, &crd); err != nil {
		t.Fatal(err)
	}
	want := []struct{ name, typ, path string }{
		{"Ready", "string", `.status.conditions[?(@.type=="Ready")].status`},
		{"Schedule", "string", ".spec.schedule"},
		{"Last Sync", "date", ".status.lastSuccessfulRun.sourceSnapshotTime"},
		{"Lag", "string", ".status.lag"},
		{"Queue", "integer", ".status.queue.pending"},
		{"Workers", "integer", ".status.workers.ready"},
		{"Age", "date", ".metadata.creationTimestamp"},
	}
	cols := crd.Spec.Versions[0].AdditionalPrinterColumns
	if len(cols) < len(want) {
		t.Fatalf("have %d printer columns, want at least %d", len(cols), len(want))
	}
	for i, w := range want {
		c := cols[i]
		if c.Name != w.name || c.Type != w.typ || c.JSONPath != w.path {
			t.Errorf("column %d = %s/%s/%s, want %s/%s/%s", i, c.Name, c.Type, c.JSONPath, w.name, w.typ, w.path)
		}
	}
	if got := crd.Spec.Names.ShortNames; len(got) == 0 || got[0] != "sp" {
		t.Errorf("short names = %v, want sp first", got)
	}

	// What kubectl shows: ask the API server for a Table, as kubectl get does.
	if err := create(ctx, validPipeline("table-view")); err != nil {
		t.Fatal(err)
	}
	hc, err := rest.HTTPClientFor(env.Config)
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(env.Config.Host, "/")+"/apis/sync.sisporta.io/v1alpha1/namespaces/default/syncpipelines/table-view", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "application/json;as=Table;v=v1;g=meta.k8s.io")
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("table view %s: %d %s %v", req.URL, resp.StatusCode, raw, err)
	}
	var table metav1.Table
	if err := json.Unmarshal(raw, &table); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, c := range table.ColumnDefinitions {
		if c.Priority == 0 {
			names = append(names, strings.ToUpper(c.Name))
		}
	}
	if got := strings.Join(names, " "); got != "NAME READY SCHEDULE LAST SYNC LAG QUEUE WORKERS AGE" {
		t.Errorf("kubectl get columns = %q", got)
	}
	if len(table.Rows) != 1 || table.Rows[0].Cells[2] != "*/15 * * * *" {
		t.Errorf("table row = %v, want the schedule in the SCHEDULE cell", table.Rows)
	}
}
