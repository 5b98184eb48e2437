package apply

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/hibiken/asynq"

	"github.com/sisporta/sisporta/runner/cleanup"
	"github.com/sisporta/sisporta/runner/failure"
	"github.com/sisporta/sisporta/runner/metrics"
	"github.com/sisporta/sisporta/runner/queue"
	"github.com/sisporta/sisporta/runner/runstate"
	"github.com/sisporta/sisporta/runner/schema"
	"github.com/sisporta/sisporta/runner/source"
	"github.com/sisporta/sisporta/runner/writer"

	syncv1alpha1 "github.com/sisporta/sisporta/api/v1alpha1"
)

// shortWait is how long a finalize step waits in place for batches of its
// run that are still being applied, before it asks to be retried.
const shortWait = time.Second

// HandleFinalize finishes an entity's run once every batch is applied:
// cleanup behind guards, watermark, run record. It is idempotent: a
// finalize delivered again republishes the recorded result.
func (w *Worker) HandleFinalize(ctx context.Context, t *asynq.Task) error {
	f, err := queue.DecodeFinalize(t.Payload())
	if err != nil {
		return fmt.Errorf("%w: %v", asynq.SkipRetry, err)
	}
	metrics.Touch(f.Pipeline, f.Entity)
	err = w.finalize(ctx, f)
	if err != nil && failure.IsPermanent(err) {
		// Waiting would not help: end the run now, deleting nothing more.
		lt, _ := w.Target.Ledger(ctx, f.Pipeline, f.Entity, f.Run)
		w.finish(ctx, f, lt, syncv1alpha1.RunFailed, fmt.Sprintf("the run could not be finished, and its cleanup deleted nothing more: %v (fix it; the next run then cleans up)", err), nil)
		w.Log.Error(err, "finalize failed for a reason retrying cannot fix", "entity", f.Entity, "run", f.Run)
		return fmt.Errorf("%w: %w", asynq.SkipRetry, err)
	}
	if err != nil && !errors.Is(err, queue.ErrNotReady) && time.Now().Before(f.WaitUntil) {
		w.Log.Error(err, "finalize failed; retrying while the run can still complete", "entity", f.Entity, "run", f.Run)
		return fmt.Errorf("%w: %w", queue.ErrRetryLater, err)
	}
	if err != nil && !errors.Is(err, queue.ErrNotReady) && lastAttempt(ctx) {
		// The task goes to the dead-letter queue: say so in the run record
		// so the run ends as failed instead of running forever (with the
		// ledger's counts if it can still be read).
		lt, _ := w.Target.Ledger(ctx, f.Pipeline, f.Entity, f.Run)
		w.finish(ctx, f, lt, syncv1alpha1.RunFailed, fmt.Sprintf("finalize failed after its last retry: %v", err), nil)
	}
	return err
}

func lastAttempt(ctx context.Context) bool {
	n, ok1 := asynq.GetRetryCount(ctx)
	m, ok2 := asynq.GetMaxRetry(ctx)
	return ok1 && ok2 && n >= m
}

// superseded records the entity's run as overtaken by run cur, with
// what its applied batches did (their rows are written, whatever run
// covers them next) and what its cleanup had deleted by then.
func (w *Worker) superseded(ctx context.Context, f *queue.Finalize, cur int64) error {
	lt, err := w.Target.Ledger(ctx, f.Pipeline, f.Entity, f.Run)
	if err != nil {
		return err
	}
	msg := fmt.Sprintf("run %d started before this one finished; it covers these rows", cur)
	var cl *runstate.Cleanup
	if rec, ok, err := w.Target.LoadRun(ctx, f.Pipeline, f.Run, f.Entity); err == nil && ok && rec.RowsDeleted > 0 {
		cl = &runstate.Cleanup{Time: time.Now().UTC(), Result: syncv1alpha1.CleanupSucceeded, Deleted: rec.RowsDeleted,
			Message: fmt.Sprintf("%s; stopped when run %d started", cleanup.DeletedMessage(f.Spec.Cleanup.Mode, rec.RowsDeleted), cur)}
	}
	w.finish(ctx, f, lt, syncv1alpha1.RunSuperseded, msg, cl)
	return nil
}

func (w *Worker) finalize(ctx context.Context, f *queue.Finalize) error {
	tg := w.Target
	if err := tg.CheckNotTheSource(ctx, f.Table, f.SourceLocation); err != nil {
		return err
	}
	rec, recorded, err := tg.LoadRun(ctx, f.Pipeline, f.Run, f.Entity)
	if err != nil {
		return err
	}
	if recorded && rec.Result != string(syncv1alpha1.RunRunning) {
		return w.publish(ctx, f, rec) // delivered again: the result stands
	}
	// An entity without batches has not registered its run yet.
	if err := tg.RegisterRun(ctx, f.Pipeline, f.Entity, f.Epoch, f.Run); err != nil {
		return err
	}
	cur, epoch, err := tg.CurrentRun(ctx, f.Pipeline, f.Entity)
	if err != nil {
		return err
	}
	if cur != f.Run || epoch != f.Epoch {
		return w.superseded(ctx, f, cur)
	}
	lt, err := tg.Ledger(ctx, f.Pipeline, f.Entity, f.Run)
	if err != nil {
		return err
	}
	if f.Failed != "" {
		w.finish(ctx, f, lt, syncv1alpha1.RunFailed, f.Failed, nil)
		return nil
	}
	// The finalize step is queued after the run's batches, so a batch it
	// misses is one another worker is applying now (or one waiting for a
	// retry): wait for those a moment here, which is far sooner than
	// asynq's retry of the step.
	for deadline := time.Now().Add(shortWait); lt.Batches < f.Batches && time.Now().Before(deadline); {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
		if lt, err = tg.Ledger(ctx, f.Pipeline, f.Entity, f.Run); err != nil {
			return err
		}
	}
	if lt.Batches < f.Batches {
		if time.Now().Before(f.WaitUntil) {
			return queue.ErrNotReady
		}
		w.finish(ctx, f, lt, syncv1alpha1.RunFailed, fmt.Sprintf(
			"only %d of %d batches were applied by %s; cleanup skipped (see `sisporta dlq list` for dead batches; the next run starts afresh)",
			lt.Batches, f.Batches, f.WaitUntil.Format(time.RFC3339)), nil)
		return nil
	}

	resume := recorded && cleanup.Resumes(rec)
	base := writer.RunRecord{Pipeline: f.Pipeline, Run: f.Run, Entity: f.Entity, Result: string(syncv1alpha1.RunRunning),
		SnapshotTime: f.SnapshotTime, RowsRead: f.RowsRead, RowsWritten: lt.Written, RowsUnchanged: lt.Unchanged + f.RowsSkipped,
		RowsRepaired: lt.Repaired, Verified: f.Verify, Batches: lt.Batches}
	// Another pipeline may have taken the table over since the batches
	// were applied: its rows are not this run's to delete.
	if err := tg.CheckOwner(ctx, f.Table, f.Pipeline, f.Entity); err != nil {
		w.finish(ctx, f, lt, syncv1alpha1.RunFailed, err.Error(), nil)
		return nil
	}
	// The guards judge the rows the source has: those read, and those of
	// the key ranges skipped because their source digest had not changed.
	read := f.RowsRead + f.RowsSkipped
	if f.Spec.Source.Cursor != nil {
		read = f.KeysScanned
	}
	job := cleanup.Job{Pipeline: f.Pipeline, Entity: f.Entity, Run: f.Run, Table: f.Table, Schema: &f.Schema,
		Spec: f.Spec.Cleanup, RowsRead: read, KnownRows: lt.Written + lt.Unchanged, Resume: resume, Stopping: w.Stopping}
	v := &lazyVerifier{w: w, f: f}
	cl, err := cleanup.RunRecorded(ctx, tg, v, job, base)
	if errors.Is(err, writer.ErrSuperseded) {
		// A newer run registered while this one was deleting: it decides.
		cur, _, cerr := tg.CurrentRun(ctx, f.Pipeline, f.Entity)
		if cerr != nil {
			return cerr
		}
		return w.superseded(ctx, f, cur)
	}
	if err != nil {
		return fmt.Errorf("entity %s: cleanup: %w", f.Entity, err)
	}
	// The cursor vouches for every row up to it: it advances only now,
	// every batch of the run applied, and only in the target, the one
	// record of it that extractions read (extract.Extractor.StoredCursor).
	if f.Cursor != "" {
		if err := tg.SetCursor(ctx, f.Pipeline, f.Entity, f.Cursor); err != nil {
			return err
		}
	}
	w.finish(ctx, f, lt, syncv1alpha1.RunSucceeded, "", &cl, w.keepRanges(ctx, f, cl)...)
	return tg.Housekeep(ctx, f.Pipeline, f.Entity)
}

// keepRanges makes the run's key ranges the entity's current ones when
// the run left the target as the source is: every batch applied and the
// cleanup done (a guard that kept rows, a dry run, leave the target with
// rows the source lost; the ranges this run read stay to be read again).
// It returns the warnings to record: ranges the run skipped that range
// checks found changed in the target. Failing to keep them is safe: the
// next run reads more.
func (w *Worker) keepRanges(ctx context.Context, f *queue.Finalize, cl runstate.Cleanup) []string {
	if !f.Ranges {
		return nil
	}
	if cl.Result != syncv1alpha1.CleanupSucceeded {
		w.dropRanges(ctx, f)
		return nil
	}
	bad, err := w.Runs.PromotePending(ctx, w.Queue, f.Entity, f.Run)
	if err != nil && !errors.Is(err, runstate.ErrNoPending) {
		w.Log.Error(err, "keeping the run's key ranges; the next run reads every range", "entity", f.Entity, "run", f.Run)
	}
	if bad > 0 {
		ranges := "ranges"
		if bad == 1 {
			ranges = "range"
		}
		msg := fmt.Sprintf("%d key %s of entity %s differ in the target from what Sisporta wrote there (rows changed, added or removed behind its back, or the table emptied): they are read again next run", bad, ranges, f.Entity)
		w.Log.Info("warning: "+msg, "level", "warn", "entity", f.Entity, "run", f.Run)
		return []string{msg}
	}
	return nil
}

// dropRanges drops the run's pending ranges, best effort (the next run
// drops them anyway).
func (w *Worker) dropRanges(ctx context.Context, f *queue.Finalize) {
	if !f.Ranges {
		return
	}
	if err := w.Runs.DropPending(ctx, w.Queue, f.Entity, f.Run); err != nil {
		w.Log.Error(err, "dropping the run's key ranges", "entity", f.Entity, "run", f.Run)
	}
}

// finish records an entity's result in the target and in Redis.
func (w *Worker) finish(ctx context.Context, f *queue.Finalize, lt writer.LedgerTotals, result syncv1alpha1.RunResult, msg string, cl *runstate.Cleanup, warnings ...string) {
	now := time.Now().UTC()
	if result != syncv1alpha1.RunSucceeded {
		w.dropRanges(ctx, f)
	}
	unchanged := lt.Unchanged
	if result == syncv1alpha1.RunSucceeded {
		unchanged += f.RowsSkipped
	}
	rec := writer.RunRecord{Pipeline: f.Pipeline, Run: f.Run, Entity: f.Entity, Result: string(result), SnapshotTime: f.SnapshotTime,
		CompletedAt: now, RowsRead: f.RowsRead, RowsWritten: lt.Written, RowsUnchanged: unchanged, RowsRepaired: lt.Repaired,
		Verified: f.Verify, Batches: lt.Batches, Message: msg}
	if cl != nil {
		rec.CleanupResult, rec.CleanupMessage, rec.CleanupCount = string(cl.Result), cl.Message, cl.Deleted
		if cl.Result == syncv1alpha1.CleanupSucceeded {
			rec.RowsDeleted = cl.Deleted
		}
	}
	if err := w.Target.SaveRun(ctx, rec); err != nil {
		w.Log.Error(err, "recording the run in the target", "entity", f.Entity, "run", f.Run)
	}
	if err := w.publish(ctx, f, rec, warnings...); err != nil {
		w.Log.Error(err, "recording the run in Redis", "entity", f.Entity, "run", f.Run)
	}
	labels := []string{f.Pipeline, f.Entity}
	if result == syncv1alpha1.RunSucceeded && f.RowsSkipped > 0 {
		metrics.RowsUnchanged.WithLabelValues(labels...).Add(float64(f.RowsSkipped))
	}
	if cl != nil {
		if cl.Result == syncv1alpha1.CleanupSucceeded {
			metrics.RowsDeleted.WithLabelValues(labels...).Add(float64(cl.Deleted))
		}
		if cl.Result == syncv1alpha1.CleanupGuardTripped {
			metrics.GuardTripped.WithLabelValues(labels...).Inc()
			w.Log.Info("cleanup guard tripped: nothing deleted", "entity", f.Entity, "run", f.Run, "message", cl.Message)
		}
	}
	if result == syncv1alpha1.RunSucceeded {
		metrics.LagSeconds.WithLabelValues(labels...).Set(now.Sub(f.SnapshotTime).Seconds())
	}
	w.Log.Info("entity finished", "entity", f.Entity, "run", f.Run, "result", result, "written", rec.RowsWritten,
		"unchanged", rec.RowsUnchanged, "deleted", rec.RowsDeleted, "rangesSkipped", f.RangesSkipped, "message", msg)
}

// publish writes a recorded result to the Redis run summary.
func (w *Worker) publish(ctx context.Context, f *queue.Finalize, rec writer.RunRecord, warnings ...string) error {
	fin := runstate.Final{Result: syncv1alpha1.RunResult(rec.Result), RowsRead: rec.RowsRead, RowsWritten: rec.RowsWritten,
		RowsUnchanged: rec.RowsUnchanged, RowsDeleted: rec.RowsDeleted, RowsRepaired: rec.RowsRepaired, Error: rec.Message, EndTime: rec.CompletedAt,
		Warnings: warnings}
	if fin.Result == syncv1alpha1.RunSucceeded {
		fin.RowsSkipped, fin.RangesSkipped = f.RowsSkipped, f.RangesSkipped
	}
	if rec.CleanupResult != "" && rec.CleanupResult != cleanup.Deleting {
		fin.Cleanup = &runstate.Cleanup{Time: rec.CompletedAt, Result: syncv1alpha1.CleanupResult(rec.CleanupResult), Message: rec.CleanupMessage, Deleted: rec.CleanupCount}
	}
	return w.Runs.SetFinal(ctx, w.Queue, f.Run, f.Entity, fin)
}

// lazyVerifier opens the source and resolves the entity only when there
// are candidates to verify: a run that deletes nothing never asks.
type lazyVerifier struct {
	w    *Worker
	f    *queue.Finalize
	once sync.Once
	v    cleanup.SourceVerifier
	err  error
}

func (l *lazyVerifier) Existing(ctx context.Context, keys []schema.Row) ([]bool, error) {
	l.once.Do(func() {
		var src *source.Source
		src, l.err = l.w.source(ctx, queue.SourceOf(l.f.Driver, l.f.Source))
		if l.err != nil {
			return
		}
		var e *source.Entity
		e, l.err = src.Resolve(ctx, l.f.Spec)
		l.v = cleanup.SourceVerifier{Source: src, Entity: e}
	})
	if l.err != nil {
		return nil, l.err
	}
	return l.v.Existing(ctx, keys)
}
