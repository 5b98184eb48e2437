package localsync_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/testr"

	syncv1alpha1 "github.com/sisporta/sisporta/api/v1alpha1"
	"github.com/sisporta/sisporta/runner/localsync"
	"github.com/sisporta/sisporta/runner/pipeline"
	"github.com/sisporta/sisporta/test/testenv"
)

// env is a source and a target database of a test's own.
type env struct {
	src, dst *testenv.DB
}

func newEnv(t *testing.T) *env {
	t.Helper()
	return &env{src: testenv.NewDB(t, "src"), dst: testenv.NewDB(t, "dst")}
}

func quietLog(t *testing.T) logr.Logger {
	return testr.NewWithOptions(t, testr.Options{Verbosity: 0})
}

// sync runs one complete run through the real Redis.
func (e *env) sync(t *testing.T, p *syncv1alpha1.SyncPipeline, opts ...func(*localsync.Options)) *localsync.Summary {
	t.Helper()
	return runWith(t, p, e.src.DSN, e.dst.DSN, opts...)
}

func runWith(t *testing.T, p *syncv1alpha1.SyncPipeline, sourceDSN, targetDSN string, opts ...func(*localsync.Options)) *localsync.Summary {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	o := localsync.Options{Pipeline: p, SourceDSN: sourceDSN, TargetDSN: targetDSN, RedisURL: testenv.RedisURL(), Log: quietLog(t)}
	for _, f := range opts {
		f(&o)
	}
	sum, err := localsync.Run(ctx, o)
	if err != nil {
		t.Fatalf("sync: %v", err)
	}
	return sum
}

// verify makes a run a verifying one (sync --verify).
func verify(o *localsync.Options) { o.Verify = true }

// syncErr runs one complete run that is expected to fail, and returns
// its error.
func syncErr(t *testing.T, p *syncv1alpha1.SyncPipeline, sourceDSN, targetDSN string) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	sum, err := localsync.Run(ctx, localsync.Options{Pipeline: p, SourceDSN: sourceDSN, TargetDSN: targetDSN,
		RedisURL: testenv.RedisURL(), Log: quietLog(t)})
	if err == nil && sum.Result != "Succeeded" {
		var b strings.Builder
		_ = sum.WriteText(&b)
		return fmt.Errorf("%s", b.String())
	}
	return err
}

func entity(t *testing.T, s *localsync.Summary, name string) localsync.EntitySummary {
	t.Helper()
	for _, e := range s.Entities {
		if e.Name == name {
			return e
		}
	}
	t.Fatalf("no entity %s in summary", name)
	return localsync.EntitySummary{}
}

// mustSucceed fails the test unless every entity succeeded.
func mustSucceed(t *testing.T, s *localsync.Summary) {
	t.Helper()
	if s.Result != "Succeeded" || len(s.Superseded()) > 0 {
		var b strings.Builder
		_ = s.WriteText(&b)
		t.Fatalf("run did not succeed:\n%s", b.String())
	}
}

// sameRows compares a source query with a target query as sets of rows.
func sameRows(t *testing.T, e *env, srcQuery, dstQuery string) {
	t.Helper()
	want := e.src.Rows(t, srcQuery)
	got := e.dst.Rows(t, dstQuery)
	if strings.Join(want, "\n") != strings.Join(got, "\n") {
		t.Fatalf("target differs from source\nsource (%d rows):\n%s\ntarget (%d rows):\n%s", len(want), strings.Join(want, "\n"), len(got), strings.Join(got, "\n"))
	}
}

// countWrites installs triggers that count every INSERT, UPDATE and DELETE on a
// target table: an exact, independent witness of what a run wrote.
func countWrites(t *testing.T, db *testenv.DB, table string) func() int64 {
	t.Helper()
	db.Exec(t, "CREATE TABLE IF NOT EXISTS write_witness (tbl VARCHAR(64) PRIMARY KEY, n BIGINT NOT NULL)",
		fmt.Sprintf("INSERT INTO write_witness VALUES ('%s', 0)", table),
		fmt.Sprintf("CREATE TRIGGER `ww_ins_%s` AFTER INSERT ON `%s` FOR EACH ROW UPDATE write_witness SET n = n + 1 WHERE tbl = '%s'", table, table, table),
		fmt.Sprintf("CREATE TRIGGER `ww_upd_%s` AFTER UPDATE ON `%s` FOR EACH ROW UPDATE write_witness SET n = n + 1 WHERE tbl = '%s'", table, table, table),
		fmt.Sprintf("CREATE TRIGGER `ww_del_%s` AFTER DELETE ON `%s` FOR EACH ROW UPDATE write_witness SET n = n + 1 WHERE tbl = '%s'", table, table, table))
	return func() int64 {
		var n int64
		if err := db.QueryRow("SELECT n FROM write_witness WHERE tbl = ?", table).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
}

func loadFile(path string) (*syncv1alpha1.SyncPipeline, error) { return pipeline.Load(path) }

func ptr[T any](v T) *T { return &v }

// readOnlyLogin creates a MariaDB login of the test's own that may only
// SELECT in db, dropped at the end, and returns db's DSN with it.
func readOnlyLogin(t *testing.T, db *testenv.DB) (dsn, user string) {
	t.Helper()
	user = "sisporta_ro_" + testenv.Random(3)
	db.Exec(t, "CREATE USER '"+user+"'@'%' IDENTIFIED BY 'pw'", "GRANT SELECT ON `"+db.Name+"`.* TO '"+user+"'@'%'")
	t.Cleanup(func() { _, _ = db.DB.Exec("DROP USER IF EXISTS '" + user + "'@'%'") })
	return strings.Replace(db.DSN, "root@", user+":pw@", 1), user
}

// waitLockWaits waits until n transactions of the test's database wait
// for a lock.
func waitLockWaits(t *testing.T, db *testenv.DB, n int, what string) {
	t.Helper()
	waitFor(t, what, time.Minute, func() bool {
		var got int
		_ = db.QueryRow(`SELECT COUNT(*) FROM information_schema.INNODB_TRX t
JOIN information_schema.PROCESSLIST p ON p.ID = t.trx_mysql_thread_id
WHERE t.trx_state = 'LOCK WAIT' AND p.DB = DATABASE()`).Scan(&got)
		return got >= n
	})
}
