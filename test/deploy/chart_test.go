package deploy

import (
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"

	syncv1alpha1 "github.com/sisporta/sisporta/api/v1alpha1"
)

func TestHelmLintStrict(t *testing.T) {
	for name, args := range map[string][]string{
		"defaults":      nil,
		"every option":  {"-f", allValues},
		"existing sets": {"--set", "defaultRedis.existingSecret.name=my-redis,crds.enabled=false,rbac.create=false,serviceAccount.create=false,serviceAccount.name=ops"},
	} {
		t.Run(name, func(t *testing.T) {
			out, err := run(t, helmBin(t), append([]string{"lint", "--strict", chartDir, "--namespace", releaseNS}, args...)...)
			if err != nil || !strings.Contains(out, "0 chart(s) failed") {
				t.Fatalf("helm lint --strict failed: %v\n%s", err, out)
			}
		})
	}
}

func deployment(t *testing.T, objs []*unstructured.Unstructured, name string) *appsv1.Deployment {
	t.Helper()
	var d appsv1.Deployment
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(find(t, objs, "Deployment", name).Object, &d); err != nil {
		t.Fatal(err)
	}
	return &d
}

func envVar(c corev1.Container, name string) *corev1.EnvVar {
	for i := range c.Env {
		if c.Env[i].Name == name {
			return &c.Env[i]
		}
	}
	return nil
}

func TestTemplateDefaults(t *testing.T) {
	objs := helmTemplate(t)
	want := []string{
		"CustomResourceDefinition/syncpipelines.sync.sisporta.io",
		"ServiceAccount/sisporta", "ClusterRole/sisporta-system-sisporta-manager", "ClusterRoleBinding/sisporta-system-sisporta-manager",
		"Role/sisporta-leader-election", "RoleBinding/sisporta-leader-election",
		"ClusterRole/sisporta-system-sisporta-syncpipeline-editor", "ClusterRole/sisporta-system-sisporta-syncpipeline-viewer",
		"Deployment/sisporta", "Service/sisporta-metrics", "NetworkPolicy/sisporta",
		"Job/sisporta-stop", // the pre-delete hook: helm uninstall stops the operator first
	}
	got := kindsAndNames(objs)
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("rendered objects:\n got %v\nwant %v", got, want)
	}

	crd := find(t, objs, "CustomResourceDefinition", "syncpipelines.sync.sisporta.io")
	if crd.GetAnnotations()["helm.sh/resource-policy"] != "keep" {
		t.Errorf("the CRD must be kept on uninstall by default (crds.keep): annotations %v", crd.GetAnnotations())
	}

	d := deployment(t, objs, "sisporta")
	c := d.Spec.Template.Spec.Containers[0]
	if c.Image != "ghcr.io/sisporta/sisporta:v0.1.0" {
		t.Errorf("operator image %q, want the chart's appVersion as tag", c.Image)
	}
	if e := envVar(c, "SISPORTA_RUNNER_IMAGE"); e == nil || e.Value != c.Image {
		t.Errorf("SISPORTA_RUNNER_IMAGE %+v, want the operator's own image %q", e, c.Image)
	}
	if e := envVar(c, "SISPORTA_DEFAULT_REDIS_URL"); e != nil {
		t.Errorf("no default Redis is configured, yet SISPORTA_DEFAULT_REDIS_URL is set: %+v", e)
	}
	if envVar(c, "SISPORTA_WATCH_NAMESPACE") != nil {
		t.Error("SISPORTA_WATCH_NAMESPACE set without watchNamespace")
	}
	if !slices.Contains(c.Args, "--leader-elect") || c.Args[0] != "manager" {
		t.Errorf("args %v, want manager --leader-elect ...", c.Args)
	}
	if c.Resources.Requests.Cpu().IsZero() || c.Resources.Limits.Memory().IsZero() {
		t.Errorf("resources %+v, want requests and a memory limit", c.Resources)
	}
}

func TestTemplateEveryOption(t *testing.T) {
	objs := helmTemplate(t, "-f", allValues)
	for _, kn := range [][2]string{
		{"Role", "sisporta-manager"}, {"RoleBinding", "sisporta-manager"},
		{"Secret", "sisporta-redis-auth"}, {"PersistentVolumeClaim", "sisporta-redis"},
		{"Service", "sisporta-redis"}, {"Deployment", "sisporta-redis"}, {"NetworkPolicy", "sisporta-redis"},
		{"ServiceMonitor", "sisporta"}, {"PodMonitor", "sisporta-workers"}, {"ConfigMap", "sisporta-dashboard"},
	} {
		find(t, objs, kn[0], kn[1])
	}
	if cr := ofKind(objs, "ClusterRoleBinding"); len(cr) != 0 {
		t.Errorf("watchNamespace must bind the operator's rights in that namespace only, found %v", kindsAndNames(cr))
	}
	if ns := find(t, objs, "Role", "sisporta-manager").GetNamespace(); ns != "sales" {
		t.Errorf("manager Role in namespace %q, want the watched namespace sales", ns)
	}
	crd := find(t, objs, "CustomResourceDefinition", "syncpipelines.sync.sisporta.io")
	if crd.GetAnnotations()["argocd.argoproj.io/sync-options"] != "ServerSideApply=true" {
		t.Errorf("crds.annotations not on the CRD: %v", crd.GetAnnotations())
	}

	c := deployment(t, objs, "sisporta").Spec.Template.Spec.Containers[0]
	e := envVar(c, "SISPORTA_DEFAULT_REDIS_URL")
	if e == nil || e.Value != "" || e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil ||
		e.ValueFrom.SecretKeyRef.Name != "sisporta-redis-auth" || e.ValueFrom.SecretKeyRef.Key != "url" {
		t.Errorf("the bundled Redis must be the default Redis through a secretKeyRef: %+v", e)
	}
	if e := envVar(c, "SISPORTA_WATCH_NAMESPACE"); e == nil || e.Value != "sales" {
		t.Errorf("SISPORTA_WATCH_NAMESPACE %+v, want sales", e)
	}

	redis := deployment(t, objs, "sisporta-redis")
	rc := redis.Spec.Template.Spec.Containers[0]
	if !slices.Contains(rc.Args, "--appendonly") || redis.Spec.Template.Spec.Volumes[0].PersistentVolumeClaim == nil {
		t.Errorf("the bundled Redis must persist its append-only file on the PVC: args %v volumes %+v", rc.Args, redis.Spec.Template.Spec.Volumes)
	}
	for _, a := range rc.Args {
		if strings.Contains(a, "redis://") {
			t.Errorf("a Redis URL in the container args: %q", a)
		}
	}
	pm := find(t, objs, "PodMonitor", "sisporta-workers")
	sel, _, _ := unstructured.NestedStringMap(pm.Object, "spec", "selector", "matchLabels")
	if sel[syncv1alpha1.LabelComponent] != syncv1alpha1.ComponentWorker || sel[syncv1alpha1.LabelManagedBy] != syncv1alpha1.ManagedByOperator {
		t.Errorf("PodMonitor selects %v, want the worker pods' labels (api/v1alpha1/labels.go)", sel)
	}
}

func TestRunnerImageFollowsTheOperatorImage(t *testing.T) {
	for name, tc := range map[string]struct {
		set         string
		image, runs string
	}{
		"tag":      {"image.tag=v9.9.9", "ghcr.io/sisporta/sisporta:v9.9.9", "ghcr.io/sisporta/sisporta:v9.9.9"},
		"digest":   {"image.repository=reg.example/sisporta,image.digest=sha256:" + strings.Repeat("ab", 32), "reg.example/sisporta@sha256:" + strings.Repeat("ab", 32), "reg.example/sisporta@sha256:" + strings.Repeat("ab", 32)},
		"override": {"runnerImage=reg.example/runner:v1", "ghcr.io/sisporta/sisporta:v0.1.0", "reg.example/runner:v1"},
	} {
		t.Run(name, func(t *testing.T) {
			c := deployment(t, helmTemplate(t, "--set", tc.set), "sisporta").Spec.Template.Spec.Containers[0]
			if c.Image != tc.image {
				t.Errorf("operator image %q, want %q", c.Image, tc.image)
			}
			if e := envVar(c, "SISPORTA_RUNNER_IMAGE"); e == nil || e.Value != tc.runs {
				t.Errorf("SISPORTA_RUNNER_IMAGE %+v, want %q", e, tc.runs)
			}
		})
	}
}

func TestExistingRedisSecretIsTheDefaultRedis(t *testing.T) {
	objs := helmTemplate(t, "--set", "defaultRedis.existingSecret.name=queue-redis,defaultRedis.existingSecret.key=uri")
	e := envVar(deployment(t, objs, "sisporta").Spec.Template.Spec.Containers[0], "SISPORTA_DEFAULT_REDIS_URL")
	if e == nil || e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil || e.ValueFrom.SecretKeyRef.Name != "queue-redis" || e.ValueFrom.SecretKeyRef.Key != "uri" {
		t.Fatalf("SISPORTA_DEFAULT_REDIS_URL %+v, want secretKeyRef queue-redis/uri", e)
	}
	if len(ofKind(objs, "Secret")) != 0 {
		t.Error("the chart must not create a Redis Secret when an existing one is named")
	}
}

func TestCRDsCanBeLeftOutOrDeletedOnUninstall(t *testing.T) {
	if crds := ofKind(helmTemplate(t, "--set", "crds.enabled=false"), "CustomResourceDefinition"); len(crds) != 0 {
		t.Errorf("crds.enabled=false still renders %v", kindsAndNames(crds))
	}
	crd := find(t, helmTemplate(t, "--set", "crds.keep=false"), "CustomResourceDefinition", "syncpipelines.sync.sisporta.io")
	if _, ok := crd.GetAnnotations()["helm.sh/resource-policy"]; ok {
		t.Error("crds.keep=false still sets helm.sh/resource-policy")
	}
}

func TestRefusedCombinationsSayWhatToDo(t *testing.T) {
	for set, want := range map[string]string{
		"replicaCount=3,leaderElection.enabled=false":                       "needs leaderElection.enabled=true",
		"metrics.serviceMonitor.enabled=true,metrics.service.enabled=false": "needs metrics.service.enabled=true",
	} {
		out, err := helmTemplateErr(t, "--set", set)
		if err == nil || !strings.Contains(out, want) {
			t.Errorf("--set %s: err %v, output should say %q:\n%s", set, err, want, out)
		}
	}
}
