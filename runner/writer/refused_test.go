package writer_test

import (
	"context"
	"strings"
	"testing"

	"github.com/sisporta/sisporta/runner/failure"
	"github.com/sisporta/sisporta/runner/schema"
	"github.com/sisporta/sisporta/runner/writer"
)

// Rules of the target that refuse writes whatever the values are fail the
// batch (or the cleanup) at once, saying what to do, instead of being
// retried for the better part of an hour with MySQL's message alone (found
// by an adversarial run). A column the source dropped is let take NULL in
// a table Sisporta made.
func TestTargetRulesThatRefuseEveryRetry(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	withV := func(run int64) *writer.Batch {
		b := batch(run, rows("a", "b", "c"))
		b.Schema.Columns = append(b.Schema.Columns, schema.Column{Name: "v", Type: "INT", Kind: schema.KindInt})
		for i := range b.Rows {
			b.Rows[i] = append(b.Rows[i], []byte("7"))
		}
		return b
	}

	t.Run("a column the source dropped", func(t *testing.T) {
		db, tg := openTarget(t, "rules")
		if _, err := tg.ApplyBatch(ctx, withV(1), writer.ApplyOptions{}); err != nil {
			t.Fatal(err)
		}
		// v is NOT NULL without a default in the table Sisporta made; the
		// source has dropped it and row 4 is new.
		res, err := tg.ApplyBatch(ctx, batch(2, rows("a", "b", "c", "d")), writer.ApplyOptions{})
		if err != nil || res.Written != 4 {
			t.Fatalf("after the drop: %+v %v", res, err)
		}
		if got := db.Rows(t, "SELECT id, v FROM items WHERE id IN (1, 4)"); strings.Join(got, " ") != `"1"|"7" "4"|<NULL>` {
			t.Errorf("rows %v", got)
		}
	})

	t.Run("such a column in a table someone made", func(t *testing.T) {
		db, tg := openTarget(t, "rules")
		db.Exec(t, "CREATE TABLE items (id INT PRIMARY KEY, label VARCHAR(20) NULL, owner_id INT NOT NULL)")
		_, err := tg.ApplyBatch(ctx, batch(1, rows("a")), writer.ApplyOptions{})
		if err == nil || !failure.IsPermanent(err) || !strings.Contains(err.Error(), "NOT NULL without a default (owner_id)") || !strings.Contains(err.Error(), "MODIFY `owner_id` int(11) NULL") {
			t.Fatalf("want a permanent error saying what to do, got %v", err)
		}
	})

	t.Run("a CHECK constraint", func(t *testing.T) {
		db, tg := openTarget(t, "rules")
		if _, err := tg.ApplyBatch(ctx, batch(1, rows("a")), writer.ApplyOptions{}); err != nil {
			t.Fatal(err)
		}
		db.Exec(t, "ALTER TABLE items ADD CONSTRAINT no_bad CHECK (label <> 'bad')")
		_, err := tg.ApplyBatch(ctx, batch(2, rows("bad")), writer.ApplyOptions{})
		if err == nil || !failure.IsPermanent(err) || !strings.Contains(err.Error(), "a CHECK constraint of target table items") {
			t.Fatalf("want a permanent error naming the constraint's table, got %v", err)
		}
	})

	t.Run("a foreign key that refuses a delete", func(t *testing.T) {
		db, tg := openTarget(t, "rules")
		if _, err := tg.ApplyBatch(ctx, batch(1, rows("a", "b", "c")), writer.ApplyOptions{}); err != nil {
			t.Fatal(err)
		}
		db.Exec(t, "CREATE TABLE child (id INT PRIMARY KEY, item_id INT NOT NULL, FOREIGN KEY (item_id) REFERENCES items (id))",
			"INSERT INTO child VALUES (1, 3)")
		b := batch(2, rows("a", "b"))
		if _, err := tg.ApplyBatch(ctx, b, writer.ApplyOptions{}); err != nil {
			t.Fatal(err)
		}
		keys := candidates(t, db, 2)
		if len(keys) != 1 {
			t.Fatalf("candidates %q, want 1", keys)
		}
		_, err := tg.DeleteKeys(ctx, "items", &b.Schema, false, "t/p", "items", 2, keys)
		if err == nil || !failure.IsPermanent(err) || !strings.Contains(err.Error(), "a foreign key on target table items") {
			t.Fatalf("want a permanent error about the foreign key, got %v", err)
		}
	})
}
