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
	"github.com/sisporta/sisporta/runner/failure"
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
// (an nvarchar parameter against a varchar column would convert the
// column). Text parameters take the column's collation first: casting
// nvarchar to varchar converts through the code page of the collation the
// value has, and without it that is the database's default, which turns
// characters of another code page (or of a _UTF8 collation) into '?'.
func (mssqlDialect) keyExpr(c *column, param string) string {
	if c.raw.Collation != "" && isMSSQLText(c.raw.Type) {
		param += " COLLATE " + c.raw.Collation
	}
	return "CAST(" + param + " AS " + c.raw.FullType + ")"
}

// arg fixes how a parameter travels: text as nvarchar(max) (go-mssqldb
// sizes nvarchar by each value, and every new size compiles a new plan on
// the ERP), datetime and smalldatetime as ISO 8601 with a 'T' (their
// 'yyyy-mm-dd hh:mm:ss' form is read by the login's language: under
// Portuguese or German, month and day swap) and no more digits than the
// type takes (a datetime refuses a fourth fractional digit).
func (mssqlDialect) arg(c *column, v any) any {
	s, ok := v.(string)
	if !ok {
		return v
	}
	switch c.raw.Type {
	case "datetime":
		return isoDateTime(s, 3)
	case "smalldatetime":
		return isoDateTime(s, -1)
	}
	return mssql.NVarCharMax(s)
}

// isoDateTime rewrites "2006-01-02 15:04:05.999" as "2006-01-02T15:04:05.999"
// with at most frac fractional digits (-1: whole minutes), dropping digits
// (a lower bound that moves down reads a little more, never less). A date
// alone becomes "20060102", which every language reads alike.
func isoDateTime(s string, frac int) string {
	if len(s) == 10 {
		return strings.ReplaceAll(s, "-", "")
	}
	if len(s) < 19 || s[10] != ' ' {
		return s
	}
	out := s[:10] + "T" + s[11:19]
	switch {
	case frac < 0:
		out = out[:17] + "00"
	case frac > 0 && len(s) > 20 && s[19] == '.':
		digits := s[20:]
		if len(digits) > frac {
			digits = digits[:frac]
		}
		out += "." + digits
	}
	return out
}

// cursorMaxQuery caps the watermark at "ahead" past now, in the column's
// own terms: a datetimeoffset compares instants (SYSDATETIMEOFFSET), a
// date the day, and the zone-less types the UTC clock (a column written
// in local time is at most 14 hours ahead of it, within the cap).
func (mssqlDialect) cursorMaxQuery(c *column, col, from string, ahead time.Duration) string {
	secs := int(ahead.Seconds())
	var limit string
	switch c.raw.Type {
	case "datetimeoffset":
		limit = fmt.Sprintf("DATEADD(second, %d, SYSDATETIMEOFFSET())", secs)
	case "date":
		limit = fmt.Sprintf("CAST(DATEADD(second, %d, SYSUTCDATETIME()) AS date)", secs)
	default:
		limit = fmt.Sprintf("DATEADD(second, %d, SYSUTCDATETIME())", secs)
	}
	return "SELECT MAX(" + col + ") FROM " + from + " WHERE " + col + " <= " + limit
}
func (mssqlDialect) rowVersionCapQuery() string { return "SELECT MIN_ACTIVE_ROWVERSION()" }

// readOnly runs fn on the pool: SQL Server has no per-session read-only
// mode; the connection declares ApplicationIntent=ReadOnly, Sisporta
// issues only SELECTs, and a login with db_datareader only is the guard
// (a login that can write is refused unless the spec allows it).
func (mssqlDialect) readOnly(_ context.Context, db *sql.DB, fn func(q querier) error) error {
	return fn(db)
}

// openMSSQL opens a pool whose sessions wait for locks at most the
// spec's lock timeout and read at its isolation level. go-mssqldb runs
// SessionInitSQL on every new connection and again after each reset, so
// a pooled connection can never lose the settings.
func openMSSQL(dsn string, spec syncv1alpha1.SourceSpec) (*sql.DB, error) {
	c, err := mssql.NewConnector(dsn)
	if err != nil {
		return nil, err
	}
	c.SessionInitSQL = mssqlSessionInit(spec)
	return sql.OpenDB(c), nil
}

// mssqlSessionInit is the T-SQL that sets up each session.
func mssqlSessionInit(spec syncv1alpha1.SourceSpec) string {
	timeout := time.Duration(spec.LockTimeoutSecondsOrDefault()) * time.Second
	init := fmt.Sprintf("SET LOCK_TIMEOUT %d;", timeout.Milliseconds())
	if spec.Isolation == syncv1alpha1.IsolationSnapshot {
		init += " SET TRANSACTION ISOLATION LEVEL SNAPSHOT;"
	} else {
		init += " SET TRANSACTION ISOLATION LEVEL READ COMMITTED;"
	}
	return init
}

// checkOptions makes sure the database allows what the spec asks for, so
// a Snapshot pipeline fails at once with what to do, not on its first page.
func (mssqlDialect) checkOptions(ctx context.Context, db *sql.DB, spec syncv1alpha1.SourceSpec) error {
	if spec.Isolation != syncv1alpha1.IsolationSnapshot {
		return nil
	}
	var state int
	var name string
	if err := db.QueryRowContext(ctx, mssqlSnapshotState).Scan(&name, &state); err != nil {
		return fmt.Errorf("checking that the source database allows snapshot isolation: %w", err)
	}
	if state != 1 {
		return failure.Permanent(fmt.Errorf("source.isolation is Snapshot, but database %s does not allow snapshot isolation: a DBA can allow it (ALTER DATABASE [%s] SET ALLOW_SNAPSHOT_ISOLATION ON; it changes no data, and row versions then live in tempdb), or remove source.isolation to read at READ COMMITTED", name, strings.ReplaceAll(name, "]", "]]")))
	}
	return nil
}

const mssqlSnapshotState = `SELECT name, snapshot_isolation_state FROM sys.databases WHERE database_id = DB_ID()`

// readOnlyMSSQLDSN sets ApplicationIntent=ReadOnly (unless the DSN names
// an intent: an availability group's primary may refuse read intent) and
// an app name (unless given, in any letter case) on a go-mssqldb DSN in URL
// form (sqlserver://...) or ADO form (server=...;).
func readOnlyMSSQLDSN(dsn string) (string, error) {
	if strings.HasPrefix(strings.ToLower(dsn), "sqlserver://") {
		u, err := url.Parse(dsn)
		if err != nil {
			return "", fmt.Errorf("not a sqlserver:// URL")
		}
		q := u.Query()
		intent, app := false, false
		for k := range q {
			switch strings.ToLower(k) {
			case "guid conversion":
				q.Del(k)
			case "applicationintent":
				intent = true
			case "app name":
				app = true
			}
		}
		if dbName(q) == "" {
			return "", fmt.Errorf("it names no database: add ?database=<name> (read-only intent needs one)")
		}
		if !intent {
			q.Set("ApplicationIntent", "ReadOnly")
		}
		if !app {
			q.Set("app name", "sisporta")
		}
		u.RawQuery = q.Encode()
		return u.String(), nil
	}
	if strings.HasPrefix(strings.ToLower(dsn), "odbc:") {
		return "", fmt.Errorf("use the sqlserver:// URL form or the server=...;database=...; form")
	}
	var kept []string
	hasDB, intent, app := false, false, false
	for _, part := range strings.Split(dsn, ";") {
		k, _, _ := strings.Cut(part, "=")
		switch strings.ToLower(strings.TrimSpace(k)) {
		case "guid conversion":
			continue
		case "applicationintent":
			intent = true
		case "app name":
			app = true
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
	if !intent {
		kept = append(kept, "ApplicationIntent=ReadOnly")
	}
	if !app {
		kept = append(kept, "app name=sisporta")
	}
	return strings.Join(kept, ";"), nil
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
// CLR types (geography, geometry, hierarchyid) have no system type name:
// their user type's name stands in.
const mssqlDescribeTable = `SELECT c.name, COALESCE(TYPE_NAME(c.system_type_id), TYPE_NAME(c.user_type_id)), c.max_length, c.precision, c.scale, c.is_nullable, ISNULL(c.collation_name, '')
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

// mapColumn is the SQL Server → MySQL type map (docs/configuration.md, "Type
// map (SQL Server → MySQL)").
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
		if rc.Scale > 30 {
			return c, fmt.Errorf("%s has %d fractional digits and MySQL's DECIMAL holds at most 30: leave the column out of columns, or read it through source.query with the digits you need (e.g. CAST(col AS decimal(38,30)), which rounds)", rc.FullType, rc.Scale)
		}
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
	case "geography", "geometry":
		// Read as well-known text with Z and M (AsTextZM); the SRID is not
		// kept (it is one per column in practice: read STSrid through
		// source.query when it is not).
		c.Kind, c.Type, c.Width = schema.KindString, "LONGTEXT", -1
	case "hierarchyid":
		// Read as its path text, '/1/3/'; at most 892 bytes hold paths of
		// far fewer than 4000 characters.
		c.Kind, c.Type, c.Width = schema.KindString, "VARCHAR(4000)", 4000
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
	if c.Kind == schema.KindString {
		c.Compare = textCompare(rc.Collation)
	}
	if c.Kind == schema.KindUUID {
		c.Order = schema.OrderSQLServerGUID
	}
	return c, nil
}

// textCompare says how finely a SQL Server collation tells text apart, so
// the target can pick a collation that tells apart at least as much:
// 'José' and 'Jose' are two keys under Latin1_General_CI_AS and must not
// merge into one row in the mirror. Width- and kana-sensitive collations
// have no MySQL counterpart short of a binary one.
func textCompare(collation string) schema.TextCompare {
	if collation == "" {
		return ""
	}
	flags := map[string]bool{}
	for _, f := range strings.Split(strings.ToUpper(collation), "_") {
		flags[f] = true
	}
	switch {
	case flags["BIN"] || flags["BIN2"] || flags["WS"] || flags["KS"]:
		return schema.CompareBinary
	case flags["CS"]:
		return schema.CompareCase
	case flags["AS"]:
		return schema.CompareAccents
	}
	return ""
}

// isMSSQLText reports whether a type holds text that has a collation.
func isMSSQLText(typ string) bool {
	switch typ {
	case "char", "varchar", "nchar", "nvarchar", "text", "ntext", "sysname":
		return true
	}
	return false
}

// utf8Varchar reports whether a column holds varchar or char text in a
// UTF-8 collation (SQL Server 2019's *_UTF8), which go-mssqldb decodes by
// the collation's code page instead: such columns are read as nvarchar.
func utf8Varchar(rc rawColumn) bool {
	return (rc.Type == "varchar" || rc.Type == "char") && strings.HasSuffix(strings.ToUpper(rc.Collation), "_UTF8")
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

// selectExpr reads CLR types as text and UTF-8 varchar as nvarchar (see
// utf8Varchar); everything else as it is.
func (d mssqlDialect) selectExpr(c *column) string {
	col := d.quote(c.Source)
	switch {
	case c.raw.Type == "geography" || c.raw.Type == "geometry":
		return col + ".AsTextZM()"
	case c.raw.Type == "hierarchyid":
		return col + ".ToString()"
	case utf8Varchar(c.raw):
		if c.raw.MaxLength < 0 || c.raw.MaxLength > 4000 {
			return "CAST(" + col + " AS nvarchar(max))"
		}
		return "CAST(" + col + " AS nvarchar(" + strconv.Itoa(max(c.raw.MaxLength, 1)) + "))"
	}
	return col
}

// prepare refuses keys SQL Server cannot order or compare as Sisporta
// reads them.
func (mssqlDialect) prepare(c *column) error {
	if c.Key == 0 {
		return nil
	}
	switch c.raw.Type {
	case "geography", "geometry", "hierarchyid", "text", "ntext", "image", "xml":
		return fmt.Errorf("%s cannot be a key column: SQL Server cannot order or compare it as text (hierarchyid orders depth-first, not as its path text); choose other source.keyColumns", c.raw.FullType)
	}
	return nil
}

// exactMatch adds, for text keys, a byte comparison beside the seekable
// '=': SQL Server's '=' ignores case (in CI collations), accents (AI) and
// trailing spaces, so a key that changed only in those would otherwise be
// reported as still there and its old form kept in the mirror.
func (mssqlDialect) exactMatch(c *column, col, param string) string {
	if !isMSSQLText(c.raw.Type) || c.raw.Type == "text" || c.raw.Type == "ntext" {
		return ""
	}
	return "CAST(" + col + " AS varbinary(max)) = CAST(" + param + " AS varbinary(max))"
}

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
