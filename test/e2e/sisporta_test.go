//go:build e2e

package e2e

import (
	"context"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	syncv1alpha1 "github.com/sisporta/sisporta/api/v1alpha1"
	"github.com/sisporta/sisporta/runner/queue"
)

const (
	systemNS = "sisporta-e2e-system" // the chart's release namespace
	appNS    = "sisporta-e2e-sales"  // the pipeline's namespace
	release  = "sisporta"
	pipeName = "erp-mirror"
	// redisDB is the Redis database of the suite's queue.
	redisDB = 2

	runNowAnnotation = syncv1alpha1.AnnotationRunNow
	workerSelector   = syncv1alpha1.LabelInstance + "=" + pipeName + "," + syncv1alpha1.LabelComponent + "=" + syncv1alpha1.ComponentWorker
	extractSelector  = syncv1alpha1.LabelInstance + "=" + pipeName + "," + syncv1alpha1.LabelComponent + "=" + syncv1alpha1.ComponentExtractor

	// Waits are generous (a 2-core CI machine running everything) but
	// bounded.
	runTimeout = 5 * time.Minute
)

var queueName = queue.Name(appNS, pipeName)

// scenario is the state the steps share, in order.
type scenario struct {
	erp   *erp
	rdb   *redis.Client
	ctx   context.Context
	watch *scaleWatch
	// restarts counts each operator pod's restarts seen so far.
	restarts map[string]int32
}

func TestSisportaOnARealNode(t *testing.T) {
	s := &scenario{ctx: context.Background(), rdb: redis.NewClient(redisOptions()), restarts: map[string]int32{}}
	t.Cleanup(func() {
		if t.Failed() {
			diagnose(t, systemNS, appNS)
		}
		s.cleanup(t)
	})
	steps := []struct {
		name string
		run  func(*testing.T)
	}{
		{"helm install into a restricted namespace", s.install},
		{"seed the ERP, apply the Secrets and the pipeline", s.applyPipeline},
		{"the schedule starts the first run; workers scale from the queue", s.firstRunBySchedule},
		{"only the source's changes are applied", s.onlyChanges},
		{"the cleanup guard holds when 90% of a table goes", s.guardHolds},
		{"worker pods force-deleted mid-run", s.killWorkers},
		{"the extractor pod killed mid-run", s.killExtractor},
		{"suspend, and run-now starts exactly one Job", s.suspendAndRunNow},
		{"helm upgrade to a re-tagged image", s.upgrade},
		{"deleting the pipeline", s.deletePipeline},
		{"helm uninstall keeps the CRD and frees the lease; a reinstall leads at once", s.uninstall},
	}
	for _, st := range steps {
		start := time.Now()
		ok := t.Run(st.name, st.run)
		figure("step %q: %s", st.name, time.Since(start).Round(time.Second))
		s.noteOperatorRestarts(t, st.name)
		if !ok {
			t.Fatalf("step %q failed; the steps after it depend on it", st.name)
		}
	}
	s.podStartFigures(t)
}

// ---------------------------------------------------------------------------
// steps

func (s *scenario) install(t *testing.T) {
	createRestrictedNamespace(t, systemNS)
	createRestrictedNamespace(t, appNS)
	// The only values overridden: the image, and the default Redis (its
	// Secret, and the namespace whose pipelines may use it).
	apply(t, fmt.Sprintf(`apiVersion: v1
kind: Secret
metadata: {name: e2e-redis, namespace: %s}
stringData: {url: %q}
`, systemNS, redisURLForPods()))
	start := time.Now()
	helmInstall(t)
	figure("helm install --wait, operator Ready: %s", time.Since(start).Round(100*time.Millisecond))

	pod := operatorPod(t)
	if got := pod.Spec.Containers[0].Image; got != image {
		t.Errorf("operator image %s, want %s", got, image)
	}
	sc := pod.Spec.Containers[0].SecurityContext
	if sc == nil || !ptr.Deref(sc.ReadOnlyRootFilesystem, false) || ptr.Deref(sc.AllowPrivilegeEscalation, true) {
		t.Errorf("operator container security context %+v: want a read-only root filesystem and no privilege escalation", sc)
	}
	// Leader election: the one replica holds the lease.
	eventually(t, time.Minute, "the operator holds the leader lease", func() (bool, string) {
		return leaseHolderIs(pod.Name)
	})
	// The metrics endpoint, through its Service.
	metrics := kubectl(t, "get", "--raw", "/api/v1/namespaces/"+systemNS+"/services/"+release+"-metrics:metrics/proxy/metrics")
	for _, want := range []string{`leader_election_master_status{name="sisporta.sync.sisporta.io"} 1`, "controller_runtime_reconcile_total"} {
		if !strings.Contains(metrics, want) {
			t.Errorf("the operator's metrics lack %q", want)
		}
	}
	log := kubectl(t, "-n", systemNS, "logs", pod.Name)
	if !strings.Contains(log, `"runnerImage":"`+image+`"`) || !strings.Contains(log, `"defaultRedis":true`) {
		t.Errorf("the operator did not start with runner image %s and a default Redis:\n%s", image, log)
	}
}

func (s *scenario) applyPipeline(t *testing.T) {
	s.erp = seedERP(t)
	apply(t, fmt.Sprintf(`apiVersion: v1
kind: Secret
metadata: {name: erp-readonly, namespace: %[1]s}
stringData: {dsn: %[2]q}
---
apiVersion: v1
kind: Secret
metadata: {name: mirror-db, namespace: %[1]s}
stringData: {dsn: %[3]q}
`, appNS, s.erp.sourceDSN(), s.erp.targetDSN()))

	// The first run is the schedule's: a minute at least 40 s away, in the
	// pipeline's own time zone.
	first := time.Now().UTC().Truncate(time.Minute).Add(time.Minute)
	if time.Until(first) < 40*time.Second {
		first = first.Add(time.Minute)
	}
	s.applyPipelineSpec(t, fmt.Sprintf("%d %d * * *", first.Minute(), first.Hour()), 30)
	s.watch = newScaleWatch(s)
	s.watch.firstScheduled = first

	eventually(t, time.Minute, "the operator creates the CronJob, the worker Deployment and the ConfigMap", func() (bool, string) {
		var cj batchv1.CronJob
		var d appsv1.Deployment
		var cm corev1.ConfigMap
		for _, o := range []struct {
			name string
			obj  client.Object
		}{{pipeName + "-extract", &cj}, {pipeName + "-worker", &d}, {pipeName + "-sisporta", &cm}} {
			if err := k8s.Get(s.ctx, types.NamespacedName{Namespace: appNS, Name: o.name}, o.obj); err != nil {
				return false, err.Error()
			}
		}
		if ptr.Deref(d.Spec.Replicas, -1) != 0 {
			return false, fmt.Sprintf("worker Deployment has %d replicas, want 0 (minReplicas)", ptr.Deref(d.Spec.Replicas, -1))
		}
		return true, ""
	})
	eventually(t, time.Minute, "Ready=True, AwaitingFirstRun", func() (bool, string) {
		return conditionIs(getPipeline(t), syncv1alpha1.ConditionReady, metav1.ConditionTrue, syncv1alpha1.ReasonAwaitingFirstRun)
	})
}

// applyPipelineSpec applies the pipeline as a platform team writes it.
func (s *scenario) applyPipelineSpec(t *testing.T, schedule string, scaleDownSeconds int) {
	apply(t, fmt.Sprintf(`apiVersion: sync.sisporta.io/v1alpha1
kind: SyncPipeline
metadata: {name: %s, namespace: %s}
spec:
  schedule: %q
  timeZone: Etc/UTC
  source: {driver: mysql, dsnSecretRef: {name: erp-readonly, key: dsn}}
  target: {driver: mysql, dsnSecretRef: {name: mirror-db, key: dsn}}
  batchSize: 100
  workers: {minReplicas: 0, maxReplicas: 4, targetPendingPerReplica: 20, scaleDownStabilizationSeconds: %d, concurrency: 2}
  entities:
  - name: customers
    source: {table: Clientes, where: "Ativo = 1"}
    target: {table: customers}
    columns:
    - {source: CodCliente, target: id}
    - {source: Nome, target: name}
    - {source: Cidade, target: city}
    - {source: Saldo, target: balance}
    cleanup: {mode: Delete, maxDeletePercent: 20}
  - name: products
    source: {table: Produtos}
    target: {table: products}
    cleanup: {mode: Delete, maxDeletePercent: 20}
`, pipeName, appNS, schedule, scaleDownSeconds))
}

func (s *scenario) firstRunBySchedule(t *testing.T) {
	w := s.watch
	w.start()
	defer w.stop()

	// Workers on this small ERP drain the queue as fast as the extractor
	// fills it, so no depth would ever ask for a second one. The queue is
	// held paused (asynq's own pause, which workers honour) until the
	// operator has scaled the workers from its real depth, as it would
	// behind slow workers; then released.
	inspector := asynq.NewInspectorFromRedisClient(s.rdb)
	if err := inspector.PauseQueue(queueName); err != nil {
		t.Fatalf("pausing queue %s: %v", queueName, err)
	}
	paused := true
	unpause := func() {
		if paused {
			paused = false
			if err := inspector.UnpauseQueue(queueName); err != nil {
				t.Errorf("unpausing queue %s: %v", queueName, err)
			}
		}
	}
	defer unpause()

	// The CronJob's own Job, at the scheduled minute.
	var job batchv1.Job
	eventually(t, time.Until(w.firstScheduled)+2*time.Minute, "the CronJob starts a Job at "+w.firstScheduled.Format("15:04"), func() (bool, string) {
		jobs := extractionJobs(t)
		for _, j := range jobs {
			if j.Labels[syncv1alpha1.LabelTrigger] == syncv1alpha1.TriggerSchedule {
				job = j
				return true, ""
			}
		}
		return false, fmt.Sprintf("%d extraction Jobs, none from the schedule", len(jobs))
	})
	if len(job.OwnerReferences) == 0 || job.OwnerReferences[0].Kind != "CronJob" {
		t.Errorf("Job %s is not the CronJob's: owners %+v", job.Name, job.OwnerReferences)
	}
	figure("scheduled Job created %s after the scheduled minute", job.CreationTimestamp.Sub(w.firstScheduled).Round(time.Second))
	run, pod := s.jobRun(t, job.Name)
	if c := pod.Spec.Containers[0]; len(c.Args) == 0 || c.Args[0] != "extract" || c.Image != image {
		t.Errorf("extractor pod runs %s %v, want %s extract ...", c.Image, c.Args, image)
	}
	eventually(t, 2*time.Minute, "the operator scales the workers past one from the queue's depth", func() (bool, string) {
		pending, _ := s.rdb.LLen(s.ctx, queue.AsynqPendingKey(queueName)).Result()
		w.mu.Lock()
		defer w.mu.Unlock()
		return !w.firstReadyMany.IsZero(), fmt.Sprintf("%d tasks pending, at most %d worker replicas so far", pending, w.maxReplicas)
	})
	unpause()
	p := s.waitRun(t, run, true)
	s.expectMirror(t)
	if r := p.Status.LastSuccessfulRun; r.RowsRead != customersTotal*19/20+productsTotal || r.RowsWritten != r.RowsRead {
		t.Errorf("first run read %d and wrote %d rows, want %d of each", r.RowsRead, r.RowsWritten, customersTotal*19/20+productsTotal)
	}

	// Scaled up from the real queue depth, then back to zero after the
	// stabilisation window.
	w.mu.Lock()
	maxReplicas, queued, scaled, ready := w.maxReplicas, w.firstQueued, w.firstScaled, w.firstReadyMany
	w.mu.Unlock()
	if maxReplicas < 2 || queued.IsZero() || scaled.IsZero() {
		t.Fatalf("the workers never scaled past one (max %d replicas; first batch queued %v, scaled %v)", maxReplicas, queued, scaled)
	}
	figure("worker scale-up: first batch queued -> Deployment at %d+ replicas in %s; -> 2 workers Ready in %s; max %d replicas",
		2, scaled.Sub(queued).Round(100*time.Millisecond), since(queued, ready), maxReplicas)
	if out, err := exec.Command(filepath.Join(repo, "hack", "cluster.sh"), "status").CombinedOutput(); err == nil {
		for _, l := range strings.Split(string(out), "\n") {
			if strings.HasPrefix(l, "memory:") || strings.HasPrefix(l, "pods:") {
				figure("cluster with the operator and %d workers: %s", maxReplicas, l)
			}
		}
	}
	drained := time.Now()
	eventually(t, 3*time.Minute, "the workers scale back to 0 after the 30s window", func() (bool, string) {
		d := workerDeployment(t)
		pods := podsMatching(t, workerSelector)
		return ptr.Deref(d.Spec.Replicas, -1) == 0 && len(pods) == 0, fmt.Sprintf("%d replicas, %d pods", ptr.Deref(d.Spec.Replicas, -1), len(pods))
	})
	figure("workers back to 0 %s after the run", time.Since(drained).Round(time.Second))

	p = getPipeline(t)
	st := p.Status
	switch {
	case st.LastSuccessfulRun == nil || st.LastSuccessfulRun.SourceSnapshotTime == nil || st.LastSuccessfulRun.CompletionTime == nil:
		t.Errorf("status.lastSuccessfulRun incomplete: %+v", st.LastSuccessfulRun)
	case st.Lag == nil:
		t.Errorf("status.lag missing")
	case st.LastCleanup == nil || st.LastCleanup.Time == nil:
		t.Errorf("status.lastCleanup missing: %+v", st.LastCleanup)
	case st.Queue == nil || st.Queue.Pending != 0 || st.Queue.Dead != 0:
		t.Errorf("status.queue %+v: want present and empty", st.Queue)
	case st.Workers == nil:
		t.Errorf("status.workers missing")
	case st.LastScheduleTime == nil:
		t.Errorf("status.lastScheduleTime missing after a scheduled run")
	}
	if ok, msg := conditionIs(p, syncv1alpha1.ConditionReady, metav1.ConditionTrue, syncv1alpha1.ReasonSynced); !ok {
		t.Error(msg)
	}
	if ok, msg := conditionIs(p, syncv1alpha1.ConditionDegraded, metav1.ConditionFalse, ""); !ok {
		t.Error(msg)
	}
	figure("first run: lag %s (snapshot to applied)", st.Lag.Duration)

	// kubectl get syncpipelines shows every column.
	eventually(t, time.Minute, "kubectl get syncpipelines fills every column", func() (bool, string) {
		cols, err := printedColumns(kubectl(t, "-n", appNS, "get", "syncpipelines", "-o", "wide"))
		if err != nil {
			return false, err.Error()
		}
		for _, name := range []string{"NAME", "READY", "SCHEDULE", "LAST SYNC", "LAG", "QUEUE", "WORKERS", "AGE", "REASON"} {
			v, ok := cols[name]
			if !ok || v == "" || v == "<none>" {
				return false, fmt.Sprintf("column %s is %q in %v", name, v, cols)
			}
		}
		if cols["READY"] != "True" || cols["REASON"] != syncv1alpha1.ReasonSynced || cols["QUEUE"] != "0" || cols["WORKERS"] != "0" {
			return false, fmt.Sprintf("columns %v", cols)
		}
		return true, ""
	})
}

func (s *scenario) onlyChanges(t *testing.T) {
	e := s.erp
	e.addAuditTriggers(t)
	mark := e.auditMark(t)
	want := map[string][]string{}

	updated := keys(t, e.root, "SELECT CodCliente FROM "+erpDB+".Clientes WHERE CodCliente BETWEEN 1001 AND 1060 AND Ativo = 1")
	exec1(t, e.root, "UPDATE "+erpDB+".Clientes SET Saldo = Saldo + 10 WHERE CodCliente BETWEEN 1001 AND 1060")
	deleted := keys(t, e.root, "SELECT CodCliente FROM "+erpDB+".Clientes WHERE CodCliente BETWEEN 2001 AND 2030 AND Ativo = 1")
	exec1(t, e.root, "DELETE FROM "+erpDB+".Clientes WHERE CodCliente BETWEEN 2001 AND 2030")
	leaving := keys(t, e.root, "SELECT CodCliente FROM "+erpDB+".Clientes WHERE CodCliente BETWEEN 3001 AND 3025 AND Ativo = 1")
	exec1(t, e.root, "UPDATE "+erpDB+".Clientes SET Ativo = 0 WHERE CodCliente BETWEEN 3001 AND 3025")
	// A column that is not mirrored: nothing to write.
	exec1(t, e.root, "UPDATE "+erpDB+".Clientes SET AlteradoEm = NOW(6) WHERE CodCliente BETWEEN 4001 AND 4100")
	var inserted []string
	for id := customersTotal + 1; id <= customersTotal+10; id++ {
		exec1(t, e.root, "INSERT INTO "+erpDB+".Clientes VALUES (?, ?, 'Viseu', 10.00, 1, NOW(6))", id, fmt.Sprintf("Cliente novo %d", id))
		inserted = append(inserted, strconv.Itoa(id))
	}
	exec1(t, e.root, "UPDATE "+erpDB+".Produtos SET Preco = Preco * 1.10 WHERE CodProduto IN ('P-0001', 'P-0002', 'P-0003')")
	want["customers U"] = updated
	want["customers I"] = inserted
	want["customers D"] = append(append([]string(nil), deleted...), leaving...)
	want["products U"] = []string{"P-0001", "P-0002", "P-0003"}

	p := s.runNowAndWait(t, "changes", true)
	s.expectMirror(t)
	e.expectWrites(t, mark, want)
	r := p.Status.LastSuccessfulRun
	if wantW, wantD := int64(len(updated)+len(inserted)+3), int64(len(deleted)+len(leaving)); r.RowsWritten != wantW || r.RowsDeleted != wantD {
		t.Errorf("the run reports %d rows written and %d deleted, want %d and %d", r.RowsWritten, r.RowsDeleted, wantW, wantD)
	}
	if c := p.Status.LastCleanup; c == nil || c.Result != syncv1alpha1.CleanupSucceeded || c.Deleted != int64(len(deleted)+len(leaving)) {
		t.Errorf("status.lastCleanup %+v: want Succeeded, %d deleted", c, len(deleted)+len(leaving))
	}
}

func (s *scenario) guardHolds(t *testing.T) {
	e := s.erp
	mark := e.auditMark(t)
	before := queryInt(t, e.root, "SELECT COUNT(*) FROM "+mirrDB+".products")
	exec1(t, e.root, "CREATE TABLE "+auditDB+".products_gone AS SELECT * FROM "+erpDB+".Produtos WHERE CodProduto > 'P-0040'")
	gone := exec1(t, e.root, "DELETE FROM "+erpDB+".Produtos WHERE CodProduto > 'P-0040'")
	if gone*10 < int64(productsTotal)*9 {
		t.Fatalf("deleted %d of %d products, want 90%%", gone, productsTotal)
	}
	p := s.runNowAndWait(t, "guard", false)
	eventually(t, time.Minute, "Degraded=True, CleanupGuardTripped", func() (bool, string) {
		p = getPipeline(t)
		return conditionIs(p, syncv1alpha1.ConditionDegraded, metav1.ConditionTrue, syncv1alpha1.ReasonCleanupGuardTripped)
	})
	if c := meta.FindStatusCondition(p.Status.Conditions, syncv1alpha1.ConditionDegraded); !strings.Contains(c.Message, "products") {
		t.Errorf("the Degraded message does not name the entity: %s", c.Message)
	}
	if c := p.Status.LastCleanup; c == nil || c.Result != syncv1alpha1.CleanupGuardTripped {
		t.Errorf("status.lastCleanup %+v: want GuardTripped", c)
	}
	eventually(t, time.Minute, "a Warning event CleanupGuardTripped", func() (bool, string) {
		return hasEvent(t, corev1.EventTypeWarning, syncv1alpha1.ReasonCleanupGuardTripped, "products")
	})
	if after := queryInt(t, e.root, "SELECT COUNT(*) FROM "+mirrDB+".products"); after != before {
		t.Errorf("the mirror's products went from %d to %d rows: the guard should have deleted nothing", before, after)
	}
	e.expectWrites(t, mark, map[string][]string{})

	// The rows come back; the next run has nothing to delete, and the
	// pipeline recovers.
	exec1(t, e.root, "INSERT INTO "+erpDB+".Produtos SELECT * FROM "+auditDB+".products_gone")
	s.runNowAndWait(t, "guard-restored", true)
	eventually(t, time.Minute, "Degraded=False after the rows came back", func() (bool, string) {
		return conditionIs(getPipeline(t), syncv1alpha1.ConditionDegraded, metav1.ConditionFalse, "")
	})
	s.expectMirror(t)
	e.expectWrites(t, mark, map[string][]string{})
}

func (s *scenario) killWorkers(t *testing.T) {
	e := s.erp
	// Every active customer changes: a long apply. A row lock held on the
	// mirror stalls the workers that reach it, so they are surely killed in
	// the middle of a batch's transaction.
	changed := keys(t, e.root, "SELECT CodCliente FROM "+erpDB+".Clientes WHERE Ativo = 1")
	exec1(t, e.root, "UPDATE "+erpDB+".Clientes SET Saldo = Saldo + 1 WHERE Ativo = 1")
	mark := e.auditMark(t)
	lock := holdRowLocks(t, e, "SELECT id FROM "+mirrDB+".customers WHERE id BETWEEN 20000 AND 20300 FOR UPDATE")
	defer lock.release()

	value := runNow(t, "kill-workers")
	eventually(t, 3*time.Minute, "workers applying batches, one of them waiting on the held rows", func() (bool, string) {
		applied := queryInt(t, e.root, "SELECT COUNT(*) FROM "+auditDB+".writes WHERE id > ?", mark)
		waiting := queryInt(t, e.root, `SELECT COUNT(*) FROM information_schema.INNODB_TRX t
			JOIN information_schema.PROCESSLIST p ON p.ID = t.trx_mysql_thread_id
			WHERE t.trx_state = 'LOCK WAIT' AND p.USER = ?`, rwUser)
		return applied >= 1000 && waiting > 0, fmt.Sprintf("%d rows applied, %d transactions waiting", applied, waiting)
	})
	killed := podsMatching(t, workerSelector)
	names := podNames(killed)
	kubectl(t, "-n", appNS, "delete", "pod", "--grace-period=0", "--force", "--wait=false", "-l", workerSelector)
	lock.release()
	applied := queryInt(t, e.root, "SELECT COUNT(*) FROM "+auditDB+".writes WHERE id > ?", mark)
	t.Logf("force-deleted worker pods %v with %d of %d rows applied", names, applied, len(changed))

	start := time.Now()
	run, _ := s.jobRun(t, s.jobFor(t, value))
	s.waitRun(t, run, true)
	figure("workers force-deleted mid-run (%d pods, %d of %d rows applied): the run converged %s later", len(names), applied, len(changed), time.Since(start).Round(time.Second))
	for _, p := range podsMatching(t, workerSelector) {
		for _, n := range names {
			if p.Name == n {
				t.Errorf("killed worker pod %s is still there", n)
			}
		}
	}
	s.expectMirror(t)
	e.expectWrites(t, mark, map[string][]string{"customers U": changed})
}

func (s *scenario) killExtractor(t *testing.T) {
	e := s.erp
	customers := keys(t, e.root, "SELECT CodCliente FROM "+erpDB+".Clientes WHERE Ativo = 1 AND CodCliente BETWEEN 5001 AND 5100")
	exec1(t, e.root, "UPDATE "+erpDB+".Clientes SET Nome = CONCAT(Nome, ' (renomeado)') WHERE CodCliente BETWEEN 5001 AND 5100")
	products := keys(t, e.root, "SELECT CodProduto FROM "+erpDB+".Produtos WHERE CodProduto BETWEEN 'P-0100' AND 'P-0119'")
	exec1(t, e.root, "UPDATE "+erpDB+".Produtos SET Preco = Preco + 1 WHERE CodProduto BETWEEN 'P-0100' AND 'P-0119'")
	mark := e.auditMark(t)
	// The second entity's table is locked: the extractor queues the first
	// entity, then waits, mid-run, until it is killed.
	lock := holdTableLock(t, e, "LOCK TABLES "+erpDB+".Produtos WRITE")
	defer lock.release()

	value := runNow(t, "kill-extractor")
	var victim corev1.Pod
	eventually(t, 2*time.Minute, "the extractor reading, blocked on the second entity", func() (bool, string) {
		waiting := queryInt(t, e.root, "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE USER = ? AND STATE LIKE 'Waiting for table%'", roUser)
		for _, p := range podsMatching(t, extractSelector) {
			if p.Status.Phase != corev1.PodRunning {
				continue
			}
			if j := jobOf(p); j != "" && strings.HasPrefix(j, pipeName+"-now-") && waiting > 0 {
				victim = p
				return true, ""
			}
		}
		return false, fmt.Sprintf("%d source sessions waiting for the lock", waiting)
	})
	kubectl(t, "-n", appNS, "delete", "pod", victim.Name, "--grace-period=0", "--force", "--wait=false")
	// The lock stays until the extractor is surely dead: released earlier,
	// the extractor could finish its read before the kubelet kills it.
	end := "gone"
	eventually(t, time.Minute, "the killed extractor's container stops", func() (bool, string) {
		var p corev1.Pod
		err := k8s.Get(s.ctx, client.ObjectKeyFromObject(&victim), &p)
		if apierrors.IsNotFound(err) {
			return true, ""
		}
		if err != nil {
			return false, err.Error()
		}
		for _, c := range p.Status.ContainerStatuses {
			if term := c.State.Terminated; term != nil {
				end = fmt.Sprintf("exit code %d (%s)", term.ExitCode, term.Reason)
				return true, ""
			}
		}
		return false, string(p.Status.Phase)
	})
	time.Sleep(3 * time.Second) // a pod removed from the API may still be stopping on the node
	lock.release()
	t.Logf("killed extractor pod %s of run-now %q mid-run: %s", victim.Name, value, end)

	// The Job retries in a new pod: what it does is reported, then the
	// next run must converge.
	job := jobOf(victim)
	eventually(t, 3*time.Minute, "Job "+job+" finishes", func() (bool, string) {
		done, _, msg := jobFinished(t, job)
		return done, msg
	})
	var retries []string
	for _, p := range podsMatching(t, extractSelector) {
		if jobOf(p) == job && p.Name != victim.Name {
			out, _ := kubectlErr("-n", appNS, "logs", p.Name)
			retries = append(retries, fmt.Sprintf("%s (%s): %s", p.Name, p.Status.Phase, lastLine(out)))
		}
	}
	t.Logf("the Job's retries after the kill: %v", retries)
	figure("extractor killed mid-run (%s): the Job retried in %d pod(s): %s", end, len(retries), strings.Join(retries, "; "))

	// A killed extractor holds the pipeline's extraction lock until it
	// expires (30 s); then the next run.
	eventually(t, 2*time.Minute, "the killed extractor's lock released or expired", func() (bool, string) {
		n, err := s.rdb.Exists(s.ctx, "sisporta:{"+queueName+"}:extract-lock").Result()
		return err == nil && n == 0, fmt.Sprintf("lock keys %d (%v)", n, err)
	})
	s.runNowAndWait(t, "after-kill", true)
	s.expectMirror(t)
	e.expectWrites(t, mark, map[string][]string{"customers U": customers, "products U": products})
}

func (s *scenario) suspendAndRunNow(t *testing.T) {
	kubectl(t, "-n", appNS, "patch", "syncpipeline", pipeName, "--type", "merge", "-p", `{"spec":{"suspend":true,"schedule":"*/1 * * * *"}}`)
	suspendedAt := time.Now()
	eventually(t, time.Minute, "the CronJob suspended, every minute", func() (bool, string) {
		cj := cronJob(t)
		return ptr.Deref(cj.Spec.Suspend, false) && cj.Spec.Schedule == "*/1 * * * *", fmt.Sprintf("suspend %v, schedule %q", ptr.Deref(cj.Spec.Suspend, false), cj.Spec.Schedule)
	})
	eventually(t, time.Minute, "Ready=True, Suspended", func() (bool, string) {
		return conditionIs(getPipeline(t), syncv1alpha1.ConditionReady, metav1.ConditionTrue, syncv1alpha1.ReasonSuspended)
	})
	// A minute boundary passes: the schedule starts nothing.
	boundary := time.Now().Truncate(time.Minute).Add(time.Minute)
	time.Sleep(time.Until(boundary.Add(20 * time.Second)))
	for _, j := range extractionJobs(t) {
		if j.Labels[syncv1alpha1.LabelTrigger] == syncv1alpha1.TriggerSchedule && j.CreationTimestamp.After(suspendedAt) {
			t.Errorf("suspended, yet the schedule started Job %s at %s", j.Name, j.CreationTimestamp)
		}
	}

	// run-now works on a suspended pipeline, once per value.
	exec1(t, s.erp.root, "UPDATE "+erpDB+".Produtos SET Descricao = CONCAT(Descricao, ' v2') WHERE CodProduto = 'P-0200'")
	value := runNow(t, "suspended")
	run, _ := s.jobRun(t, s.jobFor(t, value))
	s.waitRun(t, run, true)
	kubectl(t, "-n", appNS, "annotate", "syncpipeline", pipeName, runNowAnnotation+"="+value, "e2e/poke=1", "--overwrite")
	time.Sleep(10 * time.Second)
	var jobs []string
	for _, j := range extractionJobs(t) {
		if j.Annotations[runNowAnnotation] == value {
			jobs = append(jobs, j.Name)
		}
	}
	if len(jobs) != 1 {
		t.Errorf("run-now %q started %d Jobs %v, want exactly one", value, len(jobs), jobs)
	}
	s.expectMirror(t)

	kubectl(t, "-n", appNS, "patch", "syncpipeline", pipeName, "--type", "merge", "-p",
		fmt.Sprintf(`{"spec":{"suspend":false,"schedule":%q}}`, farSchedule()))
	eventually(t, time.Minute, "the CronJob resumed", func() (bool, string) {
		cj := cronJob(t)
		return !ptr.Deref(cj.Spec.Suspend, true), "still suspended"
	})
}

func (s *scenario) upgrade(t *testing.T) {
	// A longer scale-down window keeps the workers (and their disruption
	// budget) up after the run, for the deletion that follows.
	s.applyPipelineSpec(t, farSchedule(), 300)
	oldPod := operatorPod(t)
	start := time.Now()
	_, tag, _ := strings.Cut(imageNext, ":")
	helm(t, "upgrade", release, "charts/sisporta", "-n", systemNS, "--reuse-values", "--set", "image.tag="+tag, "--wait", "--timeout", "4m")
	var newPod corev1.Pod
	eventually(t, 2*time.Minute, "the operator runs "+imageNext+" alone", func() (bool, string) {
		pods := podsIn(t, systemNS, "app.kubernetes.io/name=sisporta,app.kubernetes.io/component=manager")
		if len(pods) != 1 || pods[0].Name == oldPod.Name || pods[0].Spec.Containers[0].Image != imageNext || !podReady(pods[0]) {
			return false, fmt.Sprintf("%d operator pods %v", len(pods), podNames(pods))
		}
		newPod = pods[0]
		return true, ""
	})
	eventually(t, time.Minute, "the new operator took the leader lease", func() (bool, string) { return leaseHolderIs(newPod.Name) })
	eventually(t, 2*time.Minute, "the CronJob and the worker Deployment move to "+imageNext, func() (bool, string) {
		cj, d := cronJob(t), workerDeployment(t)
		a, b := cj.Spec.JobTemplate.Spec.Template.Spec.Containers[0].Image, d.Spec.Template.Spec.Containers[0].Image
		return a == imageNext && b == imageNext, fmt.Sprintf("CronJob %s, Deployment %s", a, b)
	})
	figure("helm upgrade to a re-tagged image: operator, CronJob and Deployment moved in %s", time.Since(start).Round(time.Second))

	e := s.erp
	changed := keys(t, e.root, "SELECT CodCliente FROM "+erpDB+".Clientes WHERE Ativo = 1")
	exec1(t, e.root, "UPDATE "+erpDB+".Clientes SET Saldo = Saldo + 1 WHERE Ativo = 1")
	mark := e.auditMark(t)
	value := runNow(t, "upgraded")
	run, pod := s.jobRun(t, s.jobFor(t, value))
	if pod.Spec.Containers[0].Image != imageNext {
		t.Errorf("the extractor %s ran %s, want %s", pod.Name, pod.Spec.Containers[0].Image, imageNext)
	}
	s.waitRun(t, run, true)
	s.expectMirror(t)
	e.expectWrites(t, mark, map[string][]string{"customers U": changed})
	// The operator only moves the Deployment's template; Kubernetes rolls
	// the pods over (the old ReplicaSet's pods go once the new ones are
	// Ready), which may still be under way when a short run ends.
	eventually(t, 2*time.Minute, "every worker pod runs "+imageNext, func() (bool, string) {
		workers := podsMatching(t, workerSelector)
		if len(workers) == 0 {
			return false, "no worker pods after the run (the 300s window should keep them)"
		}
		var old []string
		for _, p := range workers {
			if img := p.Spec.Containers[0].Image; img != imageNext {
				old = append(old, p.Name+" runs "+img)
			}
		}
		return len(old) == 0, strings.Join(old, "; ")
	})
}

func (s *scenario) deletePipeline(t *testing.T) {
	// The PodDisruptionBudget exists only while more than one worker is
	// wanted: two at least, so that every object the pipeline owns is
	// there for the garbage collector to remove.
	kubectl(t, "-n", appNS, "patch", "syncpipeline", pipeName, "--type", "merge", "-p", `{"spec":{"workers":{"minReplicas":2}}}`)
	eventually(t, 2*time.Minute, "the workers' PodDisruptionBudget with minReplicas 2", func() (bool, string) {
		err := k8s.Get(s.ctx, types.NamespacedName{Namespace: appNS, Name: pipeName + "-worker"}, &policyv1.PodDisruptionBudget{})
		return err == nil, fmt.Sprintf("%v", err)
	})
	var owned []client.Object
	for _, o := range []struct {
		name string
		obj  client.Object
	}{
		{pipeName + "-extract", &batchv1.CronJob{}}, {pipeName + "-worker", &appsv1.Deployment{}},
		{pipeName + "-sisporta", &corev1.ConfigMap{}}, {pipeName + "-worker", &policyv1.PodDisruptionBudget{}},
	} {
		if err := k8s.Get(s.ctx, types.NamespacedName{Namespace: appNS, Name: o.name}, o.obj); err != nil {
			t.Fatalf("before deleting the pipeline: %T %s: %v", o.obj, o.name, err)
		}
		owned = append(owned, o.obj)
	}
	keysBefore := s.queueKeys(t)
	if len(keysBefore) == 0 {
		t.Fatalf("no Redis key of queue %s before the deletion: nothing to see purged", queueName)
	}
	start := time.Now()
	kubectl(t, "-n", appNS, "delete", "syncpipeline", pipeName, "--wait=false")
	eventually(t, 4*time.Minute, "the pipeline is gone (its finalizer purged the queue)", func() (bool, string) {
		err := k8s.Get(s.ctx, types.NamespacedName{Namespace: appNS, Name: pipeName}, &syncv1alpha1.SyncPipeline{})
		return apierrors.IsNotFound(err), fmt.Sprintf("%v", err)
	})
	for _, o := range owned {
		eventually(t, 2*time.Minute, fmt.Sprintf("the garbage collector removes %T %s", o, o.GetName()), func() (bool, string) {
			err := k8s.Get(s.ctx, client.ObjectKeyFromObject(o), o)
			return apierrors.IsNotFound(err), fmt.Sprintf("%v", err)
		})
	}
	eventually(t, 2*time.Minute, "no worker or extractor pod left", func() (bool, string) {
		pods := podsIn(t, appNS, syncv1alpha1.LabelInstance+"="+pipeName)
		return len(pods) == 0, fmt.Sprintf("pods %v", podNames(pods))
	})
	figure("pipeline deletion: finalizer, purge and garbage collection done in %s", time.Since(start).Round(time.Second))
	if left := s.queueKeys(t); len(left) > 0 {
		t.Errorf("Redis still holds %d keys of queue %s: %v", len(left), queueName, left)
	}
	if in, err := s.rdb.SIsMember(s.ctx, "asynq:queues", queueName).Result(); err != nil || in {
		t.Errorf("asynq still lists queue %s (%v)", queueName, err)
	}
	if ok, msg := hasEvent(t, corev1.EventTypeNormal, "QueuePurged", queueName); !ok {
		t.Errorf("no QueuePurged event: %s", msg)
	}
}

// helmInstall installs the chart overriding only the image and the
// default Redis (its Secret, and the namespace whose pipelines may use it).
func helmInstall(t *testing.T) {
	repoName, tag, _ := strings.Cut(image, ":")
	helm(t, "install", release, "charts/sisporta", "-n", systemNS,
		"--set", "image.repository="+repoName, "--set", "image.tag="+tag,
		"--set", "defaultRedis.existingSecret.name=e2e-redis", "--set", "defaultRedis.namespaces={"+appNS+"}",
		"--wait", "--timeout", "4m")
}

func (s *scenario) uninstall(t *testing.T) {
	// The operator's last words, followed until its pod is gone: it must
	// release its lease while its RBAC is still there, without an error.
	pod := operatorPod(t)
	ctx, cancel := context.WithTimeout(s.ctx, 3*time.Minute)
	defer cancel()
	follow := exec.CommandContext(ctx, kubectlBin, "-n", systemNS, "logs", "-f", pod.Name)
	follow.Env = append(os.Environ(), "KUBECONFIG="+kubeconfig)
	var last strings.Builder
	follow.Stdout = &last
	if err := follow.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second) // the stream is open before the pod stops

	helm(t, "uninstall", release, "-n", systemNS, "--wait", "--timeout", "3m")
	eventually(t, 2*time.Minute, "the operator is gone", func() (bool, string) {
		pods := podsIn(t, systemNS, "app.kubernetes.io/name=sisporta")
		return len(pods) == 0, fmt.Sprintf("pods %v", podNames(pods))
	})
	_ = follow.Wait()
	for _, l := range strings.Split(last.String(), "\n") {
		if strings.Contains(l, `"level":"error"`) || strings.Contains(l, "leader election lost") {
			t.Errorf("the operator's log at uninstall has an error: %s", l)
		}
	}
	var lease coordinationv1.Lease
	if err := k8s.Get(s.ctx, types.NamespacedName{Namespace: systemNS, Name: "sisporta.sync.sisporta.io"}, &lease); err == nil {
		if h := ptr.Deref(lease.Spec.HolderIdentity, ""); h != "" {
			t.Errorf("after helm uninstall the lease is still held by %s: a reinstall would wait for it", h)
		}
	} else if !apierrors.IsNotFound(err) {
		t.Error(err)
	}
	var crd apiextensionsv1.CustomResourceDefinition
	if err := k8s.Get(s.ctx, types.NamespacedName{Name: "syncpipelines.sync.sisporta.io"}, &crd); err != nil {
		t.Errorf("helm uninstall removed the CRD (crds.keep should keep it): %v", err)
	}

	// Installed again at once, the new operator leads without waiting
	// out the old lease (15 s).
	start := time.Now()
	helmInstall(t)
	again := operatorPod(t)
	eventually(t, time.Minute, "the reinstalled operator holds the leader lease", func() (bool, string) {
		return leaseHolderIs(again.Name)
	})
	log := kubectl(t, "-n", systemNS, "logs", again.Name)
	attempt, acquired := logTime(log, "Attempting to acquire leader lease"), logTime(log, "Successfully acquired lease")
	if attempt.IsZero() || acquired.IsZero() || acquired.Sub(attempt) > 5*time.Second {
		t.Errorf("the reinstalled operator waited for the lease from %v to %v:\n%s", attempt, acquired, log)
	}
	figure("uninstall and reinstall: the new operator led %s after helm install began (lease waited %s)",
		time.Since(start).Round(100*time.Millisecond), acquired.Sub(attempt).Round(100*time.Millisecond))
	helm(t, "uninstall", release, "-n", systemNS, "--wait", "--timeout", "3m")
}

// logTime is the time of the first JSON log line holding msg.
func logTime(log, msg string) time.Time {
	for _, l := range strings.Split(log, "\n") {
		if !strings.Contains(l, msg) {
			continue
		}
		if m := regexp.MustCompile(`"ts":"([^"]+)"`).FindStringSubmatch(l); m != nil {
			if ts, err := time.Parse(time.RFC3339Nano, m[1]); err == nil {
				return ts
			}
		}
	}
	return time.Time{}
}

// cleanup leaves the cluster, MariaDB and Redis as they were, whatever
// happened.
func (s *scenario) cleanup(t *testing.T) {
	_, _ = exec.Command(helmBin, "uninstall", release, "-n", systemNS, "--kubeconfig", kubeconfig).CombinedOutput()
	_, _ = kubectlErr("-n", appNS, "patch", "syncpipeline", pipeName, "--type", "merge", "-p", `{"metadata":{"finalizers":null}}`)
	_, _ = kubectlErr("delete", "namespace", appNS, systemNS, "--wait=false", "--ignore-not-found")
	var list syncv1alpha1.SyncPipelineList
	if err := k8s.List(s.ctx, &list); err == nil && len(list.Items) == 0 {
		_, _ = kubectlErr("delete", "crd", "syncpipelines.sync.sisporta.io", "--ignore-not-found", "--wait=false")
	}
	if s.erp != nil {
		s.erp.drop(t)
	}
	if ks := s.queueKeys(t); len(ks) > 0 {
		s.rdb.Del(s.ctx, ks...)
	}
	s.rdb.SRem(s.ctx, "asynq:queues", queueName)
	_ = s.rdb.Close()
}

// noteOperatorRestarts reports a restart of the operator's container and
// the last words of the run before it. The kubelet restarting the operator
// is Kubernetes doing its job, so it is reported, not failed on; the steps
// check that nothing was lost.
func (s *scenario) noteOperatorRestarts(t *testing.T, step string) {
	for _, p := range podsIn(t, systemNS, "app.kubernetes.io/name=sisporta,app.kubernetes.io/component=manager") {
		for _, c := range p.Status.ContainerStatuses {
			if c.RestartCount <= s.restarts[p.Name] {
				continue
			}
			s.restarts[p.Name] = c.RestartCount
			prev, _ := kubectlErr("-n", systemNS, "logs", p.Name, "--previous", "--tail=20")
			last := ""
			for _, l := range strings.Split(prev, "\n") {
				if strings.Contains(l, `"level":"error"`) {
					last = l
				}
			}
			t.Logf("operator pod %s restarted (%d restarts so far); the end of its previous log:\n%s", p.Name, c.RestartCount, prev)
			figure("operator pod restarted during %q (%d restarts): %s", step, c.RestartCount, last)
		}
	}
}

// ---------------------------------------------------------------------------
// runs

// runNow asks for a run with a fresh value of the run-now annotation, as
// `kubectl annotate` does, and returns the value.
func runNow(t *testing.T, what string) string {
	t.Helper()
	value := fmt.Sprintf("%s-%d", what, time.Now().UnixNano())
	kubectl(t, "-n", appNS, "annotate", "syncpipeline", pipeName, runNowAnnotation+"="+value, "--overwrite")
	return value
}

// runNowAndWait asks for a run and waits for it to finish (and succeed,
// if it must).
func (s *scenario) runNowAndWait(t *testing.T, what string, mustSucceed bool) *syncv1alpha1.SyncPipeline {
	t.Helper()
	run, _ := s.jobRun(t, s.jobFor(t, runNow(t, what)))
	return s.waitRun(t, run, mustSucceed)
}

// jobFor waits for the operator's Job of a run-now value.
func (s *scenario) jobFor(t *testing.T, value string) string {
	t.Helper()
	var name string
	eventually(t, 2*time.Minute, "the operator starts a Job for run-now "+value, func() (bool, string) {
		for _, j := range extractionJobs(t) {
			if j.Annotations[runNowAnnotation] == value {
				name = j.Name
				return true, ""
			}
		}
		return false, describeRun(getPipeline(t).Status.LastRun)
	})
	return name
}

// jobRun waits for an extraction Job to complete and returns the run its
// extractor queued, read from the extractor's log, and the extractor pod.
func (s *scenario) jobRun(t *testing.T, job string) (int64, corev1.Pod) {
	t.Helper()
	var failed bool
	eventually(t, 3*time.Minute, "extraction Job "+job+" completes", func() (bool, string) {
		done, f, msg := jobFinished(t, job)
		failed = f
		return done, msg
	})
	var pods []string
	for _, p := range podsMatching(t, extractSelector) {
		if jobOf(p) != job {
			continue
		}
		log, _ := kubectlErr("-n", appNS, "logs", p.Name)
		pods = append(pods, p.Name+": "+log)
		if p.Status.Phase != corev1.PodSucceeded {
			continue
		}
		if m := regexp.MustCompile(`"run":(\d+)|\brun (\d+) queued`).FindStringSubmatch(log); m != nil {
			id, _ := strconv.ParseInt(m[1]+m[2], 10, 64)
			return id, p
		}
		t.Fatalf("extraction Job %s succeeded without queuing a run; its pod %s says:\n%s", job, p.Name, log)
	}
	t.Fatalf("extraction Job %s (failed: %v) has no succeeded pod with a run: %v", job, failed, pods)
	return 0, corev1.Pod{}
}

// waitRun waits until run (or a later one) is finished in the status.
func (s *scenario) waitRun(t *testing.T, run int64, mustSucceed bool) *syncv1alpha1.SyncPipeline {
	t.Helper()
	var p *syncv1alpha1.SyncPipeline
	id := func(r *syncv1alpha1.RunStatus) int64 {
		if r == nil {
			return 0
		}
		n, _ := strconv.ParseInt(r.ID, 10, 64)
		return n
	}
	eventually(t, runTimeout, fmt.Sprintf("run %d finishes", run), func() (bool, string) {
		p = getPipeline(t)
		st := p.Status
		if id(st.LastSuccessfulRun) >= run {
			return true, ""
		}
		if r := st.LastRun; id(r) == run && r.Result != "" && r.Result != syncv1alpha1.RunRunning {
			if mustSucceed {
				t.Fatalf("run %d %s: %s (entities %v)", run, r.Result, r.Message, r.FailedEntities)
			}
			return true, ""
		}
		return false, "last run " + describeRun(st.LastRun)
	})
	return p
}

// jobFinished says whether a Job is complete or failed.
func jobFinished(t *testing.T, name string) (done, failed bool, msg string) {
	t.Helper()
	var j batchv1.Job
	if err := k8s.Get(context.Background(), types.NamespacedName{Namespace: appNS, Name: name}, &j); err != nil {
		return false, false, err.Error()
	}
	for _, c := range j.Status.Conditions {
		if c.Status == corev1.ConditionTrue && (c.Type == batchv1.JobComplete || c.Type == batchv1.JobFailed) {
			return true, c.Type == batchv1.JobFailed, string(c.Type)
		}
	}
	return false, false, fmt.Sprintf("succeeded %d, failed %d, active %d", j.Status.Succeeded, j.Status.Failed, j.Status.Active)
}

func describeRun(r *syncv1alpha1.RunStatus) string {
	if r == nil {
		return "none"
	}
	return fmt.Sprintf("%s %s (%d read, %d written, %d deleted) %s", r.ID, r.Result, r.RowsRead, r.RowsWritten, r.RowsDeleted, r.Message)
}

func (s *scenario) expectMirror(t *testing.T) {
	t.Helper()
	if ok, msg := s.erp.mirrorMatches(t); !ok {
		t.Errorf("the mirror differs from the source: %s", msg)
	}
}

func (s *scenario) queueKeys(t *testing.T) []string {
	t.Helper()
	var out []string
	for _, pattern := range []string{queue.AsynqKeyPattern(queueName), "sisporta:{" + queueName + "}:*"} {
		ks, err := s.rdb.Keys(s.ctx, pattern).Result()
		if err != nil {
			t.Fatalf("Redis KEYS %s: %v", pattern, err)
		}
		out = append(out, ks...)
	}
	sort.Strings(out)
	return out
}

// podStartFigures reports the kubelet's own pod start latency.
func (s *scenario) podStartFigures(t *testing.T) {
	metrics, err := kubeletMetrics(t)
	if err != nil {
		figure("pod start latency: the kubelet's metrics could not be read: %v", err)
		t.Logf("reading the kubelet's metrics: %v", err)
	}
	for _, m := range []struct{ name, what string }{
		{"kubelet_pod_start_sli_duration_seconds", "pod start latency (kubelet SLI: created to running, without image pulls)"},
		{"kubelet_pod_start_duration_seconds", "pod start latency (kubelet: seen to running)"},
	} {
		sum, count := metricValue(metrics, m.name+"_sum"), metricValue(metrics, m.name+"_count")
		if count > 0 {
			figure("%s: mean %.2fs over %.0f pods", m.what, sum/count, count)
		}
	}
	s.watch.mu.Lock()
	defer s.watch.mu.Unlock()
	var ready []float64
	for _, d := range s.watch.podReady {
		ready = append(ready, d.Seconds())
	}
	if len(ready) > 0 {
		sort.Float64s(ready)
		figure("worker pods, created to Ready (readiness probe: 5s delay, 10s period): median %.1fs, max %.1fs over %d pods", ready[len(ready)/2], ready[len(ready)-1], len(ready))
	}
}

// kubeletMetrics reads the kubelet's /metrics as the API server's client
// (the API server's node proxy refuses a node whose address is loopback).
// The kubelet's serving certificate is self-signed: it is its own CA.
func kubeletMetrics(t *testing.T) (string, error) {
	node := strings.TrimSpace(kubectl(t, "get", "nodes", "-o", "jsonpath={.items[0].metadata.name}"))
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return "", err
	}
	tlsCfg, err := rest.TLSConfigFor(cfg)
	if err != nil {
		return "", err
	}
	ca, err := os.ReadFile(filepath.Join(stateDir, "kubelet", "pki", "kubelet.crt"))
	if err != nil {
		return "", err
	}
	tlsCfg.RootCAs = x509.NewCertPool()
	tlsCfg.RootCAs.AppendCertsFromPEM(ca)
	tlsCfg.ServerName = node
	hc := &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{TLSClientConfig: tlsCfg}}
	resp, err := hc.Get("https://127.0.0.1:10250/metrics")
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("kubelet /metrics: %s: %s", resp.Status, b)
	}
	return string(b), err
}

func metricValue(text, name string) float64 {
	m := regexp.MustCompile(`(?m)^`+regexp.QuoteMeta(name)+`(\{[^}]*\})? ([0-9.e+-]+)$`).FindAllStringSubmatch(text, -1)
	total := 0.0
	for _, x := range m {
		v, _ := strconv.ParseFloat(x[2], 64)
		total += v
	}
	return total
}

func since(a, b time.Time) string {
	if a.IsZero() || b.IsZero() {
		return "never"
	}
	return b.Sub(a).Round(100 * time.Millisecond).String()
}

// farSchedule fires in twelve hours: no scheduled run during the suite.
func farSchedule() string {
	at := time.Now().UTC().Add(12 * time.Hour)
	return fmt.Sprintf("%d %d * * *", at.Minute(), at.Hour())
}

// ---------------------------------------------------------------------------
// scale watch

// scaleWatch samples the queue depth in Redis and the worker Deployment
// every 250 ms: when the first batch was queued, when the Deployment went
// past one replica, when two workers were Ready, and each worker pod's
// time from creation to Ready.
type scaleWatch struct {
	s              *scenario
	firstScheduled time.Time
	stopCh, done   chan struct{}

	mu                                       sync.Mutex
	firstQueued, firstScaled, firstReadyMany time.Time
	maxReplicas                              int32
	podReady                                 map[string]time.Duration
}

func newScaleWatch(s *scenario) *scaleWatch {
	return &scaleWatch{s: s, podReady: map[string]time.Duration{}}
}

func (w *scaleWatch) start() {
	w.stopCh, w.done = make(chan struct{}), make(chan struct{})
	go func() {
		defer close(w.done)
		tick := time.NewTicker(250 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-w.stopCh:
				return
			case <-tick.C:
				w.sample()
			}
		}
	}()
}

func (w *scaleWatch) stop() {
	close(w.stopCh)
	<-w.done
}

func (w *scaleWatch) sample() {
	ctx, s := w.s.ctx, w.s
	now := time.Now()
	pending, _ := s.rdb.LLen(ctx, queue.AsynqPendingKey(queueName)).Result()
	active, _ := s.rdb.LLen(ctx, "asynq:{"+queueName+"}:active").Result()
	var d appsv1.Deployment
	derr := k8s.Get(ctx, types.NamespacedName{Namespace: appNS, Name: pipeName + "-worker"}, &d)
	var pods corev1.PodList
	perr := k8s.List(ctx, &pods, client.InNamespace(appNS), client.MatchingLabels{syncv1alpha1.LabelInstance: pipeName, syncv1alpha1.LabelComponent: syncv1alpha1.ComponentWorker})
	w.mu.Lock()
	defer w.mu.Unlock()
	if pending+active > 0 && w.firstQueued.IsZero() {
		w.firstQueued = now
	}
	if derr == nil {
		r := ptr.Deref(d.Spec.Replicas, 0)
		if r > w.maxReplicas {
			w.maxReplicas = r
		}
		if r >= 2 && w.firstScaled.IsZero() {
			w.firstScaled = now
		}
		if d.Status.ReadyReplicas >= 2 && w.firstReadyMany.IsZero() {
			w.firstReadyMany = now
		}
	}
	if perr == nil {
		for _, p := range pods.Items {
			if _, seen := w.podReady[p.Name]; !seen && podReady(p) {
				w.podReady[p.Name] = now.Sub(p.CreationTimestamp.Time)
			}
		}
	}
}

// ---------------------------------------------------------------------------
// Kubernetes helpers

func createRestrictedNamespace(t *testing.T, ns string) {
	t.Helper()
	apply(t, fmt.Sprintf(`apiVersion: v1
kind: Namespace
metadata:
  name: %s
  labels: {pod-security.kubernetes.io/enforce: restricted, pod-security.kubernetes.io/enforce-version: latest}
`, ns))
}

func getPipeline(t testing.TB) *syncv1alpha1.SyncPipeline {
	t.Helper()
	var p syncv1alpha1.SyncPipeline
	if err := k8s.Get(context.Background(), types.NamespacedName{Namespace: appNS, Name: pipeName}, &p); err != nil {
		t.Fatalf("getting the pipeline: %v", err)
	}
	return &p
}

func conditionIs(p *syncv1alpha1.SyncPipeline, typ string, status metav1.ConditionStatus, reason string) (bool, string) {
	c := meta.FindStatusCondition(p.Status.Conditions, typ)
	if c == nil {
		return false, typ + " not set"
	}
	if c.Status != status || (reason != "" && c.Reason != reason) {
		return false, fmt.Sprintf("%s=%s (%s: %s), want %s %s", typ, c.Status, c.Reason, c.Message, status, reason)
	}
	return true, ""
}

func hasEvent(t testing.TB, typ, reason, contains string) (bool, string) {
	t.Helper()
	var list corev1.EventList
	if err := k8s.List(context.Background(), &list, client.InNamespace(appNS)); err != nil {
		return false, err.Error()
	}
	var seen []string
	for _, e := range list.Items {
		if e.InvolvedObject.Kind == "SyncPipeline" && e.Type == typ && e.Reason == reason && strings.Contains(e.Message, contains) {
			return true, ""
		}
		if e.InvolvedObject.Kind == "SyncPipeline" {
			seen = append(seen, e.Type+" "+e.Reason)
		}
	}
	return false, fmt.Sprintf("no %s event %s mentioning %q among %v", typ, reason, contains, seen)
}

func operatorPod(t testing.TB) corev1.Pod {
	t.Helper()
	pods := podsIn(t, systemNS, "app.kubernetes.io/name=sisporta,app.kubernetes.io/component=manager")
	if len(pods) != 1 {
		t.Fatalf("want one operator pod, got %v", podNames(pods))
	}
	return pods[0]
}

func leaseHolderIs(pod string) (bool, string) {
	var l coordinationv1.Lease
	if err := k8s.Get(context.Background(), types.NamespacedName{Namespace: systemNS, Name: "sisporta.sync.sisporta.io"}, &l); err != nil {
		return false, err.Error()
	}
	holder := ptr.Deref(l.Spec.HolderIdentity, "")
	return strings.HasPrefix(holder, pod+"_"), "holder " + holder
}

func cronJob(t testing.TB) *batchv1.CronJob {
	t.Helper()
	var cj batchv1.CronJob
	if err := k8s.Get(context.Background(), types.NamespacedName{Namespace: appNS, Name: pipeName + "-extract"}, &cj); err != nil {
		t.Fatal(err)
	}
	return &cj
}

func workerDeployment(t testing.TB) *appsv1.Deployment {
	t.Helper()
	var d appsv1.Deployment
	if err := k8s.Get(context.Background(), types.NamespacedName{Namespace: appNS, Name: pipeName + "-worker"}, &d); err != nil {
		t.Fatal(err)
	}
	return &d
}

func extractionJobs(t testing.TB) []batchv1.Job {
	t.Helper()
	var list batchv1.JobList
	if err := k8s.List(context.Background(), &list, client.InNamespace(appNS), client.MatchingLabels{syncv1alpha1.LabelPipeline: pipeName}); err != nil {
		t.Fatal(err)
	}
	return list.Items
}

func podsMatching(t testing.TB, selector string) []corev1.Pod { return podsIn(t, appNS, selector) }

func podsIn(t testing.TB, ns, selector string) []corev1.Pod {
	t.Helper()
	sel, err := metav1.ParseToLabelSelector(selector)
	if err != nil {
		t.Fatal(err)
	}
	var list corev1.PodList
	if err := k8s.List(context.Background(), &list, client.InNamespace(ns), client.MatchingLabels(sel.MatchLabels)); err != nil {
		t.Fatal(err)
	}
	var out []corev1.Pod
	for _, p := range list.Items {
		if p.DeletionTimestamp == nil {
			out = append(out, p)
		}
	}
	return out
}

func podNames(pods []corev1.Pod) []string {
	var out []string
	for _, p := range pods {
		out = append(out, p.Name)
	}
	return out
}

func podReady(p corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func jobOf(p corev1.Pod) string {
	for _, o := range p.OwnerReferences {
		if o.Kind == "Job" {
			return o.Name
		}
	}
	return ""
}

// printedColumns reads the one row of `kubectl get -o wide` under its
// header (values sit at their header's offset; some hold spaces).
func printedColumns(out string) (map[string]string, error) {
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	if len(lines) != 2 {
		return nil, fmt.Errorf("want a header and one row, got:\n%s", out)
	}
	header, row := lines[0], lines[1]
	starts := regexp.MustCompile(`\S+( \S+)*`).FindAllStringIndex(header, -1)
	cols := map[string]string{}
	for i, se := range starts {
		end := len(row)
		if i+1 < len(starts) {
			end = min(starts[i+1][0], len(row))
		}
		if se[0] > len(row) {
			cols[header[se[0]:se[1]]] = ""
			continue
		}
		cols[header[se[0]:se[1]]] = strings.TrimSpace(row[se[0]:end])
	}
	return cols, nil
}

// ---------------------------------------------------------------------------
// locks held on MariaDB by the test

type heldLock struct {
	once    sync.Once
	release func()
}

// holdRowLocks runs a locking read in an open transaction until released.
func holdRowLocks(t *testing.T, e *erp, query string) *heldLock {
	t.Helper()
	ctx := context.Background()
	conn, err := e.root.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := tx.QueryContext(ctx, query)
	if err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	for rows.Next() {
	}
	_ = rows.Close()
	h := &heldLock{}
	h.release = func() { h.once.Do(func() { _ = tx.Rollback(); _ = conn.Close() }) }
	return h
}

// holdTableLock runs LOCK TABLES on a connection of its own until released.
func holdTableLock(t *testing.T, e *erp, stmt string) *heldLock {
	t.Helper()
	ctx := context.Background()
	conn, err := e.root.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.ExecContext(ctx, stmt); err != nil {
		t.Fatalf("%s: %v", stmt, err)
	}
	h := &heldLock{}
	h.release = func() {
		h.once.Do(func() {
			_, _ = conn.ExecContext(ctx, "UNLOCK TABLES")
			_ = conn.Close()
		})
	}
	return h
}
