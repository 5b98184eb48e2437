package cleanup

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	syncv1alpha1 "github.com/sisporta/sisporta/api/v1alpha1"
	"github.com/sisporta/sisporta/runner/runstate"
	"github.com/sisporta/sisporta/runner/schema"
	"github.com/sisporta/sisporta/runner/source"
	"github.com/sisporta/sisporta/runner/writer"
)

// chunk is how many rows one delete statement removes: small enough that no
// statement holds locks for long.
const chunk = 500

// Verifier asks the source which candidate keys it still has.
type Verifier interface {
	Existing(ctx context.Context, keys []schema.Row) ([]bool, error)
}

// SourceVerifier verifies against a resolved source entity.
type SourceVerifier struct {
	Source *source.Source
	Entity *source.Entity
}

// Existing implements Verifier.
func (v SourceVerifier) Existing(ctx context.Context, keys []schema.Row) ([]bool, error) {
	return v.Source.Existing(ctx, v.Entity, keys)
}

// Job is one entity's cleanup after a complete run.
type Job struct {
	Pipeline string
	Entity   string
	Run      int64
	Table    string
	Schema   *schema.Table
	Spec     syncv1alpha1.CleanupSpec
	RowsRead int64
	// KnownRows are the target rows the run's batches wrote or found
	// unchanged (its ledger's count): rows the table has, besides the
	// candidates. 0: unknown, the table is counted.
	KnownRows int64
	// Resume is true when an interrupted cleanup already decided to delete:
	// it continues without judging the guards again on what is left.
	Resume bool
	// Stopping, when set and true, ends the cleanup before its next delete
	// (a local sync that was interrupted deletes nothing more).
	Stopping func() bool
}

// ErrStopped ends a cleanup whose process is stopping; the next run
// cleans up.
var ErrStopped = errors.New("stopped before deleting: the process is stopping")

// Run verifies the run's delete candidates against the source (a
// candidate the source still has is dropped: it was only ordered
// differently, or came back), judges the guards, and deletes in chunks.
// onDecided is called when deleting is allowed, before the first row goes.
func Run(ctx context.Context, tg *writer.Target, v Verifier, j Job, onDecided func() error) (runstate.Cleanup, error) {
	soft := j.Spec.Mode == syncv1alpha1.CleanupSoftDelete
	pending := pendingOf(tg, j)
	now := func() runstate.Cleanup { return runstate.Cleanup{Time: time.Now().UTC()} }
	if j.Spec.Mode == syncv1alpha1.CleanupOff {
		n, err := pending.count(ctx)
		if err != nil {
			return runstate.Cleanup{}, err
		}
		d := Decide(j.Spec, j.RowsRead, 0, n)
		c := now()
		c.Result, c.Message = d.Result, d.Message
		return c, pending.clear(ctx)
	}
	if !j.Resume {
		// The guards weigh deletes against the table's rows: with nothing to
		// delete there is nothing to weigh (and a run that changed nothing
		// need not count a large table). The rows the run's batches put or
		// found in the target, and the candidates, are all in it: when the
		// guards pass on those alone they pass on the whole table (they
		// only pass more easily on more rows), which then need not be
		// counted, a full scan. Otherwise the table is counted while the
		// candidates are checked against the source.
		candidates, err := pending.count(ctx)
		if err != nil {
			return runstate.Cleanup{}, err
		}
		known := j.KnownRows > 0 && Decide(j.Spec, j.RowsRead, j.KnownRows+candidates, candidates).Result != syncv1alpha1.CleanupGuardTripped
		type counted struct {
			n   int64
			err error
		}
		rowCount := make(chan counted, 1)
		if candidates > 0 && !known {
			go func() {
				n, err := tg.CountRows(ctx, j.Table, soft)
				rowCount <- counted{n, err}
			}()
		}
		if err := verify(ctx, pending, v); err != nil {
			return runstate.Cleanup{}, err
		}
		deletes, err := pending.count(ctx)
		if err != nil {
			return runstate.Cleanup{}, err
		}
		var targetRows int64
		switch {
		case deletes == 0:
		case known:
			targetRows = j.KnownRows + deletes
		default:
			c := <-rowCount
			if c.err != nil {
				return runstate.Cleanup{}, c.err
			}
			targetRows = c.n
		}
		d := Decide(j.Spec, j.RowsRead, targetRows, deletes)
		if !d.Delete {
			c := now()
			c.Result, c.Message = d.Result, d.Message
			if d.Result != syncv1alpha1.CleanupSucceeded {
				c.Deleted = deletes // what would have been removed
			}
			return c, pending.clear(ctx)
		}
		if j.Stopping != nil && j.Stopping() {
			return runstate.Cleanup{}, ErrStopped
		}
		if err := onDecided(); err != nil {
			return runstate.Cleanup{}, err
		}
	}
	deleted, err := deleteAll(ctx, tg, pending, j)
	if err != nil {
		return runstate.Cleanup{}, err
	}
	c := now()
	c.Result, c.Deleted = syncv1alpha1.CleanupSucceeded, deleted
	c.Message = DeletedMessage(j.Spec.Mode, deleted)
	return c, nil
}

// verifyChunk is how many candidates one source lookup checks; parallel
// how many lookups, and how many delete chunks, run at once: each waits
// mostly on the server reading scattered pages, which it does in
// parallel.
const (
	verifyChunk = 500
	parallel    = 4
)

// verify drops the candidates the source still has.
func verify(ctx context.Context, pending pendingDeletes, v Verifier) error {
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(parallel)
	var after []byte
	for {
		page, err := pending.page(ctx, after, verifyChunk)
		if err != nil || len(page) == 0 {
			// A lookup's own error, not the cancelling of the page read
			// that it caused.
			if werr := g.Wait(); werr != nil {
				err = werr
			}
			return err
		}
		after = page[len(page)-1].Hash
		g.Go(func() error {
			exists, err := v.Existing(ctx, keysOf(page))
			if err != nil {
				return err
			}
			var keep [][]byte
			for i, ok := range exists {
				if ok {
					keep = append(keep, page[i].Hash)
				}
			}
			return pending.drop(ctx, keep)
		})
	}
}

// deleteAll deletes the verified candidates, chunk by chunk, each chunk
// in a transaction of its own that also drops its candidates and counts
// it in the run record (writer.Target.DeleteKeys): a cleanup stopped at
// any point resumes with exact counts, whichever chunks went.
func deleteAll(ctx context.Context, tg *writer.Target, pending pendingDeletes, j Job) (int64, error) {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(parallel)
	var (
		deleted atomic.Int64
		after   []byte
	)
	for {
		page, err := pending.page(gctx, after, chunk)
		if err == nil && len(page) > 0 && j.Stopping != nil && j.Stopping() {
			err = ErrStopped
		}
		if err != nil || len(page) == 0 {
			// A chunk's own error, not the cancelling of the page read
			// that it caused.
			if werr := g.Wait(); werr != nil {
				err = werr
			}
			return deleted.Load(), err
		}
		after = page[len(page)-1].Hash
		g.Go(func() error {
			n, err := tg.DeleteKeys(gctx, j.Table, j.Schema, j.Spec.Mode == syncv1alpha1.CleanupSoftDelete, j.Pipeline, j.Entity, j.Run, keysOf(page))
			deleted.Add(n)
			return err
		})
	}
}

// keysOf is the keys of a page of candidates.
func keysOf(page []Pending) []schema.Row {
	keys := make([]schema.Row, len(page))
	for i, p := range page {
		keys[i] = p.Key
	}
	return keys
}
