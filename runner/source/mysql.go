package source

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	syncv1alpha1 "github.com/sisporta/sisporta/api/v1alpha1"
	"github.com/sisporta/sisporta/runner/mysqlconn"
	"github.com/sisporta/sisporta/runner/mysqltype"
	"github.com/sisporta/sisporta/runner/schema"
)

// mysqlDialect reads MySQL or MariaDB. Values travel as the server's own
// text (the text protocol, kept by interpolateParams), so MySQL → MySQL
// copies every value and type exactly.
type mysqlDialect struct{}

func (mysqlDialect) name() syncv1alpha1.SourceDriver { return syncv1alpha1.SourceMySQL }

func (mysqlDialect) quote(ident string) string {
	return "`" + strings.ReplaceAll(ident, "`", "``") + "`"
}

func (d mysqlDialect) quoteTable(table string) string { return quoteParts(table, d.quote) }

func (mysqlDialect) placeholder(int) string { return "?" }

func (mysqlDialect) limitQuery(sel, from, where, orderBy string, n int) string {
	q := "SELECT " + sel + " FROM " + from
	if where != "" {
		q += " WHERE " + where
	}
	return q + " ORDER BY " + orderBy + fmt.Sprintf(" LIMIT %d", n)
}

// keyExpr compares in the column's own order: decimals as decimals, text
// in its character set and collation, ENUM and SET by index and mask.
func (mysqlDialect) keyExpr(c *column, param string) string { return c.codec.Compare(param) }

// selectExpr reads FLOAT exactly (widened to DOUBLE), BIT as its number and
// text of non-UTF-8 character sets as its bytes (package mysqltype).
func (d mysqlDialect) selectExpr(c *column) string { return c.codec.Select(d.quote(c.Source)) }

// prepare builds the column's codec from the source's own definition (the
// target's type may be fitted later: TEXT for wide VARCHARs, a bounded
// VARCHAR for a query's text key), and refuses key types whose order a
// query's result does not describe.
func (mysqlDialect) prepare(c *column) error {
	def := c.raw.FullType
	if c.raw.Charset != "" && c.raw.Collation != "" {
		def += " CHARACTER SET " + c.raw.Charset + " COLLATE " + c.raw.Collation
	}
	col := c.Column
	col.Type = def
	k, err := mysqltype.For(&col)
	if err != nil {
		return err
	}
	c.codec = k
	if c.Key > 0 && (c.raw.QueryType == "enum" || c.raw.QueryType == "set") {
		return fmt.Errorf("is %s in a source.query, whose result does not carry the members that set its order: select it as text (CAST(%s AS CHAR) AS %s) to use it as a key, or mirror the table instead of a query", strings.ToUpper(c.raw.QueryType), c.raw.Name, c.raw.Name)
	}
	return nil
}

func (mysqlDialect) lookupArg(c *column, v []byte) (any, error) { return c.codec.Arg(v) }

func (d mysqlDialect) uniqueIndexes(ctx context.Context, db *sql.DB, table string) ([][]string, error) {
	var schemaName any
	name := table
	if s, t, ok := strings.Cut(table, "."); ok {
		schemaName, name = s, t
	}
	var out [][]string
	err := d.readOnly(ctx, db, func(q querier) error {
		var err error
		out, err = groupedUniqueIndexes(ctx, q, `SELECT INDEX_NAME, COLUMN_NAME FROM information_schema.STATISTICS
WHERE TABLE_SCHEMA = COALESCE(?, DATABASE()) AND TABLE_NAME = ? AND NON_UNIQUE = 0 ORDER BY INDEX_NAME, SEQ_IN_INDEX`, schemaName, name)
		return err
	})
	return out, err
}

func (d mysqlDialect) writePrivileges(ctx context.Context, db *sql.DB) (privs []string, scope string, err error) {
	err = d.readOnly(ctx, db, func(q querier) error {
		var database sql.NullString
		if err := q.QueryRowContext(ctx, "SELECT DATABASE()").Scan(&database); err != nil {
			return err
		}
		lines, err := queryStrings(ctx, q, "SHOW GRANTS")
		if err != nil {
			return err
		}
		privs = mysqlWriteGrants(lines, database.String)
		scope = "`" + database.String + "` or all databases"
		return nil
	})
	return privs, scope, err
}

func (d mysqlDialect) location(ctx context.Context, db *sql.DB) (loc string, err error) {
	err = d.readOnly(ctx, db, func(q querier) error {
		loc, err = mysqlconn.Location(ctx, q)
		return err
	})
	return loc, err
}

func (mysqlDialect) repeatedKeyQuery(sel, from, where, group string) string {
	q := "SELECT " + sel + " FROM " + from
	if where != "" {
		q += " WHERE (" + where + ")"
	}
	return q + " GROUP BY " + group + " HAVING COUNT(*) > 1 LIMIT 1"
}

func (mysqlDialect) cursorMaxQuery(c *column, col, from string, ahead time.Duration) string {
	limit := fmt.Sprintf("UTC_TIMESTAMP(6) + INTERVAL %d SECOND", int(ahead.Seconds()))
	if c.Kind == schema.KindDate {
		limit = "DATE(" + limit + ")"
	}
	return "SELECT MAX(" + col + ") FROM " + from + " WHERE " + col + " <= " + limit
}
func (mysqlDialect) rowVersionCapQuery() string { return "SELECT NULL" }

// arg: the codecs give MySQL parameters their final form already.
func (mysqlDialect) arg(_ *column, v any) any { return v }

// exactMatch: the codecs compare keys in the column's own collation, which
// the target's key column shares (checked when the table is made).
func (mysqlDialect) exactMatch(*column, string, string) string { return "" }

// checkOptions: MySQL sources have no read options.
func (mysqlDialect) checkOptions(context.Context, *sql.DB, syncv1alpha1.SourceSpec) error { return nil }

// readOnly runs fn in a READ ONLY transaction: the server refuses any write.
func (mysqlDialect) readOnly(ctx context.Context, db *sql.DB, fn func(q querier) error) error {
	tx, err := db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}

// sourceMySQLDSN keeps values as server text, in UTC for TIMESTAMPs.
func sourceMySQLDSN(dsn string) (string, error) {
	cfg, err := mysqlconn.Config(dsn)
	if err != nil {
		return "", err
	}
	cfg.Params["sql_mode"] = mysqlconn.SourceSQLMode
	return cfg.FormatDSN(), nil
}

const mysqlDescribeTable = `SELECT COLUMN_NAME, DATA_TYPE, COLUMN_TYPE, COALESCE(CHARACTER_MAXIMUM_LENGTH, 0),
  COALESCE(NUMERIC_PRECISION, 0), COALESCE(NUMERIC_SCALE, DATETIME_PRECISION, 0), IS_NULLABLE,
  COALESCE(CHARACTER_SET_NAME, ''), COALESCE(COLLATION_NAME, '')
FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = COALESCE(?, DATABASE()) AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION`

const mysqlPrimaryKey = `SELECT COLUMN_NAME FROM information_schema.KEY_COLUMN_USAGE
WHERE TABLE_SCHEMA = COALESCE(?, DATABASE()) AND TABLE_NAME = ? AND CONSTRAINT_NAME = 'PRIMARY' ORDER BY ORDINAL_POSITION`

func (d mysqlDialect) describeTable(ctx context.Context, db *sql.DB, table string) (cols []rawColumn, pk []string, err error) {
	err = d.readOnly(ctx, db, func(q querier) error {
		cols, pk, err = mysqlDescribeTableIn(ctx, q, table)
		return err
	})
	return cols, pk, err
}

func mysqlDescribeTableIn(ctx context.Context, db querier, table string) ([]rawColumn, []string, error) {
	var schemaName any
	name := table
	if s, t, ok := strings.Cut(table, "."); ok {
		schemaName, name = s, t
	}
	rows, err := db.QueryContext(ctx, mysqlDescribeTable, schemaName, name)
	if err != nil {
		return nil, nil, err
	}
	defer rows.Close()
	var out []rawColumn
	for rows.Next() {
		var (
			rc       rawColumn
			maxLen   int64
			nullable string
		)
		if err := rows.Scan(&rc.Name, &rc.Type, &rc.FullType, &maxLen, &rc.Precision, &rc.Scale, &nullable, &rc.Charset, &rc.Collation); err != nil {
			return nil, nil, err
		}
		rc.Type = strings.ToLower(rc.Type)
		rc.MaxLength = int(min(maxLen, 1<<31-1))
		rc.Nullable = nullable == "YES"
		out = append(out, rc)
	}
	if err := rows.Err(); err != nil || len(out) == 0 {
		return out, nil, err
	}
	pk, err := queryStrings(ctx, db, mysqlPrimaryKey, schemaName, name)
	return out, pk, err
}

// describeQuery learns a query's columns from its result metadata (a
// query has no catalog entry; LIMIT 0 reads no rows), and the character
// set and collation of its text columns from COLLATION() over a row of
// NULLs (the metadata has no collation). Both statements run in a READ
// ONLY transaction, like every other statement sent to a source.
func (d mysqlDialect) describeQuery(ctx context.Context, db *sql.DB, query string) ([]rawColumn, error) {
	var out []rawColumn
	err := d.readOnly(ctx, db, func(tx querier) error {
		var err error
		out, err = mysqlQueryColumns(ctx, tx, query)
		return err
	})
	return out, err
}

func mysqlQueryColumns(ctx context.Context, tx querier, query string) ([]rawColumn, error) {
	rows, err := tx.QueryContext(ctx, "SELECT * FROM ("+query+") AS sisporta_q LIMIT 0")
	if err != nil {
		return nil, err
	}
	types, err := rows.ColumnTypes()
	if err != nil {
		_ = rows.Close()
		return nil, err
	}
	var (
		out   []rawColumn
		texts []int
	)
	for _, ct := range types {
		rc := rawColumn{Name: ct.Name()}
		rc.Nullable, _ = ct.Nullable()
		dbType := strings.ToLower(ct.DatabaseTypeName())
		unsigned := strings.HasPrefix(dbType, "unsigned ")
		rc.Type = strings.TrimPrefix(dbType, "unsigned ")
		length, _ := ct.Length()
		rc.MaxLength = int(min(length, 1<<31-1))
		if p, s, ok := ct.DecimalSize(); ok {
			rc.Precision, rc.Scale = int(p), int(s)
		}
		// Result metadata carries no lengths: text and binary columns get
		// the widest types (key columns are narrowed by Resolve).
		switch rc.Type {
		case "varchar", "char", "enum", "set", "text", "json":
			rc.QueryType = rc.Type
			rc.Type, rc.FullType = "longtext", "longtext"
			texts = append(texts, len(out))
		case "binary", "varbinary", "blob":
			rc.Type, rc.FullType = "longblob", "longblob"
		case "geometry":
			rc.FullType = "geometry"
		case "decimal":
			// The metadata's length counts a sign an UNSIGNED DECIMAL does
			// not have, so the driver's precision is one digit short for
			// those, and it does not say which: one more digit holds both.
			rc.Precision = min(rc.Precision+1, 65)
			rc.FullType = fmt.Sprintf("decimal(%d,%d)", rc.Precision, rc.Scale)
		case "datetime", "timestamp", "time":
			rc.FullType = fmt.Sprintf("%s(%d)", rc.Type, rc.Scale)
			if rc.Scale == 0 {
				rc.FullType = rc.Type
			}
		case "float", "double":
			rc.FullType = rc.Type // FLOAT(M,D)'s display digits do not change its values
		case "bit":
			rc.FullType = "bit(64)" // the metadata has no width: the widest holds every value
		default:
			rc.FullType = rc.Type
		}
		if unsigned {
			rc.FullType += " unsigned"
		}
		out = append(out, rc)
	}
	_ = rows.Close()
	if err := rows.Err(); err != nil || len(texts) == 0 {
		return out, err
	}
	var sel []string
	for _, i := range texts {
		q := mysqlDialect{}.quote(out[i].Name)
		sel = append(sel, "CHARSET(sisporta_q."+q+"), COLLATION(sisporta_q."+q+")")
	}
	vals := make([]string, 2*len(texts))
	ptrs := make([]any, len(vals))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	q := "SELECT " + strings.Join(sel, ", ") + " FROM (SELECT 1) AS sisporta_one LEFT JOIN (SELECT * FROM (" + query + ") AS sisporta_i LIMIT 0) AS sisporta_q ON 1=1"
	if err := tx.QueryRowContext(ctx, q).Scan(ptrs...); err != nil {
		return nil, fmt.Errorf("reading the character sets of the query's columns: %w", err)
	}
	for j, i := range texts {
		if cs, coll := vals[2*j], vals[2*j+1]; cs != "" && cs != "binary" {
			out[i].Charset, out[i].Collation = cs, coll
		}
	}
	return out, nil
}

// mapColumn keeps a MySQL column's type exactly (with its character set
// and collation); the kind only says how values are treated in transit.
func (mysqlDialect) mapColumn(rc rawColumn) (schema.Column, error) {
	c := schema.Column{SourceType: rc.FullType, Type: rc.FullType, Nullable: rc.Nullable, Width: rc.MaxLength}
	kind, ok := mysqltype.KindOf(rc.Type)
	if !ok {
		return c, fmt.Errorf("MySQL type %s is not supported: leave the column out of columns, or read it through source.query with a conversion (e.g. ST_AsText(col))", rc.FullType)
	}
	c.Kind = kind
	switch kind {
	case schema.KindDecimal, schema.KindDateTime, schema.KindTime:
		c.Scale = rc.Scale
	case schema.KindString:
		if rc.Charset != "" && rc.Collation != "" {
			c.Type += " CHARACTER SET " + rc.Charset + " COLLATE " + rc.Collation
		}
	}
	if c.Kind == schema.KindString && (rc.Type == "char" || rc.Type == "varchar") {
		c.Width = rc.MaxLength
	}
	return c, nil
}

// query reads through the driver directly, in a READ ONLY transaction:
// database/sql's per-value conversions cost a third of the extractor's time
// on wide tables, and the text protocol's values are final as they are.
func (mysqlDialect) query(ctx context.Context, db *sql.DB, q string, args []any, fn func(row []any) error) error {
	conn, err := db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "START TRANSACTION READ ONLY"); err != nil {
		return err
	}
	row := []any{}
	err = mysqlconn.RawQuery(ctx, conn, q, args, func(vals []driver.Value) error {
		if len(row) != len(vals) {
			row = make([]any, len(vals))
		}
		for i, v := range vals {
			row[i] = v
		}
		err := fn(row)
		if errors.Is(err, errStop) {
			return mysqlconn.ErrStop
		}
		return err
	})
	end := "COMMIT"
	if err != nil {
		end = "ROLLBACK"
	}
	if _, cerr := conn.ExecContext(context.WithoutCancel(ctx), end); err == nil {
		err = cerr
	}
	return err
}

// canonical copies the server's text: it already is the canonical form,
// but for floats, which are rewritten as the shortest text of their double.
func (mysqlDialect) canonical(c *column, v any, a *arena) ([]byte, error) {
	switch raw := v.(type) {
	case nil:
		return nil, nil
	case []byte:
		if len(raw) == 0 {
			return empty, nil
		}
		if c.Kind == schema.KindFloat || c.codec.Def.Base == "enum" {
			f, err := c.codec.Canonical(raw)
			if err != nil {
				return nil, err
			}
			return a.copy(f), nil
		}
		return a.copy(raw), nil
	case string:
		return a.copy([]byte(raw)), nil
	// The driver parses numbers of the text protocol; render them back the
	// way database/sql would.
	case int64:
		a.scratch = strconv.AppendInt(a.scratch[:0], raw, 10)
	case uint64:
		a.scratch = strconv.AppendUint(a.scratch[:0], raw, 10)
	case float32:
		a.scratch = strconv.AppendFloat(a.scratch[:0], float64(raw), 'g', -1, 64)
	case float64:
		a.scratch = strconv.AppendFloat(a.scratch[:0], raw, 'g', -1, 64)
	default:
		return nil, fmt.Errorf("unexpected %T from the text protocol", v)
	}
	return a.copy(a.scratch), nil
}

// keyParam keeps the canonical bytes; finishKey turns the last row's into
// the argument that goes with keyExpr (a number for integers, ENUM and
// SET; bytes for binary and non-UTF-8 text; a string otherwise).
func (mysqlDialect) keyParam(_ *column, _ any, val []byte) any { return val }

func (mysqlDialect) finishKey(c *column, p any) (any, error) {
	b, ok := p.([]byte)
	if !ok {
		return p, nil
	}
	return c.codec.Arg(b)
}
