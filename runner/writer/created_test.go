package writer_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/sisporta/sisporta/runner/schema"
	"github.com/sisporta/sisporta/runner/writer"
	"github.com/sisporta/sisporta/test/testenv"
)

// The first batches of a run race to make the table: the one that made it
// records it as Sisporta's even when another batch, which found it made,
// claimed it first (found by an adversarial run: multi-batch entities
// ended up "not created by Sisporta", so widening their columns was
// refused).
func TestConcurrentFirstBatchesRecordTheTableAsSisportas(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for round := range 6 {
		db := testenv.NewDB(t, fmt.Sprintf("race%d", round))
		var wg sync.WaitGroup
		errs := make(chan error, 4)
		for w := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				tg, err := writer.Open(ctx, db.DSN, 2)
				if err != nil {
					errs <- err
					return
				}
				defer tg.Close()
				b := batch(1, rows("a", "b"))
				b.Seq = w + 1
				for i := range b.Rows {
					b.Rows[i][0] = []byte(fmt.Sprint(w*10 + i + 1))
				}
				if w > 0 {
					b.Lo = schema.Row{[]byte(fmt.Sprint(w * 10))}
				}
				b.Hi = schema.Row{[]byte(fmt.Sprint(w*10 + 2))}
				if _, err := tg.ApplyBatch(ctx, b, writer.ApplyOptions{}); err != nil {
					errs <- err
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		if got := db.Rows(t, "SELECT created_by_sisporta FROM _sisporta_tables"); fmt.Sprint(got) != `["1"]` {
			t.Fatalf("round %d: created_by_sisporta %v, want 1", round, got)
		}
	}
}

func TestWarmMakesTheStateTablesBeforeTheFirstBatch(t *testing.T) {
	db := testenv.NewDB(t, "warm")
	tg, err := writer.New(db.DSN, 2)
	if err != nil {
		t.Fatal(err)
	}
	defer tg.Close()
	if n := db.Count(t, "information_schema.tables", "table_schema = DATABASE() AND table_name LIKE '\\_sisporta\\_%'"); n != 0 {
		t.Fatalf("a new target already holds %d state tables", n)
	}
	tg.Warm(context.Background())
	for _, table := range []string{"_sisporta_entities", "_sisporta_ledger", "_sisporta_pending_deletes", "_sisporta_runs", "_sisporta_run_registry", "_sisporta_tables"} {
		if n := db.Count(t, "information_schema.tables", "table_schema = DATABASE() AND table_name = '"+table+"'"); n != 1 {
			t.Errorf("after Warm, the target has no %s", table)
		}
	}
}

func TestWarmOnATargetThatIsDownLeavesTheErrorToTheFirstBatch(t *testing.T) {
	tg, err := writer.New("root@tcp(127.0.0.1:1)/nowhere?timeout=1s", 2)
	if err != nil {
		t.Fatal(err)
	}
	defer tg.Close()
	tg.Warm(context.Background()) // returns, says nothing
	_, err = tg.ApplyBatch(context.Background(), batch(1, rows("a")), writer.ApplyOptions{})
	if err == nil {
		t.Fatal("a batch applied to a target that is down")
	}
}
