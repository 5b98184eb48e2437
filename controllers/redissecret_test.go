package controllers

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	syncv1alpha1 "github.com/sisporta/sisporta/api/v1alpha1"
	"github.com/sisporta/sisporta/test/testenv"
)

// TestDefaultRedisSecretIsOnePerNamespaceAndGoesWithItsLastUser: the
// pipelines of a namespace that name no Redis share one operator-kept copy
// of the default Redis URL; it goes when the last of them names its own
// Redis or is deleted.
func TestDefaultRedisSecretIsOnePerNamespaceAndGoesWithItsLastUser(t *testing.T) {
	ns := newNamespace(t)
	createDSNSecrets(t, ns)
	rdb, _ := testRedis(t)
	cleanupQueue(t, rdb, ns, "erp")
	cleanupQueue(t, rdb, ns, "crm")
	erp := createPipeline(t, newPipeline(ns, "erp"))
	createPipeline(t, newPipeline(ns, "crm"))
	waitCondition(t, ns, "erp", syncv1alpha1.ConditionReady, metav1.ConditionTrue, "")
	waitCondition(t, ns, "crm", syncv1alpha1.ConditionReady, metav1.ConditionTrue, "")

	var list corev1.SecretList
	if err := k8s().List(context.Background(), &list, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	var copies []string
	for _, s := range list.Items {
		if s.Name != sourceSecret && s.Name != targetSecret {
			copies = append(copies, s.Name)
		}
	}
	if len(copies) != 1 || copies[0] != DefaultRedisSecret {
		t.Fatalf("Secrets made by the operator: %v, want only %s", copies, DefaultRedisSecret)
	}
	sec := getObject(t, ns, DefaultRedisSecret, &corev1.Secret{})
	if string(sec.Data["url"]) != redisURL || len(sec.Data) != 1 {
		t.Errorf("the copy holds %v, want only url: the operator's default URL", keys(sec.Data))
	}
	if l := sec.Labels; l[syncv1alpha1.LabelManagedBy] != syncv1alpha1.ManagedByOperator || l[syncv1alpha1.LabelComponent] != syncv1alpha1.ComponentDefaultRedis {
		t.Errorf("labels %v, want managed-by %s and component %s", l, syncv1alpha1.ManagedByOperator, syncv1alpha1.ComponentDefaultRedis)
	}
	if len(sec.OwnerReferences) != 0 {
		t.Errorf("owner references %v: the copy is shared, no pipeline owns it", sec.OwnerReferences)
	}

	// One pipeline names its own Redis: the other still uses the copy.
	createSecret(t, ns, "own-redis", map[string]string{"url": redisURL})
	update(t, erp, func(p *syncv1alpha1.SyncPipeline) {
		p.Spec.Queue.RedisSecretRef = &syncv1alpha1.SecretKeySelector{Name: "own-redis", Key: "url"}
	})
	eventually(t, "erp's pods use the named Redis Secret", func() error {
		cj := &batchv1.CronJob{}
		if err := k8s().Get(context.Background(), keyOf(ns, "erp-extract"), cj); err != nil {
			return err
		}
		for _, e := range cj.Spec.JobTemplate.Spec.Template.Spec.Containers[0].Env {
			if e.Name == envRedisURL && e.ValueFrom.SecretKeyRef.Name == "own-redis" {
				return nil
			}
		}
		return errorf("CronJob still points elsewhere")
	})
	waitReconciles(t, ns, "erp", 2)
	if err := k8s().Get(context.Background(), keyOf(ns, DefaultRedisSecret), &corev1.Secret{}); err != nil {
		t.Fatalf("the copy went while crm still uses it: %v", err)
	}

	// The last user goes: so does the copy.
	if err := k8s().Delete(context.Background(), &syncv1alpha1.SyncPipeline{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "crm"}}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the copy removed with its last user", func() error {
		err := k8s().Get(context.Background(), keyOf(ns, DefaultRedisSecret), &corev1.Secret{})
		if isNotFound(err) {
			return nil
		}
		return errorf("still there (%v)", err)
	})
	waitCondition(t, ns, "erp", syncv1alpha1.ConditionReady, metav1.ConditionTrue, "")
}

// TestDefaultRedisSecretIsWrittenOnlyWhereARoleAllowsIt runs the secrets
// step as a user holding exactly the rules make manifests generates
// (config/rbac/role.yaml): the ClusterRole cluster-wide, and the namespaced
// Role only where it is bound. Without the Role the pipeline is told what
// to do; with it the copy is created, repaired and removed.
func TestDefaultRedisSecretIsWrittenOnlyWhereARoleAllowsIt(t *testing.T) {
	ctx := context.Background()
	user := "sisporta-test-" + newNamespace(t) // a user of the test's own
	clusterRole, role := generatedRoles(t)
	clusterRole.Name = user
	mustCreate(t, clusterRole)
	mustCreate(t, &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: user},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: user},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: user}},
	})
	t.Cleanup(func() {
		_ = k8s().Delete(ctx, &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: user}})
		_ = k8s().Delete(ctx, &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: user}})
	})
	cfg := rest.CopyConfig(env.Config)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: user}
	as, err := client.New(cfg, client.Options{Scheme: env.Scheme})
	if err != nil {
		t.Fatal(err)
	}

	// The pipeline exists only in memory: the suite's manager, which may do
	// anything, must not make the Secret first.
	ns := newNamespace(t)
	createDSNSecrets(t, ns)
	p := newPipeline(ns, "erp")
	p.UID = types.UID("uid-" + ns)
	r := &Reconciler{Client: as, APIReader: as, Recorder: events.NewFakeRecorder(10), Options: Options{RunnerImage: testRunnerImage, DefaultRedisURL: redisURL},
		secrets: newSecretReader(as, as), redis: newRedisPool()}
	step := func() error {
		return r.reconcileSecrets(ctx, newPipelineState(p, time.Now()))
	}

	var pr *problem
	if err := step(); !errors.As(err, &pr) || pr.reason != syncv1alpha1.ReasonRedisNotConfigured {
		t.Fatalf("without a Role in %s: got %v, want %s", ns, err, syncv1alpha1.ReasonRedisNotConfigured)
	}
	for _, want := range []string{ns, DefaultRedisSecret, "spec.queue.redisSecretRef", "defaultRedis.namespaces"} {
		if !strings.Contains(pr.message, want) {
			t.Errorf("message %q does not say %q", pr.message, want)
		}
	}
	if err := k8s().Get(ctx, keyOf(ns, DefaultRedisSecret), &corev1.Secret{}); !isNotFound(err) {
		t.Fatalf("a Secret was made without the Role (%v)", err)
	}
	// Nor may it touch any other Secret of the namespace.
	other := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: sourceSecret}}
	if err := as.Delete(ctx, other); err == nil || !strings.Contains(err.Error(), "forbidden") {
		t.Errorf("deleting Secret %s as the operator: %v, want forbidden", sourceSecret, err)
	}

	role.Namespace, role.Name = ns, "sisporta-default-redis"
	mustCreate(t, role)
	mustCreate(t, &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "sisporta-default-redis"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: role.Name},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: user}},
	})
	eventually(t, "the copy made once the Role allows it", step)
	sec := getObject(t, ns, DefaultRedisSecret, &corev1.Secret{})
	if string(sec.Data["url"]) != redisURL {
		t.Errorf("the copy holds another URL")
	}

	// Edited by hand: put back (a patch, allowed on this one name).
	update(t, sec, func(s *corev1.Secret) {
		s.Data = map[string][]byte{"url": []byte("redis://elsewhere:6379/0"), "extra": []byte("x")}
	})
	eventually(t, "the copy repaired", func() error {
		if err := step(); err != nil {
			return err
		}
		s := &corev1.Secret{}
		if err := k8s().Get(ctx, keyOf(ns, DefaultRedisSecret), s); err != nil {
			return err
		}
		if string(s.Data["url"]) != redisURL || len(s.Data) != 1 || s.Annotations[syncv1alpha1.AnnotationURLRevision] != "2" {
			return errorf("data keys %v, revision %q", keys(s.Data), s.Annotations[syncv1alpha1.AnnotationURLRevision])
		}
		return nil
	})
	if err := as.Delete(ctx, other); err == nil || !strings.Contains(err.Error(), "forbidden") {
		t.Errorf("with the Role, deleting Secret %s as the operator: %v, want forbidden", sourceSecret, err)
	}

	// Its last user names its own Redis: the copy goes (the one name the
	// Role lets it delete).
	createSecret(t, ns, "own-redis", map[string]string{"url": redisURL})
	p.Spec.Queue.RedisSecretRef = &syncv1alpha1.SecretKeySelector{Name: "own-redis", Key: "url"}
	eventually(t, "the copy removed", func() error {
		if err := step(); err != nil {
			return err
		}
		if err := k8s().Get(ctx, keyOf(ns, DefaultRedisSecret), &corev1.Secret{}); !isNotFound(err) {
			return errorf("still there (%v)", err)
		}
		return nil
	})
}

// generatedRoles reads the operator's ClusterRole and namespaced Role that
// controller-gen writes from the markers in doc.go.
func generatedRoles(t *testing.T) (*rbacv1.ClusterRole, *rbacv1.Role) {
	t.Helper()
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(root, "config", "rbac", "role.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var cr *rbacv1.ClusterRole
	var r *rbacv1.Role
	for _, doc := range strings.Split(string(b), "\n---\n") {
		var kind struct {
			Kind string `json:"kind"`
		}
		if err := yaml.Unmarshal([]byte(doc), &kind); err != nil {
			t.Fatal(err)
		}
		switch kind.Kind {
		case "ClusterRole":
			cr = &rbacv1.ClusterRole{}
			err = yaml.Unmarshal([]byte(doc), cr)
		case "Role":
			r = &rbacv1.Role{}
			err = yaml.Unmarshal([]byte(doc), r)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if cr == nil || r == nil {
		t.Fatal("config/rbac/role.yaml holds no ClusterRole and Role: run make manifests")
	}
	return cr, r
}

func mustCreate(t *testing.T, o client.Object) {
	t.Helper()
	if err := k8s().Create(context.Background(), o); err != nil {
		t.Fatal(err)
	}
}
