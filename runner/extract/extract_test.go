package extract_test

import (
	"bytes"
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/go-logr/logr/testr"
	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	syncv1alpha1 "github.com/sisporta/sisporta/api/v1alpha1"
	"github.com/sisporta/sisporta/runner/extract"
	"github.com/sisporta/sisporta/runner/queue"
	"github.com/sisporta/sisporta/runner/runstate"
	"github.com/sisporta/sisporta/runner/schema"
	"github.com/sisporta/sisporta/runner/source"
	"github.com/sisporta/sisporta/test/testenv"
)

// fixture is a source table, a pipeline of its own (so a queue and Redis
// keys of its own) and what an extraction needs, on the real services.
type fixture struct {
	src  *testenv.DB
	p    *syncv1alpha1.SyncPipeline
	rdb  redis.UniversalClient
	runs *runstate.Store
	insp *asynq.Inspector
	q    string
}

func newFixture(t *testing.T, rows, batchSize int) *fixture {
	t.Helper()
	f := &fixture{src: testenv.NewDB(t, "src")}
	f.src.Exec(t, "CREATE TABLE items (id INT PRIMARY KEY, label VARCHAR(20))")
	var vals []string
	for i := 1; i <= rows; i++ {
		vals = append(vals, fmt.Sprintf("(%d, 'item %d')", i, i))
	}
	if rows > 0 {
		f.src.Exec(t, "INSERT INTO items VALUES "+strings.Join(vals, ","))
	}
	f.p = testenv.Pipeline(t, fmt.Sprintf(`
apiVersion: sync.sisporta.io/v1alpha1
kind: SyncPipeline
metadata: {name: extract}
spec:
  schedule: "@hourly"
  source: {driver: mysql, dsnSecretRef: {name: s, key: dsn}}
  target: {dsnSecretRef: {name: t, key: dsn}}
  batchSize: %d
  entities:
  - name: items
    source: {table: items}
    target: {table: items}
    cleanup: {mode: Delete}
`, batchSize))
	rdb, _, err := queue.Connect(context.Background(), testenv.RedisURL())
	if err != nil {
		t.Fatal(err)
	}
	f.rdb, f.runs, f.insp = rdb, runstate.NewStore(rdb), asynq.NewInspectorFromRedisClient(rdb)
	f.q = queue.Name(f.p.Namespace, f.p.Name)
	t.Cleanup(func() {
		ctx := context.Background()
		_ = f.insp.DeleteQueue(f.q, true)
		_ = queue.DeleteQueueKeys(ctx, rdb, f.q)
		_ = f.runs.Purge(ctx, f.q)
		_ = rdb.Close()
	})
	return f
}

// extract runs one extraction and returns its result and what it queued.
func (f *fixture) extract(t *testing.T) (*extract.Result, []*queue.Batch, *queue.Finalize) {
	t.Helper()
	ctx := context.Background()
	src, err := source.Open(ctx, f.p.Spec.Source, f.src.DSN)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	x := &extract.Extractor{Pipeline: f.p, Source: src, Client: asynq.NewClientFromRedisClient(f.rdb), Redis: f.rdb,
		Runs: f.runs, Trigger: "test", Log: testr.New(t)}
	res, err := x.Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if failed := res.Failed(); len(failed) > 0 {
		t.Fatalf("entities failed: %v (%v)", failed, res.Entities[0].Err)
	}
	batches, fin := f.queued(t, res.RunID)
	return res, batches, fin
}

// queued returns what a run queued, its batches in order.
func (f *fixture) queued(t *testing.T, run int64) ([]*queue.Batch, *queue.Finalize) {
	t.Helper()
	tasks, err := f.insp.ListPendingTasks(f.q, asynq.PageSize(1000))
	if err != nil {
		t.Fatal(err)
	}
	var (
		batches []*queue.Batch
		fin     *queue.Finalize
	)
	for _, task := range tasks {
		switch task.Type {
		case queue.TypeApplyBatch:
			b, err := queue.DecodeBatchHeader(task.Payload)
			if err == nil {
				err = b.LoadRows()
			}
			if err != nil {
				t.Fatal(err)
			}
			if b.Run == run {
				batches = append(batches, b)
			}
		case queue.TypeFinalize:
			g, err := queue.DecodeFinalize(task.Payload)
			if err != nil {
				t.Fatal(err)
			}
			if g.Run == run {
				fin = g
			}
		}
	}
	if fin == nil {
		t.Fatal("no finalize step queued")
	}
	sort.Slice(batches, func(i, j int) bool { return batches[i].Seq < batches[j].Seq })
	return batches, fin
}

// id reads the INT key of a key or row.
func id(t *testing.T, k schema.Row) int {
	t.Helper()
	n, err := strconv.Atoi(string(k[0]))
	if err != nil {
		t.Fatalf("key %q: %v", k, err)
	}
	return n
}

// checkTiling checks that the batches' key ranges (Lo, Hi] follow each
// other from the start of the key space to its end, and that each holds
// its rows in key order, inside its range, with the digest of those rows.
func checkTiling(t *testing.T, batches []*queue.Batch) (ids []int) {
	t.Helper()
	if len(batches) == 0 {
		t.Fatal("no batches")
	}
	var prevHi schema.Row
	for i, b := range batches {
		if !b.Ranged || b.KeysOnly || len(b.Checks) > 0 {
			t.Fatalf("batch %d: ranged %v, keysOnly %v, %d checks: want a ranged row batch", b.Seq, b.Ranged, b.KeysOnly, len(b.Checks))
		}
		if i == 0 && b.Lo != nil {
			t.Errorf("the first batch starts after %q, not at the start of the key space", b.Lo)
		}
		if i > 0 && !sameKey(b.Lo, prevHi) {
			t.Errorf("batch %d starts after %q, the one before it ends at %q: the ranges do not tile", b.Seq, b.Lo, prevHi)
		}
		if i == len(batches)-1 && b.Hi != nil {
			t.Errorf("the last batch ends at %q, not at the end of the key space", b.Hi)
		}
		if i < len(batches)-1 && b.Hi == nil {
			t.Errorf("batch %d of %d ends at the end of the key space", b.Seq, len(batches))
		}
		for j, r := range b.Rows {
			k := id(t, r)
			if j > 0 && k <= id(t, b.Rows[j-1]) {
				t.Errorf("batch %d: row %d (id %d) does not follow id %d", b.Seq, j, k, id(t, b.Rows[j-1]))
			}
			if (b.Lo != nil && k <= id(t, b.Lo)) || (b.Hi != nil && k > id(t, b.Hi)) {
				t.Errorf("batch %d: id %d outside its range (%q, %q]", b.Seq, k, b.Lo, b.Hi)
			}
			ids = append(ids, k)
		}
		h := schema.NewHasher(b.Schema.Columns)
		hashes := make([]uint64, len(b.Rows))
		for j, r := range b.Rows {
			hashes[j] = h.Sum(r)
		}
		if d := schema.DigestOf(hashes); b.Digest == nil || *b.Digest != d {
			t.Errorf("batch %d: digest %+v, its rows make %+v", b.Seq, b.Digest, d)
		}
		prevHi = b.Hi
	}
	return ids
}

func sameKey(a, b schema.Row) bool {
	if (a == nil) != (b == nil) || len(a) != len(b) {
		return false
	}
	for i := range a {
		if !bytes.Equal(a[i], b[i]) {
			return false
		}
	}
	return true
}

// A full read queues batches whose key ranges tile the whole key space,
// each with its rows in key order: every source row exactly once, so a
// target row in a batch's range that the batch lacks is truly gone there.
func TestFullReadTilesTheKeySpaceInKeyOrder(t *testing.T) {
	t.Parallel()
	const rows, batchSize = 237, 20
	f := newFixture(t, rows, batchSize)
	res, batches, fin := f.extract(t)

	ids := checkTiling(t, batches)
	if len(ids) != rows {
		t.Fatalf("%d rows queued, want %d", len(ids), rows)
	}
	for i, k := range ids {
		if k != i+1 {
			t.Fatalf("row %d of the run is id %d, want %d: rows missing, repeated or out of order", i, k, i+1)
		}
	}
	if want := (rows + batchSize - 1) / batchSize; len(batches) < want {
		t.Errorf("%d batches for %d rows of batchSize %d, want at least %d", len(batches), rows, batchSize, want)
	}
	for _, b := range batches {
		if len(b.Rows) > batchSize {
			t.Errorf("batch %d holds %d rows, more than batchSize %d", b.Seq, len(b.Rows), batchSize)
		}
	}
	if fin.Batches != len(batches) || fin.RowsRead != rows || !fin.Ranges || res.Entities[0].RowsRead != rows {
		t.Errorf("finalize step: %d batches, %d rows read, ranges %v; want %d, %d, true", fin.Batches, fin.RowsRead, fin.Ranges, len(batches), rows)
	}
}

// Once a run's key ranges are kept (the worker's finalize promotes them
// when the run left the target as the source is), the next run asks the
// source for each range's digest and reads only the range whose rows
// changed; the others become range checks for the workers.
func TestSecondRunReadsOnlyTheChangedRange(t *testing.T) {
	t.Parallel()
	const rows, batchSize = 200, 25
	f := newFixture(t, rows, batchSize)
	ctx := context.Background()
	first, batches, _ := f.extract(t)
	checkTiling(t, batches)
	if _, err := f.runs.PromotePending(ctx, f.q, "items", first.RunID); err != nil {
		t.Fatalf("keeping run 1's ranges: %v", err)
	}
	// The range that holds id 123, as the first run cut it.
	var changed *queue.Batch
	for _, b := range batches {
		if (b.Lo == nil || id(t, b.Lo) < 123) && (b.Hi == nil || id(t, b.Hi) >= 123) {
			changed = b
		}
	}
	f.src.Exec(t, "UPDATE items SET label = 'changed' WHERE id = 123")

	second, batches2, fin := f.extract(t)
	if second.RunID == first.RunID {
		t.Fatal("the second extraction reused the first run's ID")
	}
	var (
		read   []*queue.Batch
		checks int
	)
	for _, b := range batches2 {
		if len(b.Checks) > 0 {
			checks += len(b.Checks)
			continue
		}
		read = append(read, b)
	}
	if len(read) != 1 {
		t.Fatalf("the second run read %d batches, want only the changed range (%q, %q]", len(read), changed.Lo, changed.Hi)
	}
	b := read[0]
	if !sameKey(b.Lo, changed.Lo) || !sameKey(b.Hi, changed.Hi) || len(b.Rows) != len(changed.Rows) {
		t.Errorf("read (%q, %q] with %d rows, want the changed range (%q, %q] with %d", b.Lo, b.Hi, len(b.Rows), changed.Lo, changed.Hi, len(changed.Rows))
	}
	found := false
	for _, r := range b.Rows {
		if id(t, r) == 123 {
			found = string(r[1]) == "changed"
		}
	}
	if !found {
		t.Error("the read range does not carry the changed row's new value")
	}
	if checks != len(batches)-1 {
		t.Errorf("%d ranges checked, want the %d unchanged ones", checks, len(batches)-1)
	}
	if fin.RowsRead != int64(len(changed.Rows)) || fin.RowsSkipped != int64(rows-len(changed.Rows)) || fin.RangesSkipped != len(batches)-1 {
		t.Errorf("finalize step: %d rows read, %d skipped in %d ranges; want %d, %d in %d",
			fin.RowsRead, fin.RowsSkipped, fin.RangesSkipped, len(changed.Rows), rows-len(changed.Rows), len(batches)-1)
	}
}
