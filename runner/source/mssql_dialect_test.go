package source

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	mssql "github.com/microsoft/go-mssqldb"

	syncv1alpha1 "github.com/sisporta/sisporta/api/v1alpha1"
	"github.com/sisporta/sisporta/runner/failure"
	"github.com/sisporta/sisporta/runner/schema"
)

// The T-SQL and parameters of each SQL Server dialect defect a review
// found, pinned: none of them can be caught here by a real server.

// mssqlColumn resolves a raw column as Resolve does, as key position key.
func mssqlColumn(t *testing.T, rc rawColumn, key int) *column {
	t.Helper()
	rc.FullType = mssqlDecl(rc)
	sc, err := mssqlDialect{}.mapColumn(rc)
	if err != nil {
		t.Fatal(err)
	}
	sc.Source, sc.Name, sc.Key = rc.Name, rc.Name, key
	return &column{Column: sc, raw: rc}
}

// datetime and smalldatetime literals are read by the login's language
// unless they are ISO 8601 with a 'T'; a datetime takes three fractional
// digits at most (Msg 241 otherwise), a smalldatetime whole minutes.
func TestMSSQLDateTimeParametersIgnoreLanguage(t *testing.T) {
	d := mssqlDialect{}
	cases := []struct {
		typ   string
		scale int
		in    string
		want  any
	}{
		{"datetime", 3, "2024-02-13 10:00:00.123", "2024-02-13T10:00:00.123"},
		{"datetime", 3, "2024-02-13 10:00:00.123456", "2024-02-13T10:00:00.123"},
		{"datetime", 3, "2024-02-13 10:00:00", "2024-02-13T10:00:00"},
		{"datetime", 3, "2024-02-13", "20240213"},
		{"smalldatetime", 0, "2024-02-13 10:01:00", "2024-02-13T10:01:00"},
		{"smalldatetime", 0, "2024-02-13 10:01:59.5", "2024-02-13T10:01:00"}, // a lower bound moves down, never up
		// The newer types read yyyy-mm-dd alike in every language.
		{"datetime2", 7, "2024-02-13 10:00:00.1234567", mssql.NVarCharMax("2024-02-13 10:00:00.1234567")},
		{"datetimeoffset", 7, "2024-02-13 10:00:00.1234567 +02:00", mssql.NVarCharMax("2024-02-13 10:00:00.1234567 +02:00")},
		{"date", 0, "2024-02-13", mssql.NVarCharMax("2024-02-13")},
	}
	for _, c := range cases {
		col := mssqlColumn(t, rawColumn{Name: "At", Type: c.typ, Scale: c.scale}, 1)
		if got := d.arg(col, c.in); got != c.want {
			t.Errorf("%s %q -> %#v, want %#v", c.typ, c.in, got, c.want)
		}
	}

	// Every path a datetime key value takes gets the ISO form: the next
	// page's bound, the delete lookup, the UpdatedAt window.
	e := testEntity(t, d, "dbo.Eventos", "", rawColumn{Name: "Quando", Type: "datetime", Scale: 3}, rawColumn{Name: "Loja", Type: "smalldatetime"})
	at := time.Date(2024, 2, 13, 10, 0, 0, 3_333_333, time.UTC)
	c0 := &e.cols[0]
	last := d.keyParam(c0, at, []byte(schema.FormatDateTime(at, 3)))
	_, args := buildPageQuery(d, e, PageRequest{Limit: 10, After: []any{last, "2024-02-13 10:01:00"}})
	if args[0] != "2024-02-13T10:00:00.003" || args[3] != "2024-02-13T10:01:00" {
		t.Errorf("next page arguments %#v", args)
	}
	_, args, err := buildLookup(d, e, []Row{{[]byte("2024-02-13 10:00:00.003"), []byte("2024-02-13 10:01:00")}}, 0, 1, 1)
	if err != nil || args[0] != "2024-02-13T10:00:00.003" || args[1] != "2024-02-13T10:01:00" {
		t.Errorf("lookup arguments %#v %v", args, err)
	}
}

// The watermark's cap compares like with like: instants for
// datetimeoffset (SYSDATETIMEOFFSET), days for date, the UTC clock for
// zone-less types. A date cursor rereads its whole last day; a
// datetimeoffset watermark is UTC and is compared as an instant.
func TestMSSQLUpdatedAtByColumnType(t *testing.T) {
	d := mssqlDialect{}
	cases := map[string]string{
		"datetimeoffset": "SELECT MAX([At]) FROM [dbo].[T] WHERE [At] <= DATEADD(second, 54000, SYSDATETIMEOFFSET())",
		"date":           "SELECT MAX([At]) FROM [dbo].[T] WHERE [At] <= CAST(DATEADD(second, 54000, SYSUTCDATETIME()) AS date)",
		"datetime2":      "SELECT MAX([At]) FROM [dbo].[T] WHERE [At] <= DATEADD(second, 54000, SYSUTCDATETIME())",
		"datetime":       "SELECT MAX([At]) FROM [dbo].[T] WHERE [At] <= DATEADD(second, 54000, SYSUTCDATETIME())",
		"smalldatetime":  "SELECT MAX([At]) FROM [dbo].[T] WHERE [At] <= DATEADD(second, 54000, SYSUTCDATETIME())",
	}
	for typ, want := range cases {
		c := mssqlColumn(t, rawColumn{Name: "At", Type: typ, Scale: 7}, 0)
		if got := d.cursorMaxQuery(c, "[At]", "[dbo].[T]", maxClockAhead); got != want {
			t.Errorf("%s:\n got %s\nwant %s", typ, got, want)
		}
	}

	e := testEntity(t, d, "dbo.T", "", rawColumn{Name: "Id", Type: "int"})
	e.Spec.Cursor = &syncv1alpha1.CursorSpec{Column: "At", Kind: syncv1alpha1.CursorUpdatedAt, LookbackSeconds: 60}

	// date: a minute of look-back still reads the whole day.
	e.cursor = mssqlColumn(t, rawColumn{Name: "At", Type: "date"}, 0)
	w, err := e.Window(e.watermark("2024-03-01"), "")
	if err != nil || w == nil || w.from != "2024-02-29" {
		t.Fatalf("date window %+v %v", w, err)
	}
	_, args := buildPageQuery(d, e, PageRequest{Limit: 10, Cursor: w})
	if args[0] != mssql.NVarCharMax("2024-02-29") {
		t.Errorf("date bound %#v", args[0])
	}

	// datetimeoffset: the driver's value, 01:30 at +02:00, is 23:30 UTC the
	// day before; the bound carries no offset and so means UTC.
	e.cursor = mssqlColumn(t, rawColumn{Name: "At", Type: "datetimeoffset", Scale: 7}, 0)
	high := formatCursorTime(e.cursor, time.Date(2024, 1, 1, 1, 30, 0, 0, time.FixedZone("", 2*3600)))
	if high != "2023-12-31 23:30:00.0000000" {
		t.Errorf("datetimeoffset watermark %s", high)
	}
	w, err = e.Window(e.watermark(high), "")
	if err != nil || w == nil {
		t.Fatal(w, err)
	}
	q, args := buildPageQuery(d, e, PageRequest{Limit: 10, Cursor: w})
	if !strings.Contains(q, "([At] >= CAST(@p1 AS datetimeoffset(7)))") || args[0] != mssql.NVarCharMax("2023-12-31 23:29:00.0000000") {
		t.Errorf("datetimeoffset window %s %#v", q, args)
	}
}

// A key collation's sensitivity travels to the target, which makes key
// columns tell apart at least as much: Latin1_General_CI_AS has 'José'
// and 'Jose' as two keys.
func TestMSSQLCollationSensitivity(t *testing.T) {
	cases := map[string]schema.TextCompare{
		"":                                 "",
		"Latin1_General_CI_AI":             "",
		"SQL_Latin1_General_CP1_CI_AS":     schema.CompareAccents,
		"Latin1_General_100_CI_AS_SC_UTF8": schema.CompareAccents,
		"Modern_Spanish_CS_AS":             schema.CompareCase,
		"Latin1_General_CS_AI":             schema.CompareCase,
		"Japanese_CI_AS_KS":                schema.CompareBinary,
		"Japanese_CI_AS_KS_WS":             schema.CompareBinary,
		"Latin1_General_BIN":               schema.CompareBinary,
		"Latin1_General_100_BIN2_UTF8":     schema.CompareBinary,
	}
	for coll, want := range cases {
		if got := textCompare(coll); got != want {
			t.Errorf("%s -> %q, want %q", coll, got, want)
		}
		c := mssqlColumn(t, rawColumn{Name: "Cod", Type: "nvarchar", MaxLength: 40, Collation: coll}, 1)
		if c.Compare != want || strings.Contains(c.Type, "COLLATE") {
			t.Errorf("%s: column %+v: the target picks the collation", coll, c.Column)
		}
	}
}

// The delete check compares text keys byte for byte beside the seekable
// '=': under CI_AS, 'abc' = 'ABC' and 'abc' = 'abc  ', so a key changed
// only in case or trailing spaces would be "still there" and its old form
// stay in the mirror forever.
func TestMSSQLDeleteCheckIsExact(t *testing.T) {
	d := mssqlDialect{}
	e := testEntity(t, d, "dbo.Clientes", "",
		rawColumn{Name: "Cod", Type: "varchar", MaxLength: 20, Collation: "Cyrillic_General_CI_AS"},
		rawColumn{Name: "Loja", Type: "int"})
	q, args, err := buildLookup(d, e, []Row{{[]byte("Жук "), []byte("1")}}, 0, 1, 1)
	if err != nil {
		t.Fatal(err)
	}
	want := "SELECT sisporta_c.sisporta_i FROM (SELECT 0 AS sisporta_i, CAST(@p1 COLLATE Cyrillic_General_CI_AS AS varchar(20)) AS sisporta_k0, CAST(@p2 AS int) AS sisporta_k1) sisporta_c " +
		"WHERE EXISTS (SELECT 1 FROM [dbo].[Clientes] WHERE [dbo].[Clientes].[Cod] = sisporta_c.sisporta_k0 AND " +
		"CAST([dbo].[Clientes].[Cod] AS varbinary(max)) = CAST(sisporta_c.sisporta_k0 AS varbinary(max)) AND [dbo].[Clientes].[Loja] = sisporta_c.sisporta_k1)"
	if q != want {
		t.Errorf("lookup:\n got %s\nwant %s", q, want)
	}
	// The value travels as Unicode and becomes varchar in the column's
	// own code page (1251), not the database default's, where Ж is '?'.
	if args[0] != mssql.NVarCharMax("Жук ") {
		t.Errorf("args %#v", args)
	}
	// The fetch of missing rows matches keys the same way.
	q, _, err = buildFetch(d, e, []Row{{[]byte("Жук"), []byte("1")}}, 0, 1)
	if err != nil || !strings.Contains(q, "CAST([dbo].[Clientes].[Cod] AS varbinary(max)) = CAST(sisporta_c.sisporta_k0 AS varbinary(max))") {
		t.Errorf("fetch %s %v", q, err)
	}
}

// varchar in a _UTF8 collation is read as nvarchar (go-mssqldb decodes
// varchar by the collation's code page and ignores the UTF-8 flag); CLR
// types are read as text; a CLR column in a table no longer fails the
// describe (TYPE_NAME(system_type_id) is NULL for them).
func TestMSSQLReadsUTF8VarcharAndCLRTypes(t *testing.T) {
	d := mssqlDialect{}
	cases := []struct {
		rc   rawColumn
		want string
	}{
		{rawColumn{Name: "Nome", Type: "varchar", MaxLength: 60, Collation: "Latin1_General_100_CI_AS_SC_UTF8"}, "CAST([Nome] AS nvarchar(60))"},
		{rawColumn{Name: "Obs", Type: "varchar", MaxLength: -1, Collation: "Latin1_General_100_CI_AS_SC_UTF8"}, "CAST([Obs] AS nvarchar(max))"},
		{rawColumn{Name: "Cod", Type: "char", MaxLength: 10, Collation: "Latin1_General_100_BIN2_UTF8"}, "CAST([Cod] AS nvarchar(10))"},
		{rawColumn{Name: "Velho", Type: "varchar", MaxLength: 60, Collation: "SQL_Latin1_General_CP1_CI_AS"}, "[Velho]"},
		{rawColumn{Name: "Local", Type: "geography", MaxLength: -1}, "[Local].AsTextZM()"},
		{rawColumn{Name: "Forma", Type: "geometry", MaxLength: -1}, "[Forma].AsTextZM()"},
		{rawColumn{Name: "No", Type: "hierarchyid", MaxLength: 892}, "[No].ToString()"},
	}
	for _, c := range cases {
		if got := d.selectExpr(mssqlColumn(t, c.rc, 0)); got != c.want {
			t.Errorf("%s: %s, want %s", c.rc.Name, got, c.want)
		}
	}
	if !strings.Contains(mssqlDescribeTable, "COALESCE(TYPE_NAME(c.system_type_id), TYPE_NAME(c.user_type_id))") {
		t.Error("the describe query names CLR types by system type only")
	}
	for _, typ := range []string{"geography", "hierarchyid", "ntext"} {
		err := d.prepare(mssqlColumn(t, rawColumn{Name: "K", Type: typ, MaxLength: -1}, 1))
		if err == nil || !strings.Contains(err.Error(), "cannot be a key column") {
			t.Errorf("%s key: %v", typ, err)
		}
		if err := d.prepare(mssqlColumn(t, rawColumn{Name: "K", Type: typ, MaxLength: -1}, 0)); err != nil {
			t.Errorf("%s non-key: %v", typ, err)
		}
	}
	// A key of a UTF-8 varchar: the parameter takes the column's collation
	// before it becomes varchar.
	c := mssqlColumn(t, cases[0].rc, 1)
	if got := d.keyExpr(c, "@p1"); got != "CAST(@p1 COLLATE Latin1_General_100_CI_AS_SC_UTF8 AS varchar(60))" {
		t.Errorf("keyExpr %s", got)
	}
}

// uniqueidentifier keys say that SQL Server orders them its own way, so
// the target compares batch ranges in that order.
func TestMSSQLGUIDKeysCarryTheirOrder(t *testing.T) {
	c := mssqlColumn(t, rawColumn{Name: "Id", Type: "uniqueidentifier"}, 1)
	if c.Order != schema.OrderSQLServerGUID {
		t.Errorf("order %q", c.Order)
	}
	if n := mssqlColumn(t, rawColumn{Name: "N", Type: "int"}, 1); n.Order != "" {
		t.Errorf("int order %q", n.Order)
	}
}

// Each session waits for locks at most the lock timeout and reads at the
// chosen isolation, set again after every pool reset.
func TestMSSQLSessionSettings(t *testing.T) {
	sec := int32(5)
	cases := []struct {
		spec syncv1alpha1.SourceSpec
		want string
	}{
		{syncv1alpha1.SourceSpec{}, "SET LOCK_TIMEOUT 30000; SET TRANSACTION ISOLATION LEVEL READ COMMITTED;"},
		{syncv1alpha1.SourceSpec{LockTimeoutSeconds: &sec, Isolation: syncv1alpha1.IsolationSnapshot}, "SET LOCK_TIMEOUT 5000; SET TRANSACTION ISOLATION LEVEL SNAPSHOT;"},
	}
	for _, c := range cases {
		if got := mssqlSessionInit(c.spec); got != c.want {
			t.Errorf("%+v: %s", c.spec, got)
		}
	}
}

// A read that waited out the lock timeout or lost a deadlock is tried
// again; other errors are not; after the last try the error says what
// holds it up and what to do.
func TestReadsRetryLockConflicts(t *testing.T) {
	defer func(p time.Duration) { lockRetryPause = p }(lockRetryPause)
	lockRetryPause = time.Millisecond
	s := &Source{d: mssqlDialect{}}
	conflicts := []error{
		mssql.Error{Number: 1222, Message: "Lock request time out period exceeded."},
		fmt.Errorf("entity x: %w", mssql.Error{Number: 1205, Message: "deadlock victim"}),
		&mysql.MySQLError{Number: 1213, Message: "Deadlock found"},
		&mysql.MySQLError{Number: 1205, Message: "Lock wait timeout exceeded"},
	}
	for _, conflict := range conflicts {
		tries := 0
		err := s.retryLocks(context.Background(), func() error {
			tries++
			if tries < 3 {
				return conflict
			}
			return nil
		})
		if err != nil || tries != 3 {
			t.Errorf("%v: %d tries, %v", conflict, tries, err)
		}
		tries = 0
		err = s.retryLocks(context.Background(), func() error { tries++; return conflict })
		if tries != lockRetries+1 || !errors.Is(err, conflict) && !errors.As(err, new(mssql.Error)) || !strings.Contains(err.Error(), "source.isolation: Snapshot") {
			t.Errorf("%v: %d tries, %v", conflict, tries, err)
		}
	}
	tries := 0
	other := mssql.Error{Number: 208, Message: "Invalid object name"}
	if err := s.retryLocks(context.Background(), func() error { tries++; return other }); tries != 1 || err == nil {
		t.Errorf("a missing table was retried: %d tries, %v", tries, err)
	}
}

// A login that can write is refused for SQL Server (no read-only
// transactions there), with how to make one that cannot, unless the spec
// accepts it; for MySQL it is a warning (reads run READ ONLY).
func TestWritableLoginVerdict(t *testing.T) {
	privs := []string{"UPDATE", "INSERT"}
	_, err := writeVerdict(syncv1alpha1.SourceSpec{Driver: syncv1alpha1.SourceSQLServer}, privs, "the source database")
	if err == nil || !failure.IsPermanent(err) || !strings.Contains(err.Error(), "db_datareader") || !strings.Contains(err.Error(), "allowWritableLogin") || !strings.Contains(err.Error(), "INSERT, UPDATE") {
		t.Errorf("SQL Server, writable: %v", err)
	}
	w, err := writeVerdict(syncv1alpha1.SourceSpec{Driver: syncv1alpha1.SourceSQLServer, AllowWritableLogin: true}, privs, "the source database")
	if err != nil || !strings.Contains(w, "can modify data") {
		t.Errorf("SQL Server, allowed: %q %v", w, err)
	}
	if w, err := writeVerdict(syncv1alpha1.SourceSpec{Driver: syncv1alpha1.SourceMySQL}, privs, "erp"); err != nil || w == "" {
		t.Errorf("MySQL: %q %v", w, err)
	}
	if w, err := writeVerdict(syncv1alpha1.SourceSpec{Driver: syncv1alpha1.SourceSQLServer}, nil, "the source database"); w != "" || err != nil {
		t.Errorf("read-only login: %q %v", w, err)
	}
}

// Lookups stay under SQL Server's 2100 parameters whatever the key's
// width, and the last chunk is padded to a few sizes so its plan is kept.
func TestMSSQLLookupChunks(t *testing.T) {
	for width := 1; width <= 16; width++ {
		if n := chunkSize(width); n*width > 2000 || n < 1 || (width <= 10 && n != 200) {
			t.Errorf("width %d: chunk %d (%d parameters)", width, n, n*width)
		}
	}
	if chunkSize(11) != 181 {
		t.Errorf("11-column key: chunk %d", chunkSize(11))
	}
	for n, want := range map[int]int{1: 1, 2: 2, 3: 4, 5: 8, 100: 128, 181: 181, 200: 200} {
		if got := paddedSize(n, chunkSize(11)); got != min(want, 181) {
			t.Errorf("padded(%d) = %d", n, got)
		}
	}
	d := mssqlDialect{}
	var cols []rawColumn
	for i := range 11 {
		cols = append(cols, rawColumn{Name: fmt.Sprintf("K%d", i), Type: "int"})
	}
	e := testEntity(t, d, "dbo.Larga", "", cols...)
	for i := range e.cols {
		e.cols[i].Key = i + 1
		e.Schema.Columns[i].Key = i + 1
	}
	keys := make([]Row, 3)
	for i := range keys {
		for j := range 11 {
			keys[i] = append(keys[i], []byte(fmt.Sprint(i*100+j)))
		}
	}
	q, args, err := buildLookup(d, e, keys, 0, 3, paddedSize(3, chunkSize(11)))
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Count(q, "UNION ALL"); got != 3 || len(args) != 44 {
		t.Errorf("3 keys padded to 4: %d unions, %d args", got, len(args))
	}
	if !strings.Contains(strings.Split(q, "UNION ALL")[3], "SELECT 2 AS sisporta_i") {
		t.Errorf("the padding repeats the last key: %s", q)
	}
}

// MySQL's limits are checked before a table is made, with what to do;
// keys that differ only below a microsecond fail with why.
func TestMSSQLLimits(t *testing.T) {
	var cols []column
	for i := range 17 {
		cols = append(cols, *mssqlColumn(t, rawColumn{Name: fmt.Sprintf("K%d", i), Type: "int"}, i+1))
	}
	if err := checkLimits(cols); err == nil || !strings.Contains(err.Error(), "at most 16") {
		t.Errorf("17-column key: %v", err)
	}
	cols = cols[:1]
	for i := range 1014 {
		cols = append(cols, *mssqlColumn(t, rawColumn{Name: fmt.Sprintf("C%d", i), Type: "int"}, 0))
	}
	if err := checkLimits(cols); err != nil {
		t.Errorf("1015 columns: %v", err)
	}
	cols = append(cols, *mssqlColumn(t, rawColumn{Name: "C", Type: "int"}, 0))
	if err := checkLimits(cols); err == nil || !strings.Contains(err.Error(), "list the columns to mirror") {
		t.Errorf("1016 columns: %v", err)
	}

	d := mssqlDialect{}
	e := testEntity(t, d, "dbo.Leituras", "", rawColumn{Name: "Em", Type: "datetime2", Scale: 7})
	err := e.duplicateKey(Row{[]byte("2024-01-01 10:00:00.123456")})
	if err == nil || !strings.Contains(err.Error(), "Em (datetime2(7))") || !strings.Contains(err.Error(), "below a microsecond") {
		t.Errorf("datetime2(7) duplicate: %v", err)
	}
	e = testEntity(t, d, "dbo.Leituras", "", rawColumn{Name: "Em", Type: "datetime2", Scale: 3})
	if err := e.duplicateKey(Row{[]byte("2024-01-01 10:00:00.123")}); strings.Contains(err.Error(), "microsecond") {
		t.Errorf("datetime2(3) duplicate: %v", err)
	}
}
