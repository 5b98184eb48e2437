package controllers

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	syncv1alpha1 "github.com/sisporta/sisporta/api/v1alpha1"
	"github.com/sisporta/sisporta/runner/runstate"
)

// emitEvents tells, once each, what changed since the stored status: new
// problems, recovery, and runs starting and finishing. The stored status
// is the memory, so a restarted operator does not repeat itself. A run that
// failed, or whose cleanup guard tripped, is told once, by the Warning event
// of its problem (RunFailed, CleanupGuardTripped), which also says what to do.
func (r *Reconciler) emitEvents(st *pipelineState, runs *runView) {
	p := st.p
	oldDegraded := meta.FindStatusCondition(p.Status.Conditions, syncv1alpha1.ConditionDegraded)
	wasDegraded := oldDegraded != nil && oldDegraded.Status == metav1.ConditionTrue
	for _, pr := range st.problems {
		if wasDegraded && strings.Contains(oldDegraded.Message, clip(pr.message, 2048)) {
			continue
		}
		r.note(p, corev1.EventTypeWarning, pr.reason, "Reconcile", pr.message, st.secretValues...)
	}
	if wasDegraded && len(st.problems) == 0 {
		r.note(p, corev1.EventTypeNormal, syncv1alpha1.EventRecovered, "Reconcile", "the pipeline has no known problem any more")
	}
	if runs != nil && runs.last != nil {
		r.runEvents(p, p.Status.LastRun, runs.last, st.secretValues)
	}
}

// runEvents compares the newest run with the one the status last showed.
func (r *Reconciler) runEvents(p *syncv1alpha1.SyncPipeline, old *syncv1alpha1.RunStatus, run *runstate.Run, secrets []string) {
	cur := runStatus(run)
	isNew := old == nil || old.ID != cur.ID
	if isNew {
		trigger := run.Meta.Trigger
		if trigger == "" {
			trigger = "unknown"
		}
		r.note(p, corev1.EventTypeNormal, syncv1alpha1.EventRunStarted, "Run", fmt.Sprintf("run %s started (trigger: %s) reading the source as of %s", cur.ID, trigger, run.Meta.SnapshotTime.UTC().Format("2006-01-02T15:04:05Z")), secrets...)
		for _, w := range cur.Warnings {
			r.note(p, corev1.EventTypeWarning, syncv1alpha1.EventSourceLoginCanWrite, "Run", "run "+cur.ID+": "+w, secrets...)
		}
	}
	wasDone := !isNew && old.Result != "" && old.Result != syncv1alpha1.RunRunning
	if cur.Result == syncv1alpha1.RunRunning || wasDone {
		return
	}
	took := ""
	if cur.CompletionTime != nil && cur.StartTime != nil {
		took = " in " + sinceRounded(cur.CompletionTime.Sub(cur.StartTime.Time))
	}
	counts := fmt.Sprintf("%d rows read, %d written, %d unchanged, %d deleted", cur.RowsRead, cur.RowsWritten, cur.RowsUnchanged, cur.RowsDeleted)
	if cur.RowsRepaired > 0 {
		r.note(p, corev1.EventTypeWarning, syncv1alpha1.EventRowsRepaired, "Verify", fmt.Sprintf("run %s verified every row and repaired %d whose values in the target no longer matched the source (changed behind Sisporta's back: hand edits, another writer, damage)", cur.ID, cur.RowsRepaired), secrets...)
	}
	// A failed run and a tripped cleanup guard are problems: emitEvents
	// tells them (observeRunProblems words them).
	if cur.Result == syncv1alpha1.RunSucceeded {
		r.note(p, corev1.EventTypeNormal, syncv1alpha1.EventRunSucceeded, "Run", fmt.Sprintf("run %s succeeded%s: %s", cur.ID, took, counts), secrets...)
	}
}
