package cleanup_test

import (
	"context"
	"fmt"
	"testing"

	syncv1alpha1 "github.com/sisporta/sisporta/api/v1alpha1"
	"github.com/sisporta/sisporta/runner/cleanup"
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
	ctx := context.Background()
	src, dst := testenv.NewDB(t, "src"), testenv.NewDB(t, "dst")
	src.Exec(t, "CREATE TABLE items (id INT PRIMARY KEY, v INT)", "INSERT INTO items VALUES (1,1),(2,2),(3,3),(5,5),(6,6),(7,7),(8,8),(9,9),(10,10)")
	tg, err := writer.Open(ctx, dst.DSN, 4)
	if err != nil {
		t.Fatal(err)
	}
	defer tg.Close()
	sch := schema.Table{Columns: []schema.Column{{Name: "id", Type: "int", Kind: schema.KindInt, Key: 1}, {Name: "v", Type: "int", Kind: schema.KindInt, Nullable: true}}}
	row := func(i int) schema.Row { return schema.Row{[]byte(fmt.Sprint(i)), []byte(fmt.Sprint(i))} }
	apply := func(run int64, rows []schema.Row) writer.ApplyResult {
		t.Helper()
		b := &writer.Batch{Pipeline: "t/p", Run: run, Entity: "items", Table: "items", Schema: sch, Ranged: true, Rows: rows,
			Hi: schema.Row{[]byte("10")}}
		res, err := tg.ApplyBatch(ctx, b, writer.ApplyOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	var all, odd []schema.Row
	for i := 1; i <= 10; i++ {
		all = append(all, row(i))
		if i%2 == 1 {
			odd = append(odd, row(i))
		}
	}
	apply(1, all)
	if res := apply(2, odd); res.Candidates != 5 {
		t.Fatalf("candidates %d, want the 5 even keys", res.Candidates)
	}
	s, err := source.Open(ctx, syncv1alpha1.SourceSpec{Driver: syncv1alpha1.SourceMySQL}, src.DSN)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	e, err := s.Resolve(ctx, syncv1alpha1.EntitySpec{Name: "items", Source: syncv1alpha1.EntitySource{Table: "items"}})
	if err != nil {
		t.Fatal(err)
	}
	pct := int32(100)
	if err := tg.SaveRun(ctx, writer.RunRecord{Pipeline: "t/p", Run: 2, Entity: "items", Result: string(syncv1alpha1.RunRunning)}); err != nil {
		t.Fatal(err)
	}
	cl, err := cleanup.Run(ctx, tg, cleanup.SourceVerifier{Source: s, Entity: e}, cleanup.Job{Pipeline: "t/p", Entity: "items", Run: 2, Table: "items",
		Schema: &sch, Spec: syncv1alpha1.CleanupSpec{Mode: syncv1alpha1.CleanupDelete, MaxDeletePercent: &pct}, RowsRead: 5}, func() error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	if cl.Result != syncv1alpha1.CleanupSucceeded || cl.Deleted != 1 {
		t.Fatalf("cleanup %+v, want key 4 alone deleted", cl)
	}
	if got := fmt.Sprint(dst.Rows(t, "SELECT id FROM items")); got != `["1" "10" "2" "3" "5" "6" "7" "8" "9"]` {
		t.Fatalf("target keys %s", got)
	}
}
