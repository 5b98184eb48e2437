package controllers

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/log"

	syncv1alpha1 "github.com/sisporta/sisporta/api/v1alpha1"
	"github.com/sisporta/sisporta/runner/redact"
)

// Options configure the SyncPipeline reconciler.
type Options struct {
	// RunnerImage runs the extractor and the workers of pipelines that set
	// no spec.image: the operator's own image.
	RunnerImage string
	// DefaultRedisURL serves pipelines without spec.queue.redisSecretRef.
	DefaultRedisURL string
	// QueuePollInterval is how often the depth of every pipeline's queue is
	// read (one round trip per Redis for all its pipelines); a pipeline
	// whose depth changed is reconciled at once. Default 30s.
	QueuePollInterval time.Duration
	// RedisOutageGrace is how long a pipeline's Redis may be unreachable
	// before Ready turns False; a shorter outage sets Degraded only.
	// Default 60s.
	RedisOutageGrace time.Duration
	// MaxConcurrentReconciles is how many pipelines are reconciled at once.
	// Default 8.
	MaxConcurrentReconciles int
	// BusyRequeue is how soon a pipeline is looked at again while a run is
	// in flight (to follow its latency and scale-down window). Default 10s.
	BusyRequeue time.Duration
	// IdleRequeue is how soon an idle pipeline is looked at again. Jobs,
	// owned objects and Secrets are watched and queue depth is polled, so
	// this is only a safety net. Default 10m, spread by up to a fifth so
	// that pipelines started together do not come back together.
	IdleRequeue time.Duration
	// FinalizerTimeout bounds how long a deleted pipeline waits for its
	// queue to be purged when Redis cannot be reached. Default 5m.
	FinalizerTimeout time.Duration
}

// Reconciler turns each SyncPipeline into its ConfigMap, extractor CronJob
// and worker Deployment, scales the workers from queue depth and reports
// what happens in the status.
type Reconciler struct {
	client.Client
	// APIReader reads Secrets uncached: their values never sit in an informer.
	APIReader client.Reader
	Recorder  events.EventRecorder
	Options

	secrets  *secretReader
	redis    *redisPool
	queues   *queueWatcher
	statuses *statusMemo
}

type step struct {
	name string
	run  func(context.Context, *pipelineState) error
}

// reconciled, when set (tests set it before the manager starts), hears of
// every finished reconcile: proving that nothing is written by a reconcile
// needs to know that one happened.
var reconciled func(types.NamespacedName)

// Reconcile runs the steps in order; a step that cannot go on stops the
// list, and the status step always reports what was learnt.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	if reconciled != nil {
		defer reconciled(req.NamespacedName)
	}
	p := &syncv1alpha1.SyncPipeline{}
	if err := r.Get(ctx, req.NamespacedName, p); err != nil {
		if apierrors.IsNotFound(err) {
			r.queues.forget(req.NamespacedName)
			r.statuses.forget(req.NamespacedName)
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	r.statuses.fresh(p)
	if !p.DeletionTimestamp.IsZero() {
		return r.finalize(ctx, p)
	}
	if err := r.ensureFinalizer(ctx, p); err != nil {
		return ctrl.Result{}, err
	}

	st := newPipelineState(p, time.Now())
	steps := []step{
		{"validate", r.reconcileValidate},
		{"secrets", r.reconcileSecrets},
		{"config", r.reconcileConfig},
		{"run-now", r.reconcileRunNow},
		{"cronjob", r.reconcileCronJob},
		{"workers", r.reconcileWorkers},
		{"scale", r.reconcileScale},
		{"disruption budget", r.reconcilePDB},
	}
	var stepErr error
	for _, s := range steps {
		if err := s.run(ctx, st); err != nil {
			stepErr = fmt.Errorf("%s: %w", s.name, err)
			break
		}
	}
	return r.reconcileStatus(ctx, st, stepErr)
}

// result turns the outcome of a reconcile into the next look. Problems a
// person must fix are retried after a delay that grows with how long the
// pipeline has been degraded: no hot loop, no error log per retry, and
// recovery without help once the cause is gone. API errors go to the
// controller's rate limiter. Work in flight is polled often, an idle
// pipeline rarely.
func (r *Reconciler) result(ctx context.Context, st *pipelineState, stepErr error) (ctrl.Result, error) {
	var pr *problem
	switch {
	case stepErr == nil:
	case errors.As(stepErr, &pr):
		if !pr.retry {
			// Only a change to the pipeline can fix it, and that is watched.
			return ctrl.Result{}, nil
		}
	case apierrors.IsConflict(stepErr):
		log.FromContext(ctx).V(1).Info("object changed while reconciling; retrying", "reason", stepErr.Error())
		return ctrl.Result{RequeueAfter: time.Second}, nil
	default:
		return ctrl.Result{}, stepErr
	}
	for _, p := range st.problems {
		if p.retry {
			after := problemBackoff(st)
			if st.requeueAfter > 0 && st.requeueAfter < after {
				after = st.requeueAfter
			}
			log.FromContext(ctx).Info("the pipeline has a problem; looking again later", "reason", p.reason, "after", after.String())
			return ctrl.Result{RequeueAfter: after}, nil
		}
	}
	after := jitter(r.IdleRequeue, st.p.UID)
	if st.busy {
		after = r.BusyRequeue
	}
	if st.requeueAfter > 0 && st.requeueAfter < after {
		after = st.requeueAfter
	}
	return ctrl.Result{RequeueAfter: after}, nil
}

// jitter spreads d by up to a fifth, the same for a pipeline every time
// (from its UID), so that pipelines reconciled together (all of them, when
// the operator starts) come back spread out rather than all at once.
func jitter(d time.Duration, uid types.UID) time.Duration {
	h := fnv.New32a()
	_, _ = h.Write([]byte(uid))
	return d + time.Duration(uint64(d/5)*uint64(h.Sum32()%1000)/1000)
}

// maxProblemBackoff caps the delay between looks at a degraded pipeline.
const maxProblemBackoff = 5 * time.Minute

// problemBackoff is half the time the pipeline has been degraded, between
// one second and maxProblemBackoff: 1s, 1s, 2s, 4s... as the problem lasts.
func problemBackoff(st *pipelineState) time.Duration {
	var age time.Duration
	if c := meta.FindStatusCondition(st.status.Conditions, syncv1alpha1.ConditionDegraded); c != nil && c.Status == metav1.ConditionTrue {
		age = st.now.Sub(c.LastTransitionTime.Time)
	}
	return min(max(age/2, time.Second), maxProblemBackoff)
}

func (r *Reconciler) ensureFinalizer(ctx context.Context, p *syncv1alpha1.SyncPipeline) error {
	if controllerutil.ContainsFinalizer(p, syncv1alpha1.FinalizerPurgeQueue) {
		return nil
	}
	patch := client.MergeFrom(p.DeepCopy())
	controllerutil.AddFinalizer(p, syncv1alpha1.FinalizerPurgeQueue)
	return r.Patch(ctx, p, patch)
}

// note records an event with every secret value given removed. Notes are
// passed as an argument, never as a format: they may hold text from users
// or the data plane.
//
// client-go's events.k8s.io recorder folds every event of the same type,
// reason and action about an object within six minutes into a series of
// the first one, keeping the first note ("scaled from 0 to 1" shown, x2,
// after a scale to 3) and writing the series' final count six minutes
// later, in what is otherwise a quiet minute. The action therefore carries
// a digest of the note: repeats of one note still fold into a series,
// different notes stay events of their own. (kubectl describe does not
// show the action.)
func (r *Reconciler) note(p *syncv1alpha1.SyncPipeline, eventType, reason, action, note string, secrets ...string) {
	note = clip(redact.String(note, secrets...), 1000)
	r.Recorder.Eventf(p, nil, eventType, reason, action+"-"+shortHash(note), "%s", note)
}
