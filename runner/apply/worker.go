// Package apply is the worker side of the queue: it applies batches to the
// target and finalizes each entity's run (cleanup, watermark, run record).
package apply

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"github.com/hibiken/asynq"

	syncv1alpha1 "github.com/sisporta/sisporta/api/v1alpha1"
	"github.com/sisporta/sisporta/runner/failure"
	"github.com/sisporta/sisporta/runner/metrics"
	"github.com/sisporta/sisporta/runner/queue"
	"github.com/sisporta/sisporta/runner/runstate"
	"github.com/sisporta/sisporta/runner/schema"
	"github.com/sisporta/sisporta/runner/source"
	"github.com/sisporta/sisporta/runner/writer"
)

// Worker handles Sisporta's tasks of one queue.
type Worker struct {
	Target *writer.Target
	Runs   *runstate.Store
	Queue  string
	// SourceDSN lets the finalize step verify delete candidates against the
	// source; it is opened on first use.
	SourceDSN string
	Log       logr.Logger
	// OnApplied, when set, is told of each applied batch (progress display).
	OnApplied func(entity string, written, unchanged int)
	// Stopping, when set and true, makes finalize steps delete nothing
	// more (an interrupted local sync).
	Stopping func() bool

	mu       sync.Mutex
	sources  map[string]*source.Source
	entities map[string]*source.Entity
}

// Mux routes the task types to their handlers.
func (w *Worker) Mux() *asynq.ServeMux {
	mux := asynq.NewServeMux()
	mux.HandleFunc(queue.TypeApplyBatch, w.HandleBatch)
	mux.HandleFunc(queue.TypeFinalize, w.HandleFinalize)
	return mux
}

// Close releases the source connections.
func (w *Worker) Close() {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, s := range w.sources {
		_ = s.Close()
	}
	w.sources = nil
}

// HandleBatch applies one batch.
func (w *Worker) HandleBatch(ctx context.Context, t *asynq.Task) error {
	start := time.Now()
	b, err := queue.DecodeBatchHeader(t.Payload())
	if err != nil {
		// A payload this worker cannot read never will be: archive it at once.
		return fmt.Errorf("%w: %v", asynq.SkipRetry, err)
	}
	metrics.Touch(b.Pipeline, b.Entity)
	if len(b.Checks) > 0 {
		return w.checkRanges(ctx, b)
	}
	var opts writer.ApplyOptions
	if b.KeysOnly && b.Spec != nil {
		opts.Fetch = w.fetcher(b)
	}
	// A sparse batch's range that is not what the extractor compared has
	// its parts applied, but the run's ranges must not vouch for it.
	opts.OnStale = func() error { return w.Runs.MarkPendingBad(ctx, w.Queue, b.Entity, b.Run, 1) }
	res, err := w.Target.ApplyBatch(ctx, writerBatch(b), opts)
	if err != nil {
		return w.failed(b, err, "batch failed", "; fix the cause, then sisporta dlq retry")
	}
	metrics.BatchSeconds.WithLabelValues(b.Pipeline, b.Entity).Observe(time.Since(start).Seconds())
	if res.Skipped != "" {
		w.Log.V(1).Info("batch skipped", "entity", b.Entity, "run", b.Run, "batch", b.Seq, "reason", res.Skipped)
		return nil
	}
	if res.DigestMatched {
		metrics.BatchesMatched.WithLabelValues(b.Pipeline, b.Entity).Inc()
	}
	if res.Stale {
		w.Log.Info("warning: the target's rows of a key range changed between the extractor's comparison and the batch (a hand edit, or an older run's batch): the range is read in full next run",
			"level", "warn", "entity", b.Entity, "run", b.Run, "batch", b.Seq)
	}
	metrics.RowsWritten.WithLabelValues(b.Pipeline, b.Entity).Add(float64(res.Written))
	metrics.RowsUnchanged.WithLabelValues(b.Pipeline, b.Entity).Add(float64(res.Unchanged))
	if res.Repaired > 0 {
		metrics.RowsRepaired.WithLabelValues(b.Pipeline, b.Entity).Add(float64(res.Repaired))
		w.Log.Info("verification repaired rows whose target values differed from the source", "entity", b.Entity, "run", b.Run, "batch", b.Seq, "repaired", res.Repaired)
	}
	if w.OnApplied != nil {
		w.OnApplied(b.Entity, res.Written, res.Unchanged)
	}
	if err := w.Runs.AddBatchProgress(ctx, w.Queue, b.Run, b.Entity, int64(res.Written), int64(res.Unchanged), res.Loaded); err != nil {
		// Progress is for display; the ledger holds the exact counts.
		w.Log.Error(err, "recording progress in Redis", "entity", b.Entity)
	}
	w.Log.V(1).Info("batch applied", "entity", b.Entity, "run", b.Run, "batch", b.Seq,
		"rows", b.RowCount(), "written", res.Written, "unchanged", res.Unchanged, "candidates", res.Candidates, "fetched", res.Fetched, "loaded", res.Loaded, "digestMatched", res.DigestMatched)
	return nil
}

// failed counts a task that failed and says what becomes of it: a
// permanent error goes to the dead-letter queue at once (SkipRetry), any
// other is retried by asynq with backoff.
func (w *Worker) failed(b *queue.Batch, err error, what, then string) error {
	metrics.BatchFailures.WithLabelValues(b.Pipeline, b.Entity).Inc()
	if failure.IsPermanent(err) {
		w.Log.Error(err, what+" for a reason retrying cannot fix: archived in the dead-letter queue at once (sisporta dlq list)"+then, "entity", b.Entity, "run", b.Run, "batch", b.Seq)
		return fmt.Errorf("%w: %w", asynq.SkipRetry, err)
	}
	w.Log.Error(err, what+"; asynq retries it with backoff", "entity", b.Entity, "run", b.Run, "batch", b.Seq)
	return err
}

// checkRanges handles a range-check batch: ranges of the run's skipped
// key ranges whose target rows differ from what Sisporta wrote are marked
// to be read again (in the current list of ranges), and the run's own
// list is marked so that it is not kept.
func (w *Worker) checkRanges(ctx context.Context, b *queue.Batch) error {
	checks := make([]writer.RangeCheck, len(b.Checks))
	for i, c := range b.Checks {
		checks[i] = writer.RangeCheck{Index: c.Index, Lo: c.Lo, Hi: c.Hi, Want: c.Want}
	}
	res, err := w.Target.CheckRanges(ctx, writerBatch(b), checks, func(idx []int) error {
		if err := w.Runs.MarkRangesDirty(ctx, w.Queue, b.Entity, b.RangeBase, idx); err != nil {
			return err
		}
		return w.Runs.MarkPendingBad(ctx, w.Queue, b.Entity, b.Run, len(idx))
	})
	if err != nil {
		return w.failed(b, err, "range check failed", "")
	}
	if res.Skipped != "" {
		w.Log.V(1).Info("range check skipped", "entity", b.Entity, "run", b.Run, "batch", b.Seq, "reason", res.Skipped)
		return nil
	}
	if len(res.Differ) > 0 {
		w.Log.Info("warning: key ranges the run skipped differ in the target from what Sisporta wrote there (rows changed, added or removed behind its back): they are read again next run",
			"level", "warn", "entity", b.Entity, "run", b.Run, "ranges", len(res.Differ))
	}
	if err := w.Runs.AddProgress(ctx, w.Queue, b.Run, b.Entity, 0, 0); err != nil {
		w.Log.Error(err, "recording progress in Redis", "entity", b.Entity)
	}
	w.Log.V(1).Info("ranges checked", "entity", b.Entity, "run", b.Run, "batch", b.Seq, "ranges", len(b.Checks), "differ", len(res.Differ))
	return nil
}

// writerBatch hands the writer a decoded batch header in its own terms;
// the rows are decoded only if the writer asks for them.
func writerBatch(b *queue.Batch) *writer.Batch {
	return &writer.Batch{Pipeline: b.Pipeline, Run: b.Run, Epoch: b.Epoch, Entity: b.Entity, Seq: b.Seq,
		Table: b.Table, Schema: b.Schema, Ranged: b.Ranged, KeysOnly: b.KeysOnly, Lo: b.Lo, Hi: b.Hi,
		SoftDelete: b.SoftDelete, Verify: b.Verify, TakeOverFrom: b.TakeOverFrom, SourceLocation: b.SourceLocation,
		Digest: b.Digest, Rows: b.Rows, Parts: writerParts(b.Parts), Want: b.Want, Unchanged: b.Unchanged, Bulk: b.Bulk, BulkRows: b.BulkRows,
		DecodeRows: func() ([]schema.Row, error) {
			err := b.LoadRows()
			return b.Rows, err
		}}
}

func writerParts(parts []queue.Part) []writer.Part {
	if len(parts) == 0 {
		return nil
	}
	out := make([]writer.Part, len(parts))
	for i, p := range parts {
		out[i] = writer.Part{Lo: p.Lo, Hi: p.Hi, Rows: p.Rows}
	}
	return out
}

// fetcher reads rows of a key-scan batch's entity from the source by key,
// with the entity resolved once per run and entity (the schema it finds
// must be the batch's: a source changed under the run cannot be mixed in).
func (w *Worker) fetcher(b *queue.Batch) writer.Fetcher {
	return func(ctx context.Context, keys []schema.Row) ([]schema.Row, error) {
		src, err := w.source(ctx, queue.SourceOf(b.Driver, b.Source))
		if err != nil {
			return nil, err
		}
		e, err := w.entity(ctx, src, b)
		if err != nil {
			return nil, err
		}
		return src.Fetch(ctx, e, keys)
	}
}

// entity resolves a batch's entity against the source, once per run.
func (w *Worker) entity(ctx context.Context, src *source.Source, b *queue.Batch) (*source.Entity, error) {
	key := fmt.Sprintf("%s\x00%s\x00%d", b.Pipeline, b.Entity, b.Run)
	w.mu.Lock()
	e := w.entities[key]
	w.mu.Unlock()
	if e != nil {
		return e, nil
	}
	e, err := src.Resolve(ctx, *b.Spec)
	if err != nil {
		return nil, err
	}
	if e.Schema.Fingerprint() != b.Schema.Fingerprint() {
		return nil, fmt.Errorf("entity %s: the source's columns changed since run %d read them; the next run picks the change up", b.Entity, b.Run)
	}
	w.mu.Lock()
	if w.entities == nil || len(w.entities) > 64 {
		w.entities = map[string]*source.Entity{}
	}
	w.entities[key] = e
	w.mu.Unlock()
	return e, nil
}

// source returns an open source for verification, one per driver and
// read options.
func (w *Worker) source(ctx context.Context, spec syncv1alpha1.SourceSpec) (*source.Source, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	key := fmt.Sprintf("%s/%s/%v/%v", spec.Driver, spec.Isolation, ptrValue(spec.LockTimeoutSeconds), spec.AllowWritableLogin)
	if s := w.sources[key]; s != nil {
		return s, nil
	}
	if w.SourceDSN == "" {
		return nil, errors.New("the worker has no source DSN (SISPORTA_SOURCE_DSN): it needs read-only source access to verify rows before deleting them")
	}
	s, err := source.Open(ctx, spec, w.SourceDSN)
	if err != nil {
		return nil, err
	}
	if w.sources == nil {
		w.sources = map[string]*source.Source{}
	}
	w.sources[key] = s
	return s, nil
}

func ptrValue[T any](p *T) any {
	if p == nil {
		return nil
	}
	return *p
}
