package source

import (
	"context"
	"fmt"
	"strings"
	"testing"

	syncv1alpha1 "github.com/sisporta/sisporta/api/v1alpha1"
	"github.com/sisporta/sisporta/runner/schema"
	"github.com/sisporta/sisporta/test/testenv"
)

// digestColumn is a column of the digest test table, its value in row 1
// (2 is NULL throughout, 3 has the same values as 1) and changes to
// row 1 that the mirror shows, each of which the range digest must see.
type digestColumn struct {
	name, typ string
	value     string
	changes   []string
}

var digestColumns = []digestColumn{
	{"ti", "TINYINT", "-128", []string{"127", "NULL", "0"}},
	{"biu", "BIGINT UNSIGNED", "18446744073709551615", []string{"18446744073709551614", "0"}},
	{"bi", "BIGINT", "-9223372036854775808", []string{"9223372036854775807"}},
	{"bo", "BOOLEAN", "0", []string{"1", "NULL"}},
	{"d", "DECIMAL(30,2)", "12345678901234567.89", []string{"12345678901234567.90", "-12345678901234567.89", "NULL"}},
	{"dz", "DECIMAL(10,2)", "1.50", []string{"1.51", "0.15", "15.00"}},
	{"f", "FLOAT", "1", []string{"1.0000001192092896", "0.99999994", "-1", "NULL"}},
	{"db", "DOUBLE", "0.3", []string{"0.1e0 + 0.2e0", "0.29999999999999993", "NULL"}},
	{"dbe", "DOUBLE", "1.7976931348623157e308", []string{"1.7976931348623155e308"}},
	{"b8", "BIT(8)", "b'1'", []string{"b'10'", "b'11111111'", "NULL"}},
	{"dt", "DATE", "'2024-02-29'", []string{"'2024-03-01'", "'0000-00-00'", "NULL"}},
	{"dtm6", "DATETIME(6)", "'2024-01-01 00:00:00.000001'", []string{"'2024-01-01 00:00:00.000002'", "'2024-01-01 00:00:00'", "NULL"}},
	{"dtm3", "DATETIME(3)", "'2024-01-01 00:00:00.001'", []string{"'2024-01-01 00:00:00.002'"}},
	{"ts", "TIMESTAMP(6) NULL", "'2024-03-31 01:30:00.5'", []string{"'2024-03-31 01:30:00.500001'", "NULL"}},
	{"tm", "TIME(6)", "'-00:00:01.5'", []string{"'00:00:01.5'", "'-00:00:01.500001'"}},
	{"yr", "YEAR", "1999", []string{"2000", "NULL"}},
	{"vgen", "VARCHAR(10) CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci", "'abc'", []string{"'ABC'", "'abc '", "'ábc'", "''", "NULL", "'N'", "'abc#'"}},
	{"vgen2", "VARCHAR(10) CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci", "''", []string{"NULL", "' '", "'#'", "'0'"}},
	{"ch", "CHAR(5) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin", "'a'", []string{"'A'", "''", "NULL", "'🚪'"}},
	{"vnop", "VARCHAR(5) CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin", "'a '", []string{"'a'", "'a  '"}},
	{"vuni", "VARCHAR(10) CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci", "'straße'", []string{"'strasse'", "'STRASSE'"}},
	{"v3", "VARCHAR(10) CHARACTER SET utf8mb3", "'ü'", []string{"'u'"}},
	{"vasc", "VARCHAR(10) CHARACTER SET ascii", "'x'", []string{"'X'"}},
	{"vlat", "VARCHAR(10) CHARACTER SET latin1 COLLATE latin1_swedish_ci", "X'E9'", []string{"X'C9'", "X'81'", "'?'", "NULL"}},
	{"vcyr", "VARCHAR(10) CHARACTER SET cp1251 COLLATE cp1251_general_ci", "X'98'", []string{"X'99'", "'?'", "X'9898'"}},
	{"tx", "TEXT", "'x'", []string{"'X'", "'x '", "REPEAT('x', 60000)", "NULL"}},
	{"vb", "VARBINARY(8)", "X'01'", []string{"X'0100'", "X'0001'", "X''", "NULL"}},
	{"bn", "BINARY(4)", "X'01'", []string{"X'02'", "X'00000001'", "NULL"}},
	{"bl", "BLOB", "X'00FF'", []string{"X'00FF00'", "X'FF00'", "X'23'"}},
	{"en", "ENUM('zulu','alpha','','o''neil')", "'alpha'", []string{"'zulu'", "''", "'o''neil'", "NULL"}},
	{"st", "SET('x','a','m')", "'a,x'", []string{"'a'", "'x'", "''", "'x,a,m'", "NULL"}},
	{"js", "JSON", `'{"a": 1}'`, []string{`'{"a": 2}'`, `'{"a": "1"}'`, `'{"A": 1}'`, "NULL"}},
	{"uu", "UUID", "'00000000-0000-0000-0000-000000000001'", []string{"'00000000-0000-0000-0000-000000000002'", "NULL"}},
	{"i6", "INET6", "'::1'", []string{"'::2'", "'::ffff:10.0.0.1'", "NULL"}},
}

// A range's digest changes with any change the mirror would show, in any
// column type: the last bit of a float, NULL against ” or 0, a DECIMAL's
// scale, fractional seconds, trailing zero bytes and spaces, case, bytes a
// character set has no character for, ENUM and SET members; values moved
// between columns or swapped between rows (a linear hash would cancel
// those out). The extractor's digest of a page read is the server's.
func TestMySQLRangeDigestSeesEveryChange(t *testing.T) {
	t.Parallel()
	db := testenv.NewDB(t, "src")
	var cols, one, null []string
	for _, c := range digestColumns {
		cols = append(cols, "c_"+c.name+" "+strings.Replace(c.typ, " NULL", "", 1)+" NULL")
		one = append(one, c.value)
		null = append(null, "NULL")
	}
	db.Exec(t, "CREATE TABLE t (id INT PRIMARY KEY, "+strings.Join(cols, ", ")+")",
		"INSERT INTO t VALUES (1, "+strings.Join(one, ", ")+"), (2, "+strings.Join(null, ", ")+"), (3, "+strings.Join(one, ", ")+")")
	s := openMySQL(t, db)
	ctx := context.Background()
	e, err := s.Resolve(ctx, syncv1alpha1.EntitySpec{Name: "t", Source: syncv1alpha1.EntitySource{Table: "t"}})
	if err != nil {
		t.Fatal(err)
	}
	if why, err := s.DigestUnsupported(ctx, e); why != "" || err != nil {
		t.Fatalf("MariaDB cannot digest the table: %q %v", why, err)
	}
	digest := func() schema.SourceDigest {
		t.Helper()
		d, err := s.RangeDigest(ctx, e, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		p, err := s.ReadPage(ctx, e, PageRequest{Limit: 10, Digest: true})
		if err != nil {
			t.Fatal(err)
		}
		if p.Digest == nil || *p.Digest != d {
			t.Fatalf("the page's digest %v is not the server's %v", p.Digest, d)
		}
		return d
	}
	base := digest()
	if base.Count != 3 {
		t.Fatalf("digest of 3 rows counts %d", base.Count)
	}
	for _, c := range digestColumns {
		col := "c_" + c.name
		for _, v := range c.changes {
			db.Exec(t, fmt.Sprintf("UPDATE t SET %s = %s WHERE id = 1", col, v))
			if d := digest(); d == base {
				t.Errorf("%s %s: %s to %s left the digest as it was", col, c.typ, c.value, v)
			}
			db.Exec(t, fmt.Sprintf("UPDATE t SET %s = %s WHERE id = 1", col, c.value))
		}
		// The NULL row takes row 1's value: one change, then back.
		db.Exec(t, fmt.Sprintf("UPDATE t SET %s = %s WHERE id = 2", col, c.value))
		if d := digest(); d == base {
			t.Errorf("%s %s: NULL to %s left the digest as it was", col, c.typ, c.value)
		}
		db.Exec(t, fmt.Sprintf("UPDATE t SET %s = NULL WHERE id = 2", col))
		if d := digest(); d != base {
			t.Fatalf("%s: the digest of the same rows changed: %v, then %v", col, base, d)
		}
	}
	// A value moved to the neighbouring column, '#' moved across them, a
	// value swapped between two rows, the same change in two rows.
	for _, c := range []struct{ change, back string }{
		{"UPDATE t SET c_vgen = '', c_vgen2 = 'abc' WHERE id = 1", "UPDATE t SET c_vgen = 'abc', c_vgen2 = '' WHERE id = 1"},
		{"UPDATE t SET c_vgen = 'abc#', c_vgen2 = '' WHERE id = 1", ""},
		{"UPDATE t SET c_vgen = 'abc', c_vgen2 = '#' WHERE id = 1", "UPDATE t SET c_vgen = 'abc', c_vgen2 = '' WHERE id = 1"},
		{"UPDATE t SET c_dz = IF(id = 1, 2.50, 1.50) WHERE id IN (1, 3)", "UPDATE t SET c_dz = 1.50 WHERE id IN (1, 3)"},
		{"UPDATE t SET c_vgen = 'abd' WHERE id IN (1, 3)", "UPDATE t SET c_vgen = 'abc' WHERE id IN (1, 3)"},
		{"UPDATE t SET c_dtm6 = '2024-01-01 00:00:00.000003' WHERE id IN (1, 3)", "UPDATE t SET c_dtm6 = '2024-01-01 00:00:00.000001' WHERE id IN (1, 3)"},
	} {
		db.Exec(t, c.change)
		if d := digest(); d == base {
			t.Errorf("%s left the digest as it was", c.change)
		}
		if c.back != "" {
			db.Exec(t, c.back)
		}
	}
	if d := digest(); d != base {
		t.Fatalf("the digest of the same rows changed: %v, then %v", base, d)
	}
	// Pairs of rows a careless row text would make one: a NULL number
	// left out, text running into its neighbour, a NULL text against ''.
	for _, c := range []struct{ a, b string }{
		{"UPDATE t SET c_ti = NULL, c_biu = 7 WHERE id = 1", "UPDATE t SET c_ti = 7, c_biu = NULL WHERE id = 1"},
		{"UPDATE t SET c_vgen = 'x#', c_vgen2 = 'y' WHERE id = 1", "UPDATE t SET c_vgen = 'x', c_vgen2 = '#y' WHERE id = 1"},
		{"UPDATE t SET c_vgen = 'xy', c_vgen2 = '' WHERE id = 1", "UPDATE t SET c_vgen = 'x', c_vgen2 = 'y' WHERE id = 1"},
		{"UPDATE t SET c_vgen = NULL, c_vgen2 = 'x' WHERE id = 1", "UPDATE t SET c_vgen = 'x', c_vgen2 = NULL WHERE id = 1"},
		{"UPDATE t SET c_vgen = NULL, c_vgen2 = '' WHERE id = 1", "UPDATE t SET c_vgen = '', c_vgen2 = NULL WHERE id = 1"},
		{"UPDATE t SET c_vgen = 'N', c_vgen2 = '' WHERE id = 1", "UPDATE t SET c_vgen = NULL, c_vgen2 = '' WHERE id = 1"},
		{"UPDATE t SET c_vb = X'23', c_bn = X'01' WHERE id = 1", "UPDATE t SET c_vb = X'', c_bn = X'2301' WHERE id = 1"},
	} {
		db.Exec(t, c.a)
		da := digest()
		db.Exec(t, c.b)
		if d2 := digest(); d2 == da {
			t.Errorf("the same digest for two rows:\n  %s\n  %s", c.a, c.b)
		}
	}
	// A row deleted and one inserted.
	db.Exec(t, "DELETE FROM t WHERE id = 2")
	if d := digest(); d.Count != 2 {
		t.Errorf("a deleted row: %v", d)
	}
}

// Range digests of adjacent ranges combine into the digest of both, and
// a page read up to a bound stops there.
func TestMySQLRangeDigestsTile(t *testing.T) {
	t.Parallel()
	db := testenv.NewDB(t, "src")
	db.Exec(t, "CREATE TABLE t (a VARCHAR(5) COLLATE utf8mb4_general_ci NOT NULL, b INT NOT NULL, v TEXT, PRIMARY KEY (a, b))",
		"INSERT INTO t VALUES ('a', 1, 'x'), ('a', 2, NULL), ('B', 1, ''), ('b', 3, 'y'), ('c', 0, 'z')")
	s := openMySQL(t, db)
	ctx := context.Background()
	e, err := s.Resolve(ctx, syncv1alpha1.EntitySpec{Name: "t", Source: syncv1alpha1.EntitySource{Table: "t"}})
	if err != nil {
		t.Fatal(err)
	}
	whole, err := s.RangeDigest(ctx, e, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	p1, err := s.ReadPage(ctx, e, PageRequest{Limit: 2, Digest: true})
	if err != nil {
		t.Fatal(err)
	}
	first, err := s.RangeDigest(ctx, e, nil, p1.Last)
	if err != nil {
		t.Fatal(err)
	}
	rest, err := s.RangeDigest(ctx, e, p1.Last, nil)
	if err != nil {
		t.Fatal(err)
	}
	if *p1.Digest != first || first.Count != 2 || rest.Count != 3 || first.Combine(rest) != whole {
		t.Fatalf("page %v, first %v, rest %v, whole %v", p1.Digest, first, rest, whole)
	}
	// Read (first, 'b',3]: two rows, then done.
	p2, err := s.ReadPage(ctx, e, PageRequest{After: p1.Last, UpTo: []any{"b", int64(3)}, Limit: 10, Digest: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(p2.Rows) != 2 || !p2.Done || string(p2.Rows[1][0]) != "b" {
		t.Fatalf("page up to ('b', 3): %d rows, done %v", len(p2.Rows), p2.Done)
	}
	mid, err := s.RangeDigest(ctx, e, p1.Last, []any{"b", int64(3)})
	if err != nil || mid != *p2.Digest {
		t.Fatalf("range digest %v (%v), page %v", mid, err, p2.Digest)
	}
}

// A page read hashes its rows in Go (MySQL) from the values it reads and
// the pieces it selects: for each column type alone, every value of the
// test table and NULL hash as the server hashes them, each value with the
// digest the server gives it.
func TestMySQLPageDigestIsTheServers(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	// Beyond the digest table: values a driver or a conversion could print
	// otherwise than the server (YEAR 0 is 0000), and the other types.
	more := []digestColumn{
		{"yr", "YEAR", "0", []string{"1901", "2155"}},
		{"tiu", "TINYINT UNSIGNED", "255", []string{"0"}},
		{"miu", "MEDIUMINT UNSIGNED", "16777215", nil},
		{"d65", "DECIMAL(65,30)", "-0.000000000000000000000000000001", []string{"99999999999999999999999999999999999.999999999999999999999999999999"}},
		{"d0u", "DECIMAL(10,0) UNSIGNED", "9999999999", nil},
		{"fmd", "FLOAT(7,4)", "-999.9999", []string{"0.0001"}},
		{"dbmd", "DOUBLE(12,4)", "12345678.1234", []string{"-0.0001"}},
		{"dbx", "DOUBLE", "4.9e-324", []string{"1e21", "123456789012345678e0"}},
		{"b64", "BIT(64)", "18446744073709551615", []string{"0"}},
		{"dt0", "DATE", "'2024-00-00'", []string{"'9999-12-31'"}},
		{"dtm", "DATETIME", "'0000-00-00 00:00:00'", []string{"'9999-12-31 23:59:59'"}},
		{"tmx", "TIME", "'-838:59:59'", []string{"'838:59:59'"}},
		{"vbyt", "VARCHAR(10) CHARACTER SET binary", "X'FF00'", []string{"''"}},
		{"tt", "TINYTEXT", "'tiny'", []string{"''"}},
		{"txc", "TEXT CHARACTER SET cp1251", "X'98C0'", nil},
		{"mt", "MEDIUMTEXT", "REPEAT('ä', 70000)", nil},
		{"lb", "LONGBLOB", "REPEAT(X'5C', 300000)", nil},
		{"i4", "INET4", "'255.255.255.255'", []string{"'0.0.0.0'"}},
		{"gr", "CHAR(5) CHARACTER SET greek", "X'E1'", []string{"X'E1E1'"}},
		{"zf", "INT(5) ZEROFILL", "42", nil},
	}
	for _, c := range append(append([]digestColumn{}, digestColumns...), more...) {
		db := testenv.NewDB(t, "src")
		values := append([]string{c.value, "NULL"}, c.changes...)
		rows := make([]string, len(values))
		for i, v := range values {
			rows[i] = fmt.Sprintf("(%d, %s)", i+1, v)
		}
		db.Exec(t, "CREATE TABLE t (id INT PRIMARY KEY, c "+c.typ+")", "INSERT INTO t VALUES "+strings.Join(rows, ", "))
		s := openMySQL(t, db)
		e, err := s.Resolve(ctx, syncv1alpha1.EntitySpec{Name: "t", Source: syncv1alpha1.EntitySource{Table: "t"}})
		if err != nil {
			t.Fatal(err)
		}
		p, err := s.ReadPage(ctx, e, PageRequest{Limit: 100, ChunkRows: 1, Digest: true})
		if err != nil {
			t.Fatalf("%s: %v", c.typ, err)
		}
		if len(p.Chunks) != len(values) {
			t.Fatalf("%s: %d chunks of one row, want %d", c.typ, len(p.Chunks), len(values))
		}
		var after []any
		for i, ch := range p.Chunks {
			d, err := s.RangeDigest(ctx, e, after, ch.Last)
			if err != nil {
				t.Fatal(err)
			}
			if ch.Digest != d {
				t.Errorf("%s %s: the page hashes it as %v, the server as %v", c.typ, values[i], ch.Digest, d)
			}
			after = ch.Last
		}
	}
}

// Text columns all of one UTF-8 character set and collation go into the
// range digest's row text uncast (cheaper for the server), and the row
// text is byte for byte the one with casts: every row hashes alike both
// ways, beside every kind of piece that is not text, so digests kept
// before stay valid and the extractor's hash of a page read still is the
// server's. Any other mix keeps the casts.
func TestMySQLUniformTextGoesUncast(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := testenv.NewDB(t, "src")
	db.Exec(t, `CREATE TABLE t (id INT PRIMARY KEY,
  a VARCHAR(20) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL, b TEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin,
  c CHAR(4) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin, n INT, f FLOAT, d DECIMAL(8,3), dt DATETIME(6), bt BIT(5),
  en ENUM('x','#y'), st SET('p','q'), js JSON, uu UUID, i6 INET6, vb VARBINARY(8), bl BLOB)`,
		`INSERT INTO t VALUES
  (1, 'ä#ö', 'straße 🚪', 'ab', -7, 1.5, -12.345, '2024-02-29 23:59:59.999999', b'10101', '#y', 'p,q', '{"k": "ü"}', UUID(), '::1', X'0023FF', X'C3A4'),
  (2, '', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
  (3, 'N', '', '#', 0, -0, 0.000, '0000-00-00 00:00:00', b'0', 'x', '', '[]', '00000000-0000-0000-0000-000000000000', '::', X'', X''),
  (4, REPEAT('🚪', 20), REPEAT('x#', 30000), 'éééé', 2147483647, 3.4e38, 99999.999, '9999-12-31 23:59:59', b'11111', NULL, 'q', 'null', NULL, '::ffff:1.2.3.4', X'23', REPEAT(X'00', 1000))`)
	s := openMySQL(t, db)
	e, err := s.Resolve(ctx, syncv1alpha1.EntitySpec{Name: "t", Source: syncv1alpha1.EntitySource{Table: "t"}})
	if err != nil {
		t.Fatal(err)
	}
	if !mysqlUniformText(e.cols, false) {
		t.Fatal("utf8mb4_bin columns (and MariaDB's JSON, a LONGTEXT of utf8mb4_bin) are not taken as uniform")
	}
	if mysqlUniformText(e.cols, true) {
		t.Error("a query's columns are taken as uniform")
	}
	q := s.d.rangeDigestQuery(e.cols, false, "0", e.from, "")
	if strings.Contains(q, "CAST(`a` AS BINARY)") || !strings.Contains(q, "`a`") {
		t.Errorf("the digest casts uniform text: %s", q)
	}
	nullable := mysqlNullable(false)
	if n := db.Count(t, "t", mysqlRowHash(e.cols, nullable, true)+" = "+mysqlRowHash(e.cols, nullable, false)); n != 4 {
		t.Errorf("%d rows of 4 hash alike uncast", n)
	}
	p, err := s.ReadPage(ctx, e, PageRequest{Limit: 10, Digest: true})
	if err != nil {
		t.Fatal(err)
	}
	d, err := s.RangeDigest(ctx, e, nil, nil)
	if err != nil || p.Digest == nil || *p.Digest != d || d.Count != 4 {
		t.Fatalf("the page's digest %v is not the server's %v (%v)", p.Digest, d, err)
	}

	for _, c := range []struct{ ddl, why string }{
		{"a VARCHAR(5) COLLATE utf8mb4_bin, b VARCHAR(5) COLLATE utf8mb4_nopad_bin", "two collations"},
		{"a VARCHAR(5) CHARACTER SET utf8mb4, b VARCHAR(5) CHARACTER SET utf8mb3", "two character sets"},
		{"a VARCHAR(5) CHARACTER SET latin1", "not UTF-8"},
		{"a VARCHAR(5) CHARACTER SET ucs2", "not ASCII-compatible"},
		{"a VARCHAR(5) COLLATE utf8mb4_unicode_ci, j JSON", "JSON is utf8mb4_bin"},
	} {
		db := testenv.NewDB(t, "src")
		db.Exec(t, "CREATE TABLE t (id INT PRIMARY KEY, "+c.ddl+")", "INSERT INTO t (id, a) VALUES (1, 'x')")
		s := openMySQL(t, db)
		e, err := s.Resolve(ctx, syncv1alpha1.EntitySpec{Name: "t", Source: syncv1alpha1.EntitySource{Table: "t"}})
		if err != nil {
			t.Fatal(err)
		}
		if mysqlUniformText(e.cols, false) {
			t.Errorf("%s (%s) taken as uniform", c.ddl, c.why)
		}
		if _, err := s.RangeDigest(ctx, e, nil, nil); err != nil {
			t.Errorf("%s: %v", c.ddl, err)
		}
	}
}
