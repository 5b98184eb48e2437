// Package writer writes the MySQL mirror: it creates and extends target
// tables, applies batches in single idempotent transactions with
// change-only writes, keeps Sisporta's state in small _sisporta_* tables of
// the target database, and deletes in small chunks.
package writer

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/sisporta/sisporta/runner/mysqlconn"
	"github.com/sisporta/sisporta/runner/redact"
)

// Target is an open connection pool to the target database.
type Target struct {
	db  *sql.DB
	dsn string
	// ensured caches tables whose shape was checked, by table and fingerprint.
	ensured sync.Map
	// ensuring holds a mutex a table being checked (see ensureTable).
	ensuring sync.Map
	// registered caches (pipeline, entity, run) already registered.
	registered sync.Map
	// misses counts, per entity, batches in a row whose digest differed.
	misses sync.Map
	// shapes caches codecs and key positions by schema fingerprint.
	shapes sync.Map
	// collation caches the default collation of utf8mb4 columns.
	collation atomic.Value
	// collations caches the server's utf8mb4 collations (map[string]bool).
	collations atomic.Value
	// location caches where the target writes (mysqlconn.Location).
	location atomic.Value
	// ownerTables caches owners tables made in other databases.
	ownerTables sync.Map
	// notes holds, per table, what EnsureTable found a column cannot hold
	// (column name -> message), for the error of a value it refuses.
	notes sync.Map

	readyMu sync.Mutex
	ready   bool
	// setup readies a new connection for batch transactions (txSetup()).
	setup atomic.Value
	// maxPacket is the server's max_allowed_packet: no statement may be
	// larger.
	maxPacket int
	// noLoad: the server refused LOAD DATA LOCAL once; upserts only.
	noLoad atomic.Bool
	// loading holds each table's load turns, a chan struct{} of
	// loadsPerTable (loadturn.go).
	loading sync.Map
}

// Open connects to the target and makes sure the state tables exist.
// poolSize bounds concurrent connections (workers' concurrency plus a few).
func Open(ctx context.Context, dsn string, poolSize int) (*Target, error) {
	t, err := New(dsn, poolSize)
	if err != nil {
		return nil, err
	}
	pingCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := t.db.PingContext(pingCtx); err != nil {
		_ = t.db.Close()
		return nil, fmt.Errorf("cannot connect to the target MySQL: %w", t.redact(err))
	}
	if err := t.ensureReady(ctx); err != nil {
		_ = t.db.Close()
		return nil, err
	}
	return t, nil
}

// New prepares a pool without connecting: a worker starts even while the
// target is down, and its batches wait and retry until it is back.
func New(dsn string, poolSize int) (*Target, error) {
	if dsn == "" {
		return nil, fmt.Errorf("no target DSN: set --target-dsn or SISPORTA_TARGET_DSN (user:password@tcp(host:3306)/database)")
	}
	conn, err := targetDSN(dsn)
	if err != nil {
		return nil, fmt.Errorf("the target DSN is not valid: %w", redact.Err(err, dsn))
	}
	cfg, err := mysql.ParseDSN(conn)
	if err != nil {
		return nil, fmt.Errorf("the target DSN is not valid: %w", redact.Err(err, dsn, conn))
	}
	connector, err := mysql.NewConnector(cfg)
	if err != nil {
		return nil, fmt.Errorf("the target DSN is not valid: %w", redact.Err(err, dsn, conn))
	}
	t := &Target{dsn: dsn}
	db := sql.OpenDB(sessionConnector{Connector: connector, t: t})
	db.SetMaxOpenConns(max(poolSize, 2))
	db.SetMaxIdleConns(max(poolSize, 2))
	db.SetConnMaxIdleTime(5 * time.Minute)
	t.db = db
	return t, nil
}

// sessionConnector readies each new connection for batch transactions
// once (txSetup), instead of once a transaction: a statement less for
// every batch.
type sessionConnector struct {
	driver.Connector
	t *Target
}

func (c sessionConnector) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := c.Connector.Connect(ctx)
	if err != nil {
		return nil, err
	}
	if err := c.t.setupSession(ctx, conn); err != nil {
		_ = conn.Close()
		return nil, err
	}
	return conn, nil
}

// setupSession runs txSetup on a new connection, asking it the server's
// version the first time.
func (t *Target) setupSession(ctx context.Context, conn driver.Conn) error {
	ex, ok1 := conn.(driver.ExecerContext)
	qc, ok2 := conn.(driver.QueryerContext)
	if !ok1 || !ok2 {
		return errors.New("the MySQL driver cannot run statements directly")
	}
	setup, _ := t.setup.Load().(string)
	if setup == "" {
		rows, err := qc.QueryContext(ctx, "SELECT VERSION()", nil)
		if err != nil {
			return err
		}
		vals := make([]driver.Value, 1)
		err = rows.Next(vals)
		_ = rows.Close()
		if err != nil {
			return err
		}
		var version string
		switch v := vals[0].(type) {
		case []byte:
			version = string(v)
		case string:
			version = v
		}
		setup = txSetup(version)
		t.setup.Store(setup)
	}
	_, err := ex.ExecContext(ctx, setup, nil)
	return err
}

// Warm readies the target for batches ahead of the first one: the state
// tables (a few statements of DDL, 40 ms or so) and the connection pool.
// A worker calls it as it starts, while the extractor reads the first
// page, so the first batch does not wait for them. Any error is left for
// the first batch to meet again and report.
func (t *Target) Warm(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	_ = t.ensureReady(ctx)
}

// ensureReady creates the state tables once per process.
func (t *Target) ensureReady(ctx context.Context) error {
	t.readyMu.Lock()
	defer t.readyMu.Unlock()
	if t.ready {
		return nil
	}
	if err := t.ensureState(ctx); err != nil {
		return err
	}
	var packet int64
	if err := t.db.QueryRowContext(ctx, "SELECT @@max_allowed_packet").Scan(&packet); err != nil {
		return fmt.Errorf("reading the target's max_allowed_packet: %w", t.redact(err))
	}
	t.maxPacket = int(packet)
	t.ready = true
	return nil
}

// txSetup is the statement that readies a connection for batch
// transactions, run once when it connects: READ COMMITTED (no gap locks
// between concurrent batches) and, on MariaDB, a bound on how long a
// transaction may sit idle: a worker frozen (SIGSTOP, a paused VM) in the
// middle of one would otherwise hold its locks for as long as its
// connection lives. MySQL has no such bound; there wait_timeout (see
// targetDSN) ends the connection.
func txSetup(version string) string {
	if strings.Contains(version, "MariaDB") {
		return fmt.Sprintf("SET @@session.tx_isolation = 'READ-COMMITTED', @@session.idle_transaction_timeout = %d", idleTransactionTimeout)
	}
	return "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED"
}

// idleTransactionTimeout (seconds) ends a batch transaction whose worker
// stopped answering; a live worker is never idle that long inside one.
const idleTransactionTimeout = 60

// targetDSN keeps values as text (one round trip per statement and the
// text protocol), UTC for TIMESTAMPs, and a strict sql_mode that refuses to
// truncate silently but accepts zero dates a MySQL source may hold.
func targetDSN(dsn string) (string, error) {
	cfg, err := mysqlconn.Config(dsn)
	if err != nil {
		return "", err
	}
	cfg.Params["sql_mode"] = "'STRICT_ALL_TABLES,NO_ENGINE_SUBSTITUTION,NO_AUTO_VALUE_ON_ZERO'"
	// Bounded waits: a lock held by a stuck transaction fails the waiting
	// batch after 30 s (it is retried) instead of 50; a connection whose
	// process stopped answering is ended after 10 minutes, not 8 hours
	// (pooled connections are recycled sooner, see New).
	cfg.Params["innodb_lock_wait_timeout"] = "30"
	cfg.Params["wait_timeout"] = "600"
	// The driver takes the server's max_allowed_packet as its own limit
	// (upserts are sized under it).
	cfg.MaxAllowedPacket = 0
	return cfg.FormatDSN(), nil
}

// Close closes the pool.
func (t *Target) Close() error { return t.db.Close() }

// DB exposes the pool: to the cleanup's store of delete candidates, to
// tests and benchmarks.
func (t *Target) DB() *sql.DB { return t.db }

// Redact removes the DSN's secrets from an error of the pool.
func (t *Target) Redact(err error) error { return redact.Err(err, t.dsn) }

func (t *Target) redact(err error) error { return t.Redact(err) }

// quote quotes a MySQL identifier.
func quote(ident string) string { return "`" + strings.ReplaceAll(ident, "`", "``") + "`" }

// quoteTable quotes [database.]table.
func quoteTable(table string) string {
	parts := strings.Split(table, ".")
	for i, p := range parts {
		parts[i] = quote(p)
	}
	return strings.Join(parts, ".")
}

// retryable reports MySQL errors that a transaction should simply retry:
// deadlocks and lock wait timeouts between concurrent batches.
func retryable(err error) bool {
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		return me.Number == 1213 || me.Number == 1205
	}
	return false
}
