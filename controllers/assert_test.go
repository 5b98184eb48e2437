package controllers

import (
	"fmt"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	syncv1alpha1 "github.com/sisporta/sisporta/api/v1alpha1"
	"github.com/sisporta/sisporta/runner/pipeline"
)

func mustQuantity(s string) resource.Quantity { return resource.MustParse(s) }

func keyOf(ns, name string) types.NamespacedName {
	return types.NamespacedName{Namespace: ns, Name: name}
}

func errorf(format string, args ...any) error { return fmt.Errorf(format, args...) }

func assertOwnedBy(t *testing.T, o client.Object, p *syncv1alpha1.SyncPipeline) {
	t.Helper()
	ref := metav1.GetControllerOf(o)
	if ref == nil || ref.UID != p.UID || ref.Kind != "SyncPipeline" || !ptr.Deref(ref.BlockOwnerDeletion, false) {
		t.Errorf("%T %s: controller reference %+v, want the pipeline %s", o, o.GetName(), ref, p.Name)
	}
	l := o.GetLabels()
	if l[syncv1alpha1.LabelPipeline] != p.Name || l[syncv1alpha1.LabelManagedBy] != syncv1alpha1.ManagedByOperator {
		t.Errorf("%T %s: labels %v, want pipeline and managed-by", o, o.GetName(), l)
	}
}

// assertRunnerPod checks what every extractor and worker pod must be:
// non-root, read-only, unprivileged, the pipeline mounted read-only.
func assertRunnerPod(t *testing.T, pod corev1.PodSpec) {
	t.Helper()
	if len(pod.Containers) != 1 {
		t.Fatalf("%d containers, want 1", len(pod.Containers))
	}
	c := pod.Containers[0]
	if c.Image == "" {
		t.Error("no image")
	}
	sc := c.SecurityContext
	if sc == nil || !ptr.Deref(sc.RunAsNonRoot, false) || !ptr.Deref(sc.ReadOnlyRootFilesystem, false) || ptr.Deref(sc.AllowPrivilegeEscalation, true) ||
		sc.Capabilities == nil || len(sc.Capabilities.Drop) != 1 || sc.Capabilities.Drop[0] != "ALL" {
		t.Errorf("container security context %+v: want non-root, read-only root, no privilege escalation, all capabilities dropped", sc)
	}
	if psc := pod.SecurityContext; psc == nil || !ptr.Deref(psc.RunAsNonRoot, false) || psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("pod security context %+v: want non-root with the RuntimeDefault seccomp profile", psc)
	}
	if ptr.Deref(pod.AutomountServiceAccountToken, true) {
		t.Error("the service account token is mounted; runners need no API access")
	}
	mounted := false
	for _, m := range c.VolumeMounts {
		if m.MountPath == "/etc/sisporta" && m.ReadOnly {
			mounted = true
		}
	}
	if !mounted {
		t.Errorf("mounts %+v: want the config read-only at /etc/sisporta", c.VolumeMounts)
	}
}

// assertEnv checks env vars; "secret name/key" means a secretKeyRef.
func assertEnv(t *testing.T, c corev1.Container, want map[string]string) {
	t.Helper()
	got := map[string]string{}
	for _, e := range c.Env {
		switch {
		case e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil:
			got[e.Name] = "secret " + e.ValueFrom.SecretKeyRef.Name + "/" + e.ValueFrom.SecretKeyRef.Key
		default:
			got[e.Name] = e.Value
		}
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("env %s = %q, want %q", k, got[k], v)
		}
	}
	if len(got) != len(want) {
		t.Errorf("env %v, want exactly %v", got, want)
	}
}

// decodePipelineYAML reads the rendered config the way the extractor and
// workers do.
func decodePipelineYAML(doc string) (*syncv1alpha1.SyncPipeline, error) {
	return pipeline.Parse([]byte(doc))
}
