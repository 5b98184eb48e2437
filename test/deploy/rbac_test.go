package deploy

import (
	"maps"
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// The operator's rights as the chart renders them, rule by rule
// (apiGroup/resource[names]:verb, as normalize writes them). Secrets: read
// cluster-wide (metadata watched, values of referenced ones read), written
// only in the one name below and only in namespaces holding the Role.
var (
	wantManagerRules = []string{
		"/configmaps:create", "/configmaps:get", "/configmaps:list", "/configmaps:patch", "/configmaps:update", "/configmaps:watch",
		"/secrets:get", "/secrets:list", "/secrets:watch",
		"apps/deployments:create", "apps/deployments:get", "apps/deployments:list", "apps/deployments:patch", "apps/deployments:update", "apps/deployments:watch",
		"batch/cronjobs:create", "batch/cronjobs:get", "batch/cronjobs:list", "batch/cronjobs:patch", "batch/cronjobs:update", "batch/cronjobs:watch",
		"batch/jobs:create", "batch/jobs:delete", "batch/jobs:get", "batch/jobs:list", "batch/jobs:watch",
		"events.k8s.io/events:create", "events.k8s.io/events:patch",
		"policy/poddisruptionbudgets:create", "policy/poddisruptionbudgets:delete", "policy/poddisruptionbudgets:get", "policy/poddisruptionbudgets:list",
		"policy/poddisruptionbudgets:patch", "policy/poddisruptionbudgets:update", "policy/poddisruptionbudgets:watch",
		"sync.sisporta.io/syncpipelines/finalizers:update",
		"sync.sisporta.io/syncpipelines/status:get", "sync.sisporta.io/syncpipelines/status:patch",
		"sync.sisporta.io/syncpipelines:get", "sync.sisporta.io/syncpipelines:list", "sync.sisporta.io/syncpipelines:patch", "sync.sisporta.io/syncpipelines:watch",
	}
	wantDefaultRedisRules = []string{
		"/secrets:create",
		"/secrets[sisporta-operator-redis]:delete", "/secrets[sisporta-operator-redis]:patch",
	}
	wantLeaderElectionRules = []string{
		"/events:create", "/events:patch",
		"/pods:list",
		"apps/deployments[sisporta]:get", "apps/deployments[sisporta]:patch",
		"coordination.k8s.io/leases:create", "coordination.k8s.io/leases:delete", "coordination.k8s.io/leases:get", "coordination.k8s.io/leases:list",
		"coordination.k8s.io/leases:patch", "coordination.k8s.io/leases:update", "coordination.k8s.io/leases:watch",
	}
)

// TestRenderedRBACWritesNoSecretClusterWide renders the chart as a user
// would install it (bundled Redis, one more pipeline namespace) and holds
// every rule it grants the operator to the lists above: no cluster-wide
// Secret write, the copy of the default Redis URL writable by name only,
// in exactly the namespaces that should allow it.
func TestRenderedRBACWritesNoSecretClusterWide(t *testing.T) {
	objs := helmTemplate(t, "--set", "redis.enabled=true", "--set", "defaultRedis.namespaces={sales,hr}")
	sa := "sisporta-system/sisporta"

	grants := operatorGrants(t, objs, sa)
	wantGrants := map[string][]string{
		"ClusterRole sisporta-system-sisporta-manager (cluster-wide)": wantManagerRules,
		"Role sisporta-system/sisporta-leader-election":               wantLeaderElectionRules,
		"Role sisporta-system/sisporta-system-sisporta-default-redis": wantDefaultRedisRules,
		"Role sales/sisporta-system-sisporta-default-redis":           wantDefaultRedisRules,
		"Role hr/sisporta-system-sisporta-default-redis":              wantDefaultRedisRules,
	}
	compareGrants(t, grants, wantGrants)
	for what, rules := range grants {
		if strings.Contains(what, "cluster-wide") {
			if w := secretWrites(rules); len(w) > 0 {
				t.Errorf("%s may write Secrets cluster-wide: %v", what, w)
			}
		}
	}
}

// TestRenderedRBACWithWatchNamespace: one namespace, Roles only.
func TestRenderedRBACWithWatchNamespace(t *testing.T) {
	objs := helmTemplate(t, "--set", "redis.enabled=true", "--set", "watchNamespace=sales")
	compareGrants(t, operatorGrants(t, objs, "sisporta-system/sisporta"), map[string][]string{
		"Role sales/sisporta-manager":                                 wantManagerRules,
		"Role sisporta-system/sisporta-leader-election":               wantLeaderElectionRules,
		"Role sisporta-system/sisporta-system-sisporta-default-redis": wantDefaultRedisRules,
		"Role sales/sisporta-system-sisporta-default-redis":           wantDefaultRedisRules,
	})
}

// TestRenderedRBACWithoutDefaultRedis: no default Redis, no Secret write.
func TestRenderedRBACWithoutDefaultRedis(t *testing.T) {
	objs := helmTemplate(t, "--set", "defaultRedis.namespaces={sales}")
	grants := operatorGrants(t, objs, "sisporta-system/sisporta")
	compareGrants(t, grants, map[string][]string{
		"ClusterRole sisporta-system-sisporta-manager (cluster-wide)": wantManagerRules,
		"Role sisporta-system/sisporta-leader-election":               wantLeaderElectionRules,
	})
	for what, rules := range grants {
		if w := secretWrites(rules); len(w) > 0 {
			t.Errorf("%s writes Secrets though the operator has no default Redis: %v", what, w)
		}
	}
}

// TestTwoReleasesOfOneNameDoNotClash: the same release name in two
// namespaces renders cluster-scoped objects of different names (the CRD,
// one per cluster, is installed by one release only: crds.enabled=false
// in the other).
func TestTwoReleasesOfOneNameDoNotClash(t *testing.T) {
	clusterScoped := func(ns string) []string {
		out, err := run(t, helmBin(t), "template", releaseName, chartDir, "--namespace", ns, "--kube-version", kubeVersion,
			"--set", "crds.enabled=false,redis.enabled=true")
		if err != nil {
			t.Fatalf("helm template -n %s: %v\n%s", ns, err, out)
		}
		var names []string
		for _, o := range decodeObjects(t, out) {
			if o.GetNamespace() == "" && o.GetKind() != "Namespace" {
				names = append(names, o.GetKind()+"/"+o.GetName())
			}
		}
		return names
	}
	a, b := clusterScoped("team-a"), clusterScoped("team-b")
	if len(a) == 0 {
		t.Fatal("no cluster-scoped objects rendered")
	}
	for _, n := range a {
		if slices.Contains(b, n) {
			t.Errorf("%s is rendered by both releases", n)
		}
		if !strings.Contains(n, "team-a") {
			t.Errorf("%s does not name its release namespace", n)
		}
	}
}

// operatorGrants maps each Role and ClusterRole bound to the service
// account to its normalized rules.
func operatorGrants(t *testing.T, objs []*unstructured.Unstructured, sa string) map[string][]string {
	t.Helper()
	roles := map[string]*unstructured.Unstructured{}
	for _, o := range objs {
		switch o.GetKind() {
		case "Role":
			roles["Role "+o.GetNamespace()+"/"+o.GetName()] = o
		case "ClusterRole":
			roles["ClusterRole "+o.GetName()] = o
		}
	}
	grants := map[string][]string{}
	for _, b := range objs {
		if b.GetKind() != "RoleBinding" && b.GetKind() != "ClusterRoleBinding" {
			continue
		}
		bound := false
		subjects, _, _ := unstructured.NestedSlice(b.Object, "subjects")
		for _, s := range subjects {
			m := s.(map[string]any)
			if m["kind"] == "ServiceAccount" && m["namespace"].(string)+"/"+m["name"].(string) == sa {
				bound = true
			}
		}
		if !bound {
			continue
		}
		kind, _, _ := unstructured.NestedString(b.Object, "roleRef", "kind")
		name, _, _ := unstructured.NestedString(b.Object, "roleRef", "name")
		key, what := "ClusterRole "+name, "ClusterRole "+name
		if kind == "Role" {
			key = "Role " + b.GetNamespace() + "/" + name
			what = key
		} else if b.GetKind() == "ClusterRoleBinding" {
			what += " (cluster-wide)"
		} else {
			what += " in " + b.GetNamespace()
		}
		role := roles[key]
		if role == nil {
			t.Errorf("%s %s binds %s, which the chart does not render", b.GetKind(), b.GetName(), key)
			continue
		}
		grants[what] = normalize(t, role.Object["rules"])
	}
	return grants
}

func compareGrants(t *testing.T, got, want map[string][]string) {
	t.Helper()
	for _, k := range slices.Sorted(maps.Keys(got)) {
		w, ok := want[k]
		if !ok {
			t.Errorf("the operator is granted more: %s %v", k, got[k])
			continue
		}
		if !slices.Equal(got[k], w) {
			t.Errorf("%s grants\n  %v\nwant\n  %v", k, got[k], w)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(want)) {
		if _, ok := got[k]; !ok {
			t.Errorf("the operator is not granted %s", k)
		}
	}
}

// secretWrites are the rules that create, change or delete Secrets.
func secretWrites(rules []string) []string {
	var out []string
	for _, r := range rules {
		res, verb, _ := strings.Cut(r, ":")
		if (strings.HasPrefix(res, "/secrets") || strings.HasPrefix(res, "*/") || strings.HasSuffix(res, "/*")) &&
			verb != "get" && verb != "list" && verb != "watch" {
			out = append(out, r)
		}
	}
	return out
}
