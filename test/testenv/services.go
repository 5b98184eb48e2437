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

// MySQLAddr is the MariaDB/MySQL the tests use (root, empty password unless
// SISPORTA_TEST_MYSQL_DSN gives a base DSN).
func baseDSN() *mysql.Config {
	if dsn := os.Getenv("SISPORTA_TEST_MYSQL_DSN"); dsn != "" {
		cfg, err := mysql.ParseDSN(dsn)
		if err == nil {
			return cfg
		}
	}
	cfg := mysql.NewConfig()
	cfg.User, cfg.Net, cfg.Addr = "root", "tcp", "127.0.0.1:3306"
	return cfg
}

// RedisURL is the Redis the tests use.
func RedisURL() string {
	if u := os.Getenv("SISPORTA_TEST_REDIS_URL"); u != "" {
		return u
	}
	return "redis://127.0.0.1:6379/0"
}

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
	admin := baseDSN()
	admin.DBName = ""
	root, err := sql.Open("mysql", admin.FormatDSN())
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	if _, err := root.Exec("CREATE DATABASE `" + name + "` CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci"); err != nil {
		t.Fatalf("creating test database (is MariaDB up? run hack/services.sh): %v", err)
	}
	cfg := baseDSN()
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
	plain := baseDSN()
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

// MySQLAddr is the host:port of the test MariaDB.
func MySQLAddr() string { return baseDSN().Addr }

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
