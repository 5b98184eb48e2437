package writer

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/sisporta/sisporta/runner/failure"
	"github.com/sisporta/sisporta/runner/mysqltype"
	"github.com/sisporta/sisporta/runner/schema"
)

// SQL Server orders uniqueidentifier keys by their last six bytes first,
// MySQL orders their CHAR(36) text from the first character: a batch's key
// range (Lo, Hi], cut in the source's order, would cover a large part of
// the table in the target's, and every row there that the batch lacks
// would become a delete candidate (O(N²/batch) target rows read per run,
// each candidate looked up in the source). A key column the source orders
// that way (schema.OrderSQLServerGUID) therefore gets an invisible
// generated column holding the source's sort key, and an index on the key
// with that column in its place: range conditions compare the sort key,
// computed in Go from the bounds, and read the rows of exactly the range
// the source meant. Lookups by key stay on the key column.

// orderIndex names the index on the key in the source's order.
const orderIndex = "_sisporta_order"

// orderColumn names the order column of the key column at 1-based key
// position pos (the prefix _sisporta_ is refused for source columns).
func orderColumn(pos int) string { return "_sisporta_order_" + strconv.Itoa(pos) }

// guidOrderParts are the (0-based offset, length) pieces of the canonical
// text "AAAAAAAA-BBBB-CCCC-DDDD-EEEEEEEEEEEE" whose concatenation, as hex,
// is SQL Server's sort key: in .NET terms, Guid.ToByteArray() (whose first
// three groups are little-endian) at byte indexes 10-15, 8-9, 6, 7, 4, 5,
// 0, 1, 2, 3, most significant first. That is E, D, then the bytes of C,
// B and A each in reverse. Go and SQL both derive it from this table.
var guidOrderParts = [][2]int{{24, 12}, {19, 4}, {16, 2}, {14, 2}, {11, 2}, {9, 2}, {6, 2}, {4, 2}, {2, 2}, {0, 2}}

// guidOrderKey is SQL Server's 16-byte sort key of a GUID in canonical
// text form (either case): bytes.Compare of two keys orders the GUIDs as
// SQL Server does.
func guidOrderKey(v []byte) ([]byte, error) {
	if len(v) != 36 || v[8] != '-' || v[13] != '-' || v[18] != '-' || v[23] != '-' {
		return nil, fmt.Errorf("%q is not a GUID (XXXXXXXX-XXXX-XXXX-XXXX-XXXXXXXXXXXX)", v)
	}
	key := make([]byte, 0, 16)
	for _, p := range guidOrderParts {
		for i := p[0]; i < p[0]+p[1]; i += 2 {
			hi, ok1 := hexValue(v[i])
			lo, ok2 := hexValue(v[i+1])
			if !ok1 || !ok2 {
				return nil, fmt.Errorf("%q is not a GUID (XXXXXXXX-XXXX-XXXX-XXXX-XXXXXXXXXXXX)", v)
			}
			key = append(key, hi<<4|lo)
		}
	}
	return key, nil
}

func hexValue(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	}
	return 0, false
}

// guidOrderExpr is the SQL of guidOrderKey over a column. RTRIM: MariaDB
// refuses a string function of a CHAR column in a generated column (its
// value would depend on the PAD_CHAR_TO_FULL_LENGTH sql_mode); a GUID has
// no trailing spaces to lose.
func guidOrderExpr(col string) string {
	c := "RTRIM(" + quote(col) + ")"
	parts := make([]string, len(guidOrderParts))
	for i, p := range guidOrderParts {
		parts[i] = fmt.Sprintf("SUBSTR(%s,%d,%d)", c, p[0]+1, p[1])
	}
	return "UNHEX(CONCAT(" + strings.Join(parts, ",") + "))"
}

// orderColumnDef defines the order column of key column col. STORED:
// both MariaDB and MySQL 8 index stored and virtual generated columns, and
// stored ones leave out the virtual-column index maintenance both have had
// defects in; 16 bytes a row. INVISIBLE keeps it out of SELECT * (runDDL
// drops the word for servers that lack it).
func orderColumnDef(pos int, col string) string {
	return quote(orderColumn(pos)) + " BINARY(16) GENERATED ALWAYS AS (" + guidOrderExpr(col) + ") STORED INVISIBLE"
}

// orderColumns returns, per key column in key order, the name of its
// order column, or nil when no key column needs one.
func orderColumns(s *schema.Table) []string {
	var out []string
	for i, c := range s.KeyColumns() {
		if c.Order != schema.OrderSQLServerGUID || (c.Kind != schema.KindUUID && c.Kind != schema.KindString) {
			continue
		}
		if d, err := mysqltype.Parse(c.Type); err != nil || !mysqltype.IsText(d) {
			continue // the expression reads GUID text
		}
		if out == nil {
			out = make([]string, len(s.KeyColumns()))
		}
		out[i] = orderColumn(i + 1)
	}
	return out
}

// orderIndexDef is the index on the key in the source's order: the key
// columns with each ordered one replaced by its order column.
func orderIndexDef(s *schema.Table, order []string) string {
	cols := make([]string, 0, len(order))
	for i, c := range s.KeyColumns() {
		if order[i] != "" {
			cols = append(cols, quote(order[i]))
		} else {
			cols = append(cols, quote(c.Name))
		}
	}
	return "INDEX " + quote(orderIndex) + " (" + strings.Join(cols, ", ") + ")"
}

// orderDDL returns what an existing table lacks of its order columns and
// their index (clauses of one ALTER TABLE, added like the hash column).
// An order column that computes from another column than its key column
// (the key was renamed) is refused: ranges would be read wrongly.
func (t *Target) orderDDL(ctx context.Context, table string, s *schema.Table, order []string, existing map[string]columnInfo) ([]string, error) {
	if order == nil {
		return nil, nil
	}
	var adds []string
	for i, c := range s.KeyColumns() {
		if order[i] == "" {
			continue
		}
		if _, ok := existing[strings.ToLower(c.Name)]; !ok {
			return nil, nil // added by this ALTER first; then checkUniqueKey refuses the table anyway
		}
		have, ok := existing[strings.ToLower(order[i])]
		if !ok {
			adds = append(adds, "ADD COLUMN "+orderColumnDef(i+1, c.Name))
			continue
		}
		if !strings.Contains(strings.ToLower(have.Generated), strings.ToLower(quote(c.Name))) {
			return nil, failure.Permanent(fmt.Errorf("target table %s: column %s is not the order of key column %s (it computes %q): drop it (ALTER TABLE %s DROP COLUMN %s) and Sisporta adds it again",
				table, order[i], c.Name, have.Generated, quoteTable(table), quote(order[i])))
		}
	}
	if len(adds) == 0 {
		has, err := t.hasIndex(ctx, table, orderIndex)
		if err != nil || has {
			return nil, t.redact(err)
		}
	}
	return append(adds, "ADD "+orderIndexDef(s, order)), nil
}

// hasIndex reports whether the table has an index of that name.
func (t *Target) hasIndex(ctx context.Context, table, index string) (bool, error) {
	dbName, name := splitTable(table)
	var n int
	err := t.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = COALESCE(?, DATABASE()) AND TABLE_NAME = ? AND INDEX_NAME = ?`,
		dbName, name, index).Scan(&n)
	return n > 0, err
}

// orderSafe is schema.Table.OrderSafe for a table whose ordered key
// columns have their order columns: those compare in the source's order,
// so only the other key columns decide.
func orderSafe(keys []schema.Column, order []string) bool {
	var rest schema.Table
	for i, c := range keys {
		if order == nil || order[i] == "" {
			c.Key = len(rest.Columns) + 1
			rest.Columns = append(rest.Columns, c)
		}
	}
	return rest.OrderSafe()
}
