// Package localsync runs one complete run of a pipeline in one process:
// extract, queue, apply, finalize, cleanup. Without a Redis URL it queues
// through an embedded Redis (miniredis), so a laptop needs only the two
// databases; asynq runs unchanged on it, so there is one code path.
package localsync

import (
	"context"
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
	"github.com/sisporta/sisporta/runner/queue"
	"github.com/sisporta/sisporta/runner/runstate"
	"github.com/sisporta/sisporta/runner/source"
	"github.com/sisporta/sisporta/runner/target"
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
	src, err := source.Open(ctx, p.Spec.Source.Driver, o.SourceDSN)
	if err != nil {
		return nil, err
	}
	defer src.Close()
	concurrency := int(p.Spec.Workers.Concurrency)
	tg, err := target.Open(ctx, o.TargetDSN, concurrency+2)
	if err != nil {
		return nil, err
	}
	defer tg.Close()

	qname := queue.Name(p.Namespace, p.Name)
	runs := runstate.NewStore(rdb)
	if err := seedCursors(ctx, p, tg, runs, qname); err != nil {
		return nil, err
	}
	disp := newDisplay(o.Progress, p)
	defer disp.stop()

	w := &apply.Worker{Target: tg, Runs: runs, Queue: qname, SourceDSN: o.SourceDSN, Log: o.Log.WithName("worker"), OnApplied: disp.applied}
	defer w.Close()
	srv := apply.NewServer(opt, qname, concurrency, 30*time.Second, o.Log)
	if err := srv.Start(w.Mux()); err != nil {
		return nil, fmt.Errorf("starting the in-process worker: %w", err)
	}
	defer srv.Shutdown()

	client := asynq.NewClientFromRedisClient(rdb)
	x := &extract.Extractor{Pipeline: p, Source: src, Client: client, Redis: rdb, Runs: runs, Trigger: "sync", MaxPending: maxPending, Verify: o.Verify,
		Progress: disp.read, Log: o.Log.WithName("extract")}
	res, err := x.Run(ctx)
	if err != nil {
		return nil, err
	}
	run, err := waitForRun(ctx, runs, rdb, qname, res.RunID)
	if err != nil {
		return nil, err
	}
	disp.stop()
	return summarize(p, run), nil
}

// waitForRun polls the run summary until every entity is final, failing
// early when one of the run's tasks landed in the dead-letter queue.
func waitForRun(ctx context.Context, runs *runstate.Store, rdb redis.UniversalClient, qname string, id int64) (*runstate.Run, error) {
	insp := asynq.NewInspectorFromRedisClient(rdb)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	marker := fmt.Sprintf("/%d/", id)
	for {
		r, err := runs.Get(ctx, qname, id)
		if err != nil {
			return nil, err
		}
		if r != nil && r.Result() != runstate.ResultRunning {
			return r, nil
		}
		if dead, _ := insp.ListArchivedTasks(qname, asynq.PageSize(100)); len(dead) > 0 {
			for _, t := range dead {
				if strings.Contains(t.ID, marker) {
					return nil, fmt.Errorf("task %s failed for good: %s (it is in the dead-letter queue: sisporta dlq list)", t.ID, t.LastErr)
				}
			}
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("waiting for the run to finish: %w", ctx.Err())
		case <-tick.C:
		}
	}
}

// seedCursors gives a fresh Redis (the embedded one starts empty every
// time) the incremental watermarks the target keeps, so a local run reads
// only what changed since the last one.
func seedCursors(ctx context.Context, p *syncv1alpha1.SyncPipeline, tg *target.Target, runs *runstate.Store, qname string) error {
	id := queue.PipelineID(p.Namespace, p.Name)
	for _, e := range p.Spec.Entities {
		if e.Source.Cursor == nil {
			continue
		}
		if cur, err := runs.Cursor(ctx, qname, e.Name); err != nil || cur != "" {
			continue
		}
		stored, err := tg.Cursor(ctx, id, e.Name)
		if err != nil {
			return err
		}
		if stored != "" {
			if err := runs.SetCursor(ctx, qname, e.Name, stored); err != nil {
				return err
			}
		}
	}
	return nil
}
