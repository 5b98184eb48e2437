package controllers

import (
	"slices"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	syncv1alpha1 "github.com/sisporta/sisporta/api/v1alpha1"
)

// pipelineChanged ignores updates that change only the status: the operator
// writes the status itself, and reacting to its own writes would make a
// second reconcile for every status change (queue latency changes every
// second while a run is in flight). The operator's own finalizer arriving
// is its own write too.
type pipelineChanged struct {
	predicate.Funcs
}

func (pipelineChanged) Update(e event.UpdateEvent) bool {
	o, n := e.ObjectOld, e.ObjectNew
	if o == nil || n == nil {
		return true
	}
	return o.GetGeneration() != n.GetGeneration() ||
		!equality.Semantic.DeepEqual(o.GetAnnotations(), n.GetAnnotations()) ||
		!equality.Semantic.DeepEqual(o.GetLabels(), n.GetLabels()) ||
		(!slices.Equal(o.GetFinalizers(), n.GetFinalizers()) && !onlyGainedOurFinalizer(o, n)) ||
		o.GetDeletionTimestamp().IsZero() != n.GetDeletionTimestamp().IsZero()
}

func onlyGainedOurFinalizer(o, n client.Object) bool {
	return !slices.Contains(o.GetFinalizers(), syncv1alpha1.FinalizerPurgeQueue) &&
		slices.Equal(slices.DeleteFunc(slices.Clone(n.GetFinalizers()), func(f string) bool { return f == syncv1alpha1.FinalizerPurgeQueue }), o.GetFinalizers())
}

// ownedChanged filters the events of the objects the operator creates
// (CronJob, Deployment, ConfigMap, PodDisruptionBudget). Their creation is
// the operator's own doing, or, when it starts, the listing of what exists
// (the pipelines are all listed then too): no reconcile. Deletions and
// changes are reconciled (drift is repaired), except a Deployment status
// change that says nothing the operator uses.
type ownedChanged struct {
	predicate.Funcs
}

func (ownedChanged) Create(event.CreateEvent) bool { return false }

func (ownedChanged) Update(e event.UpdateEvent) bool {
	o, n := e.ObjectOld, e.ObjectNew
	od, ok1 := o.(*appsv1.Deployment)
	nd, ok2 := n.(*appsv1.Deployment)
	if !ok1 || !ok2 {
		return true
	}
	return od.Generation != nd.Generation ||
		!equality.Semantic.DeepEqual(od.ObjectMeta.Labels, nd.ObjectMeta.Labels) ||
		!equality.Semantic.DeepEqual(od.ObjectMeta.Annotations, nd.ObjectMeta.Annotations) ||
		!equality.Semantic.DeepEqual(od.OwnerReferences, nd.OwnerReferences) ||
		od.DeletionTimestamp.IsZero() != nd.DeletionTimestamp.IsZero() ||
		deploymentView(od) != deploymentView(nd)
}

// deploymentView is what the operator reads of a worker Deployment's
// status: ready workers, rollout progress, a stuck rollout.
type deploymentStatusView struct {
	ready, replicas, updated int32
	rollingOut, stuck        bool
}

func deploymentView(d *appsv1.Deployment) deploymentStatusView {
	v := deploymentStatusView{ready: d.Status.ReadyReplicas, replicas: d.Status.Replicas, updated: d.Status.UpdatedReplicas, rollingOut: rollingOut(d)}
	if c := deploymentCondition(d, appsv1.DeploymentProgressing); c != nil {
		v.stuck = c.Reason == "ProgressDeadlineExceeded"
	}
	return v
}
