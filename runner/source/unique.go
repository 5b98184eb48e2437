package source

import (
	"context"
	"fmt"
	"strings"
)

// CheckKeysUnique makes sure an entity's key columns identify its rows.
// Keys that repeat would be merged into one row by the target and would
// make keyset pagination skip rows. A primary key or unique index of the
// source table within the key columns proves it at no cost; otherwise (a
// source.query, or keyColumns that no unique index covers) the source is
// asked once per run for a repeated key, under the where filter. Its
// GROUP BY compares as the source does, so keys that differ only in case
// under a case-insensitive collation count as repeated, as they would in
// a target with that collation. ReadPage also refuses repeated keys it
// meets, which is free but sees only byte-equal neighbours.
func (s *Source) CheckKeysUnique(ctx context.Context, e *Entity) error {
	keys := e.keyCols()
	if e.Spec.Table != "" {
		idx, err := s.d.uniqueIndexes(ctx, s.db, string(e.Spec.Table))
		if err != nil {
			return fmt.Errorf("entity %s: reading the source table's unique indexes: %w", e.Name, s.redact(err))
		}
		for _, cols := range idx {
			if covered(cols, keys) {
				return nil
			}
		}
	}
	sel := make([]string, len(keys))
	group := make([]string, len(keys))
	for i := range keys {
		sel[i] = s.d.selectExpr(&keys[i])
		group[i] = s.d.quote(keys[i].Source)
	}
	q := s.d.repeatedKeyQuery(strings.Join(sel, ", "), e.from, e.Spec.Where, strings.Join(group, ", "))
	var dup Row
	a := &arena{}
	err := s.retryLocks(ctx, func() error {
		dup = nil
		return s.d.query(ctx, s.db, q, nil, func(vals []any) error {
			dup = make(Row, len(keys))
			for i := range keys {
				v, err := s.d.canonical(&keys[i], vals[i], a)
				if err != nil {
					return fmt.Errorf("column %s: %w", keys[i].Source, err)
				}
				dup[i] = v
			}
			return errStop
		})
	})
	if err != nil {
		return fmt.Errorf("entity %s: checking that the key columns identify rows: %w", e.Name, s.redact(err))
	}
	if dup != nil {
		return e.duplicateKey(dup)
	}
	return nil
}

// covered reports whether every column of a unique index is a key column:
// then no two rows share a key.
func covered(index []string, keys []column) bool {
	if len(index) == 0 {
		return false
	}
	for _, ic := range index {
		found := false
		for _, k := range keys {
			if strings.EqualFold(ic, k.Source) {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// groupedUniqueIndexes reads (index, column) rows into column lists.
func groupedUniqueIndexes(ctx context.Context, db querier, q string, args ...any) ([][]string, error) {
	rows, err := db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	byIndex := map[string][]string{}
	var order []string
	for rows.Next() {
		var idx, col string
		if err := rows.Scan(&idx, &col); err != nil {
			return nil, err
		}
		if _, ok := byIndex[idx]; !ok {
			order = append(order, idx)
		}
		byIndex[idx] = append(byIndex[idx], col)
	}
	out := make([][]string, 0, len(order))
	for _, idx := range order {
		out = append(out, byIndex[idx])
	}
	return out, rows.Err()
}
