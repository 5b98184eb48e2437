package controllers

import (
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"

	syncv1alpha1 "github.com/sisporta/sisporta/api/v1alpha1"
)

// pipelineState carries what one reconcile learns from step to step. The
// pipeline is read-only; status is the status being built, starting from
// the stored one so that what a step could not observe keeps its value.
type pipelineState struct {
	p      *syncv1alpha1.SyncPipeline
	status syncv1alpha1.SyncPipelineStatus
	now    time.Time

	problems       []*problem
	progress       []string
	progressReason string
	// requeueAfter, when set, asks for the next look sooner than usual.
	requeueAfter time.Duration
	busy         bool
	// holdReady: Redis has been unreachable for less than the grace
	// period, so what Ready depends on is unknown; Ready keeps its value.
	holdReady bool

	schedule *cronSchedule
	redisURL string // held in memory only: never logged, never stored
	// secretValues are the referenced Secrets' values, in memory only, to
	// scrub from anything the operator writes (a data-plane message that
	// echoes a DSN must not reach the status or an event).
	secretValues   []string
	secretsVersion string
	configHash     string

	jobs       extractionJobs
	cronJob    *batchv1.CronJob
	deployment *appsv1.Deployment
	queue      *syncv1alpha1.QueueStatus
	redis      *redisConn
	// replicas is the worker count the scale step settled on (-1: unknown).
	replicas int32
}

func newPipelineState(p *syncv1alpha1.SyncPipeline, now time.Time) *pipelineState {
	return &pipelineState{p: p, status: *p.Status.DeepCopy(), now: now, replicas: -1}
}

// fail records a problem and returns it, for steps that cannot go on.
func (st *pipelineState) fail(reason, message string, retry bool) error {
	p := &problem{reason: reason, message: message, blocksReady: true, retry: retry}
	st.problems = append(st.problems, p)
	return p
}

// warn records a problem that does not stop the reconcile.
func (st *pipelineState) warn(reason, message string, blocksReady bool) {
	st.problems = append(st.problems, &problem{reason: reason, message: message, blocksReady: blocksReady})
}

// inProgress notes work in flight: Progressing=True and a quick requeue.
func (st *pipelineState) inProgress(reason, message string) {
	st.progressing(reason, message)
	st.busy = true
}

// progressing notes work in flight whose end is announced by a watched
// object (a Deployment's status): Progressing=True, no requeue of its own.
func (st *pipelineState) progressing(reason, message string) {
	// A run in flight says more than a rollout or a scale-up.
	if st.progressReason == "" || reason == syncv1alpha1.ReasonRunInProgress {
		st.progressReason = reason
	}
	st.progress = append(st.progress, message)
}

// recheckWithin asks for the next reconcile no later than d from now.
func (st *pipelineState) recheckWithin(d time.Duration) {
	if d <= 0 {
		d = time.Second
	}
	if st.requeueAfter == 0 || d < st.requeueAfter {
		st.requeueAfter = d
	}
}
