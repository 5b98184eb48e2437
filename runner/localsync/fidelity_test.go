package localsync_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	syncv1alpha1 "github.com/sisporta/sisporta/api/v1alpha1"
	"github.com/sisporta/sisporta/runner/localsync"
	"github.com/sisporta/sisporta/runner/queue"
	"github.com/sisporta/sisporta/runner/runstate"
	"github.com/sisporta/sisporta/test/testenv"
)

// simplePipeline mirrors one table (or query) with the given extra YAML
// under the entity's source.
func simplePipeline(t *testing.T, name, table, source string, batch int) string {
	t.Helper()
	return fmt.Sprintf(`
apiVersion: sync.sisporta.io/v1alpha1
kind: SyncPipeline
metadata: {name: %s}
spec:
  schedule: "@hourly"
  source: {driver: mysql, dsnSecretRef: {name: s, key: dsn}}
  target: {dsnSecretRef: {name: t, key: dsn}}
  batchSize: %d
  entities:
  - name: items
    source: {%s}
    target: {table: %s}
    cleanup: {mode: Delete, maxDeletePercent: 100}
`, name, batch, source, table)
}

// A key changed to a spelling its collation calls equal ('abc' to 'ABC',
// 'x ' to 'x', 'Ö' to 'ö', in single and composite keys) must arrive: the
// old upsert left key columns out of ON DUPLICATE KEY UPDATE but stored the
// new hash, so the old spelling stayed for good.
func TestKeyChangedToCollationEqualSpellingArrives(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.src.Exec(t,
		"CREATE TABLE single (code VARCHAR(10) COLLATE utf8mb4_general_ci PRIMARY KEY, v INT)",
		"INSERT INTO single VALUES ('abc', 1), ('x ', 2), ('Ö', 3), ('m', 4), ('zz', 5)",
		"CREATE TABLE pair (a VARCHAR(10) COLLATE utf8mb4_general_ci, b VARCHAR(10) COLLATE utf8mb4_general_ci, v INT, PRIMARY KEY (a, b))",
		"INSERT INTO pair VALUES ('k', 'abc', 1), ('k', 'x ', 2), ('Ö', 'q', 3), ('m', 'm', 4)")
	ps := testenv.Pipeline(t, simplePipeline(t, "spell", "single", "table: single", 2))
	pp := testenv.Pipeline(t, simplePipeline(t, "spell2", "pair", "table: pair", 2))
	exact := map[string]string{"single": "SELECT HEX(code), v FROM single", "pair": "SELECT HEX(a), HEX(b), v FROM pair"}
	mustSucceed(t, e.sync(t, ps))
	mustSucceed(t, e.sync(t, pp))
	e.src.Exec(t,
		"UPDATE single SET code = 'ABC' WHERE code = 'abc'", "UPDATE single SET code = 'x' WHERE code = 'x '", "UPDATE single SET code = 'ö' WHERE code = 'Ö'",
		"UPDATE pair SET b = 'ABC' WHERE b = 'abc'", "UPDATE pair SET b = 'x' WHERE b = 'x '", "UPDATE pair SET a = 'ö' WHERE a = 'Ö'")
	for _, c := range []struct {
		name string
		run  func() int64
	}{
		{"single", func() int64 { s := e.sync(t, ps); mustSucceed(t, s); return s.RowsWritten + s.RowsDeleted }},
		{"pair", func() int64 { s := e.sync(t, pp); mustSucceed(t, s); return s.RowsWritten + s.RowsDeleted }},
	} {
		if n := c.run(); n != 3 {
			t.Errorf("%s: the run with three respelled keys wrote and deleted %d rows, want 3 written", c.name, n)
		}
		sameRows(t, e, exact[c.name], exact[c.name])
		if n := c.run(); n != 0 {
			t.Errorf("%s: the next run wrote or deleted %d rows, want 0 (a key rewritten every run)", c.name, n)
		}
		sameRows(t, e, exact[c.name], exact[c.name])
	}
}

// Keys whose type orders differently from its text (ENUM by member index,
// SET by bit mask, BIT by number) are paginated in the server's order with
// comparisons that agree with it: every row arrives, none is rewritten.
// Floating-point keys cannot identify rows exactly and are refused.
func TestEnumSetAndBitKeysPaginateExactly(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.src.Exec(t,
		"CREATE TABLE en (k ENUM('zulu','alpha','mike','bravo','charlie','','Ärger') NOT NULL PRIMARY KEY, v INT)",
		"INSERT INTO en VALUES ('alpha',1),('bravo',2),('charlie',3),('mike',4),('zulu',5),('',6),('Ärger',7)",
		"CREATE TABLE st (k SET('x','a','m','b','q','z') NOT NULL PRIMARY KEY, v INT)",
		"INSERT INTO st VALUES ('',0),('x',1),('a',2),('x,a',3),('m',4),('b,q',5),('x,a,m,b,q,z',6),('z',7)",
		"CREATE TABLE bt (k BIT(8) NOT NULL PRIMARY KEY, v INT)",
		"INSERT INTO bt VALUES (b'0',0),(b'1',1),(b'1111111',2),(b'10000000',3),(b'11111111',4),(b'1010',5)",
		"CREATE TABLE bt2 (a BIT(3) NOT NULL, b ENUM('y','x') NOT NULL, v INT, PRIMARY KEY (a, b))",
		"INSERT INTO bt2 VALUES (b'111','x',1),(b'111','y',2),(0,'x',3),(0,'y',4),(b'10','x',5)")
	for _, c := range []struct{ table, cmp string }{
		{"en", "SELECT k, k+0, v FROM %s"}, {"st", "SELECT k, k+0, v FROM %s"},
		{"bt", "SELECT k+0, v FROM %s"}, {"bt2", "SELECT a+0, b, v FROM %s"},
	} {
		for _, batch := range []int{1, 2, 3} {
			dst := fmt.Sprintf("%s_%d", c.table, batch)
			p := testenv.Pipeline(t, simplePipeline(t, "keys-"+c.table, dst, "table: "+c.table, batch))
			first := e.sync(t, p)
			mustSucceed(t, first)
			sameRows(t, e, fmt.Sprintf(c.cmp, c.table), fmt.Sprintf(c.cmp, dst))
			again := e.sync(t, p)
			mustSucceed(t, again)
			if again.RowsWritten != 0 || again.RowsDeleted != 0 {
				t.Errorf("%s, batches of %d: a no-op run wrote %d and deleted %d rows", c.table, batch, again.RowsWritten, again.RowsDeleted)
			}
		}
	}
	for i, typ := range []string{"FLOAT", "DOUBLE", "FLOAT(7,4)"} {
		e.src.Exec(t, "DROP TABLE IF EXISTS fk", "CREATE TABLE fk (k "+typ+" NOT NULL PRIMARY KEY, v INT)", "INSERT INTO fk VALUES (1.5, 1)")
		p := testenv.Pipeline(t, simplePipeline(t, "fkey", fmt.Sprint("fk", i), "table: fk", 10))
		err := syncErr(t, p, e.src.DSN, e.dst.DSN)
		if err == nil || !strings.Contains(err.Error(), "approximate number") || !strings.Contains(err.Error(), "choose other source.keyColumns") {
			t.Errorf("%s key: %v, want it refused as an approximate number", typ, err)
		}
	}
}

// keyColumns that do not identify rows would collapse rows in the target
// and make pages skip rows: the entity fails, naming the key and columns.
func TestRepeatedKeysAreRefused(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.src.Exec(t,
		"CREATE TABLE nokey (a INT NOT NULL, b VARCHAR(5), v INT)",
		"INSERT INTO nokey VALUES (1,'x',1),(1,'x',2),(2,NULL,3)",
		"CREATE TABLE ci (code VARCHAR(5) COLLATE utf8mb4_general_ci NOT NULL, v INT, KEY (code))",
		"INSERT INTO ci VALUES ('a',1),('A',2),('b',3)",
		"CREATE TABLE uniq (id INT PRIMARY KEY, code VARCHAR(5) NOT NULL, v INT, UNIQUE KEY (code))",
		"INSERT INTO uniq VALUES (1,'a',1),(2,'b',2)")
	cases := []struct {
		name, source, want string
	}{
		{"repeated key", "table: nokey, keyColumns: [a]", `(a) do not identify rows: the source has more than one row with key ("1")`},
		{"repeated composite key", "table: nokey, keyColumns: [a, b]", `(a, b) do not identify rows: the source has more than one row with key ("1", "x")`},
		{"keys equal under the collation", "table: ci, keyColumns: [code]", `(code) do not identify rows`},
		{"query", `query: "SELECT a, v FROM nokey", keyColumns: [a]`, `(a) do not identify rows`},
	}
	for i, c := range cases {
		p := testenv.Pipeline(t, simplePipeline(t, "dups", fmt.Sprint("dups", i), c.source, 1))
		err := syncErr(t, p, e.src.DSN, e.dst.DSN)
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "Set source.keyColumns to columns that are unique") {
			t.Errorf("%s: %v, want %q", c.name, err, c.want)
		}
	}
	// A unique index other than the primary key proves uniqueness.
	p := testenv.Pipeline(t, simplePipeline(t, "uniq", "uniq", "table: uniq, keyColumns: [code]", 1))
	mustSucceed(t, e.sync(t, p))
	sameRows(t, e, "SELECT id, code, v FROM uniq", "SELECT id, code, v FROM uniq")
}

// Text in a character set other than UTF-8 keeps its bytes, including
// bytes the character set maps to no Unicode character (cp1251 0x98,
// cp1252's 0x81), as values and as keys; a value the target column cannot
// hold fails its batch, naming the row, and is never replaced by '?'.
func TestTextKeepsItsBytesInEveryCharacterSet(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.src.Exec(t,
		"CREATE TABLE cs (k VARCHAR(10) CHARACTER SET cp1251 COLLATE cp1251_general_ci NOT NULL PRIMARY KEY,"+
			" l VARCHAR(10) CHARACTER SET latin1, w TEXT CHARACTER SET cp1251, u VARCHAR(10) CHARACTER SET utf8mb4,"+
			" g CHAR(5) CHARACTER SET greek, a VARCHAR(10) CHARACTER SET ascii, bn VARCHAR(10) CHARACTER SET binary, m VARCHAR(10) CHARACTER SET utf8mb3)",
		"INSERT INTO cs VALUES (X'98', X'81', X'98C0', '🚪', X'E1', 'plain', X'FF00', 'Ö'),"+
			" (X'C0', X'E9', NULL, '', X'F9', '', '', ''), ('a', 'x', X'5C27', 'ü', 'x', 'z', X'00', 'b'), (X'9899', X'8D8F', X'00', NULL, NULL, NULL, NULL, NULL)")
	p := testenv.Pipeline(t, simplePipeline(t, "charsets", "cs", "table: cs", 2))
	const exact = "SELECT HEX(k), HEX(l), HEX(w), HEX(u), HEX(g), HEX(a), HEX(bn), HEX(m) FROM cs"
	first := e.sync(t, p)
	mustSucceed(t, first)
	sameRows(t, e, exact, exact)
	if s := e.sync(t, p); s.RowsWritten != 0 || s.RowsDeleted != 0 {
		t.Fatalf("a no-op run wrote %d and deleted %d rows", s.RowsWritten, s.RowsDeleted)
	}
	if s := e.sync(t, p, verify); s.RowsRepaired != 0 || s.RowsWritten != 0 {
		t.Fatalf("verifying the mirror repaired %d and wrote %d rows: values read back differ from the source's", s.RowsRepaired, s.RowsWritten)
	}

	// A target table made by its owner with a latin1 column cannot hold a
	// door emoji: the batch fails naming the row; nothing becomes '?'.
	e.src.Exec(t, "CREATE TABLE uni (id INT PRIMARY KEY, v VARCHAR(10) CHARACTER SET utf8mb4)", "INSERT INTO uni VALUES (1, 'plain'), (2, 'porta 🚪')")
	e.dst.Exec(t, "CREATE TABLE uni (id INT PRIMARY KEY, v VARCHAR(10) CHARACTER SET latin1)")
	pu := testenv.Pipeline(t, simplePipeline(t, "narrow", "uni", "table: uni", 10))
	err := syncErr(t, pu, e.src.DSN, e.dst.DSN)
	if err == nil || !strings.Contains(err.Error(), `the row with key id="2" cannot be stored`) || !strings.Contains(err.Error(), "Incorrect string value") {
		t.Fatalf("an emoji into a latin1 column: %v, want the row named and the batch failed", err)
	}
	if n := e.dst.Count(t, "uni", "v LIKE '%?%'"); n != 0 {
		t.Fatalf("%d values were substituted with '?'", n)
	}
}

// A row edited in the target behind Sisporta's back keeps its stored
// hash, so a normal run trusts it; a verifying run recomputes each row's
// hash from its values, repairs it and counts it.
func TestVerifyRepairsRowsEditedInTheTarget(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.src.Exec(t, "CREATE TABLE items (id INT PRIMARY KEY, v VARCHAR(20), n DECIMAL(10,2), f FLOAT)")
	var vals []string
	for i := 1; i <= 50; i++ {
		vals = append(vals, fmt.Sprintf("(%d, 'v%d', %d.25, %d.1)", i, i, i, i))
	}
	e.src.Exec(t, "INSERT INTO items VALUES "+strings.Join(vals, ","))
	p := testenv.Pipeline(t, simplePipeline(t, "verify", "items", "table: items", 7))
	mustSucceed(t, e.sync(t, p))
	const cmp = "SELECT id, v, n, CAST(f AS DOUBLE) FROM items"
	e.dst.Exec(t, "UPDATE items SET v = 'TAMPERED' WHERE id = 3", "UPDATE items SET n = NULL WHERE id = 17", "UPDATE items SET f = f + 1 WHERE id = 50")
	normal := e.sync(t, p)
	mustSucceed(t, normal)
	if normal.RowsWritten != 0 {
		t.Fatalf("a normal run wrote %d rows: the stored hash is trusted, so it should see nothing", normal.RowsWritten)
	}
	v := e.sync(t, p, verify)
	mustSucceed(t, v)
	if !v.Verified || v.RowsRepaired != 3 || v.RowsWritten != 3 || entity(t, v, "items").RowsRepaired != 3 {
		t.Fatalf("verifying run: verified %v, repaired %d, written %d; want true, 3, 3", v.Verified, v.RowsRepaired, v.RowsWritten)
	}
	sameRows(t, e, cmp, cmp)
	var repaired, verified int64
	if err := e.dst.QueryRow("SELECT rows_repaired, verified FROM _sisporta_runs WHERE run_id = ?", v.Run).Scan(&repaired, &verified); err != nil || repaired != 3 || verified != 1 {
		t.Fatalf("run record: repaired %d verified %d (%v)", repaired, verified, err)
	}
	if again := e.sync(t, p, verify); again.RowsRepaired != 0 || again.RowsWritten != 0 {
		t.Fatalf("verifying an intact mirror repaired %d and wrote %d", again.RowsRepaired, again.RowsWritten)
	}
}

// An incremental entity reads rows changed since its watermark; rows the
// target lacks whose cursor value is older (inserted backdated, or back in
// the where filter) are seen by the key scan and read by key in the same
// run. A verifying run reads such an entity in full.
func TestIncrementalFetchesRowsOlderThanItsCursor(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.src.Exec(t, "CREATE TABLE prices (id INT PRIMARY KEY, price DECIMAL(10,2), active TINYINT NOT NULL, updated_at DATETIME(6) NOT NULL)")
	var vals []string
	for i := 1; i <= 30; i++ {
		vals = append(vals, fmt.Sprintf("(%d, %d.50, %d, NOW(6) - INTERVAL 1 DAY)", i, i, 1-i%10/9))
	}
	e.src.Exec(t, "INSERT INTO prices VALUES "+strings.Join(vals, ","))
	p := testenv.Pipeline(t, simplePipeline(t, "backdated", "prices",
		`table: prices, where: "active = 1", cursor: {column: updated_at, kind: UpdatedAt, lookbackSeconds: 0}`, 4))
	const cmp = "SELECT id, price, updated_at FROM prices WHERE active = 1"
	mustSucceed(t, e.sync(t, p))
	sameRows(t, e, cmp, "SELECT id, price, updated_at FROM prices")
	e.src.Exec(t,
		"INSERT INTO prices VALUES (100, 1.00, 1, NOW(6) - INTERVAL 30 DAY)", // backdated insert
		"UPDATE prices SET active = 1 WHERE id = 9",                          // back in the filter, old timestamp
		"UPDATE prices SET price = 7.77, updated_at = NOW(6) WHERE id = 2")   // an ordinary change
	s := e.sync(t, p)
	mustSucceed(t, s)
	if got := entity(t, s, "items"); got.RowsWritten != 3 {
		t.Fatalf("wrote %d rows, want 3 (one changed, two found by the key scan)", got.RowsWritten)
	}
	sameRows(t, e, cmp, "SELECT id, price, updated_at FROM prices")
	if s := e.sync(t, p); s.RowsWritten != 0 {
		t.Fatalf("a no-op incremental run wrote %d", s.RowsWritten)
	}
	e.dst.Exec(t, "UPDATE prices SET price = 0 WHERE id = 5")
	v := e.sync(t, p, verify)
	mustSucceed(t, v)
	if got, want := entity(t, v, "items").RowsRead, e.src.Count(t, "prices", "active = 1"); got != want || v.RowsRepaired != 1 {
		t.Fatalf("verifying incremental run read %d rows and repaired %d; want all %d read, 1 repaired", got, v.RowsRepaired, want)
	}
	sameRows(t, e, cmp, "SELECT id, price, updated_at FROM prices")
}

// Two pipelines mirroring one target table would delete each other's
// rows: the second is refused, naming the first, until it takes the table
// over by naming its owner; then the first is refused.
func TestOneTargetTableHasOneOwner(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	other := testenv.NewDB(t, "src2")
	e.src.Exec(t, "CREATE TABLE items (id INT PRIMARY KEY, v INT)")
	other.Exec(t, "CREATE TABLE items (id INT PRIMARY KEY, v INT)")
	var vals []string
	for i := 1; i <= 100; i++ {
		vals = append(vals, fmt.Sprintf("(%d, %d)", i, i))
	}
	e.src.Exec(t, "INSERT INTO items VALUES "+strings.Join(vals, ","))
	other.Exec(t, "INSERT INTO items VALUES (1000, 1)")
	first := testenv.Pipeline(t, simplePipeline(t, "first", "items", "table: items", 50))
	second := testenv.Pipeline(t, simplePipeline(t, "second", "items", "table: items", 50))
	mustSucceed(t, e.sync(t, first))
	err := syncErr(t, second, other.DSN, e.dst.DSN)
	owner := "default/" + first.Name + "/items"
	if err == nil || !strings.Contains(err.Error(), "is mirrored by "+owner) || !strings.Contains(err.Error(), "takeOverFrom") {
		t.Fatalf("second pipeline on the same table: %v, want it refused naming %s", err, owner)
	}
	if n := e.dst.Count(t, "items", ""); n != 100 {
		t.Fatalf("the refused pipeline changed the table: %d rows", n)
	}
	// Nor through another target database naming the table qualified: the
	// owner is kept next to the table.
	elsewhere := testenv.NewDB(t, "dst2")
	third := testenv.Pipeline(t, simplePipeline(t, "third", e.dst.Name+".items", "table: items", 50))
	if err := syncErr(t, third, other.DSN, elsewhere.DSN); err == nil || !strings.Contains(err.Error(), "is mirrored by "+owner) {
		t.Fatalf("a pipeline writing the table from another target database: %v, want it refused naming %s", err, owner)
	}
	second.Spec.Entities[0].Target.TakeOverFrom = owner
	s := runWith(t, second, other.DSN, e.dst.DSN)
	mustSucceed(t, s)
	if err := syncErr(t, first, e.src.DSN, e.dst.DSN); err == nil || !strings.Contains(err.Error(), "is mirrored by default/"+second.Name+"/items") {
		t.Fatalf("the first pipeline after the takeover: %v, want it refused", err)
	}
}

// Sisporta's own names are not users' to take: a source column that would
// land on _sisporta_hash is refused with a way out.
func TestSisportaNamesAreRefused(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.src.Exec(t, "CREATE TABLE copy (id INT PRIMARY KEY, _sisporta_hash BIGINT UNSIGNED)", "INSERT INTO copy VALUES (1, 2)")
	p := testenv.Pipeline(t, simplePipeline(t, "names", "copy", "table: copy", 10))
	err := syncErr(t, p, e.src.DSN, e.dst.DSN)
	if err == nil || !strings.Contains(err.Error(), "a name Sisporta keeps for itself") {
		t.Fatalf("a source column named _sisporta_hash: %v", err)
	}
	p.Spec.Entities[0].Columns = append(p.Spec.Entities[0].Columns, columnMap("id", ""), columnMap("_sisporta_hash", "source_hash"))
	mustSucceed(t, e.sync(t, p))
	sameRows(t, e, "SELECT id, _sisporta_hash FROM copy", "SELECT id, source_hash FROM copy")
}

func columnMap(source, target string) syncv1alpha1.ColumnMapping {
	return syncv1alpha1.ColumnMapping{Source: syncv1alpha1.Identifier(source), Target: syncv1alpha1.Identifier(target)}
}

// A run ID far ahead (an extractor's clock a day fast under an earlier
// counter, then a Redis that lost its data, or a local sync's embedded
// Redis) must not freeze the mirror: run IDs are compared only within one
// epoch of the counter, and a run of a new epoch that the target has not
// seen becomes current.
func TestRunIDAheadNeverFreezesTheMirror(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.src.Exec(t, "CREATE TABLE items (id INT PRIMARY KEY, v INT)", "INSERT INTO items VALUES (1, 1), (2, 2)")
	p := testenv.Pipeline(t, simplePipeline(t, "ahead", "items", "table: items", 10))
	mustSucceed(t, e.sync(t, p))
	rdb, _, err := queue.Connect(context.Background(), testenv.RedisURL())
	if err != nil {
		t.Fatal(err)
	}
	defer rdb.Close()
	q := queue.Name(p.Namespace, p.Name)
	ahead := time.Now().Add(24 * time.Hour).UnixMilli()
	if err := rdb.HSet(context.Background(), "sisporta:{"+q+"}:runids", "last", ahead).Err(); err != nil {
		t.Fatal(err)
	}
	e.src.Exec(t, "UPDATE items SET v = 10 WHERE id = 1")
	s := e.sync(t, p) // a run a day ahead: applied
	mustSucceed(t, s)
	if s.Run <= ahead {
		t.Fatalf("run %d, want one past %d", s.Run, ahead)
	}
	sameRows(t, e, "SELECT id, v FROM items", "SELECT id, v FROM items")
	// Redis loses its data: the next run's ID is a day behind the target's.
	if err := runstate.NewStore(rdb).Purge(context.Background(), q); err != nil {
		t.Fatal(err)
	}
	e.src.Exec(t, "UPDATE items SET v = 20 WHERE id = 2")
	s = e.sync(t, p)
	mustSucceed(t, s)
	if s.Run >= ahead || s.RowsWritten != 1 {
		t.Fatalf("run %d after Redis lost its data wrote %d rows, want 1", s.Run, s.RowsWritten)
	}
	sameRows(t, e, "SELECT id, v FROM items", "SELECT id, v FROM items")
	// And a local sync through an embedded Redis (an epoch of its own).
	e.src.Exec(t, "UPDATE items SET v = 30 WHERE id = 2")
	local := runWith(t, p, e.src.DSN, e.dst.DSN, func(o *localsync.Options) { o.RedisURL = "" })
	mustSucceed(t, local)
	if local.RowsWritten != 1 {
		t.Fatalf("sync on an embedded Redis wrote %d rows, want 1", local.RowsWritten)
	}
	sameRows(t, e, "SELECT id, v FROM items", "SELECT id, v FROM items")
	// The cluster's Redis again: its epoch is known, its next run newer.
	e.src.Exec(t, "UPDATE items SET v = 40 WHERE id = 1")
	s = e.sync(t, p)
	mustSucceed(t, s)
	sameRows(t, e, "SELECT id, v FROM items", "SELECT id, v FROM items")
}

// Rows the source can serve are written whatever their size: a 9 MB BLOB
// (hex would double it past the 16 MB max_allowed_packet) and 9 MB of
// backslashes (escaping doubles them) arrive exactly, the large row alone
// through a prepared statement, the others in ordinary statements.
func TestLargeRowsFitTheTargetsPacket(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.src.Exec(t, "CREATE TABLE big (id INT PRIMARY KEY, b LONGBLOB, s LONGTEXT)",
		"INSERT INTO big VALUES (1, RANDOM_BYTES(1024), 'small'), (3, NULL, 'after')",
		"INSERT INTO big VALUES (2, REPEAT(CONCAT(RANDOM_BYTES(1000), X'5C27005C'), 2250), NULL)", // ~9 MB, escapes included
		"INSERT INTO big VALUES (4, NULL, REPEAT('\\\\', 9000000))")                               // 9 MB of backslashes
	p := testenv.Pipeline(t, simplePipeline(t, "big", "big", "table: big", 10))
	const cmp = "SELECT id, LENGTH(b), SHA2(b, 256), LENGTH(s), SHA2(s, 256) FROM big"
	mustSucceed(t, e.sync(t, p))
	sameRows(t, e, cmp, cmp)
	if s := e.sync(t, p, verify); s.RowsWritten != 0 || s.RowsRepaired != 0 {
		t.Fatalf("verifying the large rows wrote %d, repaired %d", s.RowsWritten, s.RowsRepaired)
	}
	e.src.Exec(t, "UPDATE big SET s = CONCAT(s, 'x') WHERE id = 4")
	mustSucceed(t, e.sync(t, p))
	sameRows(t, e, cmp, cmp)
}

// Tables Sisporta created follow the source as its columns widen; a table
// someone else made is not changed, and a value it cannot hold fails its
// batch at once with a message that says which column and how to widen it.
func TestCreatedTablesFollowTheSourceAsItWidens(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.src.Exec(t, "CREATE TABLE items (id INT PRIMARY KEY, name VARCHAR(20), n INT, d DECIMAL(6,2))",
		"INSERT INTO items VALUES (1, 'short', 1, 1.50)")
	e.dst.Exec(t, "CREATE TABLE theirs (id INT PRIMARY KEY, name VARCHAR(20), n INT, d DECIMAL(6,2))")
	mine := testenv.Pipeline(t, simplePipeline(t, "widen", "items", "table: items", 10))
	theirs := testenv.Pipeline(t, simplePipeline(t, "theirs", "theirs", "table: items", 10))
	mustSucceed(t, e.sync(t, mine))
	mustSucceed(t, e.sync(t, theirs))
	e.src.Exec(t, "ALTER TABLE items MODIFY id BIGINT NOT NULL, MODIFY name VARCHAR(200), MODIFY n BIGINT, MODIFY d DECIMAL(12,2)",
		"INSERT INTO items VALUES (9007199254740993, REPEAT('long ', 30), 9007199254740993, 1234567890.12)")
	mustSucceed(t, e.sync(t, mine))
	sameRows(t, e, "SELECT id, name, n, d FROM items", "SELECT id, name, n, d FROM items")
	var typ string
	if err := e.dst.QueryRow("SELECT COLUMN_TYPE FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'items' AND COLUMN_NAME = 'name'").Scan(&typ); err != nil || typ != "varchar(200)" {
		t.Fatalf("name column after the source widened it: %s %v", typ, err)
	}
	err := syncErr(t, theirs, e.src.DSN, e.dst.DSN)
	if err == nil || !strings.Contains(err.Error(), "key column id is int(11), the source's is bigint(20)") || !strings.Contains(err.Error(), "ALTER TABLE `theirs` MODIFY `id` bigint(20)") {
		t.Fatalf("a table someone else made, its key too narrow now: %v", err)
	}
	e.dst.Exec(t, "ALTER TABLE theirs MODIFY id BIGINT NOT NULL")
	err = syncErr(t, theirs, e.src.DSN, e.dst.DSN)
	if err == nil || !strings.Contains(err.Error(), "column name is varchar(20)") || !strings.Contains(err.Error(), "Sisporta changes only tables it created") ||
		!strings.Contains(err.Error(), "ALTER TABLE `theirs` MODIFY `name` varchar(200)") {
		t.Fatalf("a table someone else made, a column too narrow now: %v", err)
	}
}

// Every statement a run sends to a MySQL source is a read inside a READ
// ONLY transaction (the server refuses any write there), the catalog
// probes and a query's column probe included: what the source saw is
// recorded by a proxy on the wire. A where or query that would escape its
// parentheses, hide a tail in a comment or write through INTO is refused
// before anything is sent, even when the login could write.
func TestTheSourceIsOnlyEverRead(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.src.Exec(t, "CREATE TABLE items (id INT PRIMARY KEY, v VARCHAR(10), updated_at DATETIME(6) NOT NULL)",
		"INSERT INTO items VALUES (1, 'a;b', NOW(6)), (2, 'x', NOW(6)), (3, 'y', NOW(6))",
		"CREATE TABLE written (n INT)",
		"CREATE FUNCTION f_write() RETURNS INT MODIFIES SQL DATA BEGIN INSERT INTO written VALUES (1); RETURN 1; END")
	proxy := testenv.NewProxy(t, testenv.MySQLAddr())
	proxy.Record()
	proxy.Up(t)
	src := e.src.DSNVia(proxy.Addr)
	p := testenv.Pipeline(t, `
apiVersion: sync.sisporta.io/v1alpha1
kind: SyncPipeline
metadata: {name: readonly}
spec:
  schedule: "@hourly"
  source: {driver: mysql, dsnSecretRef: {name: s, key: dsn}}
  target: {dsnSecretRef: {name: t, key: dsn}}
  batchSize: 2
  entities:
  - {name: items, source: {table: items, where: "v <> 'a;b' OR id = 1"}, target: {table: items}, cleanup: {mode: Delete, maxDeletePercent: 100}}
  - {name: query, source: {query: "SELECT id, v FROM items", keyColumns: [id]}, target: {table: q}}
  - {name: incr, source: {table: items, cursor: {column: updated_at, kind: UpdatedAt}}, target: {table: incr}, cleanup: {mode: Delete, maxDeletePercent: 100}}
`)
	mustSucceed(t, runWith(t, p, src, e.dst.DSN))
	e.src.Exec(t, "DELETE FROM items WHERE id = 3") // deletes make the finalize step ask the source
	mustSucceed(t, runWith(t, p, src, e.dst.DSN))
	sameRows(t, e, "SELECT id, v FROM items", "SELECT id, v FROM items")
	reads := 0
	for _, conn := range proxy.Statements() {
		inReadOnly := false
		for _, st := range conn {
			u := strings.ToUpper(strings.TrimSpace(st))
			switch {
			case u == "START TRANSACTION READ ONLY":
				inReadOnly = true
			case u == "COMMIT" || u == "ROLLBACK":
				inReadOnly = false
			case strings.HasPrefix(u, "SET "):
				// session settings at connect time
			case (strings.HasPrefix(u, "SELECT ") || strings.HasPrefix(u, "SHOW ")) && inReadOnly:
				reads++
			default:
				t.Errorf("sent to the source outside a read-only transaction, or not a read: %s", st)
			}
		}
	}
	if reads < 10 {
		t.Fatalf("only %d reads recorded: is the proxy seeing the run?", reads)
	}

	for _, bad := range []struct{ field, value string }{
		{"where", "1=1) INTO OUTFILE '/tmp/sisporta-x' #"},
		{"query", "SELECT 1 AS id) q, (SELECT f_write() AS z) z2 #"},
		{"where", "id = 1 -- and the rest"},
	} {
		q := testenv.Pipeline(t, simplePipeline(t, "exploit", "x", "table: items", 10))
		if bad.field == "where" {
			q.Spec.Entities[0].Source.Where = bad.value
		} else {
			q.Spec.Entities[0].Source.Table, q.Spec.Entities[0].Source.Query = "", bad.value
			q.Spec.Entities[0].Source.KeyColumns = []syncv1alpha1.Identifier{"id"}
		}
		s := runWith(t, q, e.src.DSN, e.dst.DSN)
		if en := entity(t, s, "items"); en.Result != syncv1alpha1.RunFailed || !strings.Contains(en.Error, "source."+bad.field) {
			t.Errorf("%s %q: %+v", bad.field, bad.value, en)
		}
	}
	if n := e.src.Count(t, "written", ""); n != 0 {
		t.Fatalf("the source was written %d times", n)
	}
}

// A target that is the source (one DSN in both Secrets, or a target.table
// qualified with the source's database) is refused before anything is
// created or written: the source is only ever read.
func TestTargetThatIsTheSourceIsRefused(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.src.Exec(t, "CREATE TABLE products (id INT PRIMARY KEY, name VARCHAR(20), active INT)",
		"INSERT INTO products VALUES (1,'a',1),(2,'b',1),(3,'c',0),(4,'d',1),(5,'e',1)")
	p := testenv.Pipeline(t, simplePipeline(t, "self", "products", `table: products, where: "active = 1"`, 10))
	err := syncErr(t, p, e.src.DSN, e.src.DSN)
	if err == nil || !strings.Contains(err.Error(), "the database the source reads, on the same server") {
		t.Fatalf("target DSN = source DSN: %v", err)
	}
	q := testenv.Pipeline(t, simplePipeline(t, "self2", e.src.Name+".products", `table: products, where: "active = 1"`, 10))
	err = syncErr(t, q, e.src.DSN, e.dst.DSN)
	if err == nil || !strings.Contains(err.Error(), "target table "+e.src.Name+".products is in") {
		t.Fatalf("target.table in the source's database: %v", err)
	}
	sameSource := []string{`"1"|"a"|"1"`, `"2"|"b"|"1"`, `"3"|"c"|"0"`, `"4"|"d"|"1"`, `"5"|"e"|"1"`}
	if got := e.src.Rows(t, "SELECT id, name, active FROM products"); strings.Join(got, " ") != strings.Join(sameSource, " ") {
		t.Fatalf("the source changed: %v", got)
	}
	if n := e.src.Count(t, "information_schema.TABLES", "TABLE_SCHEMA = DATABASE() AND TABLE_NAME LIKE '\\_sisporta\\_%'"); n != 0 {
		t.Fatalf("%d state tables were created in the source", n)
	}
	if n := e.src.Count(t, "information_schema.COLUMNS", "TABLE_SCHEMA = DATABASE() AND COLUMN_NAME = '_sisporta_hash'"); n != 0 {
		t.Fatal("the source table was altered")
	}
}

// A DSN's own collation or sql_mode cannot change what arrives: a legacy
// utf8 (3-byte) collation would turn emoji into '?', latin1 would make
// mojibake, PAD_CHAR_TO_FULL_LENGTH would pad CHAR values.
func TestDSNSessionSettingsCannotChangeValues(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.src.Exec(t, "CREATE TABLE items (id INT PRIMARY KEY, v VARCHAR(10) CHARACTER SET utf8mb4, c CHAR(5))", "INSERT INTO items VALUES (1, 'a😀b', 'x'), (2, 'шabc', 'y ')")
	p := testenv.Pipeline(t, simplePipeline(t, "dsn", "items", "table: items", 10))
	src := e.src.DSN + "?collation=utf8_general_ci&sql_mode=%27PAD_CHAR_TO_FULL_LENGTH%27"
	dst := e.dst.DSN + "?collation=latin1_swedish_ci"
	mustSucceed(t, runWith(t, p, src, dst))
	const cmp = "SELECT id, HEX(v), HEX(c) FROM items"
	sameRows(t, e, cmp, cmp)
	if s := runWith(t, p, src, dst, verify); s.RowsWritten != 0 || s.RowsRepaired != 0 {
		t.Fatalf("verifying: wrote %d, repaired %d", s.RowsWritten, s.RowsRepaired)
	}
}

// A where that names its table (items.visible = 1), or a correlated
// subquery that does, reads the same in the delete check as in the read:
// the cleanup runs instead of failing every time.
func TestWhereNamingItsTableCleansUp(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	seedItems(t, e, 20)
	p := testenv.Pipeline(t, simplePipeline(t, "named", "items",
		`table: items, where: "items.visible = 1 AND NOT EXISTS (SELECT 1 FROM items i2 WHERE i2.id = items.id + 100)"`, 5))
	mustSucceed(t, e.sync(t, p))
	e.src.Exec(t, "UPDATE items SET visible = 0 WHERE id IN (3, 4)", "DELETE FROM items WHERE id = 5")
	s := e.sync(t, p)
	mustSucceed(t, s)
	if s.RowsDeleted != 3 {
		t.Fatalf("deleted %d, want the 3 rows that left the filter or the table", s.RowsDeleted)
	}
	sameRows(t, e, "SELECT id, label FROM items WHERE visible = 1", "SELECT id, label FROM items")
}

// A table made by its owner with another unique index that does not hold
// the whole key (an email, a prefix of the key) would merge rows through
// the upsert: it is refused, saying which index.
func TestTargetWithAnotherUniqueIndexIsRefused(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.src.Exec(t, "CREATE TABLE people (id INT PRIMARY KEY, email VARCHAR(20))", "INSERT INTO people VALUES (1, 'a@x'), (2, 'a@x'), (3, 'b@x')",
		"CREATE TABLE codes (k VARCHAR(10) PRIMARY KEY, v INT)", "INSERT INTO codes VALUES ('abcd', 1), ('abce', 2)")
	e.dst.Exec(t, "CREATE TABLE people (id INT PRIMARY KEY, email VARCHAR(20), UNIQUE KEY by_email (email))",
		"CREATE TABLE codes (k VARCHAR(10) NOT NULL, v INT, PRIMARY KEY (k(3)))",
		"CREATE TABLE fine (id INT PRIMARY KEY, email VARCHAR(20), UNIQUE KEY id_email (id, email))")
	for _, c := range []struct{ table, source, want string }{
		{"people", "table: people", "unique index by_email on (email) that does not hold the whole key (id)"},
		{"codes", "table: codes", "unique index PRIMARY on (k) that does not hold the whole key (k)"},
	} {
		p := testenv.Pipeline(t, simplePipeline(t, "uniq", c.table, c.source, 10))
		if err := syncErr(t, p, e.src.DSN, e.dst.DSN); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", c.table, err, c.want)
		}
	}
	// A unique index holding the whole key is harmless.
	p := testenv.Pipeline(t, simplePipeline(t, "uniq", "fine", "table: people", 10))
	mustSucceed(t, e.sync(t, p))
	sameRows(t, e, "SELECT id, email FROM people", "SELECT id, email FROM fine")
}

// Values are never rounded, padded or trimmed on the way without an
// error. A table Sisporta created follows its source to more decimals,
// fractional seconds and DOUBLE; a table someone made that would round or
// pad is refused, naming the column; one wider than the source is fine,
// and verifying it reads its values in the source's form.
func TestNoSilentRoundingPaddingOrTrimming(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.src.Exec(t, "CREATE TABLE items (id INT PRIMARY KEY, d DECIMAL(10,2), dt DATETIME, f FLOAT, c VARCHAR(10))",
		"INSERT INTO items VALUES (1, 1.25, '2024-01-01 10:00:00', 0.5, 'a')")
	mine := testenv.Pipeline(t, simplePipeline(t, "round", "items", "table: items", 10))
	mustSucceed(t, e.sync(t, mine))
	e.src.Exec(t, "ALTER TABLE items MODIFY d DECIMAL(12,4), MODIFY dt DATETIME(3), MODIFY f DOUBLE",
		"UPDATE items SET d = 1.2345, dt = '2024-01-01 10:00:00.999', f = 0.1, c = 'a  '")
	mustSucceed(t, e.sync(t, mine))
	const cmp = "SELECT id, d, dt, f, HEX(c) FROM items"
	sameRows(t, e, cmp, cmp)
	if s := e.sync(t, mine); s.RowsWritten != 0 {
		t.Fatalf("a no-op run after widening wrote %d", s.RowsWritten)
	}

	for _, c := range []struct{ col, typ string }{
		{"d", "DECIMAL(10,2)"}, {"dt", "DATETIME"}, {"f", "FLOAT"}, {"c", "CHAR(10)"}, {"dt", "DATE"},
	} {
		table := "narrow_" + c.col + "_" + strings.NewReplacer("(", "", ")", "", ",", "").Replace(c.typ)
		cols := map[string]string{"d": "DECIMAL(12,4)", "dt": "DATETIME(3)", "f": "DOUBLE", "c": "VARCHAR(10)"}
		cols[c.col] = c.typ
		e.dst.Exec(t, fmt.Sprintf("CREATE TABLE %s (id INT PRIMARY KEY, d %s, dt %s, f %s, c %s)", table, cols["d"], cols["dt"], cols["f"], cols["c"]))
		p := testenv.Pipeline(t, simplePipeline(t, "narrow", table, "table: items", 10))
		err := syncErr(t, p, e.src.DSN, e.dst.DSN)
		if err == nil || !strings.Contains(err.Error(), "column "+c.col+" is ") || !strings.Contains(err.Error(), "would change values without an error") {
			t.Errorf("a %s target column for the source's %s: %v", c.typ, cols[c.col], err)
		}
	}
	e.dst.Exec(t, "CREATE TABLE wide (id BIGINT PRIMARY KEY, d DECIMAL(20,6), dt DATETIME(6), f DOUBLE, c VARCHAR(100))")
	wide := testenv.Pipeline(t, simplePipeline(t, "wide", "wide", "table: items", 10))
	mustSucceed(t, e.sync(t, wide))
	if s := e.sync(t, wide, verify); s.RowsRepaired != 0 || s.RowsWritten != 0 {
		t.Fatalf("verifying a wider table repaired %d and wrote %d", s.RowsRepaired, s.RowsWritten)
	}
}

// ENUM's error value (index 0, written by a non-strict insert for a
// value that is not a member) is not the empty member, and a strict
// target cannot store it: the entity fails saying so, instead of writing
// an empty string.
func TestEnumErrorValueIsRefused(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.src.Exec(t, "CREATE TABLE en (id INT PRIMARY KEY, e ENUM('a','') NULL)",
		"SET STATEMENT sql_mode = '' FOR INSERT INTO en VALUES (1, 'zzz'), (2, ''), (3, 'a'), (4, NULL)")
	p := testenv.Pipeline(t, simplePipeline(t, "enumerr", "en", "table: en", 10))
	s := e.sync(t, p)
	if en := entity(t, s, "items"); en.Result != syncv1alpha1.RunFailed || !strings.Contains(en.Error, "ENUM's error value") {
		t.Fatalf("an ENUM error value: %+v", en)
	}
	e.src.Exec(t, "UPDATE en SET e = 'a' WHERE e + 0 = 0")
	mustSucceed(t, e.sync(t, p))
	sameRows(t, e, "SELECT id, e, e+0 FROM en", "SELECT id, e, e+0 FROM en")
}
