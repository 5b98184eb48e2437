package controllers

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	syncv1alpha1 "github.com/sisporta/sisporta/api/v1alpha1"
)

// The schedule interval is the period of a regular schedule and the
// longest pause of one that skips nights and weekends, so that the stale
// alert (a multiple of it) never fires over a weekend nobody syncs.
func TestScheduleInterval(t *testing.T) {
	// A Wednesday: the coming week holds a weekend.
	now := time.Date(2026, 7, 1, 10, 7, 0, 0, time.UTC)
	for _, tc := range []struct {
		schedule string
		tz       *string
		want     time.Duration
	}{
		{"*/15 * * * *", nil, 15 * time.Minute},
		{"* * * * *", nil, time.Minute},
		{"@hourly", nil, time.Hour},
		{"30 2 * * *", ptr.To("Europe/Lisbon"), 24 * time.Hour},
		// Hourly 08:00-18:00 on weekdays: Friday 18:00 to Monday 08:00.
		{"0 8-18 * * 1-5", ptr.To("America/Sao_Paulo"), 62 * time.Hour},
		// Every minute of business hours: the week is walked in full.
		{"* 8-17 * * 1-5", nil, 62*time.Hour + time.Minute},
		// Monthly: beyond the eight-day horizon, three runs are looked at.
		{"0 0 1 * *", nil, 31 * 24 * time.Hour},
	} {
		c, err := parseSchedule(tc.schedule, tc.tz)
		if err != nil {
			t.Fatal(err)
		}
		got, ok := c.interval(now)
		if !ok || got != tc.want {
			t.Errorf("interval of %q = %s, %v; want %s", tc.schedule, got, ok, tc.want)
		}
	}
	// 30 February never comes.
	c, err := parseSchedule("0 0 30 2 *", nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, ok := c.interval(now); ok {
		t.Errorf("a schedule that never fires has interval %s", got)
	}
}

// recordMetrics publishes the interval and each entity's guard state, and
// drops what no longer applies: a suspended pipeline's interval, an entity
// gone from the status.
func TestRecordMetricsIntervalAndGuards(t *testing.T) {
	p := &syncv1alpha1.SyncPipeline{
		ObjectMeta: metav1.ObjectMeta{Namespace: "metrics-unit", Name: "erp"},
		Spec:       syncv1alpha1.SyncPipelineSpec{Schedule: "*/15 * * * *"},
	}
	const id = "metrics-unit/erp"
	defer forgetMetrics(p)
	s := &syncv1alpha1.SyncPipelineStatus{Entities: []syncv1alpha1.EntityStatus{
		{Name: "products", LastCleanup: &syncv1alpha1.CleanupStatus{Result: syncv1alpha1.CleanupSucceeded}},
		{Name: "dealers", LastCleanup: &syncv1alpha1.CleanupStatus{Result: syncv1alpha1.CleanupGuardTripped}},
		{Name: "prices"},
	}}
	recordMetrics(p, s)
	if v := testutil.ToFloat64(scheduleInterval.WithLabelValues(id)); v != 900 {
		t.Errorf("sisporta_pipeline_schedule_interval_seconds = %v, want 900", v)
	}
	for entity, want := range map[string]float64{"products": 0, "dealers": 1, "prices": 0} {
		if v := testutil.ToFloat64(cleanupGuardTripped.WithLabelValues(id, entity)); v != want {
			t.Errorf("sisporta_pipeline_cleanup_guard_tripped{entity=%q} = %v, want %v", entity, v, want)
		}
	}

	p.Spec.Suspend = true
	s.Entities = s.Entities[:1]
	recordMetrics(p, s)
	if n := seriesOf(t, scheduleInterval, id); n != 0 {
		t.Errorf("a suspended pipeline still has %d interval series", n)
	}
	if n := seriesOf(t, cleanupGuardTripped, id); n != 1 {
		t.Errorf("%d guard series after two entities left the status, want 1", n)
	}

	forgetMetrics(p)
	if n := seriesOf(t, cleanupGuardTripped, id); n != 0 {
		t.Errorf("%d guard series left after the pipeline was deleted", n)
	}
}

// seriesOf counts a metric's series of one pipeline (other tests of the
// package record theirs in the same registry at the same time).
func seriesOf(t *testing.T, c prometheus.Collector, pipeline string) int {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, f := range families {
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "pipeline" && l.GetValue() == pipeline {
					n++
				}
			}
		}
	}
	return n
}
