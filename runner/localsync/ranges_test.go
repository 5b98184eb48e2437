package localsync_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/hibiken/asynq"

	syncv1alpha1 "github.com/sisporta/sisporta/api/v1alpha1"
	"github.com/sisporta/sisporta/runner/apply"
	"github.com/sisporta/sisporta/runner/extract"
	"github.com/sisporta/sisporta/runner/localsync"
	"github.com/sisporta/sisporta/runner/queue"
	"github.com/sisporta/sisporta/runner/runstate"
	"github.com/sisporta/sisporta/runner/source"
	"github.com/sisporta/sisporta/runner/writer"
	"github.com/sisporta/sisporta/test/testenv"
)

// seedRange fills items (id, label, n) with ids from, from+step, ... to.
func seedRange(t *testing.T, db *testenv.DB, from, to, step int) {
	t.Helper()
	var vals []string
	for i := from; i <= to; i += step {
		vals = append(vals, fmt.Sprintf("(%d, 'item %d', %d.25)", i, i, i))
		if len(vals) == 500 || i+step > to {
			db.Exec(t, "INSERT INTO items VALUES "+strings.Join(vals, ", "))
			vals = vals[:0]
		}
	}
}

const itemsExact = "SELECT id, HEX(label), n FROM items"

func summaryText(s *localsync.Summary) string {
	var b strings.Builder
	_ = s.WriteText(&b)
	return b.String()
}

// A re-sync of an unchanged table reads no row from the source and
// changes no row of the target (triggers count every write): every key
// range's source digest is the one of the last run. The rows count as
// unchanged, and the summary says how many ranges were skipped.
func TestNoopResyncReadsAndWritesNothing(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.src.Exec(t, "CREATE TABLE items (id INT PRIMARY KEY, label VARCHAR(20), n DECIMAL(10,2) NULL)")
	seedRange(t, e.src, 1, 1000, 1)
	p := testenv.Pipeline(t, simplePipeline(t, "noop", "items", "table: items", 50))
	mustSucceed(t, e.sync(t, p))
	writes := countWrites(t, e.dst, "items")
	for run := 0; run < 2; run++ {
		s := e.sync(t, p)
		mustSucceed(t, s)
		if s.RowsRead != 0 || s.RowsWritten != 0 || s.RowsDeleted != 0 || s.RowsUnchanged != 1000 || s.RangesSkipped != 20 || s.RowsSkipped != 1000 {
			t.Fatalf("no-op run %d: read %d, wrote %d, deleted %d, unchanged %d, skipped %d ranges (%d rows); want 0, 0, 0, 1000, 20 (1000)\n%s",
				run, s.RowsRead, s.RowsWritten, s.RowsDeleted, s.RowsUnchanged, s.RangesSkipped, s.RowsSkipped, summaryText(s))
		}
		if txt := summaryText(s); !strings.Contains(txt, "20 key ranges (1000 rows) were not read") {
			t.Errorf("the summary does not say what was skipped:\n%s", txt)
		}
	}
	if n := writes(); n != 0 {
		t.Fatalf("no-op runs changed %d target rows", n)
	}
	// A verifying run reads everything (and keeps the ranges it read).
	v := e.sync(t, p, verify)
	mustSucceed(t, v)
	if v.RowsRead != 1000 || v.RangesSkipped != 0 || v.RowsRepaired != 0 {
		t.Fatalf("verifying run: read %d, skipped %d ranges, repaired %d", v.RowsRead, v.RangesSkipped, v.RowsRepaired)
	}
	if s := e.sync(t, p); s.RowsRead != 0 || s.RangesSkipped != 20 {
		t.Fatalf("the run after a verifying run read %d rows and skipped %d ranges", s.RowsRead, s.RangesSkipped)
	}
	if n := writes(); n != 0 {
		t.Fatalf("runs over an unchanged source changed %d target rows", n)
	}
}

// rangeType is a column type, a value, and changes of it that the mirror
// shows and the range digest must find.
type rangeType struct {
	typ     string
	value   string
	changes []string
	exact   string // %s is the column: how to compare it exactly
}

var rangeTypes = []rangeType{
	{"TINYINT", "-128", []string{"127", "NULL"}, "%s"},
	{"BIGINT UNSIGNED", "18446744073709551615", []string{"18446744073709551614"}, "%s"},
	{"BOOLEAN", "0", []string{"1"}, "%s"},
	{"DECIMAL(30,2)", "1.50", []string{"1.51", "15.00", "NULL"}, "%s"},
	{"DECIMAL(65,30)", "0.000000000000000000000000000001", []string{"0.000000000000000000000000000002"}, "%s"},
	{"FLOAT", "1", []string{"1.0000001192092896", "0.99999994"}, "CAST(%s AS DOUBLE)"},
	{"DOUBLE", "0.3", []string{"0.1e0 + 0.2e0", "0.29999999999999993"}, "%s"},
	{"DOUBLE", "1.7976931348623157e308", []string{"1.7976931348623155e308"}, "%s"},
	{"BIT(8)", "b'1'", []string{"b'10'"}, "%s+0"},
	{"DATE", "'2024-02-29'", []string{"'2024-03-01'", "'0000-00-00'"}, "%s"},
	{"DATETIME(6)", "'2024-01-01 00:00:00.000001'", []string{"'2024-01-01 00:00:00.000002'", "'2024-01-01 00:00:00'"}, "%s"},
	{"DATETIME(3)", "'2024-01-01 00:00:00.001'", []string{"'2024-01-01 00:00:00.002'"}, "%s"},
	{"TIMESTAMP(6) NULL", "'2024-03-31 01:30:00.5'", []string{"'2024-03-31 01:30:00.500001'"}, "%s"},
	{"TIME(6)", "'-00:00:01.5'", []string{"'00:00:01.5'", "'-00:00:01.500001'"}, "%s"},
	{"YEAR", "1999", []string{"2000"}, "%s"},
	{"VARCHAR(10) CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci", "'abc'", []string{"'ABC'", "'abc '", "'ábc'", "''", "NULL"}, "HEX(%s)"},
	{"VARCHAR(10) CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci", "''", []string{"NULL", "' '"}, "HEX(%s)"},
	{"CHAR(5) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin", "'a'", []string{"'A'", "'🚪'"}, "HEX(%s)"},
	{"VARCHAR(10) CHARACTER SET latin1 COLLATE latin1_swedish_ci", "X'E9'", []string{"X'C9'", "X'81'"}, "HEX(%s)"},
	{"VARCHAR(10) CHARACTER SET cp1251 COLLATE cp1251_general_ci", "X'98'", []string{"X'99'", "'?'"}, "HEX(%s)"},
	{"TEXT", "'x'", []string{"'X'", "'x '"}, "HEX(%s)"},
	{"LONGTEXT", "REPEAT('ä', 70000)", []string{"CONCAT(REPEAT('ä', 69999), 'Ä')"}, "MD5(%s)"},
	{"VARBINARY(8)", "X'01'", []string{"X'0100'", "X''"}, "HEX(%s)"},
	{"BINARY(4)", "X'01'", []string{"X'02'"}, "HEX(%s)"},
	{"BLOB", "X'00FF'", []string{"X'00FF00'"}, "HEX(%s)"},
	{"ENUM('zulu','alpha','','o''neil')", "'alpha'", []string{"'zulu'", "''"}, "CONCAT(%s, '/', %s+0)"},
	{"SET('x','a','m')", "'a,x'", []string{"'a'", "'x,a,m'"}, "%s+0"},
	{"JSON", `'{"a": 1}'`, []string{`'{"a": 2}'`, `'{"a": "1"}'`}, "HEX(%s)"},
	{"UUID", "'00000000-0000-0000-0000-000000000001'", []string{"'00000000-0000-0000-0000-000000000002'"}, "%s"},
	{"INET6", "'::1'", []string{"'::2'"}, "%s"},
}

// One changed value of every column type is found and mirrored, and only
// the key ranges that hold a change are read: each change is in a row of
// its own, in a range of its own. The types are the ones above and every
// type of TestEveryColumnTypeRoundTripsExactly, each changed from its
// first value to each of its others.
func TestRangeDigestsFindAChangeInEveryColumnType(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	types := append([]rangeType{}, rangeTypes...)
	for _, c := range everyType {
		types = append(types, rangeType{typ: c.typ, value: c.values[0], changes: c.values[1:], exact: c.exact})
	}
	types = append(types, rangeType{"CHAR(5) CHARACTER SET greek", "X'E1'", []string{"X'E2'", "X'E1E1'"}, "HEX(%s)"})
	var cols, sel []string
	for i, c := range types {
		col := fmt.Sprintf("c%d", i)
		cols = append(cols, col+" "+strings.Replace(c.typ, " NULL", "", 1)+" NULL")
		sel = append(sel, strings.ReplaceAll(c.exact, "%s", col))
	}
	e.src.Exec(t, "CREATE TABLE items (id INT PRIMARY KEY, "+strings.Join(cols, ", ")+")")
	// Row 0 is all NULL and takes every column's first value (NULL to a
	// value, '' for text). Each change has a row of its own, 2k, which
	// holds the column's first value (the others are NULL) and changes,
	// and a neighbour 2k+1 that holds the same and does not change (so the
	// extractor keeps asking for digests: it stops asking for most while
	// every range it asks about has changed).
	e.src.Exec(t, "INSERT INTO items (id) VALUES (0)")
	var changes []string
	id := 1
	for i, c := range types {
		for _, v := range c.changes {
			e.src.Exec(t, fmt.Sprintf("INSERT INTO items (id, c%d) VALUES (%d, %s), (%d, %s)", i, 2*id, c.value, 2*id+1, c.value))
			changes = append(changes, fmt.Sprintf("UPDATE items SET c%d = %s WHERE id = %d", i, v, 2*id))
			id++
		}
		changes = append(changes, fmt.Sprintf("UPDATE items SET c%d = %s WHERE id = 0", i, c.value))
	}
	exact := "SELECT id, " + strings.Join(sel, ", ") + " FROM items"
	p := testenv.Pipeline(t, simplePipeline(t, "types", "items", "table: items", 1))
	mustSucceed(t, e.sync(t, p))
	sameRows(t, e, exact, exact)
	if s := e.sync(t, p); s.RowsRead != 0 || s.RowsWritten != 0 {
		t.Fatalf("no-op run read %d and wrote %d rows", s.RowsRead, s.RowsWritten)
	}
	e.src.Exec(t, changes...)
	changed := int64(id) // rows 2, 4, ... 2(id-1) and row 0
	s := e.sync(t, p)
	mustSucceed(t, s)
	sameRows(t, e, exact, exact)
	if s.RowsRead != changed || s.RowsWritten != changed || s.RangesSkipped != int(changed)-1 {
		t.Fatalf("after %d changes in as many rows: read %d, wrote %d, skipped %d ranges, want %d, %d and %d\n%s",
			changed, s.RowsRead, s.RowsWritten, s.RangesSkipped, changed, changed, changed-1, summaryText(s))
	}
	if s := e.sync(t, p); s.RowsRead != 0 || s.RowsWritten != 0 {
		t.Fatalf("the run after read %d and wrote %d rows", s.RowsRead, s.RowsWritten)
	}
}

// Inserts at the end and in the middle, a whole range deleted, a key
// changed: the ranges that hold them are read (their batches tile each
// range exactly, an emptied range included), the others are not, and the
// mirror is exact. A run whose only change is a range emptied deletes its
// rows: the guards count the skipped ranges' rows as rows the source has.
func TestRangeDigestsFollowInsertsDeletesAndKeyChanges(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.src.Exec(t, "CREATE TABLE items (id INT PRIMARY KEY, label VARCHAR(20), n DECIMAL(10,2) NULL)")
	seedRange(t, e.src, 10, 2000, 10) // 200 rows, ranges of 10 (100 ids) each
	p := testenv.Pipeline(t, simplePipeline(t, "shape", "items", "table: items", 10))
	p.Spec.Entities[0].Cleanup.MaxDeletePercent = ptr(int32(10))
	mustSucceed(t, e.sync(t, p))
	if s := e.sync(t, p); s.RowsRead != 0 || s.RangesSkipped != 20 {
		t.Fatalf("no-op: read %d, skipped %d ranges", s.RowsRead, s.RangesSkipped)
	}

	// A whole range emptied, and nothing else.
	e.src.Exec(t, "DELETE FROM items WHERE id > 500 AND id <= 600")
	s := e.sync(t, p)
	mustSucceed(t, s)
	if s.RowsRead != 0 || s.RowsDeleted != 10 || s.RangesSkipped != 19 {
		t.Fatalf("range emptied: read %d, deleted %d, skipped %d ranges; want 0, 10, 19\n%s", s.RowsRead, s.RowsDeleted, s.RangesSkipped, summaryText(s))
	}
	sameRows(t, e, itemsExact, itemsExact)

	e.src.Exec(t,
		"INSERT INTO items VALUES (5000, 'at the end', 1), (1005, 'in the middle', 2), (1, 'at the start', 3)",
		"UPDATE items SET id = 1001 WHERE id = 1010", // a key changed within its range
		"UPDATE items SET id = 1499 WHERE id = 1500") // and across ranges
	s = e.sync(t, p)
	mustSucceed(t, s)
	sameRows(t, e, itemsExact, itemsExact)
	if s.RowsRead >= 100 || s.RangesSkipped < 13 {
		t.Fatalf("a few inserts and key changes: read %d rows and skipped %d ranges\n%s", s.RowsRead, s.RangesSkipped, summaryText(s))
	}
	if s := e.sync(t, p); s.RowsRead != 0 || s.RowsWritten != 0 || s.RowsDeleted != 0 {
		t.Fatalf("the run after: read %d, wrote %d, deleted %d", s.RowsRead, s.RowsWritten, s.RowsDeleted)
	}
	// Changed ranges next to each other are read together, in spans of
	// up to eight: more than a span of them, with one left alone between
	// two changed stretches.
	e.src.Exec(t, "UPDATE items SET label = CONCAT(label, '+') WHERE (id BETWEEN 1 AND 1000 OR id BETWEEN 1101 AND 1300) AND id NOT BETWEEN 701 AND 800")
	s = e.sync(t, p)
	mustSucceed(t, s)
	sameRows(t, e, itemsExact, itemsExact)
	if s.RowsWritten == 0 || s.RangesSkipped < 6 {
		t.Fatalf("twelve neighbouring ranges changed: wrote %d rows, skipped %d ranges\n%s", s.RowsWritten, s.RangesSkipped, summaryText(s))
	}
	if s := e.sync(t, p); s.RowsRead != 0 || s.RowsWritten != 0 || s.RowsDeleted != 0 {
		t.Fatalf("the run after the spans: read %d, wrote %d, deleted %d", s.RowsRead, s.RowsWritten, s.RowsDeleted)
	}
	// The where filter and the columns are part of the ranges' shape:
	// changing either reads everything again.
	e.src.Exec(t, "ALTER TABLE items ADD COLUMN extra INT NOT NULL DEFAULT 7")
	s = e.sync(t, p)
	mustSucceed(t, s)
	if s.RowsRead != e.src.Count(t, "items", "") || s.RangesSkipped != 0 {
		t.Fatalf("after a column was added: read %d of %d rows, skipped %d ranges", s.RowsRead, e.src.Count(t, "items", ""), s.RangesSkipped)
	}
	if n := e.dst.Count(t, "items", "extra = 7"); n != e.src.Count(t, "items", "") {
		t.Fatalf("the new column is filled in on %d rows", n)
	}
	p.Spec.Entities[0].Source.Where = "id < 1800"
	p.Spec.Entities[0].Cleanup.MaxDeletePercent = ptr(int32(20))
	s = e.sync(t, p)
	mustSucceed(t, s)
	if s.RangesSkipped != 0 {
		t.Fatalf("after the where filter changed: skipped %d ranges", s.RangesSkipped)
	}
	sameRows(t, e, itemsExact+" WHERE id < 1800", itemsExact)
}

// A target changed behind Sisporta's back (a row deleted or edited by
// hand, the table emptied, dropped and made again) is not left wrong
// because the source's digests still match: the run's range checks find
// the ranges that differ, say so, and the next run reads them.
func TestTargetChangedBehindSisportasBackIsRepaired(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.src.Exec(t, "CREATE TABLE items (id INT PRIMARY KEY, label VARCHAR(20), n DECIMAL(10,2) NULL)")
	seedRange(t, e.src, 1, 300, 1)
	p := testenv.Pipeline(t, simplePipeline(t, "behind", "items", "table: items", 25))
	mustSucceed(t, e.sync(t, p))
	mustSucceed(t, e.sync(t, p))
	for _, c := range []struct {
		name   string
		tamper []string
		ranges int
	}{
		{"a row deleted", []string{"DELETE FROM items WHERE id = 42"}, 1},
		{"a row edited with its hash", []string{"UPDATE items SET label = 'hand', _sisporta_hash = 1 WHERE id = 260"}, 1},
		{"a row added", []string{"INSERT INTO items (id, label) VALUES (1000, 'extra')"}, 1},
		{"the table emptied", []string{"TRUNCATE TABLE items"}, 12},
		{"the table dropped and made again", []string{"DROP TABLE items", "CREATE TABLE items (id INT PRIMARY KEY, label VARCHAR(20), n DECIMAL(10,2) NULL)"}, 12},
	} {
		e.dst.Exec(t, c.tamper...)
		s := e.sync(t, p)
		mustSucceed(t, s)
		es := entity(t, s, "items")
		want := fmt.Sprintf("%d key range", c.ranges)
		if len(es.Warnings) != 1 || !strings.Contains(es.Warnings[0], want) || !strings.Contains(es.Warnings[0], "read again next run") {
			t.Fatalf("%s: the run's warnings are %q, want one about %s\n%s", c.name, es.Warnings, want, summaryText(s))
		}
		if !strings.Contains(summaryText(s), "items: warning: "+want) {
			t.Errorf("%s: the summary does not show the warning:\n%s", c.name, summaryText(s))
		}
		s = e.sync(t, p)
		mustSucceed(t, s)
		sameRows(t, e, itemsExact, itemsExact)
		if n := entity(t, s, "items"); len(n.Warnings) != 0 || s.RowsRead == 0 {
			t.Fatalf("%s: the next run read %d rows, warnings %q", c.name, s.RowsRead, n.Warnings)
		}
		if s := e.sync(t, p); s.RowsRead != 0 || len(entity(t, s, "items").Warnings) != 0 {
			t.Fatalf("%s: the run after the repair read %d rows", c.name, s.RowsRead)
		}
	}
}

// A run that marked a changed range and applied part of it, then stopped,
// never leaves a digest behind that matches a source the target no longer
// holds: when the source goes back to what the last complete run read,
// the next run still reads the range and repairs the target.
func TestRunStoppedAfterApplyingAChangedRangeIsRepaired(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.src.Exec(t, "CREATE TABLE items (id INT PRIMARY KEY, label VARCHAR(20), n DECIMAL(10,2) NULL)")
	seedRange(t, e.src, 1, 100, 1)
	p := testenv.Pipeline(t, simplePipeline(t, "stopped", "items", "table: items", 10))
	mustSucceed(t, e.sync(t, p))
	mustSucceed(t, e.sync(t, p))

	e.src.Exec(t, "UPDATE items SET label = 'changed' WHERE id IN (35, 36)")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	rdb, _, err := queue.Connect(ctx, testenv.RedisURL())
	if err != nil {
		t.Fatal(err)
	}
	defer rdb.Close()
	qname := queue.Name(p.Namespace, p.Name)
	insp := asynq.NewInspectorFromRedisClient(rdb)
	defer func() { _ = insp.DeleteQueue(qname, true) }()
	src, err := source.Open(ctx, p.Spec.Source, e.src.DSN)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	tg, err := writer.Open(ctx, e.dst.DSN, 2)
	if err != nil {
		t.Fatal(err)
	}
	defer tg.Close()
	runs := runstate.NewStore(rdb)
	client := asynq.NewClientFromRedisClient(rdb)
	x := &extract.Extractor{Pipeline: p, Source: src, Client: client, Redis: rdb, Runs: runs, Trigger: "test", Log: logr.Discard()}
	res, err := x.Run(ctx)
	if err != nil || len(res.Failed()) > 0 {
		t.Fatalf("extract: %v %v", err, res.Failed())
	}
	// Apply the batches of the changed range, and nothing else: the run
	// stops there (its finalize never runs).
	w := &apply.Worker{Target: tg, Runs: runs, Queue: qname, SourceDSN: e.src.DSN, Log: logr.Discard()}
	defer w.Close()
	tasks, err := insp.ListPendingTasks(qname, asynq.PageSize(100))
	if err != nil {
		t.Fatal(err)
	}
	applied := 0
	for _, ti := range tasks {
		if ti.Type != queue.TypeApplyBatch {
			continue
		}
		b, err := queue.DecodeBatchHeader(ti.Payload)
		if err != nil {
			t.Fatal(err)
		}
		if len(b.Checks) > 0 {
			continue
		}
		if err := w.HandleBatch(ctx, asynq.NewTask(ti.Type, ti.Payload)); err != nil {
			t.Fatal(err)
		}
		applied++
	}
	if applied != 1 || e.dst.Count(t, "items", "label = 'changed'") != 2 {
		t.Fatalf("applied %d batches; the target has %d changed rows", applied, e.dst.Count(t, "items", "label = 'changed'"))
	}
	if err := insp.DeleteQueue(qname, true); err != nil {
		t.Fatal(err)
	}
	// The source goes back to what the last complete run read.
	e.src.Exec(t, "UPDATE items SET label = CONCAT('item ', id) WHERE id IN (35, 36)")
	s := e.sync(t, p)
	mustSucceed(t, s)
	sameRows(t, e, itemsExact, itemsExact)
	if s.RowsRead != 10 || s.RowsWritten != 2 {
		t.Fatalf("the next run read %d and wrote %d rows, want 10 and 2\n%s", s.RowsRead, s.RowsWritten, summaryText(s))
	}
}

// Soft deletes keep the removed rows in the target, marked: the range
// checks count live rows only, so an unchanged source is skipped without
// a warning; a guard that keeps rows keeps the ranges it read to be read
// again, and reports the same every run.
func TestRangeDigestsWithSoftDeletesAndGuards(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.src.Exec(t, "CREATE TABLE items (id INT PRIMARY KEY, label VARCHAR(20), n DECIMAL(10,2) NULL)")
	seedRange(t, e.src, 1, 200, 1)
	p := testenv.Pipeline(t, simplePipeline(t, "soft", "items", "table: items", 20))
	p.Spec.Entities[0].Cleanup = syncv1alpha1.CleanupSpec{Mode: syncv1alpha1.CleanupSoftDelete, MaxDeletePercent: ptr(int32(10))}
	mustSucceed(t, e.sync(t, p))
	e.src.Exec(t, "DELETE FROM items WHERE id IN (3, 77)")
	s := e.sync(t, p)
	mustSucceed(t, s)
	if s.RowsDeleted != 2 || s.RowsRead != 38 {
		t.Fatalf("two soft deletes: deleted %d, read %d", s.RowsDeleted, s.RowsRead)
	}
	s = e.sync(t, p)
	mustSucceed(t, s)
	if s.RowsRead != 0 || len(entity(t, s, "items").Warnings) != 0 || s.RangesSkipped != 10 {
		t.Fatalf("no-op with soft-deleted rows: read %d, skipped %d ranges, warnings %q", s.RowsRead, s.RangesSkipped, entity(t, s, "items").Warnings)
	}
	// Too many deletes: the guard keeps the rows, run after run.
	e.src.Exec(t, "DELETE FROM items WHERE id > 100 AND id <= 150")
	for run := 0; run < 2; run++ {
		s = e.sync(t, p)
		mustSucceed(t, s)
		es := entity(t, s, "items")
		if es.Cleanup == nil || es.Cleanup.Result != syncv1alpha1.CleanupGuardTripped || s.RowsRead == 0 {
			t.Fatalf("run %d after 50 deletes: cleanup %+v, read %d", run, es.Cleanup, s.RowsRead)
		}
	}
	p.Spec.Entities[0].Cleanup.MaxDeletePercent = ptr(int32(50))
	s = e.sync(t, p)
	mustSucceed(t, s)
	if s.RowsDeleted != 50 {
		t.Fatalf("deleted %d, want 50", s.RowsDeleted)
	}
	sameRows(t, e, itemsExact, itemsExact+" WHERE _sisporta_deleted_at IS NULL")
}

// Key ranges of wide rows are bounded by bytes as batches are, not only by
// rows: a change in one row makes the next run read that row's range, a
// few rows, not the thousand rows (here the whole table) a range of
// narrow rows may hold.
func TestWideRowRangesStayABatchLong(t *testing.T) {
	t.Parallel()
	const rows, width, batchBytes = 400, 8 << 10, 64 << 10
	e := newEnv(t)
	e.src.Exec(t, "CREATE TABLE items (id INT PRIMARY KEY, body MEDIUMTEXT NOT NULL)")
	for from := 1; from <= rows; from += 100 {
		e.src.Exec(t, fmt.Sprintf("INSERT INTO items SELECT seq, REPEAT(SHA2(seq, 256), %d) FROM seq_%d_to_%d", width/64, from, from+99))
	}
	p := testenv.Pipeline(t, simplePipeline(t, "wide", "items", "table: items", 1000))
	small := func(o *localsync.Options) { o.MaxBatchBytes = batchBytes }
	const exact = "SELECT id, SHA2(body, 256) FROM items ORDER BY id"
	mustSucceed(t, e.sync(t, p, small))
	sameRows(t, e, exact, exact)

	e.src.Exec(t, "UPDATE items SET body = CONCAT(body, '!') WHERE id = 200")
	s := e.sync(t, p, small)
	mustSucceed(t, s)
	sameRows(t, e, exact, exact)
	perRange := int64(batchBytes/width + 1)
	if s.RowsRead > perRange || s.RowsWritten != 1 {
		t.Fatalf("one changed row of %d: read %d rows (want a range's, at most %d) and wrote %d (want 1)\n%s",
			rows, s.RowsRead, perRange, s.RowsWritten, summaryText(s))
	}
	if s := e.sync(t, p, small); s.RowsRead != 0 || s.RowsUnchanged != rows {
		t.Fatalf("no-op after it: read %d rows, %d unchanged", s.RowsRead, s.RowsUnchanged)
	}
}
