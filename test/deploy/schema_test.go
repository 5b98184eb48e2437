package deploy

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSchemaRefusesWrongValues: values.schema.json must refuse wrong types
// and misspelt keys, both in `helm template` (as install and upgrade) and
// in `helm lint --strict`, naming the value that is wrong.
func TestSchemaRefusesWrongValues(t *testing.T) {
	cases := []struct{ values, path string }{
		{"replicaCount: two", "/replicaCount"},
		{"replicaCount: -1", "/replicaCount"},
		{"image: {repository: ''}", "/image/repository"},
		{"image: {tagg: v1}", "/image"},
		{"image: {digest: latest}", "/image/digest"},
		{"image: {pullPolicy: Sometimes}", "/image/pullPolicy"},
		{"runnerImage: 7", "/runnerImage"},
		{"leaderElection: {enabled: 'yes'}", "/leaderElection/enabled"},
		{"watchNamespace: Sales_Team", "/watchNamespace"},
		{"crds: {enabled: 'true'}", "/crds/enabled"},
		{"crds: {keep: 1}", "/crds/keep"},
		{"crds: {annotations: {argocd.argoproj.io/sync-wave: -1}}", "/crds/annotations"},
		{"crds: {annotation: {}}", "/crds"},
		{"serviceAccount: {create: no-thanks}", "/serviceAccount/create"},
		{"rbac: {create: []}", "/rbac/create"},
		{"defaultRedis: {existingSecret: my-redis}", "/defaultRedis/existingSecret"},
		{"defaultRedis: {url: 'redis://:pw@redis:6379'}", "/defaultRedis"},
		{"redis: {enabled: 1}", "/redis/enabled"},
		{"redis: {persistence: {size: lots}}", "/redis/persistence/size"},
		{"redis: {persistence: {accessModes: [ReadWriteSometimes]}}", "/redis/persistence/accessModes/0"},
		{"redis: {auth: {password: hunter2}}", "/redis/auth"},
		{"logLevel: verbose", "/logLevel"},
		{"extraArgs: --zap-devel", "/extraArgs"},
		{"extraEnv: [{value: x}]", "/extraEnv/0"},
		{"podLabels: {team: 42}", "/podLabels/team"},
		{"resources: {requests: {cpu: a-lot}}", "/resources/requests/cpu"},
		{"resources: {request: {cpu: 1}}", "/resources"},
		{"tolerations: {key: x}", "/tolerations"},
		{"metrics: {service: {port: 70000}}", "/metrics/service/port"},
		{"metrics: {serviceMonitor: {interval: 30}}", "/metrics/serviceMonitor/interval"},
		{"metrics: {podMonitor: {namespaces: sales}}", "/metrics/podMonitor/namespaces"},
		{"metrics: {prometheusRule: {enabled: 'yes'}}", "/metrics/prometheusRule/enabled"},
		{"metrics: {prometheusRule: {labels: {release: [prometheus]}}}", "/metrics/prometheusRule/labels/release"},
		{"metrics: {prometheusRule: {runbookUrl: wiki/sisporta}}", "/metrics/prometheusRule/runbookUrl"},
		{"metrics: {prometheusRule: {alerts: {mirrorStale: {intervals: 0}}}}", "/metrics/prometheusRule/alerts/mirrorStale/intervals"},
		{"metrics: {prometheusRule: {alerts: {mirrorStale: {minimum: 1h30m}}}}", "/metrics/prometheusRule/alerts/mirrorStale/minimum"},
		{"metrics: {prometheusRule: {alerts: {pipelineNotReady: {for: 15 minutes}}}}", "/metrics/prometheusRule/alerts/pipelineNotReady/for"},
		{"metrics: {prometheusRule: {alerts: {batchFailureRatio: {ratio: 10}}}}", "/metrics/prometheusRule/alerts/batchFailureRatio/ratio"},
		{"metrics: {prometheusRule: {alerts: {batchFailureRatio: {window: 10}}}}", "/metrics/prometheusRule/alerts/batchFailureRatio/window"},
		{"metrics: {prometheusRule: {alerts: {workersNotReady: {severity: ''}}}}", "/metrics/prometheusRule/alerts/workersNotReady/severity"},
		{"metrics: {prometheusRule: {alerts: {mirorStale: {enabled: false}}}}", "/metrics/prometheusRule/alerts"},
		{"metrics: {prometheusRule: {extraRules: [{alert: X}]}}", "/metrics/prometheusRule/extraRules/0"},
		{"grafanaDashboard: {enabled: on-demand}", "/grafanaDashboard/enabled"},
		{"networkPolicy: {metricsFrom: {}}", "/networkPolicy/metricsFrom"},
		{"unknownTopLevel: 1", "unknownTopLevel"},
	}
	dir := t.TempDir()
	for i, c := range cases {
		file := filepath.Join(dir, strings.ReplaceAll(c.path, "/", "_")+".yaml")
		if err := os.WriteFile(file, []byte(c.values+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		out, err := helmTemplateErr(t, "-f", file)
		if err == nil || !strings.Contains(out, "values don't meet the specifications of the schema") || !strings.Contains(out, c.path) {
			t.Errorf("case %d %q: helm template should refuse it naming %s; err %v:\n%s", i, c.values, c.path, err, out)
		}
		if i%8 == 0 { // lint reads the same schema; a sample keeps the test quick
			out, err := run(t, helmBin(t), "lint", "--strict", chartDir, "-f", file)
			if err == nil || !strings.Contains(out, c.path) {
				t.Errorf("case %d %q: helm lint --strict should fail naming %s; err %v:\n%s", i, c.values, c.path, err, out)
			}
		}
	}
}

// TestSchemaCoversEveryValue: every value in values.yaml (and in the
// every-option values) is described by the schema; the schema refuses
// unknown keys, so this is what keeps the two in step.
func TestSchemaCoversEveryValue(t *testing.T) {
	for _, f := range []string{"charts/sisporta/values.yaml", allValues} {
		out, err := helmTemplateErr(t, "-f", f)
		if err != nil {
			t.Errorf("%s: %v\n%s", f, err, out)
		}
	}
}
