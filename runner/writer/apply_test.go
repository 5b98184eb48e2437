package writer_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/sisporta/sisporta/runner/schema"
	"github.com/sisporta/sisporta/runner/writer"
	"github.com/sisporta/sisporta/test/testenv"
)

// openTarget opens a target on a new database of its own, closed when
// the test ends.
func openTarget(t *testing.T, prefix string) (*testenv.DB, *writer.Target) {
	t.Helper()
	db := testenv.NewDB(t, prefix)
	tg, err := writer.Open(context.Background(), db.DSN, 4)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tg.Close() })
	return db, tg
}

func batch(run int64, rows []schema.Row) *writer.Batch {
	s := schema.Table{Columns: []schema.Column{
		{Name: "id", Type: "INT", Kind: schema.KindInt, Key: 1},
		{Name: "label", Type: "VARCHAR(20)", Kind: schema.KindString, Nullable: true},
	}}
	hashes := make([]uint64, len(rows))
	h := schema.NewHasher(s.Columns)
	for i, r := range rows {
		hashes[i] = h.Sum(r)
	}
	d := schema.DigestOf(hashes)
	return &writer.Batch{Pipeline: "t/p", Run: run, Entity: "items", Table: "items", Schema: s, Ranged: true, Rows: rows, Digest: &d}
}

// candidates returns the keys of the run's delete candidates that
// ApplyBatch recorded, in the order the cleanup reads them.
func candidates(t *testing.T, db *testenv.DB, run int64) []schema.Row {
	t.Helper()
	r, err := db.Query("SELECT key_value FROM _sisporta_pending_deletes WHERE pipeline = 't/p' AND entity = 'items' AND run_id = ? ORDER BY key_hash", run)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var out []schema.Row
	for r.Next() {
		var kv []byte
		if err := r.Scan(&kv); err != nil {
			t.Fatal(err)
		}
		k, err := writer.ParseKeyString(string(kv))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, k)
	}
	if err := r.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func rows(labels ...string) []schema.Row {
	var out []schema.Row
	for i, l := range labels {
		var v []byte
		if l != "<NULL>" {
			v = []byte(l)
		}
		out = append(out, schema.Row{[]byte(fmt.Sprint(i + 1)), v})
	}
	return out
}

func TestUnchangedRangeIsRecognisedByItsDigest(t *testing.T) {
	ctx := context.Background()
	db, tg := openTarget(t, "tgt")

	first, err := tg.ApplyBatch(ctx, batch(1, rows("a", "b", "<NULL>", "")), writer.ApplyOptions{})
	if err != nil || first.Written != 4 || first.DigestMatched {
		t.Fatalf("first apply: %+v %v", first, err)
	}
	// The same rows in a later run, applied by another worker (this one has
	// just seen a digest differ, and checks digests less often for a
	// while): the digest alone says unchanged.
	other, err := writer.Open(ctx, db.DSN, 4)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	same, err := other.ApplyBatch(ctx, batch(2, rows("a", "b", "<NULL>", "")), writer.ApplyOptions{})
	if err != nil || !same.DigestMatched || same.Unchanged != 4 || same.Written != 0 {
		t.Fatalf("unchanged apply: %+v %v", same, err)
	}
	// One value changed (NULL to ''): the digest differs, rows are compared.
	changed, err := tg.ApplyBatch(ctx, batch(3, rows("a", "b", "", "")), writer.ApplyOptions{})
	if err != nil || changed.DigestMatched || changed.Written != 1 || changed.Unchanged != 3 {
		t.Fatalf("changed apply: %+v %v", changed, err)
	}
	// A row gone: the digest differs, the row becomes a delete candidate.
	gone, err := tg.ApplyBatch(ctx, batch(4, rows("a", "b", "")), writer.ApplyOptions{})
	if err != nil || gone.DigestMatched || gone.Candidates != 1 {
		t.Fatalf("apply with a row gone: %+v %v", gone, err)
	}
	// Delivered again: the ledger says so.
	again, err := tg.ApplyBatch(ctx, batch(4, rows("a", "b", "")), writer.ApplyOptions{})
	if err != nil || again.Skipped != writer.SkipDuplicate {
		t.Fatalf("second delivery: %+v %v", again, err)
	}
	// An older run's batch after a newer one started: skipped.
	old, err := tg.ApplyBatch(ctx, batch(2, rows("x")), writer.ApplyOptions{})
	if err != nil || old.Skipped != writer.SkipSuperseded {
		t.Fatalf("stale batch: %+v %v", old, err)
	}
	if got := db.Rows(t, "SELECT id, label FROM items"); fmt.Sprint(got) != `["1"|"a" "2"|"b" "3"|"" "4"|""]` {
		t.Fatalf("target rows %v", got)
	}
}

func TestDigestChecksThinOutWhileRangesKeepChanging(t *testing.T) {
	ctx := context.Background()
	_, tg := openTarget(t, "tgt")
	// Every run changes the rows: digests keep differing.
	for run := int64(1); run <= 17; run++ {
		r, err := tg.ApplyBatch(ctx, batch(run, rows(fmt.Sprint("v", run))), writer.ApplyOptions{})
		if err != nil || r.Written != 1 {
			t.Fatalf("run %d: %+v %v", run, r, err)
		}
		if r.DigestMatched {
			t.Fatalf("run %d: a changed range matched its digest", run)
		}
	}
	// Unchanged again: within digestEvery batches the check resumes and
	// from then on settles each batch by digest.
	matched := 0
	for run := int64(18); run <= 30; run++ {
		r, err := tg.ApplyBatch(ctx, batch(run, rows("v17")), writer.ApplyOptions{})
		if err != nil || r.Written != 0 || r.Unchanged != 1 {
			t.Fatalf("run %d: %+v %v", run, r, err)
		}
		if r.DigestMatched {
			matched++
		} else if matched > 0 {
			t.Fatalf("run %d: once a digest matched, the next ones must be checked", run)
		}
	}
	if matched < 13-8 {
		t.Fatalf("only %d of 13 unchanged batches settled by digest", matched)
	}
}
