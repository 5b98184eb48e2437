package localsync_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sisporta/sisporta/runner/queue"
	"github.com/sisporta/sisporta/test/testenv"

	syncv1alpha1 "github.com/sisporta/sisporta/api/v1alpha1"
)

var (
	binOnce sync.Once
	binPath string
	binErr  error
)

// sisportaBinary builds the sisporta binary once for the tests that run
// and kill real processes.
func sisportaBinary(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		dir, err := os.MkdirTemp("", "sisporta-bin")
		if err != nil {
			binErr = err
			return
		}
		binPath = filepath.Join(dir, "sisporta")
		out, err := exec.Command("go", "build", "-o", binPath, "github.com/sisporta/sisporta").CombinedOutput()
		if err != nil {
			binErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

// process is a running sisporta subcommand.
type process struct {
	cmd *exec.Cmd
	out *bytes.Buffer
}

func start(t *testing.T, env []string, args ...string) *process {
	t.Helper()
	cmd := exec.Command(sisportaBinary(t), args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.Env = append(os.Environ(), env...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &process{cmd: cmd, out: &out}
	t.Cleanup(func() { p.kill() })
	return p
}

// kill sends SIGKILL: no cleanup, no graceful shutdown.
func (p *process) kill() {
	if p.cmd.ProcessState == nil {
		_ = p.cmd.Process.Signal(syscall.SIGKILL)
		_ = p.cmd.Wait()
	}
}

func writePipeline(t *testing.T, manifest string) (string, string) {
	t.Helper()
	p := testenv.Pipeline(t, manifest)
	path := filepath.Join(t.TempDir(), "pipeline.yaml")
	body := fmt.Sprintf(`apiVersion: sync.sisporta.io/v1alpha1
kind: SyncPipeline
metadata: {name: %s}
`, p.Name) + manifest[len("\napiVersion: sync.sisporta.io/v1alpha1\nkind: SyncPipeline\nmetadata: {name: killme}\n"):]
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return path, queue.Name("default", p.Name)
}

const killPipeline = `
apiVersion: sync.sisporta.io/v1alpha1
kind: SyncPipeline
metadata: {name: killme}
spec:
  schedule: "@hourly"
  source: {driver: mysql, dsnSecretRef: {name: s, key: dsn}}
  target: {dsnSecretRef: {name: t, key: dsn}}
  batchSize: 100
  workers: {concurrency: 2}
  entities:
  - name: items
    source: {table: items}
    target: {table: items}
    cleanup: {mode: Delete, maxDeletePercent: 50}
`

// A worker killed at an arbitrary moment (here: while applying batches)
// loses nothing: its transaction rolls back, asynq hands its tasks to
// another worker once their lease expires, and the run completes exactly.
func TestWorkerKilledMidRunLosesNothing(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	seedItems(t, e, 4000)
	e.dst.Exec(t, "CREATE TABLE items (id INT PRIMARY KEY, label VARCHAR(20), visible TINYINT(1) NOT NULL DEFAULT 1)",
		"INSERT INTO items VALUES (100000, 'stale', 1)")
	path, qname := writePipeline(t, killPipeline)
	env := []string{"SISPORTA_SOURCE_DSN=" + e.src.DSN, "SISPORTA_TARGET_DSN=" + e.dst.DSN, "SISPORTA_REDIS_URL=" + testenv.RedisURL()}
	ps := &parts{}
	*ps = *newPartsForQueue(t, qname)

	x := start(t, env, "extract", "--config", path)
	if err := x.cmd.Wait(); err != nil {
		t.Fatalf("extract: %v\n%s", err, x.out)
	}
	runs, err := ps.runs.Recent(context.Background(), qname, 1)
	if err != nil || len(runs) != 1 {
		t.Fatalf("no run recorded: %v", err)
	}
	id := runs[0].Meta.ID

	// The first ten batches (ids up to 1000) apply; the later ones stall
	// in the middle of their transactions: the kill then lands there.
	lockTx := holdTargetRowsAbove(t, e.dst, 1000)
	w1 := start(t, env, "work", "--config", path, "--health-probe-bind-address=127.0.0.1:0", "--metrics-bind-address=0")
	waitLockWaits(t, e.dst, 2, "the worker's transactions to stall past the first ten batches")
	w1.kill()
	_ = lockTx.Rollback()
	var applied int64
	if err := e.dst.QueryRow("SELECT COUNT(*) FROM _sisporta_ledger WHERE run_id = ?", id).Scan(&applied); err != nil {
		t.Fatal(err)
	}
	// Only committed batches left rows: 100 rows a batch, plus the stale row.
	waitFor(t, "the killed transactions to roll back", 30*time.Second, func() bool {
		return e.dst.Count(t, "items", "") == applied*100+1
	})
	if n := e.dst.Count(t, "items", "id = 100000"); n != 1 {
		t.Fatal("the stale row went before the run completed")
	}
	if info, _ := ps.insp.GetQueueInfo(qname); info == nil || info.Active == 0 {
		t.Fatalf("the killed worker held no task: %+v", info)
	}

	start(t, env, "work", "--config", path, "--health-probe-bind-address=127.0.0.1:0", "--metrics-bind-address=0")
	r := ps.waitRun(t, id, 4*time.Minute)
	if r.Result() != syncv1alpha1.RunSucceeded {
		t.Fatalf("run %s: %s", r.Result(), r.Message())
	}
	sameRows(t, e, "SELECT id, label FROM items", "SELECT id, label FROM items")
	if read, written, unchanged, deleted := r.Totals(); read != 4000 || written+unchanged != 4000 || deleted != 1 {
		t.Fatalf("counts read %d written %d unchanged %d deleted %d, want 4000, 4000 together and 1", read, written, unchanged, deleted)
	}
}

// holdTargetRowsAbove makes batches writing ids above n wait, in the
// middle of their transactions, until the returned transaction ends: it
// holds the gap between a row of id n (written here as the source has it)
// and the next row, for inserts. Batches up to n apply.
func holdTargetRowsAbove(t *testing.T, db *testenv.DB, n int) *sql.Tx {
	t.Helper()
	// The table gets Sisporta's hash column now: the lock below would hold
	// up the worker's ALTER otherwise.
	db.Exec(t, "CREATE TABLE IF NOT EXISTS items (id INT PRIMARY KEY, label VARCHAR(20), visible TINYINT(1) NOT NULL DEFAULT 1)",
		"ALTER TABLE items ADD COLUMN IF NOT EXISTS _sisporta_hash BIGINT UNSIGNED NULL INVISIBLE",
		fmt.Sprintf("INSERT INTO items (id, label, visible) VALUES (%d, 'item %d', 1)", n, n))
	lockTx, err := db.BeginTx(context.Background(), &sql.TxOptions{Isolation: sql.LevelRepeatableRead})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = lockTx.Rollback() })
	if _, err := lockTx.Exec(fmt.Sprintf("SELECT id FROM items WHERE id > %d FOR UPDATE", n)); err != nil {
		t.Fatal(err)
	}
	return lockTx
}

// An extractor killed mid-run never leads to a delete: the finalize step
// (the only place deletes happen) is queued only after a complete read.
// The next run converges.
func TestExtractorKilledMidRunNeverDeletes(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	seedItems(t, e, 2000)
	e.dst.Exec(t, "CREATE TABLE items (id INT PRIMARY KEY, label VARCHAR(20), visible TINYINT(1) NOT NULL DEFAULT 1)",
		"INSERT INTO items VALUES (100000, 'stale', 1)")
	path, qname := writePipeline(t, killPipeline)
	env := []string{"SISPORTA_SOURCE_DSN=" + e.src.DSN, "SISPORTA_REDIS_URL=" + testenv.RedisURL()}
	ps := newPartsForQueue(t, qname)

	// With room for 3 pending batches and no worker, the extractor stalls
	// after 3 of its 20 batches: kill it there.
	x := start(t, env, "extract", "--config", path, "--max-pending", "3")
	waitFor(t, "the extractor to fill the queue", time.Minute, func() bool {
		info, err := ps.insp.GetQueueInfo(qname)
		return err == nil && info.Pending >= 3
	})
	x.kill()

	stop := ps.worker(t, e.dst.DSN, e.src.DSN)
	waitFor(t, "the queued batches to be applied", time.Minute, func() bool {
		info, err := ps.insp.GetQueueInfo(qname)
		return err == nil && info.Pending == 0 && info.Active == 0 && info.Scheduled == 0 && info.Retry == 0
	})
	stop()
	if n := e.dst.Count(t, "items", "id = 100000"); n != 1 {
		t.Fatal("an incomplete run deleted a row")
	}
	if n := e.dst.Count(t, "items", ""); n < 300 || n >= 2001 {
		t.Fatalf("target holds %d rows after the partial run", n)
	}

	// The killed extractor's lock outlives it briefly; then the next
	// complete run converges.
	waitFor(t, "the killed extractor's lock to expire", time.Minute, func() bool {
		h, err := ps.runs.LockHolder(context.Background(), qname)
		return err == nil && h == ""
	})
	p, err := loadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := e.sync(t, p)
	mustSucceed(t, s)
	sameRows(t, e, "SELECT id, label FROM items", "SELECT id, label FROM items")
	if it := entity(t, s, "items"); it.RowsDeleted != 1 {
		t.Fatalf("deleted %d, want the stale row", it.RowsDeleted)
	}
}

// SIGTERM lets a worker finish the batches it holds (here: one stalled on a
// lock, released after the signal) before it exits; its probes answer
// while it runs.
func TestWorkerFinishesInFlightBatchesOnSIGTERM(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	seedItems(t, e, 2000) // three batches: a full copy into an empty table goes 800 rows a batch
	path, qname := writePipeline(t, killPipeline)
	env := []string{"SISPORTA_SOURCE_DSN=" + e.src.DSN, "SISPORTA_TARGET_DSN=" + e.dst.DSN, "SISPORTA_REDIS_URL=" + testenv.RedisURL()}
	ps := newPartsForQueue(t, qname)
	x := start(t, env, "extract", "--config", path)
	if err := x.cmd.Wait(); err != nil {
		t.Fatalf("extract: %v\n%s", err, x.out)
	}
	// Stall every batch at its ledger insert.
	e.dst.Exec(t, "CREATE TABLE IF NOT EXISTS _sisporta_ledger (pipeline VARCHAR(255) NOT NULL, entity VARCHAR(63) NOT NULL, run_id BIGINT NOT NULL, seq INT NOT NULL, rows_in INT NOT NULL, rows_written INT NOT NULL, rows_unchanged INT NOT NULL, candidates INT NOT NULL, rows_repaired INT NOT NULL DEFAULT 0, applied_at DATETIME(6) NOT NULL, PRIMARY KEY (pipeline, entity, run_id, seq)) ENGINE=InnoDB")
	lockTx, err := e.dst.BeginTx(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer lockTx.Rollback() //nolint:errcheck
	if _, err := lockTx.Exec("SELECT * FROM _sisporta_ledger FOR UPDATE"); err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	w := start(t, env, "work", "--config", path, fmt.Sprintf("--health-probe-bind-address=127.0.0.1:%d", port), "--metrics-bind-address=0", "--shutdown-timeout=30s")
	waitFor(t, "the worker's probes", 30*time.Second, func() bool {
		return httpOK(fmt.Sprintf("http://127.0.0.1:%d/healthz", port)) && httpOK(fmt.Sprintf("http://127.0.0.1:%d/readyz", port))
	})
	// Batches in flight: active apply-batch tasks (a finalize step may be
	// active too, waiting for them; it writes no ledger row).
	batchesActive := func() int {
		active, err := ps.insp.ListActiveTasks(qname)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, a := range active {
			if a.Type == queue.TypeApplyBatch {
				n++
			}
		}
		return n
	}
	waitFor(t, "batches in flight", 30*time.Second, func() bool { return batchesActive() >= 2 })
	inFlight := batchesActive()
	if err := w.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second) // the worker is shutting down, its batches still stalled
	// Its probes still answer: alive, and not ready.
	if code := httpStatus(fmt.Sprintf("http://127.0.0.1:%d/readyz", port)); code != http.StatusServiceUnavailable {
		t.Errorf("readyz while stopping: %d, want 503 (not a refused connection)", code)
	}
	if !httpOK(fmt.Sprintf("http://127.0.0.1:%d/healthz", port)) {
		t.Error("healthz while stopping: not OK")
	}
	_ = lockTx.Rollback()
	done := make(chan error, 1)
	go func() { done <- w.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("worker exited with %v\n%s", err, w.out)
		}
	case <-time.After(40 * time.Second):
		t.Fatalf("worker did not stop within its shutdown timeout\n%s", w.out)
	}
	var applied int
	if err := e.dst.QueryRow("SELECT COUNT(*) FROM _sisporta_ledger").Scan(&applied); err != nil {
		t.Fatal(err)
	}
	if applied < int(inFlight) {
		t.Fatalf("%d batches applied, want at least the %d in flight at SIGTERM\n%s", applied, inFlight, w.out)
	}
	// One structured format a process, durations with their unit.
	for name, out := range map[string]string{"extract": x.out.String(), "work": w.out.String()} {
		for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
			var entry map[string]any
			if err := json.Unmarshal([]byte(line), &entry); err != nil || entry["level"] == nil {
				t.Errorf("%s logged a line that is not a JSON entry: %q", name, line)
			}
			if v, ok := entry["timeout"]; ok {
				if s, _ := v.(string); !strings.HasSuffix(s, "s") {
					t.Errorf("%s logged a duration without its unit: %q", name, line)
				}
			}
		}
	}
}

// httpStatus returns the status of a GET, 0 when nothing answers.
func httpStatus(url string) int {
	resp, err := http.Get(url)
	if err != nil {
		return 0
	}
	_ = resp.Body.Close()
	return resp.StatusCode
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func httpOK(url string) bool {
	resp, err := http.Get(url)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// A worker frozen (SIGSTOP) in the middle of its transactions stalls no
// other worker: they apply their batches at once (no lock is held for
// schema work; batches of one run only share a read lock), the frozen
// transactions are ended by the server after a minute idle, asynq hands
// their tasks on, and the run completes exactly.
func TestFrozenWorkerStallsNoOther(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	seedItems(t, e, 4000)
	path, qname := writePipeline(t, killPipeline)
	env := []string{"SISPORTA_SOURCE_DSN=" + e.src.DSN, "SISPORTA_TARGET_DSN=" + e.dst.DSN, "SISPORTA_REDIS_URL=" + testenv.RedisURL()}
	ps := newPartsForQueue(t, qname)
	// The target table is not empty when the run reads (a row the lock
	// below needs): its batches go 100 rows each.
	lockTx := holdTargetRowsAbove(t, e.dst, 1000)
	x := start(t, env, "extract", "--config", path)
	if err := x.cmd.Wait(); err != nil {
		t.Fatalf("extract: %v\n%s", err, x.out)
	}
	runs, err := ps.runs.Recent(context.Background(), qname, 1)
	if err != nil || len(runs) != 1 {
		t.Fatalf("no run recorded: %v", err)
	}
	id := runs[0].Meta.ID
	applied := func() int {
		var n int
		_ = e.dst.QueryRow("SELECT COUNT(*) FROM _sisporta_ledger WHERE run_id = ?", id).Scan(&n)
		return n
	}

	// Stall the first worker's transactions past its first ten batches,
	// freeze it there, then let the server finish the statements it was
	// sent: the frozen process holds open transactions, rows locked.
	w1 := start(t, env, "work", "--config", path, "--health-probe-bind-address=127.0.0.1:0", "--metrics-bind-address=0")
	waitLockWaits(t, e.dst, 2, "the first worker's two transactions to stall past the first ten batches")
	if err := w1.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = w1.cmd.Process.Signal(syscall.SIGCONT) })
	_ = lockTx.Rollback()
	before := applied()

	start(t, env, "work", "--config", path, "--health-probe-bind-address=127.0.0.1:0", "--metrics-bind-address=0")
	frozenAt := time.Now()
	waitFor(t, "the second worker to apply batches while the first is frozen", time.Minute, func() bool { return applied() >= before+10 })
	t.Logf("the second worker applied 10 batches %s after the first froze", time.Since(frozenAt).Round(time.Second))
	r := ps.waitRun(t, id, 5*time.Minute)
	if r.Result() != syncv1alpha1.RunSucceeded {
		t.Fatalf("run %s: %s", r.Result(), r.Message())
	}
	t.Logf("the run completed %s after the first worker froze", time.Since(frozenAt).Round(time.Second))
	sameRows(t, e, "SELECT id, label FROM items", "SELECT id, label FROM items")
	if read, written, unchanged, _ := r.Totals(); read != 4000 || written+unchanged != 4000 {
		t.Fatalf("counts read %d written %d unchanged %d, want 4000 and 4000 together", read, written, unchanged)
	}
}
