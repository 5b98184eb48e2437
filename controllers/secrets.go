package controllers

import (
	"context"
	"fmt"
	"sort"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"

	syncv1alpha1 "github.com/sisporta/sisporta/api/v1alpha1"
)

type secretUse struct {
	field string
	ref   syncv1alpha1.SecretKeySelector
}

// reconcileSecrets checks that every referenced Secret and key exists
// (without copying any value anywhere) and resolves the Redis URL the
// operator itself uses to watch the queue.
func (r *Reconciler) reconcileSecrets(ctx context.Context, st *pipelineState) error {
	p := st.p
	uses := []secretUse{
		{"spec.source.dsnSecretRef", p.Spec.Source.DSNSecretRef},
		{"spec.target.dsnSecretRef", p.Spec.Target.DSNSecretRef},
	}
	if ref := p.Spec.Queue.RedisSecretRef; ref != nil {
		uses = append(uses, secretUse{"spec.queue.redisSecretRef", *ref})
	}
	var missing, versions []string
	var redisURL string
	for _, u := range uses {
		snap, err := r.secrets.get(ctx, types.NamespacedName{Namespace: p.Namespace, Name: u.ref.Name})
		switch {
		case apierrors.IsNotFound(err):
			missing = append(missing, fmt.Sprintf("%s names Secret %q, which does not exist in namespace %q: create it with the key %q", u.field, u.ref.Name, p.Namespace, u.ref.Key))
			continue
		case err != nil:
			return fmt.Errorf("reading Secret %s/%s: %w", p.Namespace, u.ref.Name, err)
		}
		val, ok := snap.data[u.ref.Key]
		if !ok || len(val) == 0 {
			missing = append(missing, fmt.Sprintf("%s: Secret %q has no key %q (its keys: %s): add the key or point %s.key at one it has", u.field, u.ref.Name, u.ref.Key, keyList(snap.data), u.field))
			continue
		}
		versions = append(versions, u.ref.Name+"="+snap.resourceVersion)
		st.secretValues = append(st.secretValues, string(val))
		if u.field == "spec.queue.redisSecretRef" {
			redisURL = strings.TrimSpace(string(val))
		}
	}
	if len(missing) > 0 {
		return st.fail(syncv1alpha1.ReasonSecretMissing, strings.Join(missing, "; "), true)
	}

	if p.Spec.Queue.RedisSecretRef == nil {
		if r.DefaultRedisURL == "" {
			return st.fail(syncv1alpha1.ReasonRedisNotConfigured, "spec.queue.redisSecretRef is not set and the operator has no default Redis: set spec.queue.redisSecretRef to a Secret key holding a Redis URL (redis://:password@host:6379/0), or start the operator with --default-redis-url", false)
		}
		redisURL = r.DefaultRedisURL
		st.secretValues = append(st.secretValues, redisURL)
		v, err := r.ensureDefaultRedisSecret(ctx, st)
		if err != nil {
			return err
		}
		versions = append(versions, v)
	} else if err := r.releaseDefaultRedisSecret(ctx, p); err != nil {
		return err
	}
	if err := checkRedisURL(redisURL); err != nil {
		where := "the operator's --default-redis-url"
		if ref := p.Spec.Queue.RedisSecretRef; ref != nil {
			where = fmt.Sprintf("key %q of Secret %q (spec.queue.redisSecretRef)", ref.Key, ref.Name)
		}
		return st.fail(syncv1alpha1.ReasonInvalidRedisURL, fmt.Sprintf("%s is not a usable Redis URL: %v; write redis://[[user]:password@]host:port[/db]", where, err), false)
	}
	st.redisURL = redisURL
	r.redis.remember(types.NamespacedName{Namespace: p.Namespace, Name: p.Name}, redisURL)
	st.secretsVersion = strings.Join(versions, ",")
	return nil
}

// keyList names a Secret's keys (never its values) for messages.
func keyList(data map[string][]byte) string {
	if len(data) == 0 {
		return "none"
	}
	keys := make([]string, 0, len(data))
	for k := range data {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return strings.Join(keys, ", ")
}
