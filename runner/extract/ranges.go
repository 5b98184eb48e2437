package extract

import (
	"context"
	"fmt"
	"sync/atomic"

	"github.com/sisporta/sisporta/runner/queue"
	"github.com/sisporta/sisporta/runner/runstate"
	"github.com/sisporta/sisporta/runner/schema"
	"github.com/sisporta/sisporta/runner/source"
)

// Range digests (runstate's ranges, source's RangeDigest): a full read
// keeps, per batch, its key range, the source's digest of the rows it read
// there and the digest of those rows as the target gets them. The next run
// asks the source for each range's digest again (one aggregate statement a
// range, two at a time) and reads only the ranges whose digest changed;
// the others are skipped, checked against the target by the workers (range
// checks), and carried into the run's own list.

const (
	// digestGroup is how many ranges one digest statement covers;
	// digestWorkers how many statements run at once, digestAhead how many
	// are asked for ahead of the range being handled.
	digestGroup   = 8
	digestWorkers = 3
	digestAhead   = 4
	// checksPerTask is how many skipped ranges one range-check task holds.
	checksPerTask = 32
	// pendingFlush is how many finished ranges are stored in one write.
	pendingFlush = 128
)

// rangeStats is what a ranged extraction did.
type rangeStats struct {
	read          int64
	skippedRows   int64
	skippedRanges int
}

// ranged extracts a non-incremental entity by key ranges: all of it when
// there is no current list of its shape (the first run, changed columns
// or where filter, a verifying run), otherwise range by range.
func (x *Extractor) ranged(ctx context.Context, e *source.Entity, template *queue.Batch, er *EntityResult, run int64, verify bool, report func(bool)) (rangeStats, error) {
	var st rangeStats
	q, name := x.queueName(), e.Name
	shape := e.DigestShape()
	var cur *runstate.RangeSet
	if !verify {
		var err error
		if cur, err = x.Runs.LoadRanges(ctx, q, name); err != nil {
			return st, err
		}
		if cur != nil && cur.Shape != shape {
			x.Log.Info("the entity's columns, key or where filter changed since its ranges were kept: reading it in full", "entity", name)
			cur = nil
		}
	}
	var base int64
	if cur != nil {
		base = cur.Run
	}
	if err := x.Runs.StartPending(ctx, q, name, runstate.RangeMeta{Shape: shape, Run: run, Epoch: x.epoch, Base: base}); err != nil {
		return st, err
	}
	pw := &pendingWriter{x: x, entity: name, limit: int64(x.Pipeline.Spec.BatchSize), limitBytes: int64(x.MaxBatchBytes)}
	passOf := func(lo, hi *bound, full bool) passOptions {
		return passOptions{ranged: true, lo: lo, hi: hi, digest: true, group: full,
			onRange: func(kr keyRange) error {
				r := runstate.Range{Hi: kr.Hi, HiParams: kr.HiParams, Count: kr.Count, Bytes: kr.Bytes, Target: kr.Target}
				if kr.Source != nil {
					r.Source = kr.Source.String()
				}
				return pw.add(ctx, r)
			}}
	}
	readRange := func(o passOptions) error {
		n, err := x.pass(ctx, e, template, er, o, report)
		st.read += n
		return err
	}
	if cur == nil {
		// Nothing stale may outlive a full read: its batches change the
		// target under the old list.
		if err := x.Runs.DropCurrentRanges(ctx, q, name); err != nil {
			return st, err
		}
		o := passOf(nil, nil, true)
		o.emptyTarget = x.targetTableEmpty(ctx, template)
		if err := readRange(o); err != nil {
			return st, err
		}
		return st, pw.finish(ctx)
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	digests := x.prefetchDigests(ctx, e, cur)
	var checks []queue.RangeCheck
	flushChecks := func() error {
		if len(checks) == 0 {
			return nil
		}
		b := *template
		b.Seq, b.Checks, b.RangeBase = er.Batches, checks, base
		if err := x.enqueue(ctx, &b); err != nil {
			return err
		}
		er.Batches++
		checks = nil
		return nil
	}
	// What the list's ranges come to, in key order: a skipped range, or a
	// span of changed ranges next to each other (up to readAhead of
	// them), read together: one statement, its batches cut at batchSize
	// rows, tiling the span exactly. A span's source read starts as soon
	// as it is decided, up to spansAhead spans before it is handled: the
	// handling (the target's rows, sparse batches, enqueuing) of one
	// overlaps with the reading of the next.
	type step struct {
		skipped *runstate.Range
		check   queue.RangeCheck
		span    []int
		o       passOptions
	}
	var (
		steps  []step
		spans  int
		spanLo *bound
		spanHi *bound
		span   []int
	)
	handle := func(s step) error {
		if s.skipped == nil {
			// Before any batch can change the target's rows of these
			// ranges, the current list must stop vouching for them: a run
			// that stops midway, and a source that then goes back to what
			// the list says, would otherwise leave the target's ranges as
			// this run half wrote them.
			if err := x.Runs.MarkRangesDirty(ctx, q, name, base, s.span); err != nil {
				return err
			}
			return readRange(s.o)
		}
		st.skippedRows += s.skipped.Count
		st.skippedRanges++
		if err := pw.add(ctx, *s.skipped); err != nil {
			return err
		}
		checks = append(checks, s.check)
		if len(checks) >= checksPerTask {
			return flushChecks()
		}
		return nil
	}
	// drain handles the steps decided so far until at most keep spans
	// wait.
	drain := func(keep int) error {
		for len(steps) > 0 && (spans > keep || steps[0].skipped != nil) {
			s := steps[0]
			steps = steps[1:]
			if s.skipped == nil {
				spans--
			}
			if err := handle(s); err != nil {
				return err
			}
		}
		return nil
	}
	flushSpan := func() error {
		if len(span) == 0 {
			return nil
		}
		o := passOf(spanLo, spanHi, false)
		o.pages = x.readPages(ctx, e, o)
		steps = append(steps, step{span: span, o: o})
		spans++
		span = nil
		return drain(spansAhead)
	}
	var lo *bound
	for i, r := range cur.Ranges {
		var hi *bound
		if r.Hi != nil {
			hi = &bound{key: r.Hi, params: r.HiParams}
		}
		same := false
		if r.Source != "" {
			res := digests.get(ctx, i)
			if res.err != nil {
				return st, res.err
			}
			if !res.notAsked {
				same = res.digest.String() == r.Source
				digests.result(!same)
			}
		}
		if same {
			if err := flushSpan(); err != nil {
				return st, err
			}
			var loKey schema.Row
			if lo != nil {
				loKey = lo.key
			}
			steps = append(steps, step{skipped: &cur.Ranges[i], check: queue.RangeCheck{Index: i, Lo: loKey, Hi: r.Hi, Want: r.Target}})
			if err := drain(spansAhead); err != nil {
				return st, err
			}
		} else {
			if len(span) == 0 {
				spanLo = lo
			}
			span, spanHi = append(span, i), hi
			if len(span) == readAhead {
				if err := flushSpan(); err != nil {
					return st, err
				}
			}
		}
		lo = hi
	}
	if err := flushSpan(); err != nil {
		return st, err
	}
	if err := drain(0); err != nil {
		return st, err
	}
	if err := flushChecks(); err != nil {
		return st, err
	}
	return st, pw.finish(ctx)
}

// targetTableEmpty says whether the target table has no row yet (or
// does not exist): a full read into it can go in bulk from its first
// batch. Without a target, or one that cannot be asked, it says no; the
// workers' loads tell (loadingInBulk).
func (x *Extractor) targetTableEmpty(ctx context.Context, template *queue.Batch) bool {
	if x.Target == nil || template.Verify {
		return false
	}
	empty, err := x.Target.Empty(ctx, template.Table)
	if err != nil {
		x.Log.V(1).Info("could not ask the target whether its table is empty", "table", template.Table, "error", err.Error())
		return false
	}
	return empty
}

// spansAhead is how many spans of changed ranges are read ahead of the
// one being handled.
const spansAhead = 2

type digestResult struct {
	digest schema.SourceDigest
	err    error
	// notAsked: ranges kept changing, and this one was read without
	// asking (see prefetcher.misses).
	notAsked bool
}

// prefetcher asks the source for the digests of the clean ranges of a
// list, digestGroup consecutive ranges a statement, digestWorkers
// statements at a time, and at most digestAhead statements ahead of the
// range the caller waits for. Results travel a group at a time: a
// channel a range cost 150 bytes a range, 15 MB for a table of 100M rows.
type prefetcher struct {
	groups []digestJob
	out    []chan []digestResult // a group's results, in its idx order
	group  []int32               // each range's group (-1: not asked)
	slots  chan struct{}
	// cur is the group whose results res holds (taking them freed a slot).
	cur int32
	res []digestResult
	// misses counts the ranges in a row whose digest had changed: while
	// they keep changing (most rows of the table change between runs),
	// only every missEvery-th group is asked, so that a table that changes
	// everywhere costs little more than a full read; the others are read
	// without asking.
	misses atomic.Int64
}

// digestJob is a group of clean ranges asked for in one statement.
type digestJob struct {
	idx    []int
	bounds []source.Bounds
}

const (
	missStreak = 32
	missEvery  = 8
)

// result tells the prefetcher whether a range it asked for had changed.
func (p *prefetcher) result(changed bool) {
	if changed {
		p.misses.Add(1)
	} else {
		p.misses.Store(0)
	}
}

// prefetchDigests starts asking; the caller takes the clean ranges'
// digests in order with get, and cancels ctx when it stops early.
func (x *Extractor) prefetchDigests(ctx context.Context, e *source.Entity, cur *runstate.RangeSet) *prefetcher {
	n := len(cur.Ranges)
	p := &prefetcher{group: make([]int32, n), slots: make(chan struct{}, digestAhead), cur: -1}
	var (
		prev []any
		j    digestJob
	)
	for i, r := range cur.Ranges {
		p.group[i] = -1
		if r.Source != "" {
			p.group[i] = int32(len(p.groups))
			j.idx = append(j.idx, i)
			j.bounds = append(j.bounds, source.Bounds{After: prev, UpTo: r.HiParams})
			if len(j.idx) == digestGroup {
				p.groups, j = append(p.groups, j), digestJob{}
			}
		}
		prev = r.HiParams
	}
	if len(j.idx) > 0 {
		p.groups = append(p.groups, j)
	}
	p.out = make([]chan []digestResult, len(p.groups))
	for g := range p.out {
		p.out[g] = make(chan []digestResult, 1)
	}
	type job struct {
		g int
		digestJob
	}
	jobs := make(chan job)
	go func() {
		defer close(jobs)
		for g, j := range p.groups {
			select {
			case p.slots <- struct{}{}: // freed by get
			case <-ctx.Done():
				return
			}
			if p.misses.Load() >= missStreak && g%missEvery != 0 {
				res := make([]digestResult, len(j.idx))
				for k := range res {
					res[k].notAsked = true
				}
				p.out[g] <- res
				continue
			}
			select {
			case jobs <- job{g, j}:
			case <-ctx.Done():
				return
			}
		}
	}()
	for range digestWorkers {
		go func() {
			for j := range jobs {
				ds, err := x.Source.RangeDigests(ctx, e, j.bounds)
				res := make([]digestResult, len(j.idx))
				for k := range res {
					if err != nil {
						res[k].err = err
					} else {
						res[k].digest = ds[k]
					}
				}
				p.out[j.g] <- res
			}
		}()
	}
	return p
}

// get waits for the digest of clean range i; the caller asks for the
// clean ranges in order.
func (p *prefetcher) get(ctx context.Context, i int) digestResult {
	g := p.group[i]
	if g != p.cur {
		select {
		case p.res = <-p.out[g]:
			p.cur = g
			<-p.slots
		case <-ctx.Done():
			return digestResult{err: ctx.Err()}
		}
	}
	for k, at := range p.groups[g].idx {
		if at == i {
			return p.res[k]
		}
	}
	return digestResult{err: fmt.Errorf("range %d has no digest asked for", i)}
}

// pendingWriter stores a run's ranges as the extraction finishes them,
// joining neighbours while their rows fit one batch (limit rows and, where
// both sizes are known, limitBytes): ranges emptied by deletes, and the
// last short page of a range read again, do not pile up, and a range of
// wide rows stays a batch long, so that a change in it does not make the
// next run read a thousand of them.
type pendingWriter struct {
	x          *Extractor
	entity     string
	limit      int64
	limitBytes int64
	n          int
	buf        []runstate.Range
}

func (w *pendingWriter) add(ctx context.Context, r runstate.Range) error {
	if k := len(w.buf); k > 0 {
		last := &w.buf[k-1]
		known := last.Bytes > 0 && r.Bytes > 0
		if last.Source != "" && r.Source != "" && last.Count+r.Count <= w.limit && (!known || w.limitBytes <= 0 || last.Bytes+r.Bytes <= w.limitBytes) {
			a, err1 := schema.ParseSourceDigest(last.Source)
			b, err2 := schema.ParseSourceDigest(r.Source)
			if err1 == nil && err2 == nil && a.Sum == b.Sum {
				bytes := int64(0)
				if known || last.Count == 0 || r.Count == 0 {
					bytes = last.Bytes + r.Bytes
				}
				last.Hi, last.HiParams, last.Count, last.Bytes = r.Hi, r.HiParams, last.Count+r.Count, bytes
				last.Source = a.Combine(b).String()
				last.Target = last.Target.Add(r.Target)
				return nil
			}
		}
	}
	w.buf = append(w.buf, r)
	if len(w.buf) > pendingFlush {
		return w.flush(ctx, len(w.buf)-1) // the last may still take its neighbour
	}
	return nil
}

func (w *pendingWriter) flush(ctx context.Context, n int) error {
	if err := w.x.Runs.AddPending(ctx, w.x.queueName(), w.entity, w.n, w.buf[:n]); err != nil {
		return err
	}
	w.n += n
	w.buf = append(w.buf[:0], w.buf[n:]...)
	return nil
}

func (w *pendingWriter) finish(ctx context.Context) error {
	if err := w.flush(ctx, len(w.buf)); err != nil {
		return err
	}
	if w.n == 0 {
		return fmt.Errorf("entity %s: no key range was read", w.entity)
	}
	return w.x.Runs.FinishPending(ctx, w.x.queueName(), w.entity, w.n)
}
