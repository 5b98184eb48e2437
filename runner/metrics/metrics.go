// Package metrics holds the Prometheus metrics of the extractor and the
// workers, served on /metrics by `sisporta work` (and pushed nowhere: the
// extractor's counts reach the operator through the run summary).
package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Registry holds the data plane's metrics.
var Registry = prometheus.NewRegistry()

var labels = []string{"pipeline", "entity"}

var (
	// RowsRead counts rows read from the source.
	RowsRead = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "sisporta_rows_read_total", Help: "Rows read from the source.",
	}, labels)
	// RowsWritten counts rows inserted or changed in the target.
	RowsWritten = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "sisporta_rows_written_total", Help: "Rows inserted or updated in the target.",
	}, labels)
	// RowsUnchanged counts rows found equal and not written.
	RowsUnchanged = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "sisporta_rows_unchanged_total", Help: "Rows already equal in the target, not written.",
	}, labels)
	// RowsRepaired counts rows a verifying run rewrote because their target
	// values differed from the source while their stored hash did not.
	RowsRepaired = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "sisporta_rows_repaired_total", Help: "Rows a verifying run found changed in the target behind Sisporta's back (hand edits, damage) and rewrote.",
	}, labels)
	// RowsDeleted counts rows removed by cleanup.
	RowsDeleted = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "sisporta_rows_deleted_total", Help: "Rows removed (or soft-deleted) by cleanup.",
	}, labels)
	// BatchSeconds measures applying one batch.
	BatchSeconds = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "sisporta_batch_apply_seconds", Help: "Time to apply one batch to the target.",
		Buckets: prometheus.ExponentialBuckets(0.005, 2, 14),
	}, labels)
	// BatchesMatched counts batches found unchanged by their digest alone.
	BatchesMatched = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "sisporta_batches_matched_total", Help: "Batches whose key range matched their digest: unchanged without a row-by-row compare.",
	}, labels)
	// BatchFailures counts failed batch attempts (each is retried).
	BatchFailures = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "sisporta_batch_failures_total", Help: "Failed attempts to apply a batch (retried with backoff).",
	}, labels)
	// GuardTripped counts cleanups refused by a guard.
	GuardTripped = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "sisporta_cleanup_guard_tripped_total", Help: "Cleanups refused by a guard.",
	}, labels)
	// LagSeconds is the time from source snapshot to applied target of the
	// entity's last complete run.
	LagSeconds = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "sisporta_lag_seconds", Help: "Source snapshot to applied target, last complete run.",
	}, labels)
)

// Touch creates an entity's series at zero when a worker first handles one
// of its tasks. A counter series that appears already at 1 is invisible to
// rate() and increase() (they need a sample before the step), so without
// this the first failed batch or refused cleanup of a long-lived worker
// would never show on a dashboard or in an alert.
func Touch(pipeline, entity string) {
	for _, c := range []*prometheus.CounterVec{RowsWritten, RowsUnchanged, RowsRepaired, RowsDeleted, BatchesMatched, BatchFailures, GuardTripped} {
		c.WithLabelValues(pipeline, entity)
	}
	BatchSeconds.WithLabelValues(pipeline, entity)
}

func init() {
	Registry.MustRegister(RowsRead, RowsWritten, RowsUnchanged, RowsRepaired, RowsDeleted, BatchSeconds, BatchesMatched, BatchFailures, GuardTripped, LagSeconds,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
}
