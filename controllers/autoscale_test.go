package controllers

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
	appsv1 "k8s.io/api/apps/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/utils/ptr"

	syncv1alpha1 "github.com/sisporta/sisporta/api/v1alpha1"
	"github.com/sisporta/sisporta/runner/queue"
)

// TestWorkersScaleWithQueueDepth enqueues real asynq tasks on the
// pipeline's queue and watches the workers follow: up at once, a
// PodDisruptionBudget above one worker, down to zero only after the
// stabilisation window.
func TestWorkersScaleWithQueueDepth(t *testing.T) {
	t.Parallel() // long and independent: overlaps the other parallel tests
	ns := newNamespace(t)
	createDSNSecrets(t, ns)
	rdb, inspector := testRedis(t)
	cleanupQueue(t, rdb, ns, "erp")
	createPipeline(t, newPipeline(ns, "erp", func(p *syncv1alpha1.SyncPipeline) {
		p.Spec.Workers = syncv1alpha1.WorkersSpec{MinReplicas: 0, MaxReplicas: 4, TargetPendingPerReplica: 50, ScaleDownStabilizationSeconds: 3, Concurrency: 4}
	}))
	getObject(t, ns, "erp-worker", &appsv1.Deployment{})

	enqueue(t, rdb, ns, "erp", 120)
	waitReplicas(t, ns, 3) // ceil(120 / 50)
	eventually(t, "status shows the queue and the workers", func() error {
		p := getPipeline(t, ns, "erp")
		if q := p.Status.Queue; q == nil || q.Pending != 120 {
			return errorf("queue %+v, want 120 pending", q)
		}
		if w := p.Status.Workers; w == nil || w.Desired != 3 {
			return errorf("workers %+v, want 3 desired", w)
		}
		return conditionIs(p, syncv1alpha1.ConditionProgressing, "True", syncv1alpha1.ReasonRunInProgress)
	})
	id := queue.PipelineID(ns, "erp")
	if got := testutil.ToFloat64(queueTasks.WithLabelValues(id, "pending")); got != 120 {
		t.Errorf("sisporta_pipeline_queue_tasks{state=pending} %v, want 120", got)
	}
	getObject(t, ns, "erp-worker", &policyv1.PodDisruptionBudget{})
	// The operator may look while the 120 tasks are still being enqueued
	// and scale in two steps (0 to 2, then 2 to 3): only the last is certain.
	waitEvent(t, ns, "erp", syncv1alpha1.EventScaled, " to 3:")

	enqueue(t, rdb, ns, "erp", 200)
	waitReplicas(t, ns, 4) // capped at maxReplicas

	if _, err := inspector.DeleteAllPendingTasks(queue.Name(ns, "erp")); err != nil {
		t.Fatal(err)
	}
	// While the window runs, the status shows when the queue shrank and the
	// workers stay: both are written together, so this holds for every
	// status the operator writes.
	eventually(t, "scaled to zero after the window", func() error {
		p := getPipeline(t, ns, "erp")
		if p.Status.ScaleDownSince != nil && p.Status.Workers.Desired != 4 {
			t.Fatalf("workers went to %d while the scale-down window ran (since %s)", p.Status.Workers.Desired, p.Status.ScaleDownSince)
		}
		if p.Status.Workers.Desired != 0 || p.Status.ScaleDownSince != nil {
			return errorf("workers %+v, scaleDownSince %v", p.Status.Workers, p.Status.ScaleDownSince)
		}
		return nil
	})
	waitReplicas(t, ns, 0)
	eventually(t, "no PodDisruptionBudget at zero workers", func() error {
		err := k8s().Get(t.Context(), keyOf(ns, "erp-worker"), &policyv1.PodDisruptionBudget{})
		if isNotFound(err) {
			return nil
		}
		return errorf("still there (%v)", err)
	})
	waitEvent(t, ns, "erp", syncv1alpha1.EventScaled, "from 4 to 0")
}

// TestOneWorkerIsPrewarmedWhileExtracting: batches are about to arrive.
func TestOneWorkerIsPrewarmedWhileExtracting(t *testing.T) {
	ns := newNamespace(t)
	createDSNSecrets(t, ns)
	rdb, _ := testRedis(t)
	cleanupQueue(t, rdb, ns, "erp")
	createPipeline(t, newPipeline(ns, "erp", func(p *syncv1alpha1.SyncPipeline) {
		p.Spec.Workers.ScaleDownStabilizationSeconds = 1
	}))
	getObject(t, ns, "erp-worker", &appsv1.Deployment{})

	job := startExtractionJob(t, ns, "erp", "erp-extract-29000000")
	waitReplicas(t, ns, 1)
	waitCondition(t, ns, "erp", syncv1alpha1.ConditionProgressing, "True", syncv1alpha1.ReasonRunInProgress)

	finishJob(t, job, false)
	waitReplicas(t, ns, 0)
}

func waitReplicas(t *testing.T, ns string, want int32) {
	t.Helper()
	eventually(t, "worker replicas", func() error {
		d := &appsv1.Deployment{}
		if err := k8s().Get(t.Context(), keyOf(ns, "erp-worker"), d); err != nil {
			return err
		}
		if got := ptr.Deref(d.Spec.Replicas, -1); got != want {
			return errorf("replicas %d, want %d", got, want)
		}
		return nil
	})
}
