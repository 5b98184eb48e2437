package controllers

import (
	"context"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/utils/ptr"

	syncv1alpha1 "github.com/sisporta/sisporta/api/v1alpha1"
)

// Extractor Job settings.
const (
	// startingDeadlineSeconds: a run missed by more than this (operator or
	// control plane down) is skipped rather than started late.
	startingDeadlineSeconds = 300
	extractBackoffLimit     = 2
	jobHistoryLimit         = 3
)

// extractJobTemplate is the Job both the CronJob and run-now start.
func (r *Reconciler) extractJobTemplate(st *pipelineState, trigger string) batchv1.JobTemplateSpec {
	p := st.p
	labels := objectLabels(p, syncv1alpha1.ComponentExtractor)
	labels[syncv1alpha1.LabelTrigger] = trigger
	// The target's DSN: incremental entities start from the cursors the
	// target keeps (the extractor only reads them).
	env := []corev1.EnvVar{
		secretEnv(envSourceDSN, p.Spec.Source.DSNSecretRef),
		secretEnv(envTargetDSN, p.Spec.Target.DSNSecretRef),
		redisEnv(p),
		{Name: envTrigger, Value: trigger},
	}
	c := runnerContainer("extract", r.image(p), []string{"extract", "--config=" + configPath}, env, p.Spec.Resources.Extractor)
	return batchv1.JobTemplateSpec{
		ObjectMeta: metaWithLabels(labels),
		Spec: batchv1.JobSpec{
			BackoffLimit: ptr.To(int32(extractBackoffLimit)),
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metaWithLabels(labels),
				Spec:       runnerPodSpec(p, c, corev1.RestartPolicyNever),
			},
		},
	}
}

func (r *Reconciler) desiredCronJob(st *pipelineState) *batchv1.CronJob {
	p := st.p
	var tz *string
	if p.Spec.TimeZone != nil && *p.Spec.TimeZone != "" {
		tz = ptr.To(*p.Spec.TimeZone)
	}
	return &batchv1.CronJob{
		ObjectMeta: objectMeta(p, cronJobName(p), syncv1alpha1.ComponentExtractor),
		Spec: batchv1.CronJobSpec{
			Schedule: p.Spec.Schedule,
			TimeZone: tz,
			// A run-now Job is not the CronJob's, so Forbid does not see it:
			// the schedule pauses while one runs.
			Suspend:                    ptr.To(p.Spec.Suspend || st.jobs.runNowRunning()),
			ConcurrencyPolicy:          batchv1.ForbidConcurrent,
			StartingDeadlineSeconds:    ptr.To(int64(startingDeadlineSeconds)),
			SuccessfulJobsHistoryLimit: ptr.To(int32(jobHistoryLimit)),
			FailedJobsHistoryLimit:     ptr.To(int32(jobHistoryLimit)),
			JobTemplate:                r.extractJobTemplate(st, syncv1alpha1.TriggerSchedule),
		},
	}
}

// reconcileCronJob keeps the extractor CronJob <pipeline>-extract.
func (r *Reconciler) reconcileCronJob(ctx context.Context, st *pipelineState) error {
	want := r.desiredCronJob(st)
	live, err := ensureObject(ctx, r, st, "CronJob", want, func() *batchv1.CronJob { return &batchv1.CronJob{} },
		func(live *batchv1.CronJob) bool {
			return equality.Semantic.DeepDerivative(want.Spec, live.Spec) &&
				sameStringPtr(want.Spec.TimeZone, live.Spec.TimeZone) &&
				podTemplateInSync(&want.Spec.JobTemplate.Spec.Template, &live.Spec.JobTemplate.Spec.Template)
		},
		func(live *batchv1.CronJob) { live.Spec = want.Spec })
	if err != nil {
		return err
	}
	st.cronJob = live
	return nil
}
