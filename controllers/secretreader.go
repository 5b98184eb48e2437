package controllers

import (
	"context"
	"sync"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// secretReader reads Secrets without an informer holding their values: the
// metadata cache (filled by the metadata-only watch) tells whether a Secret
// changed, and only then is it read from the API server. Values live in
// this process's memory only, for the Redis URL and key checks.
type secretReader struct {
	meta client.Reader
	api  client.Reader

	mu   sync.Mutex
	seen map[types.NamespacedName]*secretSnapshot
}

type secretSnapshot struct {
	resourceVersion string
	labels          map[string]string
	annotations     map[string]string
	data            map[string][]byte
}

func newSecretReader(meta, api client.Reader) *secretReader {
	return &secretReader{meta: meta, api: api, seen: map[types.NamespacedName]*secretSnapshot{}}
}

// get returns a Secret's data, or a NotFound error.
func (s *secretReader) get(ctx context.Context, key types.NamespacedName) (*secretSnapshot, error) {
	m := &metav1.PartialObjectMetadata{}
	m.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Secret"))
	if err := s.meta.Get(ctx, key, m); err != nil {
		s.forget(key)
		return nil, err
	}
	s.mu.Lock()
	snap := s.seen[key]
	s.mu.Unlock()
	if snap != nil && snap.resourceVersion == m.ResourceVersion {
		return snap, nil
	}
	return s.getUncached(ctx, key)
}

// getUncached reads a Secret from the API server and remembers it.
func (s *secretReader) getUncached(ctx context.Context, key types.NamespacedName) (*secretSnapshot, error) {
	sec := &corev1.Secret{}
	if err := s.api.Get(ctx, key, sec); err != nil {
		s.forget(key)
		return nil, err
	}
	snap := &secretSnapshot{resourceVersion: sec.ResourceVersion, labels: sec.Labels, annotations: sec.Annotations, data: sec.Data}
	s.mu.Lock()
	s.seen[key] = snap
	s.mu.Unlock()
	return snap, nil
}

func (s *secretReader) forget(key types.NamespacedName) {
	s.mu.Lock()
	delete(s.seen, key)
	s.mu.Unlock()
}
