package deploy

import (
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	lua "github.com/yuin/gopher-lua"

	syncv1alpha1 "github.com/sisporta/sisporta/api/v1alpha1"
)

// pipeline builds a SyncPipeline object at generation 3 with a status.
func pipeline(spec, status string) string {
	return "apiVersion: sync.sisporta.io/v1alpha1\nkind: SyncPipeline\nmetadata: {name: erp, namespace: sales, generation: 3}\n" +
		"spec: " + spec + "\n" + status
}

func cond(typ, status, reason, msg string, gen int) string {
	return "  - {type: " + typ + ", status: \"" + status + "\", reason: " + reason + ", message: \"" + msg + "\", observedGeneration: " + strconv.Itoa(gen) + "}\n"
}

// The reasons the health check names are the operator's own constants.
var (
	synced      = syncv1alpha1.ReasonSynced
	awaiting    = syncv1alpha1.ReasonAwaitingFirstRun
	suspended   = syncv1alpha1.ReasonSuspended
	rollingOut  = syncv1alpha1.ReasonRollingOut
	runInProg   = syncv1alpha1.ReasonRunInProgress
	idle        = syncv1alpha1.ReasonIdle
	noProblems  = syncv1alpha1.ReasonNoProblems
	secretMiss  = syncv1alpha1.ReasonSecretMissing
	guard       = syncv1alpha1.ReasonCleanupGuardTripped
	deadTasks   = syncv1alpha1.ReasonDeadTasks
	invalidSpec = syncv1alpha1.ReasonInvalidSpec
	redisDown   = syncv1alpha1.ReasonRedisUnreachable
)

func TestArgoCDHealth(t *testing.T) {
	scripts := loadArgoScripts(t)
	healthy := cond(syncv1alpha1.ConditionDegraded, "False", noProblems, "no known problem", 3)
	notProgressing := cond(syncv1alpha1.ConditionProgressing, "False", idle, "idle", 3)
	cases := []struct {
		name, obj, status, message string
	}{
		{"no status yet", pipeline("{}", ""), "Progressing", "report a status"},
		{"empty status", pipeline("{}", "status: {}"), "Progressing", "generation 3"},
		{"status of an older generation", pipeline("{}", "status:\n  observedGeneration: 2\n  conditions:\n"+
			cond(syncv1alpha1.ConditionReady, "True", synced, "ok", 2)), "Progressing", "reconcile generation 3"},
		{"Ready of an older generation", pipeline("{}", "status:\n  observedGeneration: 3\n  conditions:\n"+
			cond(syncv1alpha1.ConditionReady, "True", synced, "ok", 2)), "Progressing", "Ready condition of generation 3"},
		{"no Ready condition", pipeline("{}", "status:\n  observedGeneration: 3\n  conditions:\n"+healthy), "Progressing", "Ready"},
		{"synced", pipeline("{}", "status:\n  observedGeneration: 3\n  conditions:\n"+
			cond(syncv1alpha1.ConditionReady, "True", synced, "the last complete run succeeded", 3)+notProgressing+healthy), "Healthy", synced + ": the last complete run succeeded"},
		{"awaiting the first run", pipeline("{}", "status:\n  observedGeneration: 3\n  conditions:\n"+
			cond(syncv1alpha1.ConditionReady, "True", awaiting, "no run has completed yet", 3)+notProgressing+healthy), "Healthy", awaiting},
		{"a run in progress stays healthy", pipeline("{}", "status:\n  observedGeneration: 3\n  conditions:\n"+
			cond(syncv1alpha1.ConditionReady, "True", synced, "ok", 3)+cond(syncv1alpha1.ConditionProgressing, "True", runInProg, "run r-42 applies batches", 3)+healthy), "Healthy", "run r-42"},
		{"workers rolling out", pipeline("{}", "status:\n  observedGeneration: 3\n  conditions:\n"+
			cond(syncv1alpha1.ConditionReady, "True", synced, "ok", 3)+cond(syncv1alpha1.ConditionProgressing, "True", rollingOut, "Deployment erp-worker is rolling out", 3)+healthy), "Progressing", rollingOut + ": Deployment erp-worker"},
		{"a Secret is missing", pipeline("{}", "status:\n  observedGeneration: 3\n  conditions:\n"+
			cond(syncv1alpha1.ConditionReady, "False", secretMiss, "Secret quotes-db not found", 3)+cond(syncv1alpha1.ConditionDegraded, "True", secretMiss, "Secret quotes-db not found", 3)), "Degraded", secretMiss + ": Secret quotes-db not found"},
		{"ready but the cleanup guard tripped", pipeline("{}", "status:\n  observedGeneration: 3\n  conditions:\n"+
			cond(syncv1alpha1.ConditionReady, "True", synced, "ok", 3)+notProgressing+cond(syncv1alpha1.ConditionDegraded, "True", guard, "cleanup of products would delete 40%", 3)), "Degraded", guard},
		{"suspended", pipeline("{suspend: true}", "status:\n  observedGeneration: 3\n  conditions:\n"+
			cond(syncv1alpha1.ConditionReady, "True", suspended, "spec.suspend is true", 3)+notProgressing+healthy), "Suspended", "spec.suspend is true"},
		{"suspended with dead tasks", pipeline("{suspend: true}", "status:\n  observedGeneration: 3\n  conditions:\n"+
			cond(syncv1alpha1.ConditionReady, "True", suspended, "spec.suspend is true", 3)+cond(syncv1alpha1.ConditionDegraded, "True", deadTasks, "4 dead tasks", 3)), "Degraded", deadTasks},
		{"suspended but invalid", pipeline("{suspend: true}", "status:\n  observedGeneration: 3\n  conditions:\n"+
			cond(syncv1alpha1.ConditionReady, "False", invalidSpec, "batchSize too large", 3)), "Degraded", invalidSpec},
		{"a Redis outage within the operator's grace period stays healthy", pipeline("{}", "status:\n  observedGeneration: 3\n  conditions:\n"+
			cond(syncv1alpha1.ConditionReady, "True", synced, "ok", 3)+notProgressing+cond(syncv1alpha1.ConditionDegraded, "True", redisDown, "cannot read the queue (since 2026-12-01T10:00:00Z)", 3)), "Healthy", redisDown + ": cannot read the queue"},
		{"a Redis outage past the grace period", pipeline("{}", "status:\n  observedGeneration: 3\n  conditions:\n"+
			cond(syncv1alpha1.ConditionReady, "False", redisDown, "cannot read the queue", 3)+cond(syncv1alpha1.ConditionDegraded, "True", redisDown, "cannot read the queue", 3)), "Degraded", redisDown},
		{"Redis unreachable on a suspended pipeline", pipeline("{suspend: true}", "status:\n  observedGeneration: 3\n  conditions:\n"+
			cond(syncv1alpha1.ConditionReady, "True", suspended, "spec.suspend is true", 3)+notProgressing+cond(syncv1alpha1.ConditionDegraded, "True", redisDown, "cannot read the queue", 3)), "Suspended", "spec.suspend is true"},
		{"Ready unknown", pipeline("{}", "status:\n  observedGeneration: 3\n  conditions:\n"+
			cond(syncv1alpha1.ConditionReady, "Unknown", "Reconciling", "starting", 3)), "Progressing", "Reconciling"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			hs, ok := runLua(t, scripts.health, objFromYAML(t, c.obj)).(*lua.LTable)
			if !ok {
				t.Fatal("the health check must return a table")
			}
			status, message := hs.RawGetString("status").String(), hs.RawGetString("message").String()
			if status != c.status || !strings.Contains(message, c.message) {
				t.Errorf("health %s %q, want %s with %q", status, message, c.status, c.message)
			}
		})
	}
}

// TestArgoCDHealthNamesTheOperatorsReasons: the health check refers to
// condition types and reasons through tables generated from api/v1alpha1
// (make manifests), so a type or reason renamed or dropped there must show
// here: every name the script uses is in the tables, and the tables are
// the API's lists.
func TestArgoCDHealthNamesTheOperatorsReasons(t *testing.T) {
	scripts := loadArgoScripts(t)
	for _, c := range []struct {
		table string
		api   []string
	}{{"conditionType", syncv1alpha1.ConditionTypes}, {"reason", syncv1alpha1.ConditionReasons}} {
		entries := regexp.MustCompile(`(?ms)^local ` + c.table + ` = \{\n(.*?)^\}`).FindStringSubmatch(scripts.health)
		if entries == nil {
			t.Fatalf("health.lua has no generated table %s (make manifests)", c.table)
		}
		var listed []string
		for _, m := range regexp.MustCompile(`(?m)^  (\w+) = "(\w+)",$`).FindAllStringSubmatch(entries[1], -1) {
			if m[1] != m[2] {
				t.Errorf("health.lua: %s.%s is %q", c.table, m[1], m[2])
			}
			listed = append(listed, m[2])
		}
		if want := slices.Sorted(slices.Values(c.api)); !slices.Equal(listed, want) {
			t.Errorf("health.lua's table %s is %v, api/v1alpha1's list %v: run make manifests", c.table, listed, want)
		}
		used := regexp.MustCompile(`\b`+c.table+`\.(\w+)`).FindAllStringSubmatch(scripts.health, -1)
		if len(used) == 0 {
			t.Errorf("health.lua names no %s through its table", c.table)
		}
		for _, u := range used {
			if !slices.Contains(c.api, u[1]) {
				t.Errorf("health.lua names %s.%s, which the operator does not have (api/v1alpha1)", c.table, u[1])
			}
		}
	}
	// The reasons the script treats specially are named through the table.
	for _, r := range []string{suspended, rollingOut, redisDown} {
		if !strings.Contains(scripts.health, "reason."+r) {
			t.Errorf("health.lua does not name the operator's reason %q", r)
		}
	}
}
