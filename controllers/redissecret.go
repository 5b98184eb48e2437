package controllers

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	syncv1alpha1 "github.com/sisporta/sisporta/api/v1alpha1"
)

// DefaultRedisSecret is the only Secret the operator writes: a copy of its
// default Redis URL (key url) in a namespace whose pipelines name no Redis
// of their own, because a pod takes Secrets from its own namespace only and
// the URL must never sit in a pod spec. There is one per namespace, under
// this fixed name, so that RBAC can grant the writes for that one name
// (resourceNames); the operator may write it only in namespaces where a
// Role allows it: the chart grants its own namespace, watchNamespace and
// defaultRedis.namespaces (see README, "What the operator may do").
const DefaultRedisSecret = "sisporta-operator-redis"

// ensureDefaultRedisSecret keeps the namespace's copy of the default Redis
// URL and returns its version for the workers' pod template. It is read
// through the metadata cache and its value fetched only when it changed.
func (r *Reconciler) ensureDefaultRedisSecret(ctx context.Context, st *pipelineState) (string, error) {
	p := st.p
	key := types.NamespacedName{Namespace: p.Namespace, Name: DefaultRedisSecret}
	url := []byte(r.DefaultRedisURL)
	snap, err := r.secrets.get(ctx, key)
	if apierrors.IsNotFound(err) {
		want := &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{
				Name: DefaultRedisSecret, Namespace: p.Namespace,
				Labels:      map[string]string{syncv1alpha1.LabelName: syncv1alpha1.AppName, syncv1alpha1.LabelComponent: syncv1alpha1.ComponentDefaultRedis, syncv1alpha1.LabelManagedBy: syncv1alpha1.ManagedByOperator},
				Annotations: map[string]string{syncv1alpha1.AnnotationURLRevision: "1"},
			},
			Type: corev1.SecretTypeOpaque,
			Data: map[string][]byte{"url": url},
		}
		err = r.Create(ctx, want)
		switch {
		case err == nil:
			return versionOf(want.Annotations), nil
		case apierrors.IsForbidden(err):
			return "", st.fail(syncv1alpha1.ReasonRedisNotConfigured, defaultRedisForbidden(p, "create"), true)
		case !apierrors.IsAlreadyExists(err):
			return "", fmt.Errorf("creating Secret %s: %w", DefaultRedisSecret, err)
		}
		// Made meanwhile (the cache had not seen it yet): read it directly.
		r.secrets.forget(key)
		snap, err = r.secrets.getUncached(ctx, key)
	}
	if err != nil {
		return "", err
	}
	if snap.labels[syncv1alpha1.LabelManagedBy] != syncv1alpha1.ManagedByOperator || snap.labels[syncv1alpha1.LabelComponent] != syncv1alpha1.ComponentDefaultRedis {
		return "", st.fail(syncv1alpha1.ReasonNameConflict, fmt.Sprintf("Secret %q in namespace %q, where the operator keeps its default Redis URL for the pipelines there, was not made by the operator: delete or rename it, or set spec.queue.redisSecretRef", DefaultRedisSecret, p.Namespace), false)
	}
	if len(snap.data) == 1 && bytes.Equal(snap.data["url"], url) {
		return versionOf(snap.annotations), nil
	}
	// The default Redis changed (or someone edited the copy): a merge patch
	// that holds the resourceVersion it was computed from, so a concurrent
	// change is not overwritten blindly.
	rev, _ := strconv.Atoi(snap.annotations[syncv1alpha1.AnnotationURLRevision])
	data := map[string]any{"url": url}
	for k := range snap.data {
		if k != "url" {
			data[k] = nil
		}
	}
	annotations := map[string]string{syncv1alpha1.AnnotationURLRevision: strconv.Itoa(rev + 1)}
	patch, err := json.Marshal(map[string]any{
		"metadata": map[string]any{"resourceVersion": snap.resourceVersion, "annotations": annotations},
		"data":     data,
	})
	if err != nil {
		return "", err
	}
	live := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: DefaultRedisSecret, Namespace: p.Namespace}}
	if err := r.Patch(ctx, live, client.RawPatch(types.MergePatchType, patch)); err != nil {
		if apierrors.IsForbidden(err) {
			return "", st.fail(syncv1alpha1.ReasonRedisNotConfigured, defaultRedisForbidden(p, "update"), true)
		}
		return "", fmt.Errorf("updating Secret %s: %w", DefaultRedisSecret, err)
	}
	r.secrets.forget(key)
	return versionOf(annotations), nil
}

func versionOf(annotations map[string]string) string {
	return DefaultRedisSecret + "=r" + annotations[syncv1alpha1.AnnotationURLRevision]
}

func defaultRedisForbidden(p *syncv1alpha1.SyncPipeline, verb string) string {
	return fmt.Sprintf("spec.queue.redisSecretRef is not set, and the operator may not %s its copy of the default Redis URL (Secret %q) in namespace %q: "+
		"set spec.queue.redisSecretRef to a Secret of this namespace holding a Redis URL, or let the operator keep that one Secret here "+
		"(Helm: add %q to defaultRedis.namespaces; by hand: a Role and RoleBinding, see the README)", verb, DefaultRedisSecret, p.Namespace, p.Namespace)
}

// releaseDefaultRedisSecret deletes the namespace's copy of the default
// Redis URL once no pipeline there (but p, which is going or names its own
// Redis now) uses it: a password should not linger.
func (r *Reconciler) releaseDefaultRedisSecret(ctx context.Context, p *syncv1alpha1.SyncPipeline) error {
	m := &metav1.PartialObjectMetadata{}
	m.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Secret"))
	err := r.Get(ctx, types.NamespacedName{Namespace: p.Namespace, Name: DefaultRedisSecret}, m)
	if err != nil || m.Labels[syncv1alpha1.LabelManagedBy] != syncv1alpha1.ManagedByOperator || m.Labels[syncv1alpha1.LabelComponent] != syncv1alpha1.ComponentDefaultRedis {
		return client.IgnoreNotFound(err)
	}
	var list syncv1alpha1.SyncPipelineList
	if err := r.List(ctx, &list, client.InNamespace(p.Namespace)); err != nil {
		return err
	}
	for i := range list.Items {
		o := &list.Items[i]
		if o.UID != p.UID && o.DeletionTimestamp.IsZero() && o.Spec.Queue.RedisSecretRef == nil {
			return nil
		}
	}
	err = r.Delete(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: p.Namespace, Name: DefaultRedisSecret}}, client.Preconditions{UID: &m.UID})
	if apierrors.IsNotFound(err) || apierrors.IsForbidden(err) || apierrors.IsConflict(err) {
		return nil
	}
	return err
}
