package source

import (
	"testing"

	syncv1alpha1 "github.com/sisporta/sisporta/api/v1alpha1"
)

// A watermark holds only for the entity that made it: mapping a target
// column from another source column, another query, another table of the
// same shape or another where filter can change rows the cursor calls
// old, so the next run reads everything again (found by an adversarial
// run: such changes left old rows stale for good).
func TestWatermarkBelongsToWhatTheEntityReads(t *testing.T) {
	d := mssqlDialect{}
	base := func() *Entity {
		e := testEntity(t, d, "dbo.Precos", "", rawColumn{Name: "Id", Type: "int"}, rawColumn{Name: "A", Type: "int"})
		e.cols[1].Name, e.Schema.Columns[1].Name = "x", "x"
		e.Spec.Cursor = &syncv1alpha1.CursorSpec{Column: "At", Kind: syncv1alpha1.CursorUpdatedAt}
		e.cursor = mssqlColumn(t, rawColumn{Name: "At", Type: "datetime2", Scale: 7}, 0)
		return e
	}
	stored := base().watermark("2024-02-13 10:00:00.0000000")
	if w, err := base().Window(stored, ""); w == nil || err != nil {
		t.Fatalf("the same entity: window %v %v", w, err)
	}
	changes := map[string]func(e *Entity){
		"target column from another source column": func(e *Entity) { e.cols[1].Source = "B" },
		"another source type":                      func(e *Entity) { e.cols[1].raw.FullType = "bigint" },
		"another table of the same shape":          func(e *Entity) { e.Spec.Table = "dbo.PrecosAntigos" },
		"another query":                            func(e *Entity) { e.Spec.Query = "SELECT Id, A * 3 AS x FROM dbo.Precos" },
		"another where filter":                     func(e *Entity) { e.Spec.Where = "Ativo = 1" },
		"another target column":                    func(e *Entity) { e.Schema.Columns[1].Name = "y" },
	}
	for what, change := range changes {
		e := base()
		change(e)
		if w, err := e.Window(stored, ""); w != nil || err != nil {
			t.Errorf("%s: window %+v %v, want a full read", what, w, err)
		}
	}
}
