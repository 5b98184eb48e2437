package controllers

import (
	"k8s.io/apimachinery/pkg/api/equality"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
)

// pipelineChanged ignores updates that change only the status: the operator
// writes the status itself, and reacting to its own writes would make a
// second reconcile for every status change (queue latency changes every
// second while a run is in flight).
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
		!equality.Semantic.DeepEqual(o.GetFinalizers(), n.GetFinalizers()) ||
		o.GetDeletionTimestamp().IsZero() != n.GetDeletionTimestamp().IsZero()
}
