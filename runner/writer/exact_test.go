package writer_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/sisporta/sisporta/runner/schema"
	"github.com/sisporta/sisporta/runner/writer"
)

// A source key renamed to a spelling the target's collation calls equal
// ('abc' to 'ABC' under a case-insensitive collation, 'x ' to 'x' under
// any PAD SPACE one) is upserted onto the same target row, and the old
// spelling becomes a delete candidate that the source, asked exactly, no
// longer has. Deleting that candidate must not take the renamed row with
// it: the row stays, with the new spelling.
func TestDeleteRemovesOnlyTheExactKey(t *testing.T) {
	cases := []struct {
		name, typ, before, after string
		soft                     bool
		shown                    string // the renamed key as the utf8mb4 connection reads it
	}{
		{"case", "VARCHAR(20)", "abc", "ABC", false, ""},
		{"case, soft delete", "VARCHAR(20)", "abc", "ABC", true, ""},
		{"accent", "VARCHAR(20)", "José", "Jose", false, ""},
		{"trailing space dropped", "VARCHAR(20)", "x ", "x", false, ""},
		{"trailing space added", "VARCHAR(20)", "x", "x ", true, ""},
		// A latin1 column's canonical values are its own bytes.
		{"latin1 column, case", "VARCHAR(20) CHARACTER SET latin1 COLLATE latin1_swedish_ci", "\xc4rger", "\xe4rger", false, "ärger"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ctx := context.Background()
			db, tg := openTarget(t, "tgt")
			sch := schema.Table{Columns: []schema.Column{
				{Name: "k", Type: c.typ, Kind: schema.KindString, Key: 1},
				{Name: "v", Type: "INT", Kind: schema.KindInt, Nullable: true},
			}}
			shown := c.after
			if c.shown != "" {
				shown = c.shown
			}
			apply := func(run int64, key string) writer.ApplyResult {
				t.Helper()
				b := &writer.Batch{Pipeline: "t/p", Run: run, Entity: "items", Table: "items", Schema: sch, SoftDelete: c.soft,
					Ranged: true, Rows: []schema.Row{{[]byte(key), []byte(fmt.Sprint(run))}}}
				res, err := tg.ApplyBatch(ctx, b, writer.ApplyOptions{})
				if err != nil {
					t.Fatal(err)
				}
				return res
			}
			apply(1, c.before)
			if res := apply(2, c.after); res.Written != 1 || res.Candidates != 1 {
				t.Fatalf("renamed key: %+v, want it written and the old spelling a candidate", res)
			}
			if got := fmt.Sprint(db.Rows(t, "SELECT k, v FROM items")); got != fmt.Sprintf("[%q|\"2\"]", shown) {
				t.Fatalf("after the rename the target holds %s", got)
			}
			keys := candidates(t, db, 2)
			if len(keys) != 1 || string(keys[0][0]) != c.before {
				t.Fatalf("candidates %q, want the old spelling %q", keys, c.before)
			}
			// The source, asked exactly, no longer has the old spelling.
			n, err := tg.DeleteKeys(ctx, "items", &sch, c.soft, "t/p", "items", 2, keys)
			if err != nil {
				t.Fatal(err)
			}
			if n != 0 {
				t.Errorf("deleting the candidate %q affected %d rows: it took the renamed row %q", c.before, n, c.after)
			}
			live := "SELECT k, v FROM items"
			if c.soft {
				live += " WHERE _sisporta_deleted_at IS NULL"
			}
			if got := fmt.Sprint(db.Rows(t, live)); got != fmt.Sprintf("[%q|\"2\"]", shown) {
				t.Errorf("after the delete the target holds %s, want the renamed row", got)
			}
			if n := len(candidates(t, db, 2)); n != 0 {
				t.Errorf("%d candidates left after the chunk", n)
			}
		})
	}
}

// The exact comparison still deletes what it should: the candidate's own
// row, whatever its case, accents or trailing spaces, in both modes.
func TestDeleteRemovesTheCandidateItself(t *testing.T) {
	for _, soft := range []bool{false, true} {
		t.Run(fmt.Sprint("soft=", soft), func(t *testing.T) {
			ctx := context.Background()
			db, tg := openTarget(t, "tgt")
			sch := schema.Table{Columns: []schema.Column{
				{Name: "a", Type: "VARCHAR(20)", Kind: schema.KindString, Key: 1},
				{Name: "b", Type: "VARCHAR(20) CHARACTER SET latin1 COLLATE latin1_swedish_ci", Kind: schema.KindString, Key: 2},
			}}
			keys := []string{"Ab ", "é", "x\\y", "it's", ""}
			var all []schema.Row
			for i, k := range keys {
				all = append(all, schema.Row{[]byte(k), []byte(fmt.Sprint("\xfc", i, " "))})
			}
			apply := func(run int64, rows []schema.Row) writer.ApplyResult {
				t.Helper()
				res, err := tg.ApplyBatch(ctx, &writer.Batch{Pipeline: "t/p", Run: run, Entity: "items", Table: "items", Schema: sch,
					SoftDelete: soft, Ranged: true, Rows: rows}, writer.ApplyOptions{})
				if err != nil {
					t.Fatal(err)
				}
				return res
			}
			apply(1, all)
			if res := apply(2, nil); res.Candidates != len(keys) {
				t.Fatalf("empty range: %+v, want every row a candidate", res)
			}
			n, err := tg.DeleteKeys(ctx, "items", &sch, soft, "t/p", "items", 2, candidates(t, db, 2))
			if err != nil || n != int64(len(keys)) {
				t.Fatalf("deleted %d %v, want %d", n, err, len(keys))
			}
			if got, err := tg.CountRows(ctx, "items", soft); err != nil || got != 0 {
				t.Fatalf("%d live rows left (%v)", got, err)
			}
		})
	}
}
