package controllers

import (
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"

	syncv1alpha1 "github.com/sisporta/sisporta/api/v1alpha1"
)

func TestWorkerDeploymentIsOwnedAndConfigured(t *testing.T) {
	ns := newNamespace(t)
	createDSNSecrets(t, ns)
	p := createPipeline(t, newPipeline(ns, "erp", func(p *syncv1alpha1.SyncPipeline) {
		p.Spec.Image = "registry.example/sisporta:pinned"
		p.Spec.Resources.Worker = corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: mustQuantity("250m")}}
	}))

	d := getObject(t, ns, "erp-worker", &appsv1.Deployment{})
	assertOwnedBy(t, d, p)
	if got := ptr.Deref(d.Spec.Replicas, -1); got != 0 {
		t.Errorf("replicas %d, want minReplicas 0 with an empty queue", got)
	}
	sel := d.Spec.Selector.MatchLabels
	if sel[syncv1alpha1.LabelInstance] != "erp" || sel[syncv1alpha1.LabelComponent] != syncv1alpha1.ComponentWorker {
		t.Errorf("selector %v", sel)
	}
	pod := d.Spec.Template.Spec
	assertRunnerPod(t, pod)
	if g := ptr.Deref(pod.TerminationGracePeriodSeconds, 0); g < 60 {
		t.Errorf("terminationGracePeriodSeconds %d: too short to finish a batch", g)
	}
	c := pod.Containers[0]
	if c.Image != "registry.example/sisporta:pinned" {
		t.Errorf("image %q, want spec.image", c.Image)
	}
	// Ready about when it is: probed every second until then.
	if sp := c.StartupProbe; sp == nil || sp.PeriodSeconds != 1 || sp.InitialDelaySeconds != 0 || sp.HTTPGet == nil || sp.HTTPGet.Path != "/readyz" {
		t.Errorf("startup probe %+v, want /readyz every second", sp)
	}
	if rp := c.ReadinessProbe; rp == nil || rp.InitialDelaySeconds != 0 {
		t.Errorf("readiness probe %+v, want no initial delay", rp)
	}
	wantArgs := "work --config=/etc/sisporta/pipeline.yaml --health-probe-bind-address=:8081 --metrics-bind-address=:8080 --shutdown-timeout=1m40s"
	if got := strings.Join(c.Args, " "); got != wantArgs {
		t.Errorf("args %q, want %q", got, wantArgs)
	}
	assertEnv(t, c, map[string]string{
		envSourceDSN: "secret " + sourceSecret + "/" + dsnKey,
		envTargetDSN: "secret " + targetSecret + "/" + dsnKey,
		envRedisURL:  "secret " + DefaultRedisSecret + "/url",
	})
	if c.LivenessProbe == nil || c.LivenessProbe.HTTPGet == nil || c.LivenessProbe.HTTPGet.Path != "/healthz" || c.LivenessProbe.HTTPGet.Port.String() != "probes" {
		t.Errorf("liveness probe %+v, want GET /healthz on the probes port", c.LivenessProbe)
	}
	if c.ReadinessProbe == nil || c.ReadinessProbe.HTTPGet == nil || c.ReadinessProbe.HTTPGet.Path != "/readyz" {
		t.Errorf("readiness probe %+v, want GET /readyz", c.ReadinessProbe)
	}
	ports := map[string]int32{}
	for _, port := range c.Ports {
		ports[port.Name] = port.ContainerPort
	}
	if ports["metrics"] != 8080 || ports["probes"] != 8081 {
		t.Errorf("ports %v, want metrics 8080 and probes 8081", ports)
	}
	if got := c.Resources.Requests[corev1.ResourceCPU]; got.String() != "250m" {
		t.Errorf("cpu request %s, want spec.resources.worker's 250m", got.String())
	}
	if d.Spec.Template.Annotations[syncv1alpha1.AnnotationConfigHash] == "" || !strings.Contains(d.Spec.Template.Annotations[syncv1alpha1.AnnotationSecretsVersion], sourceSecret+"=") {
		t.Errorf("pod template annotations %v: want the config hash and the Secrets' versions", d.Spec.Template.Annotations)
	}
}

func TestSpecChangesRollOut(t *testing.T) {
	ns := newNamespace(t)
	createDSNSecrets(t, ns)
	p := createPipeline(t, newPipeline(ns, "erp"))
	before := getObject(t, ns, "erp-worker", &appsv1.Deployment{}).Spec.Template.Annotations[syncv1alpha1.AnnotationConfigHash]

	update(t, p, func(p *syncv1alpha1.SyncPipeline) {
		p.Spec.BatchSize = 250
		p.Spec.Image = "registry.example/sisporta:v2"
	})
	eventually(t, "workers roll to the new config and image", func() error {
		d := &appsv1.Deployment{}
		if err := k8s().Get(t.Context(), keyOf(ns, "erp-worker"), d); err != nil {
			return err
		}
		if d.Spec.Template.Annotations[syncv1alpha1.AnnotationConfigHash] == before || d.Spec.Template.Spec.Containers[0].Image != "registry.example/sisporta:v2" {
			return errorf("template not changed yet")
		}
		return nil
	})
	eventually(t, "the ConfigMap has the new batch size", func() error {
		cm := &corev1.ConfigMap{}
		if err := k8s().Get(t.Context(), keyOf(ns, "erp-sisporta"), cm); err != nil {
			return err
		}
		if !strings.Contains(cm.Data[configKey], "batchSize: 250") {
			return errorf("not yet")
		}
		return nil
	})
	waitCondition(t, ns, "erp", syncv1alpha1.ConditionReady, "True", syncv1alpha1.ReasonAwaitingFirstRun)
}
