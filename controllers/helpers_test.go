package controllers

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"

	syncv1alpha1 "github.com/sisporta/sisporta/api/v1alpha1"
	"github.com/sisporta/sisporta/runner/queue"
	"github.com/sisporta/sisporta/runner/runstate"
)

// Secret values the tests use. Their passwords are distinctive so that a
// leak anywhere is found by a plain substring search.
const (
	sourceDSN         = "sqlserver://sisporta_ro:Src-Pa55-zq81@erp-sql.example.internal:1433?database=ERP"
	sourcePassword    = "Src-Pa55-zq81"
	targetDSN         = "sisporta:Tgt-Pa55-kx42@tcp(quotes-mysql.example.internal:3306)/quotes"
	targetPassword    = "Tgt-Pa55-kx42"
	badRedisURL       = "redis://:Redis-Pa55-qq17@127.0.0.1:1/0"
	badRedisPassword  = "Redis-Pa55-qq17"
	sourceSecret      = "erp-readonly"
	targetSecret      = "quotes-db"
	dsnKey            = "dsn"
	eventuallyTimeout = 60 * time.Second
)

var secretValues = []string{sourceDSN, sourcePassword, targetDSN, targetPassword, badRedisURL, badRedisPassword}

func k8s() client.Client { return env.Client }

// newNamespace makes a namespace of the test's own, so that its queue name
// collides with no other test's.
func newNamespace(t *testing.T) string {
	t.Helper()
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	ns := "sp-" + hex.EncodeToString(b)
	if err := k8s().Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		t.Fatal(err)
	}
	return ns
}

func createSecret(t *testing.T, ns, name string, data map[string]string) {
	t.Helper()
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}, StringData: data}
	if err := k8s().Create(context.Background(), s); err != nil {
		t.Fatal(err)
	}
}

func createDSNSecrets(t *testing.T, ns string) {
	createSecret(t, ns, sourceSecret, map[string]string{dsnKey: sourceDSN})
	createSecret(t, ns, targetSecret, map[string]string{dsnKey: targetDSN})
}

// newPipeline is the README's example pipeline, changed by mutate.
func newPipeline(ns, name string, mutate ...func(*syncv1alpha1.SyncPipeline)) *syncv1alpha1.SyncPipeline {
	p := &syncv1alpha1.SyncPipeline{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: syncv1alpha1.SyncPipelineSpec{
			Schedule: "*/15 * * * *",
			TimeZone: ptr.To("Europe/Lisbon"),
			Source:   syncv1alpha1.SourceSpec{Driver: syncv1alpha1.SourceSQLServer, DSNSecretRef: syncv1alpha1.SecretKeySelector{Name: sourceSecret, Key: dsnKey}},
			Target:   syncv1alpha1.TargetSpec{Driver: syncv1alpha1.TargetMySQL, DSNSecretRef: syncv1alpha1.SecretKeySelector{Name: targetSecret, Key: dsnKey}},
			Workers:  syncv1alpha1.WorkersSpec{MinReplicas: 0, MaxReplicas: 4, TargetPendingPerReplica: 50, ScaleDownStabilizationSeconds: 300, Concurrency: 4},
			Entities: []syncv1alpha1.EntitySpec{
				{
					Name:    "products",
					Source:  syncv1alpha1.EntitySource{Table: "dbo.Produtos", KeyColumns: []syncv1alpha1.Identifier{"CodProduto"}, Where: "Ativo = 1"},
					Target:  syncv1alpha1.EntityTarget{Table: "products"},
					Columns: []syncv1alpha1.ColumnMapping{{Source: "CodProduto", Target: "id"}, {Source: "Descricao", Target: "name"}},
					Cleanup: syncv1alpha1.CleanupSpec{Mode: syncv1alpha1.CleanupDelete, MaxDeletePercent: ptr.To(int32(20))},
				},
				{
					Name:   "dealers",
					Source: syncv1alpha1.EntitySource{Table: "dbo.Revendedores"},
					Target: syncv1alpha1.EntityTarget{Table: "dealers"},
				},
			},
		},
	}
	for _, m := range mutate {
		m(p)
	}
	return p
}

func createPipeline(t *testing.T, p *syncv1alpha1.SyncPipeline) *syncv1alpha1.SyncPipeline {
	t.Helper()
	if err := k8s().Create(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	return p
}

// eventually polls check until it passes; only the deadline is generous,
// nothing is asserted about how long anything takes.
func eventually(t *testing.T, what string, check func() error) {
	t.Helper()
	deadline := time.Now().Add(eventuallyTimeout)
	var err error
	for time.Now().Before(deadline) {
		if err = check(); err == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s: still not true after %s: %v", what, eventuallyTimeout, err)
}

func getPipeline(t *testing.T, ns, name string) *syncv1alpha1.SyncPipeline {
	t.Helper()
	p := &syncv1alpha1.SyncPipeline{}
	if err := k8s().Get(context.Background(), types.NamespacedName{Namespace: ns, Name: name}, p); err != nil {
		t.Fatal(err)
	}
	return p
}

// update reads obj afresh, applies change and writes it, retrying conflicts
// with the operator's own writes.
func update[T client.Object](t *testing.T, obj T, change func(T)) {
	t.Helper()
	eventually(t, "update "+obj.GetName(), func() error {
		if err := k8s().Get(context.Background(), client.ObjectKeyFromObject(obj), obj); err != nil {
			return err
		}
		change(obj)
		return k8s().Update(context.Background(), obj)
	})
}

func updateStatus[T client.Object](t *testing.T, obj T, change func(T)) {
	t.Helper()
	eventually(t, "update status of "+obj.GetName(), func() error {
		if err := k8s().Get(context.Background(), client.ObjectKeyFromObject(obj), obj); err != nil {
			return err
		}
		change(obj)
		return k8s().Status().Update(context.Background(), obj)
	})
}

// poke makes the operator look at a pipeline now (annotations are watched).
func poke(t *testing.T, ns, name string) {
	update(t, &syncv1alpha1.SyncPipeline{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}, func(p *syncv1alpha1.SyncPipeline) {
		if p.Annotations == nil {
			p.Annotations = map[string]string{}
		}
		p.Annotations["test.sisporta.io/poke"] = time.Now().Format(time.RFC3339Nano)
	})
}

func conditionIs(p *syncv1alpha1.SyncPipeline, typ string, status metav1.ConditionStatus, reason string) error {
	c := meta.FindStatusCondition(p.Status.Conditions, typ)
	if c == nil {
		return fmt.Errorf("no %s condition yet (conditions %v)", typ, p.Status.Conditions)
	}
	if c.Status != status || (reason != "" && c.Reason != reason) {
		return fmt.Errorf("%s is %s/%s (%s), want %s/%s", typ, c.Status, c.Reason, c.Message, status, reason)
	}
	if c.ObservedGeneration != p.Generation {
		return fmt.Errorf("%s describes generation %d, the pipeline is at %d", typ, c.ObservedGeneration, p.Generation)
	}
	return nil
}

// waitCondition waits for a condition and returns the pipeline as it was then.
func waitCondition(t *testing.T, ns, name, typ string, status metav1.ConditionStatus, reason string) *syncv1alpha1.SyncPipeline {
	t.Helper()
	var p *syncv1alpha1.SyncPipeline
	eventually(t, fmt.Sprintf("%s %s=%s/%s", name, typ, status, reason), func() error {
		p = getPipeline(t, ns, name)
		return conditionIs(p, typ, status, reason)
	})
	return p
}

func getObject[T client.Object](t *testing.T, ns, name string, obj T) T {
	t.Helper()
	eventually(t, fmt.Sprintf("%T %s exists", obj, name), func() error {
		return k8s().Get(context.Background(), types.NamespacedName{Namespace: ns, Name: name}, obj)
	})
	return obj
}

// markRolledOut plays the Deployment controller (absent in envtest): the
// Deployment's current generation is rolled out with ready replicas.
func markRolledOut(t *testing.T, ns, name string, ready int32) {
	t.Helper()
	updateStatus(t, &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}, func(d *appsv1.Deployment) {
		n := ptr.Deref(d.Spec.Replicas, 1)
		d.Status = appsv1.DeploymentStatus{ObservedGeneration: d.Generation, Replicas: n, UpdatedReplicas: n, ReadyReplicas: ready, AvailableReplicas: ready}
	})
}

// events returns the notes of the pipeline's events by reason.
func pipelineEvents(t *testing.T, ns, name string) map[string][]string {
	t.Helper()
	var list eventsv1.EventList
	if err := k8s().List(context.Background(), &list, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	out := map[string][]string{}
	for _, e := range list.Items {
		if e.Regarding.Name == name && e.Regarding.Kind == "SyncPipeline" {
			out[e.Reason] = append(out[e.Reason], e.Note)
		}
	}
	return out
}

// onlyOneWarning checks, for a moment, that exactly one Warning event on
// the pipeline mentions what: one thing going wrong is told once.
func onlyOneWarning(t *testing.T, ns, name, what string) {
	t.Helper()
	for end := time.Now().Add(2 * time.Second); time.Now().Before(end); time.Sleep(200 * time.Millisecond) {
		var list eventsv1.EventList
		if err := k8s().List(context.Background(), &list, client.InNamespace(ns)); err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, e := range list.Items {
			if e.Regarding.Name == name && e.Regarding.Kind == "SyncPipeline" && e.Type == corev1.EventTypeWarning && strings.Contains(e.Note, what) {
				got = append(got, e.Reason+": "+e.Note)
			}
		}
		if len(got) != 1 {
			t.Fatalf("%d Warning events mention %q, want one: %q", len(got), what, got)
		}
	}
}

func waitEvent(t *testing.T, ns, name, reason, contains string) string {
	t.Helper()
	var note string
	eventually(t, fmt.Sprintf("event %s on %s", reason, name), func() error {
		for _, n := range pipelineEvents(t, ns, name)[reason] {
			if strings.Contains(n, contains) {
				note = n
				return nil
			}
		}
		return fmt.Errorf("no %s event containing %q yet (events: %v)", reason, contains, pipelineEvents(t, ns, name))
	})
	return note
}

// testRedis connects to the real Redis the operator uses.
func testRedis(t *testing.T) (redis.UniversalClient, *asynq.Inspector) {
	t.Helper()
	rdb, _, err := queue.Connect(context.Background(), redisURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rdb.Close() })
	return rdb, asynq.NewInspectorFromRedisClient(rdb)
}

// enqueue puts n real tasks on the pipeline's queue.
func enqueue(t *testing.T, rdb redis.UniversalClient, ns, name string, n int) {
	t.Helper()
	c := asynq.NewClientFromRedisClient(rdb)
	for i := 0; i < n; i++ {
		if _, err := c.Enqueue(asynq.NewTask("test:batch", []byte(fmt.Sprintf(`{"n":%d}`, i))), asynq.Queue(queue.Name(ns, name)), asynq.MaxRetry(0)); err != nil {
			t.Fatal(err)
		}
	}
}

func cleanupQueue(t *testing.T, rdb redis.UniversalClient, ns, name string) {
	t.Cleanup(func() {
		q := queue.Name(ns, name)
		_ = asynq.NewInspectorFromRedisClient(rdb).DeleteQueue(q, true)
		_ = runstate.NewStore(rdb).Purge(context.Background(), q)
	})
}

// extractionJob is a Job as the CronJob would create it, running.
func startExtractionJob(t *testing.T, ns, pipeline, name string) *batchv1.Job {
	t.Helper()
	labels := map[string]string{syncv1alpha1.LabelPipeline: pipeline, syncv1alpha1.LabelComponent: syncv1alpha1.ComponentExtractor, syncv1alpha1.LabelManagedBy: syncv1alpha1.ManagedByOperator, syncv1alpha1.LabelTrigger: syncv1alpha1.TriggerSchedule}
	j := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: labels},
		Spec: batchv1.JobSpec{Template: corev1.PodTemplateSpec{
			ObjectMeta: metav1.ObjectMeta{Labels: labels},
			Spec:       corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever, Containers: []corev1.Container{{Name: "extract", Image: testRunnerImage}}},
		}},
	}
	if err := k8s().Create(context.Background(), j); err != nil {
		t.Fatal(err)
	}
	now := metav1.Now()
	updateStatus(t, j, func(j *batchv1.Job) { j.Status.Active, j.Status.StartTime = 1, &now })
	return j
}

// finishJob plays the Job controller: the Job succeeded or failed.
func finishJob(t *testing.T, j *batchv1.Job, failed bool) {
	t.Helper()
	finishJobAt(t, j, failed, time.Now())
}

func finishJobAt(t *testing.T, j *batchv1.Job, failed bool, at time.Time) {
	t.Helper()
	updateStatus(t, j, func(j *batchv1.Job) {
		now := metav1.NewTime(at)
		if j.Status.StartTime == nil {
			j.Status.StartTime = &now
		}
		j.Status.Active = 0
		if failed {
			j.Status.Failed = 1
			j.Status.Conditions = []batchv1.JobCondition{
				{Type: batchv1.JobFailureTarget, Status: corev1.ConditionTrue, Reason: "BackoffLimitExceeded", LastTransitionTime: now},
				{Type: batchv1.JobFailed, Status: corev1.ConditionTrue, Reason: "BackoffLimitExceeded", Message: "Job has reached the specified backoff limit", LastTransitionTime: now},
			}
			return
		}
		j.Status.Succeeded, j.Status.CompletionTime = 1, &now
		j.Status.Conditions = []batchv1.JobCondition{
			{Type: batchv1.JobSuccessCriteriaMet, Status: corev1.ConditionTrue, LastTransitionTime: now},
			{Type: batchv1.JobComplete, Status: corev1.ConditionTrue, LastTransitionTime: now},
		}
	})
}

func isNotFound(err error) bool { return apierrors.IsNotFound(err) }

// waitReconciles makes the operator reconcile a pipeline n more times, and
// waits for each: it wakes the pipeline as the queue poller would, which
// changes nothing anywhere (the suite has no periodic look to wait for).
func waitReconciles(t *testing.T, ns, name string, n int) {
	t.Helper()
	for i := range n {
		start := reconcileCount(ns, name)
		suiteReconciler.queues.events <- event.GenericEvent{Object: &syncv1alpha1.SyncPipeline{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}}
		eventually(t, fmt.Sprintf("reconcile %d of %d of %s", i+1, n, name), func() error {
			if reconcileCount(ns, name) == start {
				return fmt.Errorf("not yet")
			}
			return nil
		})
	}
}
