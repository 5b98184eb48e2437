package controllers

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	syncv1alpha1 "github.com/sisporta/sisporta/api/v1alpha1"
	"github.com/sisporta/sisporta/runner/queue"
)

// The operator's metrics, served on the manager's /metrics. The pipeline
// label is "<namespace>/<name>", as on the workers' metrics, so dashboards
// can join them.
var (
	queueTasks = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "sisporta_pipeline_queue_tasks", Help: "Tasks on the pipeline's queue by state (pending, active, scheduled, retry, dead).",
	}, []string{"pipeline", "state"})
	queueLatency = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "sisporta_pipeline_queue_latency_seconds", Help: "Age of the oldest pending task.",
	}, []string{"pipeline"})
	workers = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "sisporta_pipeline_workers", Help: "Workers desired from queue depth and ready.",
	}, []string{"pipeline", "kind"})
	pipelineLag = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "sisporta_pipeline_lag_seconds", Help: "Source snapshot to applied target of the last complete run.",
	}, []string{"pipeline"})
	lastSuccess = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "sisporta_pipeline_last_success_snapshot_timestamp_seconds", Help: "Source snapshot time of the last successful run: time() minus this is how stale the mirror is.",
	}, []string{"pipeline"})
	pipelineCondition = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "sisporta_pipeline_condition", Help: "1 when the condition (Ready, Progressing, Degraded) is True.",
	}, []string{"pipeline", "condition"})
	scheduleInterval = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "sisporta_pipeline_schedule_interval_seconds",
		Help: "Longest gap between consecutive scheduled runs over the coming week (the interval of a regular schedule); absent while suspended or when the schedule is invalid. Staleness alerts compare the mirror's age with a multiple of it.",
	}, []string{"pipeline"})
	cleanupGuardTripped = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "sisporta_pipeline_cleanup_guard_tripped",
		Help: "1 when the entity's last cleanup was refused by a guard and deleted nothing (rows gone from the source stay in the mirror), 0 otherwise.",
	}, []string{"pipeline", "entity"})
)

func init() {
	metrics.Registry.MustRegister(queueTasks, queueLatency, workers, pipelineLag, lastSuccess, pipelineCondition, scheduleInterval, cleanupGuardTripped)
}

// recordMetrics publishes what the status says.
func recordMetrics(p *syncv1alpha1.SyncPipeline, s *syncv1alpha1.SyncPipelineStatus) {
	id := queue.PipelineID(p.Namespace, p.Name)
	if q := s.Queue; q != nil {
		for state, n := range map[string]int64{"pending": q.Pending, "active": q.Active, "scheduled": q.Scheduled, "retry": q.Retry, "dead": q.Dead} {
			queueTasks.WithLabelValues(id, state).Set(float64(n))
		}
		queueLatency.WithLabelValues(id).Set(float64(q.LatencySeconds))
	}
	if w := s.Workers; w != nil {
		workers.WithLabelValues(id, "desired").Set(float64(w.Desired))
		workers.WithLabelValues(id, "ready").Set(float64(w.Ready))
	}
	if s.Lag != nil {
		pipelineLag.WithLabelValues(id).Set(s.Lag.Seconds())
	}
	if r := s.LastSuccessfulRun; r != nil && r.SourceSnapshotTime != nil {
		lastSuccess.WithLabelValues(id).Set(float64(r.SourceSnapshotTime.Unix()))
	}
	for _, c := range s.Conditions {
		v := 0.0
		if c.Status == "True" {
			v = 1
		}
		pipelineCondition.WithLabelValues(id, c.Type).Set(v)
	}
	recordScheduleInterval(p, id)
	recordCleanupGuards(s, id)
}

// recordScheduleInterval publishes the schedule's interval, or drops it
// when no run is scheduled (suspended, invalid or never-firing schedule):
// a mirror nobody refreshes on purpose is not stale.
func recordScheduleInterval(p *syncv1alpha1.SyncPipeline, id string) {
	if !p.Spec.Suspend {
		if c, err := parseSchedule(p.Spec.Schedule, p.Spec.TimeZone); err == nil {
			if d, ok := intervals.get(p.Spec.Schedule, p.Spec.TimeZone, c, time.Now()); ok {
				scheduleInterval.WithLabelValues(id).Set(d.Seconds())
				return
			}
		}
	}
	scheduleInterval.DeleteLabelValues(id)
}

// recordCleanupGuards publishes, per entity of the status, whether its last
// cleanup was refused by a guard, and drops entities no longer reported.
func recordCleanupGuards(s *syncv1alpha1.SyncPipelineStatus, id string) {
	guardEntities.Lock()
	defer guardEntities.Unlock()
	seen := map[string]bool{}
	for _, e := range s.Entities {
		v := 0.0
		if e.LastCleanup != nil && e.LastCleanup.Result == syncv1alpha1.CleanupGuardTripped {
			v = 1
		}
		cleanupGuardTripped.WithLabelValues(id, e.Name).Set(v)
		seen[e.Name] = true
	}
	for name := range guardEntities.byPipeline[id] {
		if !seen[name] {
			cleanupGuardTripped.DeleteLabelValues(id, name)
		}
	}
	guardEntities.byPipeline[id] = seen
}

// guardEntities remembers which entities of each pipeline have a
// cleanupGuardTripped series, so that a removed entity's series goes
// without a moment where the others are missing from a scrape.
var guardEntities = struct {
	sync.Mutex
	byPipeline map[string]map[string]bool
}{byPipeline: map[string]map[string]bool{}}

// intervals caches the schedule interval of each schedule and zone for an
// hour: a minutely schedule takes ten thousand steps to walk a week.
var intervals = &intervalCache{m: map[string]cachedInterval{}}

type intervalCache struct {
	sync.Mutex
	m map[string]cachedInterval
}

type cachedInterval struct {
	d       time.Duration
	ok      bool
	expires time.Time
}

func (ic *intervalCache) get(schedule string, tz *string, c *cronSchedule, now time.Time) (time.Duration, bool) {
	key := schedule + "\x00"
	if tz != nil {
		key += *tz
	}
	ic.Lock()
	defer ic.Unlock()
	if e, hit := ic.m[key]; hit && now.Before(e.expires) {
		return e.d, e.ok
	}
	d, ok := c.interval(now)
	if len(ic.m) > 1000 { // schedules that no pipeline uses any more
		clear(ic.m)
	}
	ic.m[key] = cachedInterval{d: d, ok: ok, expires: now.Add(time.Hour)}
	return d, ok
}

// interval is the longest gap between consecutive runs of the schedule
// from now over the coming eight days, and over at least three runs (a
// monthly schedule's gap is a month). For a regular schedule it is the
// period; for one that skips nights or weekends, the longest pause, so
// that a mirror left alone on purpose does not look stale. False when the
// schedule fires fewer than twice.
func (c *cronSchedule) interval(now time.Time) (time.Duration, bool) {
	const maxSteps = 12000 // a minutely schedule's week is 10080 runs
	horizon := now.Add(8 * 24 * time.Hour)
	prev, ok := c.next(now)
	if !ok {
		return 0, false
	}
	var longest time.Duration
	for gaps := 0; gaps < maxSteps; gaps++ {
		n, ok := c.next(prev)
		if !ok {
			break
		}
		longest = max(longest, n.Sub(prev))
		prev = n
		if gaps >= 1 && prev.After(horizon) {
			break
		}
	}
	return longest, longest > 0
}

// forgetMetrics drops a deleted pipeline's series.
func forgetMetrics(p *syncv1alpha1.SyncPipeline) {
	id := queue.PipelineID(p.Namespace, p.Name)
	match := prometheus.Labels{"pipeline": id}
	guardEntities.Lock()
	defer guardEntities.Unlock()
	for _, v := range []*prometheus.GaugeVec{queueTasks, queueLatency, workers, pipelineLag, lastSuccess, pipelineCondition, scheduleInterval, cleanupGuardTripped} {
		v.DeletePartialMatch(match)
	}
	delete(guardEntities.byPipeline, id)
}
