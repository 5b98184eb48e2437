package controllers

import (
	"context"
	"fmt"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	syncv1alpha1 "github.com/sisporta/sisporta/api/v1alpha1"
)

// runNowJobTTL lets finished run-now Jobs go after a day; the CronJob's
// history limits do not apply to Jobs it did not start.
const runNowJobTTL = 24 * 60 * 60

// reconcileRunNow starts one extraction Job for each new value of the
// sync.sisporta.io/run-now annotation. The handled value is kept in status
// and the Job is named after it, so a value never starts a second run. A
// request that arrives while an extraction runs waits for it: runs never
// overlap.
func (r *Reconciler) reconcileRunNow(ctx context.Context, st *pipelineState) error {
	jobs, err := r.listExtractionJobs(ctx, st.p)
	if err != nil {
		return err
	}
	st.jobs = jobs
	value := st.p.Annotations[syncv1alpha1.AnnotationRunNow]
	if value == "" || value == st.status.LastHandledRunNow {
		return nil
	}
	if st.jobs.withRunNowValue(value) != nil { // started before the status was written
		st.status.LastHandledRunNow = value
		return nil
	}
	if running := st.jobs.running(); running != nil {
		st.inProgress(syncv1alpha1.ReasonRunInProgress, fmt.Sprintf("the run requested by %s=%q waits for extraction Job %s to finish", syncv1alpha1.AnnotationRunNow, value, running.Name))
		return nil
	}

	tmpl := r.extractJobTemplate(st, syncv1alpha1.TriggerRunNow)
	job := &batchv1.Job{ObjectMeta: tmpl.ObjectMeta, Spec: tmpl.Spec}
	job.Name, job.Namespace = runNowJobName(st.p, value), st.p.Namespace
	job.Annotations = map[string]string{syncv1alpha1.AnnotationRunNow: value}
	job.Spec.TTLSecondsAfterFinished = ptr.To(int32(runNowJobTTL))
	if err := controllerutil.SetControllerReference(st.p, job, r.Scheme()); err != nil {
		return err
	}
	if err := r.Create(ctx, job); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("creating run-now Job %s: %w", job.Name, err)
	}
	st.jobs = append(st.jobs, *job)
	st.status.LastHandledRunNow = value
	note := fmt.Sprintf("started extraction Job %s for %s=%q", job.Name, syncv1alpha1.AnnotationRunNow, value)
	if st.p.Spec.Suspend {
		// Allowed on purpose (a one-off run of a paused pipeline), and said.
		note = fmt.Sprintf("the pipeline is suspended (spec.suspend: true), and this one run was started anyway: extraction Job %s for %s=%q; no scheduled run follows until the pipeline is resumed", job.Name, syncv1alpha1.AnnotationRunNow, value)
	}
	r.note(st.p, corev1.EventTypeNormal, syncv1alpha1.EventRunNowStarted, "RunNow", note)
	return nil
}
