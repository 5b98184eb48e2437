package localsync_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/sisporta/sisporta/runner/localsync"
	"github.com/sisporta/sisporta/runner/writer"
	"github.com/sisporta/sisporta/test/testenv"

	syncv1alpha1 "github.com/sisporta/sisporta/api/v1alpha1"
)

func TestMissingTableOrColumnFailsOnlyThatEntity(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	seedItems(t, e, 5)
	p := testenv.Pipeline(t, `
apiVersion: sync.sisporta.io/v1alpha1
kind: SyncPipeline
metadata: {name: missing}
spec:
  schedule: "@daily"
  source: {driver: mysql, dsnSecretRef: {name: s, key: dsn}}
  target: {dsnSecretRef: {name: t, key: dsn}}
  entities:
  - name: good
    source: {table: items}
    target: {table: items}
  - name: no-table
    source: {table: nonexistent}
    target: {table: t2}
  - name: no-column
    source: {table: items}
    target: {table: t3}
    columns: [{source: id}, {source: colour}]
`)
	s := e.sync(t, p)
	if s.Result != syncv1alpha1.RunPartiallyFailed {
		t.Fatalf("result %s, want PartiallyFailed", s.Result)
	}
	if g := entity(t, s, "good"); g.Result != syncv1alpha1.RunSucceeded || g.RowsWritten != 5 {
		t.Errorf("good entity: %+v", g)
	}
	nt := entity(t, s, "no-table")
	if nt.Result != syncv1alpha1.RunFailed || !strings.Contains(nt.Error, "no-table") || !strings.Contains(nt.Error, "nonexistent") || !strings.Contains(nt.Error, "not found") {
		t.Errorf("missing table error does not name entity and table: %+v", nt)
	}
	nc := entity(t, s, "no-column")
	if nc.Result != syncv1alpha1.RunFailed || !strings.Contains(nc.Error, `column "colour" not found`) || !strings.Contains(nc.Error, "it has: id, label, visible") {
		t.Errorf("missing column error does not name the column and list the real ones: %+v", nc)
	}
	countsAgree(t, s)
	if f := s.Failed(); strings.Join(f, ",") != "no-table,no-column" {
		t.Errorf("failed entities = %v", f)
	}
	// The failure is in the target's run record too.
	var msg string
	if err := e.dst.QueryRow("SELECT message FROM _sisporta_runs WHERE entity = 'no-table'").Scan(&msg); err != nil || !strings.Contains(msg, "nonexistent") {
		t.Errorf("run record of the failed entity: %q %v", msg, err)
	}
}

func TestPasswordsNeverReachErrors(t *testing.T) {
	t.Parallel()
	const secret = "S3cr3t-Pa55word"
	p := testenv.Pipeline(t, guardPipeline("{mode: Delete}"))
	cases := map[string]localsync.Options{
		"unreachable target": {SourceDSN: "root@tcp(127.0.0.1:3306)/mysql", TargetDSN: "root:" + secret + "@tcp(127.0.0.1:1)/x"},
		"bad target login":   {SourceDSN: "root@tcp(127.0.0.1:3306)/mysql", TargetDSN: "nobody:" + secret + "@tcp(127.0.0.1:3306)/x"},
		"unreachable source": {SourceDSN: "root:" + secret + "@tcp(127.0.0.1:1)/x", TargetDSN: "root@tcp(127.0.0.1:3306)/x"},
		"malformed source":   {SourceDSN: "root:" + secret + "@tcp(127.0.0.1:3306", TargetDSN: "root@tcp(127.0.0.1:3306)/x"},
		"bad redis":          {SourceDSN: "root@tcp(127.0.0.1:3306)/mysql", RedisURL: "redis://:" + secret + "@127.0.0.1:1/0"},
	}
	for name, o := range cases {
		o.Pipeline, o.Log = p, quietLog(t)
		ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
		_, err := localsync.Run(ctx, o)
		cancel()
		if err == nil {
			t.Errorf("%s: no error", name)
			continue
		}
		if strings.Contains(err.Error(), secret) {
			t.Errorf("%s: the error shows the password: %v", name, err)
		}
		t.Logf("%s: %v", name, err)
	}
}

// Without a Redis URL, sync queues through an embedded Redis: asynq runs
// unchanged on it, so this is the same code path as in a cluster.
func TestSyncWithEmbeddedRedis(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	seedItems(t, e, 50)
	p := testenv.Pipeline(t, guardPipeline("{mode: Delete}"))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := localsync.Run(ctx, localsync.Options{Pipeline: p, SourceDSN: e.src.DSN, TargetDSN: e.dst.DSN, Log: quietLog(t)})
	if err != nil {
		t.Fatal(err)
	}
	mustSucceed(t, s)
	sameRows(t, e, "SELECT id, label FROM items", "SELECT id, label FROM items")
}

// The summary's totals are the sum of its entities, failed ones included.
func countsAgree(t *testing.T, s *localsync.Summary) {
	t.Helper()
	var read, written, unchanged, deleted int64
	for _, e := range s.Entities {
		read, written, unchanged, deleted = read+e.RowsRead, written+e.RowsWritten, unchanged+e.RowsUnchanged, deleted+e.RowsDeleted
	}
	if read != s.RowsRead || written != s.RowsWritten || unchanged != s.RowsUnchanged || deleted != s.RowsDeleted {
		t.Errorf("entities sum to %d read, %d written, %d unchanged, %d deleted; the totals say %d, %d, %d, %d",
			read, written, unchanged, deleted, s.RowsRead, s.RowsWritten, s.RowsUnchanged, s.RowsDeleted)
	}
}

// A failed source.query entity speaks of its query, not of a table.
func TestFailedQueryEntitySpeaksOfItsQuery(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	seedItems(t, e, 5)
	p := testenv.Pipeline(t, simplePipeline(t, "q", "q", `query: "SELECT id, label FROM nowhere", keyColumns: [id]`, 10))
	s := e.sync(t, p)
	en := entity(t, s, "items")
	if en.Result != syncv1alpha1.RunFailed || !strings.Contains(en.Error, "source query") || strings.Contains(en.Error, "source table") || strings.Contains(en.Error, "schema.table") {
		t.Fatalf("a query over a missing table: %+v", en)
	}
	countsAgree(t, s)
}

// A worker whose target is down says so: not that its login lacks rights.
func TestTargetDownIsReportedAsUnreachable(t *testing.T) {
	t.Parallel()
	proxy := testenv.NewProxy(t, testenv.MySQLAddr()) // not up: connections are refused
	db := testenv.NewDB(t, "dst")
	tg, err := writer.New(db.DSNVia(proxy.Addr), 2)
	if err != nil {
		t.Fatal(err)
	}
	defer tg.Close()
	_, _, err = tg.LoadRun(context.Background(), "t/p", 1, "items")
	if err == nil || !strings.Contains(err.Error(), "cannot reach the target MySQL") || strings.Contains(err.Error(), "login needs") {
		t.Fatalf("target down: %v", err)
	}
}

// On the embedded queue a batch that fails for good stops sync at once,
// with the batch and its error, and without sending the user to a
// dead-letter queue that ends with the process.
func TestEmbeddedQueueReportsFailedBatchesItself(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	seedItems(t, e, 30)
	e.dst.Exec(t, "CREATE TABLE items (id VARCHAR(5) PRIMARY KEY, label VARCHAR(20), visible TINYINT(1))")
	p := itemsPipeline(t, 10, 12)
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, err := localsync.Run(ctx, localsync.Options{Pipeline: p, SourceDSN: e.src.DSN, TargetDSN: e.dst.DSN, Log: quietLog(t)})
	if err == nil || !strings.Contains(err.Error(), "entity items, batch 0: ") || !strings.Contains(err.Error(), "key column id is varchar(5)") ||
		!strings.Contains(err.Error(), "embedded queue ends with this process") || strings.Contains(err.Error(), "dlq") {
		t.Fatalf("a permanent failure on the embedded queue: %v", err)
	}
	if d := time.Since(start); d > 20*time.Second {
		t.Fatalf("sync took %s to report a permanent failure", d)
	}
}

// Ctrl-C (a cancelled context) stops sync with what happened and what to
// do; nothing was deleted.
func TestInterruptedSyncSaysNothingWasDeleted(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	seedItems(t, e, 20000)
	e.dst.Exec(t, "CREATE TABLE items (id INT PRIMARY KEY, label VARCHAR(20), visible TINYINT(1) NOT NULL DEFAULT 1)",
		"INSERT INTO items VALUES (100001, 'stale', 1), (100002, 'stale', 1)")
	p := itemsPipeline(t, 5, 12)
	p.Spec.Entities[0].Cleanup.MaxDeletePercent = ptr(int32(100))
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(1500*time.Millisecond, cancel)
	_, err := localsync.Run(ctx, localsync.Options{Pipeline: p, SourceDSN: e.src.DSN, TargetDSN: e.dst.DSN, RedisURL: testenv.RedisURL(), Log: quietLog(t)})
	if err == nil || !strings.Contains(err.Error(), "sync was interrupted before the run finished: nothing was deleted. Run sync again") ||
		strings.Contains(err.Error(), "context canceled") {
		t.Fatalf("an interrupted sync: %v", err)
	}
	if n := e.dst.Count(t, "items", "id > 100000"); n != 2 {
		t.Fatalf("the interrupted run deleted %d stale rows", 2-n)
	}
}

// A source login that can write is warned about in the run's summary; a
// read-only one is not; neither fails.
func TestWriteCapableSourceLoginIsWarnedAbout(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	seedItems(t, e, 3)
	roDSN, _ := readOnlyLogin(t, e.src)
	p := itemsPipeline(t, 10, 12)
	root := e.sync(t, p)
	mustSucceed(t, root)
	var b strings.Builder
	_ = root.WriteText(&b)
	if len(root.Warnings) != 1 || !strings.Contains(root.Warnings[0], "the source login can modify data") || !strings.Contains(b.String(), "warning: the source login can modify data") {
		t.Fatalf("a root source login: warnings %v\n%s", root.Warnings, b.String())
	}
	ro := runWith(t, p, roDSN, e.dst.DSN)
	mustSucceed(t, ro)
	if len(ro.Warnings) != 0 {
		t.Fatalf("a read-only login: %v", ro.Warnings)
	}
}
