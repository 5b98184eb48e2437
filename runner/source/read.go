package source

import (
	"context"
	"fmt"
	"strings"
)

// PageRequest asks for the next page of an entity in key order.
type PageRequest struct {
	// After continues after this key (Page.Last of the previous page); nil
	// starts at the beginning.
	After []any
	// Limit is the most rows to return.
	Limit int
	// MaxBytes ends the page early once its values hold this many bytes
	// (0: no limit), so wide rows cannot blow up a batch.
	MaxBytes int
	// KeysOnly reads only the key columns (the key scan of incremental
	// entities, which finds deletes).
	KeysOnly bool
	// Cursor restricts the read to rows changed within a window.
	Cursor *CursorWindow
}

// Page is a page of rows.
type Page struct {
	Rows []Row
	// Last holds the exact key parameters that continue after the last row.
	Last []any
	// Bytes is the size of the values read.
	Bytes int
	// Done is true when nothing follows the page.
	Done bool
}

// ReadPage reads one page in key order: one statement, in a read-only
// scope, at the source's default isolation (READ COMMITTED: never
// NOLOCK, which can skip rows and so cause false deletes).
func (s *Source) ReadPage(ctx context.Context, e *Entity, req PageRequest) (*Page, error) {
	cols := e.cols
	if req.KeysOnly {
		cols = e.keyCols()
	}
	q, args := buildPageQuery(s.d, e, req)
	page := &Page{}
	keyIdx := keyPositions(cols)
	last := make([]any, len(keyIdx))
	a := &arena{}
	n, more := 0, false
	err := s.d.query(ctx, s.db, q, args, func(vals []any) error {
		if n == req.Limit {
			more = true // the extra row: something follows
			return errStop
		}
		row := make(Row, len(cols))
		for i := range cols {
			v, err := s.d.canonical(&cols[i], vals[i], a)
			if err != nil {
				return fmt.Errorf("column %s: %w", cols[i].Source, err)
			}
			row[i] = v
			page.Bytes += len(v)
			if k := cols[i].Key; k > 0 {
				if v == nil {
					return fmt.Errorf("column %s: %w", cols[i].Source, ErrNullKey)
				}
				last[k-1] = s.d.keyParam(&cols[i], vals[i], v)
			}
		}
		page.Rows = append(page.Rows, row)
		n++
		if req.MaxBytes > 0 && page.Bytes >= req.MaxBytes {
			more = true // the next page continues after this row
			return errStop
		}
		return nil
	})
	if err == nil && n > 0 {
		page.Last = make([]any, len(keyIdx))
		for _, j := range keyIdx {
			page.Last[cols[j].Key-1] = s.d.finishKey(&cols[j], last[cols[j].Key-1])
		}
	}
	page.Done = !more
	if err != nil {
		return nil, fmt.Errorf("entity %s: reading the source: %w", e.Name, s.redact(err))
	}
	return page, nil
}

// buildPageQuery renders the keyset query of a page and its arguments.
func buildPageQuery(d dialect, e *Entity, req PageRequest) (string, []any) {
	cols := e.cols
	if req.KeysOnly {
		cols = e.keyCols()
	}
	var sel []string
	for _, c := range cols {
		sel = append(sel, d.quote(c.Source))
	}
	b := &sqlBuilder{d: d}
	var conds []string
	if e.Spec.Where != "" {
		conds = append(conds, "("+e.Spec.Where+")")
	}
	if req.After != nil {
		conds = append(conds, b.after(e.keyCols(), req.After))
	}
	if req.Cursor != nil {
		if c := b.cursor(e.cursor, req.Cursor); c != "" {
			conds = append(conds, c)
		}
	}
	var order []string
	for _, c := range e.keyCols() {
		order = append(order, d.quote(c.Source))
	}
	// One row more than asked tells whether anything follows, so the last
	// page is known as such without another query.
	q := d.limitQuery(strings.Join(sel, ", "), e.from, strings.Join(conds, " AND "), strings.Join(order, ", "), req.Limit+1)

	return q, b.args
}

func keyPositions(cols []column) []int {
	var idx []int
	for i, c := range cols {
		if c.Key > 0 {
			idx = append(idx, i)
		}
	}
	return idx
}

// keyCols returns the key columns in key order.
func (e *Entity) keyCols() []column {
	idx := e.Schema.KeyIndexes()
	out := make([]column, len(idx))
	for i, j := range idx {
		out[i] = e.cols[j]
	}
	return out
}

// Incremental reports whether the entity reads only changed rows.
func (e *Entity) Incremental() bool { return e.cursor != nil }

// sqlBuilder collects the arguments of a statement as it renders conditions.
type sqlBuilder struct {
	d    dialect
	args []any
}

// param adds an argument and returns the expression comparing it with c.
func (b *sqlBuilder) param(c *column, v any) string {
	b.args = append(b.args, v)
	return b.d.keyExpr(c, b.d.placeholder(len(b.args)))
}

// after renders "key > last" for a composite key, in a form whose leading
// "k1 >= v1" lets the server seek the index:
//
//	k1 >= v1 AND (k1 > v1 OR (k1 = v1 AND (k2 > v2 OR (k2 = v2 AND k3 > v3))))
func (b *sqlBuilder) after(keys []column, last []any) string {
	q := func(i int) string { return b.d.quote(keys[i].Source) }
	var inner func(i int) string
	inner = func(i int) string {
		gt := q(i) + " > " + b.param(&keys[i], last[i])
		if i == len(keys)-1 {
			return gt
		}
		return "(" + gt + " OR (" + q(i) + " = " + b.param(&keys[i], last[i]) + " AND " + inner(i+1) + "))"
	}
	if len(keys) == 1 {
		return "(" + inner(0) + ")"
	}
	return "(" + q(0) + " >= " + b.param(&keys[0], last[0]) + " AND " + inner(0) + ")"
}
