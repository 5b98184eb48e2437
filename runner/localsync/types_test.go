package localsync_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/sisporta/sisporta/test/testenv"
)

// typeCase is one MySQL/MariaDB column type with values that test its
// edges, and an expression that shows a value exactly (bytes in hex, a
// FLOAT widened to DOUBLE, BIT and SET as numbers).
type typeCase struct {
	name   string
	typ    string
	values []string
	exact  string // %s is the column
	key    bool   // also mirrored as the key of a table of its own
}

var everyType = []typeCase{
	{"ti", "TINYINT", []string{"-128", "127", "0"}, "%s", true},
	{"tiu", "TINYINT UNSIGNED", []string{"0", "255"}, "%s", true},
	{"si", "SMALLINT", []string{"-32768", "32767"}, "%s", false},
	{"mi", "MEDIUMINT UNSIGNED", []string{"0", "16777215"}, "%s", false},
	{"i", "INT", []string{"-2147483648", "2147483647", "7"}, "%s", false},
	{"bi", "BIGINT", []string{"-9223372036854775808", "9223372036854775807", "9007199254740993", "9007199254740992", "9007199254740994", "-9007199254740993"}, "%s", true},
	{"biu", "BIGINT UNSIGNED", []string{"18446744073709551615", "18446744073709551614", "9223372036854775808", "0"}, "%s", true},
	{"bo", "BOOLEAN", []string{"0", "1", "-1"}, "%s", false},
	{"d65", "DECIMAL(65,30)", []string{"99999999999999999999999999999999999.999999999999999999999999999999", "-0.000000000000000000000000000001", "0"}, "%s", true},
	{"d30", "DECIMAL(30,2)", []string{"12345678901234567.89", "12345678901234567.90", "12345678901234567.91", "-1.00"}, "%s", true},
	{"d0", "DECIMAL(10,0) UNSIGNED", []string{"0", "9999999999"}, "%s", false},
	{"f", "FLOAT", []string{"1234.5678", "16777216", "16777217", "3.4028234e38", "-3.4028234e38", "1.17549435e-38", "1.4e-45", "0.1", "0"}, "CAST(%s AS DOUBLE)", false},
	{"fmd", "FLOAT(7,4)", []string{"123.4567", "-999.9999", "0.0001"}, "CAST(%s AS DOUBLE)", false},
	{"db", "DOUBLE", []string{"0.1e0 + 0.2e0", "1.7976931348623157e308", "4.9e-324", "-2.2250738585072014e-308", "123456789012345678e0", "1e21"}, "%s", false},
	{"dbmd", "DOUBLE(12,4)", []string{"12345678.1234", "-0.0001"}, "%s", false},
	{"b1", "BIT(1)", []string{"b'0'", "b'1'"}, "%s+0", false},
	{"b8", "BIT(8)", []string{"b'0'", "b'1'", "b'10000000'", "b'11111111'"}, "%s+0", true},
	{"b64", "BIT(64)", []string{"18446744073709551615", "0", "9223372036854775808"}, "%s+0", true},
	{"dt", "DATE", []string{"'0000-00-00'", "'1000-01-01'", "'9999-12-31'", "'2024-02-29'", "'2024-00-00'"}, "%s", true},
	{"dtm", "DATETIME", []string{"'0000-00-00 00:00:00'", "'9999-12-31 23:59:59'", "'1000-01-01 00:00:00'"}, "%s", false},
	{"dtm3", "DATETIME(3)", []string{"'2024-02-29 23:59:59.999'", "'2024-01-01 00:00:00.001'"}, "%s", false},
	{"dtm6", "DATETIME(6)", []string{"'9999-12-31 23:59:59.999999'", "'2024-01-01 00:00:00.000001'", "'2024-01-01 00:00:00.000002'"}, "%s", true},
	{"ts", "TIMESTAMP(6) NULL", []string{"'1970-01-01 00:00:01.000000'", "'2038-01-19 03:14:07.999999'", "'2024-03-31 01:30:00.5'"}, "%s", true},
	{"tm", "TIME(6)", []string{"'-838:59:59.000000'", "'838:59:59'", "'-00:00:01.5'", "'00:00:00'", "'00:00:01'"}, "%s", true},
	{"yr", "YEAR", []string{"0", "1901", "2155", "2000", "1999"}, "%s", true},
	{"ch", "CHAR(5) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin", []string{"'a'", "'A'", "''", "'ç'", "'🚪'"}, "HEX(%s)", true},
	{"vgen", "VARCHAR(10) CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci", []string{"'a'", "'B'", "'ö'", "'_x'", "'Z '", "''"}, "HEX(%s)", true},
	{"vuni", "VARCHAR(10) CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci", []string{"'straße'", "'strasse2'", "'Ärger'", "'arg'"}, "HEX(%s)", true},
	{"vnopad", "VARCHAR(10) CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin", []string{"'a'", "'a '", "'a  '", "'b'", "' '"}, "HEX(%s)", true},
	{"vbin", "VARCHAR(10) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin", []string{"'a'", "'A'", "'🚪'", "'\\\\'", "''''"}, "HEX(%s)", true},
	{"v3", "VARCHAR(10) CHARACTER SET utf8mb3", []string{"'ümlaut'", "'x'"}, "HEX(%s)", false},
	{"vlat", "VARCHAR(10) CHARACTER SET latin1 COLLATE latin1_swedish_ci", []string{"X'E9'", "X'81'", "X'80'", "'f'", "X'DF'"}, "HEX(%s)", true},
	{"vcyr", "VARCHAR(10) CHARACTER SET cp1251 COLLATE cp1251_general_ci", []string{"X'98'", "X'C0'", "X'E0E1'", "'a'"}, "HEX(%s)", true},
	{"vasc", "VARCHAR(10) CHARACTER SET ascii", []string{"'plain'", "''"}, "HEX(%s)", false},
	{"vbyt", "VARCHAR(10) CHARACTER SET binary", []string{"X'FF00'", "''", "X'00'"}, "HEX(%s)", true},
	{"tt", "TINYTEXT", []string{"'tiny'", "''"}, "HEX(%s)", false},
	{"tx", "TEXT CHARACTER SET cp1251", []string{"X'98C0'", "'x'"}, "HEX(%s)", false},
	{"mt", "MEDIUMTEXT", []string{"REPEAT('ä', 70000)"}, "HEX(%s)", false},
	{"lt", "LONGTEXT", []string{"REPEAT('\\\\''🚪', 100000)", "''"}, "HEX(%s)", false},
	{"bn", "BINARY(4)", []string{"X'00'", "X'FFFFFFFF'", "X'00000001'", "X'01'"}, "HEX(%s)", true},
	{"vb", "VARBINARY(8)", []string{"X'00'", "X'0000'", "''", "X'FF'", "X'7F80'"}, "HEX(%s)", true},
	{"tb", "TINYBLOB", []string{"X'00FF'"}, "HEX(%s)", false},
	{"bl", "BLOB", []string{"REPEAT(X'00FF5C27', 1000)"}, "HEX(%s)", false},
	{"mb", "MEDIUMBLOB", []string{"X''"}, "HEX(%s)", false},
	{"lb", "LONGBLOB", []string{"REPEAT(X'5C', 300000)"}, "HEX(%s)", false},
	{"en", "ENUM('zulu','alpha','mike','','Ärger','o''neil')", []string{"'alpha'", "'zulu'", "''", "'Ärger'", "'o''neil'", "'mike'"}, "CONCAT(%s, '/', %s+0)", true},
	{"st", "SET('x','a','m','b''s','q')", []string{"''", "'x'", "'a,x'", "'m'", "'q'", "'x,a,m,q'"}, "%s+0", true},
	{"js", "JSON", []string{`'{"b": [1, 2.50, "ü"], "a": null}'`, `'[]'`}, "HEX(%s)", false},
	{"uu", "UUID", []string{"'00000000-0000-0000-0000-000000000001'", "'ffffffff-ffff-ffff-ffff-ffffffffffff'", "'6f9619ff-8b86-d011-b42d-00c04fc964ff'", "'10000000-0000-0000-0000-000000000000'"}, "%s", true},
	{"i4", "INET4", []string{"'0.0.0.0'", "'255.255.255.255'", "'10.1.2.3'", "'9.255.255.255'"}, "%s", true},
	{"i6", "INET6", []string{"'::'", "'::1'", "'2001:db8::ff00:42:8329'", "'ffff::'", "'::ffff:10.0.0.1'"}, "%s", true},
}

// Every MySQL/MariaDB column type round-trips bit-exact, NULL included,
// and as a key where the type can be one; a no-op run writes nothing and a
// verifying run finds nothing to repair (values read back from the target
// have the canonical form the source's have); deletes remove exactly the
// rows the source lost, whatever the key's order.
func TestEveryColumnTypeRoundTripsExactly(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	var cols, selects []string
	rows := 0
	for _, c := range everyType {
		cols = append(cols, fmt.Sprintf("c_%s %s", c.name, strings.Replace(c.typ, " NULL", "", 1)+" NULL"))
		rows = max(rows, len(c.values))
	}
	e.src.Exec(t, "CREATE TABLE alltypes (id INT PRIMARY KEY, "+strings.Join(cols, ", ")+")")
	for r := 0; r <= rows; r++ { // the last row is all NULL
		vals := []string{fmt.Sprint(r)}
		for _, c := range everyType {
			if r < len(c.values) {
				vals = append(vals, c.values[r])
			} else {
				vals = append(vals, "NULL")
			}
		}
		e.src.Exec(t, "INSERT INTO alltypes VALUES ("+strings.Join(vals, ", ")+")")
	}
	for _, c := range everyType {
		col := "c_" + c.name
		selects = append(selects, strings.ReplaceAll(c.exact, "%s", col))
	}
	all := "SELECT id, " + strings.Join(selects, ", ") + " FROM alltypes"

	var entities []string
	for _, c := range everyType {
		if !c.key {
			continue
		}
		table := "k_" + c.name
		e.src.Exec(t, fmt.Sprintf("CREATE TABLE %s (k %s NOT NULL, v INT, PRIMARY KEY (k))", table, strings.Replace(c.typ, " NULL", "", 1)))
		for i, v := range c.values {
			e.src.Exec(t, fmt.Sprintf("INSERT INTO %s VALUES (%s, %d)", table, v, i))
		}
		entities = append(entities, fmt.Sprintf("  - {name: %s, source: {table: %s}, target: {table: %s}, cleanup: {mode: Delete, maxDeletePercent: 100}}",
			strings.ReplaceAll(table, "_", "-"), table, table))
	}
	p := testenv.Pipeline(t, `
apiVersion: sync.sisporta.io/v1alpha1
kind: SyncPipeline
metadata: {name: types}
spec:
  schedule: "@hourly"
  source: {driver: mysql, dsnSecretRef: {name: s, key: dsn}}
  target: {dsnSecretRef: {name: t, key: dsn}}
  batchSize: 2
  entities:
  - {name: alltypes, source: {table: alltypes}, target: {table: alltypes}}
`+strings.Join(entities, "\n")+"\n")
	keyed := func(c typeCase) string {
		return "SELECT " + strings.ReplaceAll(c.exact, "%s", "k") + ", v FROM k_" + c.name
	}
	check := func(stage string) {
		t.Helper()
		sameRows(t, e, all, all)
		for _, c := range everyType {
			if c.key {
				sameRows(t, e, keyed(c), keyed(c))
			}
		}
	}
	mustSucceed(t, e.sync(t, p))
	check("first run")
	again := e.sync(t, p)
	mustSucceed(t, again)
	if again.RowsWritten != 0 || again.RowsDeleted != 0 {
		for _, en := range again.Entities {
			if en.RowsWritten != 0 || en.RowsDeleted != 0 {
				t.Errorf("no-op run: %s wrote %d and deleted %d", en.Name, en.RowsWritten, en.RowsDeleted)
			}
		}
	}
	v := e.sync(t, p, verify)
	mustSucceed(t, v)
	for _, en := range v.Entities {
		if en.RowsWritten != 0 || en.RowsRepaired != 0 {
			t.Errorf("verifying run: %s wrote %d and repaired %d: its values read back from the target differ from the source's", en.Name, en.RowsWritten, en.RowsRepaired)
		}
	}
	// Remove the second and the last value of each keyed table.
	for _, c := range everyType {
		if c.key {
			e.src.Exec(t, fmt.Sprintf("DELETE FROM k_%s WHERE v IN (1, %d)", c.name, len(c.values)-1))
		}
	}
	del := e.sync(t, p)
	mustSucceed(t, del)
	for _, c := range everyType {
		if !c.key {
			continue
		}
		want := int64(2)
		if len(c.values) == 2 {
			want = 1
		}
		if got := entity(t, del, "k-"+c.name); got.RowsDeleted != want || got.RowsWritten != 0 {
			t.Errorf("%s key: the run after deletes deleted %d and wrote %d rows, want %d and 0", c.typ, got.RowsDeleted, got.RowsWritten, want)
		}
	}
	check("after deletes")
}

// Types Sisporta cannot carry are refused with a way out, not guessed.
func TestSpatialColumnIsRefusedWithAWayOut(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.src.Exec(t, "CREATE TABLE places (id INT PRIMARY KEY, at POINT)", "INSERT INTO places VALUES (1, POINT(1, 2))")
	p := testenv.Pipeline(t, simplePipeline(t, "spatial", "places", "table: places", 10))
	err := syncErr(t, p, e.src.DSN, e.dst.DSN)
	if err == nil || !strings.Contains(err.Error(), "MySQL type point is not supported") || !strings.Contains(err.Error(), "ST_AsText") {
		t.Fatalf("a POINT column: %v", err)
	}
	p.Spec.Entities[0].Source.Table = ""
	p.Spec.Entities[0].Source.Query = "SELECT id, ST_AsText(at) AS at FROM places"
	p.Spec.Entities[0].Source.KeyColumns = append(p.Spec.Entities[0].Source.KeyColumns, "id")
	mustSucceed(t, e.sync(t, p))
	sameRows(t, e, "SELECT id, ST_AsText(at) FROM places", "SELECT id, at FROM places")
}

// Every type LOAD DATA takes (all but INET4 and INET6), in a full copy
// that goes in the bulk form: the bytes the extractor rendered are what
// LOAD DATA reads, with the hashes it computed. The values arrive exactly,
// a second run writes nothing, and a verifying run (which hashes the
// target's values afresh) repairs nothing.
func TestEveryLoadableTypeGoesInBulkExactly(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	var cols, names, selects []string
	rows := 0
	for _, c := range everyType {
		if c.name == "i4" || c.name == "i6" {
			continue
		}
		col := "c_" + c.name
		cols = append(cols, fmt.Sprintf("%s %s", col, strings.Replace(c.typ, " NULL", "", 1)+" NULL"))
		names = append(names, col)
		selects = append(selects, strings.ReplaceAll(c.exact, "%s", col))
		rows = max(rows, len(c.values))
	}
	e.src.Exec(t, "CREATE TABLE bulktypes (id INT PRIMARY KEY, "+strings.Join(cols, ", ")+")")
	// Each row of values (and one all NULL) twelve times over; the long
	// values a hundredth as long (pages end at 2 MiB, and LOAD DATA takes
	// batches of 32 rows or more).
	repeat := strings.NewReplacer("100000)", "1000)", "70000)", "700)", "300000)", "3000)")
	for r := 0; r <= rows; r++ {
		var vals []string
		for _, c := range everyType {
			switch {
			case c.name == "i4" || c.name == "i6":
			case r < len(c.values):
				vals = append(vals, repeat.Replace(c.values[r]))
			default:
				vals = append(vals, "NULL")
			}
		}
		for k := range 12 {
			e.src.Exec(t, fmt.Sprintf("INSERT INTO bulktypes (id, %s) VALUES (%d, %s)", strings.Join(names, ", "), k*100+r, strings.Join(vals, ", ")))
		}
	}
	p := testenv.Pipeline(t, simplePipeline(t, "bulktypes", "bulktypes", "table: bulktypes", 5))
	all := "SELECT id, " + strings.Join(selects, ", ") + " FROM bulktypes"
	mustSucceed(t, e.sync(t, p))
	sameRows(t, e, all, all)

	n := 12 * (rows + 1)
	if applied, loaded := loadedBatches(t, p, "items"); applied*5 >= int64(n) || loaded != applied {
		t.Fatalf("%d batches applied, %d loaded in bulk; want %d rows in batches of several batches' worth, all loaded", applied, loaded, n)
	}
	again := e.sync(t, p)
	mustSucceed(t, again)
	if again.RowsWritten != 0 {
		t.Errorf("the run after the bulk copy wrote %d rows", again.RowsWritten)
	}
	v := e.sync(t, p, verify)
	mustSucceed(t, v)
	if v.RowsWritten != 0 || v.RowsRepaired != 0 {
		t.Errorf("verifying run: wrote %d, repaired %d: a value LOAD DATA stored reads back otherwise than the source's", v.RowsWritten, v.RowsRepaired)
	}
}
