package controllers

import (
	"context"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	syncv1alpha1 "github.com/sisporta/sisporta/api/v1alpha1"
)

// TestDriftIsRepaired: hand edits to owned objects are put back.
func TestDriftIsRepaired(t *testing.T) {
	ns := newNamespace(t)
	createDSNSecrets(t, ns)
	createPipeline(t, newPipeline(ns, "erp"))
	cj := getObject(t, ns, "erp-extract", &batchv1.CronJob{})
	d := getObject(t, ns, "erp-worker", &appsv1.Deployment{})
	cm := getObject(t, ns, "erp-sisporta", &corev1.ConfigMap{})
	sec := getObject(t, ns, DefaultRedisSecret, &corev1.Secret{})

	update(t, cj, func(cj *batchv1.CronJob) {
		cj.Spec.Schedule = "* * * * *"
		cj.Spec.ConcurrencyPolicy = batchv1.AllowConcurrent
		cj.Spec.JobTemplate.Spec.Template.Spec.Containers[0].Image = "evil.example/miner"
	})
	update(t, d, func(d *appsv1.Deployment) {
		c := &d.Spec.Template.Spec.Containers[0]
		c.Args = append(c.Args, "--debug-dump-dsn")
		c.Env = append(c.Env, corev1.EnvVar{Name: "EXTRA", Value: "1"})
		d.Spec.Template.Spec.Containers[0].SecurityContext.ReadOnlyRootFilesystem = new(false)
		d.OwnerReferences = nil
	})
	update(t, cm, func(cm *corev1.ConfigMap) { cm.Data["pipeline.yaml"] = "edited by hand" })
	update(t, sec, func(s *corev1.Secret) { s.Data["url"] = []byte("redis://elsewhere:6379/0") })

	eventually(t, "CronJob repaired", func() error {
		if err := k8s().Get(context.Background(), client.ObjectKeyFromObject(cj), cj); err != nil {
			return err
		}
		if cj.Spec.Schedule != "*/15 * * * *" || cj.Spec.ConcurrencyPolicy != batchv1.ForbidConcurrent || cj.Spec.JobTemplate.Spec.Template.Spec.Containers[0].Image != testRunnerImage {
			return errorf("schedule %q, policy %s, image %s", cj.Spec.Schedule, cj.Spec.ConcurrencyPolicy, cj.Spec.JobTemplate.Spec.Template.Spec.Containers[0].Image)
		}
		return nil
	})
	eventually(t, "Deployment repaired", func() error {
		if err := k8s().Get(context.Background(), client.ObjectKeyFromObject(d), d); err != nil {
			return err
		}
		c := d.Spec.Template.Spec.Containers[0]
		if slices.Contains(c.Args, "--debug-dump-dsn") || len(c.Env) != 3 || !*c.SecurityContext.ReadOnlyRootFilesystem || metav1.GetControllerOf(d) == nil {
			return errorf("args %v, env %d, read-only %t, controller %v", c.Args, len(c.Env), *c.SecurityContext.ReadOnlyRootFilesystem, metav1.GetControllerOf(d))
		}
		return nil
	})
	eventually(t, "ConfigMap repaired", func() error {
		if err := k8s().Get(context.Background(), client.ObjectKeyFromObject(cm), cm); err != nil {
			return err
		}
		if !strings.Contains(cm.Data["pipeline.yaml"], "kind: SyncPipeline") {
			return errorf("still %q", cm.Data["pipeline.yaml"])
		}
		return nil
	})
	eventually(t, "default Redis Secret repaired", func() error {
		if err := k8s().Get(context.Background(), client.ObjectKeyFromObject(sec), sec); err != nil {
			return err
		}
		if string(sec.Data["url"]) != redisURL {
			return errorf("url changed")
		}
		return nil
	})

	// Deleted objects come back.
	deleted := map[string]client.Object{"erp-sisporta": cm, DefaultRedisSecret: sec, "erp-extract": cj}
	for _, o := range deleted {
		if err := k8s().Delete(context.Background(), o); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "deleted objects recreated", func() error {
		for name, old := range deleted {
			o := old.DeepCopyObject().(client.Object)
			if err := k8s().Get(context.Background(), keyOf(ns, name), o); err != nil {
				return err
			}
			if o.GetUID() == old.GetUID() {
				return errorf("%s not yet recreated", name)
			}
		}
		return nil
	})
	waitCondition(t, ns, "erp", syncv1alpha1.ConditionReady, "True", "")
}

// TestObjectsAreWrittenOnlyWhenTheyDiffer: reconciles that find the owned
// objects as they should be write nothing, even after a pipeline change
// that concerns only some of them.
func TestObjectsAreWrittenOnlyWhenTheyDiffer(t *testing.T) {
	ns := newNamespace(t)
	createDSNSecrets(t, ns)
	p := createPipeline(t, newPipeline(ns, "erp"))
	waitCondition(t, ns, "erp", syncv1alpha1.ConditionReady, "True", "")
	versions := func() map[string]string {
		out := map[string]string{}
		for name, o := range map[string]client.Object{
			"erp-extract": &batchv1.CronJob{}, "erp-worker": &appsv1.Deployment{}, "erp-sisporta": &corev1.ConfigMap{}, DefaultRedisSecret: &corev1.Secret{},
		} {
			if err := k8s().Get(context.Background(), keyOf(ns, name), o); err != nil {
				t.Fatal(err)
			}
			out[name] = o.GetResourceVersion()
		}
		return out
	}
	before := versions()
	waitReconciles(t, ns, "erp", 3)
	if after := versions(); !mapsEqual(before, after) {
		t.Errorf("objects rewritten by reconciles that changed nothing:\n before %v\n after  %v", before, after)
	}

	// The stabilisation window is only in the ConfigMap: CronJob, workers
	// (no restart) and the Secret stay as they are.
	update(t, p, func(p *syncv1alpha1.SyncPipeline) { p.Spec.Workers.ScaleDownStabilizationSeconds = 60 })
	eventually(t, "ConfigMap updated", func() error {
		cm := &corev1.ConfigMap{}
		if err := k8s().Get(context.Background(), keyOf(ns, "erp-sisporta"), cm); err != nil {
			return err
		}
		if !strings.Contains(cm.Data[configKey], "scaleDownStabilizationSeconds: 60") {
			return errorf("not yet")
		}
		return nil
	})
	waitReconciles(t, ns, "erp", 2)
	after := versions()
	for _, name := range []string{"erp-extract", "erp-worker", DefaultRedisSecret} {
		if after[name] != before[name] {
			t.Errorf("%s was rewritten for a change that does not concern it", name)
		}
	}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}
