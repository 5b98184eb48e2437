package source

import (
	"crypto/sha256"
	"encoding/binary"
	"strings"
	"testing"

	mssql "github.com/microsoft/go-mssqldb"

	"github.com/sisporta/sisporta/runner/schema"
)

// The SQL Server row bytes, pinned per type: each piece must be exact for
// its type (every digit of a decimal's scale and of fractional seconds,
// money's four decimals, the 17 digits that tell two floats apart, text
// and bytes as stored, counted), and NULL must read 'N'. None of this can
// be run here; TestSQLServerDialect runs it on a real server.
func TestMSSQLDigestPieces(t *testing.T) {
	cases := []struct {
		rc   rawColumn
		want string
	}{
		{rawColumn{Type: "tinyint"}, "CAST(CONVERT(varchar(20), [C]) AS varbinary(max))"},
		{rawColumn{Type: "smallint"}, "CAST(CONVERT(varchar(20), [C]) AS varbinary(max))"},
		{rawColumn{Type: "int"}, "CAST(CONVERT(varchar(20), [C]) AS varbinary(max))"},
		{rawColumn{Type: "bigint"}, "CAST(CONVERT(varchar(20), [C]) AS varbinary(max))"},
		{rawColumn{Type: "bit"}, "CAST(CONVERT(varchar(1), [C]) AS varbinary(max))"},
		{rawColumn{Type: "decimal", Precision: 38, Scale: 10}, "CAST(CONVERT(varchar(48), [C]) AS varbinary(max))"},
		{rawColumn{Type: "numeric", Precision: 9, Scale: 2}, "CAST(CONVERT(varchar(48), [C]) AS varbinary(max))"},
		{rawColumn{Type: "money"}, "CAST(CONVERT(varchar(32), [C], 2) AS varbinary(max))"},
		{rawColumn{Type: "smallmoney"}, "CAST(CONVERT(varchar(32), [C], 2) AS varbinary(max))"},
		{rawColumn{Type: "float", Precision: 53}, "CAST(CONVERT(varchar(32), [C], 3) AS varbinary(max))"},
		{rawColumn{Type: "real", Precision: 24}, "CAST(CONVERT(varchar(32), CAST([C] AS float), 3) AS varbinary(max))"},
		{rawColumn{Type: "date"}, "CAST(CAST([C] AS varchar(40)) AS varbinary(max))"},
		{rawColumn{Type: "time", Scale: 7}, "CAST(CAST([C] AS varchar(40)) AS varbinary(max))"},
		{rawColumn{Type: "datetime2", Scale: 7}, "CAST(CAST([C] AS varchar(40)) AS varbinary(max))"},
		{rawColumn{Type: "datetimeoffset", Scale: 7}, "CAST(CAST([C] AS varchar(40)) AS varbinary(max))"},
		{rawColumn{Type: "datetime"}, "CAST(CONVERT(varchar(23), [C], 121) AS varbinary(max))"},
		{rawColumn{Type: "smalldatetime"}, "CAST(CONVERT(varchar(19), [C], 120) AS varbinary(max))"},
		{rawColumn{Type: "uniqueidentifier"}, "CAST(CONVERT(char(36), [C]) AS varbinary(max))"},
		{rawColumn{Type: "nvarchar", MaxLength: 40, Collation: "Latin1_General_CI_AS"}, "CAST(CONVERT(varchar(20), DATALENGTH([C])) + ':' AS varbinary(max)) + CAST([C] AS varbinary(max))"},
		{rawColumn{Type: "varchar", MaxLength: -1, Collation: "Latin1_General_100_CI_AS_SC_UTF8"}, "CAST(CONVERT(varchar(20), DATALENGTH([C])) + ':' AS varbinary(max)) + CAST([C] AS varbinary(max))"},
		{rawColumn{Type: "char", MaxLength: 10, Collation: "Latin1_General_CS_AS"}, "CAST(CONVERT(varchar(20), DATALENGTH([C])) + ':' AS varbinary(max)) + CAST([C] AS varbinary(max))"},
		{rawColumn{Type: "ntext", MaxLength: 16}, "CAST(CONVERT(varchar(20), DATALENGTH([C])) + ':' AS varbinary(max)) + CAST([C] AS varbinary(max))"},
		{rawColumn{Type: "xml", MaxLength: -1}, "CAST(CONVERT(varchar(20), DATALENGTH(CAST([C] AS nvarchar(max)))) + ':' AS varbinary(max)) + CAST(CAST([C] AS nvarchar(max)) AS varbinary(max))"},
		{rawColumn{Type: "varbinary", MaxLength: 8}, "CAST(CONVERT(varchar(20), DATALENGTH([C])) + ':' AS varbinary(max)) + CAST([C] AS varbinary(max))"},
		{rawColumn{Type: "binary", MaxLength: 4}, "CAST(CONVERT(varchar(20), DATALENGTH([C])) + ':' AS varbinary(max)) + CAST([C] AS varbinary(max))"},
		{rawColumn{Type: "image", MaxLength: 16}, "CAST(CONVERT(varchar(20), DATALENGTH([C])) + ':' AS varbinary(max)) + CAST([C] AS varbinary(max))"},
		{rawColumn{Type: "timestamp", MaxLength: 8}, "CAST(CONVERT(varchar(20), DATALENGTH([C])) + ':' AS varbinary(max)) + CAST([C] AS varbinary(max))"},
		{rawColumn{Type: "geography", MaxLength: -1}, "CAST(CONVERT(varchar(20), DATALENGTH([C])) + ':' AS varbinary(max)) + CAST([C] AS varbinary(max))"},
		{rawColumn{Type: "hierarchyid", MaxLength: 892}, "CAST(CONVERT(varchar(20), DATALENGTH([C])) + ':' AS varbinary(max)) + CAST([C] AS varbinary(max))"},
	}
	for _, c := range cases {
		c.rc.Name = "C"
		col := mssqlColumn(t, c.rc, 0)
		if got := mssqlDigestPiece(col); got != c.want {
			t.Errorf("%s:\n got %s\nwant %s", c.rc.FullType, got, c.want)
		}
	}
}

// The whole range digest statement and the page read's row hash.
func TestMSSQLRangeDigestQuery(t *testing.T) {
	d := mssqlDialect{}
	e := testEntity(t, d, "dbo.TabelaPrecos", "Ativo = 1",
		rawColumn{Name: "CodTabela", Type: "int"},
		rawColumn{Name: "CodProduto", Type: "nvarchar", MaxLength: 40, Collation: "Latin1_General_CI_AS"},
		rawColumn{Name: "Preço", Type: "money", Nullable: true},
		rawColumn{Name: "Nome", Type: "varchar", MaxLength: 20, Nullable: false})
	row := "CAST(0x AS varbinary(max)) + CAST(CONVERT(varchar(20), [CodTabela]) AS varbinary(max))" +
		" + 0x23 + CAST(CONVERT(varchar(20), DATALENGTH([CodProduto])) + ':' AS varbinary(max)) + CAST([CodProduto] AS varbinary(max))" +
		" + 0x23 + ISNULL(CAST(CONVERT(varchar(32), [Preço], 2) AS varbinary(max)), 0x4E)" +
		" + 0x23 + CAST(CONVERT(varchar(20), DATALENGTH([Nome])) + ':' AS varbinary(max)) + CAST([Nome] AS varbinary(max))"
	if got := mssqlRowBytes(e.cols, mssqlNullable); got != row {
		t.Fatalf("row bytes:\n got %s\nwant %s", got, row)
	}
	b := &sqlBuilder{d: d}
	conds := e.rangeConds(b, []any{"7", "ABC  "}, []any{"9", "X"})
	q := d.rangeDigestQuery(e.cols, false, "3", e.from, strings.Join(conds, " AND "))
	want := "SELECT 3, COUNT_BIG(*), ISNULL(SUM(CAST(SUBSTRING(sisporta_h.h, 1, 4) AS bigint)), 0), ISNULL(SUM(CAST(SUBSTRING(sisporta_h.h, 5, 4) AS bigint)), 0)," +
		" ISNULL(SUM(CAST(SUBSTRING(sisporta_h.h, 9, 4) AS bigint)), 0), ISNULL(SUM(CAST(SUBSTRING(sisporta_h.h, 13, 4) AS bigint)), 0)" +
		" FROM [dbo].[TabelaPrecos] CROSS APPLY (SELECT HASHBYTES('SHA2_256', " + row + ") AS h) AS sisporta_h" +
		" WHERE (Ativo = 1)" +
		" AND ([CodTabela] >= CAST(@p1 AS int) AND ([CodTabela] > CAST(@p2 AS int) OR ([CodTabela] = CAST(@p3 AS int) AND [CodProduto] > CAST(@p4 COLLATE Latin1_General_CI_AS AS nvarchar(20)))))" +
		" AND ([CodTabela] <= CAST(@p5 AS int) AND ([CodTabela] < CAST(@p6 AS int) OR ([CodTabela] = CAST(@p7 AS int) AND [CodProduto] <= CAST(@p8 COLLATE Latin1_General_CI_AS AS nvarchar(20)))))"
	if q != want {
		t.Errorf("range digest:\n got %s\nwant %s", q, want)
	}
	if len(b.args) != 8 || b.args[3] != mssql.NVarCharMax("ABC  ") || b.args[7] != mssql.NVarCharMax("X") {
		t.Errorf("args = %#v", b.args)
	}
	page, _ := buildPageQuery(d, e, PageRequest{Limit: 10, Digest: true, UpTo: []any{"9", "X"}})
	if !strings.HasPrefix(page, "SELECT TOP (11) [CodTabela], [CodProduto], [Preço], [Nome], HASHBYTES('SHA2_256', "+row+") FROM [dbo].[TabelaPrecos] WHERE (Ativo = 1) AND ([CodTabela] <= CAST(@p1 AS int)") {
		t.Errorf("page with row hashes: %s", page)
	}
	for _, bad := range []string{"NOLOCK", "READUNCOMMITTED", "INSERT", "UPDATE ", "DELETE", "EXEC"} {
		if strings.Contains(strings.ToUpper(q+page), bad) {
			t.Errorf("generated T-SQL contains %s", bad)
		}
	}
}

// The extractor sums a page's row hashes exactly as the statement sums
// them: four big-endian 32-bit pieces of each SHA2_256, as bigint sums;
// the digests of two ranges add up to the digest of both.
func TestMSSQLRowDigestsSumLikeTheServer(t *testing.T) {
	d := mssqlDialect{}
	var rows [][]byte
	var want [4]uint64
	for _, v := range []string{"a", "b", "c", "\x00", ""} {
		h := sha256.Sum256([]byte(v))
		rows = append(rows, h[:])
		for i := range 4 {
			want[i] += uint64(binary.BigEndian.Uint32(h[4*i:]))
		}
	}
	// A page of one column read with its row hash after it.
	rd := d.rowDigest([]column{{}}, false)
	if len(rd.exprs) != 1 {
		t.Fatalf("a page read selects %d row hash expressions, want 1", len(rd.exprs))
	}
	fold := func(dg *schema.SourceDigest, h []byte) error {
		p, _, err := rd.hash(nil, nil, []any{[]byte("value"), h})
		dg.Add(p...)
		return err
	}
	all, first, rest := d.newDigest(), d.newDigest(), d.newDigest()
	for i, h := range rows {
		if err := fold(&all, h); err != nil {
			t.Fatal(err)
		}
		part := &rest
		if i < 2 {
			part = &first
		}
		_ = fold(part, h)
	}
	if all.Count != 5 || all.Parts != want || !all.Sum {
		t.Fatalf("folded %+v, want 5 rows of %v", all, want)
	}
	if first.Combine(rest) != all {
		t.Fatalf("two ranges combine to %+v, not %+v", first.Combine(rest), all)
	}
	got, err := d.scanRangeDigest([]any{int64(5), int64(want[0]), int64(want[1]), int64(want[2]), int64(want[3])})
	if err != nil || got != all {
		t.Fatalf("scanned %+v (%v), want %+v", got, err, all)
	}
	if s, err := schema.ParseSourceDigest(all.String()); err != nil || s != all {
		t.Fatalf("%s reads back as %+v (%v)", all.String(), s, err)
	}
	if err := fold(&all, []byte{1, 2}); err == nil {
		t.Fatal("a short row hash was taken")
	}
}
