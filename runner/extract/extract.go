// Package extract is one extraction run: it reads every entity of a
// pipeline from the source in key order and enqueues its batches and
// finalize step on the pipeline's queue.
package extract

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	syncv1alpha1 "github.com/sisporta/sisporta/api/v1alpha1"
	"github.com/sisporta/sisporta/runner/metrics"
	"github.com/sisporta/sisporta/runner/queue"
	"github.com/sisporta/sisporta/runner/runstate"
	"github.com/sisporta/sisporta/runner/schema"
	"github.com/sisporta/sisporta/runner/source"
	"github.com/sisporta/sisporta/runner/writer"
)

// Defaults of an Extractor. A batch's bytes are held several times over
// on both sides (the rows, their encoding, compressed, the statement), by
// each of a worker's concurrent batches: 4 MiB keeps a worker and the
// extractor under 128 MiB with rows of several MiB, where 8 MiB did not.
const (
	DefaultMaxPending    = 400
	DefaultMaxBatchBytes = 4 << 20
	DefaultFinalizeWait  = 6 * time.Hour
)

// Extractor runs extractions of one pipeline.
type Extractor struct {
	Pipeline *syncv1alpha1.SyncPipeline
	Source   *source.Source
	Client   *asynq.Client
	Redis    redis.UniversalClient
	Runs     *runstate.Store
	// Target is the target database, where incremental entities' cursors
	// are kept (see StoredCursor), and whose rows changed key ranges are
	// compared with (sparse.go); it is only read. Without it a pipeline
	// without incremental entities sends its batches whole.
	Target *writer.Target
	// MaxPending pauses reading while the queue holds this many pending
	// batches: memory stays bounded in Redis and in an embedded Redis.
	MaxPending int
	// MaxBatchBytes ends a batch early when its values reach this size.
	MaxBatchBytes int
	// FinalizeWait is how long finalize waits for missing batches.
	FinalizeWait time.Duration
	// Trigger says what started the run (schedule, run-now, sync).
	Trigger string
	// Verify makes this run a verifying one whatever spec.verify says
	// (`sisporta sync --verify`); otherwise spec.verify decides.
	Verify bool
	// Progress, when set, is told each entity's rows read so far.
	Progress func(entity string, rows int64, done bool)
	Log      logr.Logger

	// epoch of the run being extracted (runstate.Store.NewRunID).
	epoch string
	// location of the source (source.Source.Location).
	location string
	// room is how many more batches' worth may be queued before the
	// queue's length is read again (waitForRoom).
	room int
	// widths holds each entity's row width, by name (pagesize.go).
	widths sync.Map
}

// EntityResult is one entity's extraction.
type EntityResult struct {
	Name     string
	RowsRead int64
	Batches  int
	Err      error
}

// Result is a run's extraction.
type Result struct {
	RunID        int64
	Epoch        string
	SnapshotTime time.Time
	// Verify: the run verifies every target row.
	Verify   bool
	Entities []EntityResult
}

// Failed names the entities whose extraction failed.
func (r *Result) Failed() []string {
	var out []string
	for _, e := range r.Entities {
		if e.Err != nil {
			out = append(out, e.Name)
		}
	}
	return out
}

func (x *Extractor) queueName() string { return queue.Name(x.Pipeline.Namespace, x.Pipeline.Name) }
func (x *Extractor) pipelineID() string {
	return queue.PipelineID(x.Pipeline.Namespace, x.Pipeline.Name)
}

// Run extracts every entity. One failing entity does not stop the others:
// its failure is recorded (and reaches the worker as a failed finalize) and
// the run goes on. The error is for what stops the whole run (Redis down).
func (x *Extractor) Run(ctx context.Context) (*Result, error) {
	if x.MaxPending == 0 {
		x.MaxPending = DefaultMaxPending
	}
	if x.MaxBatchBytes == 0 {
		x.MaxBatchBytes = DefaultMaxBatchBytes
	}
	if x.FinalizeWait == 0 {
		x.FinalizeWait = DefaultFinalizeWait
	}
	q := x.queueName()
	host, _ := os.Hostname()
	unlock, err := x.Runs.Lock(ctx, q, fmt.Sprintf("%s pid %d since %s", host, os.Getpid(), time.Now().UTC().Format(time.RFC3339)))
	if err != nil {
		return nil, err
	}
	defer unlock()
	now := time.Now().UTC()
	id, epoch, err := x.Runs.NewRunID(ctx, q)
	if err != nil {
		return nil, err
	}
	x.epoch = epoch
	verify := x.Verify
	if !verify {
		every, interval := 0, time.Duration(0)
		if v := x.Pipeline.Spec.Verify; v != nil {
			if v.EveryRuns != nil {
				every = int(*v.EveryRuns)
			}
			if v.Interval != nil {
				interval = v.Interval.Duration
			}
		}
		if verify, err = x.Runs.VerifyDue(ctx, q, every, interval, now); err != nil {
			return nil, err
		}
	}
	res := &Result{RunID: id, Epoch: epoch, SnapshotTime: now, Verify: verify}
	meta := runstate.Meta{ID: id, Epoch: epoch, Pipeline: x.pipelineID(), SnapshotTime: now, StartTime: now, Trigger: x.Trigger, Verify: verify}
	for _, e := range x.Pipeline.Spec.Entities {
		meta.Entities = append(meta.Entities, e.Name)
	}
	if x.location, err = x.Source.Location(ctx); err != nil {
		return nil, fmt.Errorf("asking the source where it reads: %w", err)
	}
	w, err := x.Source.WriteAccess(ctx)
	if err != nil {
		return nil, err
	}
	if w != "" {
		meta.Warnings = append(meta.Warnings, w)
		x.Log.Info("warning: "+w, "level", "warn")
	}
	if err := x.Runs.Start(ctx, q, meta); err != nil {
		return nil, err
	}
	x.Log.Info("run started", "run", id, "entities", len(meta.Entities), "trigger", x.Trigger, "verify", verify)
	for i, spec := range x.Pipeline.Spec.Entities {
		er := x.entity(ctx, id, now, spec, verify)
		res.Entities = append(res.Entities, er)
		if er.Err == nil {
			continue
		}
		x.Log.Error(er.Err, "entity extraction failed; the run goes on with the others", "entity", spec.Name, "run", id)
		if ctx.Err() == nil {
			if err := x.failEntity(ctx, id, now, spec, er); err == nil {
				continue
			} else {
				er.Err = err
			}
		}
		// The run stops here (stopped, or Redis gone): say so for this
		// entity and the ones not reached, so the run ends as failed.
		x.abandon(ctx, id, x.Pipeline.Spec.Entities[i:], er.Err)
		return res, er.Err
	}
	return res, nil
}

// abandon records entities the run will not extract, best effort (the
// context may be cancelled, Redis may be gone).
func (x *Extractor) abandon(ctx context.Context, run int64, entities []syncv1alpha1.EntitySpec, cause error) {
	c, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	for _, e := range entities {
		now := time.Now().UTC()
		_ = x.Runs.SetExtract(c, x.queueName(), run, e.Name, runstate.Extract{
			Error: fmt.Sprintf("extraction stopped before this entity was complete: %v", cause), StartTime: now, EndTime: now})
	}
}

// failEntity records an entity's failed extraction and sends the worker a
// finalize that records it in the target's run table.
func (x *Extractor) failEntity(ctx context.Context, run int64, snap time.Time, spec syncv1alpha1.EntitySpec, er EntityResult) error {
	q := x.queueName()
	if err := x.Runs.SetExtract(ctx, q, run, spec.Name, runstate.Extract{RowsRead: er.RowsRead, Batches: er.Batches,
		Error: er.Err.Error(), StartTime: snap, EndTime: time.Now().UTC()}); err != nil {
		return err
	}
	f := &queue.Finalize{Pipeline: x.pipelineID(), Run: run, Epoch: x.epoch, Entity: spec.Name, Batches: er.Batches, RowsRead: er.RowsRead,
		Table: string(spec.Target.Table), Driver: x.Pipeline.Spec.Source.Driver, Source: queue.SourceOptions(x.Pipeline.Spec.Source), Spec: spec, SnapshotTime: snap,
		WaitUntil: time.Now().Add(x.FinalizeWait), Failed: er.Err.Error(), SourceLocation: x.location}
	return x.enqueueFinalize(ctx, f)
}

func (x *Extractor) enqueueFinalize(ctx context.Context, f *queue.Finalize) error {
	task, err := queue.NewFinalizeTask(x.queueName(), f, x.Pipeline.Spec.Queue.MaxRetryOrDefault())
	if err != nil {
		return err
	}
	if _, err := x.Client.EnqueueContext(ctx, task); err != nil && !errors.Is(err, asynq.ErrTaskIDConflict) {
		return fmt.Errorf("enqueuing the finalize step of entity %s: %w", f.Entity, err)
	}
	return nil
}

// entity extracts one entity: its rows (all of them, or those changed in
// the cursor window), then for incremental entities a key scan that lets
// the worker find deletes, then the finalize step.
func (x *Extractor) entity(ctx context.Context, run int64, snap time.Time, spec syncv1alpha1.EntitySpec, verify bool) EntityResult {
	er := EntityResult{Name: spec.Name}
	start := time.Now().UTC()
	e, err := x.Source.Resolve(ctx, spec)
	if err != nil {
		er.Err = err
		return er
	}
	if err := x.Source.CheckKeysUnique(ctx, e); err != nil {
		er.Err = err
		return er
	}
	var (
		window *source.CursorWindow
		high   string
	)
	if e.Incremental() {
		stored, err := x.StoredCursor(ctx, spec.Name)
		if err != nil {
			er.Err = err
			return er
		}
		if high, err = x.Source.CursorHigh(ctx, e); err != nil {
			er.Err = err
			return er
		}
		if window, err = e.Window(stored, high); err != nil {
			er.Err = err
			return er
		}
	}
	template := queue.Batch{Pipeline: x.pipelineID(), Run: run, Epoch: x.epoch, Entity: spec.Name, Table: string(spec.Target.Table),
		Schema: e.Schema, SoftDelete: spec.Cleanup.Mode == syncv1alpha1.CleanupSoftDelete, Verify: verify,
		TakeOverFrom: spec.Target.TakeOverFrom, SourceLocation: x.location}

	report := func(done bool) {
		if x.Progress != nil {
			x.Progress(spec.Name, er.RowsRead, done)
		}
	}
	// Pass 1: the rows. A full read is ranged: each batch covers its key
	// range. An incremental entity is read in full on its first run, when
	// its columns changed (Window is nil then) and when the run verifies:
	// every row is then read, and the full read finds deletes itself.
	incremental := window != nil && !verify
	if !incremental {
		window = nil
	}
	useRanges, err := x.useRanges(ctx, e, spec)
	if err != nil {
		er.Err = err
		return er
	}
	var (
		read int64
		st   rangeStats
	)
	if useRanges {
		st, err = x.ranged(ctx, e, &template, &er, run, verify, report)
		read = st.read
	} else {
		read, err = x.pass(ctx, e, &template, &er, passOptions{ranged: !incremental, window: window}, report)
	}
	er.RowsRead = read
	if err != nil {
		er.Err = err
		return er
	}
	keys := read
	if incremental {
		// Pass 2: every key, so the worker finds rows deleted at the source,
		// and rows the target lacks that the changed-rows read cannot see
		// (older cursor values): those it reads from the source by key.
		keyTemplate := template
		keyTemplate.Spec, keyTemplate.Driver, keyTemplate.Source = &spec, x.Source.Driver(), queue.SourceOptions(x.Pipeline.Spec.Source)
		keys, err = x.pass(ctx, e, &keyTemplate, &er, passOptions{ranged: true, keysOnly: true}, nil)
		if err != nil {
			er.Err = fmt.Errorf("key scan: %w", err)
			return er
		}
	}
	report(true)
	metrics.RowsRead.WithLabelValues(template.Pipeline, spec.Name).Add(float64(read))
	f := &queue.Finalize{Pipeline: template.Pipeline, Run: run, Epoch: x.epoch, Entity: spec.Name, Batches: er.Batches, RowsRead: read,
		KeysScanned: keys, RowsSkipped: st.skippedRows, RangesSkipped: st.skippedRanges, Ranges: useRanges,
		Table: template.Table, Schema: e.Schema, Driver: x.Source.Driver(), Source: queue.SourceOptions(x.Pipeline.Spec.Source), Spec: spec, Cursor: high,
		SnapshotTime: snap, WaitUntil: time.Now().Add(x.FinalizeWait), Verify: verify, SourceLocation: x.location}
	if err := x.enqueueFinalize(ctx, f); err != nil {
		er.Err = err
		return er
	}
	if err := x.Runs.SetExtract(ctx, x.queueName(), run, spec.Name, runstate.Extract{RowsRead: read, RowsSkipped: st.skippedRows, RangesSkipped: st.skippedRanges,
		Batches: er.Batches, Done: true, StartTime: start, EndTime: time.Now().UTC(), Incremental: e.Incremental()}); err != nil {
		er.Err = err
	}
	x.Log.Info("entity extracted", "entity", spec.Name, "run", run, "rows", read, "batches", er.Batches,
		"rangesSkipped", st.skippedRanges, "rowsSkipped", st.skippedRows)
	return er
}

// StoredCursor reads the cursor (watermark) an incremental entity's
// extraction starts from: the target database's, in _sisporta_entities,
// which the finalize step advances once every batch of the run that
// reached it is applied. It is the one record of it: Redis may lose its
// data or be replaced, and the target may be restored from a backup, but
// only the target knows which rows it holds, so a cursor read anywhere
// else could be past rows it lacks (and they would be skipped) or behind
// it (and everything since would be read again). "" (none): the entity is
// read in full.
func (x *Extractor) StoredCursor(ctx context.Context, entity string) (string, error) {
	if x.Target == nil {
		return "", fmt.Errorf("entity %s is incremental, and its cursor is kept in the target database: give the extractor the target DSN (--target-dsn or SISPORTA_TARGET_DSN)", entity)
	}
	c, err := x.Target.Cursor(ctx, x.pipelineID(), entity)
	if err != nil {
		return "", fmt.Errorf("reading the entity's cursor in the target database: %w", err)
	}
	return c, nil
}

// useRanges decides whether the entity is read by key ranges with source
// digests (and drops its ranges when it is not: a run that writes without
// keeping them leaves none that could be trusted). Incremental entities
// read only what changed already; with cleanup Off the target keeps rows
// the source lost, so its ranges never hold just the source's rows.
func (x *Extractor) useRanges(ctx context.Context, e *source.Entity, spec syncv1alpha1.EntitySpec) (bool, error) {
	use := !e.Incremental() && spec.Cleanup.Mode != syncv1alpha1.CleanupOff
	if use {
		why, err := x.Source.DigestUnsupported(ctx, e)
		if err != nil {
			return false, err
		}
		if why != "" {
			x.Log.Info("range digests are not used: the entity is read in full every run", "entity", spec.Name, "reason", why)
			use = false
		}
	}
	if !use {
		if err := x.Runs.DropRanges(ctx, x.queueName(), spec.Name); err != nil {
			return false, err
		}
	}
	return use, nil
}

type passOptions struct {
	ranged   bool
	keysOnly bool
	window   *source.CursorWindow
	// lo and hi bound a ranged pass to (lo, hi] (nil: open): its batches
	// tile exactly that range, the first starting at lo and the last
	// ending at hi, even when the last rows end before it or there are
	// none.
	lo, hi *bound
	// digest reads each row's source hash too, and hands each batch's
	// key range and digests to onRange. Such a pass reads several batches
	// a statement (readAhead).
	digest bool
	// group, with digest: while the workers load the batches in bulk into
	// empty key ranges (emptyTarget, or loadingInBulk), each statement's
	// batches go as one batch (their key ranges, told to onRange, stay a
	// batch long).
	group bool
	// emptyTarget: the target table held no row when the pass started.
	emptyTarget bool
	// onRange, when set, is told of each batch's key range after the
	// batch is enqueued.
	onRange func(r keyRange) error
	// pages, when set, are the pass's pages, read ahead by the caller
	// (readPages with these options); otherwise the pass reads them.
	pages <-chan pageItem
}

// keyRange is the key range of one batch of a ranged pass: (the previous
// batch's Hi, Hi].
type keyRange struct {
	Hi       schema.Row
	HiParams []any // nil with Hi nil (to the end)
	Count    int64
	Bytes    int64 // of the values read
	Source   *schema.SourceDigest
	Target   schema.Digest
}

// bound is one end of a key range: its canonical key (what batches and
// the target compare) and the source's exact parameters for it (what
// pages continue after or stop at).
type bound struct {
	key    schema.Row
	params []any
}

// A pass with digests reads up to readAhead batches a statement (fewer
// statements: each costs the source more than its rows' share), and ends
// a statement early, at the end of a batch, once its values hold
// readAheadBytes.
const (
	readAhead      = 8
	readAheadBytes = 2 << 20
)

// pageItem is one page of a pass, or the error that ended it.
type pageItem struct {
	page *source.Page
	err  error
}

// pageRequest is the first page request of a pass.
func (x *Extractor) pageRequest(o passOptions) source.PageRequest {
	var after, upTo []any
	if o.lo != nil {
		after = o.lo.params
	}
	if o.hi != nil {
		upTo = o.hi.params
	}
	batch := int(x.Pipeline.Spec.BatchSize)
	req := source.PageRequest{After: after, UpTo: upTo, Limit: batch, MaxBytes: x.MaxBatchBytes, KeysOnly: o.keysOnly,
		Cursor: o.window, Digest: o.digest}
	if o.digest && !o.keysOnly {
		req.Limit, req.ChunkRows, req.ChunkBytes = batch*readAhead, batch, readAheadBytes
	}
	return req
}

// readPages reads a pass's pages in order, one page ahead of the one
// being handled, until the pass's end, an error, or ctx's end.
func (x *Extractor) readPages(ctx context.Context, e *source.Entity, o passOptions) <-chan pageItem {
	pages := make(chan pageItem, 1)
	go func() {
		defer close(pages)
		req := x.pageRequest(o)
		limit, width := req.Limit, x.width(e)
		x.learnWidth(ctx, e, req, width)
		for {
			req.Limit = rowsToAsk(req, limit, width.bytes.Load())
			p, err := x.Source.ReadPage(ctx, e, req)
			if err == nil && !req.KeysOnly {
				width.observe(p)
			}
			select {
			case pages <- pageItem{p, err}:
			case <-ctx.Done():
				return
			}
			if err != nil || p.Done {
				return
			}
			req.After = p.Last
		}
	}()
	return pages
}

// pass pages through the entity and enqueues a batch per page. Reading the
// next page overlaps with encoding and enqueuing the previous one.
func (x *Extractor) pass(ctx context.Context, e *source.Entity, template *queue.Batch, er *EntityResult, o passOptions, report func(bool)) (int64, error) {
	pages := o.pages
	if pages == nil {
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		pages = x.readPages(ctx, e, o)
	}
	keyIdx := e.Schema.KeyIndexes()
	keyOf := func(r schema.Row) schema.Row {
		if o.keysOnly {
			return r
		}
		k := make(schema.Row, len(keyIdx))
		for i, j := range keyIdx {
			k[i] = r[j]
		}
		return k
	}
	hasher := schema.NewHasher(e.Schema.Columns)
	sparse := &sparseTries{on: o.ranged && !o.keysOnly && x.Target != nil && !template.Verify && writer.SparseKeys(&template.Schema)}
	// Batches grouped into empty key ranges travel in the writer's bulk
	// form, which the workers stream into LOAD DATA as it comes.
	var (
		bulk    *writer.BulkEncoder
		bulkBuf []byte
	)
	if o.group && o.ranged && !o.keysOnly && !template.Verify {
		bulk = writer.NewBulkEncoder(&template.Schema)
	}
	var (
		rows int64
		lo   schema.Row
	)
	if o.lo != nil {
		lo = o.lo.key
	}
	for it := range pages {
		if it.err != nil {
			return rows, it.err
		}
		p := it.page
		// A page is one batch, or with chunks one batch a chunk; or, when
		// grouped, one batch of all its chunks.
		parts := []source.Chunk{{End: len(p.Rows), Last: p.Last, Bytes: p.Bytes}}
		if len(p.Chunks) > 0 {
			parts = p.Chunks
		}
		grouped := false
		if o.group && len(parts) > 1 {
			grouped = o.emptyTarget
			if !grouped {
				var err error
				if grouped, err = x.loadingInBulk(ctx, template); err != nil {
					return rows, err
				}
			}
		}
		var (
			ranges []keyRange
			hashes []uint64
		)
		if o.ranged && !o.keysOnly {
			hashes = make([]uint64, len(p.Rows))
			for i, r := range p.Rows {
				hashes[i] = hasher.Sum(r)
			}
		}
		start := 0
		for i, c := range parts {
			last := i == len(parts)-1
			r := keyRange{Count: int64(c.End - start), Bytes: int64(c.Bytes)}
			if o.ranged {
				switch {
				case !last || !p.Done:
					r.Hi, r.HiParams = keyOf(p.Rows[c.End-1]), c.Last
				case o.hi != nil:
					r.Hi, r.HiParams = o.hi.key, o.hi.params
				}
			}
			if hashes != nil {
				r.Target = schema.DigestOf(hashes[start:c.End])
			}
			switch {
			case len(p.Chunks) > 0:
				d := c.Digest
				r.Source = &d
			case p.Digest != nil:
				r.Source = p.Digest
			}
			ranges = append(ranges, r)
			start = c.End
		}
		// The batches: one a part, or one of them all.
		type span struct{ from, to, end int }
		var spans []span
		if grouped {
			spans = append(spans, span{0, len(ranges), len(p.Rows)})
		} else {
			for i, c := range parts {
				spans = append(spans, span{i, i + 1, c.End})
			}
		}
		// Sparse candidates' target rows are read for all of the page's
		// batches at once, while the next page is read.
		var targets []*targetRead
		if !grouped && hashes != nil && sparse.on {
			targets = make([]*targetRead, len(spans))
			his := make([]schema.Row, len(spans))
			tries, all := make([]bool, len(spans)), len(spans) > 1
			from := 0
			for k, sp := range spans {
				his[k] = ranges[sp.to-1].Hi
				tries[k] = sp.end > from && sparse.try()
				all = all && tries[k]
				from = sp.end
			}
			if all {
				// One statement for the page, cut at the batches' ends.
				copy(targets, x.readTarget(ctx, template, lo, his[len(his)-1]).split(his))
			} else {
				blo := lo
				for k := range spans {
					if tries[k] {
						targets[k] = x.readTarget(ctx, template, blo, his[k])
					}
					blo = his[k]
				}
			}
		}
		// The page's batches; when every one of several went sparse, they
		// go as one (sparse.go, mergeSparse).
		batches := make([]queue.Batch, len(spans))
		read := make([]int, len(spans))
		allSparse := targets != nil && len(spans) > 1
		start = 0
		for k, sp := range spans {
			b := *template
			b.Seq, b.Ranged, b.KeysOnly, b.Rows = er.Batches+k, o.ranged, o.keysOnly, p.Rows[start:sp.end:sp.end]
			read[k] = len(b.Rows)
			b.Group = sp.to - sp.from
			if o.ranged {
				b.Lo, b.Hi = lo, ranges[sp.to-1].Hi
				lo = b.Hi
			}
			made := false
			if hashes != nil {
				d := schema.DigestOf(hashes[start:sp.end])
				b.Digest = &d
				if targets != nil && targets[k] != nil {
					var failed bool
					made, failed = x.makeSparse(&b, targets[k], hashes[start:sp.end], keyOf)
					sparse.result(made, failed)
				}
			}
			allSparse = allSparse && made
			if grouped && bulk != nil && hashes != nil && len(b.Rows) > 0 {
				bulkBuf = bulk.Append(bulkBuf[:0], b.Rows, hashes[start:sp.end])
				b.Bulk, b.BulkRows, b.Rows = bulkBuf, len(b.Rows), nil
			}
			batches[k] = b
			start = sp.end
		}
		if allSparse {
			batches, read, spans = []queue.Batch{mergeSparse(batches)}, []int{len(p.Rows)}, []span{{0, len(ranges), len(p.Rows)}}
		}
		for k, sp := range spans {
			if err := x.enqueue(ctx, &batches[k]); err != nil {
				return rows, err
			}
			er.Batches++
			rows += int64(read[k])
			if o.onRange != nil {
				for _, r := range ranges[sp.from:sp.to] {
					if err := o.onRange(r); err != nil {
						return rows, err
					}
				}
			}
			if report != nil {
				er.RowsRead += int64(read[k])
				report(false)
			}
		}
	}
	return rows, nil
}

// loadingInBulk says whether the workers load the run's entity in bulk
// into key ranges the target holds nothing of: at least two of the
// batches applied so far, and all but at most two (the first batches of
// a table being made may miss it). A full read into an empty table then
// sends several batches' worth of rows a batch: one LOAD DATA and one
// transaction where there would be as many as batches. (A target table
// that was empty when the pass started, emptyTarget, is taken to be so
// from the first batch: the workers check each range anyway.)
func (x *Extractor) loadingInBulk(ctx context.Context, b *queue.Batch) (bool, error) {
	applied, loaded, err := x.Runs.Loaded(ctx, x.queueName(), b.Run, b.Entity)
	if err != nil {
		return false, err
	}
	return loaded >= 2 && applied-loaded <= 2, nil
}

// enqueue puts a batch on the queue, waiting while the queue is full.
func (x *Extractor) enqueue(ctx context.Context, b *queue.Batch) error {
	if err := x.waitForRoom(ctx, max(b.Group, 1)); err != nil {
		return err
	}
	task, err := queue.NewBatchTask(x.queueName(), b, x.Pipeline.Spec.Queue.MaxRetryOrDefault())
	if err != nil {
		return err
	}
	if _, err := x.Client.EnqueueContext(ctx, task); err != nil && !errors.Is(err, asynq.ErrTaskIDConflict) {
		return fmt.Errorf("enqueuing batch %d: %w", b.Seq, err)
	}
	return nil
}

// waitForRoom blocks while the queue's pending list holds MaxPending
// batches' worth, the pending tasks counted as weighing what this one does
// (weight batches' worth of rows). It reads asynq's pending list length
// directly (asynq:{<queue>}:pending), which is far cheaper than the
// Inspector's full statistics, and only once the room it last saw is
// used up: the extractor is the one that adds to the list (workers only
// take from it).
func (x *Extractor) waitForRoom(ctx context.Context, weight int) error {
	if x.room >= weight {
		x.room -= weight
		return nil
	}
	key := queue.AsynqPendingKey(x.queueName())
	for {
		n, err := x.Redis.LLen(ctx, key).Result()
		if err != nil {
			return fmt.Errorf("checking the queue length in Redis: %w", err)
		}
		if int(n)*weight < x.MaxPending {
			x.room = max(x.MaxPending-(int(n)+1)*weight, 0)
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}
