package source

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	syncv1alpha1 "github.com/sisporta/sisporta/api/v1alpha1"
	"github.com/sisporta/sisporta/runner/schema"
)

// lookupChunk bounds the keys of one lookup statement; maxParams its
// parameters (SQL Server takes at most 2100).
const (
	lookupChunk = 200
	maxParams   = 2000
)

// chunkSize is how many keys of width columns one statement looks up.
func chunkSize(width int) int {
	return max(1, min(lookupChunk, maxParams/max(width, 1)))
}

// paddedSize rounds a chunk of n keys up to a power of two (at most
// limit): the last, shorter chunk of each run then has one of a few
// shapes, whose plans SQL Server keeps, instead of a new one each time.
func paddedSize(n, limit int) int {
	p := 1
	for p < n {
		p *= 2
	}
	return min(p, limit)
}

// Existing tells which of the given keys (canonical values, key order) the
// source still has, under the entity's where filter, judged by the
// source's own equality (collation, trailing spaces, GUID order): the
// finalize step deletes a target row only when the source, asked now, says
// it does not have it.
func (s *Source) Existing(ctx context.Context, e *Entity, keys []Row) ([]bool, error) {
	if kc := e.keyCols(); s.d.name() == syncv1alpha1.SourceMySQL && len(kc) == 1 && kc[0].Kind == schema.KindInt {
		return s.existingIn(ctx, e, &kc[0], keys)
	}
	out := make([]bool, len(keys))
	chunk := chunkSize(len(e.keyCols()))
	for start := 0; start < len(keys); start += chunk {
		end := min(start+chunk, len(keys))
		q, args, err := buildLookup(s.d, e, keys, start, end, paddedSize(end-start, chunk))
		if err != nil {
			return nil, fmt.Errorf("entity %s: checking delete candidates against the source: %w", e.Name, err)
		}
		err = s.retryLocks(ctx, func() error {
			return s.d.readOnly(ctx, s.db, func(tx querier) error {
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
		})
		if err != nil {
			return nil, fmt.Errorf("entity %s: checking delete candidates against the source: %w", e.Name, s.redact(err))
		}
	}
	return out, nil
}

// inChunk is how many keys one existingIn statement looks up.
const inChunk = 1000

// existingIn is Existing for a MySQL entity keyed by one integer column:
// key IN (…), an index lookup a key, where the general lookup joins a
// derived table of the keys (a statement a few hundred keys, tens of
// milliseconds each). Integers need no collation, and the arguments are
// integers (lookupArg), never text a server would compare as doubles.
func (s *Source) existingIn(ctx context.Context, e *Entity, kc *column, keys []Row) ([]bool, error) {
	out := make([]bool, len(keys))
	for start := 0; start < len(keys); start += inChunk {
		end := min(start+inChunk, len(keys))
		b := &sqlBuilder{d: s.d}
		at := make(map[string][]int, end-start)
		list := make([]string, 0, end-start)
		for i := start; i < end; i++ {
			arg, err := s.d.lookupArg(kc, keys[i][0])
			if err != nil {
				return nil, fmt.Errorf("entity %s: checking delete candidates against the source: key column %s: %w", e.Name, kc.Source, err)
			}
			list = append(list, b.param(kc, arg))
			at[string(keys[i][0])] = append(at[string(keys[i][0])], i)
		}
		col := e.ref + "." + s.d.quote(kc.Source)
		cond := col + " IN (" + strings.Join(list, ", ") + ")"
		if e.Spec.Where != "" {
			cond = "(" + e.Spec.Where + ") AND " + cond
		}
		q := "SELECT " + col + " FROM " + e.from + " WHERE " + cond
		err := s.retryLocks(ctx, func() error {
			a := &arena{}
			return s.d.query(ctx, s.db, q, b.args, func(vals []any) error {
				v, err := s.d.canonical(kc, vals[0], a)
				if err != nil {
					return err
				}
				for _, i := range at[string(v)] {
					out[i] = true
				}
				return nil
			})
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
// and the condition matching the source's key columns with it. The table
// has size rows: the last key repeats to fill it.
func keysTable(b *sqlBuilder, e *Entity, keys []Row, start, end, size int, indexed bool) (table, match string, err error) {
	d, kc := b.d, e.keyCols()
	branches := make([]string, 0, size)
	for n := 0; n < max(size, end-start); n++ {
		i := min(start+n, end-1)
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
	var conds []string
	for j := range kc {
		col, param := e.ref+"."+d.quote(kc[j].Source), "sisporta_c.sisporta_k"+strconv.Itoa(j)
		conds = append(conds, col+" = "+param)
		if exact := d.exactMatch(&kc[j], col, param); exact != "" {
			conds = append(conds, exact)
		}
	}
	return "(" + strings.Join(branches, " UNION ALL ") + ") sisporta_c", strings.Join(conds, " AND "), nil
}

// buildLookup renders the existence check of keys[start:end]: the candidates
// as a derived table, each kept when the source has a row equal to it.
func buildLookup(d dialect, e *Entity, keys []Row, start, end, size int) (string, []any, error) {
	b := &sqlBuilder{d: d}
	table, cond, err := keysTable(b, e, keys, start, end, size, true)
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
	chunk := chunkSize(len(e.keyCols()))
	for start := 0; start < len(keys); start += chunk {
		end := min(start+chunk, len(keys))
		q, args, err := buildFetch(s.d, e, keys, start, end)
		if err != nil {
			return nil, fmt.Errorf("entity %s: reading rows by key: %w", e.Name, err)
		}
		var rows []Row
		err = s.retryLocks(ctx, func() error {
			rows = rows[:0]
			return s.d.query(ctx, s.db, q, args, func(vals []any) error {
				row := make(Row, len(e.cols))
				for i := range e.cols {
					v, err := s.d.canonical(&e.cols[i], vals[i], a)
					if err != nil {
						return fmt.Errorf("column %s: %w", e.cols[i].Source, err)
					}
					row[i] = v
				}
				rows = append(rows, row)
				return nil
			})
		})
		if err != nil {
			return nil, fmt.Errorf("entity %s: reading rows by key: %w", e.Name, s.redact(err))
		}
		out = append(out, rows...)
	}
	return out, nil
}

// buildFetch renders the read of keys[start:end]: the source joined with
// the keys as a derived table, under the where filter.
func buildFetch(d dialect, e *Entity, keys []Row, start, end int) (string, []any, error) {
	b := &sqlBuilder{d: d}
	table, match, err := keysTable(b, e, keys, start, end, end-start, false)
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
