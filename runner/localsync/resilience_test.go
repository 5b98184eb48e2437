package localsync_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	syncv1alpha1 "github.com/sisporta/sisporta/api/v1alpha1"
	"github.com/sisporta/sisporta/runner/apply"
	"github.com/sisporta/sisporta/runner/extract"
	"github.com/sisporta/sisporta/runner/queue"
	"github.com/sisporta/sisporta/runner/runstate"
	"github.com/sisporta/sisporta/runner/source"
	"github.com/sisporta/sisporta/runner/writer"
	"github.com/sisporta/sisporta/test/testenv"
)

// parts are the data plane's processes, in this test process: an
// extractor and a worker whose target may be reached through a proxy.
type parts struct {
	p     *syncv1alpha1.SyncPipeline
	rdb   redis.UniversalClient
	opt   asynq.RedisConnOpt
	runs  *runstate.Store
	insp  *asynq.Inspector
	queue string
}

func newParts(t *testing.T, p *syncv1alpha1.SyncPipeline) *parts {
	t.Helper()
	ps := newPartsForQueue(t, queue.Name(p.Namespace, p.Name))
	ps.p = p
	return ps
}

func newPartsForQueue(t *testing.T, q string) *parts {
	t.Helper()
	rdb, opt, err := queue.Connect(context.Background(), testenv.RedisURL())
	if err != nil {
		t.Fatal(err)
	}
	insp := asynq.NewInspectorFromRedisClient(rdb)
	t.Cleanup(func() {
		_ = insp.DeleteQueue(q, true)
		_ = runstate.NewStore(rdb).Purge(context.Background(), q)
		_ = rdb.Close()
	})
	return &parts{rdb: rdb, opt: opt, runs: runstate.NewStore(rdb), insp: insp, queue: q}
}

func (ps *parts) extract(t *testing.T, sourceDSN string) *extract.Result {
	t.Helper()
	src, err := source.Open(context.Background(), ps.p.Spec.Source, sourceDSN)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	x := &extract.Extractor{Pipeline: ps.p, Source: src, Client: asynq.NewClientFromRedisClient(ps.rdb), Redis: ps.rdb,
		Runs: ps.runs, Trigger: "test", Log: quietLog(t)}
	res, err := x.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// worker starts a worker; stop it with the returned function.
func (ps *parts) worker(t *testing.T, targetDSN, sourceDSN string) func() {
	t.Helper()
	tg, err := writer.New(targetDSN, 6)
	if err != nil {
		t.Fatal(err)
	}
	w := &apply.Worker{Target: tg, Runs: ps.runs, Queue: ps.queue, SourceDSN: sourceDSN, Log: quietLog(t)}
	srv := apply.NewServer(ps.opt, ps.queue, 4, 10*time.Second, quietLog(t))
	if err := srv.Start(w.Mux()); err != nil {
		t.Fatal(err)
	}
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			srv.Shutdown()
			w.Close()
			_ = tg.Close()
		}
	}
	t.Cleanup(stop)
	return stop
}

// waitRun waits until the run is complete.
func (ps *parts) waitRun(t *testing.T, id int64, within time.Duration) *runstate.Run {
	t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		r, err := ps.runs.Get(context.Background(), ps.queue, id)
		if err != nil {
			t.Fatal(err)
		}
		if r != nil && r.Result() != syncv1alpha1.RunRunning {
			return r
		}
		time.Sleep(100 * time.Millisecond)
	}
	info, _ := ps.insp.GetQueueInfo(ps.queue)
	t.Fatalf("run %d did not finish within %s (queue: %+v)", id, within, info)
	return nil
}

func waitFor(t *testing.T, what string, within time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("timed out after %s waiting for %s", within, what)
}

func itemsPipeline(t *testing.T, batch int, maxRetry int) *syncv1alpha1.SyncPipeline {
	return testenv.Pipeline(t, fmt.Sprintf(`
apiVersion: sync.sisporta.io/v1alpha1
kind: SyncPipeline
metadata: {name: resilience}
spec:
  schedule: "@hourly"
  source: {driver: mysql, dsnSecretRef: {name: s, key: dsn}}
  target: {dsnSecretRef: {name: t, key: dsn}}
  batchSize: %d
  queue: {maxRetry: %d}
  entities:
  - name: items
    source: {table: items}
    target: {table: items}
    cleanup: {mode: Delete, maxDeletePercent: 10}
`, batch, maxRetry))
}

func TestTargetDownBatchesRetryThenApply(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	seedItems(t, e, 300)
	e.dst.Exec(t, "CREATE TABLE items (id INT PRIMARY KEY, label VARCHAR(20), visible TINYINT(1) NOT NULL DEFAULT 1)",
		"INSERT INTO items VALUES (9999, 'stale', 1)")
	proxy := testenv.NewProxy(t, testenv.MySQLAddr())
	ps := newParts(t, itemsPipeline(t, 50, 12))

	res := ps.extract(t, e.src.DSN)
	ps.worker(t, e.dst.DSNVia(proxy.Addr), e.src.DSN)
	waitFor(t, "a failed attempt while the target is down", time.Minute, func() bool {
		info, err := ps.insp.GetQueueInfo(ps.queue)
		return err == nil && info.Retry > 0
	})
	if n := e.dst.Count(t, "items", ""); n != 1 {
		t.Fatalf("target changed while down: %d rows", n)
	}
	proxy.Up(t)
	r := ps.waitRun(t, res.RunID, 2*time.Minute)
	if r.Result() != syncv1alpha1.RunSucceeded {
		t.Fatalf("run result %s: %s", r.Result(), r.Message())
	}
	sameRows(t, e, "SELECT id, label FROM items", "SELECT id, label FROM items")
	if _, _, _, deleted := r.Totals(); deleted != 1 {
		t.Errorf("deleted %d, want the one stale row", deleted)
	}
}

func TestFailingBatchGoesToDeadLetterAndRetriesFromThere(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	seedItems(t, e, 100)
	proxy := testenv.NewProxy(t, testenv.MySQLAddr())
	ps := newParts(t, itemsPipeline(t, 50, 1))

	res := ps.extract(t, e.src.DSN)
	ps.worker(t, e.dst.DSNVia(proxy.Addr), e.src.DSN)
	// The batches' tasks, not the queue's counts: the finalize step keeps
	// retrying meanwhile (the target is down), in the retry set but for
	// the moments it is tried.
	waitFor(t, "both batches archived after their last retry", 2*time.Minute, func() bool {
		dead, err := ps.insp.ListArchivedTasks(ps.queue)
		n := 0
		for _, d := range dead {
			if d.Type == queue.TypeApplyBatch {
				n++
			}
		}
		return err == nil && n == 2
	})
	dead, err := ps.insp.ListArchivedTasks(ps.queue)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range dead {
		if d.Type != queue.TypeApplyBatch || !strings.Contains(d.LastErr, "connect") {
			t.Errorf("dead task %s %s: %q", d.ID, d.Type, d.LastErr)
		}
	}
	// The finalize step waits for the missing batches: nothing is deleted
	// or declared done meanwhile.
	if r, _ := ps.runs.Get(context.Background(), ps.queue, res.RunID); r == nil || r.Result() != syncv1alpha1.RunRunning {
		t.Fatalf("run should still be waiting for its dead batches")
	}
	proxy.Up(t)
	if _, err := ps.insp.RunAllArchivedTasks(ps.queue); err != nil {
		t.Fatal(err)
	}
	r := ps.waitRun(t, res.RunID, time.Minute)
	if r.Result() != syncv1alpha1.RunSucceeded {
		t.Fatalf("after retrying the dead letters: %s %s", r.Result(), r.Message())
	}
	sameRows(t, e, "SELECT id, label FROM items", "SELECT id, label FROM items")
}

func TestBatchDeliveredTwiceAppliesOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	seedItems(t, e, 120)
	ps := newParts(t, itemsPipeline(t, 40, 3))
	// Capture the run's batches as the queue holds them, before any worker.
	res := ps.extract(t, e.src.DSN)
	pending, err := ps.insp.ListPendingTasks(ps.queue, asynq.PageSize(100))
	if err != nil {
		t.Fatal(err)
	}
	var batches []*asynq.TaskInfo
	for _, ti := range pending {
		if ti.Type == queue.TypeApplyBatch {
			batches = append(batches, ti)
		}
	}
	if len(batches) != 3 {
		t.Fatalf("%d batches queued, want 3 (120 rows by 40)", len(batches))
	}
	ps.worker(t, e.dst.DSN, e.src.DSN)
	ps.waitRun(t, res.RunID, time.Minute)
	writes := countWrites(t, e.dst, "items")

	// Deliver every batch again, as asynq may after a lost acknowledgement.
	client := asynq.NewClientFromRedisClient(ps.rdb)
	for _, b := range batches {
		if _, err := client.Enqueue(asynq.NewTask(b.Type, b.Payload), asynq.Queue(ps.queue), asynq.TaskID(b.ID+"/again")); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "the redelivered batches to be processed", time.Minute, func() bool {
		info, err := ps.insp.GetQueueInfo(ps.queue)
		return err == nil && info.Pending == 0 && info.Active == 0 && info.Retry == 0
	})
	if n := writes(); n != 0 {
		t.Fatalf("redelivered batches wrote %d rows, want 0", n)
	}
	var ledger int
	if err := e.dst.QueryRow("SELECT COUNT(*) FROM _sisporta_ledger WHERE run_id = ?", res.RunID).Scan(&ledger); err != nil || ledger != 3 {
		t.Fatalf("ledger has %d batches of the run (%v), want 3", ledger, err)
	}
	r, _ := ps.runs.Get(context.Background(), ps.queue, res.RunID)
	if _, written, _, _ := r.Totals(); written != 120 {
		t.Fatalf("run counts %d rows written, want exactly 120", written)
	}
	sameRows(t, e, "SELECT id, label FROM items", "SELECT id, label FROM items")
}

// Two deliveries of one batch applying at the same moment: one commits,
// the others find the ledger row and change nothing.
func TestConcurrentTwinDeliveriesApplyOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	seedItems(t, e, 100)
	ps := newParts(t, itemsPipeline(t, 100, 3))
	res := ps.extract(t, e.src.DSN)
	pending, err := ps.insp.ListPendingTasks(ps.queue)
	if err != nil || len(pending) == 0 {
		t.Fatalf("no batch queued: %v", err)
	}
	b, err := queue.DecodeBatchHeader(pending[0].Payload)
	if err != nil {
		t.Fatal(err)
	}
	tg, err := writer.Open(context.Background(), e.dst.DSN, 8)
	if err != nil {
		t.Fatal(err)
	}
	defer tg.Close()
	w := &apply.Worker{Target: tg, Runs: ps.runs, Queue: ps.queue, Log: quietLog(t)}
	errs := make(chan error, 6)
	for i := 0; i < 6; i++ {
		go func() {
			errs <- w.HandleBatch(context.Background(), asynq.NewTask(queue.TypeApplyBatch, pending[0].Payload))
		}()
	}
	for i := 0; i < 6; i++ {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	// The worker counts progress for applied batches only, not skipped ones.
	if applied, _, err := ps.runs.Loaded(context.Background(), ps.queue, res.RunID, b.Entity); err != nil || applied != 1 {
		t.Fatalf("%d deliveries applied (%v), want exactly 1", applied, err)
	}
	if n := e.dst.Count(t, "_sisporta_ledger", fmt.Sprintf("run_id = %d AND seq = %d", b.Run, b.Seq)); n != 1 {
		t.Fatalf("%d ledger rows for the batch, want 1", n)
	}
	if n := e.dst.Count(t, "items", ""); n != 100 {
		t.Fatalf("%d rows, want 100", n)
	}
}

// queue.maxRetry 0 means a failing batch is dead-lettered at once; it must
// not dead-letter a finalize step that is only waiting for its batches
// (asynq archives a task whose budget is used up before it asks whether
// the error counts), which failed most healthy runs. Here the batches are
// held back by a table lock while the finalize step already runs.
func TestMaxRetryZeroFinalizeWaitsForItsBatches(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	seedItems(t, e, 100)
	e.dst.Exec(t, "CREATE TABLE items (id INT PRIMARY KEY, label VARCHAR(20), visible TINYINT(1) NOT NULL DEFAULT 1)")
	ps := newParts(t, itemsPipeline(t, 10, 0))
	res := ps.extract(t, e.src.DSN)
	lock, err := e.dst.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lock.ExecContext(context.Background(), "LOCK TABLES items WRITE"); err != nil {
		t.Fatal(err)
	}
	ps.worker(t, e.dst.DSN, e.src.DSN)
	time.Sleep(3 * time.Second) // the finalize step runs, finds its batches missing, waits
	_, _ = lock.ExecContext(context.Background(), "UNLOCK TABLES")
	_ = lock.Close()
	r := ps.waitRun(t, res.RunID, time.Minute)
	if r.Result() != syncv1alpha1.RunSucceeded {
		t.Fatalf("run result %s: %s", r.Result(), r.Message())
	}
	sameRows(t, e, "SELECT id, label FROM items", "SELECT id, label FROM items")
}

// A finalize step whose source login lost its rights cannot verify the
// delete candidates: retrying for hours would not change that. The run
// fails within seconds, says why, and deletes nothing.
func TestFinalizeFailsFastWhenTheSourceLoginLostItsRights(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	seedItems(t, e, 50)
	roDSN, user := readOnlyLogin(t, e.src)
	p := itemsPipeline(t, 10, 12)
	p.Spec.Entities[0].Cleanup.MaxDeletePercent = ptr(int32(100))
	mustSucceed(t, runWith(t, p, roDSN, e.dst.DSN))
	e.src.Exec(t, "DELETE FROM items WHERE id <= 5")
	ps := newParts(t, p)
	res := ps.extract(t, roDSN)
	e.src.Exec(t, "REVOKE SELECT ON `"+e.src.Name+"`.* FROM '"+user+"'@'%'")
	start := time.Now()
	ps.worker(t, e.dst.DSN, roDSN)
	r := ps.waitRun(t, res.RunID, 30*time.Second)
	if r.Result() != syncv1alpha1.RunFailed || !strings.Contains(r.Message(), "denied for user") {
		t.Fatalf("run %s after %s: %s", r.Result(), time.Since(start), r.Message())
	}
	if n := e.dst.Count(t, "items", ""); n != 50 {
		t.Fatalf("%d rows left: the failed cleanup deleted some", n)
	}
}
