package localsync_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/sisporta/sisporta/test/testenv"
)

func TestIncrementalReadsOnlyChangedRowsAndFindsDeletes(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.src.Exec(t, "CREATE TABLE prices (list_id INT, product VARCHAR(10), price DECIMAL(10,2), updated_at DATETIME(6) NOT NULL, PRIMARY KEY (list_id, product))")
	var vals []string
	for l := 1; l <= 3; l++ {
		for i := 1; i <= 20; i++ {
			vals = append(vals, fmt.Sprintf("(%d, 'P%02d', %d.50, NOW(6) - INTERVAL 1 DAY - INTERVAL %d SECOND)", l, i, i, l*100+i))
		}
	}
	e.src.Exec(t, "INSERT INTO prices VALUES "+strings.Join(vals, ","))
	p := testenv.Pipeline(t, `
apiVersion: sync.sisporta.io/v1alpha1
kind: SyncPipeline
metadata: {name: incr}
spec:
  schedule: "*/15 * * * *"
  source: {driver: mysql, dsnSecretRef: {name: s, key: dsn}}
  target: {dsnSecretRef: {name: t, key: dsn}}
  batchSize: 8
  entities:
  - name: prices
    source:
      table: prices
      cursor: {column: updated_at, kind: UpdatedAt, lookbackSeconds: 0}
    target: {table: prices}
`)
	first := e.sync(t, p)
	mustSucceed(t, first)
	if got := entity(t, first, "prices"); got.RowsRead != 60 || got.RowsWritten != 60 {
		t.Fatalf("first run read %d wrote %d, want 60 and 60", got.RowsRead, got.RowsWritten)
	}
	const cols = "list_id, product, price, updated_at"
	sameRows(t, e, "SELECT "+cols+" FROM prices", "SELECT "+cols+" FROM prices")

	e.src.Exec(t,
		"UPDATE prices SET price = 99.99, updated_at = NOW(6) WHERE list_id = 2 AND product IN ('P03', 'P04')",
		"INSERT INTO prices VALUES (4, 'P01', 1.00, NOW(6))",
		"DELETE FROM prices WHERE list_id = 3 AND product = 'P20'")
	second := e.sync(t, p)
	mustSucceed(t, second)
	got := entity(t, second, "prices")
	// The rows changed, and the one at the last run's watermark (rows with
	// that very value may have been committed after it was read).
	if got.RowsRead != 4 || got.RowsWritten != 3 || got.RowsDeleted != 1 {
		t.Fatalf("incremental run read %d wrote %d deleted %d, want 4, 3 and 1 (only changed rows and the one at the watermark read; the key scan finds the delete)", got.RowsRead, got.RowsWritten, got.RowsDeleted)
	}
	sameRows(t, e, "SELECT "+cols+" FROM prices", "SELECT "+cols+" FROM prices")

	third := e.sync(t, p)
	mustSucceed(t, third)
	if got := entity(t, third, "prices"); got.RowsRead > 3 || got.RowsWritten != 0 || got.RowsDeleted != 0 {
		t.Fatalf("unchanged incremental run read %d wrote %d deleted %d, want only the rows at the watermark read and nothing written", got.RowsRead, got.RowsWritten, got.RowsDeleted)
	}
}

// A target table made by its owner whose key column compares in another
// collation than the source's key (binary here, case-insensitive there)
// would merge or part keys: it is refused, with both definitions, before
// anything is written. Once the owner aligns the column, the mirror runs,
// deleting only what the source lost.
func TestTargetKeyCollationMustMatchTheSource(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.src.Exec(t, "CREATE TABLE codes (code VARCHAR(10) COLLATE utf8mb4_general_ci PRIMARY KEY, label VARCHAR(20))")
	e.src.Exec(t, "INSERT INTO codes VALUES ('a','1'),('B','2'),('c','3'),('D','4'),('e','5'),('F','6'),('_x','7'),('Z','8'),('y','9'),('ö','10')")
	e.dst.Exec(t, "CREATE TABLE codes (code VARCHAR(10) COLLATE utf8mb4_bin PRIMARY KEY, label VARCHAR(20))")
	p := testenv.Pipeline(t, `
apiVersion: sync.sisporta.io/v1alpha1
kind: SyncPipeline
metadata: {name: order}
spec:
  schedule: "@hourly"
  source: {driver: mysql, dsnSecretRef: {name: s, key: dsn}}
  target: {dsnSecretRef: {name: t, key: dsn}}
  batchSize: 2
  entities:
  - name: codes
    source: {table: codes}
    target: {table: codes}
    cleanup: {mode: Delete, maxDeletePercent: 100}
`)
	err := syncErr(t, p, e.src.DSN, e.dst.DSN)
	for _, want := range []string{"key column code is varchar(10) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin",
		"the source's is varchar(10) CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci", "ALTER TABLE `codes` MODIFY"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("sync with a binary-collation target for a case-insensitive key: %v, want it refused saying %q", err, want)
		}
	}
	if n := e.dst.Count(t, "codes", ""); n != 0 {
		t.Fatalf("%d rows written into a refused table", n)
	}
	e.dst.Exec(t, "ALTER TABLE codes MODIFY code VARCHAR(10) COLLATE utf8mb4_general_ci NOT NULL")
	for i := 0; i < 2; i++ {
		s := e.sync(t, p)
		mustSucceed(t, s)
		sameRows(t, e, "SELECT code, label FROM codes", "SELECT code, label FROM codes")
	}
	e.src.Exec(t, "DELETE FROM codes WHERE code IN ('B', 'y')")
	s := e.sync(t, p)
	mustSucceed(t, s)
	if got := entity(t, s, "codes"); got.RowsDeleted != 2 {
		t.Fatalf("deleted %d, want the 2 rows gone from the source", got.RowsDeleted)
	}
	sameRows(t, e, "SELECT code, label FROM codes", "SELECT code, label FROM codes")
}

// UpdatedAt cursors follow the column's own values, whatever zone and
// precision the ERP writes them in: a DATETIME written in local time
// west of UTC, a DATE, a DATETIME(0) updated in the second the previous
// run read; a column added to the source is filled in on every row; the
// first run reads everything once.
func TestUpdatedAtFollowsTheColumnNotAClock(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.src.Exec(t,
		"CREATE TABLE local (id INT PRIMARY KEY, v VARCHAR(10), updated_at DATETIME(6) NOT NULL)",
		"CREATE TABLE days (id INT PRIMARY KEY, v VARCHAR(10), changed_on DATE NOT NULL)",
		"CREATE TABLE secs (id INT PRIMARY KEY, v INT, updated_at DATETIME NOT NULL)")
	local := func(stmt string) { // an ERP writing in local time, 3 hours west of UTC
		e.src.Exec(t, "SET time_zone = '-03:00'", stmt, "SET time_zone = SYSTEM")
	}
	local("INSERT INTO local VALUES (1, 'a', NOW(6) - INTERVAL 1 MINUTE), (2, 'b', NOW(6) - INTERVAL 1 HOUR)")
	e.src.Exec(t, "INSERT INTO days VALUES (1, 'a', CURDATE() - INTERVAL 3 DAY), (2, 'b', CURDATE())",
		"INSERT INTO secs SELECT seq, 0, UTC_TIMESTAMP() FROM seq_1_to_50")
	p := testenv.Pipeline(t, `
apiVersion: sync.sisporta.io/v1alpha1
kind: SyncPipeline
metadata: {name: clocks}
spec:
  schedule: "@hourly"
  source: {driver: mysql, dsnSecretRef: {name: s, key: dsn}}
  target: {dsnSecretRef: {name: t, key: dsn}}
  entities:
  - {name: local, source: {table: local, cursor: {column: updated_at, kind: UpdatedAt, lookbackSeconds: 0}}, target: {table: local}}
  - {name: days, source: {table: days, cursor: {column: changed_on, kind: UpdatedAt, lookbackSeconds: 0}}, target: {table: days}}
  - {name: secs, source: {table: secs, cursor: {column: updated_at, kind: UpdatedAt, lookbackSeconds: 0}}, target: {table: secs}}
`)
	first := e.sync(t, p)
	mustSucceed(t, first)
	for _, en := range first.Entities {
		if en.RowsWritten != en.RowsRead {
			t.Errorf("first run of %s read %d and wrote %d: rows written twice", en.Name, en.RowsRead, en.RowsWritten)
		}
	}
	check := func() {
		t.Helper()
		sameRows(t, e, "SELECT id, v, updated_at FROM local", "SELECT id, v, updated_at FROM local")
		sameRows(t, e, "SELECT id, v, changed_on FROM days", "SELECT id, v, changed_on FROM days")
		sameRows(t, e, "SELECT id, v, updated_at FROM secs", "SELECT id, v, updated_at FROM secs")
	}
	check()
	// Changes in the same second as the last run's watermark, later today,
	// and in local time.
	local("UPDATE local SET v = 'CHANGED', updated_at = NOW(6) WHERE id = 1")
	e.src.Exec(t, "UPDATE days SET v = 'later', changed_on = CURDATE() WHERE id IN (1, 2)",
		"UPDATE secs SET v = 1, updated_at = (SELECT MAX(updated_at) FROM (SELECT updated_at FROM secs) s) WHERE id <= 10")
	mustSucceed(t, e.sync(t, p))
	check()
	// A column added to the source reaches every row, not only changed ones.
	e.src.Exec(t, "ALTER TABLE local ADD status VARCHAR(10) NOT NULL DEFAULT 'open'")
	mustSucceed(t, e.sync(t, p))
	sameRows(t, e, "SELECT id, status FROM local", "SELECT id, status FROM local")
}
