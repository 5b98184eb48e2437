package cmd

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// The chart's uninstall hook scales the operator to zero and returns once
// its pods are gone (so the operator released its Lease while its RBAC was
// still there), and not before.
func TestStopOperatorWaitsForItsPods(t *testing.T) {
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(kubeconfig, env.KubeConfig(), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("KUBECONFIG", kubeconfig)
	ctx := context.Background()
	c := env.Client
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "stop-"}}
	if err := c.Create(ctx, ns); err != nil {
		t.Fatal(err)
	}
	labels := map[string]string{"app.kubernetes.io/name": "sisporta"}
	d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "sisporta", Namespace: ns.Name}, Spec: appsv1.DeploymentSpec{
		Replicas: ptr.To(int32(1)), Selector: &metav1.LabelSelector{MatchLabels: labels},
		Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "manager", Image: "sisporta"}}}},
	}}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "sisporta-abc", Namespace: ns.Name, Labels: labels},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "manager", Image: "sisporta"}}}}
	for _, o := range []client.Object{d, pod} {
		if err := c.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	done := make(chan error, 1)
	go func() {
		root := newRootCommand()
		root.SetArgs([]string{"stop-operator", "--namespace=" + ns.Name, "--deployment=sisporta", "--timeout=1m"})
		done <- root.ExecuteContext(ctx)
	}()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var live appsv1.Deployment
		if err := c.Get(ctx, client.ObjectKeyFromObject(d), &live); err == nil && ptr.Deref(live.Spec.Replicas, -1) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the operator Deployment was not scaled to zero")
		}
		time.Sleep(100 * time.Millisecond)
	}
	select {
	case err := <-done:
		t.Fatalf("returned while the operator's pod still ran: %v", err)
	case <-time.After(2 * time.Second):
	}
	if err := c.Delete(ctx, pod, client.GracePeriodSeconds(0)); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("stop-operator: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("did not return once the operator's pod was gone")
	}
}
