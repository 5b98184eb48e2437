package writer

import (
	"fmt"
	"strings"

	"github.com/sisporta/sisporta/runner/mysqltype"
	"github.com/sisporta/sisporta/runner/schema"
)

// whereBuilder renders conditions on key columns with their arguments,
// each compared in the column's own order (package mysqltype).
type whereBuilder struct {
	keys   []schema.Column
	codecs []mysqltype.Codec
	// order names, per key column, the column rangeCond compares instead
	// in the source's order ("" or nil: the key column itself).
	order []string
	args  []any
	err   error
}

func newWhere(keys []schema.Column, codecs []mysqltype.Codec) *whereBuilder {
	return &whereBuilder{keys: keys, codecs: codecs}
}

// newRangeWhere is newWhere for ranges of a table whose key columns may
// have order columns (tableInfo.order).
func newRangeWhere(keys []schema.Column, codecs []mysqltype.Codec, order []string) *whereBuilder {
	return &whereBuilder{keys: keys, codecs: codecs, order: order}
}

// param adds the argument of key column i's value and returns the
// expression it is compared through.
func (w *whereBuilder) param(i int, v []byte) string {
	a, err := w.codecs[i].Arg(v)
	if err != nil && w.err == nil {
		w.err = fmt.Errorf("key column %s: %w", w.keys[i].Name, err)
	}
	w.args = append(w.args, a)
	return w.codecs[i].Compare("?")
}

// rawParam adds the argument of key column i's value and returns its
// bare placeholder.
func (w *whereBuilder) rawParam(i int, v []byte) string {
	w.param(i, v)
	return "?"
}

// rangeCond renders "key > lo AND key <= hi" for a composite key (either
// bound may be nil), expanded so the optimizer sees a range on the first
// key column.
func (w *whereBuilder) rangeCond(lo, hi schema.Row) string {
	var parts []string
	if lo != nil {
		parts = append(parts, w.compare(lo, ">", 0))
	}
	if hi != nil {
		parts = append(parts, w.compare(hi, "<", 0))
	}
	if len(parts) == 0 {
		return "1=1"
	}
	return strings.Join(parts, " AND ")
}

// compare renders lexicographic key > v (op ">") or key <= v (op "<"),
// from key column i on.
func (w *whereBuilder) compare(v schema.Row, op string, i int) string {
	col, param := quote(w.keys[i].Name), func() string { return w.param(i, v[i]) }
	if w.order != nil && w.order[i] != "" {
		// The source's sort key, as the order column holds it.
		col, param = quote(w.order[i]), func() string { return w.orderParam(i, v[i]) }
	}
	if i == len(w.keys)-1 {
		if op == ">" {
			return col + " > " + param()
		}
		return col + " <= " + param()
	}
	strict := col + " " + op + " " + param()
	eq := col + " = " + param()
	rest := w.compare(v, op, i+1)
	return "(" + strict + " OR (" + eq + " AND " + rest + "))"
}

// orderParam adds the source's sort key of key column i's value.
func (w *whereBuilder) orderParam(i int, v []byte) string {
	k, err := guidOrderKey(v)
	if err != nil && w.err == nil {
		w.err = fmt.Errorf("key column %s: %w", w.keys[i].Name, err)
	}
	w.args = append(w.args, k)
	return "?"
}

// keysIn renders "key IN (...)" for a list of keys, compared in the
// columns' collations: a lookup finds the row a key's spelling would
// upsert onto.
func (w *whereBuilder) keysIn(keys []schema.Row) string {
	return w.keysMatch(keys, false)
}

// keysExactly renders a condition that holds for exactly the given keys:
// keysIn (which the index serves) and, for text key columns, the same
// keys compared as bytes (mysqltype.Codec.Exact). What a delete removes
// must be the candidate itself: under a case-insensitive or PAD SPACE
// collation, the candidate 'abc' (or 'x ') also matches the row a renamed
// source key 'ABC' (or 'x') was upserted onto, which the source still has.
func (w *whereBuilder) keysExactly(keys []schema.Row) string {
	return w.keysMatch(keys, true)
}

func (w *whereBuilder) keysMatch(keys []schema.Row, exact bool) string {
	exactly := func(j int) bool { return exact && w.codecs[j].Exact("?") != "" }
	if len(w.keys) == 1 {
		col := quote(w.keys[0].Name)
		ph := make([]string, len(keys))
		for i, k := range keys {
			ph[i] = w.param(0, k[0])
		}
		cond := col + " IN (" + strings.Join(ph, ", ") + ")"
		if exactly(0) {
			for i, k := range keys {
				ph[i] = w.codecs[0].Exact(w.rawParam(0, k[0]))
			}
			cond += " AND " + w.codecs[0].Exact(col) + " IN (" + strings.Join(ph, ", ") + ")"
		}
		return cond
	}
	ors := make([]string, len(keys))
	for i, k := range keys {
		ands := make([]string, 0, 2*len(w.keys))
		for j := range w.keys {
			ands = append(ands, quote(w.keys[j].Name)+" = "+w.param(j, k[j]))
		}
		for j := range w.keys {
			if exactly(j) {
				ands = append(ands, w.codecs[j].Exact(quote(w.keys[j].Name))+" = "+w.codecs[j].Exact(w.rawParam(j, k[j])))
			}
		}
		ors[i] = "(" + strings.Join(ands, " AND ") + ")"
	}
	return "(" + strings.Join(ors, " OR ") + ")"
}
