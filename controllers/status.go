package controllers

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	syncv1alpha1 "github.com/sisporta/sisporta/api/v1alpha1"
	"github.com/sisporta/sisporta/runner/queue"
	"github.com/sisporta/sisporta/runner/redact"
)

// reconcileStatus reports what this reconcile learnt: schedule, workers,
// queue, runs and the conditions, and writes the status only when it
// changed. An error talking to the API server is retried without touching
// the conditions: it says nothing about the pipeline.
func (r *Reconciler) reconcileStatus(ctx context.Context, st *pipelineState, stepErr error) (ctrl.Result, error) {
	var pr *problem
	if stepErr != nil && !errors.As(stepErr, &pr) {
		return r.result(ctx, st, stepErr)
	}
	s := &st.status
	s.ObservedGeneration = st.p.Generation
	observeSchedule(st)
	observeWorkers(st)
	observeQueueProblems(st)
	var runs *runView
	if st.redis != nil {
		v, err := observeRuns(ctx, st.redis, queue.Name(st.p.Namespace, st.p.Name))
		if err != nil {
			// Redis answered the queue read just before: the summary itself
			// is the trouble. Run results keep their last known values.
			st.warn(syncv1alpha1.ReasonRunSummaryUnreadable, fmt.Sprintf("cannot read the run summary in Redis at %s: %v; run results shown are the last known ones", st.redis.addr, redact.Err(err, st.redisURL)), false)
		} else {
			runs = v
			applyRuns(s, st.p.Spec.Entities, v)
		}
	}
	observeExtraction(st, runs)
	observeRunProblems(st, runs)
	for _, pr := range st.problems {
		pr.message = redact.String(pr.message, st.secretValues...)
	}
	setConditions(st)
	scrubStatus(s, st.secretValues)
	r.emitEvents(st, runs)

	recordMetrics(st.p, s)
	if statusChanged(&st.p.Status, s) {
		before := st.p.DeepCopy()
		patch := client.MergeFrom(before)
		st.p.Status = *s
		if err := r.Status().Patch(ctx, st.p, patch); err != nil {
			return r.result(ctx, st, fmt.Errorf("writing status: %w", err))
		}
		r.statuses.wrote(before, st.p)
	}
	return r.result(ctx, st, stepErr)
}

// statusMemo remembers the last status the operator wrote for each
// pipeline and the one it replaced. A reconcile that comes right after a
// write (its own writes to owned objects wake it) may read the pipeline
// from a cache that has not seen the write yet: holding the replaced status
// still, it would write the same status again and repeat its events. Such
// a stale status is swapped for the one written. A status anyone else
// wrote since is left alone.
type statusMemo struct {
	mu sync.Mutex
	m  map[types.NamespacedName]writtenStatus
}

type writtenStatus struct {
	uid    types.UID
	before [32]byte // digest of the status replaced
	after  *syncv1alpha1.SyncPipelineStatus
}

func newStatusMemo() *statusMemo {
	return &statusMemo{m: map[types.NamespacedName]writtenStatus{}}
}

func statusDigest(s *syncv1alpha1.SyncPipelineStatus) [32]byte {
	b, _ := json.Marshal(s)
	return sha256.Sum256(b)
}

func (sm *statusMemo) wrote(before, after *syncv1alpha1.SyncPipeline) {
	if sm == nil {
		return
	}
	w := writtenStatus{uid: after.UID, before: statusDigest(&before.Status), after: after.Status.DeepCopy()}
	sm.mu.Lock()
	sm.m[types.NamespacedName{Namespace: after.Namespace, Name: after.Name}] = w
	sm.mu.Unlock()
}

// fresh replaces a pipeline's status read from the cache by the one last
// written when the cache still shows the status that write replaced.
func (sm *statusMemo) fresh(p *syncv1alpha1.SyncPipeline) {
	if sm == nil {
		return
	}
	sm.mu.Lock()
	w, ok := sm.m[types.NamespacedName{Namespace: p.Namespace, Name: p.Name}]
	sm.mu.Unlock()
	if ok && w.uid == p.UID && statusDigest(&p.Status) == w.before {
		p.Status = *w.after.DeepCopy()
	}
}

func (sm *statusMemo) forget(key types.NamespacedName) {
	if sm == nil {
		return
	}
	sm.mu.Lock()
	delete(sm.m, key)
	sm.mu.Unlock()
}

// scrubStatus removes secret values from every message in the status.
func scrubStatus(s *syncv1alpha1.SyncPipelineStatus, secrets []string) {
	scrub := func(m *string) { *m = redact.String(*m, secrets...) }
	for _, run := range []*syncv1alpha1.RunStatus{s.LastRun, s.LastSuccessfulRun} {
		if run != nil {
			scrub(&run.Message)
		}
	}
	if s.LastCleanup != nil {
		scrub(&s.LastCleanup.Message)
	}
	for i := range s.Entities {
		scrub(&s.Entities[i].Message)
		if c := s.Entities[i].LastCleanup; c != nil {
			scrub(&c.Message)
		}
	}
	for i := range s.Conditions {
		scrub(&s.Conditions[i].Message)
	}
}

func statusChanged(old, cur *syncv1alpha1.SyncPipelineStatus) bool {
	a, errA := json.Marshal(old)
	b, errB := json.Marshal(cur)
	return errA != nil || errB != nil || !bytes.Equal(a, b)
}

func observeSchedule(st *pipelineState) {
	s := &st.status
	if st.cronJob != nil {
		s.LastScheduleTime = nil
		if t := st.cronJob.Status.LastScheduleTime; t != nil {
			s.LastScheduleTime = statusTime(t.Time)
		}
	}
	s.NextScheduleTime = nil
	if st.schedule != nil && !st.p.Spec.Suspend {
		if next, ok := st.schedule.next(st.now); ok {
			s.NextScheduleTime = statusTime(next)
		}
	}
}

func observeWorkers(st *pipelineState) {
	d := st.deployment
	if d == nil {
		return
	}
	st.status.Workers = &syncv1alpha1.WorkersStatus{Desired: st.replicas, Ready: d.Status.ReadyReplicas}
	if c := deploymentCondition(d, appsv1.DeploymentProgressing); c != nil && c.Status == corev1.ConditionFalse && c.Reason == "ProgressDeadlineExceeded" {
		st.warn(syncv1alpha1.ReasonWorkersUnavailable, fmt.Sprintf("worker Deployment %s makes no progress (%s): look at its pods with kubectl describe deployment %s", d.Name, c.Message, d.Name), false)
	}
}

func deploymentCondition(d *appsv1.Deployment, t appsv1.DeploymentConditionType) *appsv1.DeploymentCondition {
	for i := range d.Status.Conditions {
		if d.Status.Conditions[i].Type == t {
			return &d.Status.Conditions[i]
		}
	}
	return nil
}

func observeQueueProblems(st *pipelineState) {
	q := st.queue
	if q == nil {
		return
	}
	st.status.Queue = q
	if inFlight := q.Pending + q.Active + q.Scheduled + q.Retry; inFlight > 0 {
		st.inProgress(syncv1alpha1.ReasonRunInProgress, fmt.Sprintf("%d batches pending, %d being applied, %d waiting for a retry or their time", q.Pending, q.Active, q.Scheduled+q.Retry))
	}
	if q.Dead > 0 {
		st.warn(syncv1alpha1.ReasonDeadTasks, fmt.Sprintf("%d tasks failed every retry and wait in the dead-letter queue %s: inspect, retry or purge them with `sisporta dlq`", q.Dead, queue.Name(st.p.Namespace, st.p.Name)), false)
	}
}

// observeExtraction reports the extraction Jobs: one running is a run in
// flight; the newest finished one failing means the source was not read
// (a bad DSN, an unreachable source), unless a run completed since. When
// Redis cannot be read, the last complete run the status shows stands in
// for the run summary.
func observeExtraction(st *pipelineState, runs *runView) {
	if st.jobs == nil {
		return
	}
	if j := st.jobs.running(); j != nil {
		st.inProgress(syncv1alpha1.ReasonRunInProgress, fmt.Sprintf("extraction Job %s is running", j.Name))
	}
	j, failed, at := st.jobs.lastFinished()
	if j == nil || !failed {
		return
	}
	if runs != nil && runs.lastComplete != nil && runs.lastComplete.Meta.StartTime.After(at) {
		return
	}
	if runs == nil {
		if t := lastCompleteStart(&st.status); t != nil && t.After(at) {
			return
		}
	}
	st.warn(syncv1alpha1.ReasonExtractionFailed, fmt.Sprintf("extraction Job %s failed (%s): read its log with kubectl logs job/%s; a wrong source DSN or an unreachable source are the usual causes", j.Name, failureMessage(j), j.Name), true)
}

// lastCompleteStart is when the last complete run the status shows started.
func lastCompleteStart(s *syncv1alpha1.SyncPipelineStatus) *time.Time {
	for _, run := range []*syncv1alpha1.RunStatus{s.LastRun, s.LastSuccessfulRun} {
		if run != nil && run.Result != "" && run.Result != syncv1alpha1.RunRunning && run.StartTime != nil {
			return &run.StartTime.Time
		}
	}
	return nil
}

// observeRunProblems judges the last complete run: a run in flight never
// changes Ready, so a healthy pipeline stays Ready while it works.
func observeRunProblems(st *pipelineState, runs *runView) {
	if runs == nil || runs.lastComplete == nil {
		return
	}
	run := runStatus(runs.lastComplete)
	switch run.Result {
	case syncv1alpha1.RunFailed, syncv1alpha1.RunPartiallyFailed:
		st.warn(syncv1alpha1.ReasonRunFailed, fmt.Sprintf("run %s %s (entities %v): %s; the worker log (kubectl logs deployment/%s) tells more",
			run.ID, resultVerb(run.Result), run.FailedEntities, run.Message, workerName(st.p)), true)
	}
	for _, e := range runs.lastComplete.Entities {
		if c := entityCleanup(e); c != nil && c.Result == syncv1alpha1.CleanupGuardTripped {
			st.warn(syncv1alpha1.ReasonCleanupGuardTripped, fmt.Sprintf("run %s: the cleanup of entity %s was refused and deleted nothing (%s): check the source; if the deletions are right, raise cleanup.maxDeletePercent of the entity for one run",
				run.ID, e.Name, safeMessage(c.Message)), false)
		}
	}
}

func resultVerb(r syncv1alpha1.RunResult) string {
	if r == syncv1alpha1.RunPartiallyFailed {
		return "partially failed"
	}
	return "failed"
}

// sinceRounded formats a duration for people.
func sinceRounded(d time.Duration) string {
	if d < time.Second {
		return d.Round(time.Millisecond).String()
	}
	return d.Round(time.Second).String()
}
