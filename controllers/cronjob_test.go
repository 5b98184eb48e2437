package controllers

import (
	"strings"
	"testing"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"

	syncv1alpha1 "github.com/sisporta/sisporta/api/v1alpha1"
)

func TestCronJobIsOwnedAndConfigured(t *testing.T) {
	ns := newNamespace(t)
	createDSNSecrets(t, ns)
	p := createPipeline(t, newPipeline(ns, "erp", func(p *syncv1alpha1.SyncPipeline) {
		p.Spec.Resources.Extractor = corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceMemory: mustQuantity("256Mi")}}
	}))

	cj := getObject(t, ns, "erp-extract", &batchv1.CronJob{})
	assertOwnedBy(t, cj, p)
	s := cj.Spec
	if s.Schedule != "*/15 * * * *" || ptr.Deref(s.TimeZone, "") != "Europe/Lisbon" {
		t.Errorf("schedule %q in %v, want */15 * * * * in Europe/Lisbon", s.Schedule, s.TimeZone)
	}
	if ptr.Deref(s.Suspend, true) {
		t.Error("CronJob is suspended, want it running")
	}
	if s.ConcurrencyPolicy != batchv1.ForbidConcurrent {
		t.Errorf("concurrencyPolicy %s, want Forbid: runs must never overlap", s.ConcurrencyPolicy)
	}
	if ptr.Deref(s.StartingDeadlineSeconds, 0) <= 0 || ptr.Deref(s.SuccessfulJobsHistoryLimit, 0) <= 0 || ptr.Deref(s.FailedJobsHistoryLimit, 0) <= 0 {
		t.Errorf("startingDeadlineSeconds %v, history limits %v/%v: want all set", s.StartingDeadlineSeconds, s.SuccessfulJobsHistoryLimit, s.FailedJobsHistoryLimit)
	}
	job := s.JobTemplate.Spec
	if ptr.Deref(job.BackoffLimit, -1) < 0 {
		t.Error("no backoffLimit on the extraction Job")
	}
	for _, l := range []map[string]string{s.JobTemplate.Labels, job.Template.Labels} {
		if l[syncv1alpha1.LabelPipeline] != "erp" || l[syncv1alpha1.LabelComponent] != syncv1alpha1.ComponentExtractor || l[syncv1alpha1.LabelManagedBy] != syncv1alpha1.ManagedByOperator || l[syncv1alpha1.LabelTrigger] != syncv1alpha1.TriggerSchedule {
			t.Errorf("labels %v: want pipeline, component, managed-by and trigger", l)
		}
	}
	pod := job.Template.Spec
	assertRunnerPod(t, pod)
	if pod.RestartPolicy != corev1.RestartPolicyNever {
		t.Errorf("restartPolicy %s, want Never", pod.RestartPolicy)
	}
	c := pod.Containers[0]
	if got := strings.Join(c.Args, " "); got != "extract --config=/etc/sisporta/pipeline.yaml" {
		t.Errorf("args %q", got)
	}
	assertEnv(t, c, map[string]string{
		envSourceDSN: "secret " + sourceSecret + "/" + dsnKey,
		envTargetDSN: "secret " + targetSecret + "/" + dsnKey,
		envRedisURL:  "secret " + DefaultRedisSecret + "/url",
		envTrigger:   "schedule",
	})
	if got := c.Resources.Limits[corev1.ResourceMemory]; got.String() != "256Mi" {
		t.Errorf("memory limit %s, want spec.resources.extractor's 256Mi", got.String())
	}
}

func TestConfigMapHoldsThePipelineWithoutSecretValues(t *testing.T) {
	ns := newNamespace(t)
	createDSNSecrets(t, ns)
	p := createPipeline(t, newPipeline(ns, "erp"))
	cm := getObject(t, ns, "erp-sisporta", &corev1.ConfigMap{})
	assertOwnedBy(t, cm, p)
	doc := cm.Data["pipeline.yaml"]
	for _, want := range []string{"apiVersion: sync.sisporta.io/v1alpha1", "kind: SyncPipeline", "name: erp", "namespace: " + ns, "name: erp-readonly", "table: dbo.Produtos"} {
		if !strings.Contains(doc, want) {
			t.Errorf("pipeline.yaml lacks %q:\n%s", want, doc)
		}
	}
	if leaks := secretsIn(doc); len(leaks) > 0 {
		t.Errorf("pipeline.yaml holds secret values %v", leaks)
	}
	// What the extractor and workers do with it: decode and validate.
	got, err := decodePipelineYAML(doc)
	if err != nil {
		t.Fatal(err)
	}
	if got.Name != "erp" || got.Namespace != ns || len(got.Spec.Entities) != 2 || got.Spec.Source.DSNSecretRef.Name != sourceSecret {
		t.Errorf("decoded pipeline %s/%s with %d entities", got.Namespace, got.Name, len(got.Spec.Entities))
	}
	if err := got.Validate(); err != nil {
		t.Errorf("the rendered pipeline does not validate: %v", err)
	}
}
