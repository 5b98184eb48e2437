package controllers

import (
	"context"

	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	syncv1alpha1 "github.com/sisporta/sisporta/api/v1alpha1"
)

// reconcilePDB keeps a PodDisruptionBudget while more than one worker runs,
// so a node drain takes workers one at a time and never all batches in
// hand at once. With one worker or none it would only block drains.
func (r *Reconciler) reconcilePDB(ctx context.Context, st *pipelineState) error {
	p := st.p
	replicas := st.replicas
	if replicas < 0 && st.deployment != nil {
		replicas = ptr.Deref(st.deployment.Spec.Replicas, 1)
	}
	if replicas <= 1 {
		live := &policyv1.PodDisruptionBudget{}
		err := r.Get(ctx, types.NamespacedName{Namespace: p.Namespace, Name: workerName(p)}, live)
		if apierrors.IsNotFound(err) {
			return nil
		}
		if err != nil || !metav1IsControlledBy(live, p) {
			return err
		}
		return client.IgnoreNotFound(r.Delete(ctx, live, client.Preconditions{UID: &live.UID}))
	}
	want := &policyv1.PodDisruptionBudget{
		ObjectMeta: objectMeta(p, workerName(p), syncv1alpha1.ComponentWorker),
		Spec: policyv1.PodDisruptionBudgetSpec{
			MaxUnavailable: ptr.To(intstr.FromInt32(1)),
			Selector:       &metav1.LabelSelector{MatchLabels: selectorLabels(p, syncv1alpha1.ComponentWorker)},
		},
	}
	_, err := ensureObject(ctx, r, st, "PodDisruptionBudget", want, func() *policyv1.PodDisruptionBudget { return &policyv1.PodDisruptionBudget{} },
		func(live *policyv1.PodDisruptionBudget) bool {
			return equality.Semantic.DeepDerivative(want.Spec, live.Spec) && live.Spec.MinAvailable == nil
		},
		func(live *policyv1.PodDisruptionBudget) { live.Spec = want.Spec })
	return err
}
