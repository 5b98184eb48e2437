package deploy

import (
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

func kustomize(t *testing.T, dir string) []*unstructured.Unstructured {
	t.Helper()
	out, err := run(t, kustomizeBin(t), dir)
	if err != nil {
		t.Fatalf("kustomize build %s: %v\n%s", dir, err, out)
	}
	return decodeObjects(t, out)
}

func TestConfigDefaultIsAcceptedByTheAPIServer(t *testing.T) {
	ensureNamespace(t, "sisporta-system", nil)
	objs := kustomize(t, "config/default")
	acceptAll(t, objs)
	acceptPodsUnderRestrictedPSS(t, objs)
}

func TestConfigSamplesAreAcceptedByTheAPIServer(t *testing.T) {
	ensureNamespace(t, "sales", nil)
	objs := kustomize(t, "config/samples")
	b, err := os.ReadFile(repoPath(t, "config/samples/secrets.example.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	objs = append(objs, decodeObjects(t, string(b))...)
	for _, o := range objs {
		o.SetNamespace("sales")
	}
	acceptAll(t, objs)
}

func TestArgoCDConfigMapIsAcceptedByTheAPIServer(t *testing.T) {
	ensureNamespace(t, "argocd", nil)
	b, err := os.ReadFile(repoPath(t, "config/argocd/argocd-cm.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	acceptAll(t, decodeObjects(t, string(b)))
}

// TestConfigMatchesTheChart: config/default (kustomize) and the chart with
// the same settings install the same operator: same rights, same container.
func TestConfigMatchesTheChart(t *testing.T) {
	kust := kustomize(t, "config/default")
	// The kustomize manager always reads Secret sisporta-default-redis
	// (optional); name the same Secret in the chart to compare like with like.
	chart := helmTemplate(t, "--set", "defaultRedis.existingSecret.name=sisporta-default-redis",
		// kustomize has no uninstall hook, nor the rights it needs
		"--set", "uninstall.stopOperatorFirst=false")

	rules := func(objs []*unstructured.Unstructured, kind, name string) any {
		return find(t, objs, kind, name).Object["rules"]
	}
	for _, pair := range [][4]string{
		{"ClusterRole", "sisporta-manager-role", "ClusterRole", "sisporta-system-sisporta-manager"},
		{"Role", "sisporta-manager-role", "Role", "sisporta-system-sisporta-default-redis"},
		{"Role", "sisporta-leader-election-role", "Role", "sisporta-leader-election"},
		{"ClusterRole", "sisporta-syncpipeline-editor", "ClusterRole", "sisporta-system-sisporta-syncpipeline-editor"},
		{"ClusterRole", "sisporta-syncpipeline-viewer", "ClusterRole", "sisporta-system-sisporta-syncpipeline-viewer"},
	} {
		k, c := rules(kust, pair[0], pair[1]), rules(chart, pair[2], pair[3])
		if !reflect.DeepEqual(normalize(t, k), normalize(t, c)) {
			t.Errorf("rules of config's %s %s and the chart's %s %s differ:\nconfig %v\nchart  %v", pair[0], pair[1], pair[2], pair[3], k, c)
		}
	}
	for _, o := range ofKind(kust, "ClusterRole") {
		for k, v := range o.GetLabels() {
			if strings.HasPrefix(k, "rbac.authorization.k8s.io/aggregate-to-") {
				if find(t, chart, "ClusterRole", "sisporta-system-"+o.GetName()).GetLabels()[k] != v {
					t.Errorf("ClusterRole %s: label %s differs between config and chart", o.GetName(), k)
				}
			}
		}
	}

	kcrd := find(t, kust, "CustomResourceDefinition", "syncpipelines.sync.sisporta.io")
	ccrd := find(t, chart, "CustomResourceDefinition", "syncpipelines.sync.sisporta.io")
	if !reflect.DeepEqual(kcrd.Object["spec"], ccrd.Object["spec"]) {
		t.Error("the chart's CRD differs from config/crd/bases: run make manifests")
	}

	kd := deployment(t, kust, "sisporta-controller-manager")
	cd := deployment(t, chart, "sisporta")
	kc, cc := kd.Spec.Template.Spec.Containers[0], cd.Spec.Template.Spec.Containers[0]
	withoutLogLevel := func(args []string) []string {
		return slices.DeleteFunc(slices.Clone(args), func(a string) bool { return strings.HasPrefix(a, "--zap-log-level") })
	}
	if !slices.Equal(kc.Args, withoutLogLevel(cc.Args)) {
		t.Errorf("manager args: config %v, chart %v", kc.Args, cc.Args)
	}
	envNames := func(c corev1.Container) (names []string) {
		for _, e := range c.Env {
			names = append(names, e.Name)
		}
		return names
	}
	if !slices.Equal(envNames(kc), envNames(cc)) {
		t.Errorf("manager env: config %v, chart %v", envNames(kc), envNames(cc))
	}
	for _, c := range []corev1.Container{kc, cc} {
		if e := envVar(c, "SISPORTA_RUNNER_IMAGE"); e == nil || e.Value != c.Image {
			t.Errorf("SISPORTA_RUNNER_IMAGE %+v must be the operator's image %s", e, c.Image)
		}
		if e := envVar(c, "SISPORTA_DEFAULT_REDIS_URL"); e == nil || e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil ||
			e.ValueFrom.SecretKeyRef.Name != "sisporta-default-redis" || e.ValueFrom.SecretKeyRef.Key != "url" {
			t.Errorf("SISPORTA_DEFAULT_REDIS_URL %+v must come from Secret sisporta-default-redis key url", e)
		}
	}
	same := func(what string, a, b any) {
		if !reflect.DeepEqual(a, b) {
			t.Errorf("%s differs:\nconfig %+v\nchart  %+v", what, a, b)
		}
	}
	same("ports", kc.Ports, cc.Ports)
	same("liveness probe", kc.LivenessProbe, cc.LivenessProbe)
	same("readiness probe", kc.ReadinessProbe, cc.ReadinessProbe)
	same("container securityContext", kc.SecurityContext, cc.SecurityContext)
	same("pod securityContext", kd.Spec.Template.Spec.SecurityContext, cd.Spec.Template.Spec.SecurityContext)
	same("resources", kc.Resources, cc.Resources)
	same("termination grace period", kd.Spec.Template.Spec.TerminationGracePeriodSeconds, cd.Spec.Template.Spec.TerminationGracePeriodSeconds)
}

// normalize turns rules written in flow style ([a, b]) and block style into
// the same sorted form: apiGroup/resource:verb, with [names] after the
// resource when the rule names its objects.
func normalize(t *testing.T, rules any) []string {
	t.Helper()
	list, ok := rules.([]any)
	if !ok {
		t.Fatalf("rules are not a list: %v", rules)
	}
	var out []string
	for _, r := range list {
		m := r.(map[string]any)
		names := ""
		if rn, ok := m["resourceNames"].([]any); ok && len(rn) > 0 {
			parts := make([]string, len(rn))
			for i, n := range rn {
				parts[i] = n.(string)
			}
			slices.Sort(parts)
			names = "[" + strings.Join(parts, ",") + "]"
		}
		for _, g := range m["apiGroups"].([]any) {
			for _, res := range m["resources"].([]any) {
				for _, v := range m["verbs"].([]any) {
					out = append(out, g.(string)+"/"+res.(string)+names+":"+v.(string))
				}
			}
		}
	}
	slices.Sort(out)
	return out
}
