package cmd

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	syncv1alpha1 "github.com/sisporta/sisporta/api/v1alpha1"
	"github.com/sisporta/sisporta/runner/queue"
	"github.com/sisporta/sisporta/runner/runstate"
	"github.com/sisporta/sisporta/test/testenv"
)

// cursorEnv is an incremental pipeline of a test's own: 20 source rows
// stamped a day ago, one second apart (id 1 the newest), and the two ways
// to run it: in the cluster (`sisporta extract`, what the CronJob runs,
// applied by `sisporta work`, what the worker Deployment runs) and locally
// (`sisporta sync -f`).
type cursorEnv struct {
	src, dst *testenv.DB
	path     string
	q        string
	rdb      redis.UniversalClient
	runs     *runstate.Store
}

func newCursorEnv(t *testing.T) *cursorEnv {
	t.Helper()
	e := &cursorEnv{src: testenv.NewDB(t, "cursrc"), dst: testenv.NewDB(t, "curdst")}
	e.src.Exec(t, "CREATE TABLE items (id INT PRIMARY KEY, label VARCHAR(40) NOT NULL, updated_at DATETIME(6) NOT NULL)")
	var vals []string
	for i := 1; i <= 20; i++ {
		vals = append(vals, fmt.Sprintf("(%d, 'item %d', NOW(6) - INTERVAL 1 DAY - INTERVAL %d SECOND)", i, i, i))
	}
	e.src.Exec(t, "INSERT INTO items VALUES "+strings.Join(vals, ","))
	name := "cursor-" + testenv.Random(3)
	manifest := `apiVersion: sync.sisporta.io/v1alpha1
kind: SyncPipeline
metadata: {name: ` + name + `}
spec:
  schedule: "@hourly"
  source: {driver: mysql, dsnSecretRef: {name: s, key: dsn}}
  target: {dsnSecretRef: {name: t, key: dsn}}
  batchSize: 4
  entities:
  - name: items
    source:
      table: items
      cursor: {column: updated_at, kind: UpdatedAt, lookbackSeconds: 0}
    target: {table: items}
    cleanup: {mode: Delete}
`
	e.path = filepath.Join(t.TempDir(), "p.yaml")
	if err := os.WriteFile(e.path, []byte(manifest), 0o600); err != nil {
		t.Fatal(err)
	}
	// Connections as the pods get them; Redis only where a run names it
	// (without one, sync uses an embedded Redis of its own).
	t.Setenv("SISPORTA_SOURCE_DSN", e.src.DSN)
	t.Setenv("SISPORTA_TARGET_DSN", e.dst.DSN)
	t.Setenv("SISPORTA_REDIS_URL", "")
	rdb, _, err := queue.Connect(context.Background(), testenv.RedisURL())
	if err != nil {
		t.Fatal(err)
	}
	e.rdb, e.runs, e.q = rdb, runstate.NewStore(rdb), queue.Name("default", name)
	t.Cleanup(func() {
		e.loseRedis(t)
		_ = rdb.Close()
	})
	return e
}

// loseRedis deletes everything Redis holds of the pipeline, as a Redis
// that restarted without persistence, or was replaced, would.
func (e *cursorEnv) loseRedis(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	_ = asynq.NewInspectorFromRedisClient(e.rdb).DeleteQueue(e.q, true)
	if err := queue.DeleteQueueKeys(ctx, e.rdb, e.q); err != nil {
		t.Fatal(err)
	}
	if err := e.runs.Purge(ctx, e.q); err != nil {
		t.Fatal(err)
	}
}

// change gives rows new labels, stamped now.
func (e *cursorEnv) change(t *testing.T, ids ...int) {
	t.Helper()
	var in []string
	for _, id := range ids {
		in = append(in, fmt.Sprint(id))
	}
	e.src.Exec(t, "UPDATE items SET label = CONCAT(label, '+'), updated_at = NOW(6) WHERE id IN ("+strings.Join(in, ",")+")")
}

// mirrored fails the test unless the target holds the source's rows.
func (e *cursorEnv) mirrored(t *testing.T, after string) {
	t.Helper()
	const q = "SELECT id, label, updated_at FROM items"
	want, got := e.src.Rows(t, q), e.dst.Rows(t, q)
	if strings.Join(want, "\n") != strings.Join(got, "\n") {
		t.Fatalf("after %s the target differs from the source\nsource:\n%s\ntarget:\n%s", after, strings.Join(want, "\n"), strings.Join(got, "\n"))
	}
}

// cluster runs one run as the cluster does and returns its rows read.
func (e *cursorEnv) cluster(t *testing.T) int64 {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	worked := make(chan error, 1)
	go func() {
		root := newRootCommand()
		root.SetOut(io.Discard)
		root.SetErr(io.Discard)
		root.SetArgs([]string{"work", "--config", e.path, "--redis-url", testenv.RedisURL(),
			"--health-probe-bind-address", "127.0.0.1:0", "--metrics-bind-address", "0", "--shutdown-timeout", "5s", "--zap-log-level=error"})
		worked <- root.ExecuteContext(ctx)
	}()
	defer func() {
		cancel()
		if err := <-worked; err != nil {
			t.Errorf("sisporta work: %v", err)
		}
	}()
	if out, err := runCmd(t, "extract", "--config", e.path, "--redis-url", testenv.RedisURL(), "--zap-log-level=error"); err != nil {
		t.Fatalf("sisporta extract: %v\n%s", err, out)
	}
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		last, _, err := e.runs.Latest(ctx, e.q)
		if err != nil {
			t.Fatal(err)
		}
		if last == nil || last.Result() == syncv1alpha1.RunRunning {
			continue
		}
		f := last.Entities[0].Final
		if last.Result() != syncv1alpha1.RunSucceeded || f == nil {
			t.Fatalf("run %d: %s %+v", last.Meta.ID, last.Result(), f)
		}
		return f.RowsRead
	}
	t.Fatal("the run did not finish within a minute")
	return 0
}

// local runs `sisporta sync -f` (with an embedded Redis when redisURL is
// empty) and returns its rows read.
func (e *cursorEnv) local(t *testing.T, redisURL string) int64 {
	t.Helper()
	args := []string{"-f", e.path, "-o", "json"}
	if redisURL != "" {
		args = append(args, "--redis-url", redisURL)
	}
	out, code := runSync(t, args...)
	var sum struct {
		Result   string `json:"result"`
		Entities []struct {
			RowsRead int64 `json:"rowsRead"`
		} `json:"entities"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &sum) != nil || sum.Result != "Succeeded" {
		t.Fatalf("sisporta sync: exit %d\n%s", code, out)
	}
	return sum.Entities[0].RowsRead
}

// cursorPaths are the two ways to run a pipeline, both on the test's
// Redis: the cluster's and `sync -f`.
var cursorPaths = []string{"extract", "sync"}

func (e *cursorEnv) run(t *testing.T, path string) int64 {
	t.Helper()
	if path == "extract" {
		return e.cluster(t)
	}
	return e.local(t, testenv.RedisURL())
}

func wantRead(t *testing.T, what string, got, want int64) {
	t.Helper()
	if got != want {
		t.Fatalf("%s read %d rows, want %d", what, got, want)
	}
}

// A Redis that lost its data between two incremental runs costs nothing:
// the cursor is the target's, so the next run reads only what changed
// (the two rows changed and the one at the watermark), and skips nothing.
func TestCursorSurvivesALostRedis(t *testing.T) {
	for _, path := range cursorPaths {
		t.Run(path, func(t *testing.T) {
			e := newCursorEnv(t)
			run := func(t *testing.T) int64 { return e.run(t, path) }
			wantRead(t, "the first run", run(t), 20)
			e.mirrored(t, "the first run")
			e.change(t, 3, 4)
			e.loseRedis(t)
			wantRead(t, "the run after Redis lost its data", run(t), 3)
			e.mirrored(t, "the run after Redis lost its data")
		})
	}
}

// A target restored from a backup holds an older cursor than the runs
// since then reached (which Redis may still hold): the next run reads from
// the target's cursor, so the rows the restore took back are read again
// rather than skipped.
func TestCursorIsTheTargetsAfterItWasRestored(t *testing.T) {
	for _, path := range cursorPaths {
		t.Run(path, func(t *testing.T) {
			e := newCursorEnv(t)
			run := func(t *testing.T) int64 { return e.run(t, path) }
			wantRead(t, "the first run", run(t), 20)
			e.dst.Exec(t, "CREATE TABLE backup_items AS SELECT * FROM items",
				"CREATE TABLE backup_entities AS SELECT * FROM _sisporta_entities")
			e.change(t, 3, 4)
			wantRead(t, "the second run", run(t), 3) // 3, 4 and 1, at the watermark
			e.change(t, 6)
			wantRead(t, "the third run", run(t), 3) // 6, and 3 and 4 at the watermark
			e.mirrored(t, "the third run")

			// The target goes back to its backup after the first run.
			e.dst.Exec(t, "DELETE FROM items", "INSERT INTO items SELECT * FROM backup_items",
				"REPLACE INTO _sisporta_entities SELECT * FROM backup_entities")
			e.change(t, 9)
			read := run(t)
			e.mirrored(t, "the run after the restore")
			wantRead(t, "the run after the restore", read, 5) // 3, 4, 6, 9 and 1, at the restored watermark
		})
	}
}

// The CronJob's extractor and `sync -f` read the same cursor: runs of
// either continue from where the last run of the other left the target,
// whatever Redis each used (sync's embedded one starts empty).
func TestExtractAndSyncContinueEachOther(t *testing.T) {
	e := newCursorEnv(t)
	wantRead(t, "sync (the first run)", e.local(t, ""), 20)
	e.change(t, 3, 4)
	wantRead(t, "extract after sync", e.cluster(t), 3) // 3, 4 and 1, at the watermark
	e.mirrored(t, "extract after sync")
	e.change(t, 5, 6)
	wantRead(t, "sync after extract", e.local(t, ""), 4) // 5, 6, and 3 and 4 at the watermark
	e.mirrored(t, "sync after extract")
	e.change(t, 7, 8)
	wantRead(t, "extract after sync again", e.cluster(t), 4) // 7, 8, and 5 and 6 at the watermark
	e.mirrored(t, "extract after sync again")

	// Without the target the extractor cannot know where to start.
	t.Setenv("SISPORTA_TARGET_DSN", "")
	out, err := runCmd(t, "extract", "--config", e.path, "--redis-url", testenv.RedisURL(), "--zap-log-level=error")
	if err == nil || !strings.Contains(err.Error(), "start from the cursors the target database keeps") {
		t.Fatalf("extract without a target DSN: %v\n%s", err, out)
	}
}
