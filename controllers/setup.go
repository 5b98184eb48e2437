package controllers

import (
	"context"
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/workqueue"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	syncv1alpha1 "github.com/sisporta/sisporta/api/v1alpha1"
)

// Defaults of the operator's scale settings (manager flags of the same
// meaning; see cmd/manager.go and the README's figures).
const (
	DefaultQueuePollInterval       = 30 * time.Second
	DefaultRedisOutageGrace        = 60 * time.Second
	DefaultMaxConcurrentReconciles = 8
)

// secretRefIndex indexes pipelines by the names of the Secrets they use, so
// a change to a Secret reconciles exactly the pipelines that read it.
const secretRefIndex = "sisporta.secretRefs"

// ConfigureCache makes the manager cache only what the operator manages:
// Jobs, CronJobs, Deployments, ConfigMaps and PodDisruptionBudgets carrying
// its managed-by label (a cluster's other objects never fill its memory).
// Secrets are watched as metadata only (see SetupWithManager) and their
// values read uncached, so no Secret value is ever kept in an informer.
func ConfigureCache(o *cache.Options) {
	sel := labels.SelectorFromSet(labels.Set{syncv1alpha1.LabelManagedBy: syncv1alpha1.ManagedByOperator})
	if o.ByObject == nil {
		o.ByObject = map[client.Object]cache.ByObject{}
	}
	for _, obj := range []client.Object{&batchv1.Job{}, &batchv1.CronJob{}, &appsv1.Deployment{}, &corev1.ConfigMap{}, &policyv1.PodDisruptionBudget{}} {
		o.ByObject[obj] = cache.ByObject{Label: sel}
	}
}

// SetupWithManager registers the SyncPipeline reconciler. The manager's
// cache must have been configured with ConfigureCache.
func SetupWithManager(mgr ctrl.Manager, o Options) error {
	if o.BusyRequeue <= 0 {
		o.BusyRequeue = 10 * time.Second
	}
	if o.IdleRequeue <= 0 {
		o.IdleRequeue = 10 * time.Minute
	}
	if o.QueuePollInterval <= 0 {
		o.QueuePollInterval = DefaultQueuePollInterval
	}
	if o.RedisOutageGrace <= 0 {
		o.RedisOutageGrace = DefaultRedisOutageGrace
	}
	if o.MaxConcurrentReconciles <= 0 {
		o.MaxConcurrentReconciles = DefaultMaxConcurrentReconciles
	}
	if o.FinalizerTimeout <= 0 {
		o.FinalizerTimeout = 5 * time.Minute
	}
	if o.RunnerImage == "" {
		return fmt.Errorf("no runner image: start the manager with --runner-image (or SISPORTA_RUNNER_IMAGE) set to the operator's own image")
	}
	if o.DefaultRedisURL != "" {
		if err := checkRedisURL(o.DefaultRedisURL); err != nil {
			return fmt.Errorf("the default Redis URL (--default-redis-url or SISPORTA_DEFAULT_REDIS_URL) is not usable: %v; write redis://[[user]:password@]host:port[/db]", err)
		}
	}
	pool := newRedisPool()
	r := &Reconciler{
		Client:    mgr.GetClient(),
		APIReader: mgr.GetAPIReader(),
		Recorder:  mgr.GetEventRecorder(syncv1alpha1.EventReportingController),
		Options:   o,
		secrets:   newSecretReader(mgr.GetClient(), mgr.GetAPIReader()),
		redis:     pool,
		queues:    newQueueWatcher(o.QueuePollInterval, pool),
		statuses:  newStatusMemo(),
	}
	if err := mgr.Add(manager.RunnableFunc(func(ctx context.Context) error {
		<-ctx.Done()
		r.redis.closeAll()
		return nil
	})); err != nil {
		return err
	}
	if err := mgr.Add(r.queues); err != nil {
		return err
	}
	if setUp != nil {
		setUp(r)
	}
	if err := mgr.GetFieldIndexer().IndexField(context.Background(), &syncv1alpha1.SyncPipeline{}, secretRefIndex, func(o client.Object) []string {
		return secretNames(o.(*syncv1alpha1.SyncPipeline))
	}); err != nil {
		return err
	}
	return ctrl.NewControllerManagedBy(mgr).
		Named("syncpipeline").
		For(&syncv1alpha1.SyncPipeline{}, builder.WithPredicates(pipelineChanged{})).
		Owns(&batchv1.CronJob{}, builder.WithPredicates(ownedChanged{})).
		Owns(&appsv1.Deployment{}, builder.WithPredicates(ownedChanged{})).
		Owns(&corev1.ConfigMap{}, builder.WithPredicates(ownedChanged{})).
		Owns(&policyv1.PodDisruptionBudget{}, builder.WithPredicates(ownedChanged{})).
		// Jobs of the CronJob are owned by the CronJob, not the pipeline.
		Watches(&batchv1.Job{}, handler.EnqueueRequestsFromMapFunc(jobToPipeline)).
		Watches(&corev1.Secret{}, handler.EnqueueRequestsFromMapFunc(r.secretToPipelines), builder.OnlyMetadata).
		// Queue depth is polled per Redis; pipelines whose depth changed
		// come in through this channel.
		WatchesRawSource(source.Channel(r.queues.events, &handler.EnqueueRequestForObject{})).
		WithOptions(controller.Options{
			MaxConcurrentReconciles: o.MaxConcurrentReconciles,
			// API errors retry from 1s doubling to 5m (problems of the
			// pipeline itself have their own delay, see result).
			RateLimiter: workqueue.NewTypedItemExponentialFailureRateLimiter[reconcile.Request](time.Second, 5*time.Minute),
		}).
		Complete(r)
}

// setUp, when set (tests set it before the manager starts), is handed the
// reconciler: tests wake pipelines through its queue watcher's channel, as
// the poller does, to make reconciles happen without changing anything.
var setUp func(*Reconciler)

// secretNames are the Secrets a pipeline depends on, the namespace's copy
// of the default Redis URL included (deleting or editing it must be
// repaired).
func secretNames(p *syncv1alpha1.SyncPipeline) []string {
	return []string{p.Spec.Source.DSNSecretRef.Name, p.Spec.Target.DSNSecretRef.Name, redisRef(p).Name}
}

func (r *Reconciler) secretToPipelines(ctx context.Context, o client.Object) []reconcile.Request {
	var list syncv1alpha1.SyncPipelineList
	if err := r.List(ctx, &list, client.InNamespace(o.GetNamespace()), client.MatchingFields{secretRefIndex: o.GetName()}); err != nil {
		return nil
	}
	reqs := make([]reconcile.Request, 0, len(list.Items))
	for _, p := range list.Items {
		reqs = append(reqs, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: p.Namespace, Name: p.Name}})
	}
	return reqs
}

func jobToPipeline(_ context.Context, o client.Object) []reconcile.Request {
	name := o.GetLabels()[syncv1alpha1.LabelPipeline]
	if name == "" || o.GetLabels()[syncv1alpha1.LabelComponent] != syncv1alpha1.ComponentExtractor {
		return nil
	}
	return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: o.GetNamespace(), Name: name}}}
}
