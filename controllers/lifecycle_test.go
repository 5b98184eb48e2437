package controllers

import (
	"context"
	"strings"
	"testing"

	batchv1 "k8s.io/api/batch/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	syncv1alpha1 "github.com/sisporta/sisporta/api/v1alpha1"
	"github.com/sisporta/sisporta/runner/queue"
)

func TestSuspendStopsTheScheduleAndDrainsToMin(t *testing.T) {
	ns := newNamespace(t)
	createDSNSecrets(t, ns)
	rdb, inspector := testRedis(t)
	cleanupQueue(t, rdb, ns, "erp")
	p := createPipeline(t, newPipeline(ns, "erp", func(p *syncv1alpha1.SyncPipeline) {
		p.Spec.Workers.MinReplicas = 1
		p.Spec.Workers.ScaleDownStabilizationSeconds = 1
	}))
	waitCronJobSuspended(t, ns, false)
	enqueue(t, rdb, ns, "erp", 75)
	waitReplicas(t, ns, 2)

	update(t, p, func(p *syncv1alpha1.SyncPipeline) { p.Spec.Suspend = true })
	waitCronJobSuspended(t, ns, true)
	p = waitCondition(t, ns, "erp", syncv1alpha1.ConditionReady, "True", syncv1alpha1.ReasonSuspended)
	if p.Status.NextScheduleTime != nil {
		t.Errorf("nextScheduleTime %s while suspended", p.Status.NextScheduleTime)
	}
	// Suspended workers still finish the queue, then drain to minReplicas.
	waitReplicas(t, ns, 2)
	if _, err := inspector.DeleteAllPendingTasks(queue.Name(ns, "erp")); err != nil {
		t.Fatal(err)
	}
	waitReplicas(t, ns, 1)

	update(t, p, func(p *syncv1alpha1.SyncPipeline) { p.Spec.Suspend = false })
	waitCronJobSuspended(t, ns, false)
	p = waitCondition(t, ns, "erp", syncv1alpha1.ConditionReady, "True", syncv1alpha1.ReasonAwaitingFirstRun)
	if p.Status.NextScheduleTime == nil {
		t.Error("no nextScheduleTime after resuming")
	}
}

// TestRunNowStartsOneJobPerValue: each new value of the annotation starts
// one Job; the same value never starts another, and runs never overlap.
func TestRunNowStartsOneJobPerValue(t *testing.T) {
	ns := newNamespace(t)
	createDSNSecrets(t, ns)
	rdb, _ := testRedis(t)
	cleanupQueue(t, rdb, ns, "erp")
	p := createPipeline(t, newPipeline(ns, "erp"))
	waitCronJobSuspended(t, ns, false)

	setRunNow(t, p, "first")
	first := waitRunNowJob(t, p, "first")
	assertOwnedBy(t, first, p)
	c := first.Spec.Template.Spec.Containers[0]
	assertEnv(t, c, map[string]string{
		envSourceDSN: "secret " + sourceSecret + "/" + dsnKey,
		envTargetDSN: "secret " + targetSecret + "/" + dsnKey,
		envRedisURL:  "secret " + DefaultRedisSecret + "/url",
		envTrigger:   "run-now",
	})
	if first.Spec.TTLSecondsAfterFinished == nil {
		t.Error("run-now Job without ttlSecondsAfterFinished: nothing would clean it up")
	}
	waitHandledRunNow(t, ns, "first")
	if note := waitEvent(t, ns, "erp", syncv1alpha1.EventRunNowStarted, "first"); strings.Contains(note, "suspended") {
		t.Errorf("event %q speaks of suspension; the pipeline is not suspended", note)
	}
	// While it runs the schedule pauses (Forbid does not see a Job the
	// CronJob did not start) and a worker is pre-warmed.
	waitCronJobSuspended(t, ns, true)
	waitReplicas(t, ns, 1)

	// A second value while the first run is in flight waits for it.
	setRunNow(t, p, "second")
	waitReconciles(t, ns, "erp", 3)
	if j := runNowJobs(t, ns)["second"]; j != nil {
		t.Fatalf("Job %s started while the first run-now Job was running", j.Name)
	}
	if got := getPipeline(t, ns, "erp").Status.LastHandledRunNow; got != "first" {
		t.Fatalf("lastHandledRunNow %q before the second run started", got)
	}
	waitCondition(t, ns, "erp", syncv1alpha1.ConditionProgressing, "True", syncv1alpha1.ReasonRunInProgress)

	finishJob(t, first, false)
	second := waitRunNowJob(t, p, "second")
	finishJob(t, second, false)
	waitCronJobSuspended(t, ns, false)

	// The finished Jobs are gone (as after their TTL); values already
	// handled start nothing again, a new one does.
	for _, j := range []*batchv1.Job{first, second} {
		if err := k8s().Delete(context.Background(), j, client.PropagationPolicy("Background")); err != nil {
			t.Fatal(err)
		}
	}
	poke(t, ns, "erp")
	waitReconciles(t, ns, "erp", 3)
	setRunNow(t, p, "third")
	waitRunNowJob(t, p, "third")
	jobs := runNowJobs(t, ns)
	if len(jobs) != 1 {
		t.Errorf("run-now Jobs %v, want only the third: handled values must not run again", keys(jobs))
	}
	waitHandledRunNow(t, ns, "third")
}

// TestRunNowOnASuspendedPipelineIsSaid: allowed (a deliberate, one-off
// run), and an event says the pipeline is suspended and the run started
// anyway.
func TestRunNowOnASuspendedPipelineIsSaid(t *testing.T) {
	ns := newNamespace(t)
	createDSNSecrets(t, ns)
	rdb, _ := testRedis(t)
	cleanupQueue(t, rdb, ns, "erp")
	p := createPipeline(t, newPipeline(ns, "erp", func(p *syncv1alpha1.SyncPipeline) { p.Spec.Suspend = true }))
	waitCronJobSuspended(t, ns, true)
	waitCondition(t, ns, "erp", syncv1alpha1.ConditionReady, "True", syncv1alpha1.ReasonSuspended)

	setRunNow(t, p, "once")
	job := waitRunNowJob(t, p, "once")
	note := waitEvent(t, ns, "erp", syncv1alpha1.EventRunNowStarted, job.Name)
	for _, want := range []string{"suspended", "this one run was started anyway", "spec.suspend"} {
		if !strings.Contains(note, want) {
			t.Errorf("event %q does not say %q", note, want)
		}
	}
	finishJob(t, job, false)
	waitCronJobSuspended(t, ns, true)
}

// waitHandledRunNow: the Job is created before the status is written, so
// the status may trail it briefly.
func waitHandledRunNow(t *testing.T, ns, value string) {
	t.Helper()
	eventually(t, "status records the handled value "+value, func() error {
		if got := getPipeline(t, ns, "erp").Status.LastHandledRunNow; got != value {
			return errorf("lastHandledRunNow %q", got)
		}
		return nil
	})
}

func setRunNow(t *testing.T, p *syncv1alpha1.SyncPipeline, value string) {
	update(t, p, func(p *syncv1alpha1.SyncPipeline) {
		if p.Annotations == nil {
			p.Annotations = map[string]string{}
		}
		p.Annotations[syncv1alpha1.AnnotationRunNow] = value
	})
}

func waitRunNowJob(t *testing.T, p *syncv1alpha1.SyncPipeline, value string) *batchv1.Job {
	t.Helper()
	var job *batchv1.Job
	eventually(t, "run-now Job for "+value, func() error {
		jobs := runNowJobs(t, p.Namespace)
		if job = jobs[value]; job == nil {
			return errorf("none yet (have %v)", keys(jobs))
		}
		return nil
	})
	return job
}

// runNowJobs maps run-now annotation values to their Jobs.
func runNowJobs(t *testing.T, ns string) map[string]*batchv1.Job {
	t.Helper()
	var list batchv1.JobList
	if err := k8s().List(context.Background(), &list, client.InNamespace(ns), client.MatchingLabels{syncv1alpha1.LabelTrigger: syncv1alpha1.TriggerRunNow}); err != nil {
		t.Fatal(err)
	}
	out := map[string]*batchv1.Job{}
	for i := range list.Items {
		j := &list.Items[i]
		if out[j.Annotations[syncv1alpha1.AnnotationRunNow]] != nil {
			t.Fatalf("two Jobs for run-now value %q", j.Annotations[syncv1alpha1.AnnotationRunNow])
		}
		out[j.Annotations[syncv1alpha1.AnnotationRunNow]] = j
	}
	return out
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func waitCronJobSuspended(t *testing.T, ns string, want bool) {
	t.Helper()
	eventually(t, "CronJob suspend", func() error {
		cj := &batchv1.CronJob{}
		if err := k8s().Get(context.Background(), keyOf(ns, "erp-extract"), cj); err != nil {
			return err
		}
		if got := ptr.Deref(cj.Spec.Suspend, false); got != want {
			return errorf("suspend %t, want %t", got, want)
		}
		return nil
	})
}
