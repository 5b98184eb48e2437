package deploy

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	syncv1alpha1 "github.com/sisporta/sisporta/api/v1alpha1"
)

// helmOnCluster runs helm against the envtest API server.
func helmOnCluster(t *testing.T, args ...string) string {
	t.Helper()
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(kubeconfig, env.KubeConfig(), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(helmBin(t), args...)
	cmd.Dir = repoRoot(t)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+kubeconfig, "HELM_CACHE_HOME="+t.TempDir(), "HELM_CONFIG_HOME="+t.TempDir(), "HELM_DATA_HOME="+t.TempDir())
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("helm %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// adoptCRD hands the CRD that the test environment installed from config/
// to the Helm release, as a cluster moving from kustomize to Helm would
// (README: Install).
func adoptCRD(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	var crd apiextensionsv1.CustomResourceDefinition
	if err := env.Client.Get(ctx, client.ObjectKey{Name: "syncpipelines.sync.sisporta.io"}, &crd); err != nil {
		t.Fatal(err)
	}
	patch := client.MergeFrom(crd.DeepCopy())
	if crd.Labels == nil {
		crd.Labels = map[string]string{}
	}
	if crd.Annotations == nil {
		crd.Annotations = map[string]string{}
	}
	crd.Labels["app.kubernetes.io/managed-by"] = "Helm"
	crd.Annotations["meta.helm.sh/release-name"] = releaseName
	crd.Annotations["meta.helm.sh/release-namespace"] = releaseNS
	if err := env.Client.Patch(ctx, &crd, patch); err != nil {
		t.Fatal(err)
	}
}

func redisPassword(t *testing.T) string {
	t.Helper()
	var s corev1.Secret
	if err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: releaseNS, Name: "sisporta-redis-auth"}, &s); err != nil {
		t.Fatalf("the bundled Redis's Secret: %v", err)
	}
	if len(s.Data["password"]) < 16 || !strings.Contains(string(s.Data["url"]), string(s.Data["password"])) {
		t.Fatal("the Redis Secret needs a password and a URL holding it")
	}
	return string(s.Data["password"])
}

// TestHelmInstallUpgradeUninstall installs the chart with every option on
// a real API server, upgrades it and uninstalls it.
func TestHelmInstallUpgradeUninstall(t *testing.T) {
	ctx := context.Background()
	ensureNamespace(t, releaseNS, nil)
	ensureNamespace(t, "sales", nil)
	ensureNamespace(t, "monitoring", nil) // metrics.prometheusRule.namespace of every option
	installMonitoringCRDs(t)
	adoptCRD(t)

	out := helmOnCluster(t, "install", releaseName, chartDir, "--namespace", releaseNS, "-f", allValues)
	notes := out[strings.Index(out, "NOTES:"):]
	for _, want := range []string{"kind: SyncPipeline", syncv1alpha1.AnnotationRunNow, "kubectl get syncpipelines", "sisporta-redis-auth"} {
		if !strings.Contains(notes, want) {
			t.Errorf("NOTES.txt does not mention %q:\n%s", want, notes)
		}
	}
	var d appsv1.Deployment
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: releaseNS, Name: "sisporta"}, &d); err != nil {
		t.Fatalf("the operator Deployment was not installed: %v", err)
	}
	password := redisPassword(t)

	helmOnCluster(t, "upgrade", releaseName, chartDir, "--namespace", releaseNS, "-f", allValues, "--set", "logLevel=info")
	if redisPassword(t) != password {
		t.Error("helm upgrade changed the bundled Redis's password: workers holding the old URL would be locked out")
	}

	// envtest runs no Jobs: the pre-delete hook that stops the operator first
	// (uninstall.stopOperatorFirst) would wait for ever; it is proven on a
	// real node by the e2e suite.
	out = helmOnCluster(t, "uninstall", releaseName, "--namespace", releaseNS, "--no-hooks")
	if !strings.Contains(out, "kept due to the resource policy") {
		t.Errorf("helm uninstall should report the CRD kept:\n%s", out)
	}
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: releaseNS, Name: "sisporta"}, &d); !apierrors.IsNotFound(err) {
		t.Errorf("the operator Deployment outlived helm uninstall: %v", err)
	}
	var crd apiextensionsv1.CustomResourceDefinition
	if err := env.Client.Get(ctx, client.ObjectKey{Name: "syncpipelines.sync.sisporta.io"}, &crd); err != nil || !crd.DeletionTimestamp.IsZero() {
		t.Errorf("crds.keep must keep the CRD (and so every SyncPipeline) on uninstall: %v", err)
	}
}
