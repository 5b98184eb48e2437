package controllers

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/log"

	syncv1alpha1 "github.com/sisporta/sisporta/api/v1alpha1"
)

// ensureObject creates want, or brings the live object in line with it and
// writes it only when something differs. inSync says whether live already
// holds everything want sets; update copies want's content onto live. It
// returns the object as stored.
func ensureObject[T client.Object](ctx context.Context, r *Reconciler, st *pipelineState, kind string, want T, newObj func() T, inSync func(live T) bool, update func(live T)) (T, error) {
	live := newObj()
	key := client.ObjectKeyFromObject(want)
	err := r.Get(ctx, key, live)
	if apierrors.IsNotFound(err) {
		if err := controllerutil.SetControllerReference(st.p, want, r.Scheme()); err != nil {
			return live, err
		}
		err = r.Create(ctx, want)
		if err == nil {
			log.FromContext(ctx).Info("created", "kind", kind, "name", key.Name)
			return want, nil
		}
		if !apierrors.IsAlreadyExists(err) {
			return live, fmt.Errorf("creating %s %s: %w", kind, key.Name, err)
		}
		// It exists without the labels the cache selects on (someone removed
		// them, or it was never ours): read it directly.
		err = r.APIReader.Get(ctx, key, live)
	}
	if err != nil {
		return live, err
	}
	if err := r.checkOwnership(st, live, kind); err != nil {
		return live, err
	}
	if metaInSync(st.p, want, live) && inSync(live) {
		return live, nil
	}
	if err := mergeMeta(r, st.p, want, live); err != nil {
		return live, err
	}
	update(live)
	if err := r.Update(ctx, live); err != nil {
		return live, fmt.Errorf("updating %s %s: %w", kind, key.Name, err)
	}
	log.FromContext(ctx).Info("updated to match the pipeline", "kind", kind, "name", key.Name)
	return live, nil
}

// checkOwnership refuses to take over an object of the same name that
// belongs to something else; an object carrying this pipeline's label but
// no controller (an owner reference removed by hand) is adopted again.
func (r *Reconciler) checkOwnership(st *pipelineState, live client.Object, kind string) error {
	if metav1IsControlledBy(live, st.p) {
		return nil
	}
	if ref := metav1.GetControllerOf(live); ref == nil && live.GetLabels()[syncv1alpha1.LabelPipeline] == st.p.Name {
		return nil
	}
	return st.fail(syncv1alpha1.ReasonNameConflict, fmt.Sprintf("%s %q already exists in namespace %q and does not belong to this pipeline: delete or rename it, or give the pipeline another name", kind, live.GetName(), live.GetNamespace()), false)
}

func metav1IsControlledBy(o client.Object, p *syncv1alpha1.SyncPipeline) bool {
	ref := metav1.GetControllerOf(o)
	return ref != nil && ref.UID == p.UID
}

// metaInSync: live carries want's labels and annotations (others may add
// their own) and is controlled by the pipeline.
func metaInSync(p *syncv1alpha1.SyncPipeline, want, live client.Object) bool {
	return metav1IsControlledBy(live, p) && hasAll(live.GetLabels(), want.GetLabels()) && hasAll(live.GetAnnotations(), want.GetAnnotations())
}

// mergeMeta puts want's labels and annotations on live and makes the
// pipeline its controller (checkOwnership ruled out any other controller).
func mergeMeta(r *Reconciler, p *syncv1alpha1.SyncPipeline, want, live client.Object) error {
	live.SetLabels(withAll(live.GetLabels(), want.GetLabels()))
	live.SetAnnotations(withAll(live.GetAnnotations(), want.GetAnnotations()))
	return controllerutil.SetControllerReference(p, live, r.Scheme())
}

func hasAll(have, want map[string]string) bool {
	for k, v := range want {
		if got, ok := have[k]; !ok || got != v {
			return false
		}
	}
	return true
}

func withAll(have, want map[string]string) map[string]string {
	if len(want) == 0 {
		return have
	}
	out := make(map[string]string, len(have)+len(want))
	for k, v := range have {
		out[k] = v
	}
	for k, v := range want {
		out[k] = v
	}
	return out
}
