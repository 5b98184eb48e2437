package writer_test

import (
	"context"
	"errors"
	"testing"

	"github.com/sisporta/sisporta/runner/schema"
	"github.com/sisporta/sisporta/runner/writer"
)

func TestCompareIntKeys(t *testing.T) {
	ordered := []string{"-9223372036854775808", "-10", "-9", "-1", "0", "1", "9", "10", "9223372036854775807", "18446744073709551615"}
	for i, a := range ordered {
		for j, b := range ordered {
			want := 0
			if i < j {
				want = -1
			} else if i > j {
				want = 1
			}
			if got := writer.CompareIntKeys(schema.Row{[]byte(a)}, schema.Row{[]byte(b)}); got != want {
				t.Errorf("%s vs %s: %d, want %d", a, b, got, want)
			}
		}
	}
	if writer.CompareIntKeys(schema.Row{[]byte("1"), []byte("5")}, schema.Row{[]byte("1"), []byte("10")}) != -1 {
		t.Error("a composite key compares by its second column when the first is equal")
	}
}

// A sparse batch writes its parts' changed and new rows, records the
// target rows its parts lack as delete candidates, leaves the rest of the
// range alone, and is stale when the range's digest is not the one the
// extractor expected (OnStale is told, in the transaction).
func TestSparseBatchAppliesItsPartsAndChecksTheRange(t *testing.T) {
	ctx := context.Background()
	db, tg := openTarget(t, "tgt")
	// Run 1 writes ids 1..6; a hand edit adds 7.
	if _, err := tg.ApplyBatch(ctx, batch(1, rows("a", "b", "c", "d", "e", "f")), writer.ApplyOptions{}); err != nil {
		t.Fatal(err)
	}
	db.Exec(t, "INSERT INTO items (id, label) VALUES (7, 'x')")

	full := batch(2, rows("a", "B", "c", "d", "e", "f"))
	got, err := tg.TargetKeyHashes(ctx, "items", &full.Schema, false, schema.Row{[]byte("1")}, nil)
	if err != nil || len(got) != 6 || string(got[0].Key[0]) != "2" || !got[0].HasHash || got[5].HasHash {
		t.Fatalf("target keys of (1, end]: %+v %v", got, err)
	}
	// Run 2: the source has 1..6 with 2 changed and 4 gone, and 8 new.
	src := rows("a", "B", "c", "d", "e", "f")
	src = append(append(src[:3:3], src[4:]...), schema.Row{[]byte("8"), []byte("h")})
	h := schema.NewHasher(full.Schema.Columns)
	var all []uint64
	for _, r := range src {
		all = append(all, h.Sum(r))
	}
	lost := func(id string) uint64 {
		for _, k := range got {
			if string(k.Key[0]) == id {
				return k.Hash
			}
		}
		return 0
	}
	// (lo, hi] = (0, end]: parts (1, 2] with row 2, (3, 5] with row 5
	// (4 lost before it), and (6, end] with row 8 (7, by hand, lost).
	b := batch(2, []schema.Row{src[1], src[3], src[5]})
	b.Lo, b.Hi, b.Digest = schema.Row{[]byte("0")}, nil, nil
	b.Parts = []writer.Part{{Lo: schema.Row{[]byte("1")}, Hi: schema.Row{[]byte("2")}, Rows: 1},
		{Lo: schema.Row{[]byte("3")}, Hi: schema.Row{[]byte("5")}, Rows: 1}, {Lo: schema.Row{[]byte("6")}, Rows: 1}}
	b.Unchanged = 3
	want := schema.DigestOf(append(append([]uint64(nil), all...), lost("4")))
	// Row 7 has no hash, and counts as unhashed: the expected digest is
	// the extractor's, the target's own is checked.
	b.Want = &want
	stale := 0
	res, err := tg.ApplyBatch(ctx, b, writer.ApplyOptions{OnStale: func() error { stale++; return nil }})
	if err != nil {
		t.Fatal(err)
	}
	if res.Written != 2 || res.Unchanged != 4 || res.Candidates != 2 || !res.Stale || stale != 1 {
		t.Fatalf("sparse batch: %+v, stale told %d times (row 7, by hand and without a hash, makes the range differ)", res, stale)
	}
	if c := candidates(t, db, 2); len(c) != 2 {
		t.Fatalf("delete candidates %v, want 4 and 7", c)
	}
	var label string
	if err := db.QueryRow("SELECT GROUP_CONCAT(CONCAT(id, label) ORDER BY id) FROM items").Scan(&label); err != nil {
		t.Fatal(err)
	}
	if label != "1a,2B,3c,4d,5e,6f,7x,8h" {
		t.Fatalf("target after the sparse batch: %s", label)
	}

	// The same range once the cleanup has run, its digest as expected:
	// not stale; a failing OnStale rolls a stale batch back.
	db.Exec(t, "DELETE FROM items WHERE id IN (4, 7)")
	want = schema.DigestOf(all)
	b3 := batch(3, nil)
	b3.Lo, b3.Hi, b3.Digest, b3.Want, b3.Unchanged = schema.Row{[]byte("0")}, nil, nil, &want, len(src)
	if res, err := tg.ApplyBatch(ctx, b3, writer.ApplyOptions{OnStale: func() error { return errors.New("unexpected") }}); err != nil || res.Stale || res.Unchanged != len(src) {
		t.Fatalf("an equal range: %+v %v", res, err)
	}
	db.Exec(t, "DELETE FROM items WHERE id = 3") // by hand
	b4 := batch(4, nil)
	b4.Lo, b4.Hi, b4.Digest, b4.Want, b4.Unchanged = schema.Row{[]byte("0")}, nil, nil, &want, len(src)
	if _, err := tg.ApplyBatch(ctx, b4, writer.ApplyOptions{OnStale: func() error { return errors.New("cannot record it") }}); err == nil {
		t.Fatal("a stale batch whose OnStale failed was applied")
	}
	var n int
	if err := db.QueryRow("SELECT COUNT(*) FROM _sisporta_ledger WHERE run_id = 4").Scan(&n); err != nil || n != 0 {
		t.Fatalf("the rolled back batch left %d ledger rows (%v)", n, err)
	}
	// Parts that do not add up to the rows are refused.
	b5 := batch(5, []schema.Row{src[1]})
	b5.Lo, b5.Hi, b5.Digest, b5.Want = schema.Row{[]byte("0")}, nil, nil, &want
	b5.Parts = []writer.Part{{Lo: schema.Row{[]byte("1")}, Hi: schema.Row{[]byte("2")}, Rows: 2}}
	if _, err := tg.ApplyBatch(ctx, b5, writer.ApplyOptions{}); err == nil {
		t.Fatal("a sparse batch whose parts hold more rows than it has was applied")
	}
}

// The target's keys and hashes come back in key order, as the apply reads
// them: composite integer keys at their extremes, a row without a hash, a
// soft-deleted row marked.
func TestTargetKeyHashesReadKeysHashesAndMarks(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, tg := openTarget(t, "keyhash")
	s := schema.Table{Columns: []schema.Column{
		{Name: "a", Type: "BIGINT", Kind: schema.KindInt, Key: 1},
		{Name: "b", Type: "BIGINT UNSIGNED", Kind: schema.KindInt, Key: 2},
		{Name: "v", Type: "VARCHAR(5)", Kind: schema.KindString, Nullable: true},
	}}
	keys := [][2]string{{"-9223372036854775808", "0"}, {"-1", "18446744073709551615"}, {"0", "7"}, {"9223372036854775807", "1"}}
	var rows []schema.Row
	for _, k := range keys {
		rows = append(rows, schema.Row{[]byte(k[0]), []byte(k[1]), []byte("x")})
	}
	b := loadBatch(1, 1, s, rows, nil)
	b.SoftDelete, b.Hi = true, nil
	if _, err := tg.ApplyBatch(ctx, b, writer.ApplyOptions{}); err != nil {
		t.Fatal(err)
	}
	db.Exec(t, "UPDATE items SET _sisporta_hash = NULL WHERE a = 0",
		"UPDATE items SET _sisporta_deleted_at = UTC_TIMESTAMP(6) WHERE a = -1")
	h := schema.NewHasher(s.Columns)
	got, err := tg.TargetKeyHashes(ctx, "items", &s, true, nil, nil)
	if err != nil || len(got) != len(keys) {
		t.Fatalf("%+v %v", got, err)
	}
	for i, k := range keys {
		g := got[i]
		if string(g.Key[0]) != k[0] || string(g.Key[1]) != k[1] {
			t.Errorf("row %d: key %s, %s; want %s, %s", i, g.Key[0], g.Key[1], k[0], k[1])
		}
		if wantHash := k[0] != "0"; g.HasHash != wantHash || (wantHash && g.Hash != h.Sum(rows[i])) {
			t.Errorf("row %d: hash %d (%v), want the row's (%v)", i, g.Hash, g.HasHash, wantHash)
		}
		if g.Deleted != (k[0] == "-1") {
			t.Errorf("row %d: deleted %v", i, g.Deleted)
		}
	}
	// A range of it: (first, third].
	got, err = tg.TargetKeyHashes(ctx, "items", &s, true, rows[0][:2], rows[2][:2])
	if err != nil || len(got) != 2 || string(got[1].Key[0]) != "0" {
		t.Fatalf("(first, third]: %+v %v", got, err)
	}
}
