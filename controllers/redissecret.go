package controllers

import (
	"bytes"
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	syncv1alpha1 "github.com/sisporta/sisporta/api/v1alpha1"
)

// ensureDefaultRedisSecret keeps <pipeline>-sisporta-redis holding the
// operator's default Redis URL, so the extractor and workers take it from a
// Secret and the URL never sits in a pod spec. It returns the Secret's
// resourceVersion. The live Secret is read uncached like every Secret.
func (r *Reconciler) ensureDefaultRedisSecret(ctx context.Context, st *pipelineState) (string, error) {
	p := st.p
	want := &corev1.Secret{
		ObjectMeta: objectMeta(p, redisSecretName(p), componentRedis),
		Type:       corev1.SecretTypeOpaque,
		Data:       map[string][]byte{"url": []byte(r.DefaultRedisURL)},
	}
	live := &corev1.Secret{}
	err := r.APIReader.Get(ctx, client.ObjectKeyFromObject(want), live)
	if apierrors.IsNotFound(err) {
		if err := controllerutil.SetControllerReference(p, want, r.Scheme()); err != nil {
			return "", err
		}
		if err := r.Create(ctx, want); err != nil {
			return "", fmt.Errorf("creating Secret %s: %w", want.Name, err)
		}
		return want.ResourceVersion, nil
	}
	if err != nil {
		return "", err
	}
	if err := r.checkOwnership(st, live, "Secret"); err != nil {
		return "", err
	}
	if metaInSync(p, want, live) && len(live.Data) == 1 && bytes.Equal(live.Data["url"], want.Data["url"]) {
		return live.ResourceVersion, nil
	}
	if err := mergeMeta(r, p, want, live); err != nil {
		return "", err
	}
	live.Data = want.Data
	live.StringData = nil
	if err := r.Update(ctx, live); err != nil {
		return "", fmt.Errorf("updating Secret %s: %w", live.Name, err)
	}
	return live.ResourceVersion, nil
}

// removeDefaultRedisSecret deletes the operator's copy of the default Redis
// URL once the pipeline names its own Redis: a password should not linger.
func (r *Reconciler) removeDefaultRedisSecret(ctx context.Context, p *syncv1alpha1.SyncPipeline) error {
	live := &corev1.Secret{}
	err := r.APIReader.Get(ctx, types.NamespacedName{Namespace: p.Namespace, Name: redisSecretName(p)}, live)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if !metav1IsControlledBy(live, p) {
		return nil
	}
	return client.IgnoreNotFound(r.Delete(ctx, live, client.Preconditions{UID: &live.UID}))
}
