package localsync_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/sisporta/sisporta/test/testenv"

	syncv1alpha1 "github.com/sisporta/sisporta/api/v1alpha1"
)

func guardPipeline(cleanup string) string {
	return `
apiVersion: sync.sisporta.io/v1alpha1
kind: SyncPipeline
metadata: {name: guard}
spec:
  schedule: "*/5 * * * *"
  source: {driver: mysql, dsnSecretRef: {name: s, key: dsn}}
  target: {dsnSecretRef: {name: t, key: dsn}}
  batchSize: 10
  entities:
  - name: items
    source: {table: items, where: "visible = 1"}
    target: {table: items}
    cleanup: ` + cleanup + `
`
}

func seedItems(t *testing.T, e *env, n int) {
	e.src.Exec(t, "CREATE TABLE items (id INT PRIMARY KEY, label VARCHAR(20), visible TINYINT(1) NOT NULL DEFAULT 1)")
	var vals []string
	for i := 1; i <= n; i++ {
		vals = append(vals, fmt.Sprintf("(%d, 'item %d', 1)", i, i))
	}
	e.src.Exec(t, "INSERT INTO items VALUES "+strings.Join(vals, ","))
}

func TestGuardRefusesDeletingMoreThanMaxDeletePercent(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	seedItems(t, e, 100)
	p := testenv.Pipeline(t, guardPipeline("{mode: Delete, maxDeletePercent: 20}"))
	mustSucceed(t, e.sync(t, p))

	e.src.Exec(t, "DELETE FROM items WHERE id <= 30") // 30% would go
	s := e.sync(t, p)
	it := entity(t, s, "items")
	if it.Cleanup == nil || it.Cleanup.Result != syncv1alpha1.CleanupGuardTripped {
		t.Fatalf("cleanup = %+v, want GuardTripped", it.Cleanup)
	}
	if !strings.Contains(it.Cleanup.Message, "guard") || !strings.Contains(it.Cleanup.Message, "30 of 100") || !strings.Contains(it.Cleanup.Message, "maxDeletePercent 20%") {
		t.Errorf("guard message does not say why: %q", it.Cleanup.Message)
	}
	if it.Cleanup.Deleted != 30 || it.RowsDeleted != 0 {
		t.Errorf("guard: would delete %d, deleted %d; want 30 and 0", it.Cleanup.Deleted, it.RowsDeleted)
	}
	if n := e.dst.Count(t, "items", ""); n != 100 {
		t.Fatalf("target has %d rows after a refused cleanup, want all 100 untouched", n)
	}
	if g := s.GuardTripped(); len(g) != 1 || g[0] != "items" {
		t.Errorf("summary guard list = %v", g)
	}

	// Within the limit, the same pipeline deletes.
	e.src.Exec(t, "INSERT INTO items VALUES (1,'item 1',1),(2,'item 2',1),(3,'item 3',1),(4,'item 4',1),(5,'item 5',1),(6,'item 6',1),(7,'item 7',1),(8,'item 8',1),(9,'item 9',1),(10,'item 10',1),(11,'item 11',1),(12,'item 12',1)")
	s = e.sync(t, p) // 18 of 100 go: under 20%
	mustSucceed(t, s)
	if it := entity(t, s, "items"); it.RowsDeleted != 18 || it.Cleanup.Result != syncv1alpha1.CleanupSucceeded {
		t.Errorf("deleted %d (%+v), want 18", it.RowsDeleted, it.Cleanup)
	}
	sameRows(t, e, "SELECT id, label FROM items WHERE visible = 1", "SELECT id, label FROM items")
}

func TestGuardRefusesCleanupAfterAnEmptySourceRead(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	seedItems(t, e, 10)
	p := testenv.Pipeline(t, guardPipeline("{mode: Delete, maxDeletePercent: 100}"))
	mustSucceed(t, e.sync(t, p))

	e.src.Exec(t, "UPDATE items SET visible = 0") // the filter now matches nothing
	s := e.sync(t, p)
	it := entity(t, s, "items")
	if it.Cleanup == nil || it.Cleanup.Result != syncv1alpha1.CleanupGuardTripped || !strings.Contains(it.Cleanup.Message, "no rows") {
		t.Fatalf("cleanup = %+v, want GuardTripped for an empty source read", it.Cleanup)
	}
	if n := e.dst.Count(t, "items", ""); n != 10 {
		t.Fatalf("target has %d rows, want all 10 kept", n)
	}
}

func TestDryRunOnlyCounts(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	seedItems(t, e, 20)
	p := testenv.Pipeline(t, guardPipeline("{mode: Delete, dryRun: true}"))
	mustSucceed(t, e.sync(t, p))
	e.src.Exec(t, "DELETE FROM items WHERE id IN (1, 2)")
	s := e.sync(t, p)
	it := entity(t, s, "items")
	if it.Cleanup == nil || it.Cleanup.Result != syncv1alpha1.CleanupDryRun || it.Cleanup.Deleted != 2 || it.RowsDeleted != 0 {
		t.Fatalf("cleanup = %+v deleted %d, want DryRun counting 2 and deleting none", it.Cleanup, it.RowsDeleted)
	}
	if n := e.dst.Count(t, "items", ""); n != 20 {
		t.Fatalf("dry run changed the target: %d rows", n)
	}
}

func TestSoftDeleteMarksAndRevives(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	seedItems(t, e, 10)
	p := testenv.Pipeline(t, guardPipeline("{mode: SoftDelete, maxDeletePercent: 50}"))
	mustSucceed(t, e.sync(t, p))
	e.src.Exec(t, "DELETE FROM items WHERE id IN (4, 5)")
	s := e.sync(t, p)
	mustSucceed(t, s)
	if it := entity(t, s, "items"); it.RowsDeleted != 2 || it.Cleanup == nil || it.Cleanup.Message != "marked 2 rows deleted (no longer in the source)" {
		t.Fatalf("soft-deleted %d (%+v), want 2, saying so", it.RowsDeleted, it.Cleanup)
	}
	var msg string
	if err := e.dst.QueryRow("SELECT cleanup_message FROM _sisporta_runs WHERE run_id = ?", s.Run).Scan(&msg); err != nil || msg != "marked 2 rows deleted (no longer in the source)" {
		t.Fatalf("run record's cleanup message %q (%v)", msg, err)
	}
	if n := e.dst.Count(t, "items", "_sisporta_deleted_at IS NOT NULL"); n != 2 {
		t.Fatalf("%d rows marked deleted, want 2", n)
	}
	if n := e.dst.Count(t, "items", ""); n != 10 {
		t.Fatalf("soft delete removed rows: %d left", n)
	}
	// Marked rows are not marked again, and one that comes back is revived.
	e.src.Exec(t, "INSERT INTO items VALUES (4, 'item 4', 1)")
	s = e.sync(t, p)
	mustSucceed(t, s)
	if it := entity(t, s, "items"); it.RowsDeleted != 0 || it.RowsWritten != 1 {
		t.Fatalf("written %d deleted %d, want 1 revived and 0 deleted", it.RowsWritten, it.RowsDeleted)
	}
	if n := e.dst.Count(t, "items", "_sisporta_deleted_at IS NOT NULL"); n != 1 {
		t.Fatalf("%d rows marked deleted, want 1", n)
	}
}

func TestCleanupOffKeepsVanishedRows(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	seedItems(t, e, 10)
	p := testenv.Pipeline(t, guardPipeline(`{mode: "Off"}`))
	mustSucceed(t, e.sync(t, p))
	e.src.Exec(t, "DELETE FROM items WHERE id = 1")
	s := e.sync(t, p)
	if it := entity(t, s, "items"); it.Cleanup == nil || it.Cleanup.Result != syncv1alpha1.CleanupSkipped {
		t.Fatalf("cleanup = %+v, want Skipped", it.Cleanup)
	}
	if n := e.dst.Count(t, "items", ""); n != 10 {
		t.Fatalf("cleanup Off deleted rows: %d left", n)
	}
}
