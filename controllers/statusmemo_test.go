package controllers

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	syncv1alpha1 "github.com/sisporta/sisporta/api/v1alpha1"
)

// TestStatusMemoReplacesOnlyAStaleStatus: a pipeline read from a cache
// that has not seen the operator's last status write gets that status; one
// whose status someone else changed, or another pipeline of the same name,
// keeps its own.
func TestStatusMemoReplacesOnlyAStaleStatus(t *testing.T) {
	before := newPipeline("ns", "erp")
	before.UID = "u1"
	before.Status.ObservedGeneration = 1
	after := before.DeepCopy()
	after.Status.ObservedGeneration = 2
	after.Status.Conditions = []metav1.Condition{{Type: syncv1alpha1.ConditionReady, Status: metav1.ConditionTrue, Reason: syncv1alpha1.ReasonSynced}}
	sm := newStatusMemo()
	sm.wrote(before, after)

	stale := before.DeepCopy()
	sm.fresh(stale)
	if stale.Status.ObservedGeneration != 2 || len(stale.Status.Conditions) != 1 {
		t.Errorf("a stale status was kept: %+v", stale.Status)
	}
	stale.Status.Conditions[0].Reason = "changed"
	if after.Status.Conditions[0].Reason != syncv1alpha1.ReasonSynced {
		t.Error("fresh handed out the memo's own status, not a copy")
	}

	edited := before.DeepCopy()
	edited.Status.ObservedGeneration = 7
	sm.fresh(edited)
	if edited.Status.ObservedGeneration != 7 {
		t.Errorf("a status written by someone else was replaced: %+v", edited.Status)
	}

	other := before.DeepCopy()
	other.UID = "u2"
	sm.fresh(other)
	if other.Status.ObservedGeneration != 1 {
		t.Errorf("a new pipeline of the same name got the old one's status: %+v", other.Status)
	}

	sm.forget(keyOf("ns", "erp"))
	again := before.DeepCopy()
	sm.fresh(again)
	if again.Status.ObservedGeneration != 1 {
		t.Error("a forgotten pipeline's status was replaced")
	}
}
