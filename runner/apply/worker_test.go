package apply_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr/testr"
	"github.com/hibiken/asynq"

	syncv1alpha1 "github.com/sisporta/sisporta/api/v1alpha1"
	"github.com/sisporta/sisporta/runner/apply"
	"github.com/sisporta/sisporta/runner/cleanup"
	"github.com/sisporta/sisporta/runner/queue"
	"github.com/sisporta/sisporta/runner/runstate"
	"github.com/sisporta/sisporta/runner/schema"
	"github.com/sisporta/sisporta/runner/source"
	"github.com/sisporta/sisporta/runner/writer"
	"github.com/sisporta/sisporta/test/testenv"
)

const epoch = "test"

// fixture is a source and a target database, a pipeline of its own and a
// worker for its queue, on the real services.
type fixture struct {
	src, dst *testenv.DB
	p        *syncv1alpha1.SyncPipeline
	spec     syncv1alpha1.EntitySpec
	schema   schema.Table
	runs     *runstate.Store
	w        *apply.Worker
}

// newFixture makes a source table of n rows and a worker whose target is
// an empty database.
func newFixture(t *testing.T, n int) *fixture {
	t.Helper()
	ctx := context.Background()
	f := &fixture{src: testenv.NewDB(t, "src"), dst: testenv.NewDB(t, "dst")}
	f.src.Exec(t, "CREATE TABLE items (id INT PRIMARY KEY, label VARCHAR(20))")
	if n > 0 {
		f.src.Exec(t, "INSERT INTO items VALUES "+strings.Join(values(1, n), ","))
	}
	f.p = testenv.Pipeline(t, `
apiVersion: sync.sisporta.io/v1alpha1
kind: SyncPipeline
metadata: {name: apply}
spec:
  schedule: "@hourly"
  source: {driver: mysql, dsnSecretRef: {name: s, key: dsn}}
  target: {dsnSecretRef: {name: t, key: dsn}}
  entities:
  - name: items
    source: {table: items}
    target: {table: items}
    cleanup: {mode: Delete, maxDeletePercent: 100}
`)
	f.spec = f.p.Spec.Entities[0]
	src, err := source.Open(ctx, f.p.Spec.Source, f.src.DSN)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	e, err := src.Resolve(ctx, f.spec)
	if err != nil {
		t.Fatal(err)
	}
	f.schema = e.Schema // what the extractor would send

	rdb, _, err := queue.Connect(ctx, testenv.RedisURL())
	if err != nil {
		t.Fatal(err)
	}
	q := queue.Name(f.p.Namespace, f.p.Name)
	f.runs = runstate.NewStore(rdb)
	tg, err := writer.Open(ctx, f.dst.DSN, 4)
	if err != nil {
		t.Fatal(err)
	}
	f.w = &apply.Worker{Target: tg, Runs: f.runs, Queue: q, SourceDSN: f.src.DSN, Log: testr.New(t)}
	t.Cleanup(func() {
		f.w.Close()
		_ = tg.Close()
		_ = f.runs.Purge(context.Background(), q)
		_ = rdb.Close()
	})
	return f
}

// values renders rows id, 'item id' for ids from..to.
func values(from, to int) []string {
	var out []string
	for i := from; i <= to; i++ {
		out = append(out, fmt.Sprintf("(%d, 'item %d')", i, i))
	}
	return out
}

func (f *fixture) pipelineID() string { return queue.PipelineID(f.p.Namespace, f.p.Name) }

// batch is the task of a ranged batch covering the whole key space with
// rows id, 'item id' for ids 1..n, as the extractor queues it.
func (f *fixture) batch(t *testing.T, run int64, n int) (*asynq.Task, *queue.Batch) {
	t.Helper()
	h := schema.NewHasher(f.schema.Columns)
	var (
		rows   []schema.Row
		hashes []uint64
	)
	for i := 1; i <= n; i++ {
		r := schema.Row{[]byte(fmt.Sprint(i)), []byte(fmt.Sprint("item ", i))}
		rows = append(rows, r)
		hashes = append(hashes, h.Sum(r))
	}
	d := schema.DigestOf(hashes)
	b := &queue.Batch{Pipeline: f.pipelineID(), Run: run, Epoch: epoch, Entity: f.spec.Name, Table: string(f.spec.Target.Table),
		Schema: f.schema, Ranged: true, Rows: rows, Digest: &d}
	task, err := queue.NewBatchTask(f.w.Queue, b, 3)
	if err != nil {
		t.Fatal(err)
	}
	return task, b
}

// finalize is the task of the finalize step of a run of batches batches
// that read rowsRead rows.
func (f *fixture) finalize(t *testing.T, run int64, batches int, rowsRead int64) *asynq.Task {
	t.Helper()
	now := time.Now().UTC()
	task, err := queue.NewFinalizeTask(f.w.Queue, &queue.Finalize{Pipeline: f.pipelineID(), Run: run, Epoch: epoch, Entity: f.spec.Name,
		Batches: batches, RowsRead: rowsRead, Table: string(f.spec.Target.Table), Schema: f.schema, Driver: f.p.Spec.Source.Driver,
		Source: queue.SourceOptions(f.p.Spec.Source), Spec: f.spec, SnapshotTime: now, WaitUntil: now.Add(time.Hour)}, 3)
	if err != nil {
		t.Fatal(err)
	}
	return task
}

func (f *fixture) ledger(t *testing.T, run int64) writer.LedgerTotals {
	t.Helper()
	lt, err := f.w.Target.Ledger(context.Background(), f.pipelineID(), f.spec.Name, run)
	if err != nil {
		t.Fatal(err)
	}
	return lt
}

func (f *fixture) applied(t *testing.T, run int64) int64 {
	t.Helper()
	n, _, err := f.runs.Loaded(context.Background(), f.w.Queue, run, f.spec.Name)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// A batch delivered twice (asynq delivers at least once) leaves the same
// rows and the same counts as one delivery; the same rows in the next run
// are found unchanged and written again nowhere.
func TestBatchAppliedTwiceWritesOnce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t, 0)
	task, _ := f.batch(t, 1, 50)
	if err := f.w.HandleBatch(ctx, task); err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprint(f.dst.Rows(t, "SELECT id, label FROM items"))
	if n := f.dst.Count(t, "items", ""); n != 50 {
		t.Fatalf("%d rows after the first delivery, want 50", n)
	}
	first := f.ledger(t, 1)
	if first.Batches != 1 || first.Written != 50 || first.Unchanged != 0 || f.applied(t, 1) != 1 {
		t.Fatalf("first delivery: ledger %+v, %d applied; want 1 batch, 50 written", first, f.applied(t, 1))
	}

	if err := f.w.HandleBatch(ctx, task); err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(f.dst.Rows(t, "SELECT id, label FROM items")); got != want {
		t.Errorf("the second delivery changed the rows:\n%s\nwant\n%s", got, want)
	}
	if again := f.ledger(t, 1); again != first || f.applied(t, 1) != 1 {
		t.Errorf("second delivery: ledger %+v, %d applied; want %+v and 1, as after the first", again, f.applied(t, 1), first)
	}

	next, _ := f.batch(t, 2, 50)
	if err := f.w.HandleBatch(ctx, next); err != nil {
		t.Fatal(err)
	}
	if lt := f.ledger(t, 2); lt.Batches != 1 || lt.Written != 0 || lt.Unchanged != 50 || lt.Candidates != 0 {
		t.Errorf("the same rows in run 2: ledger %+v, want 50 unchanged and nothing written", lt)
	}
	if got := fmt.Sprint(f.dst.Rows(t, "SELECT id, label FROM items")); got != want {
		t.Errorf("run 2 changed the rows")
	}
}

// A finalize step interrupted while its cleanup deletes (the process
// stopping, here after the first chunk) resumes where it stopped when it
// is delivered again: it deletes the rest without judging the guards
// again, and reports every row deleted, by both attempts.
func TestFinalizeResumesAnInterruptedCleanup(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	const kept, had = 100, 1200 // the source has 1..100; the target 1..1200
	f := newFixture(t, kept)
	run1, _ := f.batch(t, 1, had)
	if err := f.w.HandleBatch(ctx, run1); err != nil {
		t.Fatal(err)
	}
	run2, _ := f.batch(t, 2, kept)
	if err := f.w.HandleBatch(ctx, run2); err != nil {
		t.Fatal(err)
	}
	if lt := f.ledger(t, 2); lt.Candidates != had-kept {
		t.Fatalf("run 2: %d delete candidates, want %d", lt.Candidates, had-kept)
	}
	if err := f.runs.Start(ctx, f.w.Queue, runstate.Meta{ID: 2, Epoch: epoch, Pipeline: f.pipelineID(), Entities: []string{f.spec.Name}}); err != nil {
		t.Fatal(err)
	}

	// Stop before the second chunk: the guards are judged (first call),
	// the first chunk of 500 goes (second call), then the process stops.
	calls := 0
	f.w.Stopping = func() bool { calls++; return calls > 2 }
	err := f.w.HandleFinalize(ctx, f.finalize(t, 2, 1, kept))
	if !errors.Is(err, cleanup.ErrStopped) || !errors.Is(err, queue.ErrRetryLater) {
		t.Fatalf("interrupted finalize: %v, want it stopped and retried later", err)
	}
	rec, ok, err := f.w.Target.LoadRun(ctx, f.pipelineID(), 2, f.spec.Name)
	if err != nil || !ok {
		t.Fatalf("run record after the interruption: %v %v", ok, err)
	}
	left := f.dst.Count(t, "items", "")
	if rec.CleanupResult != cleanup.Deleting || rec.Result != string(syncv1alpha1.RunRunning) || rec.RowsDeleted != had-left || left == had || left == kept {
		t.Fatalf("after the interruption: record %+v, %d rows left; want a cleanup part way, deleting", rec, left)
	}

	f.w.Stopping = nil
	if err := f.w.HandleFinalize(ctx, f.finalize(t, 2, 1, kept)); err != nil {
		t.Fatal(err)
	}
	if n := f.dst.Count(t, "items", ""); n != kept {
		t.Errorf("%d rows left, want the source's %d", n, kept)
	}
	rec, _, err = f.w.Target.LoadRun(ctx, f.pipelineID(), 2, f.spec.Name)
	if err != nil {
		t.Fatal(err)
	}
	if rec.Result != string(syncv1alpha1.RunSucceeded) || rec.CleanupResult != string(syncv1alpha1.CleanupSucceeded) || rec.RowsDeleted != had-kept || rec.CleanupCount != had-kept {
		t.Errorf("run record %+v, want succeeded with %d rows deleted", rec, had-kept)
	}
	r, err := f.runs.Get(ctx, f.w.Queue, 2)
	if err != nil || r == nil || len(r.Entities) != 1 || r.Entities[0].Final == nil {
		t.Fatalf("run summary in Redis: %+v %v", r, err)
	}
	if fin := r.Entities[0].Final; fin.RowsDeleted != had-kept || fin.Cleanup == nil || fin.Cleanup.Deleted != had-kept {
		t.Errorf("published result %+v (cleanup %+v), want %d rows deleted", fin, fin.Cleanup, had-kept)
	}
	// Delivered once more, the step republishes what is recorded.
	if err := f.w.HandleFinalize(ctx, f.finalize(t, 2, 1, kept)); err != nil {
		t.Fatal(err)
	}
	if n := f.dst.Count(t, "items", ""); n != kept {
		t.Errorf("a third delivery left %d rows", n)
	}
}
