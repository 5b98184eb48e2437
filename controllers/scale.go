package controllers

import (
	"context"
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	syncv1alpha1 "github.com/sisporta/sisporta/api/v1alpha1"
)

// scaleInput is what the worker count is decided from.
type scaleInput struct {
	// Pending and Active tasks need a worker now; Later ones (scheduled,
	// retry) will need one when they fall due.
	Pending, Active, Later int64
	// ExtractionRunning pre-warms a worker: batches are about to arrive.
	ExtractionRunning bool
	Current           int32
	Min, Max          int32
	PerReplica        int32
	Window            time.Duration
	// DownSince is when the queue first allowed fewer workers than run now.
	DownSince *time.Time
	Now       time.Time
}

// scaleDecision is the worker count to run now.
type scaleDecision struct {
	Replicas int32
	// Wanted is what the queue asks for, before the scale-down window.
	Wanted    int32
	DownSince *time.Time
	// RecheckAfter is when a held-back scale-down falls due.
	RecheckAfter time.Duration
}

// wantedReplicas = clamp(ceil((pending+active) / perReplica), min, max),
// and at least one worker while an extraction runs or tasks wait for a
// retry or their time. Active tasks count so that workers applying the
// last batches are not removed under them.
func wantedReplicas(in scaleInput) int32 {
	per := int64(max(in.PerReplica, 1))
	n := (in.Pending + in.Active + per - 1) / per
	if n == 0 && (in.ExtractionRunning || in.Later > 0) {
		n = 1
	}
	return int32(min(max(n, int64(in.Min)), int64(in.Max)))
}

// decideReplicas scales up at once and down only once the queue has asked
// for fewer workers for the whole stabilisation window.
func decideReplicas(in scaleInput) scaleDecision {
	wanted := wantedReplicas(in)
	if wanted >= in.Current {
		return scaleDecision{Replicas: wanted, Wanted: wanted}
	}
	since := in.Now
	if in.DownSince != nil && !in.DownSince.After(in.Now) {
		since = *in.DownSince
	}
	if waited := in.Now.Sub(since); waited < in.Window {
		return scaleDecision{Replicas: in.Current, Wanted: wanted, DownSince: &since, RecheckAfter: in.Window - waited}
	}
	return scaleDecision{Replicas: wanted, Wanted: wanted}
}

// reconcileScale sets the worker Deployment's replicas from queue depth.
// Without a view of the queue (Redis unreachable) the count stays as it is.
func (r *Reconciler) reconcileScale(ctx context.Context, st *pipelineState) error {
	r.observeQueue(ctx, st)
	d := st.deployment
	current := ptr.Deref(d.Spec.Replicas, 1)
	st.replicas = current
	if st.queue == nil {
		return nil
	}
	w := st.p.Spec.Workers
	in := scaleInput{
		Pending: st.queue.Pending, Active: st.queue.Active, Later: st.queue.Scheduled + st.queue.Retry,
		ExtractionRunning: st.jobs.running() != nil,
		Current:           current,
		Min:               w.MinReplicas, Max: w.MaxReplicas, PerReplica: w.TargetPendingPerReplica,
		Window: time.Duration(w.ScaleDownStabilizationSeconds) * time.Second,
		Now:    st.now,
	}
	if s := st.status.ScaleDownSince; s != nil {
		in.DownSince = &s.Time
	}
	dec := decideReplicas(in)
	st.status.ScaleDownSince = nil
	if dec.DownSince != nil {
		t := metav1.NewTime(dec.DownSince.Truncate(time.Second))
		st.status.ScaleDownSince = &t
		st.recheckWithin(dec.RecheckAfter)
		st.busy = true
	}
	if dec.Replicas == current {
		return nil
	}
	patch := client.MergeFrom(d.DeepCopy())
	d.Spec.Replicas = ptr.To(dec.Replicas)
	if err := r.Patch(ctx, d, patch); err != nil {
		return fmt.Errorf("scaling Deployment %s to %d: %w", d.Name, dec.Replicas, err)
	}
	st.replicas = dec.Replicas
	r.note(st.p, corev1.EventTypeNormal, syncv1alpha1.EventScaled, "Scale", scaleNote(d, current, dec.Replicas, in))
	return nil
}

func scaleNote(d *appsv1.Deployment, from, to int32, in scaleInput) string {
	return fmt.Sprintf("scaled workers (Deployment %s) from %d to %d: %d batches pending, %d being applied, %d per worker, extraction running: %t",
		d.Name, from, to, in.Pending, in.Active, in.PerReplica, in.ExtractionRunning)
}
