package source

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	mssql "github.com/microsoft/go-mssqldb"

	syncv1alpha1 "github.com/sisporta/sisporta/api/v1alpha1"
	"github.com/sisporta/sisporta/runner/schema"
)

// mssqlDialect reads Microsoft SQL Server.
type mssqlDialect struct{}

func (mssqlDialect) name() syncv1alpha1.SourceDriver { return syncv1alpha1.SourceSQLServer }

func (mssqlDialect) quote(ident string) string {
	return "[" + strings.ReplaceAll(ident, "]", "]]") + "]"
}

func (d mssqlDialect) quoteTable(table string) string { return quoteParts(table, d.quote) }

func (mssqlDialect) placeholder(i int) string { return "@p" + strconv.Itoa(i) }

func (mssqlDialect) limitQuery(sel, from, where, orderBy string, n int) string {
	q := "SELECT TOP (" + strconv.Itoa(n) + ") " + sel + " FROM " + from
	if where != "" {
		q += " WHERE " + where
	}
	return q + " ORDER BY " + orderBy
}

// keyExpr casts the parameter to the column's own type, so the comparison
// happens in the column's type and collation and the index can be sought
// (an nvarchar parameter against a varchar column would convert the column).
func (mssqlDialect) keyExpr(c *column, param string) string {
	return "CAST(" + param + " AS " + c.raw.FullType + ")"
}

func (mssqlDialect) cursorMaxQuery(col, from string, date bool, ahead time.Duration) string {
	limit := fmt.Sprintf("DATEADD(second, %d, SYSUTCDATETIME())", int(ahead.Seconds()))
	if date {
		limit = "CAST(" + limit + " AS date)"
	}
	return "SELECT MAX(" + col + ") FROM " + from + " WHERE " + col + " <= " + limit
}
func (mssqlDialect) rowVersionCapQuery() string { return "SELECT MIN_ACTIVE_ROWVERSION()" }

// readOnly runs fn on the pool: SQL Server has no per-session read-only
// mode; the connection declares ApplicationIntent=ReadOnly, Sisporta
// issues only SELECTs, and a login with db_datareader only is the guard.
func (mssqlDialect) readOnly(_ context.Context, db *sql.DB, fn func(q querier) error) error {
	return fn(db)
}

// readOnlyMSSQLDSN sets ApplicationIntent=ReadOnly (and an app name) on a
// go-mssqldb DSN in URL form (sqlserver://...) or ADO form (server=...;).
func readOnlyMSSQLDSN(dsn string) (string, error) {
	if strings.HasPrefix(strings.ToLower(dsn), "sqlserver://") {
		u, err := url.Parse(dsn)
		if err != nil {
			return "", fmt.Errorf("not a sqlserver:// URL")
		}
		q := u.Query()
		for k := range q {
			if strings.EqualFold(k, "applicationintent") || strings.EqualFold(k, "guid conversion") {
				q.Del(k)
			}
		}
		if dbName(q) == "" {
			return "", fmt.Errorf("it names no database: add ?database=<name> (read-only intent needs one)")
		}
		q.Set("ApplicationIntent", "ReadOnly")
		if q.Get("app name") == "" {
			q.Set("app name", "sisporta")
		}
		u.RawQuery = q.Encode()
		return u.String(), nil
	}
	if strings.HasPrefix(strings.ToLower(dsn), "odbc:") {
		return "", fmt.Errorf("use the sqlserver:// URL form or the server=...;database=...; form")
	}
	var kept []string
	hasDB := false
	for _, part := range strings.Split(dsn, ";") {
		k, _, _ := strings.Cut(part, "=")
		k = strings.ToLower(strings.TrimSpace(k))
		switch k {
		case "applicationintent", "guid conversion":
			continue
		case "database", "initial catalog":
			hasDB = true
		}
		if strings.TrimSpace(part) != "" {
			kept = append(kept, part)
		}
	}
	if !hasDB {
		return "", fmt.Errorf("it names no database: add database=<name>; (read-only intent needs one)")
	}
	return strings.Join(append(kept, "ApplicationIntent=ReadOnly"), ";"), nil
}

func dbName(q url.Values) string {
	for k, v := range q {
		if strings.EqualFold(k, "database") || strings.EqualFold(k, "initial catalog") {
			return strings.Join(v, "")
		}
	}
	return ""
}

// mssqlDescribeTable reads sys.columns: exact types (alias types resolved to
// their system type), lengths, precision, scale, nullability, collation.
const mssqlDescribeTable = `SELECT c.name, TYPE_NAME(c.system_type_id), c.max_length, c.precision, c.scale, c.is_nullable, ISNULL(c.collation_name, '')
FROM sys.columns c WHERE c.object_id = OBJECT_ID(@p1) ORDER BY c.column_id`

const mssqlPrimaryKey = `SELECT c.name FROM sys.indexes i
JOIN sys.index_columns ic ON ic.object_id = i.object_id AND ic.index_id = i.index_id
JOIN sys.columns c ON c.object_id = ic.object_id AND c.column_id = ic.column_id
WHERE i.object_id = OBJECT_ID(@p1) AND i.is_primary_key = 1 ORDER BY ic.key_ordinal`

// mssqlDescribeQuery describes a query's result without running it.
const mssqlDescribeQuery = `SELECT name, system_type_name, max_length, precision, scale, is_nullable, ISNULL(collation_name, '')
FROM sys.dm_exec_describe_first_result_set(@p1, NULL, 0) WHERE is_hidden = 0 ORDER BY column_ordinal`

func (d mssqlDialect) describeTable(ctx context.Context, db *sql.DB, table string) ([]rawColumn, []string, error) {
	quoted := d.quoteTable(table)
	cols, err := scanMSSQLColumns(ctx, db, mssqlDescribeTable, quoted)
	if err != nil || len(cols) == 0 {
		return cols, nil, err
	}
	pk, err := queryStrings(ctx, db, mssqlPrimaryKey, quoted)
	return cols, pk, err
}

func (mssqlDialect) describeQuery(ctx context.Context, db *sql.DB, query string) ([]rawColumn, error) {
	return scanMSSQLColumns(ctx, db, mssqlDescribeQuery, "SELECT * FROM ("+query+") AS sisporta_q")
}

func scanMSSQLColumns(ctx context.Context, db *sql.DB, q string, arg string) ([]rawColumn, error) {
	rows, err := db.QueryContext(ctx, q, arg)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []rawColumn
	for rows.Next() {
		var (
			rc        rawColumn
			maxLen    int64
			prec, scl int64
		)
		if err := rows.Scan(&rc.Name, &rc.Type, &maxLen, &prec, &scl, &rc.Nullable, &rc.Collation); err != nil {
			return nil, err
		}
		// dm_exec_describe_first_result_set gives "nvarchar(50)": keep the base name.
		base, _, _ := strings.Cut(strings.ToLower(rc.Type), "(")
		rc.Type = strings.TrimSpace(base)
		rc.MaxLength, rc.Precision, rc.Scale = int(maxLen), int(prec), int(scl)
		rc.FullType = mssqlDecl(rc)
		out = append(out, rc)
	}
	return out, rows.Err()
}

// mssqlDecl renders the T-SQL declaration of a column's type, for CASTs.
func mssqlDecl(rc rawColumn) string {
	length := func(divisor int) string {
		if rc.MaxLength < 0 {
			return "max"
		}
		return strconv.Itoa(rc.MaxLength / divisor)
	}
	switch rc.Type {
	case "decimal", "numeric":
		return fmt.Sprintf("%s(%d,%d)", rc.Type, rc.Precision, rc.Scale)
	case "datetime2", "time", "datetimeoffset":
		return fmt.Sprintf("%s(%d)", rc.Type, rc.Scale)
	case "char", "varchar", "binary", "varbinary":
		return rc.Type + "(" + length(1) + ")"
	case "nchar", "nvarchar":
		return rc.Type + "(" + length(2) + ")"
	case "timestamp", "rowversion":
		return "binary(8)"
	}
	return rc.Type
}

// mapColumn is the SQL Server → MySQL type map (README "Type map").
func (mssqlDialect) mapColumn(rc rawColumn) (schema.Column, error) {
	c := schema.Column{SourceType: rc.FullType, Nullable: rc.Nullable, Width: rc.MaxLength}
	chars := func(bytesPerChar int) int {
		if rc.MaxLength < 0 {
			return -1
		}
		return rc.MaxLength / bytesPerChar
	}
	switch rc.Type {
	case "tinyint":
		c.Kind, c.Type = schema.KindInt, "TINYINT UNSIGNED"
	case "smallint":
		c.Kind, c.Type = schema.KindInt, "SMALLINT"
	case "int":
		c.Kind, c.Type = schema.KindInt, "INT"
	case "bigint":
		c.Kind, c.Type = schema.KindInt, "BIGINT"
	case "bit":
		c.Kind, c.Type = schema.KindBool, "TINYINT(1)"
	case "decimal", "numeric":
		c.Kind, c.Type, c.Scale = schema.KindDecimal, fmt.Sprintf("DECIMAL(%d,%d)", rc.Precision, rc.Scale), rc.Scale
	case "money":
		c.Kind, c.Type, c.Scale = schema.KindDecimal, "DECIMAL(19,4)", 4
	case "smallmoney":
		c.Kind, c.Type, c.Scale = schema.KindDecimal, "DECIMAL(10,4)", 4
	case "float":
		if rc.Precision > 0 && rc.Precision <= 24 {
			c.Kind, c.Type, c.Scale = schema.KindFloat, "FLOAT", 32
		} else {
			c.Kind, c.Type, c.Scale = schema.KindFloat, "DOUBLE", 64
		}
	case "real":
		c.Kind, c.Type, c.Scale = schema.KindFloat, "FLOAT", 32
	case "char", "nchar":
		n := chars(map[bool]int{true: 2, false: 1}[rc.Type == "nchar"])
		c.Kind, c.TrimRight, c.Width = schema.KindString, true, n
		if n <= 255 {
			c.Type = fmt.Sprintf("CHAR(%d)", n)
		} else {
			c.Type = fmt.Sprintf("VARCHAR(%d)", n)
		}
	case "varchar", "nvarchar", "sysname":
		n := chars(map[bool]int{true: 1, false: 2}[rc.Type == "varchar"])
		c.Kind, c.Width = schema.KindString, n
		if n < 0 {
			c.Type = "LONGTEXT"
		} else {
			c.Type = fmt.Sprintf("VARCHAR(%d)", n)
		}
	case "text", "ntext", "xml":
		c.Kind, c.Type, c.Width = schema.KindString, "LONGTEXT", -1
	case "binary":
		c.Kind = schema.KindBytes
		if rc.MaxLength <= 255 {
			c.Type = fmt.Sprintf("BINARY(%d)", rc.MaxLength)
		} else {
			c.Type = fmt.Sprintf("VARBINARY(%d)", rc.MaxLength)
		}
	case "varbinary":
		c.Kind = schema.KindBytes
		if rc.MaxLength < 0 {
			c.Type = "LONGBLOB"
		} else {
			c.Type = fmt.Sprintf("VARBINARY(%d)", rc.MaxLength)
		}
	case "image":
		c.Kind, c.Type, c.Width = schema.KindBytes, "LONGBLOB", -1
	case "timestamp", "rowversion":
		c.Kind, c.Type = schema.KindBytes, "BINARY(8)"
	case "uniqueidentifier":
		c.Kind, c.Type = schema.KindUUID, "CHAR(36)"
	case "date":
		c.Kind, c.Type = schema.KindDate, "DATE"
	case "time":
		c.Kind, c.Scale = schema.KindTime, min(rc.Scale, 6)
		c.Type = fmt.Sprintf("TIME(%d)", c.Scale)
	case "datetime":
		c.Kind, c.Type, c.Scale = schema.KindDateTime, "DATETIME(3)", 3
	case "smalldatetime":
		c.Kind, c.Type, c.Scale = schema.KindDateTime, "DATETIME", 0
	case "datetime2", "datetimeoffset":
		c.Kind, c.Scale = schema.KindDateTime, min(rc.Scale, 6)
		c.Type = fmt.Sprintf("DATETIME(%d)", c.Scale)
		if c.Scale == 0 {
			c.Type = "DATETIME"
		}
	default:
		return c, fmt.Errorf("SQL Server type %s has no MySQL mapping: leave the column out of columns, or read it through source.query with a CAST (e.g. CAST(col AS nvarchar(max)))", rc.FullType)
	}
	if c.Kind == schema.KindString && rc.Collation != "" && caseSensitive(rc.Collation) {
		c.Type += " CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"
	}
	return c, nil
}

// caseSensitive reports whether a SQL Server collation tells 'a' from 'A'.
func caseSensitive(collation string) bool {
	u := strings.ToUpper(collation)
	return strings.Contains(u, "_CS") || strings.Contains(u, "_BIN")
}

// query reads through database/sql, scanning into interface values: the
// driver's Go types are what the conversions below expect.
func (d mssqlDialect) query(ctx context.Context, db *sql.DB, q string, args []any, fn func(row []any) error) error {
	rows, err := db.QueryContext(ctx, q, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return err
	}
	vals := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return err
		}
		if err := fn(vals); errors.Is(err, errStop) {
			return nil
		} else if err != nil {
			return err
		}
	}
	return rows.Err()
}

// canonical converts what go-mssqldb returns into canonical bytes.
func (mssqlDialect) canonical(c *column, v any, _ *arena) ([]byte, error) {
	if v == nil {
		return nil, nil
	}
	var s string
	switch c.Kind {
	case schema.KindInt:
		n, ok := v.(int64)
		if !ok {
			return nil, fmt.Errorf("want an integer, got %T", v)
		}
		s = strconv.FormatInt(n, 10)
	case schema.KindBool:
		b, ok := v.(bool)
		if !ok {
			return nil, fmt.Errorf("want a bit, got %T", v)
		}
		s = map[bool]string{true: "1", false: "0"}[b]
	case schema.KindDecimal:
		raw, err := textOf(v)
		if err != nil {
			return nil, err
		}
		if s, err = schema.NormalizeDecimal(raw, c.Scale); err != nil {
			return nil, err
		}
	case schema.KindFloat:
		f, ok := v.(float64)
		if !ok {
			return nil, fmt.Errorf("want a float, got %T", v)
		}
		if c.Scale == 32 {
			f = float64(float32(f)) // real: the driver widened it; keep exactly the stored value
		}
		s = schema.FormatFloat(f)
	case schema.KindString:
		raw, err := textOf(v)
		if err != nil {
			return nil, err
		}
		if c.TrimRight {
			raw = strings.TrimRight(raw, " ")
		}
		if raw == "" {
			return empty, nil
		}
		return []byte(raw), nil
	case schema.KindBytes:
		b, ok := v.([]byte)
		if !ok {
			return nil, fmt.Errorf("want bytes, got %T", v)
		}
		return append(make([]byte, 0, len(b)), b...), nil
	case schema.KindUUID:
		var u mssql.UniqueIdentifier
		if err := u.Scan(v); err != nil {
			return nil, err
		}
		s = u.String()
	case schema.KindDate, schema.KindTime, schema.KindDateTime:
		t, ok := v.(time.Time)
		if !ok {
			return nil, fmt.Errorf("want a date or time, got %T", v)
		}
		switch c.Kind {
		case schema.KindDate:
			s = schema.FormatDate(t)
		case schema.KindTime:
			s = schema.FormatTime(t, c.Scale)
		default:
			if c.raw.Type == "datetimeoffset" {
				t = t.UTC()
			}
			s = schema.FormatDateTime(t, c.Scale)
		}
	default:
		return nil, fmt.Errorf("no conversion for kind %s", c.Kind)
	}
	return []byte(s), nil
}

// keyParam keeps what the canonical form drops, so the next page starts
// exactly after the row: CHAR padding, the seventh digit of datetime2(7),
// the offset of datetimeoffset.
func (mssqlDialect) keyParam(c *column, v any, val []byte) any {
	switch c.Kind {
	case schema.KindString:
		if raw, err := textOf(v); err == nil {
			return raw
		}
	case schema.KindBytes:
		return val
	case schema.KindTime:
		if t, ok := v.(time.Time); ok {
			return schema.FormatTime(t, c.raw.Scale)
		}
	case schema.KindDateTime:
		if t, ok := v.(time.Time); ok {
			switch c.raw.Type {
			case "datetimeoffset":
				return schema.FormatDateTime(t, c.raw.Scale) + t.Format(" -07:00")
			case "datetime":
				return schema.FormatDateTime(t, 3)
			case "smalldatetime":
				return schema.FormatDateTime(t, 0)
			default:
				return schema.FormatDateTime(t, c.raw.Scale)
			}
		}
	}
	return string(val)
}

func (mssqlDialect) finishKey(_ *column, p any) (any, error) { return p, nil }

func (d mssqlDialect) selectExpr(c *column) string { return d.quote(c.Source) }

func (mssqlDialect) prepare(*column) error { return nil }

func (mssqlDialect) lookupArg(c *column, v []byte) (any, error) { return keyArg(c, v), nil }

// mssqlUniqueIndexes lists the key columns (not included ones) of a
// table's primary key and unique indexes.
const mssqlUniqueIndexes = `SELECT i.name, c.name FROM sys.indexes i
JOIN sys.index_columns ic ON ic.object_id = i.object_id AND ic.index_id = i.index_id
JOIN sys.columns c ON c.object_id = ic.object_id AND c.column_id = ic.column_id
WHERE i.object_id = OBJECT_ID(@p1) AND i.is_unique = 1 AND i.has_filter = 0 AND ic.is_included_column = 0
ORDER BY i.index_id, ic.key_ordinal`

func (d mssqlDialect) uniqueIndexes(ctx context.Context, db *sql.DB, table string) ([][]string, error) {
	var out [][]string
	err := d.readOnly(ctx, db, func(q querier) error {
		var err error
		out, err = groupedUniqueIndexes(ctx, q, mssqlUniqueIndexes, d.quoteTable(table))
		return err
	})
	return out, err
}

// mssqlWritePermissions lists the database permissions of the login that
// change data or schemas, and sysadmin membership.
const mssqlWritePermissions = `SELECT permission_name FROM fn_my_permissions(NULL, 'DATABASE')
WHERE permission_name IN ('INSERT', 'UPDATE', 'DELETE', 'ALTER', 'CONTROL', 'EXECUTE', 'CREATE TABLE', 'ALTER ANY SCHEMA', 'TAKE OWNERSHIP')
UNION ALL SELECT 'sysadmin' WHERE IS_SRVROLEMEMBER('sysadmin') = 1`

func (d mssqlDialect) writePrivileges(ctx context.Context, db *sql.DB) (privs []string, scope string, err error) {
	err = d.readOnly(ctx, db, func(q querier) error {
		privs, err = queryStrings(ctx, q, mssqlWritePermissions)
		return err
	})
	return privs, "the source database", err
}

func (mssqlDialect) location(context.Context, *sql.DB) (string, error) { return "", nil }

func (mssqlDialect) repeatedKeyQuery(sel, from, where, group string) string {
	q := "SELECT TOP (1) " + sel + " FROM " + from
	if where != "" {
		q += " WHERE (" + where + ")"
	}
	return q + " GROUP BY " + group + " HAVING COUNT(*) > 1"
}

func textOf(v any) (string, error) {
	switch t := v.(type) {
	case string:
		return t, nil
	case []byte:
		return string(t), nil
	}
	return "", fmt.Errorf("want text, got %T", v)
}
