package source

import (
	"fmt"
	"testing"
)

// Rows from the arena's slabs are separate: filling or growing one never
// shows in another, and each starts empty, however wide.
func TestArenaRowsAreSeparate(t *testing.T) {
	for _, n := range []int{1, 10, 3000} {
		a := &arena{}
		rows := make([]Row, 600)
		for i := range rows {
			rows[i] = a.row(n)
			for j := range rows[i] {
				if rows[i][j] != nil {
					t.Fatalf("%d columns: row %d starts with a value", n, i)
				}
				rows[i][j] = a.copy([]byte(fmt.Sprint(i, ":", j)))
			}
			grown := append(rows[i], []byte("extra"))
			grown[0] = []byte("changed through a grown copy")
		}
		for i, r := range rows {
			if len(r) != n {
				t.Fatalf("%d columns: row %d has %d", n, i, len(r))
			}
			for j, v := range r {
				if want := fmt.Sprint(i, ":", j); string(v) != want {
					t.Fatalf("%d columns: row %d column %d holds %q, want %q", n, i, j, v, want)
				}
			}
		}
	}
	if r := (&arena{}).row(0); r == nil || len(r) != 0 {
		t.Fatalf("a row of no columns: %#v", r)
	}
}
