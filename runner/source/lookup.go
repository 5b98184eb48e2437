package source

import (
	"context"
	"fmt"
	"strconv"
	"strings"
)

// lookupChunk bounds the candidates of one lookup statement (SQL Server
// takes at most 2100 parameters).
const lookupChunk = 200

// Existing tells which of the given keys (canonical values, key order) the
// source still has, under the entity's where filter, judged by the
// source's own equality (collation, trailing spaces, GUID order): the
// finalize step deletes a target row only when the source, asked now, says
// it does not have it.
func (s *Source) Existing(ctx context.Context, e *Entity, keys []Row) ([]bool, error) {
	out := make([]bool, len(keys))
	for start := 0; start < len(keys); start += lookupChunk {
		end := min(start+lookupChunk, len(keys))
		q, args, err := buildLookup(s.d, e, keys, start, end)
		if err != nil {
			return nil, fmt.Errorf("entity %s: checking delete candidates against the source: %w", e.Name, err)
		}
		err = s.d.readOnly(ctx, s.db, func(tx querier) error {
			rows, err := tx.QueryContext(ctx, q, args...)
			if err != nil {
				return err
			}
			defer rows.Close()
			for rows.Next() {
				var i int
				if err := rows.Scan(&i); err != nil {
					return err
				}
				if i >= start && i < end {
					out[i] = true
				}
			}
			return rows.Err()
		})
		if err != nil {
			return nil, fmt.Errorf("entity %s: checking delete candidates against the source: %w", e.Name, s.redact(err))
		}
	}
	return out, nil
}

// keyArg turns a canonical key value into a statement argument: bytes stay
// bytes, everything else is compared as text that the source converts to
// the column's type.
func keyArg(c *column, v []byte) any {
	if c.Kind.IsBinary() {
		return v
	}
	return string(v)
}

// keysTable renders keys[start:end] as a derived table sisporta_c with
// columns sisporta_k0… (and sisporta_i, the key's index, when indexed),
// and the condition matching the source's key columns with it.
func keysTable(b *sqlBuilder, e *Entity, keys []Row, start, end int, indexed bool) (table, match string, err error) {
	d, kc := b.d, e.keyCols()
	branches := make([]string, 0, end-start)
	for i := start; i < end; i++ {
		var parts []string
		if indexed {
			parts = append(parts, strconv.Itoa(i)+" AS sisporta_i")
		}
		for j := range kc {
			arg, err := d.lookupArg(&kc[j], keys[i][j])
			if err != nil {
				return "", "", fmt.Errorf("key column %s: %w", kc[j].Source, err)
			}
			parts = append(parts, b.param(&kc[j], arg)+" AS sisporta_k"+strconv.Itoa(j))
		}
		branches = append(branches, "SELECT "+strings.Join(parts, ", "))
	}
	conds := make([]string, len(kc))
	for j := range kc {
		conds[j] = e.ref + "." + d.quote(kc[j].Source) + " = sisporta_c.sisporta_k" + strconv.Itoa(j)
	}
	return "(" + strings.Join(branches, " UNION ALL ") + ") sisporta_c", strings.Join(conds, " AND "), nil
}

// buildLookup renders the existence check of keys[start:end]: the candidates
// as a derived table, each kept when the source has a row equal to it.
func buildLookup(d dialect, e *Entity, keys []Row, start, end int) (string, []any, error) {
	b := &sqlBuilder{d: d}
	table, cond, err := keysTable(b, e, keys, start, end, true)
	if err != nil {
		return "", nil, err
	}
	if e.Spec.Where != "" {
		cond = "(" + e.Spec.Where + ") AND " + cond
	}
	q := "SELECT sisporta_c.sisporta_i FROM " + table +
		" WHERE EXISTS (SELECT 1 FROM " + e.from + " WHERE " + cond + ")"
	return q, b.args, nil
}

// Fetch reads the rows of the given keys (canonical values, key order)
// that the source has under the entity's where filter, every mapped column
// in schema order: a key scan found them missing from the target. Keys
// the source no longer has are not returned.
func (s *Source) Fetch(ctx context.Context, e *Entity, keys []Row) ([]Row, error) {
	var out []Row
	a := &arena{}
	for start := 0; start < len(keys); start += lookupChunk {
		end := min(start+lookupChunk, len(keys))
		q, args, err := buildFetch(s.d, e, keys, start, end)
		if err != nil {
			return nil, fmt.Errorf("entity %s: reading rows by key: %w", e.Name, err)
		}
		err = s.d.query(ctx, s.db, q, args, func(vals []any) error {
			row := make(Row, len(e.cols))
			for i := range e.cols {
				v, err := s.d.canonical(&e.cols[i], vals[i], a)
				if err != nil {
					return fmt.Errorf("column %s: %w", e.cols[i].Source, err)
				}
				row[i] = v
			}
			out = append(out, row)
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("entity %s: reading rows by key: %w", e.Name, s.redact(err))
		}
	}
	return out, nil
}

// buildFetch renders the read of keys[start:end]: the source joined with
// the keys as a derived table, under the where filter.
func buildFetch(d dialect, e *Entity, keys []Row, start, end int) (string, []any, error) {
	b := &sqlBuilder{d: d}
	table, match, err := keysTable(b, e, keys, start, end, false)
	if err != nil {
		return "", nil, err
	}
	sel := make([]string, len(e.cols))
	for i := range e.cols {
		sel[i] = d.selectExpr(&e.cols[i])
	}
	q := "SELECT " + strings.Join(sel, ", ") + " FROM " + e.from + " JOIN " + table + " ON " + match
	if e.Spec.Where != "" {
		q += " WHERE (" + e.Spec.Where + ")"
	}
	return q, b.args, nil
}
