package writer

import (
	"context"
	"errors"
	"slices"

	"github.com/go-sql-driver/mysql"

	"github.com/sisporta/sisporta/runner/mysqltype"
	"github.com/sisporta/sisporta/runner/schema"
)

// withCollations returns the schema with the collation each text column's
// Compare asks for written into its Type ("VARCHAR(50)" becomes
// "VARCHAR(50) CHARACTER SET utf8mb4 COLLATE utf8mb4_uca1400_as_ci"): the
// first of mysqltype.CollationsFor that this server has. A source that
// tells 'José' from 'Jose' (SQL Server *_CI_AS) would otherwise get the
// target's accent-insensitive default, and its two rows would merge into
// one. Columns whose Type names a character set or collation keep it. The
// schema is returned as it is when no column asks for anything.
func (t *Target) withCollations(ctx context.Context, s *schema.Table) (*schema.Table, error) {
	var out *schema.Table
	for i, c := range s.Columns {
		if c.Compare == "" || (c.Kind != schema.KindString && c.Kind != schema.KindUUID) {
			continue
		}
		d, err := mysqltype.Parse(c.Type)
		if err != nil || !mysqltype.IsText(d) || d.Charset != "" || d.Collation != "" {
			continue
		}
		have, err := t.serverCollations(ctx)
		if err != nil {
			return nil, err
		}
		coll := ""
		for _, name := range mysqltype.CollationsFor(c.Compare) {
			if have[name] {
				coll = name
				break
			}
		}
		if coll == "" {
			continue // no utf8mb4_bin: a server without utf8mb4, which refuses the table anyway
		}
		if out == nil {
			cp := *s
			cp.Columns = slices.Clone(s.Columns)
			out = &cp
		}
		out.Columns[i].Type = c.Type + " CHARACTER SET utf8mb4 COLLATE " + coll
	}
	if out == nil {
		return s, nil
	}
	return out, nil
}

// serverCollations returns the utf8mb4 collations the target server has,
// read once per Target. MariaDB 10.10 and later list their UCA 14
// collations in COLLATIONS under charset-free names ("uca1400_as_ci"),
// with the full name (utf8mb4_uca1400_as_ci) only in
// COLLATION_CHARACTER_SET_APPLICABILITY.FULL_COLLATION_NAME, which MySQL
// does not have.
func (t *Target) serverCollations(ctx context.Context) (map[string]bool, error) {
	if v, ok := t.collations.Load().(map[string]bool); ok {
		return v, nil
	}
	have := map[string]bool{}
	read := func(q string) error {
		rows, err := t.db.QueryContext(ctx, q)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var name string
			if err := rows.Scan(&name); err != nil {
				return err
			}
			have[name] = true
		}
		return rows.Err()
	}
	if err := read(`SELECT COLLATION_NAME FROM information_schema.COLLATIONS WHERE CHARACTER_SET_NAME = 'utf8mb4'`); err != nil {
		return nil, err
	}
	err := read(`SELECT FULL_COLLATION_NAME FROM information_schema.COLLATION_CHARACTER_SET_APPLICABILITY WHERE CHARACTER_SET_NAME = 'utf8mb4'`)
	var me *mysql.MySQLError
	if err != nil && !(errors.As(err, &me) && me.Number == 1054) { // MySQL: no such column
		return nil, err
	}
	t.collations.Store(have)
	return have, nil
}

// finerKeyCollation reports whether a key column of a table Sisporta
// created needs a collation that tells apart more than the one it has (a
// table made before the source said how it compares, with the server's
// accent-insensitive default): it is changed, since keys the source tells
// apart would otherwise merge. A collation that tells apart more than
// needed is kept.
func finerKeyCollation(c schema.Column, want mysqltype.Def, have columnInfo) bool {
	return c.Key > 0 && c.Compare != "" && want.Collation != "" && have.Collation != "" &&
		mysqltype.CollationRank(have.Collation) < mysqltype.CompareRank(c.Compare)
}
