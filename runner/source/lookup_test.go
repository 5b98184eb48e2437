package source

import (
	"context"
	"fmt"
	"testing"

	syncv1alpha1 "github.com/sisporta/sisporta/api/v1alpha1"
	"github.com/sisporta/sisporta/test/testenv"
)

// Existing says exactly which keys the source has under the where filter:
// integers next to each other beyond 2^53 (which a comparison as doubles
// would mix up), at both ends of BIGINT and BIGINT UNSIGNED, the same key
// twice, and more keys than one statement takes.
func TestExistingTellsIntegerKeysExactly(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, c := range []struct {
		typ         string
		have, avoid []string
	}{
		{"BIGINT", []string{"9007199254740993", "-9223372036854775808", "9223372036854775807", "0", "-1"},
			[]string{"9007199254740992", "9007199254740994", "-9223372036854775807", "9223372036854775806", "1"}},
		{"BIGINT UNSIGNED", []string{"18446744073709551615", "9223372036854775808"},
			[]string{"18446744073709551614", "9223372036854775807"}},
	} {
		db := testenv.NewDB(t, "src")
		db.Exec(t, "CREATE TABLE t (id "+c.typ+" PRIMARY KEY, live BOOL NOT NULL)")
		for _, v := range c.have {
			db.Exec(t, "INSERT INTO t VALUES ("+v+", 1)")
		}
		db.Exec(t, "INSERT INTO t VALUES (12345, 0)") // outside the where filter
		s := openMySQL(t, db)
		e, err := s.Resolve(ctx, syncv1alpha1.EntitySpec{Name: "t", Source: syncv1alpha1.EntitySource{Table: "t", Where: "live = 1"}})
		if err != nil {
			t.Fatal(err)
		}
		var keys []Row
		want := map[int]bool{}
		for i := range 2500 { // three statements
			k := fmt.Sprint(100000 + i)
			switch {
			case i < len(c.have):
				k, want[i] = c.have[i], true
			case i < len(c.have)+len(c.avoid):
				k = c.avoid[i-len(c.have)]
			case i == 1500:
				k, want[i] = c.have[0], true // the same key again
			case i == 1501:
				k = "12345"
			}
			keys = append(keys, Row{[]byte(k)})
		}
		got, err := s.Existing(ctx, e, keys)
		if err != nil {
			t.Fatal(err)
		}
		for i, ok := range got {
			if ok != want[i] {
				t.Errorf("%s %s: the source has it: %v, want %v", c.typ, keys[i][0], ok, want[i])
			}
		}
	}
}
