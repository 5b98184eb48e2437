package source

import (
	"context"
	"errors"
	"sort"
	"strings"
	"testing"

	syncv1alpha1 "github.com/sisporta/sisporta/api/v1alpha1"
	"github.com/sisporta/sisporta/test/testenv"
)

func openMySQL(t *testing.T, db *testenv.DB) *Source {
	t.Helper()
	s, err := Open(context.Background(), syncv1alpha1.SourceSpec{Driver: syncv1alpha1.SourceMySQL}, db.DSN)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// Repeated keys are refused where a page meets them: inside a page, and
// across the boundary of two pages (the row after a page is read too),
// whether the page ended on its row limit or on its byte limit. Keyset
// pagination would otherwise skip the repeated row for good.
func TestReadPageRefusesRepeatedKeys(t *testing.T) {
	t.Parallel()
	db := testenv.NewDB(t, "src")
	db.Exec(t, "CREATE TABLE t (a INT NOT NULL, b VARCHAR(100), KEY (a))",
		"INSERT INTO t VALUES (1, 'x'), (2, 'y'), (2, 'z'), (3, 'w')")
	s := openMySQL(t, db)
	ctx := context.Background()
	e, err := s.Resolve(ctx, syncv1alpha1.EntitySpec{Name: "t", Source: syncv1alpha1.EntitySource{Table: "t", KeyColumns: []syncv1alpha1.Identifier{"a"}}})
	if err != nil {
		t.Fatal(err)
	}
	for _, req := range []PageRequest{
		{Limit: 10},              // inside one page
		{Limit: 2},               // page 1 ends on the first 2, the next row repeats it
		{Limit: 10, MaxBytes: 3}, // the byte limit ends the page after the first 2
	} {
		var dup *DuplicateKeyError
		var after []any
		for i := 0; i < 5 && err == nil; i++ {
			var p *Page
			req.After = after
			p, err = s.ReadPage(ctx, e, req)
			if err == nil {
				if p.Done {
					break
				}
				after = p.Last
			}
		}
		if !errors.As(err, &dup) || strings.Join(dup.Key, ",") != `"2"` || !strings.Contains(err.Error(), "(a) do not identify rows") {
			t.Errorf("limit %d, max bytes %d: %v, want the repeated key 2 refused", req.Limit, req.MaxBytes, err)
		}
		err = nil
	}
	if err := s.CheckKeysUnique(ctx, e); err == nil || !strings.Contains(err.Error(), `key ("2")`) {
		t.Errorf("CheckKeysUnique: %v", err)
	}
}

// The probe of a query's columns runs in a read-only transaction like
// everything else sent to a source, and learns text columns' character
// sets and collations (the result metadata has none).
func TestQueryColumnsCarryTheirCollation(t *testing.T) {
	t.Parallel()
	db := testenv.NewDB(t, "src")
	db.Exec(t, "CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(10) CHARACTER SET cp1251 COLLATE cp1251_bin, e ENUM('b','a'), f FLOAT, bt BIT(3), du DECIMAL(10,2) UNSIGNED)")
	s := openMySQL(t, db)
	cols, err := s.d.describeQuery(context.Background(), s.db, "SELECT id, v, e, f, bt, du FROM t")
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]rawColumn{}
	for _, c := range cols {
		got[c.Name] = c
	}
	if c := got["v"]; c.Charset != "cp1251" || c.Collation != "cp1251_bin" {
		t.Errorf("v: %+v", c)
	}
	if c := got["e"]; c.QueryType != "enum" || c.Collation == "" {
		t.Errorf("e: %+v", c)
	}
	if c := got["bt"]; c.FullType != "bit(64)" {
		t.Errorf("bt: %+v", c)
	}
	if c := got["du"]; c.FullType != "decimal(10,2)" { // holds 99999999.99 (the driver said 9 digits)
		t.Errorf("an unsigned DECIMAL(10,2) of a query: %+v", c)
	}
	_, err = s.Resolve(context.Background(), syncv1alpha1.EntitySpec{Name: "q", Source: syncv1alpha1.EntitySource{Query: "SELECT e, id FROM t", KeyColumns: []syncv1alpha1.Identifier{"e"}}})
	if err == nil || !strings.Contains(err.Error(), "CAST(e AS CHAR) AS e") {
		t.Errorf("an ENUM key of a query: %v", err)
	}
}

func TestWriteGrantsAreFound(t *testing.T) {
	lines := []string{
		"GRANT USAGE ON *.* TO `ro`@`%` IDENTIFIED BY PASSWORD '*X'",
		"GRANT SELECT ON `erp`.* TO `ro`@`%`",
		"GRANT SELECT, INSERT (`a`, `b`), UPDATE ON `erp`.`items` TO `ro`@`%`",
		"GRANT DELETE ON `other`.* TO `ro`@`%`",
		"GRANT `reader` TO `ro`@`%`",
	}
	if got := strings.Join(sortedStrings(mysqlWriteGrants(lines, "erp")), ","); got != "INSERT,UPDATE" {
		t.Errorf("write grants on erp: %s", got)
	}
	if got := mysqlWriteGrants([]string{"GRANT ALL PRIVILEGES ON *.* TO `root`@`localhost` WITH GRANT OPTION"}, "erp"); len(got) != 1 || got[0] != "ALL PRIVILEGES" {
		t.Errorf("root: %v", got)
	}
	if got := mysqlWriteGrants(lines[:2], "erp"); len(got) != 0 {
		t.Errorf("a read-only login: %v", got)
	}
}

func sortedStrings(s []string) []string {
	out := append([]string(nil), s...)
	sort.Strings(out)
	return out
}

// A login that can write is reported; one that can only read is not.
func TestWriteAccessOfARealLogin(t *testing.T) {
	t.Parallel()
	db := testenv.NewDB(t, "src")
	user := "sisporta_ro_" + testenv.Random(3)
	db.Exec(t, "CREATE USER '"+user+"'@'%' IDENTIFIED BY 'pw'", "GRANT SELECT ON `"+db.Name+"`.* TO '"+user+"'@'%'")
	t.Cleanup(func() { _, _ = db.DB.Exec("DROP USER IF EXISTS '" + user + "'@'%'") })
	ro := openMySQL(t, &testenv.DB{DSN: strings.Replace(db.DSN, "root@", user+":pw@", 1)})
	if w, err := ro.WriteAccess(context.Background()); w != "" || err != nil {
		t.Errorf("a SELECT-only login: %s", w)
	}
	root := openMySQL(t, db)
	if w, err := root.WriteAccess(context.Background()); err != nil || !strings.Contains(w, "the source login can modify data (ALL PRIVILEGES") {
		t.Errorf("root: %q", w)
	}
}
