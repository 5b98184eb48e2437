package target

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/go-sql-driver/mysql"

	"github.com/sisporta/sisporta/runner/schema"
)

// EnsureTable creates the target table from the source schema when it is
// missing, adds columns that appeared in the source since (nullable, so
// existing rows stay valid), adds Sisporta's columns, and never drops or
// changes anything. Workers serialise this with a named lock, and each
// process checks a shape once.
func (t *Target) EnsureTable(ctx context.Context, table string, s *schema.Table, softDelete bool) error {
	cacheKey := table + "\x00" + s.Fingerprint() + fmt.Sprint(softDelete)
	if _, ok := t.ensured.Load(cacheKey); ok {
		return nil
	}
	conn, err := t.db.Conn(ctx)
	if err != nil {
		return t.redact(err)
	}
	defer conn.Close()
	lock := "sisporta:ddl:" + table
	var got sql.NullInt64
	if err := conn.QueryRowContext(ctx, "SELECT GET_LOCK(?, 60)", lock).Scan(&got); err != nil {
		return t.redact(err)
	}
	if !got.Valid || got.Int64 != 1 {
		return fmt.Errorf("table %s: another worker holds its schema lock for over 60s; will retry", table)
	}
	defer conn.ExecContext(context.WithoutCancel(ctx), "DO RELEASE_LOCK(?)", lock) //nolint:errcheck

	existing, err := tableColumns(ctx, conn, table)
	if err != nil {
		return t.redact(err)
	}
	if len(existing) == 0 {
		if err := t.createTable(ctx, conn, table, s, softDelete); err != nil {
			return err
		}
	} else if err := t.extendTable(ctx, conn, table, s, softDelete, existing); err != nil {
		return err
	}
	t.ensured.Store(cacheKey, true)
	return nil
}

func tableColumns(ctx context.Context, conn *sql.Conn, table string) (map[string]bool, error) {
	dbName, name := splitTable(table)
	rows, err := conn.QueryContext(ctx, `SELECT COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = COALESCE(?, DATABASE()) AND TABLE_NAME = ?`, dbName, name)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	cols := map[string]bool{}
	for rows.Next() {
		var c string
		if err := rows.Scan(&c); err != nil {
			return nil, err
		}
		cols[strings.ToLower(c)] = true
	}
	return cols, rows.Err()
}

func splitTable(table string) (dbName any, name string) {
	if d, n, ok := strings.Cut(table, "."); ok {
		return d, n
	}
	return nil, table
}

func (t *Target) createTable(ctx context.Context, conn *sql.Conn, table string, s *schema.Table, softDelete bool) error {
	var defs []string
	for _, c := range s.Columns {
		null := " NULL"
		if !c.Nullable || c.Key > 0 {
			null = " NOT NULL"
		}
		defs = append(defs, quote(c.Name)+" "+c.Type+null)
	}
	var keys []string
	for _, c := range s.KeyColumns() {
		keys = append(keys, quote(c.Name))
	}
	extra := []string{quote(HashColumn) + " BIGINT UNSIGNED NULL INVISIBLE"}
	if softDelete {
		extra = append(extra, quote(DeletedColumn)+" DATETIME(6) NULL")
	}
	build := func(extra []string) string {
		all := append(append(append([]string{}, defs...), extra...), "PRIMARY KEY ("+strings.Join(keys, ", ")+")")
		return "CREATE TABLE IF NOT EXISTS " + quoteTable(table) + " (\n  " + strings.Join(all, ",\n  ") + "\n) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4"
	}
	_, err := conn.ExecContext(ctx, build(extra))
	if isSyntaxError(err) { // servers without INVISIBLE columns (MySQL < 8.0.23)
		extra[0] = strings.TrimSuffix(extra[0], " INVISIBLE")
		_, err = conn.ExecContext(ctx, build(extra))
	}
	if err != nil {
		return fmt.Errorf("creating target table %s: %w", table, t.redact(err))
	}
	return nil
}

func (t *Target) extendTable(ctx context.Context, conn *sql.Conn, table string, s *schema.Table, softDelete bool, existing map[string]bool) error {
	var adds []string
	for _, c := range s.Columns {
		if !existing[strings.ToLower(c.Name)] {
			adds = append(adds, "ADD COLUMN "+quote(c.Name)+" "+c.Type+" NULL")
		}
	}
	if !existing[HashColumn] {
		adds = append(adds, "ADD COLUMN "+quote(HashColumn)+" BIGINT UNSIGNED NULL INVISIBLE")
	}
	if softDelete && !existing[DeletedColumn] {
		adds = append(adds, "ADD COLUMN "+quote(DeletedColumn)+" DATETIME(6) NULL")
	}
	if len(adds) > 0 {
		stmt := "ALTER TABLE " + quoteTable(table) + " " + strings.Join(adds, ", ")
		_, err := conn.ExecContext(ctx, stmt)
		if isSyntaxError(err) {
			_, err = conn.ExecContext(ctx, strings.ReplaceAll(stmt, " INVISIBLE", ""))
		}
		if err != nil {
			return fmt.Errorf("adding columns to target table %s: %w", table, t.redact(err))
		}
	}
	return t.checkUniqueKey(ctx, conn, table, s)
}

// checkUniqueKey makes sure a table Sisporta did not create has a primary
// key or unique index on exactly the key columns: upserts rely on it.
func (t *Target) checkUniqueKey(ctx context.Context, conn *sql.Conn, table string, s *schema.Table) error {
	dbName, name := splitTable(table)
	rows, err := conn.QueryContext(ctx, `SELECT INDEX_NAME, COLUMN_NAME FROM information_schema.STATISTICS
WHERE TABLE_SCHEMA = COALESCE(?, DATABASE()) AND TABLE_NAME = ? AND NON_UNIQUE = 0 ORDER BY INDEX_NAME, SEQ_IN_INDEX`, dbName, name)
	if err != nil {
		return t.redact(err)
	}
	defer rows.Close()
	indexes := map[string][]string{}
	for rows.Next() {
		var idx, col string
		if err := rows.Scan(&idx, &col); err != nil {
			return t.redact(err)
		}
		indexes[idx] = append(indexes[idx], strings.ToLower(col))
	}
	if err := rows.Err(); err != nil {
		return t.redact(err)
	}
	var want []string
	for _, c := range s.KeyColumns() {
		want = append(want, strings.ToLower(c.Name))
	}
	sort.Strings(want)
	for _, cols := range indexes {
		sort.Strings(cols)
		if strings.Join(cols, ",") == strings.Join(want, ",") {
			return nil
		}
	}
	return fmt.Errorf("target table %s has no primary key or unique index on (%s): add one, or drop the table and let Sisporta create it", table, strings.Join(want, ", "))
}

func isSyntaxError(err error) bool {
	var me *mysql.MySQLError
	return errors.As(err, &me) && me.Number == 1064
}
