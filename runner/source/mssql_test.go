package source

import (
	"math"
	"strings"
	"testing"
	"time"

	mssql "github.com/microsoft/go-mssqldb"

	syncv1alpha1 "github.com/sisporta/sisporta/api/v1alpha1"
	"github.com/sisporta/sisporta/runner/schema"
)

// SQL Server cannot run on every machine, so its dialect is pinned here by
// the exact T-SQL it generates and by conversions of the values go-mssqldb
// returns; the integration test (SISPORTA_TEST_MSSQL_DSN) runs it for real.

// Read-only intent unless the DSN names an intent itself (an availability
// group's primary may refuse read intent); an app name unless one is given,
// in any letter case (the driver refuses a second one).
func TestMSSQLDSNReadOnlyIntent(t *testing.T) {
	cases := []struct{ in, intent, app string }{
		{"sqlserver://ro:pw@erp:1433?database=ERP", "ApplicationIntent=ReadOnly", "app+name=sisporta"},
		{"sqlserver://ro:pw@erp?database=ERP&ApplicationIntent=ReadWrite", "ApplicationIntent=ReadWrite", "app+name=sisporta"},
		{"sqlserver://ro:pw@erp?database=ERP&applicationintent=readonly&App+Name=erp-mirror", "applicationintent=readonly", "App+Name=erp-mirror"},
		{"server=erp;user id=ro;password=pw;database=ERP", "ApplicationIntent=ReadOnly", "app name=sisporta"},
		{"server=erp;user id=ro;password=pw;database=ERP;ApplicationIntent=ReadWrite;APP NAME=mirror", "ApplicationIntent=ReadWrite", "APP NAME=mirror"},
	}
	for _, c := range cases {
		out, err := readOnlyMSSQLDSN(c.in)
		if err != nil {
			t.Errorf("%s: %v", c.in, err)
			continue
		}
		low := strings.ToLower(out)
		if !strings.Contains(out, c.intent) || strings.Count(low, "applicationintent") != 1 {
			t.Errorf("%s -> %s: want exactly %s", c.in, out, c.intent)
		}
		if !strings.Contains(out, c.app) || strings.Count(strings.ReplaceAll(low, "+", " "), "app name") != 1 {
			t.Errorf("%s -> %s: want exactly one app name, %s", c.in, out, c.app)
		}
		if _, err := mssql.NewConnector(out); err != nil {
			t.Errorf("%s -> %s: go-mssqldb refuses it: %v", c.in, out, err)
		}
	}
	for _, bad := range []string{"sqlserver://ro:pw@erp:1433", "server=erp;user id=ro;password=pw"} {
		if _, err := readOnlyMSSQLDSN(bad); err == nil || !strings.Contains(err.Error(), "database") {
			t.Errorf("%s: want an error asking for a database, got %v", bad, err)
		}
	}
}

func TestMSSQLTypeMap(t *testing.T) {
	d := mssqlDialect{}
	cases := []struct {
		raw   rawColumn
		typ   string
		kind  schema.Kind
		scale int
	}{
		{rawColumn{Type: "tinyint"}, "TINYINT UNSIGNED", schema.KindInt, 0},
		{rawColumn{Type: "smallint"}, "SMALLINT", schema.KindInt, 0},
		{rawColumn{Type: "int"}, "INT", schema.KindInt, 0},
		{rawColumn{Type: "bigint"}, "BIGINT", schema.KindInt, 0},
		{rawColumn{Type: "bit"}, "TINYINT(1)", schema.KindBool, 0},
		{rawColumn{Type: "decimal", Precision: 18, Scale: 4}, "DECIMAL(18,4)", schema.KindDecimal, 4},
		{rawColumn{Type: "numeric", Precision: 38, Scale: 0}, "DECIMAL(38,0)", schema.KindDecimal, 0},
		{rawColumn{Type: "money"}, "DECIMAL(19,4)", schema.KindDecimal, 4},
		{rawColumn{Type: "smallmoney"}, "DECIMAL(10,4)", schema.KindDecimal, 4},
		{rawColumn{Type: "float", Precision: 53}, "DOUBLE", schema.KindFloat, 64},
		{rawColumn{Type: "real", Precision: 24}, "FLOAT", schema.KindFloat, 32},
		{rawColumn{Type: "char", MaxLength: 10}, "CHAR(10)", schema.KindString, 0},
		{rawColumn{Type: "nchar", MaxLength: 20}, "CHAR(10)", schema.KindString, 0},
		{rawColumn{Type: "varchar", MaxLength: 100}, "VARCHAR(100)", schema.KindString, 0},
		{rawColumn{Type: "nvarchar", MaxLength: 100}, "VARCHAR(50)", schema.KindString, 0},
		{rawColumn{Type: "nvarchar", MaxLength: -1}, "LONGTEXT", schema.KindString, 0},
		{rawColumn{Type: "varchar", MaxLength: -1}, "LONGTEXT", schema.KindString, 0},
		{rawColumn{Type: "ntext", MaxLength: 16}, "LONGTEXT", schema.KindString, 0},
		{rawColumn{Type: "xml", MaxLength: -1}, "LONGTEXT", schema.KindString, 0},
		{rawColumn{Type: "nvarchar", MaxLength: 40, Collation: "Latin1_General_CS_AS"}, "VARCHAR(20)", schema.KindString, 0},
		{rawColumn{Type: "geography", MaxLength: -1}, "LONGTEXT", schema.KindString, 0},
		{rawColumn{Type: "geometry", MaxLength: -1}, "LONGTEXT", schema.KindString, 0},
		{rawColumn{Type: "hierarchyid", MaxLength: 892}, "VARCHAR(4000)", schema.KindString, 0},
		{rawColumn{Type: "decimal", Precision: 38, Scale: 30}, "DECIMAL(38,30)", schema.KindDecimal, 30},
		{rawColumn{Type: "binary", MaxLength: 16}, "BINARY(16)", schema.KindBytes, 0},
		{rawColumn{Type: "varbinary", MaxLength: 200}, "VARBINARY(200)", schema.KindBytes, 0},
		{rawColumn{Type: "varbinary", MaxLength: -1}, "LONGBLOB", schema.KindBytes, 0},
		{rawColumn{Type: "image", MaxLength: 16}, "LONGBLOB", schema.KindBytes, 0},
		{rawColumn{Type: "timestamp", MaxLength: 8}, "BINARY(8)", schema.KindBytes, 0},
		{rawColumn{Type: "uniqueidentifier"}, "CHAR(36)", schema.KindUUID, 0},
		{rawColumn{Type: "date"}, "DATE", schema.KindDate, 0},
		{rawColumn{Type: "time", Scale: 7}, "TIME(6)", schema.KindTime, 6},
		{rawColumn{Type: "datetime", Scale: 3}, "DATETIME(3)", schema.KindDateTime, 3},
		{rawColumn{Type: "smalldatetime"}, "DATETIME", schema.KindDateTime, 0},
		{rawColumn{Type: "datetime2", Scale: 7}, "DATETIME(6)", schema.KindDateTime, 6},
		{rawColumn{Type: "datetime2", Scale: 3}, "DATETIME(3)", schema.KindDateTime, 3},
		{rawColumn{Type: "datetime2", Scale: 0}, "DATETIME", schema.KindDateTime, 0},
		{rawColumn{Type: "datetimeoffset", Scale: 7}, "DATETIME(6)", schema.KindDateTime, 6},
	}
	for _, c := range cases {
		c.raw.FullType = mssqlDecl(c.raw)
		got, err := d.mapColumn(c.raw)
		if err != nil {
			t.Errorf("%s: %v", c.raw.FullType, err)
			continue
		}
		if got.Type != c.typ || got.Kind != c.kind || got.Scale != c.scale {
			t.Errorf("%s -> %s %s %d, want %s %s %d", c.raw.FullType, got.Type, got.Kind, got.Scale, c.typ, c.kind, c.scale)
		}
	}
	for _, unsupported := range []string{"sql_variant", "mytype"} {
		_, err := d.mapColumn(rawColumn{Type: unsupported, FullType: unsupported})
		if err == nil || !strings.Contains(err.Error(), "no MySQL mapping") || !strings.Contains(err.Error(), "CAST") {
			t.Errorf("%s: want an error that says how to work around it, got %v", unsupported, err)
		}
	}
	// MySQL's DECIMAL takes 30 fractional digits: more is refused before
	// CREATE TABLE, with what to do.
	wide := rawColumn{Type: "decimal", Precision: 38, Scale: 31}
	wide.FullType = mssqlDecl(wide)
	if _, err := d.mapColumn(wide); err == nil || !strings.Contains(err.Error(), "at most 30") || !strings.Contains(err.Error(), "leave the column out") {
		t.Errorf("decimal(38,31): %v", err)
	}
}

func TestMSSQLDeclarationsForCasts(t *testing.T) {
	cases := map[string]rawColumn{
		"nvarchar(20)":      {Type: "nvarchar", MaxLength: 40},
		"nvarchar(max)":     {Type: "nvarchar", MaxLength: -1},
		"varchar(8000)":     {Type: "varchar", MaxLength: 8000},
		"decimal(10,2)":     {Type: "decimal", Precision: 10, Scale: 2},
		"datetime2(7)":      {Type: "datetime2", Scale: 7},
		"datetimeoffset(3)": {Type: "datetimeoffset", Scale: 3},
		"binary(8)":         {Type: "timestamp", MaxLength: 8},
		"uniqueidentifier":  {Type: "uniqueidentifier"},
	}
	for want, rc := range cases {
		if got := mssqlDecl(rc); got != want {
			t.Errorf("%+v -> %s, want %s", rc, got, want)
		}
	}
}

// convert runs a value as go-mssqldb returns it through the dialect.
func convert(t *testing.T, rc rawColumn, v any) (string, any) {
	t.Helper()
	rc.FullType = mssqlDecl(rc)
	d := mssqlDialect{}
	sc, err := d.mapColumn(rc)
	if err != nil {
		t.Fatal(err)
	}
	c := &column{Column: sc, raw: rc}
	out, err := d.canonical(c, v, &arena{})
	if err != nil {
		t.Fatalf("%s %v: %v", rc.FullType, v, err)
	}
	if out == nil {
		return "<NULL>", nil
	}
	key, err := d.finishKey(c, d.keyParam(c, v, out))
	if err != nil {
		t.Fatalf("%s %v: key: %v", rc.FullType, v, err)
	}
	return string(out), key
}

func TestMSSQLValueConversion(t *testing.T) {
	lisbon := time.FixedZone("+02:00", 2*3600)
	cases := []struct {
		name    string
		raw     rawColumn
		in      any
		want    string
		wantKey any
	}{
		{"int", rawColumn{Type: "int"}, int64(-42), "-42", "-42"},
		{"bigint max", rawColumn{Type: "bigint"}, int64(9223372036854775807), "9223372036854775807", nil},
		{"bit true", rawColumn{Type: "bit"}, true, "1", nil},
		{"bit false", rawColumn{Type: "bit"}, false, "0", nil},
		{"decimal exact", rawColumn{Type: "decimal", Precision: 38, Scale: 10}, []byte("12345678901234567890123456.1234567891"), "12345678901234567890123456.1234567891", nil},
		{"decimal negative", rawColumn{Type: "decimal", Precision: 10, Scale: 2}, []byte("-0.50"), "-0.50", nil},
		{"money", rawColumn{Type: "money"}, []byte("922337203685477.5807"), "922337203685477.5807", nil},
		{"smallmoney", rawColumn{Type: "smallmoney"}, []byte("-214748.3648"), "-214748.3648", nil},
		{"float", rawColumn{Type: "float", Precision: 53}, 0.1, "0.1", nil},
		// real travels as the double it widens to: MySQL narrows that exactly,
		// where "0.1" would be parsed as a double first and could round twice.
		{"real is the exact widened float32", rawColumn{Type: "real", Precision: 24}, float64(float32(0.1)), "0.10000000149011612", nil},
		{"real keeps every digit", rawColumn{Type: "real", Precision: 24}, float64(float32(1234.5678)), "1234.5677490234375", nil},
		{"real 2^24", rawColumn{Type: "real", Precision: 24}, float64(float32(16777216)), "1.6777216e+07", nil},
		{"real max", rawColumn{Type: "real", Precision: 24}, float64(math.MaxFloat32), "3.4028234663852886e+38", nil},
		{"real smallest subnormal", rawColumn{Type: "real", Precision: 24}, float64(math.SmallestNonzeroFloat32), "1.401298464324817e-45", nil},
		{"float(24) is real", rawColumn{Type: "float", Precision: 24}, float64(float32(0.3)), "0.30000001192092896", nil},
		{"float max", rawColumn{Type: "float", Precision: 53}, math.MaxFloat64, "1.7976931348623157e+308", nil},
		{"float 0.1+0.2", rawColumn{Type: "float", Precision: 53}, math.Nextafter(0.3, 1), "0.30000000000000004", nil},
		{"float negative zero", rawColumn{Type: "float", Precision: 53}, math.Copysign(0, -1), "-0", nil},
		{"nvarchar 4-byte unicode", rawColumn{Type: "nvarchar", MaxLength: 100}, "Portão 🚪 日本", "Portão 🚪 日本", "Portão 🚪 日本"},
		{"empty is not NULL", rawColumn{Type: "nvarchar", MaxLength: 100}, "", "", ""},
		{"NULL", rawColumn{Type: "nvarchar", MaxLength: 100}, nil, "<NULL>", nil},
		{"nchar trims like MySQL CHAR, key keeps padding", rawColumn{Type: "nchar", MaxLength: 10}, "ab   ", "ab", "ab   "},
		{"nvarchar(max)", rawColumn{Type: "nvarchar", MaxLength: -1}, strings.Repeat("x", 10000), strings.Repeat("x", 10000), nil},
		{"varbinary", rawColumn{Type: "varbinary", MaxLength: 10}, []byte{0, 0xff, 0x0a}, "\x00\xff\n", nil},
		{"rowversion", rawColumn{Type: "timestamp", MaxLength: 8}, []byte{0, 0, 0, 0, 0, 0, 0x07, 0xd1}, "\x00\x00\x00\x00\x00\x00\x07\xd1", nil},
		// SQL Server sends the first three groups little-endian.
		{"uniqueidentifier byte order", rawColumn{Type: "uniqueidentifier"},
			[]byte{0xff, 0x19, 0x96, 0x6f, 0x86, 0x8b, 0x11, 0xd0, 0xb4, 0x2d, 0x00, 0xc0, 0x4f, 0xc9, 0x64, 0xff},
			"6F9619FF-8B86-D011-B42D-00C04FC964FF", "6F9619FF-8B86-D011-B42D-00C04FC964FF"},
		{"date", rawColumn{Type: "date"}, time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC), "0001-01-01", nil},
		{"time(3)", rawColumn{Type: "time", Scale: 3}, time.Date(1, 1, 1, 23, 59, 59, 999_000_000, time.UTC), "23:59:59.999", "23:59:59.999"},
		{"datetime keeps milliseconds", rawColumn{Type: "datetime", Scale: 3}, time.Date(2024, 2, 29, 10, 0, 0, 3_333_333, time.UTC), "2024-02-29 10:00:00.003", "2024-02-29 10:00:00.003"},
		{"smalldatetime", rawColumn{Type: "smalldatetime"}, time.Date(2024, 2, 29, 10, 1, 0, 0, time.UTC), "2024-02-29 10:01:00", nil},
		{"datetime2(7) truncates to MySQL's 6 digits, key keeps 7", rawColumn{Type: "datetime2", Scale: 7}, time.Date(2024, 12, 31, 23, 59, 59, 999_999_900, time.UTC), "2024-12-31 23:59:59.999999", "2024-12-31 23:59:59.9999999"},
		{"datetimeoffset to UTC", rawColumn{Type: "datetimeoffset", Scale: 7}, time.Date(2024, 1, 1, 1, 30, 0, 500_000_000, lisbon), "2023-12-31 23:30:00.500000", "2024-01-01 01:30:00.5000000 +02:00"},
	}
	for _, c := range cases {
		got, key := convert(t, c.raw, c.in)
		if got != c.want {
			t.Errorf("%s: %q, want %q", c.name, got, c.want)
		}
		if c.wantKey != nil && key != c.wantKey {
			t.Errorf("%s: key parameter %v, want %v", c.name, key, c.wantKey)
		}
	}
	// Refused rather than guessed.
	d := mssqlDialect{}
	rc := rawColumn{Type: "decimal", Precision: 5, Scale: 2}
	rc.FullType = mssqlDecl(rc)
	sc, _ := d.mapColumn(rc)
	if _, err := d.canonical(&column{Column: sc, raw: rc}, []byte("1.234"), &arena{}); err == nil {
		t.Error("a decimal with more digits than its scale was silently rounded")
	}
}

func testEntity(t *testing.T, d dialect, table string, where string, cols ...rawColumn) *Entity {
	t.Helper()
	e := &Entity{Name: "prices", Spec: syncv1alpha1.EntitySource{Table: syncv1alpha1.Identifier(table), Where: where}, from: d.quoteTable(table), ref: d.quoteTable(table)}
	for i, rc := range cols {
		rc.FullType = mssqlDecl(rc)
		sc, err := d.mapColumn(rc)
		if err != nil {
			t.Fatal(err)
		}
		sc.Source, sc.Name = rc.Name, rc.Name
		if i < 2 {
			sc.Key = i + 1
		}
		e.cols = append(e.cols, column{Column: sc, raw: rc})
		e.Schema.Columns = append(e.Schema.Columns, sc)
	}
	return e
}

func TestMSSQLKeysetQuery(t *testing.T) {
	d := mssqlDialect{}
	e := testEntity(t, d, "dbo.TabelaPrecos", "Ativo = 1",
		rawColumn{Name: "CodTabela", Type: "int"},
		rawColumn{Name: "CodProduto", Type: "nvarchar", MaxLength: 40, Collation: "Latin1_General_CI_AS"},
		rawColumn{Name: "Preço]", Type: "money"})

	q, args := buildPageQuery(d, e, PageRequest{Limit: 1000})
	want := "SELECT TOP (1001) [CodTabela], [CodProduto], [Preço]]] FROM [dbo].[TabelaPrecos] WHERE (Ativo = 1) ORDER BY [CodTabela], [CodProduto]"
	if q != want || len(args) != 0 {
		t.Errorf("first page:\n got %s %v\nwant %s", q, args, want)
	}

	q, args = buildPageQuery(d, e, PageRequest{Limit: 500, After: []any{"7", "ABC  "}})
	want = "SELECT TOP (501) [CodTabela], [CodProduto], [Preço]]] FROM [dbo].[TabelaPrecos] WHERE (Ativo = 1) AND " +
		"([CodTabela] >= CAST(@p1 AS int) AND ([CodTabela] > CAST(@p2 AS int) OR ([CodTabela] = CAST(@p3 AS int) AND [CodProduto] > CAST(@p4 COLLATE Latin1_General_CI_AS AS nvarchar(20))))) " +
		"ORDER BY [CodTabela], [CodProduto]"
	if q != want {
		t.Errorf("next page:\n got %s\nwant %s", q, want)
	}
	// Text travels as nvarchar(max) whatever its length: one plan for all.
	if len(args) != 4 || args[0] != mssql.NVarCharMax("7") || args[3] != mssql.NVarCharMax("ABC  ") {
		t.Errorf("args = %#v", args)
	}

	q, _ = buildPageQuery(d, e, PageRequest{Limit: 10, KeysOnly: true})
	if !strings.HasPrefix(q, "SELECT TOP (11) [CodTabela], [CodProduto] FROM") {
		t.Errorf("key scan reads more than keys: %s", q)
	}
	for _, bad := range []string{"NOLOCK", "READUNCOMMITTED", "READ UNCOMMITTED", "INSERT", "UPDATE ", "DELETE", "EXEC"} {
		if strings.Contains(strings.ToUpper(q), bad) {
			t.Errorf("generated T-SQL contains %s: %s", bad, q)
		}
	}
}

func TestMSSQLRowVersionWindow(t *testing.T) {
	d := mssqlDialect{}
	e := testEntity(t, d, "dbo.TabelaPrecos", "",
		rawColumn{Name: "CodTabela", Type: "int"},
		rawColumn{Name: "CodProduto", Type: "int"})
	rv := rawColumn{Name: "RowVer", Type: "timestamp", MaxLength: 8}
	rv.FullType = mssqlDecl(rv)
	sc, _ := d.mapColumn(rv)
	sc.Source = "RowVer"
	e.cursor = &column{Column: sc, raw: rv}
	e.Spec.Cursor = &syncv1alpha1.CursorSpec{Column: "RowVer", Kind: syncv1alpha1.CursorRowVersion}

	w, err := e.Window(e.watermark("0x00000000000007D1"), e.watermark("0x0000000000000800"))
	if err != nil || w == nil {
		t.Fatal(w, err)
	}
	q, args := buildPageQuery(d, e, PageRequest{Limit: 100, Cursor: w})
	want := "SELECT TOP (101) [CodTabela], [CodProduto] FROM [dbo].[TabelaPrecos] WHERE ([RowVer] >= CAST(@p1 AS binary(8)) AND [RowVer] < CAST(@p2 AS binary(8))) ORDER BY [CodTabela], [CodProduto]"
	if q != want {
		t.Errorf("window:\n got %s\nwant %s", q, want)
	}
	if b, ok := args[0].([]byte); !ok || len(b) != 8 || b[6] != 0x07 || b[7] != 0xd1 {
		t.Errorf("lower bound argument %v", args[0])
	}
	if got := d.rowVersionCapQuery(); got != "SELECT MIN_ACTIVE_ROWVERSION()" {
		t.Errorf("cap query %s", got)
	}
	// First run, a watermark of other columns or of an older release:
	// no window, everything is read.
	for _, stored := range []string{"", "0x00000000000007D1", "v2:0123456789abcdef:0x00000000000007D1"} {
		if w, err := e.Window(stored, e.watermark("0x0000000000000800")); w != nil || err != nil {
			t.Errorf("stored %q: window %+v %v, want none", stored, w, err)
		}
	}
}

// UpdatedAt windows start at the stored watermark (minus the look-back),
// included, with the column's own precision and no upper bound; a DATE
// column starts at the day; the watermark is the column's largest value
// no more than 15 hours past UTC now (written in any zone), not a clock.
func TestUpdatedAtWindow(t *testing.T) {
	d := mssqlDialect{}
	e := testEntity(t, d, "dbo.Precos", "", rawColumn{Name: "Id", Type: "int"})
	ts := rawColumn{Name: "Alterado", Type: "datetime", Scale: 3}
	ts.FullType = mssqlDecl(ts)
	sc, _ := d.mapColumn(ts)
	sc.Source = "Alterado"
	e.cursor = &column{Column: sc, raw: ts}
	e.Spec.Cursor = &syncv1alpha1.CursorSpec{Column: "Alterado", Kind: syncv1alpha1.CursorUpdatedAt, LookbackSeconds: 60}
	w, err := e.Window(e.watermark("2024-02-29 10:00:00.123"), "")
	if err != nil || w == nil {
		t.Fatal(w, err)
	}
	q, args := buildPageQuery(d, e, PageRequest{Limit: 10, Cursor: w})
	// ISO 8601 with a 'T': a datetime reads 'yyyy-mm-dd hh:mm' by the
	// login's language, and under Portuguese 2024-02-29 has month 29.
	if !strings.Contains(q, "WHERE ([Alterado] >= CAST(@p1 AS datetime)) ORDER BY") || args[0] != "2024-02-29T09:59:00.123" {
		t.Errorf("window %s %v", q, args)
	}
	if got := formatCursorTime(e.cursor, time.Date(2024, 2, 29, 10, 0, 0, 123_456_789, time.UTC)); got != "2024-02-29 10:00:00.123" {
		t.Errorf("datetime watermark %s: a datetime takes three fractional digits", got)
	}
	if q := d.cursorMaxQuery(e.cursor, "[Alterado]", "[dbo].[Precos]", 15*time.Hour); q != "SELECT MAX([Alterado]) FROM [dbo].[Precos] WHERE [Alterado] <= DATEADD(second, 54000, SYSUTCDATETIME())" {
		t.Errorf("watermark query %s", q)
	}
	e.cursor.Kind = schema.KindDate
	if w, _ := e.Window(e.watermark("2024-03-01"), ""); w == nil || w.from != "2024-02-29" {
		t.Errorf("a DATE cursor with a minute of look-back starts at %+v", w)
	}
}

func TestMSSQLDeleteVerificationQuery(t *testing.T) {
	d := mssqlDialect{}
	e := testEntity(t, d, "dbo.Produtos", "Ativo = 1",
		rawColumn{Name: "Id", Type: "uniqueidentifier"},
		rawColumn{Name: "Loja", Type: "int"})
	keys := []Row{{[]byte("6F9619FF-8B86-D011-B42D-00C04FC964FF"), []byte("1")}, {[]byte("00000000-0000-0000-0000-000000000001"), []byte("2")}}
	q, args, err := buildLookup(d, e, keys, 0, 2, 2)
	if err != nil {
		t.Fatal(err)
	}
	want := "SELECT sisporta_c.sisporta_i FROM (" +
		"SELECT 0 AS sisporta_i, CAST(@p1 AS uniqueidentifier) AS sisporta_k0, CAST(@p2 AS int) AS sisporta_k1 UNION ALL " +
		"SELECT 1 AS sisporta_i, CAST(@p3 AS uniqueidentifier) AS sisporta_k0, CAST(@p4 AS int) AS sisporta_k1) sisporta_c " +
		"WHERE EXISTS (SELECT 1 FROM [dbo].[Produtos] WHERE (Ativo = 1) AND [dbo].[Produtos].[Id] = sisporta_c.sisporta_k0 AND [dbo].[Produtos].[Loja] = sisporta_c.sisporta_k1)"
	if q != want {
		t.Errorf("lookup:\n got %s\nwant %s", q, want)
	}
	if len(args) != 4 || args[0] != mssql.NVarCharMax("6F9619FF-8B86-D011-B42D-00C04FC964FF") {
		t.Errorf("args %v", args)
	}
}

func TestMSSQLQuoting(t *testing.T) {
	d := mssqlDialect{}
	if got := d.quoteTable("erp.dbo.Order Items"); got != "[erp].[dbo].[Order Items]" {
		t.Errorf("quoteTable: %s", got)
	}
	if got := d.quote("a]b"); got != "[a]]b]" {
		t.Errorf("quote: %s", got)
	}
}
