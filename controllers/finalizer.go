package controllers

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hibiken/asynq"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/log"

	syncv1alpha1 "github.com/sisporta/sisporta/api/v1alpha1"
	"github.com/sisporta/sisporta/runner/queue"
	"github.com/sisporta/sisporta/runner/redact"
)

// finalize purges a deleted pipeline's queue and run summary from Redis.
// It first stops what feeds and drains the queue (suspends the CronJob,
// deletes running extraction Jobs, scales the workers to zero) and waits a
// worker's grace period for them to go, since asynq refuses to delete a
// queue with tasks in hand. When Redis stays unreachable the pipeline is
// let go after FinalizerTimeout with a Warning: deleting must not hang.
func (r *Reconciler) finalize(ctx context.Context, p *syncv1alpha1.SyncPipeline) (ctrl.Result, error) {
	if !controllerutil.ContainsFinalizer(p, syncv1alpha1.FinalizerPurgeQueue) {
		return ctrl.Result{}, nil
	}
	deleting := time.Since(p.DeletionTimestamp.Time)
	workersGone, err := r.stopRunners(ctx, p)
	if err != nil {
		return ctrl.Result{}, err
	}
	if !workersGone && deleting < workerGracePeriod+shutdownMargin {
		return ctrl.Result{RequeueAfter: r.BusyRequeue}, nil
	}

	q := queue.Name(p.Namespace, p.Name)
	if purged, err := r.purgeQueue(ctx, p, q); err != nil {
		if deleting < r.FinalizerTimeout {
			r.note(p, corev1.EventTypeWarning, syncv1alpha1.EventQueueNotPurged, "Purge", fmt.Sprintf("cannot purge queue %s yet: %v; retrying", q, err))
			return ctrl.Result{}, err
		}
		r.note(p, corev1.EventTypeWarning, syncv1alpha1.EventQueueNotPurged, "Purge", fmt.Sprintf("gave up purging queue %s after %s: %v; its tasks and the keys asynq:{%s}:* and sisporta:{%s}:* remain in Redis until removed by hand", q, r.FinalizerTimeout, err, q, q))
	} else if purged {
		r.note(p, corev1.EventTypeNormal, syncv1alpha1.EventQueuePurged, "Purge", fmt.Sprintf("purged queue %s and its run summary from Redis", q))
	}
	r.redis.forgetPipeline(types.NamespacedName{Namespace: p.Namespace, Name: p.Name})
	r.queues.forget(types.NamespacedName{Namespace: p.Namespace, Name: p.Name})
	if p.Spec.Queue.RedisSecretRef == nil {
		if err := r.releaseDefaultRedisSecret(ctx, p); err != nil {
			return ctrl.Result{}, err
		}
	}
	forgetMetrics(p)
	patch := client.MergeFrom(p.DeepCopy())
	controllerutil.RemoveFinalizer(p, syncv1alpha1.FinalizerPurgeQueue)
	return ctrl.Result{}, client.IgnoreNotFound(r.Patch(ctx, p, patch))
}

// stopRunners stops new batches and new runs, and reports whether no
// worker pod is left.
func (r *Reconciler) stopRunners(ctx context.Context, p *syncv1alpha1.SyncPipeline) (bool, error) {
	cj := &batchv1.CronJob{}
	err := r.Get(ctx, types.NamespacedName{Namespace: p.Namespace, Name: cronJobName(p)}, cj)
	switch {
	case err == nil && metav1IsControlledBy(cj, p) && !ptr.Deref(cj.Spec.Suspend, false):
		patch := client.MergeFrom(cj.DeepCopy())
		cj.Spec.Suspend = ptr.To(true)
		if err := r.Patch(ctx, cj, patch); client.IgnoreNotFound(err) != nil {
			return false, err
		}
	case client.IgnoreNotFound(err) != nil:
		return false, err
	}
	jobs, err := r.listExtractionJobs(ctx, p)
	if err != nil {
		return false, err
	}
	for i := range jobs {
		if done, _, _ := jobFinished(&jobs[i]); !done && jobs[i].DeletionTimestamp.IsZero() {
			if err := r.Delete(ctx, &jobs[i], client.PropagationPolicy("Background")); client.IgnoreNotFound(err) != nil {
				return false, err
			}
		}
	}
	d := &appsv1.Deployment{}
	err = r.Get(ctx, types.NamespacedName{Namespace: p.Namespace, Name: workerName(p)}, d)
	if apierrors.IsNotFound(err) {
		return true, nil
	}
	if err != nil {
		return false, err
	}
	if !metav1IsControlledBy(d, p) {
		return true, nil
	}
	if ptr.Deref(d.Spec.Replicas, 1) != 0 {
		patch := client.MergeFrom(d.DeepCopy())
		d.Spec.Replicas = ptr.To(int32(0))
		if err := r.Patch(ctx, d, patch); client.IgnoreNotFound(err) != nil {
			return false, err
		}
		return false, nil
	}
	return d.Status.Replicas == 0, nil
}

// purgeQueue deletes the pipeline's asynq queue and run summary. The Redis
// URL comes from the pipeline's Secret, the default, or, when the Secret
// is already gone, what this process last used for the pipeline.
func (r *Reconciler) purgeQueue(ctx context.Context, p *syncv1alpha1.SyncPipeline, q string) (purged bool, err error) {
	url := r.redisURLForPurge(ctx, p)
	if url == "" {
		if p.Spec.Queue.RedisSecretRef == nil {
			return false, nil // no Redis was ever configured: nothing to purge
		}
		return false, fmt.Errorf("Secret %q named by spec.queue.redisSecretRef is gone and this operator never used it", p.Spec.Queue.RedisSecretRef.Name)
	}
	conn, err := r.redis.get(ctx, url)
	if err != nil {
		return false, err
	}
	err = conn.inspector.DeleteQueue(q, true)
	if err != nil && !errors.Is(err, asynq.ErrQueueNotFound) {
		// asynq refuses while tasks are active. The workers are gone by now,
		// so those tasks were orphaned by killed workers: DeleteQueueKeys
		// below removes them with the rest of the queue's keys.
		log.FromContext(ctx).Info("asynq refused to delete the queue; removing its keys", "queue", q, "reason", redact.Err(err, url).Error())
	}
	// DeleteQueue leaves the queue's statistics (processed and failed
	// counters, daily ones too): every key of the queue goes.
	if err := queue.DeleteQueueKeys(ctx, conn.rdb, q); err != nil {
		r.redis.drop(url)
		return false, redact.Err(err, url)
	}
	if err := conn.runs.Purge(ctx, q); err != nil {
		r.redis.drop(url)
		return false, redact.Err(err, url)
	}
	return true, nil
}

func (r *Reconciler) redisURLForPurge(ctx context.Context, p *syncv1alpha1.SyncPipeline) string {
	ref := p.Spec.Queue.RedisSecretRef
	if ref == nil {
		return r.DefaultRedisURL
	}
	if snap, err := r.secrets.get(ctx, types.NamespacedName{Namespace: p.Namespace, Name: ref.Name}); err == nil {
		if v := snap.data[ref.Key]; len(v) > 0 {
			return string(v)
		}
	}
	return r.redis.remembered(types.NamespacedName{Namespace: p.Namespace, Name: p.Name})
}
