package deploy

import (
	"context"
	"fmt"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

const fieldOwner = client.FieldOwner("sisporta-deploytest")

// ensureNamespace creates a namespace (for real: dry-run objects need it),
// with the given labels, and a default ServiceAccount, which envtest has no
// controller to create.
func ensureNamespace(t *testing.T, name string, labels map[string]string) {
	t.Helper()
	ctx := context.Background()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}
	if err := env.Client.Create(ctx, ns); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default", Namespace: name}}
	if err := env.Client.Create(ctx, sa); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
}

// applyCRD applies a CRD for real (server-side apply) and waits until the
// API server serves its kind.
func applyCRD(t *testing.T, obj *unstructured.Unstructured) {
	t.Helper()
	ctx := context.Background()
	obj = obj.DeepCopy()
	obj.SetManagedFields(nil)
	if err := env.Client.Patch(ctx, obj, client.Apply, client.ForceOwnership, fieldOwner); err != nil {
		t.Fatalf("applying CRD %s: %v", obj.GetName(), err)
	}
	// Waiting for a condition the API server sets, not asserting a duration.
	err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		var crd apiextensionsv1.CustomResourceDefinition
		if err := env.Client.Get(ctx, client.ObjectKey{Name: obj.GetName()}, &crd); err != nil {
			return false, err
		}
		for _, c := range crd.Status.Conditions {
			if c.Type == apiextensionsv1.Established && c.Status == apiextensionsv1.ConditionTrue {
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		t.Fatalf("CRD %s never became established: %v", obj.GetName(), err)
	}
}

// acceptAll applies the CRDs among objs and server-side dry-runs every
// other object: the API server validates and admits each as it would on
// install, without storing it.
func acceptAll(t *testing.T, objs []*unstructured.Unstructured) {
	t.Helper()
	for _, o := range objs {
		if o.GetKind() == "CustomResourceDefinition" {
			applyCRD(t, o)
		}
	}
	for _, o := range objs {
		if o.GetKind() == "CustomResourceDefinition" {
			continue
		}
		obj := o.DeepCopy()
		if err := env.Client.Patch(context.Background(), obj, client.Apply, client.ForceOwnership, fieldOwner, client.DryRunAll); err != nil {
			t.Errorf("the API server refuses %s %s/%s: %v", o.GetKind(), o.GetNamespace(), o.GetName(), err)
		}
	}
}

// restrictedNS enforces the restricted Pod Security Standard.
const restrictedNS = "pss-restricted"

// acceptPodsUnderRestrictedPSS dry-run creates a Pod from each
// Deployment's template in a namespace that enforces the restricted Pod
// Security Standard: PodSecurity admission refuses any pod that breaks it.
func acceptPodsUnderRestrictedPSS(t *testing.T, objs []*unstructured.Unstructured) {
	t.Helper()
	ensureNamespace(t, restrictedNS, map[string]string{
		"pod-security.kubernetes.io/enforce":         "restricted",
		"pod-security.kubernetes.io/enforce-version": "latest",
	})
	deployments := ofKind(objs, "Deployment")
	if len(deployments) == 0 {
		t.Fatal("no Deployment rendered")
	}
	for _, u := range deployments {
		var d appsv1.Deployment
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, &d); err != nil {
			t.Fatal(err)
		}
		spec := d.Spec.Template.Spec.DeepCopy()
		spec.ServiceAccountName = "default" // the chart's own lives in the release namespace
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("pss-%s", d.Name), Namespace: restrictedNS, Labels: d.Spec.Template.Labels},
			Spec:       *spec,
		}
		if err := env.Client.Create(context.Background(), pod, client.DryRunAll); err != nil {
			t.Errorf("pods of Deployment %s break the restricted Pod Security Standard: %v", d.Name, err)
		}
	}
}

func TestChartObjectsAreAcceptedByTheAPIServer(t *testing.T) {
	ensureNamespace(t, releaseNS, nil)
	ensureNamespace(t, "sales", nil)
	ensureNamespace(t, "monitoring", nil) // metrics.prometheusRule.namespace of every option
	installMonitoringCRDs(t)
	for name, args := range map[string][]string{
		"defaults":                        nil,
		"every option":                    {"-f", allValues},
		"existing redis":                  {"--set", "defaultRedis.existingSecret.name=queue-redis,redis.enabled=false,networkPolicy.enabled=false"},
		"ephemeral redis and user secret": {"--set", "redis.enabled=true,redis.persistence.enabled=false,redis.auth.existingSecret=my-redis"},
	} {
		t.Run(name, func(t *testing.T) {
			objs := helmTemplate(t, args...)
			acceptAll(t, objs)
			acceptPodsUnderRestrictedPSS(t, objs)
		})
	}
}
