package localsync_test

import (
	"context"
	"testing"

	syncv1alpha1 "github.com/sisporta/sisporta/api/v1alpha1"
	"github.com/sisporta/sisporta/runner/queue"
	"github.com/sisporta/sisporta/test/testenv"
)

// loadedBatches reads, from the pipeline's last run's record, how many
// batches of an entity were applied and how many of those went in with
// LOAD DATA.
func loadedBatches(t *testing.T, p *syncv1alpha1.SyncPipeline, entity string) (applied, loaded int64) {
	t.Helper()
	ps := newPartsForQueue(t, queue.Name(p.Namespace, p.Name))
	recent, err := ps.runs.Recent(context.Background(), ps.queue, 1)
	if err != nil || len(recent) != 1 {
		t.Fatalf("the run's record: %v %v", recent, err)
	}
	applied, loaded, err = ps.runs.Loaded(context.Background(), ps.queue, recent[0].Meta.ID, entity)
	if err != nil {
		t.Fatal(err)
	}
	return applied, loaded
}

// A full copy into an empty target goes, after its first batches, in
// batches of several batches' worth, in the writer's bulk form, straight
// into LOAD DATA; every value arrives exactly: escapes, NULLs, bytes, text
// in another character set, a leading tab in the first column.
func TestFullCopyLoadsInBulkExactly(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.src.Exec(t, `CREATE TABLE items (lead VARCHAR(12), k INT PRIMARY KEY, t VARCHAR(40), l VARCHAR(20) CHARACTER SET latin1,
  b VARBINARY(16), d DECIMAL(12,3), dt DATETIME(6), f FLOAT, e ENUM('a','b c',''), bt BIT(5), j JSON)`,
		`INSERT INTO items SELECT CONCAT(IF(seq % 3 = 0, '\t', ' '), LPAD(seq, 6, '0')), seq,
  IF(seq % 7 = 0, NULL, ELT(1 + seq % 6, 'plain', CONCAT('tab\there ', seq), 'new\nline\r', 'back\\slash', '\\N', CONCAT('nul', CHAR(0), 'byte'))),
  IF(seq % 5 = 0, NULL, CONCAT(X'E9', seq, X'09DF')),
  IF(seq % 11 = 0, NULL, CONCAT(X'00090A5C', UNHEX(HEX(seq)), X'FF')),
  seq / 7, '2024-01-01 00:00:00.000001' + INTERVAL seq SECOND, seq / 3, ELT(1 + seq % 3, 'a', 'b c', ''), seq % 32,
  IF(seq % 4 = 0, NULL, JSON_OBJECT('n', seq, 's', 'x\ty'))
FROM seq_1_to_4000`)
	p := testenv.Pipeline(t, simplePipeline(t, "bulkcopy", "items", "table: items", 50))
	mustSucceed(t, e.sync(t, p))
	all := "SELECT HEX(lead), k, HEX(t), HEX(l), HEX(b), d, dt, CAST(f AS DOUBLE), e, bt+0, HEX(j) FROM items ORDER BY k"
	sameRows(t, e, all, all)

	applied, loaded := loadedBatches(t, p, "items")
	if loaded != applied || applied >= 4000/50 {
		t.Fatalf("%d batches applied, %d of them loaded in bulk; want fewer than %d (grouped), all loaded", applied, loaded, 4000/50)
	}

	// And the next run finds nothing to write.
	before := countWrites(t, e.dst, "items")
	s := e.sync(t, p)
	mustSucceed(t, s)
	if n := before(); n != 0 || s.RowsWritten != 0 {
		t.Fatalf("a run after the bulk copy wrote %d rows (%d by the triggers)", s.RowsWritten, n)
	}
}
