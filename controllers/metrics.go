package controllers

import (
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
)

func init() {
	metrics.Registry.MustRegister(queueTasks, queueLatency, workers, pipelineLag, lastSuccess, pipelineCondition)
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
}

// forgetMetrics drops a deleted pipeline's series.
func forgetMetrics(p *syncv1alpha1.SyncPipeline) {
	match := prometheus.Labels{"pipeline": queue.PipelineID(p.Namespace, p.Name)}
	for _, v := range []*prometheus.GaugeVec{queueTasks, queueLatency, workers, pipelineLag, lastSuccess, pipelineCondition} {
		v.DeletePartialMatch(match)
	}
}
