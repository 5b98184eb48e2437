package cleanup_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	syncv1alpha1 "github.com/sisporta/sisporta/api/v1alpha1"
	"github.com/sisporta/sisporta/runner/cleanup"
	"github.com/sisporta/sisporta/runner/runstate"
	"github.com/sisporta/sisporta/runner/schema"
	"github.com/sisporta/sisporta/runner/source"
	"github.com/sisporta/sisporta/runner/writer"
	"github.com/sisporta/sisporta/test/testenv"
)

// A delete candidate is a target row in a batch's key range that the
// batch lacks. Where the two databases order keys differently (SQL Server
// GUIDs, collations) the source may have put that row in another batch:
// the cleanup asks the source before deleting, so only rows the source
// really lost go. Here a batch covering (0, 10] carries only odd keys
// while the source lacks just key 4: exactly one row is deleted.
func TestCandidatesTheSourceStillHasAreNeverDeleted(t *testing.T) {
	cl, dst := cleanupOddBatch(t, 10, func(i int) bool { return i != 4 })
	if cl.Result != syncv1alpha1.CleanupSucceeded || cl.Deleted != 1 {
		t.Fatalf("cleanup %+v, want key 4 alone deleted", cl)
	}
	if got := fmt.Sprint(dst.Rows(t, "SELECT id FROM items")); got != `["1" "10" "2" "3" "5" "6" "7" "8" "9"]` {
		t.Fatalf("target keys %s", got)
	}
}

// Candidates are checked and deleted several chunks at a time: 3,000
// candidates (the even keys of 6,000) in six lookups, of which the source
// still has half (2 mod 4) and lost the others (0 mod 4), 1,500 rows in
// three delete chunks. Exactly those go, and the run record counts each
// once.
func TestManyCandidatesAreCheckedAndDeletedExactly(t *testing.T) {
	const n = 6000
	cl, dst := cleanupOddBatch(t, n, func(i int) bool { return i%4 != 0 })
	if cl.Result != syncv1alpha1.CleanupSucceeded || cl.Deleted != n/4 {
		t.Fatalf("cleanup %+v, want %d rows deleted", cl, n/4)
	}
	if got := dst.Count(t, "items", ""); got != n-n/4 {
		t.Fatalf("%d target rows, want %d", got, n-n/4)
	}
	if got := dst.Count(t, "items", "id % 4 = 0"); got != 0 {
		t.Fatalf("%d rows the source lost are still in the target", got)
	}
	if got := dst.Rows(t, "SELECT rows_deleted FROM _sisporta_runs WHERE run_id = 2"); fmt.Sprint(got) != fmt.Sprintf(`["%d"]`, n/4) {
		t.Fatalf("run record counts %v rows deleted, want %d", got, n/4)
	}
	if got := dst.Count(t, "_sisporta_pending_deletes", ""); got != 0 {
		t.Fatalf("%d candidates left after the cleanup", got)
	}
}

// cleanupOddBatch fills the target with keys 1..n (run 1), applies a run
// 2 batch of (0, n] that carries only the odd keys, and cleans run 2 up
// against a source that has the keys has says.
func cleanupOddBatch(t *testing.T, n int, has func(int) bool, edit ...func(*cleanup.Job)) (runstate.Cleanup, *testenv.DB) {
	t.Helper()
	cl, dst, err := tryCleanupOddBatch(t, n, has, nil, edit...)
	if err != nil {
		t.Fatal(err)
	}
	return cl, dst
}

// tryCleanupOddBatch is cleanupOddBatch, the source's answers going
// through wrap when it is set.
func tryCleanupOddBatch(t *testing.T, n int, has func(int) bool, wrap func(cleanup.Verifier) cleanup.Verifier, edit ...func(*cleanup.Job)) (runstate.Cleanup, *testenv.DB, error) {
	t.Helper()
	ctx := context.Background()
	src, dst := testenv.NewDB(t, "src"), testenv.NewDB(t, "dst")
	var vals []string
	for i := 1; i <= n; i++ {
		if has(i) {
			vals = append(vals, fmt.Sprintf("(%d,%d)", i, i))
		}
	}
	src.Exec(t, "CREATE TABLE items (id INT PRIMARY KEY, v INT)", "INSERT INTO items VALUES "+strings.Join(vals, ","))
	tg, err := writer.Open(ctx, dst.DSN, 4)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tg.Close() })
	sch := schema.Table{Columns: []schema.Column{{Name: "id", Type: "int", Kind: schema.KindInt, Key: 1}, {Name: "v", Type: "int", Kind: schema.KindInt, Nullable: true}}}
	row := func(i int) schema.Row { return schema.Row{[]byte(fmt.Sprint(i)), []byte(fmt.Sprint(i))} }
	apply := func(run int64, rows []schema.Row) writer.ApplyResult {
		t.Helper()
		b := &writer.Batch{Pipeline: "t/p", Run: run, Entity: "items", Table: "items", Schema: sch, Ranged: true, Rows: rows,
			Hi: schema.Row{[]byte(fmt.Sprint(n))}}
		res, err := tg.ApplyBatch(ctx, b, writer.ApplyOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	var all, odd []schema.Row
	for i := 1; i <= n; i++ {
		all = append(all, row(i))
		if i%2 == 1 {
			odd = append(odd, row(i))
		}
	}
	apply(1, all)
	if res := apply(2, odd); res.Candidates != n/2 {
		t.Fatalf("candidates %d, want the %d even keys", res.Candidates, n/2)
	}
	s, err := source.Open(ctx, syncv1alpha1.SourceSpec{Driver: syncv1alpha1.SourceMySQL}, src.DSN)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	e, err := s.Resolve(ctx, syncv1alpha1.EntitySpec{Name: "items", Source: syncv1alpha1.EntitySource{Table: "items"}})
	if err != nil {
		t.Fatal(err)
	}
	pct := int32(100)
	if err := tg.SaveRun(ctx, writer.RunRecord{Pipeline: "t/p", Run: 2, Entity: "items", Result: string(syncv1alpha1.RunRunning)}); err != nil {
		t.Fatal(err)
	}
	j := cleanup.Job{Pipeline: "t/p", Entity: "items", Run: 2, Table: "items",
		Schema: &sch, Spec: syncv1alpha1.CleanupSpec{Mode: syncv1alpha1.CleanupDelete, MaxDeletePercent: &pct}, RowsRead: int64(len(odd))}
	for _, f := range edit {
		f(&j)
	}
	var v cleanup.Verifier = cleanup.SourceVerifier{Source: s, Entity: e}
	if wrap != nil {
		v = wrap(v)
	}
	cl, err := cleanup.Run(ctx, tg, v, j, func() error { return nil })
	return cl, dst, err
}

// The guards weigh deletes against the table's rows. When the rows the
// run wrote or found (KnownRows) and the candidates are enough for them
// to pass, the table is not counted; otherwise it is, and the guards judge
// the count. 1,500 of 6,000 rows go (25%): with maxDeletePercent 30 and
// the run's 3,000 rows known, the bound (3,000 candidates of 6,000) does
// not settle it, the count does, and the rows go; with 20 the count trips
// the guard. A run that claims far more rows than the table has shows the
// count is skipped when the bound passes.
func TestGuardsCountTheTableOnlyWhenTheRunsRowsDoNotSettleThem(t *testing.T) {
	const n = 6000
	lostFourths := func(i int) bool { return i%4 != 0 }
	with := func(pct int32, known int64) func(*cleanup.Job) {
		return func(j *cleanup.Job) { j.Spec.MaxDeletePercent, j.KnownRows = &pct, known }
	}
	if cl, dst := cleanupOddBatch(t, n, lostFourths, with(30, n/2)); cl.Result != syncv1alpha1.CleanupSucceeded || cl.Deleted != n/4 || dst.Count(t, "items", "") != n-n/4 {
		t.Errorf("maxDeletePercent 30: cleanup %+v, want %d rows deleted", cl, n/4)
	}
	if cl, dst := cleanupOddBatch(t, n, lostFourths, with(20, n/2)); cl.Result != syncv1alpha1.CleanupGuardTripped || dst.Count(t, "items", "") != n ||
		!strings.Contains(cl.Message, fmt.Sprintf("%d of %d rows", n/4, n)) {
		t.Errorf("maxDeletePercent 20: cleanup %+v, want the guard tripped on the table's count, nothing deleted", cl)
	}
	if cl, _ := cleanupOddBatch(t, n, lostFourths, with(20, 100*n)); cl.Result != syncv1alpha1.CleanupSucceeded || cl.Deleted != n/4 {
		t.Errorf("maxDeletePercent 20 and %d rows known: cleanup %+v, want the rows deleted without counting the table", 100*n, cl)
	}
}

// A lookup that fails stops the cleanup with its own error (not the
// cancelling of the lookups beside it), before anything is deleted.
func TestAFailedLookupStopsTheCleanupWithItsError(t *testing.T) {
	const n = 6000
	lookupFailed := errors.New("lookup failed")
	calls := atomic.Int32{}
	failThird := func(v cleanup.Verifier) cleanup.Verifier {
		return verifierFunc(func(ctx context.Context, keys []schema.Row) ([]bool, error) {
			if calls.Add(1) == 3 {
				return nil, lookupFailed
			}
			return v.Existing(ctx, keys)
		})
	}
	_, dst, err := tryCleanupOddBatch(t, n, func(i int) bool { return i%4 != 0 }, failThird)
	if !errors.Is(err, lookupFailed) {
		t.Fatalf("cleanup error %v, want the lookup's", err)
	}
	if got := dst.Count(t, "items", ""); got != n {
		t.Fatalf("%d target rows, want all %d: nothing deleted", got, n)
	}
}

type verifierFunc func(ctx context.Context, keys []schema.Row) ([]bool, error)

func (f verifierFunc) Existing(ctx context.Context, keys []schema.Row) ([]bool, error) {
	return f(ctx, keys)
}
