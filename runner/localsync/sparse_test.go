package localsync_test

import (
	"testing"

	"github.com/sisporta/sisporta/test/testenv"
)

// Changed key ranges of an integer key are compared with the target by
// the extractor, and only the rows that differ travel (sparse batches).
// Hostile cases in ranges that changed: rows the target lost or gained by
// hand, a stored row hash a hand edit cleared, negative values in a
// composite key, a range emptied, rows past the last key. The mirror is
// exact, each differing row is written once and no other, and the next
// run reads nothing (the ranges the sparse batches wrote are kept).
func TestChangedRangesSendOnlyTheRowsThatDiffer(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.src.Exec(t, "CREATE TABLE items (a INT NOT NULL, b BIGINT NOT NULL, label VARCHAR(20), PRIMARY KEY (a, b))",
		"INSERT INTO items SELECT CAST(seq DIV 100 AS SIGNED) - 10, CAST(seq MOD 100 AS SIGNED) - 50, CONCAT('v', seq) FROM seq_0_to_1999")
	p := testenv.Pipeline(t, simplePipeline(t, "sparse", "items", "table: items", 100))
	const all = "SELECT a, b, label FROM items ORDER BY a, b"
	mustSucceed(t, e.sync(t, p))
	sameRows(t, e, all, all)

	e.src.Exec(t,
		"UPDATE items SET label = 'changed' WHERE (a, b) IN ((-10, -50), (-3, 7), (9, 49))", // 3 written
		"DELETE FROM items WHERE (a, b) IN ((-3, 8), (4, -50), (7, 49))",                    // the first and last of ranges
		"DELETE FROM items WHERE a = 2",                                                     // a range emptied
		"INSERT INTO items VALUES (-3, 1000, 'new'), (50, 1, 'past the end')",               // 2 written
		"UPDATE items SET label = 'changed' WHERE (a, b) = (5, 0)")                          // 1 written
	e.dst.Exec(t,
		"DELETE FROM items WHERE (a, b) = (-3, 9)",                      // restored: 1 written
		"INSERT INTO items (a, b, label) VALUES (5, -1000, 'by hand')",  // deleted
		"UPDATE items SET _sisporta_hash = NULL WHERE (a, b) = (9, 48)") // rewritten: 1 written
	writes := countWrites(t, e.dst, "items") // inserts, updates and deletes
	s := e.sync(t, p)
	mustSucceed(t, s)
	sameRows(t, e, all, all)
	if n := writes(); n != 8+104 || s.RowsWritten != 8 {
		t.Errorf("the run wrote %d rows and says %d, want the 8 that differ and 104 deletes", n, s.RowsWritten)
	}
	if s.RowsDeleted != 104 {
		t.Errorf("deleted %d rows, want 3, the 100 of a = 2 and the one added by hand", s.RowsDeleted)
	}
	if s := e.sync(t, p); s.RowsRead != 0 || s.RowsWritten != 0 {
		t.Fatalf("the run after read %d and wrote %d rows", s.RowsRead, s.RowsWritten)
	}
}

// A change in every range (one row in a hundred) makes every batch
// sparse: the batches of each span of changed ranges (eight) then go as
// one, a transaction and a task where there were eight, and the mirror is
// as exact. 20 ranges: spans of 8, 8 and 4, three batches.
func TestSparseBatchesOfASpanGoAsOne(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.src.Exec(t, "CREATE TABLE items (id INT PRIMARY KEY, label VARCHAR(20))",
		"INSERT INTO items SELECT seq, CONCAT('v', seq) FROM seq_1_to_2000")
	p := testenv.Pipeline(t, simplePipeline(t, "merged", "items", "table: items", 100))
	const all = "SELECT id, label FROM items ORDER BY id"
	mustSucceed(t, e.sync(t, p))
	e.src.Exec(t, "UPDATE items SET label = 'changed' WHERE id % 100 = 50")
	s := e.sync(t, p)
	mustSucceed(t, s)
	sameRows(t, e, all, all)
	if s.RowsWritten != 20 {
		t.Errorf("wrote %d rows, want the 20 changed", s.RowsWritten)
	}
	if n := e.dst.Count(t, "_sisporta_ledger", "run_id = (SELECT MAX(run_id) FROM _sisporta_ledger)"); n != 3 {
		t.Errorf("the run applied %d batches, want 3: one a span of changed ranges", n)
	}
}
