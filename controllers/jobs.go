package controllers

import (
	"context"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	syncv1alpha1 "github.com/sisporta/sisporta/api/v1alpha1"
)

// extractionJobs are a pipeline's extraction Jobs, scheduled and run-now.
type extractionJobs []batchv1.Job

func (r *Reconciler) listExtractionJobs(ctx context.Context, p *syncv1alpha1.SyncPipeline) (extractionJobs, error) {
	var list batchv1.JobList
	err := r.List(ctx, &list, client.InNamespace(p.Namespace), client.MatchingLabels{syncv1alpha1.LabelPipeline: p.Name, syncv1alpha1.LabelComponent: syncv1alpha1.ComponentExtractor})
	return list.Items, err
}

// jobFinished reports whether a Job ended, and whether it failed.
func jobFinished(j *batchv1.Job) (finished, failed bool, at time.Time) {
	for _, c := range j.Status.Conditions {
		if c.Status != corev1.ConditionTrue {
			continue
		}
		switch c.Type {
		case batchv1.JobComplete:
			return true, false, c.LastTransitionTime.Time
		case batchv1.JobFailed:
			return true, true, c.LastTransitionTime.Time
		}
	}
	return false, false, time.Time{}
}

// running returns a Job that has not finished (a Job whose pods have not
// started yet counts: its run is about to begin).
func (js extractionJobs) running() *batchv1.Job {
	for i := range js {
		if done, _, _ := jobFinished(&js[i]); !done && js[i].DeletionTimestamp.IsZero() {
			return &js[i]
		}
	}
	return nil
}

func (js extractionJobs) runNowRunning() bool {
	for i := range js {
		if done, _, _ := jobFinished(&js[i]); !done && js[i].DeletionTimestamp.IsZero() && js[i].Labels[syncv1alpha1.LabelTrigger] == syncv1alpha1.TriggerRunNow {
			return true
		}
	}
	return false
}

// lastFinished returns the Job that finished last (condition times have
// second precision: on a tie the later-created Job wins).
func (js extractionJobs) lastFinished() (job *batchv1.Job, failed bool, at time.Time) {
	for i := range js {
		done, f, t := jobFinished(&js[i])
		if !done {
			continue
		}
		if job == nil || t.After(at) || (t.Equal(at) && createdAfter(&js[i], job)) {
			job, failed, at = &js[i], f, t
		}
	}
	return job, failed, at
}

func createdAfter(a, b *batchv1.Job) bool {
	ta, tb := a.CreationTimestamp.Time, b.CreationTimestamp.Time
	if !ta.Equal(tb) {
		return ta.After(tb)
	}
	return a.Name > b.Name
}

// withRunNowValue finds the Job started for a run-now annotation value.
func (js extractionJobs) withRunNowValue(value string) *batchv1.Job {
	for i := range js {
		if js[i].Annotations[syncv1alpha1.AnnotationRunNow] == value && js[i].Labels[syncv1alpha1.LabelTrigger] == syncv1alpha1.TriggerRunNow {
			return &js[i]
		}
	}
	return nil
}

// failureMessage tells why a Job failed, from its Failed condition.
func failureMessage(j *batchv1.Job) string {
	for _, c := range j.Status.Conditions {
		if c.Type == batchv1.JobFailed && c.Status == corev1.ConditionTrue {
			if c.Message != "" {
				return c.Reason + ": " + c.Message
			}
			return c.Reason
		}
	}
	return "failed"
}
