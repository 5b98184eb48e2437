// Package localsync runs one complete run of a pipeline in one process:
// extract, queue, apply, finalize, cleanup. Without a Redis URL it queues
// through an embedded Redis (miniredis), so a laptop needs only the two
// databases; asynq runs unchanged on it, so there is one code path.
package localsync

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/go-logr/logr"
	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	syncv1alpha1 "github.com/sisporta/sisporta/api/v1alpha1"
	"github.com/sisporta/sisporta/runner/apply"
	"github.com/sisporta/sisporta/runner/extract"
	"github.com/sisporta/sisporta/runner/failure"
	"github.com/sisporta/sisporta/runner/queue"
	"github.com/sisporta/sisporta/runner/runstate"
	"github.com/sisporta/sisporta/runner/source"
	"github.com/sisporta/sisporta/runner/writer"
)

// Options of a local run.
type Options struct {
	Pipeline  *syncv1alpha1.SyncPipeline
	SourceDSN string
	TargetDSN string
	// RedisURL, when empty, starts an embedded Redis for the run.
	RedisURL string
	// Progress receives a live progress display (a terminal), or nil.
	Progress io.Writer
	Log      logr.Logger
	// Timeout bounds the whole run (0: none).
	Timeout time.Duration
	// Verify checks every target row's values instead of trusting stored
	// row hashes, and repairs what differs.
	Verify bool
	// MaxBatchBytes bounds a batch's values (0: the extractor's default).
	MaxBatchBytes int
}

// Run performs one complete run and returns its summary.
func Run(ctx context.Context, o Options) (*Summary, error) {
	if o.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.Timeout)
		defer cancel()
	}
	p := o.Pipeline
	redisURL := o.RedisURL
	maxPending := 0 // the extractor's default
	if redisURL == "" {
		// The embedded Redis holds queued batches in this process: keep
		// only a few ahead of the workers.
		maxPending = 4 * int(p.Spec.Workers.Concurrency)
		mr, err := miniredis.Run()
		if err != nil {
			return nil, fmt.Errorf("starting the embedded Redis: %w", err)
		}
		defer mr.Close()
		redisURL = "redis://" + mr.Addr()
	}
	rdb, opt, err := queue.Connect(ctx, redisURL)
	if err != nil {
		return nil, err
	}
	defer rdb.Close()
	src, err := source.Open(ctx, p.Spec.Source, o.SourceDSN)
	if err != nil {
		return nil, err
	}
	defer src.Close()
	concurrency := int(p.Spec.Workers.Concurrency)
	if err := notTheSource(ctx, src, o.TargetDSN); err != nil {
		return nil, err
	}
	tg, err := writer.Open(ctx, o.TargetDSN, concurrency+2)
	if err != nil {
		return nil, err
	}
	defer tg.Close()

	qname := queue.Name(p.Namespace, p.Name)
	runs := runstate.NewStore(rdb)
	disp := newDisplay(o.Progress, p)
	defer disp.stop()

	w := &apply.Worker{Target: tg, Runs: runs, Queue: qname, SourceDSN: o.SourceDSN, Log: o.Log.WithName("worker"), OnApplied: disp.applied,
		Stopping: func() bool { return ctx.Err() != nil }}
	defer w.Close()
	srv := apply.NewServer(opt, qname, concurrency, 30*time.Second, o.Log)
	if err := srv.Start(w.Mux()); err != nil {
		return nil, fmt.Errorf("starting the in-process worker: %w", err)
	}
	defer srv.Shutdown()

	client := asynq.NewClientFromRedisClient(rdb)
	x := &extract.Extractor{Pipeline: p, Source: src, Client: client, Redis: rdb, Runs: runs, Target: tg, Trigger: syncv1alpha1.TriggerSync, MaxPending: maxPending, Verify: o.Verify, MaxBatchBytes: o.MaxBatchBytes,
		Progress: disp.read, Log: o.Log.WithName("extract")}
	res, err := x.Run(ctx)
	if err != nil {
		return nil, stopped(ctx, o, runs, tg, p, qname, res, err)
	}
	run, err := waitForRun(ctx, runs, rdb, qname, res.RunID, o.RedisURL == "")
	if err != nil {
		return nil, stopped(ctx, o, runs, tg, p, qname, res, err)
	}
	disp.stop()
	return summarize(p, run), nil
}

// stopped turns the error of a run cut short by Ctrl-C or --timeout into
// what happened and what to do. An entity without a result stops before
// its cleanup's next chunk: the target's run record says how many rows
// its chunks had deleted by then.
func stopped(ctx context.Context, o Options, runs *runstate.Store, tg *writer.Target, p *syncv1alpha1.SyncPipeline, qname string, res *extract.Result, err error) error {
	if ctx.Err() == nil {
		return err
	}
	why := "sync was interrupted before the run finished"
	if errors.Is(ctx.Err(), context.DeadlineExceeded) && o.Timeout > 0 {
		why = fmt.Sprintf("the run did not finish within --timeout %s", o.Timeout)
	}
	var done, open, partial []string
	if res != nil {
		c, cancel := context.WithTimeout(context.WithoutCancel(ctx), 3*time.Second)
		defer cancel()
		if r, _ := runs.Get(c, qname, res.RunID); r != nil {
			for _, e := range r.Entities {
				if f := e.Final; f != nil {
					done = append(done, fmt.Sprintf("%s (%s, %d deleted)", e.Name, f.Result, f.RowsDeleted))
					continue
				}
				rec, ok, _ := tg.LoadRun(c, queue.PipelineID(p.Namespace, p.Name), res.RunID, e.Name)
				if ok && rec.RowsDeleted > 0 {
					partial = append(partial, fmt.Sprintf("%s (%d deleted before it stopped; the next run finishes its cleanup)", e.Name, rec.RowsDeleted))
				} else {
					open = append(open, e.Name)
				}
			}
		}
	}
	var parts []string
	if len(done) > 0 {
		parts = append(parts, "finished: "+strings.Join(done, ", "))
	}
	if len(partial) > 0 {
		parts = append(parts, "cleanup cut short: "+strings.Join(partial, ", "))
	}
	switch {
	case len(parts) == 0:
		parts = append(parts, "nothing was deleted")
	case len(open) > 0:
		parts = append(parts, "nothing was deleted from the others ("+strings.Join(open, ", ")+")")
	}
	return errors.New(why + ": " + strings.Join(parts, "; ") + ". Run sync again: it goes on from what the target holds")
}

// waitForRun polls the run summary until every entity is final, failing
// early when one of the run's tasks landed in the dead-letter queue (a
// permanent error goes there at once), with every failed task's error.
func waitForRun(ctx context.Context, runs *runstate.Store, rdb redis.UniversalClient, qname string, id int64, embedded bool) (*runstate.Run, error) {
	insp := asynq.NewInspectorFromRedisClient(rdb)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		r, err := runs.Get(ctx, qname, id)
		if err != nil {
			return nil, err
		}
		if r != nil && r.Result() != syncv1alpha1.RunRunning {
			return r, nil
		}
		if err := deadTasks(insp, qname, id, embedded); err != nil {
			return nil, err
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("waiting for the run to finish: %w", ctx.Err())
		case <-tick.C:
		}
	}
}

// deadTasks reports the run's tasks in the dead-letter queue, if any.
func deadTasks(insp *asynq.Inspector, qname string, run int64, embedded bool) error {
	dead, _ := insp.ListArchivedTasks(qname, asynq.PageSize(100))
	var lines []string
	for _, t := range dead {
		if ref, ok := queue.ParseTaskID(t.ID); ok && ref.Run == run {
			lines = append(lines, ref.String()+": "+strings.TrimPrefix(t.LastErr, asynq.SkipRetry.Error()+": "))
		}
	}
	if len(lines) == 0 {
		return nil
	}
	where := "they are in the dead-letter queue: `sisporta dlq list` shows them; fix the cause, then `sisporta dlq retry`"
	if embedded {
		where = "the embedded queue ends with this process: fix the cause and run sync again"
	}
	return fmt.Errorf("%d task(s) of the run failed for good (%s):\n  %s", len(lines), where, strings.Join(lines, "\n  "))
}

// notTheSource refuses a target DSN naming the source's database before
// Sisporta's state tables are created there.
func notTheSource(ctx context.Context, src *source.Source, targetDSN string) error {
	loc, err := src.Location(ctx)
	if err != nil || loc == "" {
		return err
	}
	tg, err := writer.New(targetDSN, 1)
	if err != nil {
		return err
	}
	defer tg.Close()
	if err := tg.CheckNotTheSource(ctx, "", loc); err != nil && failure.IsPermanent(err) {
		return err
	}
	return nil // a target it cannot reach is reported by Open
}
