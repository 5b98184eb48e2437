package controllers

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	batchv1 "k8s.io/api/batch/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	syncv1alpha1 "github.com/sisporta/sisporta/api/v1alpha1"
	"github.com/sisporta/sisporta/runner/queue"
	"github.com/sisporta/sisporta/runner/runstate"
)

// TestDeletingThePipelinePurgesItsQueue: tasks (pending, dead and one left
// active by a killed worker) and the run summary leave Redis with the
// pipeline, and the schedule and a running extraction stop first.
func TestDeletingThePipelinePurgesItsQueue(t *testing.T) {
	ns := newNamespace(t)
	createDSNSecrets(t, ns)
	rdb, inspector := testRedis(t)
	cleanupQueue(t, rdb, ns, "erp")
	q := queue.Name(ns, "erp")
	p := createPipeline(t, newPipeline(ns, "erp"))
	eventually(t, "finalizer added", func() error {
		if !controllerutil.ContainsFinalizer(getPipeline(t, ns, "erp"), syncv1alpha1.FinalizerPurgeQueue) {
			return errorf("no finalizer yet")
		}
		return nil
	})

	enqueue(t, rdb, ns, "erp", 20)
	if err := inspector.ArchiveTask(q, firstPendingID(t, inspector, q)); err != nil {
		t.Fatal(err)
	}
	// A task a killed worker left active: asynq refuses to delete its queue.
	if err := rdb.LMove(context.Background(), "asynq:{"+q+"}:pending", "asynq:{"+q+"}:active", "RIGHT", "LEFT").Err(); err != nil {
		t.Fatal(err)
	}
	run := startRun(t, rdb, ns, "erp", time.Now())
	run.extracted("products", 10)
	job := startExtractionJob(t, ns, "erp", "erp-extract-29200000")

	if err := k8s().Delete(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	eventually(t, "pipeline gone", func() error {
		err := k8s().Get(context.Background(), keyOf(ns, "erp"), &syncv1alpha1.SyncPipeline{})
		if isNotFound(err) {
			return nil
		}
		return errorf("still there (%v)", err)
	})
	queues, err := inspector.Queues()
	if err != nil {
		t.Fatal(err)
	}
	if slices.Contains(queues, q) {
		t.Errorf("queue %s still listed by asynq", q)
	}
	if keys, err := rdb.Keys(context.Background(), "asynq:{"+q+"}:*").Result(); err != nil || len(keys) > 0 {
		t.Errorf("asynq keys left: %v (%v)", keys, err)
	}
	if runs, err := runstate.NewStore(rdb).Recent(context.Background(), q, 10); err != nil || len(runs) > 0 {
		t.Errorf("run summary left: %d runs (%v)", len(runs), err)
	}
	if keys, err := rdb.Keys(context.Background(), "sisporta:{"+q+"}:*").Result(); err != nil || len(keys) > 0 {
		t.Errorf("summary keys left: %v (%v)", keys, err)
	}
	waitEvent(t, ns, "erp", syncv1alpha1.EventQueuePurged, q)

	// There is no garbage collector in envtest: what the finalizer did to
	// the owned objects is still visible.
	cj := &batchv1.CronJob{}
	if err := k8s().Get(context.Background(), keyOf(ns, "erp-extract"), cj); err != nil || !ptr.Deref(cj.Spec.Suspend, false) {
		t.Errorf("CronJob not suspended before the purge (%v)", err)
	}
	if err := k8s().Get(context.Background(), keyOf(ns, job.Name), &batchv1.Job{}); !isNotFound(err) {
		t.Errorf("the running extraction Job was not stopped (%v)", err)
	}
}

func firstPendingID(t *testing.T, inspector *asynq.Inspector, q string) string {
	t.Helper()
	tasks, err := inspector.ListPendingTasks(q, asynq.PageSize(1))
	if err != nil || len(tasks) == 0 {
		t.Fatalf("no pending task (%v)", err)
	}
	return tasks[0].ID
}

// asynq's DeleteQueue leaves the queue's statistics behind: the purge
// removes every key of the queue, counters included.
func TestPurgeRemovesTheQueuesStatistics(t *testing.T) {
	ns := newNamespace(t)
	createDSNSecrets(t, ns)
	rdb, _ := testRedis(t)
	cleanupQueue(t, rdb, ns, "erp")
	q := queue.Name(ns, "erp")
	p := createPipeline(t, newPipeline(ns, "erp"))
	eventually(t, "finalizer added", func() error {
		if !controllerutil.ContainsFinalizer(getPipeline(t, ns, "erp"), syncv1alpha1.FinalizerPurgeQueue) {
			return errorf("no finalizer yet")
		}
		return nil
	})
	enqueue(t, rdb, ns, "erp", 3)
	day := time.Now().UTC().Format("2006-01-02")
	for _, k := range []string{"processed", "failed", "processed:" + day, "failed:" + day} {
		if err := rdb.Set(context.Background(), "asynq:{"+q+"}:"+k, 7, 0).Err(); err != nil {
			t.Fatal(err)
		}
	}
	if err := k8s().Delete(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	eventually(t, "pipeline gone", func() error {
		if err := k8s().Get(context.Background(), keyOf(ns, "erp"), &syncv1alpha1.SyncPipeline{}); !isNotFound(err) {
			return errorf("still there (%v)", err)
		}
		return nil
	})
	if keys, err := rdb.Keys(context.Background(), "asynq:{"+q+"}:*").Result(); err != nil || len(keys) > 0 {
		t.Errorf("asynq keys left: %v (%v)", keys, err)
	}
}
