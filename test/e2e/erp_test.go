//go:build e2e

package e2e

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net"
	"net/url"
	"sort"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/sisporta/sisporta/test/testenv"
)

// The ERP stand-in: a source database read by a login that can only read,
// a mirror written by a login with the rights the README lists, and an
// audit database where triggers on the mirror's tables log every row
// Sisporta writes or deletes, so that "only the changes" and "nothing
// applied twice" can be counted.
const (
	erpDB   = "sisporta_e2e_erp"
	mirrDB  = "sisporta_e2e_mirror"
	auditDB = "sisporta_e2e_audit"
	roUser  = "sisporta_e2e_ro"
	rwUser  = "sisporta_e2e_rw"

	customersTotal = 30000 // every 20th inactive: 28500 mirrored
	productsTotal  = 400
)

type erp struct {
	root           *sql.DB
	roPass, rwPass string
	hostForPods    string // how pods reach MariaDB
}

// podsHost is the address pods reach this machine's MariaDB and Redis at:
// hack/cluster.sh forwards the ports of testenv's MySQLAddr and RedisURL
// (SISPORTA_TEST_MYSQL_DSN, SISPORTA_TEST_REDIS_URL) there.
const podsHost = "10.244.0.1"

// forPods is addr (host:port) as pods reach it: the same port on podsHost.
func forPods(addr string) string {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		panic(fmt.Sprintf("%q: %v", addr, err))
	}
	return net.JoinHostPort(podsHost, port)
}

// redisOptions reaches the suite's Redis database (redisDB) from here.
func redisOptions() *redis.Options {
	o, err := redis.ParseURL(testenv.RedisURL())
	if err != nil {
		panic(fmt.Sprintf("%s: %v", testenv.EnvRedisURL, err))
	}
	o.DB = redisDB
	return o
}

// redisURLForPods is the URL of the suite's Redis database as pods reach it.
func redisURLForPods() string {
	u, err := url.Parse(testenv.RedisURL())
	if err != nil {
		panic(fmt.Sprintf("%s: %v", testenv.EnvRedisURL, err))
	}
	u.Host, u.Path = forPods(u.Host), fmt.Sprintf("/%d", redisDB)
	return u.String()
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func openRoot(t testing.TB, db string) *sql.DB {
	t.Helper()
	cfg := testenv.MySQLConfig()
	cfg.DBName = db
	cfg.Params = map[string]string{"charset": "utf8mb4"}
	cfg.MultiStatements = true
	d, err := sql.Open("mysql", cfg.FormatDSN())
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Ping(); err != nil {
		t.Fatalf("MariaDB on %s as %s (hack/services.sh starts it): %v", cfg.Addr, cfg.User, err)
	}
	return d
}

func exec1(t testing.TB, db *sql.DB, q string, args ...any) int64 {
	t.Helper()
	res, err := db.Exec(q, args...)
	if err != nil {
		t.Fatalf("%s: %v", firstLine(q), err)
	}
	n, _ := res.RowsAffected()
	return n
}

func firstLine(q string) string {
	q = strings.TrimSpace(q)
	if i := strings.IndexByte(q, '\n'); i > 0 {
		return q[:i] + " ..."
	}
	return q
}

func queryInt(t testing.TB, db *sql.DB, q string, args ...any) int64 {
	t.Helper()
	var n sql.NullInt64
	if err := db.QueryRow(q, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", firstLine(q), err)
	}
	return n.Int64
}

// seedERP creates the databases, logins and source tables.
func seedERP(t testing.TB) *erp {
	t.Helper()
	e := &erp{root: openRoot(t, ""), roPass: randomHex(8), rwPass: randomHex(8), hostForPods: forPods(testenv.MySQLAddr())}
	for _, q := range []string{
		"DROP DATABASE IF EXISTS " + erpDB, "DROP DATABASE IF EXISTS " + mirrDB, "DROP DATABASE IF EXISTS " + auditDB,
		"CREATE DATABASE " + erpDB + " CHARACTER SET utf8mb4", "CREATE DATABASE " + mirrDB + " CHARACTER SET utf8mb4",
		"CREATE DATABASE " + auditDB + " CHARACTER SET utf8mb4",
		"DROP USER IF EXISTS '" + roUser + "'@'%'", "DROP USER IF EXISTS '" + rwUser + "'@'%'",
		"CREATE USER '" + roUser + "'@'%' IDENTIFIED BY '" + e.roPass + "'",
		"GRANT SELECT ON " + erpDB + ".* TO '" + roUser + "'@'%'",
		"CREATE USER '" + rwUser + "'@'%' IDENTIFIED BY '" + e.rwPass + "'",
		"GRANT SELECT, INSERT, UPDATE, DELETE, CREATE, ALTER, INDEX ON " + mirrDB + ".* TO '" + rwUser + "'@'%'",
		`CREATE TABLE ` + erpDB + `.Clientes (
		   CodCliente INT PRIMARY KEY,
		   Nome VARCHAR(80) NOT NULL,
		   Cidade VARCHAR(60) NULL,
		   Saldo DECIMAL(12,2) NOT NULL,
		   Ativo TINYINT(1) NOT NULL,
		   AlteradoEm DATETIME(6) NOT NULL
		 ) CHARACTER SET utf8mb4`,
		`CREATE TABLE ` + erpDB + `.Produtos (
		   CodProduto VARCHAR(12) PRIMARY KEY,
		   Descricao VARCHAR(120) NOT NULL,
		   Preco DECIMAL(10,2) NOT NULL
		 ) CHARACTER SET utf8mb4`,
		`CREATE TABLE ` + auditDB + `.writes (
		   id BIGINT AUTO_INCREMENT PRIMARY KEY,
		   tbl VARCHAR(16) NOT NULL,
		   op CHAR(1) NOT NULL,
		   k VARCHAR(20) NOT NULL
		 )`,
	} {
		exec1(t, e.root, q)
	}
	cities := []string{"Porto", "Lisboa", "Braga", "Faro", "Évora", "Coimbra", "Funchal"}
	for lo := 1; lo <= customersTotal; lo += 1000 {
		var vals []string
		var args []any
		for id := lo; id < lo+1000 && id <= customersTotal; id++ {
			vals = append(vals, "(?, ?, ?, ?, ?, '2026-01-01 09:00:00')")
			var city any = cities[id%len(cities)]
			if id%11 == 0 {
				city = nil
			}
			active := 1
			if id%20 == 0 {
				active = 0
			}
			args = append(args, id, fmt.Sprintf("Cliente %05d Lda", id), city, fmt.Sprintf("%d.%02d", id*3, id%100), active)
		}
		exec1(t, e.root, "INSERT INTO "+erpDB+".Clientes VALUES "+strings.Join(vals, ","), args...)
	}
	var vals []string
	var args []any
	for i := 1; i <= productsTotal; i++ {
		vals = append(vals, "(?, ?, ?)")
		args = append(args, fmt.Sprintf("P-%04d", i), fmt.Sprintf("Porta seccionada modelo %d", i), fmt.Sprintf("%d.90", 100+i))
	}
	exec1(t, e.root, "INSERT INTO "+erpDB+".Produtos VALUES "+strings.Join(vals, ","), args...)
	return e
}

func (e *erp) sourceDSN() string {
	return fmt.Sprintf("%s:%s@tcp(%s)/%s", roUser, e.roPass, e.hostForPods, erpDB)
}

func (e *erp) targetDSN() string {
	return fmt.Sprintf("%s:%s@tcp(%s)/%s", rwUser, e.rwPass, e.hostForPods, mirrDB)
}

// addAuditTriggers logs every row written or deleted in the mirror's
// tables (they exist once the first run made them).
func (e *erp) addAuditTriggers(t testing.TB) {
	t.Helper()
	for _, tb := range []struct{ table, key string }{{"customers", "id"}, {"products", "CodProduto"}} {
		for _, op := range []struct{ when, row, code string }{{"INSERT", "NEW", "I"}, {"UPDATE", "NEW", "U"}, {"DELETE", "OLD", "D"}} {
			exec1(t, e.root, fmt.Sprintf("CREATE TRIGGER %s.e2e_%s_%s AFTER %s ON %s.%s FOR EACH ROW INSERT INTO %s.writes (tbl, op, k) VALUES ('%s', '%s', %s.%s)",
				mirrDB, tb.table, strings.ToLower(op.when), op.when, mirrDB, tb.table, auditDB, tb.table, op.code, op.row, tb.key))
		}
	}
}

// auditMark is the position in the audit log before a change.
func (e *erp) auditMark(t testing.TB) int64 {
	return queryInt(t, e.root, "SELECT COALESCE(MAX(id), 0) FROM "+auditDB+".writes")
}

// writesSince returns, per "table op", the keys written since mark, each
// as often as it was written.
func (e *erp) writesSince(t testing.TB, mark int64) map[string][]string {
	t.Helper()
	rows, err := e.root.Query("SELECT tbl, op, k FROM "+auditDB+".writes WHERE id > ? ORDER BY id", mark)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string][]string{}
	for rows.Next() {
		var tbl, op, k string
		if err := rows.Scan(&tbl, &op, &k); err != nil {
			t.Fatal(err)
		}
		out[tbl+" "+op] = append(out[tbl+" "+op], k)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	for _, ks := range out {
		sort.Strings(ks)
	}
	return out
}

// expectWrites checks the mirror's writes since mark are exactly want: each
// key once, no other write.
func (e *erp) expectWrites(t testing.TB, mark int64, want map[string][]string) {
	t.Helper()
	got := e.writesSince(t, mark)
	for k, ks := range want {
		w := append([]string(nil), ks...)
		sort.Strings(w)
		want[k] = w
	}
	keys := map[string]bool{}
	for k := range got {
		keys[k] = true
	}
	for k := range want {
		keys[k] = true
	}
	for k := range keys {
		g, w := got[k], want[k]
		if strings.Join(g, ",") == strings.Join(w, ",") {
			continue
		}
		t.Errorf("mirror writes %q: got %d (%s), want %d (%s)", k, len(g), sample(g), len(w), sample(w))
		seen := map[string]int{}
		for _, x := range g {
			if seen[x]++; seen[x] == 2 {
				t.Errorf("mirror writes %q: key %s written more than once", k, x)
			}
		}
	}
}

func sample(ks []string) string {
	if len(ks) > 8 {
		return strings.Join(ks[:8], ",") + ",..."
	}
	return strings.Join(ks, ",")
}

// keys runs a query returning one column of keys.
func keys(t testing.TB, db *sql.DB, q string, args ...any) []string {
	t.Helper()
	rows, err := db.Query(q, args...)
	if err != nil {
		t.Fatalf("%s: %v", firstLine(q), err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			t.Fatal(err)
		}
		out = append(out, k)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// tableRows reads a query's rows as strings, keyed by the first column.
func tableRows(t testing.TB, db *sql.DB, q string) map[string]string {
	t.Helper()
	rows, err := db.QueryContext(context.Background(), q)
	if err != nil {
		t.Fatalf("%s: %v", firstLine(q), err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	out := map[string]string{}
	for rows.Next() {
		vals := make([]sql.NullString, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		var b strings.Builder
		for i, v := range vals[1:] {
			if i > 0 {
				b.WriteString(" | ")
			}
			if v.Valid {
				b.WriteString(v.String)
			} else {
				b.WriteString("NULL")
			}
		}
		out[vals[0].String] = b.String()
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// mirrorMatches says whether the mirror holds exactly the source's rows
// (the where filter applied, the columns mapped), and if not, how not.
func (e *erp) mirrorMatches(t testing.TB) (bool, string) {
	t.Helper()
	var diffs []string
	compare := func(what string, src, dst map[string]string) {
		n := 0
		for k, v := range src {
			if d, ok := dst[k]; !ok {
				n++
				if n <= 3 {
					diffs = append(diffs, fmt.Sprintf("%s %s missing from the mirror", what, k))
				}
			} else if d != v {
				n++
				if n <= 3 {
					diffs = append(diffs, fmt.Sprintf("%s %s: source %q, mirror %q", what, k, v, d))
				}
			}
		}
		for k := range dst {
			if _, ok := src[k]; !ok {
				n++
				if n <= 3 {
					diffs = append(diffs, fmt.Sprintf("%s %s in the mirror only", what, k))
				}
			}
		}
		if n > 3 {
			diffs = append(diffs, fmt.Sprintf("%s: %d differences in all (%d source rows, %d mirror rows)", what, n, len(src), len(dst)))
		}
	}
	var exists int64
	if err := e.root.QueryRow("SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = ? AND table_name IN ('customers', 'products')", mirrDB).Scan(&exists); err != nil || exists != 2 {
		return false, fmt.Sprintf("the mirror has %d of its 2 tables (%v)", exists, err)
	}
	compare("customer",
		tableRows(t, e.root, "SELECT CodCliente, Nome, Cidade, Saldo FROM "+erpDB+".Clientes WHERE Ativo = 1"),
		tableRows(t, e.root, "SELECT id, name, city, balance FROM "+mirrDB+".customers"))
	compare("product",
		tableRows(t, e.root, "SELECT CodProduto, Descricao, Preco FROM "+erpDB+".Produtos"),
		tableRows(t, e.root, "SELECT CodProduto, Descricao, Preco FROM "+mirrDB+".products"))
	return len(diffs) == 0, strings.Join(diffs, "; ")
}

func (e *erp) drop(t testing.TB) {
	for _, q := range []string{
		"DROP DATABASE IF EXISTS " + erpDB, "DROP DATABASE IF EXISTS " + mirrDB, "DROP DATABASE IF EXISTS " + auditDB,
		"DROP USER IF EXISTS '" + roUser + "'@'%'", "DROP USER IF EXISTS '" + rwUser + "'@'%'",
	} {
		if _, err := e.root.Exec(q); err != nil {
			t.Logf("cleanup: %s: %v", q, err)
		}
	}
	_ = e.root.Close()
}
