package deploy

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	syncv1alpha1 "github.com/sisporta/sisporta/api/v1alpha1"
	"github.com/sisporta/sisporta/runner/queue"
	"github.com/sisporta/sisporta/test/testenv"
)

// TestDashboardAndAlertsOnARealPrometheus runs Sisporta for real and
// queries what it exports with a real Prometheus (Debian's, on 127.0.0.1,
// with a data directory of its own): the real operator (`sisporta manager`)
// reconciles three pipelines on the envtest API server, real `sisporta
// work` processes apply the batches real `sisporta extract` processes queue
// in Redis, from MariaDB to MariaDB. Prometheus scrapes the operator and the
// workers every second, under the job and namespace labels the chart's
// ServiceMonitor and PodMonitor give them, and evaluates the chart's alert
// rules (rendered with thresholds and durations that let them fire within
// the test).
//
// The runs leave what the alerts are about: orders has a batch the target
// refuses (a dead-letter task, failed batch attempts, Degraded) and wants a
// worker the API server never sees ready (no kubelet here); items has a
// cleanup refused by its guard (Degraded, still Ready); prices reads a
// table that does not exist (its run failed: not Ready). Then:
//
//   - every query of every dashboard panel, with the pipeline variable set
//     to All and to each pipeline, returns series, as does the variable's
//     own query;
//   - every alert expression returns series for exactly the pipelines it
//     is about, each alert fires with its annotations expanded, and every
//     rule evaluates without error;
//   - SisportaOperatorAbsent stays quiet while the operator is scraped and
//     fires once it is stopped;
//   - `promtool check metrics` finds nothing to say about the /metrics of
//     the operator and of each worker.
func TestDashboardAndAlertsOnARealPrometheus(t *testing.T) {
	ctx := context.Background()
	bin := buildSisporta(t)
	ns := "monitoring-live-" + testenv.Random(3)
	ensureNamespace(t, ns, nil)
	src, dst := testenv.NewDB(t, "msrc"), testenv.NewDB(t, "mdst")
	seedLiveData(t, src, dst)

	for name, dsn := range map[string]string{"erp": src.DSN, "mirror": dst.DSN} {
		s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, StringData: map[string]string{"dsn": dsn}}
		if err := env.Client.Create(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	dir := t.TempDir()
	pipelines := []string{"orders", "items", "prices"}
	config := map[string]string{}
	for _, name := range pipelines {
		manifest := fmt.Sprintf(livePipelines[name], name, ns)
		config[name] = filepath.Join(dir, name+".yaml")
		if err := os.WriteFile(config[name], []byte(manifest), 0o600); err != nil {
			t.Fatal(err)
		}
		var p syncv1alpha1.SyncPipeline
		if err := yaml.UnmarshalStrict([]byte(manifest), &p); err != nil {
			t.Fatal(err)
		}
		if err := env.Client.Create(ctx, &p); err != nil {
			t.Fatal(err)
		}
		purgeQueueAtEnd(t, queue.Name(ns, name))
	}
	id := func(name string) string { return queue.PipelineID(ns, name) }

	// The operator, as the chart runs it, restricted to this test's namespace.
	kubeconfig := filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(kubeconfig, env.KubeConfig(), 0o600); err != nil {
		t.Fatal(err)
	}
	operatorAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	manager := startProcess(t, "manager", bin, []string{"KUBECONFIG=" + kubeconfig, "SISPORTA_DEFAULT_REDIS_URL=" + testenv.RedisURL()},
		"manager", "--metrics-bind-address="+operatorAddr, "--health-probe-bind-address=0", "--namespace="+ns)

	// A worker per pipeline, as its Deployment runs it.
	dataEnv := []string{"SISPORTA_SOURCE_DSN=" + src.DSN, "SISPORTA_TARGET_DSN=" + dst.DSN, "SISPORTA_REDIS_URL=" + testenv.RedisURL()}
	workerAddr := map[string]string{}
	for _, name := range pipelines {
		workerAddr[name] = fmt.Sprintf("127.0.0.1:%d", freePort(t))
		startProcess(t, name+"-worker", bin, dataEnv, "work", "--config", config[name],
			"--metrics-bind-address="+workerAddr[name], "--health-probe-bind-address=127.0.0.1:0")
	}

	// The chart's rules, with thresholds a run of a few seconds crosses and
	// no waiting: stale after a moment, any failed attempt a high ratio.
	liveValues := filepath.Join(dir, "values-live.yaml")
	if err := os.WriteFile(liveValues, []byte(liveAlertValues), 0o644); err != nil {
		t.Fatal(err)
	}
	rules := prometheusRuleGroups(t, "-f", liveValues)
	writeYAML(t, filepath.Join(dir, "rules.yaml"), rules)
	prom := startPrometheus(t, dir, operatorAddr, ns, workerAddr)

	// Run 1: orders and items succeed (items deletes the row the target
	// had and the source has not); prices fails to read its table.
	waitPipelines(t, ns, "the operator to take the pipelines on", func(p map[string]*syncv1alpha1.SyncPipeline) string {
		for _, name := range pipelines {
			if c := meta.FindStatusCondition(p[name].Status.Conditions, syncv1alpha1.ConditionReady); c == nil {
				return name + " has no Ready condition yet"
			}
		}
		return ""
	})
	// Prometheus scrapes everything before the runs start (as it would
	// have long before, in a cluster).
	prom.waitQuery(t, "every target scraped", "up == 1", func(res []sample) string {
		if len(res) != 1+len(pipelines) {
			return fmt.Sprintf("%d targets up, want the operator and %d workers", len(res), len(pipelines))
		}
		return ""
	})
	extract(t, bin, dataEnv, config["orders"], true)
	extract(t, bin, dataEnv, config["items"], true)
	extract(t, bin, dataEnv, config["prices"], false)
	waitPipelines(t, ns, "run 1 to be reported", func(p map[string]*syncv1alpha1.SyncPipeline) string {
		for _, name := range []string{"orders", "items"} {
			if p[name].Status.LastSuccessfulRun == nil {
				return name + " has no successful run yet"
			}
		}
		if c := meta.FindStatusCondition(p["prices"].Status.Conditions, syncv1alpha1.ConditionReady); c == nil || c.Reason != syncv1alpha1.ReasonRunFailed {
			return fmt.Sprintf("prices: Ready is %+v, want False for RunFailed", c)
		}
		return ""
	})

	// The workers' series of run 1, at zero failures, are scraped before
	// run 2 fails a batch: otherwise the failure counter would be born at 1
	// and no rate would see it.
	prom.waitQuery(t, "run 1's batch counters scraped", fmt.Sprintf(`sisporta_batch_failures_total{pipeline=%q} == 0`, id("orders")), func(res []sample) string {
		if len(res) != 1 {
			return fmt.Sprintf("%d series", len(res))
		}
		return ""
	})

	// Run 2: a code too long for the target's column, and half of items
	// gone from the source (the guard allows 20%).
	src.Exec(t, "UPDATE orders SET code = 'O-0000000050' WHERE id = 50", "DELETE FROM items WHERE id <= 25")
	extract(t, bin, dataEnv, config["orders"], true)
	extract(t, bin, dataEnv, config["items"], true)
	waitPipelines(t, ns, "run 2 to be reported", func(p map[string]*syncv1alpha1.SyncPipeline) string {
		if q := p["orders"].Status.Queue; q == nil || q.Dead == 0 {
			return fmt.Sprintf("orders: queue %+v, want a dead task", q)
		}
		for _, e := range p["items"].Status.Entities {
			if e.LastCleanup != nil && e.LastCleanup.Result == syncv1alpha1.CleanupGuardTripped {
				return ""
			}
		}
		return fmt.Sprintf("items: entities %+v, want a tripped guard", p["items"].Status.Entities)
	})

	// Every alert is about exactly the pipelines the runs left in its state.
	want := map[string][]string{
		"SisportaMirrorStale":           {id("items"), id("orders")},
		"SisportaCleanupGuardTripped":   {id("items")},
		"SisportaDeadLetterTasks":       {id("orders")},
		"SisportaPipelineNotReady":      {id("prices")},
		"SisportaPipelineDegraded":      {id("items"), id("orders")},
		"SisportaBatchFailureRatioHigh": {id("orders")},
		"SisportaWorkersNotReady":       {id("orders")},
	}
	exprs := map[string]string{}
	for _, r := range ruleList(t, rules) {
		exprs[r["alert"].(string)] = r["expr"].(string)
	}
	for _, a := range chartAlerts {
		if _, ok := want[a]; !ok && a != "SisportaOperatorAbsent" {
			t.Fatalf("no expectation for alert %s", a)
		}
	}
	for alert, pipes := range want {
		prom.waitQuery(t, alert, exprs[alert], func(res []sample) string {
			if got := labelValues(res, "pipeline"); !slices.Equal(got, pipes) {
				return fmt.Sprintf("pipelines %v, want %v", got, pipes)
			}
			for _, s := range res {
				if s.Metric["namespace"] != ns {
					return fmt.Sprintf("series %v: namespace label %q, want the pipeline's %q", s.Metric, s.Metric["namespace"], ns)
				}
			}
			return ""
		})
	}
	prom.checkRulesAndFiringAlerts(t, want, ns)

	// The dashboard.
	checkDashboardQueries(t, prom, []string{".*", id("orders"), id("items")}, []string{id("orders"), id("items"), id("prices")})

	// The exposition of each process passes promtool's lint.
	for name, addr := range map[string]string{"operator": operatorAddr, "orders worker": workerAddr["orders"], "items worker": workerAddr["items"], "prices worker": workerAddr["prices"]} {
		checkMetricsLint(t, name, addr)
	}

	// Deleting the pipelines purges their queues (the operator's finalizer).
	for _, name := range pipelines {
		p := &syncv1alpha1.SyncPipeline{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
		if err := env.Client.Delete(ctx, p); err != nil {
			t.Error(err)
		}
	}
	waitFor(t, "the operator to purge and release the pipelines", time.Minute, func() string {
		var list syncv1alpha1.SyncPipelineList
		if err := env.Client.List(ctx, &list, client.InNamespace(ns)); err != nil {
			return err.Error()
		}
		if len(list.Items) > 0 {
			return fmt.Sprintf("%d pipelines left", len(list.Items))
		}
		return ""
	})

	// The operator absent alert: quiet while the operator is scraped, firing
	// once it is gone.
	absent := exprs["SisportaOperatorAbsent"]
	up := regexp.MustCompile(`up\{[^}]*\}`).FindString(absent)
	prom.waitQuery(t, "the operator's up series", up+" == 1", func(res []sample) string {
		if len(res) != 1 {
			return fmt.Sprintf("%d series, want the operator's target, up", len(res))
		}
		return ""
	})
	if res := prom.query(t, absent); len(res) != 0 {
		t.Errorf("SisportaOperatorAbsent's expression returns %v while the operator is up", res)
	}
	manager.stop(t)
	prom.waitQuery(t, "SisportaOperatorAbsent", absent, func(res []sample) string {
		if len(res) != 1 {
			return fmt.Sprintf("%d series, want 1 with the operator stopped", len(res))
		}
		return ""
	})
	prom.waitAlertFiring(t, "SisportaOperatorAbsent", "", "sisporta-system")
}

// liveAlertValues: every alert at once (for 0m), the stale one after a
// second, any failed batch attempt a high ratio.
const liveAlertValues = `metrics:
  prometheusRule:
    alerts:
      mirrorStale: {intervals: 0.0001, minimum: 1s, for: 0m}
      cleanupGuardTripped: {for: 0m}
      deadLetterTasks: {for: 0m}
      pipelineNotReady: {for: 0m}
      pipelineDegraded: {for: 0m}
      batchFailureRatio: {ratio: 0.01, window: 5m, for: 0m}
      workersNotReady: {for: 0m}
      operatorAbsent: {for: 0m}
`

// livePipelines are the test's pipelines (name and namespace to fill in).
var livePipelines = map[string]string{
	// One worker wanted at all times; the target's code column is narrower
	// than the source's.
	"orders": `apiVersion: sync.sisporta.io/v1alpha1
kind: SyncPipeline
metadata: {name: %s, namespace: %s}
spec:
  schedule: "*/5 * * * *"
  source: {driver: mysql, dsnSecretRef: {name: erp, key: dsn}}
  target: {dsnSecretRef: {name: mirror, key: dsn}}
  batchSize: 20
  workers: {minReplicas: 1}
  entities:
  - name: orders
    source: {table: orders}
    target: {table: orders}
`,
	"items": `apiVersion: sync.sisporta.io/v1alpha1
kind: SyncPipeline
metadata: {name: %s, namespace: %s}
spec:
  schedule: "*/5 * * * *"
  source: {driver: mysql, dsnSecretRef: {name: erp, key: dsn}}
  target: {dsnSecretRef: {name: mirror, key: dsn}}
  batchSize: 10
  workers: {scaleDownStabilizationSeconds: 1}
  entities:
  - name: items
    source: {table: items}
    target: {table: items}
    cleanup: {mode: Delete, maxDeletePercent: 20}
`,
	// Its table is not in the source.
	"prices": `apiVersion: sync.sisporta.io/v1alpha1
kind: SyncPipeline
metadata: {name: %s, namespace: %s}
spec:
  schedule: "0 6 * * 1-5"
  source: {driver: mysql, dsnSecretRef: {name: erp, key: dsn}}
  target: {dsnSecretRef: {name: mirror, key: dsn}}
  workers: {scaleDownStabilizationSeconds: 1}
  entities:
  - name: prices
    source: {table: prices}
    target: {table: prices}
`,
}

func seedLiveData(t *testing.T, src, dst *testenv.DB) {
	t.Helper()
	var orders, items []string
	for i := 1; i <= 100; i++ {
		orders = append(orders, fmt.Sprintf("(%d, 'O-%d')", i, i))
	}
	for i := 1; i <= 50; i++ {
		items = append(items, fmt.Sprintf("(%d, 'item %d', 1)", i, i))
	}
	src.Exec(t,
		"CREATE TABLE orders (id INT PRIMARY KEY, code VARCHAR(20))",
		"INSERT INTO orders VALUES "+strings.Join(orders, ","),
		"CREATE TABLE items (id INT PRIMARY KEY, label VARCHAR(20), visible TINYINT(1) NOT NULL DEFAULT 1)",
		"INSERT INTO items VALUES "+strings.Join(items, ","))
	dst.Exec(t,
		"CREATE TABLE orders (id INT PRIMARY KEY, code VARCHAR(8))",
		"CREATE TABLE items (id INT PRIMARY KEY, label VARCHAR(20), visible TINYINT(1) NOT NULL DEFAULT 1)",
		"INSERT INTO items VALUES (1000, 'gone from the source', 1)")
}

// buildSisporta builds the sisporta binary the processes run.
func buildSisporta(t *testing.T) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "sisporta")
	cmd := exec.Command("go", "build", "-o", out, "github.com/sisporta/sisporta")
	cmd.Dir = repoRoot(t)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, b)
	}
	return out
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// process is a command the test started; it is stopped at the end, and its
// output is shown when the test fails.
type process struct {
	name string
	cmd  *exec.Cmd
	log  string
	done chan struct{}
}

func startProcess(t *testing.T, name, bin string, env []string, args ...string) *process {
	t.Helper()
	logPath := filepath.Join(t.TempDir(), name+".log")
	f, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.Env = append(os.Environ(), env...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &process{name: name, cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); _ = f.Close(); close(p.done) }()
	t.Cleanup(func() {
		p.stop(t)
		if t.Failed() {
			b, _ := os.ReadFile(logPath)
			if len(b) > 6000 {
				b = b[len(b)-6000:]
			}
			t.Logf("--- %s (%s), last output:\n%s", name, strings.Join(args, " "), b)
		}
	})
	return p
}

// stop sends SIGTERM and, after 15s, SIGKILL.
func (p *process) stop(t *testing.T) {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(15 * time.Second):
		t.Errorf("%s did not stop within 15s of SIGTERM", p.name)
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// extract runs `sisporta extract` to its end, as the CronJob's Job would.
func extract(t *testing.T, bin string, env []string, config string, succeed bool) {
	t.Helper()
	cmd := exec.Command(bin, "extract", "--config", config)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if (err == nil) != succeed {
		t.Fatalf("sisporta extract --config %s: %v (want success %v)\n%s", filepath.Base(config), err, succeed, out)
	}
}

// purgeQueueAtEnd removes the queue's keys from Redis whatever happens
// (deleting the pipeline makes the operator do it; this is for a failure
// before that).
func purgeQueueAtEnd(t *testing.T, q string) {
	t.Cleanup(func() {
		opt, err := redis.ParseURL(testenv.RedisURL())
		if err != nil {
			return
		}
		rdb := redis.NewClient(opt)
		defer rdb.Close()
		ctx := context.Background()
		for _, pattern := range []string{"asynq:{" + q + "}*", "sisporta:{" + q + "}*"} {
			iter := rdb.Scan(ctx, 0, pattern, 500).Iterator()
			for iter.Next(ctx) {
				rdb.Del(ctx, iter.Val())
			}
		}
		rdb.SRem(ctx, "asynq:queues", q)
	})
}

// waitFor polls cond (which says what is still missing, or "") every 250ms.
func waitFor(t *testing.T, what string, within time.Duration, cond func() string) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		missing := cond()
		if missing == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("waited %s for %s: %s", within, what, missing)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// waitPipelines waits until cond holds for the pipelines of ns. It nudges
// them (an annotation) so the operator looks at once: in a cluster the
// extraction Job's events do that, here the runs are started by hand.
func waitPipelines(t *testing.T, ns, what string, cond func(map[string]*syncv1alpha1.SyncPipeline) string) {
	t.Helper()
	ctx := context.Background()
	n := 0
	waitFor(t, what, 90*time.Second, func() string {
		var list syncv1alpha1.SyncPipelineList
		if err := env.Client.List(ctx, &list, client.InNamespace(ns)); err != nil {
			return err.Error()
		}
		ps := map[string]*syncv1alpha1.SyncPipeline{}
		for i := range list.Items {
			ps[list.Items[i].Name] = &list.Items[i]
		}
		if missing := cond(ps); missing != "" {
			n++
			for _, p := range ps {
				patch := client.MergeFrom(p.DeepCopy())
				metav1.SetMetaDataAnnotation(&p.ObjectMeta, "deploytest.sisporta.io/nudge", fmt.Sprint(n))
				_ = env.Client.Patch(ctx, p, patch)
			}
			return missing
		}
		return ""
	})
}

// prometheus is a Prometheus server the test runs.
type prometheus struct {
	base string
}

// startPrometheus starts Debian's Prometheus on 127.0.0.1 with its data in
// dir, scraping the operator as the chart's ServiceMonitor does (job
// sisporta-metrics, the release namespace) and the workers as its
// PodMonitor does (the pipeline's namespace), every second, and evaluating
// dir/rules.yaml every second. It is stopped at the end of the test.
func startPrometheus(t *testing.T, dir, operatorAddr, pipelineNS string, workers map[string]string) *prometheus {
	t.Helper()
	var w strings.Builder
	names := make([]string, 0, len(workers))
	for name := range workers {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		fmt.Fprintf(&w, "  - targets: ['%s']\n    labels: {namespace: %s, pod: %s-worker-0, container: work}\n", workers[name], pipelineNS, name)
	}
	config := fmt.Sprintf(`global: {scrape_interval: 1s, scrape_timeout: 1s, evaluation_interval: 1s}
rule_files: [rules.yaml]
scrape_configs:
- job_name: sisporta-metrics
  static_configs:
  - targets: ['%s']
    labels: {namespace: %s, pod: sisporta-0, container: manager, service: sisporta-metrics}
- job_name: %s/sisporta-workers
  static_configs:
%s`, operatorAddr, releaseNS, releaseNS, w.String())
	if err := os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	startProcess(t, "prometheus", prometheusBin(t, "prometheus"), nil,
		"--config.file="+filepath.Join(dir, "prometheus.yml"),
		"--storage.tsdb.path="+filepath.Join(dir, "prometheus-data"),
		"--web.listen-address="+addr)
	p := &prometheus{base: "http://" + addr}
	waitFor(t, "Prometheus to be ready", 30*time.Second, func() string {
		resp, err := http.Get(p.base + "/-/ready")
		if err != nil {
			return err.Error()
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return resp.Status
		}
		return ""
	})
	return p
}

type sample struct {
	Metric map[string]string `json:"metric"`
	Value  []any             `json:"value"`
}

func (p *prometheus) get(t *testing.T, path string, params url.Values, into any) error {
	t.Helper()
	resp, err := http.Get(p.base + path + "?" + params.Encode())
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	var env struct {
		Status string          `json:"status"`
		Error  string          `json:"error"`
		Data   json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(body, &env); err != nil {
		return fmt.Errorf("%s: %s: %v", path, resp.Status, err)
	}
	if env.Status != "success" {
		return fmt.Errorf("%s: %s", path, env.Error)
	}
	return json.Unmarshal(env.Data, into)
}

// query runs an instant query; a query that is not a vector fails.
func (p *prometheus) query(t *testing.T, q string) []sample {
	t.Helper()
	res, err := p.queryErr(t, q)
	if err != nil {
		t.Fatalf("query %s: %v", q, err)
	}
	return res
}

func (p *prometheus) queryErr(t *testing.T, q string) ([]sample, error) {
	var data struct {
		ResultType string   `json:"resultType"`
		Result     []sample `json:"result"`
	}
	if err := p.get(t, "/api/v1/query", url.Values{"query": {q}}, &data); err != nil {
		return nil, err
	}
	if data.ResultType != "vector" {
		return nil, fmt.Errorf("result type %s, want vector", data.ResultType)
	}
	return data.Result, nil
}

// waitQuery polls a query until check (saying what is wrong, or "") holds.
// When it never does, the series of the metrics the query reads are shown.
func (p *prometheus) waitQuery(t *testing.T, what, q string, check func([]sample) string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		res, err := p.queryErr(t, q)
		missing := ""
		if err != nil {
			missing = err.Error()
		} else {
			missing = check(res)
		}
		if missing == "" {
			return
		}
		if time.Now().After(deadline) {
			for _, m := range slices.Compact(slices.Sorted(slices.Values(regexp.MustCompile(`\b(sisporta_\w+|up)\b`).FindAllString(q, -1)))) {
				res, err := p.queryErr(t, m)
				t.Logf("%s: %v %v", m, res, err)
			}
			t.Fatalf("waited 60s for %s (%s): %s", what, q, missing)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

func labelValues(res []sample, label string) []string {
	var vs []string
	for _, s := range res {
		vs = append(vs, s.Metric[label])
	}
	sort.Strings(vs)
	return vs
}

type promAlert struct {
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
	State       string            `json:"state"`
}

// checkRulesAndFiringAlerts: every rule evaluates without error, and each
// alert fires for its pipelines with its annotations expanded.
func (p *prometheus) checkRulesAndFiringAlerts(t *testing.T, want map[string][]string, ns string) {
	t.Helper()
	var rules struct {
		Groups []struct {
			Rules []struct {
				Name      string `json:"name"`
				Health    string `json:"health"`
				LastError string `json:"lastError"`
			} `json:"rules"`
		} `json:"groups"`
	}
	if err := p.get(t, "/api/v1/rules", nil, &rules); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			n++
			if r.Health != "ok" {
				t.Errorf("rule %s: health %q: %s", r.Name, r.Health, r.LastError)
			}
		}
	}
	if n != len(chartAlerts) {
		t.Errorf("Prometheus loaded %d rules, want the chart's %d", n, len(chartAlerts))
	}
	for alert, pipes := range want {
		for _, pipe := range pipes {
			p.waitAlertFiring(t, alert, pipe, ns)
		}
	}
}

// waitAlertFiring waits until the alert fires (for the pipeline, if one is
// given) and checks its annotations were expanded from the series.
func (p *prometheus) waitAlertFiring(t *testing.T, alert, pipeline, ns string) {
	t.Helper()
	waitFor(t, alert+" firing for "+pipeline, 30*time.Second, func() string {
		var data struct {
			Alerts []promAlert `json:"alerts"`
		}
		if err := p.get(t, "/api/v1/alerts", nil, &data); err != nil {
			return err.Error()
		}
		for _, a := range data.Alerts {
			if a.Labels["alertname"] != alert || a.State != "firing" || (pipeline != "" && a.Labels["pipeline"] != pipeline) {
				continue
			}
			if a.Labels["namespace"] != ns {
				t.Errorf("%s %s: namespace label %q, want %q", alert, pipeline, a.Labels["namespace"], ns)
			}
			for _, k := range []string{"summary", "description", "runbook", "runbook_url"} {
				v := a.Annotations[k]
				if v == "" || strings.Contains(v, "<no value>") || strings.Contains(v, "error expanding") || strings.Contains(v, "{{") {
					t.Errorf("%s %s: annotation %s not expanded: %q", alert, pipeline, k, v)
				}
			}
			name := pipeline[strings.Index(pipeline, "/")+1:]
			if pipeline != "" && (!strings.Contains(a.Annotations["summary"], pipeline) || !strings.Contains(a.Annotations["description"], pipeline) ||
				!strings.Contains(a.Annotations["runbook"], "kubectl -n "+ns+" ") || !strings.Contains(a.Annotations["runbook"], name)) {
				t.Errorf("%s %s: the annotations do not name the pipeline, its namespace and name: %v", alert, pipeline, a.Annotations)
			}
			return ""
		}
		return fmt.Sprintf("not firing among %d alerts", len(data.Alerts))
	})
}

// checkDashboardQueries runs every query of the Grafana dashboard, with its
// pipeline variable set to each of values, and its variable's query; each
// must return series.
func checkDashboardQueries(t *testing.T, prom *prometheus, values, pipelines []string) {
	t.Helper()
	var dash struct {
		Templating struct {
			List []struct {
				Name  string `json:"name"`
				Type  string `json:"type"`
				Query any    `json:"query"`
			} `json:"list"`
		} `json:"templating"`
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				RefID string `json:"refId"`
				Expr  string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	b, err := os.ReadFile(repoPath(t, "charts/sisporta/files/grafana-dashboard.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &dash); err != nil {
		t.Fatal(err)
	}

	// The pipeline variable: label_values(METRIC, LABEL).
	lv := regexp.MustCompile(`^label_values\((\w+),\s*(\w+)\)$`)
	found := false
	for _, v := range dash.Templating.List {
		if v.Type != "query" {
			continue
		}
		q, _ := v.Query.(map[string]any)
		m := lv.FindStringSubmatch(fmt.Sprint(q["query"]))
		if m == nil {
			t.Errorf("variable %s: query %v is not label_values(metric, label)", v.Name, v.Query)
			continue
		}
		found = true
		var got []string
		if err := prom.get(t, "/api/v1/label/"+m[2]+"/values", url.Values{"match[]": {m[1]}}, &got); err != nil {
			t.Fatal(err)
		}
		for _, p := range pipelines {
			if !slices.Contains(got, p) {
				t.Errorf("variable %s (%s) offers %v, not pipeline %s", v.Name, m[0], got, p)
			}
		}
	}
	if !found {
		t.Error("the dashboard has no pipeline variable")
	}

	queries := 0
	variable := regexp.MustCompile(`\$\{?pipeline\}?|\[\[pipeline\]\]`)
	for _, panel := range dash.Panels {
		if len(panel.Targets) == 0 {
			t.Errorf("panel %q has no query", panel.Title)
		}
		for _, target := range panel.Targets {
			for _, value := range values {
				q := variable.ReplaceAllLiteralString(target.Expr, value)
				if strings.Contains(q, "$") {
					t.Errorf("panel %q %s: a variable the test does not know in %s", panel.Title, target.RefID, q)
					continue
				}
				res, err := prom.queryErr(t, q)
				switch {
				case err != nil:
					t.Errorf("panel %q %s with pipeline %s: %v", panel.Title, target.RefID, value, err)
				case len(res) == 0:
					t.Errorf("panel %q %s with pipeline %s: no series for %s", panel.Title, target.RefID, value, q)
				default:
					queries++
				}
			}
		}
	}
	t.Logf("%d dashboard queries returned series", queries)
}

// checkMetricsLint runs `promtool check metrics` on what addr serves on
// /metrics.
func checkMetricsLint(t *testing.T, name, addr string) {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Errorf("%s /metrics: %v", name, err)
		return
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK || !bytes.Contains(body, []byte("sisporta_")) {
		t.Errorf("%s /metrics: %s %v, sisporta metrics: %v", name, resp.Status, err, bytes.Contains(body, []byte("sisporta_")))
		return
	}
	cmd := exec.Command(prometheusBin(t, "promtool"), "check", "metrics")
	cmd.Stdin = bytes.NewReader(body)
	out, err := cmd.CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Errorf("promtool check metrics on the %s's /metrics: %v\n%s", name, err, out)
		return
	}
	t.Logf("promtool check metrics: the %s's /metrics (%d families) is clean", name, bytes.Count(body, []byte("\n# TYPE ")))
}
