package localsync_test

import (
	"context"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/sisporta/sisporta/runner/extract"
	"github.com/sisporta/sisporta/runner/source"

	syncv1alpha1 "github.com/sisporta/sisporta/api/v1alpha1"
)

// A full read into a target that holds nothing of the entity's ranges
// sends several batches' worth of rows a batch once the workers load its
// first batches in bulk into empty ranges (one LOAD DATA, one transaction
// where there would be eight), while the key ranges it keeps stay a batch
// long: a no-op run after it skips every
// range, and a changed row is read again with its range only. A full read
// into ranges the target holds rows of (a verifying run) sends batches of
// batchSize rows.
func TestFullReadIntoAnEmptyTargetSendsSeveralBatchesAtOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	seedItems(t, e, 8000)
	p := itemsPipeline(t, 100, 3)
	ps := newParts(t, p)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	src, err := source.Open(ctx, p.Spec.Source, e.src.DSN)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	// The worker runs while the extractor reads, which keeps at most two
	// batches ahead of it: it sees the first ranges applied before it sends
	// most of the others.
	stop := ps.worker(t, e.dst.DSN, e.src.DSN)
	run := func(verify bool) *extract.Result {
		t.Helper()
		x := &extract.Extractor{Pipeline: p, Source: src, Client: asynq.NewClientFromRedisClient(ps.rdb), Redis: ps.rdb,
			Runs: ps.runs, MaxPending: 2, Verify: verify, Trigger: "test", Log: quietLog(t)}
		res, err := x.Run(ctx)
		if err != nil || len(res.Failed()) > 0 {
			t.Fatalf("extract: %v %v", err, res.Failed())
		}
		if r := ps.waitRun(t, res.RunID, time.Minute); r.Result() != syncv1alpha1.RunSucceeded {
			t.Fatalf("run %s: %s", r.Result(), r.Message())
		}
		return res
	}
	res := run(false)
	sameRows(t, e, "SELECT id, label, visible FROM items", "SELECT id, label, visible FROM items")
	if n := res.Entities[0].Batches; n >= 40 || n < 2 {
		t.Fatalf("a full read into an empty target sent %d batches, want several batches' worth in most (fewer than 40 for 80 batches' worth)", n)
	}
	// A verifying run reads everything into ranges that hold rows.
	if n := run(true).Entities[0].Batches; n != 80 {
		t.Fatalf("a verifying run sent %d batches, want 80 of 100 rows", n)
	}
	stop()

	s := e.sync(t, p)
	mustSucceed(t, s)
	if s.RowsRead != 0 || s.RangesSkipped != 80 {
		t.Fatalf("no-op run after it: read %d rows, skipped %d ranges; want 0 and 80 (ranges a batch long)\n%s", s.RowsRead, s.RangesSkipped, summaryText(s))
	}
	e.src.Exec(t, "UPDATE items SET label = 'changed' WHERE id = 4321")
	s = e.sync(t, p)
	mustSucceed(t, s)
	if s.RowsRead != 100 || s.RowsWritten != 1 || s.RangesSkipped != 79 {
		t.Fatalf("one row changed: read %d, wrote %d, skipped %d ranges; want 100, 1 and 79\n%s", s.RowsRead, s.RowsWritten, s.RangesSkipped, summaryText(s))
	}
	sameRows(t, e, "SELECT id, label, visible FROM items", "SELECT id, label, visible FROM items")
}
