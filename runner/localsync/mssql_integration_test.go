package localsync_test

import (
	"database/sql"
	"strings"
	"testing"

	_ "github.com/microsoft/go-mssqldb"

	"github.com/sisporta/sisporta/test/testenv"
)

// TestSQLServerEndToEnd mirrors a SQL Server table holding every mapped
// type into MariaDB, as a login that can only read, and checks each value
// against the type map. It needs a SQL Server: SISPORTA_TEST_MSSQL_DSN
// (sqlserver://sa:pw@host:1433?database=master) names one; the Bitbucket
// pipeline provides it as a service container.
func TestSQLServerEndToEnd(t *testing.T) {
	ms := newMSSQL(t)
	t.Parallel()
	src := ms.admin.DB
	mustExec := func(db *sql.DB, q string) {
		t.Helper()
		mustExecMSSQL(t, db, q)
	}
	srcDSN := ms.readerDSN
	mustExec(src, `CREATE TABLE dbo.Produtos (
  Id uniqueidentifier NOT NULL, Loja int NOT NULL, Nome nvarchar(50) NOT NULL, Codigo char(6) NULL,
  Notas nvarchar(max) NULL, Preco decimal(18,4) NULL, Custo money NULL, Taxa real NULL, Peso float NULL,
  Ativo bit NOT NULL, Criado datetime NULL, Alterado datetime2(7) NULL, Fuso datetimeoffset(7) NULL,
  Dia date NULL, Hora time(3) NULL, Foto varbinary(max) NULL, Pequeno tinyint NULL, Grande bigint NULL,
  Versao rowversion, PRIMARY KEY (Id, Loja))`)
	mustExec(src, `INSERT INTO dbo.Produtos (Id, Loja, Nome, Codigo, Notas, Preco, Custo, Taxa, Peso, Ativo, Criado, Alterado, Fuso, Dia, Hora, Foto, Pequeno, Grande) VALUES
 ('6F9619FF-8B86-D011-B42D-00C04FC964FF', 1, N'Portão 🚪', 'AB', N'', 12345678901234.5678, 922337203685477.5807, 0.1, 0.1, 1,
  '2024-02-29 10:00:00.003', '2024-12-31 23:59:59.9999999', '2024-01-01 01:30:00.5 +02:00', '0001-01-01', '23:59:59.999', 0x00FF0A, 255, 9223372036854775807),
 ('00000000-0000-0000-0000-000000000001', 2, N'Nulls', NULL, NULL, NULL, NULL, NULL, NULL, 0, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)`)

	e := &env{src: nil, dst: testenv.NewDB(t, "mssqldst")}
	p := testenv.Pipeline(t, `
apiVersion: sync.sisporta.io/v1alpha1
kind: SyncPipeline
metadata: {name: mssql}
spec:
  schedule: "@hourly"
  source: {driver: sqlserver, dsnSecretRef: {name: s, key: dsn}}
  target: {dsnSecretRef: {name: t, key: dsn}}
  entities:
  - name: produtos
    source: {table: dbo.Produtos, where: "Loja > 0"}
    target: {table: produtos}
    cleanup: {mode: Delete, maxDeletePercent: 50}
  - name: produtos-incr
    source: {table: dbo.Produtos, cursor: {column: Versao, kind: RowVersion}}
    target: {table: produtos_incr}
    cleanup: {mode: Delete, maxDeletePercent: 50}
`)
	sum := runWith(t, p, srcDSN, e.dst.DSN)
	mustSucceed(t, sum)
	got := e.dst.Rows(t, "SELECT Id, Loja, Nome, Codigo, Notas, Preco, Custo, Taxa, Peso, Ativo, Criado, Alterado, Fuso, Dia, Hora, HEX(Foto), Pequeno, Grande, HEX(Versao) <> '' FROM produtos")
	want := []string{
		`"00000000-0000-0000-0000-000000000001"|"2"|"Nulls"|<NULL>|<NULL>|<NULL>|<NULL>|<NULL>|<NULL>|"0"|<NULL>|<NULL>|<NULL>|<NULL>|<NULL>|<NULL>|<NULL>|<NULL>|"1"`,
		`"6F9619FF-8B86-D011-B42D-00C04FC964FF"|"1"|"Portão 🚪"|"AB"|""|"12345678901234.5678"|"922337203685477.5807"|"0.1"|"0.1"|"1"|"2024-02-29 10:00:00.003"|"2024-12-31 23:59:59.999999"|"2023-12-31 23:30:00.500000"|"0001-01-01"|"23:59:59.999"|"00FF0A"|"255"|"9223372036854775807"|"1"`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("type map mismatch\n got:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// Resync writes nothing; an update and a delete propagate, the
	// incremental entity reading only the changed row.
	if s := runWith(t, p, srcDSN, e.dst.DSN); s.RowsWritten != 0 {
		t.Fatalf("no-op resync wrote %d rows", s.RowsWritten)
	}
	mustExec(src, "UPDATE dbo.Produtos SET Nome = N'Mudou' WHERE Loja = 2")
	mustExec(src, "INSERT INTO dbo.Produtos (Id, Loja, Nome, Ativo) VALUES (NEWID(), 3, N'Novo', 1), (NEWID(), 4, N'Outro', 1)")
	mustExec(src, "DELETE FROM dbo.Produtos WHERE Loja = 1")
	s := runWith(t, p, srcDSN, e.dst.DSN)
	mustSucceed(t, s)
	if incr := entity(t, s, "produtos-incr"); incr.RowsRead != 3 || incr.RowsDeleted != 1 {
		t.Errorf("incremental: read %d deleted %d, want 3 and 1", incr.RowsRead, incr.RowsDeleted)
	}
	if n := e.dst.Count(t, "produtos", ""); n != 3 {
		t.Errorf("produtos has %d rows, want 3", n)
	}
	t.Logf("SQL Server integration test ran in database %s", ms.name)
}
