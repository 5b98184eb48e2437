package target

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/sisporta/sisporta/runner/schema"
)

// decodeKeyString reverses KeyString.
func decodeKeyString(s string) (schema.Row, error) {
	var out schema.Row
	for len(s) > 0 {
		n, rest, ok := strings.Cut(s, ":")
		if !ok {
			return nil, fmt.Errorf("malformed stored key")
		}
		l, err := strconv.Atoi(n)
		if err != nil || l < 0 || l > len(rest) {
			return nil, fmt.Errorf("malformed stored key")
		}
		out = append(out, []byte(rest[:l]))
		s = rest[l:]
	}
	return out, nil
}

// arg turns a canonical value into a statement argument for a column.
func arg(c *schema.Column, v []byte) any {
	switch {
	case v == nil:
		return nil
	case c.Kind.IsBinary():
		return v
	default:
		return string(v)
	}
}

// whereBuilder renders conditions on key columns with their arguments.
type whereBuilder struct {
	keys []schema.Column
	args []any
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
		parts = append(parts, w.compare(hi, "<", 0)+"")
	}
	if len(parts) == 0 {
		return "1=1"
	}
	return strings.Join(parts, " AND ")
}

// compare renders lexicographic key > v (op ">") or key <= v (op "<"),
// from key column i on.
func (w *whereBuilder) compare(v schema.Row, op string, i int) string {
	c := &w.keys[i]
	col := quote(c.Name)
	last := i == len(w.keys)-1
	if last {
		w.args = append(w.args, arg(c, v[i]))
		if op == ">" {
			return col + " > ?"
		}
		return col + " <= ?"
	}
	w.args = append(w.args, arg(c, v[i]))
	strict := col + " " + op + " ?"
	w.args = append(w.args, arg(c, v[i]))
	eq := col + " = ?"
	rest := w.compare(v, op, i+1)
	return "(" + strict + " OR (" + eq + " AND " + rest + "))"
}

// keysIn renders "key IN (...)" for a list of keys.
func (w *whereBuilder) keysIn(keys []schema.Row) string {
	if len(w.keys) == 1 {
		c := &w.keys[0]
		ph := make([]string, len(keys))
		for i, k := range keys {
			ph[i] = "?"
			w.args = append(w.args, arg(c, k[0]))
		}
		return quote(c.Name) + " IN (" + strings.Join(ph, ", ") + ")"
	}
	ors := make([]string, len(keys))
	for i, k := range keys {
		ands := make([]string, len(w.keys))
		for j := range w.keys {
			ands[j] = quote(w.keys[j].Name) + " = ?"
			w.args = append(w.args, arg(&w.keys[j], k[j]))
		}
		ors[i] = "(" + strings.Join(ands, " AND ") + ")"
	}
	return "(" + strings.Join(ors, " OR ") + ")"
}
