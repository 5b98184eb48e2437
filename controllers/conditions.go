package controllers

import (
	"strings"
	"unicode/utf8"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	syncv1alpha1 "github.com/sisporta/sisporta/api/v1alpha1"
)

// problem is something wrong that a person must see: a Degraded reason, a
// Warning event, and for blocking ones Ready=False. Messages say what is
// wrong and what to do, and never hold a secret value.
type problem struct {
	reason  string
	message string
	// blocksReady is true when the pipeline cannot keep the mirror current.
	blocksReady bool
	// retry asks for a requeue with backoff: nothing the operator watches
	// announces that the cause went away (an unreachable Redis).
	retry bool
}

func (p *problem) Error() string { return p.reason + ": " + p.message }

// setConditions computes Ready, Progressing and Degraded from what this
// reconcile saw. meta.SetStatusCondition keeps lastTransitionTime when the
// status of a condition does not change.
func setConditions(st *pipelineState) {
	s := &st.status
	gen := st.p.Generation
	set := func(t string, ok bool, reason, msg string) {
		status := metav1.ConditionFalse
		if ok {
			status = metav1.ConditionTrue
		}
		meta.SetStatusCondition(&s.Conditions, metav1.Condition{
			Type: t, Status: status, Reason: reason, Message: clip(msg, 2048), ObservedGeneration: gen,
		})
	}

	old := meta.FindStatusCondition(s.Conditions, syncv1alpha1.ConditionReady)
	switch b := firstBlocking(st.problems); {
	case b != nil:
		set(syncv1alpha1.ConditionReady, false, b.reason, b.message)
	case st.holdReady && old != nil && !st.p.Spec.Suspend && old.Reason != syncv1alpha1.ReasonSuspended:
		// Redis is briefly unreachable: what Ready depends on is unknown,
		// so it stays as it was (Degraded says why), at this generation.
		set(syncv1alpha1.ConditionReady, old.Status == metav1.ConditionTrue, old.Reason, old.Message)
	default:
		reason, msg := readyReason(st)
		set(syncv1alpha1.ConditionReady, true, reason, msg)
	}

	if len(st.progress) > 0 {
		set(syncv1alpha1.ConditionProgressing, true, st.progressReason, strings.Join(st.progress, "; "))
	} else {
		set(syncv1alpha1.ConditionProgressing, false, syncv1alpha1.ReasonIdle, idleMessage(st))
	}

	if len(st.problems) > 0 {
		msgs := make([]string, len(st.problems))
		for i, p := range st.problems {
			msgs[i] = p.message
		}
		set(syncv1alpha1.ConditionDegraded, true, st.problems[0].reason, strings.Join(msgs, "; "))
	} else {
		set(syncv1alpha1.ConditionDegraded, false, syncv1alpha1.ReasonNoProblems, "the pipeline has no known problem")
	}
}

func firstBlocking(ps []*problem) *problem {
	for _, p := range ps {
		if p.blocksReady {
			return p
		}
	}
	return nil
}

func readyReason(st *pipelineState) (string, string) {
	s := &st.status
	switch {
	case st.p.Spec.Suspend:
		return syncv1alpha1.ReasonSuspended, "spec.suspend is true: no run is scheduled and the workers drain the queue down to minReplicas"
	case s.LastSuccessfulRun != nil:
		msg := "the last complete run succeeded (run " + s.LastSuccessfulRun.ID + ")"
		if s.LastRun != nil && len(s.LastRun.Warnings) > 0 {
			msg += "; warning: " + strings.Join(s.LastRun.Warnings, "; ")
		}
		return syncv1alpha1.ReasonSynced, msg
	default:
		return syncv1alpha1.ReasonAwaitingFirstRun, "the extractor CronJob and the workers are in place; no run has completed yet"
	}
}

func idleMessage(st *pipelineState) string {
	if t := st.status.NextScheduleTime; t != nil {
		return "no run in progress; the next run starts at " + t.UTC().Format("2006-01-02T15:04:05Z")
	}
	return "no run in progress"
}

// clip bounds messages kept in status and events.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n - 3
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "..."
}
