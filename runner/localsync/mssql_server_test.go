package localsync_test

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"sort"
	"strings"
	"testing"
	"time"

	_ "github.com/microsoft/go-mssqldb"

	"github.com/sisporta/sisporta/test/testenv"
)

// mssqlServer is a scratch database on the SQL Server that
// SISPORTA_TEST_MSSQL_DSN names (sqlserver://sa:pw@host:1433?database=master),
// with a login of its own that reads the way an ERP's reporting login
// does: language Português (dates read day first) and db_datareader only.
type mssqlServer struct {
	// admin is a sysadmin connection to the scratch database.
	admin *testenv.DB
	// adminDSN is the sysadmin DSN of the scratch database.
	adminDSN string
	// readerDSN logs in as the read-only login.
	readerDSN string
	name      string
}

func newMSSQL(t *testing.T) *mssqlServer {
	t.Helper()
	dsn := testenv.MSSQLDSN()
	if dsn == "" {
		t.Skip("SKIPPED: SQL Server integration test: set SISPORTA_TEST_MSSQL_DSN=sqlserver://sa:<pw>@<host>:1433?database=master to run it (CI's bitbucket pipeline does)")
	}
	master, err := sql.Open("sqlserver", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = master.Close() })
	s := &mssqlServer{name: "sisporta_it_" + testenv.Random(4)}
	login, password := "sisporta_ro_"+testenv.Random(4), "Ro_"+testenv.Random(8)+"!9a"
	mustExecMSSQL(t, master,
		"CREATE DATABASE "+s.name,
		fmt.Sprintf("CREATE LOGIN %s WITH PASSWORD = '%s', DEFAULT_LANGUAGE = [Português], CHECK_POLICY = OFF", login, password))
	t.Cleanup(func() {
		_, _ = master.Exec("ALTER DATABASE " + s.name + " SET SINGLE_USER WITH ROLLBACK IMMEDIATE; DROP DATABASE " + s.name)
		_, _ = master.Exec("DROP LOGIN " + login)
	})
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("database", s.name)
	u.RawQuery = q.Encode()
	s.adminDSN = u.String()
	admin, err := sql.Open("sqlserver", s.adminDSN)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = admin.Close() })
	s.admin = &testenv.DB{DB: admin, DSN: s.adminDSN, Name: s.name}
	mustExecMSSQL(t, admin, "CREATE USER "+login+" FOR LOGIN "+login, "ALTER ROLE db_datareader ADD MEMBER "+login)
	u.User = url.UserPassword(login, password)
	s.readerDSN = u.String()

	reader, err := sql.Open("sqlserver", s.readerDSN)
	if err != nil {
		t.Fatal(err)
	}
	defer reader.Close()
	var lang string
	if err := reader.QueryRow("SELECT @@LANGUAGE").Scan(&lang); err != nil || lang != "Português" {
		t.Fatalf("the reader login's language is %q (%v), want Português", lang, err)
	}
	return s
}

func mustExecMSSQL(t *testing.T, db *sql.DB, stmts ...string) {
	t.Helper()
	for _, q := range stmts {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
}

// TestSQLServerDialect runs each SQL Server case a review found wrong,
// through a whole run, as a login that can only read and reads dates day
// first.
func TestSQLServerDialect(t *testing.T) {
	s := newMSSQL(t)
	t.Parallel()
	admin := s.admin.DB

	t.Run("a login that can write is refused unless allowed", func(t *testing.T) {
		mustExecMSSQL(t, admin, "CREATE TABLE dbo.Simples (Id int PRIMARY KEY, Nome nvarchar(20) NOT NULL)", "INSERT INTO dbo.Simples VALUES (1, N'um')")
		dst := testenv.NewDB(t, "mssqlw")
		manifest := `
apiVersion: sync.sisporta.io/v1alpha1
kind: SyncPipeline
metadata: {name: writable}
spec:
  schedule: "@hourly"
  source: {driver: sqlserver, dsnSecretRef: {name: s, key: dsn}%s}
  target: {dsnSecretRef: {name: t, key: dsn}}
  entities:
  - {name: simples, source: {table: dbo.Simples}, target: {table: simples}}
`
		err := syncErr(t, testenv.Pipeline(t, fmt.Sprintf(manifest, "")), s.adminDSN, dst.DSN)
		if err == nil || !strings.Contains(err.Error(), "db_datareader") || !strings.Contains(err.Error(), "allowWritableLogin") {
			t.Fatalf("a sysadmin login: %v", err)
		}
		if n := dst.Count(t, "information_schema.TABLES", "TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'simples'"); n != 0 {
			t.Errorf("the refused run made the target table")
		}
		sum := runWith(t, testenv.Pipeline(t, fmt.Sprintf(manifest, ", allowWritableLogin: true")), s.adminDSN, dst.DSN)
		mustSucceed(t, sum)
		if len(sum.Warnings) == 0 || !strings.Contains(sum.Warnings[0], "can modify data") {
			t.Errorf("allowed writable login: warnings %q", sum.Warnings)
		}
		mustSucceed(t, runWith(t, testenv.Pipeline(t, fmt.Sprintf(manifest, "")), s.readerDSN, dst.DSN))
	})

	t.Run("UpdatedAt on datetime, date and datetimeoffset, read day first", func(t *testing.T) {
		// Days past the 12th: read day first, 2024-02-13 has month 13.
		mustExecMSSQL(t, admin,
			"CREATE TABLE dbo.Mudancas (Id int PRIMARY KEY, Nome nvarchar(20) NOT NULL, Alt datetime NOT NULL, Dia date NOT NULL, Quando datetimeoffset(7) NOT NULL, Pequeno smalldatetime NOT NULL)",
			`INSERT INTO dbo.Mudancas SELECT n, N'v1', DATEADD(minute, n, '2024-02-13T10:00:00.003'), DATEADD(day, n, '2024-01-13'),
			   DATEADD(minute, n, CAST('2024-02-13T10:00:00.1234567+05:00' AS datetimeoffset(7))), DATEADD(minute, n, '2024-02-13T10:00:00')
			 FROM (SELECT TOP (20) ROW_NUMBER() OVER (ORDER BY (SELECT NULL)) AS n FROM sys.all_objects) AS x`)
		dst := testenv.NewDB(t, "mssqlua")
		p := testenv.Pipeline(t, `
apiVersion: sync.sisporta.io/v1alpha1
kind: SyncPipeline
metadata: {name: updatedat}
spec:
  schedule: "@hourly"
  batchSize: 7
  source: {driver: sqlserver, dsnSecretRef: {name: s, key: dsn}}
  target: {dsnSecretRef: {name: t, key: dsn}}
  entities:
  - {name: by-datetime, source: {table: dbo.Mudancas, cursor: {column: Alt, kind: UpdatedAt, lookbackSeconds: 0}}, target: {table: by_datetime}}
  - {name: by-date, source: {table: dbo.Mudancas, cursor: {column: Dia, kind: UpdatedAt, lookbackSeconds: 0}}, target: {table: by_date}}
  - {name: by-offset, source: {table: dbo.Mudancas, cursor: {column: Quando, kind: UpdatedAt, lookbackSeconds: 0}}, target: {table: by_offset}}
  - {name: by-smalldatetime, source: {table: dbo.Mudancas, cursor: {column: Pequeno, kind: UpdatedAt, lookbackSeconds: 30}}, target: {table: by_small}}
`)
		mustSucceed(t, runWith(t, p, s.readerDSN, dst.DSN))
		got := dst.Rows(t, "SELECT Id, Alt, Dia, Quando, Pequeno FROM by_datetime WHERE Id = 13")
		want := `"13"|"2024-02-13 10:13:00.003"|"2024-01-26"|"2024-02-13 05:13:00.123456"|"2024-02-13 10:13:00"`
		if len(got) != 1 || got[0] != want {
			t.Errorf("row 13: %v, want %s", got, want)
		}
		// Nothing changed: each reads again only the rows at its watermark
		// (smalldatetime: 30 s of look-back from 10:20 start at 10:19,
		// whole minutes, so row 19 is read too).
		reads := map[string][2]int64{"by-datetime": {1, 3}, "by-date": {1, 3}, "by-offset": {1, 3}, "by-smalldatetime": {2, 4}}
		sum := runWith(t, p, s.readerDSN, dst.DSN)
		mustSucceed(t, sum)
		for name, want := range reads {
			if n := entity(t, sum, name).RowsRead; n != want[0] {
				t.Errorf("%s unchanged: read %d rows, want %d", name, n, want[0])
			}
		}
		// Two rows change now, their offset east of UTC (an instant
		// compared as local time would be five hours in the future).
		mustExecMSSQL(t, admin, `UPDATE dbo.Mudancas SET Nome = N'v2', Alt = SYSUTCDATETIME(), Dia = CAST(SYSUTCDATETIME() AS date),
			Quando = TODATETIMEOFFSET(DATEADD(hour, 5, SYSUTCDATETIME()), '+05:00'), Pequeno = SYSUTCDATETIME() WHERE Id IN (5, 6)`)
		sum = runWith(t, p, s.readerDSN, dst.DSN)
		mustSucceed(t, sum)
		for name, want := range reads {
			if n := entity(t, sum, name).RowsRead; n != want[1] {
				t.Errorf("%s after two updates: read %d rows, want %d (the two and those at the old watermark)", name, n, want[1])
			}
		}
		for _, table := range []string{"by_datetime", "by_date", "by_offset", "by_small"} {
			if n := dst.Count(t, table, "Nome = 'v2'"); n != 2 {
				t.Errorf("%s: %d rows updated, want 2", table, n)
			}
		}
	})

	t.Run("GUID keys over many batches", func(t *testing.T) {
		mustExecMSSQL(t, admin, "CREATE TABLE dbo.Guids (Id uniqueidentifier NOT NULL PRIMARY KEY, N int NOT NULL)",
			`INSERT INTO dbo.Guids SELECT NEWID(), n FROM (SELECT TOP (3000) ROW_NUMBER() OVER (ORDER BY (SELECT NULL)) AS n
			 FROM sys.all_objects a CROSS JOIN sys.all_objects b) AS x`)
		dst := testenv.NewDB(t, "mssqlguid")
		p := testenv.Pipeline(t, `
apiVersion: sync.sisporta.io/v1alpha1
kind: SyncPipeline
metadata: {name: guids}
spec:
  schedule: "@hourly"
  batchSize: 200
  source: {driver: sqlserver, dsnSecretRef: {name: s, key: dsn}}
  target: {dsnSecretRef: {name: t, key: dsn}}
  entities:
  - {name: guids, source: {table: dbo.Guids}, target: {table: guids}, cleanup: {mode: Delete, maxDeletePercent: 5}}
`)
		mustSucceed(t, runWith(t, p, s.readerDSN, dst.DSN))
		start := time.Now()
		sum := runWith(t, p, s.readerDSN, dst.DSN)
		mustSucceed(t, sum)
		if sum.RowsWritten != 0 || sum.RowsDeleted != 0 {
			t.Errorf("no-op run over 3000 GUID rows wrote %d and deleted %d", sum.RowsWritten, sum.RowsDeleted)
		}
		t.Logf("no-op run over 3000 GUID keys in 15 batches: %s", time.Since(start))
		mustExecMSSQL(t, admin, "DELETE FROM dbo.Guids WHERE N % 500 = 0")
		sum = runWith(t, p, s.readerDSN, dst.DSN)
		mustSucceed(t, sum)
		if sum.RowsDeleted != 6 {
			t.Errorf("deleted %d, want 6", sum.RowsDeleted)
		}
		sameSet(t, s.admin.Rows(t, "SELECT CONVERT(char(36), Id), CONVERT(varchar(10), N) FROM dbo.Guids"), dst.Rows(t, "SELECT Id, N FROM guids"))
	})

	t.Run("keys that differ in accents, case or trailing spaces", func(t *testing.T) {
		mustExecMSSQL(t, admin, "CREATE TABLE dbo.Clientes (Cod nvarchar(20) COLLATE Latin1_General_CI_AS NOT NULL PRIMARY KEY, Nome nvarchar(40) NOT NULL)",
			"INSERT INTO dbo.Clientes VALUES (N'José', N'a'), (N'Jose', N'b'), (N'Jósé', N'c'), (N'Ana', N'd'), (N'Zoë', N'e')")
		dst := testenv.NewDB(t, "mssqlci")
		p := testenv.Pipeline(t, `
apiVersion: sync.sisporta.io/v1alpha1
kind: SyncPipeline
metadata: {name: accents}
spec:
  schedule: "@hourly"
  batchSize: 2
  source: {driver: sqlserver, dsnSecretRef: {name: s, key: dsn}}
  target: {dsnSecretRef: {name: t, key: dsn}}
  entities:
  - {name: clientes, source: {table: dbo.Clientes}, target: {table: clientes}, cleanup: {mode: Delete, maxDeletePercent: 50}}
`)
		mustSucceed(t, runWith(t, p, s.readerDSN, dst.DSN))
		want := sorted(`"416E61"|"d"`, `"4A6F7365"|"b"`, `"4A6FC3A973C3A9"|"c"`, `"4A6FC3A9"|"a"`, `"5A6FC3AB"|"e"`)
		if got := dst.Rows(t, "SELECT HEX(Cod), Nome FROM clientes"); strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Fatalf("accented keys merged?\n got %v\nwant %v", got, want)
		}
		// Keys change only in case and trailing spaces: the same rows to
		// SQL Server's '=', other text to the mirror.
		mustExecMSSQL(t, admin, "UPDATE dbo.Clientes SET Cod = N'JOSE' WHERE Cod = N'Jose'", "UPDATE dbo.Clientes SET Cod = N'Ana  ' WHERE Cod = N'Ana'")
		mustSucceed(t, runWith(t, p, s.readerDSN, dst.DSN))
		want = sorted(`"416E612020"|"d"`, `"4A4F5345"|"b"`, `"4A6FC3A973C3A9"|"c"`, `"4A6FC3A9"|"a"`, `"5A6FC3AB"|"e"`)
		if got := dst.Rows(t, "SELECT HEX(Cod), Nome FROM clientes"); strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Fatalf("after changing case and trailing spaces:\n got %v\nwant %v", got, want)
		}
	})

	t.Run("UTF-8 varchar keys, geography and hierarchyid", func(t *testing.T) {
		mustExecMSSQL(t, admin,
			"CREATE TABLE dbo.Lugares (Nome varchar(60) COLLATE Latin1_General_100_CI_AS_SC_UTF8 NOT NULL PRIMARY KEY, Local geography NULL, No hierarchyid NULL, Nota varchar(max) COLLATE Latin1_General_100_CI_AS_SC_UTF8 NULL)",
			`INSERT INTO dbo.Lugares VALUES (N'Portão 🚪', geography::Point(47.651, -122.349, 4326), '/1/3/', N'日本語'),
			 (N'Ação', NULL, NULL, NULL), (N'Ñandú', NULL, '/2/', N'ü'), (N'日本', NULL, NULL, NULL), (N'Zoë', NULL, NULL, NULL)`)
		dst := testenv.NewDB(t, "mssqlutf8")
		p := testenv.Pipeline(t, `
apiVersion: sync.sisporta.io/v1alpha1
kind: SyncPipeline
metadata: {name: utf8}
spec:
  schedule: "@hourly"
  batchSize: 2
  source: {driver: sqlserver, dsnSecretRef: {name: s, key: dsn}}
  target: {dsnSecretRef: {name: t, key: dsn}}
  entities:
  - {name: lugares, source: {table: dbo.Lugares}, target: {table: lugares}, cleanup: {mode: Delete, maxDeletePercent: 50}}
`)
		mustSucceed(t, runWith(t, p, s.readerDSN, dst.DSN))
		got := dst.Rows(t, "SELECT Nome, Local, No, Nota FROM lugares")
		want := sorted(`"Ação"|<NULL>|<NULL>|<NULL>`, `"Portão 🚪"|"POINT (-122.349 47.651)"|"/1/3/"|"日本語"`, `"Zoë"|<NULL>|<NULL>|<NULL>`, `"Ñandú"|<NULL>|"/2/"|"ü"`, `"日本"|<NULL>|<NULL>|<NULL>`)
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Fatalf("UTF-8 and CLR columns:\n got %v\nwant %v", got, want)
		}
		// Paging and the delete check compare UTF-8 keys as varchar in
		// their own collation: nothing becomes '?'.
		mustExecMSSQL(t, admin, "DELETE FROM dbo.Lugares WHERE Nome = N'日本'")
		sum := runWith(t, p, s.readerDSN, dst.DSN)
		mustSucceed(t, sum)
		if sum.RowsDeleted != 1 || sum.RowsWritten != 0 || dst.Count(t, "lugares", "") != 4 {
			t.Errorf("after one delete: deleted %d, wrote %d, %d rows", sum.RowsDeleted, sum.RowsWritten, dst.Count(t, "lugares", ""))
		}
	})

	t.Run("an 11-column key", func(t *testing.T) {
		var cols, key []string
		for i := range 11 {
			cols = append(cols, fmt.Sprintf("K%d int NOT NULL", i))
			key = append(key, fmt.Sprintf("K%d", i))
		}
		mustExecMSSQL(t, admin, "CREATE TABLE dbo.Larga ("+strings.Join(cols, ", ")+", V nvarchar(10) NOT NULL, PRIMARY KEY ("+strings.Join(key, ", ")+"))",
			`INSERT INTO dbo.Larga SELECT n, n % 3, n % 5, n % 7, 0, 1, 2, 3, 4, 5, n, N'x' FROM
			 (SELECT TOP (450) ROW_NUMBER() OVER (ORDER BY (SELECT NULL)) AS n FROM sys.all_objects) AS x`)
		dst := testenv.NewDB(t, "mssqlwide")
		p := testenv.Pipeline(t, `
apiVersion: sync.sisporta.io/v1alpha1
kind: SyncPipeline
metadata: {name: wide}
spec:
  schedule: "@hourly"
  batchSize: 100
  source: {driver: sqlserver, dsnSecretRef: {name: s, key: dsn}}
  target: {dsnSecretRef: {name: t, key: dsn}}
  entities:
  - {name: larga, source: {table: dbo.Larga}, target: {table: larga}, cleanup: {mode: Delete, maxDeletePercent: 50}}
`)
		mustSucceed(t, runWith(t, p, s.readerDSN, dst.DSN))
		// 200 candidates of 11 columns: 2200 parameters in one statement
		// would pass SQL Server's 2100.
		mustExecMSSQL(t, admin, "DELETE FROM dbo.Larga WHERE K0 % 9 < 4")
		sum := runWith(t, p, s.readerDSN, dst.DSN)
		mustSucceed(t, sum)
		var left int64
		if err := admin.QueryRow("SELECT COUNT(*) FROM dbo.Larga").Scan(&left); err != nil {
			t.Fatal(err)
		}
		if sum.RowsDeleted != 450-left || dst.Count(t, "larga", "") != left {
			t.Errorf("deleted %d, %d rows left in the target, want %d", sum.RowsDeleted, dst.Count(t, "larga", ""), left)
		}
	})

	t.Run("range digests see a change of every type", func(t *testing.T) {
		// Each column's first value, and changes the mirror shows (or, for
		// what it keeps coarser, changes the digest still sees).
		cols := []struct{ typ, value, change string }{
			{"tinyint", "0", "255"},
			{"smallint", "-32768", "32767"},
			{"bigint", "9007199254740993", "9007199254740992"},
			{"bit", "0", "1"},
			{"decimal(38,10)", "1.5000000000", "1.5000000001"},
			{"numeric(9,2)", "12.50", "12.51"},
			{"money", "1.0001", "1.0002"},
			{"smallmoney", "-1.0001", "-1.0002"},
			{"float", "0.1", "0.10000000000000002"},
			{"real", "16777216", "16777218"},
			{"date", "'20240229'", "'20240301'"},
			{"time(7)", "'10:00:00.1234567'", "'10:00:00.1234568'"},
			{"datetime", "'2024-02-13T10:00:00.003'", "'2024-02-13T10:00:00.007'"},
			{"smalldatetime", "'2024-02-13T10:01:00'", "'2024-02-13T10:02:00'"},
			{"datetime2(7)", "'2024-02-13T10:00:00.0000001'", "'2024-02-13T10:00:00.0000011'"},
			{"datetimeoffset(7)", "'2024-02-13T10:00:00.1234567+05:00'", "'2024-02-13T10:00:00.1234567+04:00'"},
			{"uniqueidentifier", "'6F9619FF-8B86-D011-B42D-00C04FC964FF'", "'6F9619FF-8B86-D011-B42D-00C04FC964FE'"},
			{"char(5) COLLATE Latin1_General_CI_AS", "'a'", "'A'"},
			{"nchar(5) COLLATE Latin1_General_CI_AS", "N'á'", "N'à'"},
			{"varchar(20) COLLATE Latin1_General_CI_AS", "'abc'", "'abc '"},
			{"varchar(20) COLLATE Latin1_General_CI_AS", "''", "NULL"},
			{"nvarchar(20) COLLATE Latin1_General_CI_AI", "N'José'", "N'Jose'"},
			{"nvarchar(max)", "N'x'", "N'X'"},
			{"varchar(40) COLLATE Latin1_General_100_CI_AS_SC_UTF8", "N'Portão 🚪'", "N'Portao 🚪'"},
			{"text", "'t'", "'T'"},
			{"ntext", "N'n'", "N'N'"},
			{"xml", "N'<a/>'", "N'<b/>'"},
			{"binary(4)", "0x01", "0x02"},
			{"varbinary(8)", "0x01", "0x0100"},
			{"image", "0x00FF", "0x00FF00"},
			{"geography", "geography::Point(47.651, -122.349, 4326)", "geography::Point(47.652, -122.349, 4326)"},
			{"hierarchyid", "'/1/3/'", "'/1/4/'"},
		}
		var defs, firsts []string
		for i, c := range cols {
			defs = append(defs, fmt.Sprintf("C%d %s NULL", i, c.typ))
			firsts = append(firsts, c.value)
		}
		mustExecMSSQL(t, admin, "CREATE TABLE dbo.Tipos (Id int PRIMARY KEY, "+strings.Join(defs, ", ")+")",
			"INSERT INTO dbo.Tipos (Id) VALUES (0)")
		var changes []string
		for i, c := range cols {
			// Row 2i+1 changes; 2i+2 does not (ranges between changes stay).
			mustExecMSSQL(t, admin, fmt.Sprintf("INSERT INTO dbo.Tipos VALUES (%d, %s), (%d, %s)", 2*i+1, strings.Join(firsts, ", "), 2*i+2, strings.Join(firsts, ", ")))
			changes = append(changes, fmt.Sprintf("UPDATE dbo.Tipos SET C%d = %s WHERE Id = %d", i, c.change, 2*i+1),
				fmt.Sprintf("UPDATE dbo.Tipos SET C%d = %s WHERE Id = 0", i, c.value))
		}
		dst := testenv.NewDB(t, "mssqldigest")
		p := testenv.Pipeline(t, `
apiVersion: sync.sisporta.io/v1alpha1
kind: SyncPipeline
metadata: {name: digests}
spec:
  schedule: "@hourly"
  batchSize: 1
  source: {driver: sqlserver, dsnSecretRef: {name: s, key: dsn}}
  target: {dsnSecretRef: {name: t, key: dsn}}
  entities:
  - {name: tipos, source: {table: dbo.Tipos}, target: {table: tipos}, cleanup: {mode: Delete, maxDeletePercent: 50}}
`)
		rows := int64(2*len(cols) + 1)
		mustSucceed(t, runWith(t, p, s.readerDSN, dst.DSN))
		sum := runWith(t, p, s.readerDSN, dst.DSN)
		mustSucceed(t, sum)
		if sum.RowsRead != 0 || sum.RowsWritten != 0 || sum.RangesSkipped != int(rows) {
			t.Fatalf("no-op run over SQL Server: read %d, wrote %d, skipped %d ranges of %d", sum.RowsRead, sum.RowsWritten, sum.RangesSkipped, rows)
		}
		mustExecMSSQL(t, admin, changes...)
		sum = runWith(t, p, s.readerDSN, dst.DSN)
		mustSucceed(t, sum)
		// Every changed row is read (row 0 too), no unchanged one.
		if sum.RowsRead != int64(len(cols))+1 || sum.RangesSkipped != len(cols) {
			t.Errorf("after one change per type: read %d rows and skipped %d ranges, want %d and %d", sum.RowsRead, sum.RangesSkipped, len(cols)+1, len(cols))
		}
		// A verifying run compares every target value with the source.
		v := runWith(t, p, s.readerDSN, dst.DSN, verify)
		mustSucceed(t, v)
		if v.RowsWritten != 0 || v.RowsRepaired != 0 {
			t.Errorf("verifying after the digest run wrote %d and repaired %d rows: a change was missed", v.RowsWritten, v.RowsRepaired)
		}
		if sum := runWith(t, p, s.readerDSN, dst.DSN); sum.RowsRead != 0 {
			t.Errorf("the run after the verifying run read %d rows", sum.RowsRead)
		}
	})

	t.Run("a page blocked by an ERP transaction", func(t *testing.T) {
		mustExecMSSQL(t, admin, "CREATE TABLE dbo.Bloqueio (Id int PRIMARY KEY, V int NOT NULL)",
			`INSERT INTO dbo.Bloqueio SELECT n, 0 FROM (SELECT TOP (100) ROW_NUMBER() OVER (ORDER BY (SELECT NULL)) AS n FROM sys.all_objects) AS x`)
		dst := testenv.NewDB(t, "mssqllock")
		manifest := `
apiVersion: sync.sisporta.io/v1alpha1
kind: SyncPipeline
metadata: {name: blocked}
spec:
  schedule: "@hourly"
  batchSize: 10
  source: {driver: sqlserver, dsnSecretRef: {name: s, key: dsn}, lockTimeoutSeconds: 1%s}
  target: {dsnSecretRef: {name: t, key: dsn}}
  entities:
  - {name: bloqueio, source: {table: dbo.Bloqueio}, target: {table: %s}}
`
		snapshot := testenv.Pipeline(t, fmt.Sprintf(manifest, ", isolation: Snapshot", "bloqueio_snap"))
		if err := syncErr(t, snapshot, s.readerDSN, dst.DSN); err == nil || !strings.Contains(err.Error(), "ALLOW_SNAPSHOT_ISOLATION ON") {
			t.Fatalf("Snapshot in a database that does not allow it: %v", err)
		}
		mustExecMSSQL(t, admin, "ALTER DATABASE "+s.name+" SET ALLOW_SNAPSHOT_ISOLATION ON")

		ctx := context.Background()
		tx, err := admin.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = tx.Rollback() }()
		if _, err := tx.Exec("UPDATE dbo.Bloqueio SET V = 1 WHERE Id = 50"); err != nil {
			t.Fatal(err)
		}
		// Snapshot reads the committed version without waiting.
		mustSucceed(t, runWith(t, snapshot, s.readerDSN, dst.DSN))
		if n := dst.Count(t, "bloqueio_snap", "V = 0"); n != 100 {
			t.Errorf("snapshot read %d committed rows, want 100", n)
		}
		// READ COMMITTED waits a second, gives up, and tries again until
		// the ERP's transaction commits.
		committed := make(chan error, 1)
		go func() {
			time.Sleep(3 * time.Second)
			committed <- tx.Commit()
		}()
		mustSucceed(t, runWith(t, testenv.Pipeline(t, fmt.Sprintf(manifest, "", "bloqueio_rc")), s.readerDSN, dst.DSN))
		if err := <-committed; err != nil {
			t.Fatal(err)
		}
		if n := dst.Count(t, "bloqueio_rc", "V = 1"); n != 1 {
			t.Errorf("the page read after the commit has %d changed rows, want 1", n)
		}
	})
}

// sorted returns rows in the order testenv.DB.Rows gives them.
func sorted(rows ...string) []string {
	sort.Strings(rows)
	return rows
}

// sameSet fails unless two sorted row lists are equal.
func sameSet(t *testing.T, want, got []string) {
	t.Helper()
	if strings.Join(want, "\n") != strings.Join(got, "\n") {
		t.Fatalf("target differs from source: %d rows against %d", len(got), len(want))
	}
}
