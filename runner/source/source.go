// Package source reads the source database, read-only: SQL Server through
// github.com/microsoft/go-mssqldb and MySQL/MariaDB through
// github.com/go-sql-driver/mysql. It resolves an entity against the catalog,
// pages through its rows in key order (keyset pagination) and converts every
// value into its canonical form (package schema). It never issues a write:
// SQL Server connections declare ApplicationIntent=ReadOnly and MySQL reads
// run in READ ONLY transactions.
package source

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/go-sql-driver/mysql"

	syncv1alpha1 "github.com/sisporta/sisporta/api/v1alpha1"
	"github.com/sisporta/sisporta/runner/failure"
	"github.com/sisporta/sisporta/runner/mysqltype"
	"github.com/sisporta/sisporta/runner/redact"
	"github.com/sisporta/sisporta/runner/schema"
)

// Row is one row of canonical values (schema.Row).
type Row = schema.Row

// empty is the canonical empty value (not NULL).
var empty = []byte{}

// Source is an open, read-only connection to a source database.
type Source struct {
	db   *sql.DB
	d    dialect
	dsn  string
	spec syncv1alpha1.SourceSpec

	probeOnce sync.Once
	probe     digestProbe
	probeErr  error
}

// dialect is what differs between source databases.
type dialect interface {
	name() syncv1alpha1.SourceDriver
	quote(ident string) string
	quoteTable(table string) string
	placeholder(i int) string
	// limitQuery wraps a SELECT list and tail to read at most n rows.
	limitQuery(selectList, from, where, orderBy string, n int) string
	// keyExpr renders a key value's placeholder for a comparison with the
	// key column, in the column's own order.
	keyExpr(c *column, param string) string
	// selectExpr reads a column so that canonical can make its canonical
	// form (the quoted name, or an expression around it).
	selectExpr(c *column) string
	// prepare completes a resolved column (what the dialect needs to read
	// and compare its values), before the target types are fitted.
	prepare(c *column) error
	// uniqueIndexes lists the column lists of a table's primary key and
	// unique indexes.
	uniqueIndexes(ctx context.Context, db *sql.DB, table string) ([][]string, error)
	// repeatedKeyQuery selects one key that more than one row has.
	repeatedKeyQuery(sel, from, where, group string) string
	// writePrivileges lists what the login may change, and where.
	writePrivileges(ctx context.Context, db *sql.DB) (privs []string, scope string, err error)
	// location names the server and database the source reads ("" when
	// it cannot be a MySQL target's).
	location(ctx context.Context, db *sql.DB) (string, error)
	// lookupArg is the argument comparing a canonical key value with c
	// through keyExpr, for lookups by key.
	lookupArg(c *column, v []byte) (any, error)
	describeTable(ctx context.Context, db *sql.DB, table string) ([]rawColumn, []string, error)
	describeQuery(ctx context.Context, db *sql.DB, query string) ([]rawColumn, error)
	mapColumn(rc rawColumn) (schema.Column, error)
	// query runs a SELECT in a read-only scope and calls fn with each row's
	// values as the driver gives them (valid until fn returns; fn may return
	// errStop to end early).
	query(ctx context.Context, db *sql.DB, q string, args []any, fn func(row []any) error) error
	// canonical converts a driver value into canonical bytes, copied with a
	// (the driver reuses its buffers).
	canonical(c *column, v any, a *arena) ([]byte, error)
	// keyParam is the exact parameter that continues a keyset after a key
	// value (val is what canonical made of v). It is taken for every row but
	// kept for the last only, so it should be cheap; finishKey makes it final.
	keyParam(c *column, v any, val []byte) any
	finishKey(c *column, p any) (any, error)
	// cursorMaxQuery selects the largest value of an UpdatedAt cursor
	// column c (quoted: col) no further than ahead past now.
	cursorMaxQuery(c *column, col, from string, ahead time.Duration) string
	// arg is the statement argument for value v compared with c through
	// keyExpr (fixed types, language-independent literals).
	arg(c *column, v any) any
	// exactMatch is a condition that holds only when key column c (col)
	// equals the parameter expression exactly, byte for byte, when the
	// source's '=' is looser (case, accents, trailing spaces); "" when
	// '=' is exact already.
	exactMatch(c *column, col, param string) string
	// checkOptions makes sure the database allows the spec's read options.
	checkOptions(ctx context.Context, db *sql.DB, spec syncv1alpha1.SourceSpec) error
	rowVersionCapQuery() string
	// rowDigest is how a page read hashes its rows over cols (query: the
	// entity is a source.query) exactly as rangeDigestQuery does (see
	// digest.go).
	rowDigest(cols []column, query bool) rowDigester
	// rangeDigestQuery aggregates the row hashes of the rows under where
	// into a range digest, its row labelled with label.
	rangeDigestQuery(cols []column, query bool, label, from, where string) string
	// newDigest is an empty digest of the dialect's kind.
	newDigest() schema.SourceDigest
	// scanRangeDigest reads the row of rangeDigestQuery.
	scanRangeDigest(vals []any) (schema.SourceDigest, error)
	// digestProbe finds what the server can digest exactly.
	digestProbe(ctx context.Context, db *sql.DB) (digestProbe, error)
	// readOnly runs fn in a read-only scope.
	readOnly(ctx context.Context, db *sql.DB, fn func(q querier) error) error
}

type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// rawColumn is a column as the catalog describes it.
type rawColumn struct {
	Name      string
	Type      string // base type name, lower case: nvarchar, decimal, int
	FullType  string // declaration as the source writes it, for messages and MySQL→MySQL
	MaxLength int    // bytes for SQL Server (-1 = max), characters for MySQL
	Precision int
	Scale     int
	Nullable  bool
	Collation string
	Charset   string
	// QueryType is the type a MySQL query's result reports for a text
	// column mapped to LONGTEXT (enum, set, varchar ...).
	QueryType string
}

// column is a resolved column: its schema entry plus how to read it.
type column struct {
	schema.Column
	raw rawColumn
	// codec reads and compares values of a MySQL source column.
	codec mysqltype.Codec
}

// Open connects to a source described by spec (its driver and read
// options). The DSN is in the driver's native form; for SQL Server,
// ApplicationIntent=ReadOnly is set unless the DSN says otherwise. Errors
// never contain the DSN or its password.
func Open(ctx context.Context, spec syncv1alpha1.SourceSpec, dsn string) (*Source, error) {
	if dsn == "" {
		return nil, fmt.Errorf("no source DSN: set --source-dsn or SISPORTA_SOURCE_DSN")
	}
	var (
		d    dialect
		conn string
		db   *sql.DB
		err  error
	)
	switch spec.Driver {
	case syncv1alpha1.SourceSQLServer:
		d = mssqlDialect{}
		if conn, err = readOnlyMSSQLDSN(dsn); err == nil {
			db, err = openMSSQL(conn, spec)
		}
	case syncv1alpha1.SourceMySQL:
		d = mysqlDialect{}
		if conn, err = sourceMySQLDSN(dsn); err == nil {
			db, err = sql.Open("mysql", conn)
		}
	default:
		return nil, fmt.Errorf("source driver %q is not supported: use sqlserver or mysql", spec.Driver)
	}
	if err != nil {
		return nil, fmt.Errorf("the source DSN is not valid for driver %s: %w", spec.Driver, redact.Err(err, dsn, conn))
	}
	db.SetMaxOpenConns(4)
	db.SetConnMaxIdleTime(5 * time.Minute)
	pingCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := db.PingContext(pingCtx); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("cannot connect to the source (%s): %w", spec.Driver, redact.Err(err, dsn, conn))
	}
	s := &Source{db: db, d: d, dsn: dsn, spec: spec}
	if err := d.checkOptions(pingCtx, db, spec); err != nil {
		_ = db.Close()
		return nil, s.redact(err)
	}
	return s, nil
}

// Location names the server and database the source reads, as
// mysqlconn.Location does, so that a target on the same server can refuse
// to write into the source's database; "" for a source that cannot be one
// (SQL Server).
func (s *Source) Location(ctx context.Context) (string, error) {
	loc, err := s.d.location(ctx, s.db)
	return loc, s.redact(err)
}

// Close closes the connection pool.
func (s *Source) Close() error { return s.db.Close() }

// Driver is the source's dialect.
func (s *Source) Driver() syncv1alpha1.SourceDriver { return s.d.name() }

// redact removes the DSN from an error and marks what retrying cannot fix
// (a table or column gone, a login without rights) as permanent.
func (s *Source) redact(err error) error {
	err = redact.Err(err, s.dsn)
	if err != nil && (failure.IsMissingObject(err) || failure.IsPermanent(err)) {
		return failure.Permanent(err)
	}
	return err
}

// Entity is an entity's source side resolved against the catalog.
type Entity struct {
	Name   string
	Spec   syncv1alpha1.EntitySource
	Schema schema.Table
	cols   []column
	// cursor is the incremental cursor column, when the entity has one.
	cursor *column
	from   string
	// ref names the table (or the query's alias) in column references: a
	// where that names the table (t1.active) reads the same everywhere.
	ref string
}

// Resolve reads the columns of an entity's table or query from the source's
// catalog, maps the ones the spec copies to their target types and finds the
// key columns (source.keyColumns, or else the table's primary key).
func (s *Source) Resolve(ctx context.Context, spec syncv1alpha1.EntitySpec) (*Entity, error) {
	// The last guard before SQL is sent: where and query must stay one
	// expression and one SELECT whatever path the spec came by.
	if spec.Source.Query != "" {
		if err := syncv1alpha1.CheckQuery(s.d.name(), spec.Source.Query); err != nil {
			return nil, fmt.Errorf("entity %s: %w", spec.Name, err)
		}
	}
	if err := syncv1alpha1.CheckWhere(s.d.name(), spec.Source.Where); err != nil {
		return nil, fmt.Errorf("entity %s: %w", spec.Name, err)
	}
	e := &Entity{Name: spec.Name, Spec: spec.Source}
	var (
		raws []rawColumn
		pk   []string
		err  error
	)
	where := "source table " + string(spec.Source.Table)
	if spec.Source.Query != "" {
		where = "source query"
		e.from, e.ref = "("+spec.Source.Query+") AS sisporta_q", "sisporta_q"
		raws, err = s.d.describeQuery(ctx, s.db, spec.Source.Query)
	} else {
		e.from = s.d.quoteTable(string(spec.Source.Table))
		e.ref = e.from
		raws, pk, err = s.d.describeTable(ctx, s.db, string(spec.Source.Table))
	}
	if err != nil {
		return nil, fmt.Errorf("entity %s: reading the %s's columns: %w", spec.Name, where, s.redact(err))
	}
	if len(raws) == 0 {
		if spec.Source.Query != "" {
			return nil, failure.Permanent(fmt.Errorf("entity %s: the source query returns no columns: check source.query", spec.Name))
		}
		return nil, failure.Permanent(fmt.Errorf("entity %s: %s not found, or the source login cannot see it: check the name (schema.table) and grant SELECT", spec.Name, where))
	}
	byName := map[string]rawColumn{}
	var names []string
	for _, rc := range raws {
		byName[strings.ToLower(rc.Name)] = rc
		names = append(names, rc.Name)
	}
	find := func(name string) (rawColumn, error) {
		rc, ok := byName[strings.ToLower(name)]
		if !ok {
			return rc, fmt.Errorf("entity %s: column %q not found in the %s (it has: %s)", spec.Name, name, where, strings.Join(names, ", "))
		}
		return rc, nil
	}

	keys := make([]string, 0, len(spec.Source.KeyColumns))
	for _, k := range spec.Source.KeyColumns {
		keys = append(keys, string(k))
	}
	if len(keys) == 0 {
		keys = pk
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("entity %s: the %s has no primary key: set source.keyColumns to the columns that identify a row", spec.Name, where)
	}

	type pick struct{ source, target string }
	var picks []pick
	if len(spec.Columns) == 0 {
		for _, rc := range raws {
			picks = append(picks, pick{rc.Name, rc.Name})
		}
	} else {
		for _, m := range spec.Columns {
			picks = append(picks, pick{string(m.Source), string(m.TargetColumn())})
		}
	}
	for _, p := range picks {
		rc, err := find(p.source)
		if err != nil {
			return nil, err
		}
		sc, err := s.d.mapColumn(rc)
		if err != nil {
			return nil, fmt.Errorf("entity %s: column %s: %w", spec.Name, rc.Name, err)
		}
		sc.Source, sc.Name = rc.Name, p.target
		e.cols = append(e.cols, column{Column: sc, raw: rc})
	}
	for i, k := range keys {
		rc, err := find(k)
		if err != nil {
			return nil, fmt.Errorf("%w; it is named as a key column", err)
		}
		found := false
		for j := range e.cols {
			if strings.EqualFold(e.cols[j].Source, rc.Name) {
				e.cols[j].Key = i + 1
				found = true
				break
			}
		}
		if !found {
			return nil, fmt.Errorf("entity %s: key column %s is not among the mapped columns: add it to columns, the target needs it to identify rows", spec.Name, rc.Name)
		}
	}
	seen := map[string]string{}
	for i := range e.cols {
		c := &e.cols[i]
		if other, ok := seen[strings.ToLower(c.Name)]; ok {
			return nil, failure.Permanent(fmt.Errorf("entity %s: source columns %s and %s would both be named %s in the target (MySQL column names ignore case): map one of them to another name in columns", spec.Name, other, c.Source, c.Name))
		}
		seen[strings.ToLower(c.Name)] = c.Source
		if syncv1alpha1.IsReservedName(string(c.Name)) {
			return nil, fmt.Errorf("entity %s: column %s would be named %s in the target, a name Sisporta keeps for itself: map it to another name in columns (- {source: %s, target: <other>})", spec.Name, c.Source, c.Name, c.Source)
		}
		if c.Key > 0 && c.Kind == schema.KindFloat {
			return nil, fmt.Errorf("entity %s: key column %s is %s, an approximate number: floating-point keys cannot identify rows exactly (values that print alike merge, and their order cannot be paginated exactly); choose other source.keyColumns, e.g. an integer or DECIMAL column", spec.Name, c.Source, c.raw.FullType)
		}
		if err := s.d.prepare(c); err != nil {
			return nil, fmt.Errorf("entity %s: column %s: %w", spec.Name, c.Source, err)
		}
	}
	if c := spec.Source.Cursor; c != nil {
		rc, err := find(string(c.Column))
		if err != nil {
			return nil, fmt.Errorf("%w; it is named as the cursor column", err)
		}
		sc, err := s.d.mapColumn(rc)
		if err != nil {
			return nil, fmt.Errorf("entity %s: cursor column %s: %w", spec.Name, rc.Name, err)
		}
		if c.Kind == syncv1alpha1.CursorRowVersion && rc.Type != "timestamp" && rc.Type != "rowversion" {
			return nil, fmt.Errorf("entity %s: cursor column %s is %s, not rowversion: use kind UpdatedAt for date columns", spec.Name, rc.Name, rc.FullType)
		}
		if c.Kind == syncv1alpha1.CursorUpdatedAt && sc.Kind != schema.KindDateTime && sc.Kind != schema.KindDate {
			return nil, fmt.Errorf("entity %s: cursor column %s is %s: UpdatedAt needs a date/time column", spec.Name, rc.Name, rc.FullType)
		}
		sc.Source = rc.Name
		e.cursor = &column{Column: sc, raw: rc}
		if err := s.d.prepare(e.cursor); err != nil {
			return nil, fmt.Errorf("entity %s: cursor column %s: %w", spec.Name, rc.Name, err)
		}
	}
	if err := checkLimits(e.cols); err != nil {
		return nil, failure.Permanent(fmt.Errorf("entity %s: %w", spec.Name, err))
	}
	narrowKeys(e.cols)
	for _, c := range e.cols {
		e.Schema.Columns = append(e.Schema.Columns, c.Column)
	}
	if err := fitRowSize(&e.Schema); err != nil {
		return nil, fmt.Errorf("entity %s: %w", spec.Name, err)
	}
	for i := range e.cols {
		e.cols[i].Column = e.Schema.Columns[i]
	}
	return e, nil
}

// lockRetries is how often a read that lost a deadlock or waited out the
// lock timeout is tried again before the error is returned.
const lockRetries = 4

// lockRetryPause is the first pause before a retry; it doubles each time.
var lockRetryPause = time.Second

// retryLocks runs a read again, after a pause, when it failed only because
// of a lock: SQL Server's lock timeout (1222) or deadlock victim (1205),
// MySQL's lock wait timeout (1205) or deadlock (1213). An ERP transaction
// that holds a lock for a while delays the run instead of failing it.
func (s *Source) retryLocks(ctx context.Context, read func() error) error {
	pause := lockRetryPause
	for attempt := 0; ; attempt++ {
		err := read()
		if err == nil || attempt == lockRetries || !lockConflict(err) {
			if err != nil && lockConflict(err) {
				err = fmt.Errorf("%w (tried %d times: a transaction in the source holds locks on the rows for longer than source.lockTimeoutSeconds; the next run tries again, or set source.isolation: Snapshot to read without waiting)", err, attempt+1)
			}
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(pause):
		}
		pause *= 2
	}
}

// lockConflict reports an error of a read that waited for a lock too long
// or was chosen as a deadlock's victim.
func lockConflict(err error) bool {
	var ms interface{ SQLErrorNumber() int32 }
	if errors.As(err, &ms) {
		n := ms.SQLErrorNumber()
		return n == 1205 || n == 1222
	}
	var my *mysql.MySQLError
	if errors.As(err, &my) {
		return my.Number == 1205 || my.Number == 1213
	}
	return false
}

// MySQL's limits on a table: InnoDB's columns per table and key parts
// per index.
const (
	maxTableColumns = 1017
	maxKeyColumns   = 16
)

// checkLimits refuses an entity MySQL cannot hold before any table is
// made, saying what to leave out, instead of failing at CREATE TABLE.
func checkLimits(cols []column) error {
	keys, extra := 0, 2 // the hash and soft-delete columns
	for _, c := range cols {
		if c.Key > 0 {
			keys++
			if c.Order != "" {
				extra++ // the key's order column
			}
		}
	}
	if keys > maxKeyColumns {
		return fmt.Errorf("the key has %d columns and a MySQL key holds at most %d: set source.keyColumns to fewer columns that identify a row (a unique index's)", keys, maxKeyColumns)
	}
	if n := len(cols) + extra; n > maxTableColumns {
		return fmt.Errorf("it maps %d columns and a MySQL table holds at most %d (%d of them Sisporta's own): list the columns to mirror in columns, or split the table into two entities with the key in each", len(cols), maxTableColumns-extra, extra)
	}
	return nil
}

// errStop ends a query early without an error.
var errStop = errors.New("stop")

// ErrNullKey is returned when a key column holds NULL: keys must identify rows.
var ErrNullKey = errors.New("a key column is NULL: key columns must identify rows, choose non-nullable source.keyColumns")

// quoteParts quotes each part of [database.][schema.]table.
func quoteParts(table string, quote func(string) string) string {
	parts := strings.Split(table, ".")
	for i, p := range parts {
		parts[i] = quote(p)
	}
	return strings.Join(parts, ".")
}

// queryStrings returns the single text column of a catalog query.
func queryStrings(ctx context.Context, db querier, q string, args ...any) ([]string, error) {
	rows, err := db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}
