package controllers

import (
	"context"
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	syncv1alpha1 "github.com/sisporta/sisporta/api/v1alpha1"
)

// Worker pod settings.
const (
	metricsPort = 8080
	probePort   = 8081
	// workerGracePeriod is long enough for a worker to finish the batches in
	// hand after SIGTERM; the worker stops taking new ones shutdownMargin
	// earlier so it exits before the kubelet kills it.
	workerGracePeriod = 120 * time.Second
	shutdownMargin    = 20 * time.Second
)

func (r *Reconciler) desiredDeployment(st *pipelineState) *appsv1.Deployment {
	p := st.p
	env := []corev1.EnvVar{
		secretEnv(envSourceDSN, p.Spec.Source.DSNSecretRef),
		secretEnv(envTargetDSN, p.Spec.Target.DSNSecretRef),
		redisEnv(p),
	}
	args := []string{
		"work",
		"--config=" + configPath,
		fmt.Sprintf("--health-probe-bind-address=:%d", probePort),
		fmt.Sprintf("--metrics-bind-address=:%d", metricsPort),
		"--shutdown-timeout=" + (workerGracePeriod - shutdownMargin).String(),
	}
	c := runnerContainer("work", r.image(p), args, env, p.Spec.Resources.Worker)
	c.Ports = []corev1.ContainerPort{
		{Name: "metrics", ContainerPort: metricsPort, Protocol: corev1.ProtocolTCP},
		{Name: "probes", ContainerPort: probePort, Protocol: corev1.ProtocolTCP},
	}
	// A worker is ready about 1.5 s after it starts (connected to Redis,
	// consuming): the startup probe asks every second, so WORKERS counts it
	// as soon as it applies batches; liveness and readiness take over then.
	c.StartupProbe = httpProbe("/readyz", 1, 300)
	c.LivenessProbe = httpProbe("/healthz", 20, 3)
	c.ReadinessProbe = httpProbe("/readyz", 10, 3)
	spec := runnerPodSpec(p, c, corev1.RestartPolicyAlways)
	spec.TerminationGracePeriodSeconds = ptr.To(int64(workerGracePeriod.Seconds()))

	tmpl := corev1.PodTemplateSpec{ObjectMeta: metaWithLabels(objectLabels(p, syncv1alpha1.ComponentWorker)), Spec: spec}
	tmpl.Annotations = map[string]string{
		syncv1alpha1.AnnotationConfigHash:     st.configHash,
		syncv1alpha1.AnnotationSecretsVersion: st.secretsVersion,
	}
	return &appsv1.Deployment{
		ObjectMeta: objectMeta(p, workerName(p), syncv1alpha1.ComponentWorker),
		Spec: appsv1.DeploymentSpec{
			Replicas:             ptr.To(p.Spec.Workers.MinReplicas),
			Selector:             &metav1.LabelSelector{MatchLabels: selectorLabels(p, syncv1alpha1.ComponentWorker)},
			RevisionHistoryLimit: ptr.To(int32(3)),
			Template:             tmpl,
		},
	}
}

// httpProbe sets every number the API server would otherwise default, so
// that comparing with the live object sees no difference where there is none.
func httpProbe(path string, period, failures int32) *corev1.Probe {
	return &corev1.Probe{
		ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{
			Path: path, Port: intstr.FromString("probes"), Scheme: corev1.URISchemeHTTP,
		}},
		InitialDelaySeconds: 0,
		PeriodSeconds:       period,
		TimeoutSeconds:      2,
		SuccessThreshold:    1,
		FailureThreshold:    failures,
	}
}

// reconcileWorkers keeps the worker Deployment <pipeline>-worker. Its
// replica count belongs to the scale step: a new Deployment starts at
// minReplicas and an existing one keeps its count here.
func (r *Reconciler) reconcileWorkers(ctx context.Context, st *pipelineState) error {
	want := r.desiredDeployment(st)
	live, err := ensureObject(ctx, r, st, "Deployment", want, func() *appsv1.Deployment { return &appsv1.Deployment{} },
		func(live *appsv1.Deployment) bool {
			w := want.Spec.DeepCopy()
			w.Replicas = live.Spec.Replicas
			return equality.Semantic.DeepDerivative(*w, live.Spec) && podTemplateInSync(&w.Template, &live.Spec.Template)
		},
		func(live *appsv1.Deployment) {
			replicas := live.Spec.Replicas
			live.Spec = want.Spec
			live.Spec.Replicas = replicas
		})
	if err != nil {
		return err
	}
	st.deployment = live
	// The Deployment's status is watched: a rollout needs no polling, and
	// one stuck (an image that cannot be pulled) costs nothing while it is.
	if rollingOut(live) {
		st.progressing(syncv1alpha1.ReasonRollingOut, fmt.Sprintf("Deployment %s is rolling out new worker pods", live.Name))
	}
	return nil
}

// rollingOut: the Deployment controller has not yet caught up with the
// spec, or not every worker runs the current template. A Deployment at
// zero replicas with no pod left has nothing to roll out, whatever its
// controller has seen: a new pipeline, or a spec change while idle, is
// not reported as a rollout (nor written twice into the status).
func rollingOut(d *appsv1.Deployment) bool {
	want := ptr.Deref(d.Spec.Replicas, 1)
	if want == 0 && d.Status.Replicas == 0 {
		return false
	}
	return d.Status.ObservedGeneration < d.Generation ||
		(want > 0 && d.Status.UpdatedReplicas < want) ||
		d.Status.Replicas > d.Status.UpdatedReplicas
}
