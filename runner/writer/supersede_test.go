package writer_test

import (
	"context"
	"errors"
	"testing"

	"github.com/sisporta/sisporta/runner/writer"
)

// An old run's cleanup stops once a newer run of the entity has started:
// the newer run may have just written rows the old one found gone (found
// by an adversarial run: two Succeeded runs in a row left 22,079 rows
// missing after a slow cleanup overlapped the next run).
func TestCleanupOfAnOvertakenRunDeletesNothing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, tg := openTarget(t, "tgt")
	if _, err := tg.ApplyBatch(ctx, batch(1, rows("a", "b", "c")), writer.ApplyOptions{}); err != nil {
		t.Fatal(err)
	}
	// Run 2 finds row 3 gone: a candidate.
	b2 := batch(2, rows("a", "b"))
	if r, err := tg.ApplyBatch(ctx, b2, writer.ApplyOptions{}); err != nil || r.Candidates != 1 {
		t.Fatalf("run 2: %+v %v", r, err)
	}
	keys := candidates(t, db, 2)
	if len(keys) != 1 {
		t.Fatalf("candidates %q, want 1", keys)
	}
	// Row 3 is back, and run 3 has written it before run 2's cleanup goes on.
	if _, err := tg.ApplyBatch(ctx, batch(3, rows("a", "b", "c")), writer.ApplyOptions{}); err != nil {
		t.Fatal(err)
	}
	n, err := tg.DeleteKeys(ctx, "items", &b2.Schema, false, "t/p", "items", 2, keys)
	if !errors.Is(err, writer.ErrSuperseded) || n != 0 {
		t.Fatalf("run 2's delete after run 3 started: %d deleted, %v", n, err)
	}
	if c := db.Count(t, "items", ""); c != 3 {
		t.Errorf("%d rows left, want 3", c)
	}
}
