package controllers

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"

	syncv1alpha1 "github.com/sisporta/sisporta/api/v1alpha1"
)

// Environment of the extractor and workers: connection strings arrive
// through secretKeyRef only, so no value ever sits in an object the
// operator writes.
const (
	envSourceDSN = "SISPORTA_SOURCE_DSN"
	envTargetDSN = "SISPORTA_TARGET_DSN"
	envRedisURL  = "SISPORTA_REDIS_URL"
	envTrigger   = "SISPORTA_TRIGGER"
)

func (r *Reconciler) image(p *syncv1alpha1.SyncPipeline) string {
	if p.Spec.Image != "" {
		return p.Spec.Image
	}
	return r.RunnerImage
}

func secretEnv(name string, ref syncv1alpha1.SecretKeySelector) corev1.EnvVar {
	return corev1.EnvVar{Name: name, ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
		LocalObjectReference: corev1.LocalObjectReference{Name: ref.Name},
		Key:                  ref.Key,
	}}}
}

// redisEnv points at the pipeline's Redis Secret, or at the namespace's
// operator-kept copy of the default Redis URL.
func redisEnv(p *syncv1alpha1.SyncPipeline) corev1.EnvVar {
	return secretEnv(envRedisURL, redisRef(p))
}

// redisRef is the Secret key the pipeline's pods read the Redis URL from.
func redisRef(p *syncv1alpha1.SyncPipeline) syncv1alpha1.SecretKeySelector {
	if ref := p.Spec.Queue.RedisSecretRef; ref != nil {
		return *ref
	}
	return syncv1alpha1.SecretKeySelector{Name: DefaultRedisSecret, Key: "url"}
}

// runnerContainer is the one container of extractor and worker pods:
// non-root, read-only root filesystem, no privileges, the pipeline mounted
// read-only, a scratch /tmp.
func runnerContainer(name, image string, args []string, env []corev1.EnvVar, res corev1.ResourceRequirements) corev1.Container {
	return corev1.Container{
		Name:                     name,
		Image:                    image,
		ImagePullPolicy:          corev1.PullIfNotPresent,
		Args:                     args,
		Env:                      env,
		Resources:                res,
		TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError,
		VolumeMounts: []corev1.VolumeMount{
			{Name: "config", MountPath: configMountPath, ReadOnly: true},
			{Name: "tmp", MountPath: "/tmp"},
		},
		SecurityContext: &corev1.SecurityContext{
			RunAsNonRoot:             ptr.To(true),
			ReadOnlyRootFilesystem:   ptr.To(true),
			AllowPrivilegeEscalation: ptr.To(false),
			Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
		},
	}
}

// runnerPodSpec wraps a runner container. The pods need no Kubernetes API
// access, so no service account token is mounted.
func runnerPodSpec(p *syncv1alpha1.SyncPipeline, c corev1.Container, restart corev1.RestartPolicy) corev1.PodSpec {
	return corev1.PodSpec{
		RestartPolicy:                restart,
		AutomountServiceAccountToken: ptr.To(false),
		EnableServiceLinks:           ptr.To(false),
		SecurityContext: &corev1.PodSecurityContext{
			RunAsNonRoot:   ptr.To(true),
			SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
		},
		Containers: []corev1.Container{c},
		Volumes: []corev1.Volume{
			{Name: "config", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
				LocalObjectReference: corev1.LocalObjectReference{Name: configMapName(p)},
				DefaultMode:          ptr.To(int32(0o444)),
			}}},
			{Name: "tmp", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
		},
	}
}
