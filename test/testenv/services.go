// MySQL/MariaDB and Redis for tests. Each test gets databases of its own
// and a pipeline name of its own (so its own queue), so tests run in
// parallel against the shared services.

package testenv

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"os"
	"sort"
	"strings"
	"testing"

	"github.com/go-sql-driver/mysql"

	syncv1alpha1 "github.com/sisporta/sisporta/api/v1alpha1"
	"github.com/sisporta/sisporta/runner/pipeline"
)

// The environment variables that point the tests at their services. They
// are read here and nowhere else; hack/services.sh and hack/cluster.sh read
// the same two for MySQL and Redis.
const (
	// EnvMySQLDSN is the DSN (go-sql-driver/mysql form) of a MySQL 8 or
	// MariaDB 10.6+ server as a user that may create databases and users,
	// without a database name. Default: root@tcp(127.0.0.1:3306)/.
	EnvMySQLDSN = "SISPORTA_TEST_MYSQL_DSN"
	// EnvRedisURL is the URL of a Redis 6+. Default: redis://127.0.0.1:6379/0.
	EnvRedisURL = "SISPORTA_TEST_REDIS_URL"
	// EnvMSSQLDSN is the DSN of a SQL Server as a sysadmin
	// (sqlserver://sa:<pw>@<host>:1433?database=master). No default: the
	// SQL Server tests skip, saying so, when it is not set.
	EnvMSSQLDSN = "SISPORTA_TEST_MSSQL_DSN"
)

// MySQLConfig returns the server's root configuration (EnvMySQLDSN), a new
// copy each call, with no database selected. A DSN that does not parse
// panics: the tests must not quietly run against another server.
func MySQLConfig() *mysql.Config {
	if dsn := os.Getenv(EnvMySQLDSN); dsn != "" {
		cfg, err := mysql.ParseDSN(dsn)
		if err != nil {
			panic(fmt.Sprintf("%s is not a go-sql-driver/mysql DSN (user[:password]@tcp(host:port)/): %v", EnvMySQLDSN, err))
		}
		return cfg
	}
	cfg := mysql.NewConfig()
	cfg.User, cfg.Net, cfg.Addr = "root", "tcp", "127.0.0.1:3306"
	return cfg
}

// MySQLAddr is the host:port of the test MariaDB/MySQL.
func MySQLAddr() string { return MySQLConfig().Addr }

// RedisURL is the Redis the tests use (EnvRedisURL).
func RedisURL() string {
	if u := os.Getenv(EnvRedisURL); u != "" {
		return u
	}
	return "redis://127.0.0.1:6379/0"
}

// MSSQLDSN is the SQL Server the SQL Server tests use (EnvMSSQLDSN), or ""
// when there is none.
func MSSQLDSN() string { return os.Getenv(EnvMSSQLDSN) }

// DB is a database of its own for one test, dropped at the end.
type DB struct {
	Name string
	DSN  string
	*sql.DB
}

// NewDB creates a fresh utf8mb4 database.
func NewDB(t testing.TB, prefix string) *DB {
	t.Helper()
	name := fmt.Sprintf("sisporta_t_%s_%s", prefix, Random(4))
	admin := MySQLConfig()
	admin.DBName = ""
	root, err := sql.Open("mysql", admin.FormatDSN())
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	if _, err := root.Exec("CREATE DATABASE `" + name + "` CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci"); err != nil {
		t.Fatalf("creating test database (is MariaDB up? run hack/services.sh): %v", err)
	}
	cfg := MySQLConfig()
	cfg.DBName = name
	cfg.Params = map[string]string{"charset": "utf8mb4"}
	cfg.MultiStatements = true
	db, err := sql.Open("mysql", cfg.FormatDSN())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = db.Close()
		r, err := sql.Open("mysql", admin.FormatDSN())
		if err == nil {
			_, _ = r.Exec("DROP DATABASE IF EXISTS `" + name + "`")
			_ = r.Close()
		}
	})
	plain := MySQLConfig()
	plain.DBName = name
	return &DB{Name: name, DSN: plain.FormatDSN(), DB: db}
}

// Exec runs statements, failing the test on error.
func (d *DB) Exec(t testing.TB, stmts ...string) {
	t.Helper()
	for _, s := range stmts {
		if _, err := d.DB.Exec(s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
}

// Count returns SELECT COUNT(*) of a table with an optional condition.
func (d *DB) Count(t testing.TB, table, where string) int64 {
	t.Helper()
	q := "SELECT COUNT(*) FROM " + table
	if where != "" {
		q += " WHERE " + where
	}
	var n int64
	if err := d.DB.QueryRow(q).Scan(&n); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}

// Rows returns every row of a query as text (NULL as "<NULL>"), sorted.
func (d *DB) Rows(t testing.TB, query string) []string {
	t.Helper()
	rows, err := d.DB.QueryContext(context.Background(), query)
	if err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	var out []string
	for rows.Next() {
		vals := make([]sql.RawBytes, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		parts := make([]string, len(cols))
		for i, v := range vals {
			if v == nil {
				parts[i] = "<NULL>"
			} else {
				parts[i] = fmt.Sprintf("%q", string(v))
			}
		}
		out = append(out, strings.Join(parts, "|"))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	sort.Strings(out)
	return out
}

// Random returns n random bytes as hex.
func Random(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// Pipeline parses a pipeline manifest whose name is made unique for the
// test (so its queue and Redis keys are its own).
func Pipeline(t testing.TB, manifest string) *syncv1alpha1.SyncPipeline {
	t.Helper()
	p, err := pipeline.Parse([]byte(manifest))
	if err != nil {
		t.Fatalf("pipeline: %v", err)
	}
	p.Name = p.Name + "-" + Random(4)
	return p
}

// DSNVia returns the database's DSN reaching it through another address
// (a Proxy).
func (d *DB) DSNVia(addr string) string {
	cfg, err := mysql.ParseDSN(d.DSN)
	if err != nil {
		panic(err)
	}
	cfg.Addr = addr
	return cfg.FormatDSN()
}
