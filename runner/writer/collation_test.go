package writer_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/sisporta/sisporta/runner/mysqltype"
	"github.com/sisporta/sisporta/runner/schema"
	"github.com/sisporta/sisporta/runner/writer"
	"github.com/sisporta/sisporta/test/testenv"
)

// wantCollation is the collation a column of comparison c gets on the
// test server: the first of mysqltype.CollationsFor it has (MariaDB 10.11
// lists utf8mb4_uca1400_* only by their full names in
// COLLATION_CHARACTER_SET_APPLICABILITY).
func wantCollation(t *testing.T, db *testenv.DB, c schema.TextCompare) string {
	t.Helper()
	for _, name := range mysqltype.CollationsFor(c) {
		var n int
		err := db.QueryRow(`SELECT COUNT(*) FROM information_schema.COLLATIONS WHERE COLLATION_NAME = ?`, name).Scan(&n)
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			// MariaDB >= 10.10 lists its UCA 14 collations by full name here only.
			_ = db.QueryRow(`SELECT COUNT(*) FROM information_schema.COLLATION_CHARACTER_SET_APPLICABILITY WHERE FULL_COLLATION_NAME = ?`, name).Scan(&n)
		}
		if n > 0 {
			return name
		}
	}
	t.Fatalf("the server has none of %v", mysqltype.CollationsFor(c))
	return ""
}

func columnCollation(t *testing.T, db *testenv.DB, table, col string) string {
	t.Helper()
	var c string
	if err := db.QueryRow(`SELECT COLLATION_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? AND COLUMN_NAME = ?`, table, col).Scan(&c); err != nil {
		t.Fatalf("collation of %s.%s: %v", table, col, err)
	}
	return c
}

func textSchema(cmp schema.TextCompare, keyType string) schema.Table {
	return schema.Table{Columns: []schema.Column{
		{Name: "k", Type: keyType, Kind: schema.KindString, Key: 1, Compare: cmp},
		{Name: "note", Type: "VARCHAR(20)", Kind: schema.KindString, Nullable: true, Compare: cmp},
	}}
}

func applyText(t *testing.T, tg *writer.Target, sch schema.Table, run int64, keys ...string) (writer.ApplyResult, error) {
	t.Helper()
	var rows []schema.Row
	for _, k := range keys {
		rows = append(rows, schema.Row{[]byte(k), []byte(k)})
	}
	return tg.ApplyBatch(context.Background(), &writer.Batch{Pipeline: "t/p", Run: run, Entity: "items", Table: "items", Schema: sch,
		Ranged: true, Rows: rows}, writer.ApplyOptions{})
}

// A created table's text columns get the collation their source's
// comparison asks for: keys an accent-sensitive source tells apart
// ('José', 'Jose') and those a case-sensitive one tells apart ('abc',
// 'ABC') are two rows, not one.
func TestCreatedTableComparesTextAsTheSource(t *testing.T) {
	cases := []struct {
		cmp  schema.TextCompare
		keys []string
	}{
		{schema.CompareAccents, []string{"José", "Jose", "Jösé"}},
		{schema.CompareCase, []string{"abc", "ABC", "José", "Jose"}},
		{schema.CompareBinary, []string{"abc", "ABC", "José", "Jose", "ß", "ss"}},
	}
	for _, c := range cases {
		t.Run(string(c.cmp), func(t *testing.T) {
			db, tg := openTarget(t, "tgt")
			want := wantCollation(t, db, c.cmp)
			t.Logf("%s -> %s", c.cmp, want)
			res, err := applyText(t, tg, textSchema(c.cmp, "VARCHAR(20)"), 1, c.keys...)
			if err != nil || res.Written != len(c.keys) {
				t.Fatalf("apply: %+v %v", res, err)
			}
			if n := db.Count(t, "items", ""); n != int64(len(c.keys)) {
				t.Fatalf("%d rows for the %d keys %q: the target merged keys the source tells apart", n, len(c.keys), c.keys)
			}
			for _, col := range []string{"k", "note"} {
				if got := columnCollation(t, db, "items", col); got != want {
					t.Errorf("column %s has collation %s, want %s", col, got, want)
				}
			}
			// The same rows again: every one found, none a candidate.
			again, err := applyText(t, tg, textSchema(c.cmp, "VARCHAR(20)"), 2, c.keys...)
			if err != nil || again.Unchanged != len(c.keys) || again.Candidates != 0 {
				t.Fatalf("second run: %+v %v", again, err)
			}
		})
	}
}

// A table Sisporta created before the source said how it compares has the
// server's accent-insensitive default on its key: the key column is
// changed to the collation the source asks for (its rows kept), a column
// added since gets it too, and existing non-key columns keep theirs.
func TestCreatedTableKeyCollationIsMadeFiner(t *testing.T) {
	ctx := context.Background()
	db, tg := openTarget(t, "tgt")
	if _, err := applyText(t, tg, textSchema("", "VARCHAR(20)"), 1, "José", "abc"); err != nil {
		t.Fatal(err)
	}
	before := columnCollation(t, db, "items", "k")
	if mysqltype.CollationRank(before) != 0 {
		t.Fatalf("the default collation %s already tells accents apart: nothing to test", before)
	}
	want := wantCollation(t, db, schema.CompareAccents)
	sch := textSchema(schema.CompareAccents, "VARCHAR(20)")
	sch.Columns = append(sch.Columns, schema.Column{Name: "added", Type: "VARCHAR(10)", Kind: schema.KindString, Nullable: true, Compare: schema.CompareAccents})
	row := func(k string) schema.Row { return schema.Row{[]byte(k), []byte(k), []byte("x")} }
	res, err := tg.ApplyBatch(ctx, &writer.Batch{Pipeline: "t/p", Run: 2, Entity: "items", Table: "items", Schema: sch, Ranged: true,
		Rows: []schema.Row{row("José"), row("Jose"), row("abc")}}, writer.ApplyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := columnCollation(t, db, "items", "k"); got != want {
		t.Fatalf("key column collation %s, want %s", got, want)
	}
	if got := columnCollation(t, db, "items", "added"); got != want {
		t.Errorf("added column collation %s, want %s", got, want)
	}
	if got := columnCollation(t, db, "items", "note"); got != before {
		t.Errorf("non-key column changed from %s to %s just for its collation", before, got)
	}
	if res.Candidates != 0 || db.Count(t, "items", "") != 3 {
		t.Fatalf("after the change: %+v, rows %v", res, db.Rows(t, "SELECT k FROM items"))
	}
}

// A created table whose key tells apart more than the source asks for
// (utf8mb4_bin for an accent-sensitive source) is left as it is.
func TestCreatedTableFinerKeyCollationIsKept(t *testing.T) {
	db, tg := openTarget(t, "tgt")
	if _, err := applyText(t, tg, textSchema("", "VARCHAR(20) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"), 1, "abc"); err != nil {
		t.Fatal(err)
	}
	if _, err := applyText(t, tg, textSchema(schema.CompareAccents, "VARCHAR(20)"), 2, "abc", "ABC"); err != nil {
		t.Fatal(err)
	}
	if got := columnCollation(t, db, "items", "k"); got != "utf8mb4_bin" {
		t.Fatalf("key collation %s, want utf8mb4_bin kept", got)
	}
}

// A table someone else made is taken when its key's collation tells apart
// at least as much as the source, and refused otherwise with the ALTER
// that fixes it.
func TestForeignTableKeyCollation(t *testing.T) {
	cases := []struct {
		coll string
		cmp  schema.TextCompare
		ok   bool
	}{
		{"utf8mb4_general_ci", schema.CompareAccents, false},
		{"utf8mb4_unicode_ci", schema.CompareCase, false},
		{"utf8mb4_uca1400_as_ci", schema.CompareAccents, true},
		{"utf8mb4_uca1400_as_ci", schema.CompareCase, false},
		{"utf8mb4_uca1400_as_cs", schema.CompareAccents, true},
		{"utf8mb4_bin", schema.CompareCase, true},
		{"utf8mb4_nopad_bin", schema.CompareBinary, true},
		{"utf8mb4_unicode_520_ci", schema.CompareAccents, false},
		{"utf8mb4_uca1400_as_cs", schema.CompareBinary, false},
	}
	for _, c := range cases {
		t.Run(c.coll+"/"+string(c.cmp), func(t *testing.T) {
			ctx := context.Background()
			db := testenv.NewDB(t, "tgt")
			if strings.Contains(c.coll, "uca1400") && wantCollation(t, db, schema.CompareAccents) != "utf8mb4_uca1400_as_ci" {
				t.Skip("the server has no UCA 14 collations")
			}
			cs, _, _ := strings.Cut(c.coll, "_")
			db.Exec(t, fmt.Sprintf("CREATE TABLE items (k VARCHAR(20) CHARACTER SET %s COLLATE %s NOT NULL PRIMARY KEY, note VARCHAR(20) NULL)", cs, c.coll))
			tg, err := writer.Open(ctx, db.DSN, 4)
			if err != nil {
				t.Fatal(err)
			}
			defer tg.Close()
			_, err = applyText(t, tg, textSchema(c.cmp, "VARCHAR(20)"), 1, "abc")
			if c.ok {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				if got := columnCollation(t, db, "items", "k"); got != c.coll {
					t.Fatalf("a table someone else made was changed: key collation %s", got)
				}
				return
			}
			want := wantCollation(t, db, c.cmp)
			alter := "ALTER TABLE `items` MODIFY `k` VARCHAR(20) CHARACTER SET utf8mb4 COLLATE " + want + " NOT NULL"
			if err == nil || !strings.Contains(err.Error(), alter) || !strings.Contains(err.Error(), "tells apart fewer keys") {
				t.Fatalf("got %v, want a refusal naming %q", err, alter)
			}
			if got := columnCollation(t, db, "items", "k"); got != c.coll {
				t.Fatalf("a refused table was changed: key collation %s", got)
			}
		})
	}
}
