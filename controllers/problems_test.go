package controllers

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/ptr"

	syncv1alpha1 "github.com/sisporta/sisporta/api/v1alpha1"
	"github.com/sisporta/sisporta/runner/queue"
)

func TestSecretDeletedDegradesAndRecreatedRecovers(t *testing.T) {
	ns := newNamespace(t)
	createDSNSecrets(t, ns)
	createPipeline(t, newPipeline(ns, "erp"))
	waitCondition(t, ns, "erp", syncv1alpha1.ConditionReady, "True", "")

	sec := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: targetSecret}}
	if err := k8s().Delete(context.Background(), sec); err != nil {
		t.Fatal(err)
	}
	p := waitCondition(t, ns, "erp", syncv1alpha1.ConditionDegraded, "True", syncv1alpha1.ReasonSecretMissing)
	if err := conditionIs(p, syncv1alpha1.ConditionReady, "False", syncv1alpha1.ReasonSecretMissing); err != nil {
		t.Error(err)
	}
	msg := findCondition(p, syncv1alpha1.ConditionReady).Message
	for _, want := range []string{"spec.target.dsnSecretRef", `"quotes-db"`, "does not exist", "create it"} {
		if !strings.Contains(msg, want) {
			t.Errorf("message %q does not say %q", msg, want)
		}
	}
	waitEvent(t, ns, "erp", syncv1alpha1.ReasonSecretMissing, "quotes-db")

	// Recreated with the wrong key: still missing, and the message lists the keys it has.
	createSecret(t, ns, targetSecret, map[string]string{"url": targetDSN})
	eventually(t, "missing key reported", func() error {
		c := findCondition(getPipeline(t, ns, "erp"), syncv1alpha1.ConditionReady)
		if !strings.Contains(c.Message, `has no key "dsn" (its keys: url)`) {
			return errorf("Ready: %s %s", c.Reason, c.Message)
		}
		return nil
	})

	update(t, sec, func(s *corev1.Secret) { s.Data = map[string][]byte{dsnKey: []byte(targetDSN)} })
	waitCondition(t, ns, "erp", syncv1alpha1.ConditionReady, "True", "")
	waitCondition(t, ns, "erp", syncv1alpha1.ConditionDegraded, "False", syncv1alpha1.ReasonNoProblems)
	waitEvent(t, ns, "erp", syncv1alpha1.EventRecovered, "no known problem")
}

func TestUnreachableRedisDegradesAndRecovers(t *testing.T) {
	t.Parallel() // long and independent: overlaps the other parallel tests
	ns := newNamespace(t)
	createDSNSecrets(t, ns)
	createSecret(t, ns, "redis", map[string]string{"url": badRedisURL})
	createPipeline(t, newPipeline(ns, "erp", func(p *syncv1alpha1.SyncPipeline) {
		p.Spec.Queue.RedisSecretRef = &syncv1alpha1.SecretKeySelector{Name: "redis", Key: "url"}
	}))
	p := waitCondition(t, ns, "erp", syncv1alpha1.ConditionReady, "False", syncv1alpha1.ReasonRedisUnreachable)
	msg := findCondition(p, syncv1alpha1.ConditionReady).Message
	if !strings.Contains(msg, "127.0.0.1:1") || !strings.Contains(msg, `Secret "redis"`) {
		t.Errorf("message %q: want the address and where the URL comes from", msg)
	}
	waitEvent(t, ns, "erp", syncv1alpha1.ReasonRedisUnreachable, "127.0.0.1:1")

	// Retried with a growing delay, not in a loop: over the next several
	// seconds a handful of looks, where a hot loop would make thousands.
	start, since := reconcileCount(ns, "erp"), time.Now()
	eventually(t, "some time passes", func() error {
		if time.Since(since) < 6*time.Second {
			return errorf("waiting")
		}
		return nil
	})
	n := reconcileCount(ns, "erp") - start
	t.Logf("%d reconciles in %s while Redis was unreachable", n, time.Since(since).Round(time.Second))
	if n > 20 {
		t.Errorf("%d reconciles in %s while Redis was unreachable: want a backoff", n, time.Since(since).Round(time.Second))
	}
	// The objects are in place all the same.
	getObject(t, ns, "erp-extract", &batchv1.CronJob{})

	update(t, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "redis"}}, func(s *corev1.Secret) {
		s.Data = map[string][]byte{"url": []byte(redisURL)}
	})
	waitCondition(t, ns, "erp", syncv1alpha1.ConditionReady, "True", "")
}

func TestInvalidScheduleIsReportedAndNothingIsCreated(t *testing.T) {
	ns := newNamespace(t)
	createDSNSecrets(t, ns)
	createPipeline(t, newPipeline(ns, "erp", func(p *syncv1alpha1.SyncPipeline) { p.Spec.Schedule = "61 * * * *" }))
	p := waitCondition(t, ns, "erp", syncv1alpha1.ConditionReady, "False", syncv1alpha1.ReasonInvalidSchedule)
	if msg := findCondition(p, syncv1alpha1.ConditionReady).Message; !strings.Contains(msg, `"61 * * * *" is not a valid cron expression`) {
		t.Errorf("message %q", msg)
	}
	waitEvent(t, ns, "erp", syncv1alpha1.ReasonInvalidSchedule, "61 * * * *")
	if err := k8s().Get(context.Background(), keyOf(ns, "erp-extract"), &batchv1.CronJob{}); !isNotFound(err) {
		t.Errorf("a CronJob exists for an invalid schedule (%v)", err)
	}

	update(t, p, func(p *syncv1alpha1.SyncPipeline) {
		p.Spec.Schedule = "0 3 * * *"
		p.Spec.TimeZone = ptr.To("Mars/Olympus_Mons")
	})
	p = waitCondition(t, ns, "erp", syncv1alpha1.ConditionReady, "False", syncv1alpha1.ReasonInvalidSchedule)
	if msg := findCondition(p, syncv1alpha1.ConditionReady).Message; !strings.Contains(msg, "not a known IANA time zone") {
		t.Errorf("message %q", msg)
	}

	update(t, p, func(p *syncv1alpha1.SyncPipeline) { p.Spec.TimeZone = ptr.To("America/Sao_Paulo") })
	waitCondition(t, ns, "erp", syncv1alpha1.ConditionReady, "True", "")
	getObject(t, ns, "erp-extract", &batchv1.CronJob{})
}

// TestInvalidSpecIsReported covers what the CRD's rules cannot check.
func TestInvalidSpecIsReported(t *testing.T) {
	ns := newNamespace(t)
	createDSNSecrets(t, ns)
	createPipeline(t, newPipeline(ns, "erp", func(p *syncv1alpha1.SyncPipeline) {
		p.Spec.Entities[0].Columns = []syncv1alpha1.ColumnMapping{{Source: "CodProduto", Target: "id"}, {Source: "Codigo", Target: "id"}}
	}))
	p := waitCondition(t, ns, "erp", syncv1alpha1.ConditionReady, "False", syncv1alpha1.ReasonInvalidSpec)
	if msg := findCondition(p, syncv1alpha1.ConditionReady).Message; !strings.Contains(msg, `target column "id" appears twice`) {
		t.Errorf("message %q", msg)
	}

	long := strings.Repeat("a", maxPipelineNameLength+1)
	createPipeline(t, newPipeline(ns, long))
	p = waitCondition(t, ns, long, syncv1alpha1.ConditionReady, "False", syncv1alpha1.ReasonInvalidSpec)
	if msg := findCondition(p, syncv1alpha1.ConditionReady).Message; !strings.Contains(msg, "at most 44") {
		t.Errorf("message %q", msg)
	}
}

// TestWithoutAnyRedisTheStepSaysWhatToSet runs the secrets step of a
// reconciler that has no default Redis.
func TestWithoutAnyRedisTheStepSaysWhatToSet(t *testing.T) {
	ns := newNamespace(t)
	createDSNSecrets(t, ns)
	p := createPipeline(t, newPipeline(ns, "erp"))
	r := &Reconciler{Client: k8s(), APIReader: k8s(), Recorder: events.NewFakeRecorder(10), Options: Options{RunnerImage: testRunnerImage},
		secrets: newSecretReader(k8s(), k8s()), redis: newRedisPool()}
	st := newPipelineState(getPipeline(t, ns, p.Name), time.Now())
	var pr *problem
	if err := r.reconcileSecrets(context.Background(), st); !errors.As(err, &pr) || pr.reason != syncv1alpha1.ReasonRedisNotConfigured {
		t.Fatalf("got %v, want %s", err, syncv1alpha1.ReasonRedisNotConfigured)
	}
	if !strings.Contains(pr.message, "--default-redis-url") || !strings.Contains(pr.message, "spec.queue.redisSecretRef") {
		t.Errorf("message %q does not say what to set", pr.message)
	}
}

func TestFailedExtractionAndDeadTasksAreReported(t *testing.T) {
	ns := newNamespace(t)
	createDSNSecrets(t, ns)
	rdb, inspector := testRedis(t)
	cleanupQueue(t, rdb, ns, "erp")
	createPipeline(t, newPipeline(ns, "erp"))
	waitCondition(t, ns, "erp", syncv1alpha1.ConditionReady, "True", "")

	job := startExtractionJob(t, ns, "erp", "erp-extract-29100000")
	finishJobAt(t, job, true, time.Now().Add(-time.Minute))
	p := waitCondition(t, ns, "erp", syncv1alpha1.ConditionReady, "False", syncv1alpha1.ReasonExtractionFailed)
	if msg := findCondition(p, syncv1alpha1.ConditionReady).Message; !strings.Contains(msg, "kubectl logs job/erp-extract-29100000") {
		t.Errorf("message %q: want where to look", msg)
	}
	next := startExtractionJob(t, ns, "erp", "erp-extract-29100015")
	finishJob(t, next, false)
	waitCondition(t, ns, "erp", syncv1alpha1.ConditionReady, "True", "")

	enqueue(t, rdb, ns, "erp", 2)
	if _, err := inspector.ArchiveAllPendingTasks(queue.Name(ns, "erp")); err != nil {
		t.Fatal(err)
	}
	poke(t, ns, "erp")
	p = waitCondition(t, ns, "erp", syncv1alpha1.ConditionDegraded, "True", syncv1alpha1.ReasonDeadTasks)
	if p.Status.Queue.Dead != 2 {
		t.Errorf("queue %+v, want 2 dead", p.Status.Queue)
	}
	if err := conditionIs(p, syncv1alpha1.ConditionReady, "True", ""); err != nil {
		t.Errorf("dead tasks flipped Ready: %v", err)
	}
	if _, err := inspector.DeleteAllArchivedTasks(queue.Name(ns, "erp")); err != nil {
		t.Fatal(err)
	}
	poke(t, ns, "erp")
	waitCondition(t, ns, "erp", syncv1alpha1.ConditionDegraded, "False", syncv1alpha1.ReasonNoProblems)
}
