package writer

import (
	"context"
	"database/sql/driver"
	"fmt"
	"math"
	"strings"

	"github.com/sisporta/sisporta/runner/schema"
)

// Sparse batches: for a changed key range whose key is integers, the
// extractor reads the target's keys and row hashes of the range itself
// (TargetKeyHashes) and sends only the parts of the range where the
// target differs from the source — a changed row, a new one, a row the
// source lost — each part as a ranged batch of its own would be, all in
// one transaction. The rows the target already has unchanged never travel
// nor are compared again. After the parts, the target's digest of the
// whole range must be Batch.Want (the source's rows and the rows left for
// cleanup): otherwise the target moved between the extractor's read and
// the batch (a superseded run's batch, a hand edit), ApplyResult.Stale
// says so, and the run's ranges are not kept, so the next run reads the
// range in full.

// Part is one key range (Lo, Hi] of a sparse batch and how many of the
// batch's rows are its (they follow the previous part's).
type Part struct {
	Lo, Hi schema.Row
	Rows   int
}

// KeyHash is a target row's key, its stored row hash and whether it is
// soft-deleted.
type KeyHash struct {
	Key     schema.Row
	Hash    uint64
	HasHash bool
	Deleted bool
}

// SparseKeys reports whether a schema's key can be compared outside the
// database: integers, whose text orders the same in the source, in MySQL
// and in Go (CompareIntKeys).
func SparseKeys(s *schema.Table) bool {
	keys := s.KeyColumns()
	for _, c := range keys {
		if c.Kind != schema.KindInt {
			return false
		}
	}
	return len(keys) > 0
}

// CompareIntKeys orders two keys of integer columns (canonical decimal
// text) as the databases do.
func CompareIntKeys(a, b schema.Row) int {
	for i := range a {
		if c := compareDecimal(a[i], b[i]); c != 0 {
			return c
		}
	}
	return 0
}

func compareDecimal(a, b []byte) int {
	na, nb := len(a) > 0 && a[0] == '-', len(b) > 0 && b[0] == '-'
	switch {
	case na && !nb:
		return -1
	case !na && nb:
		return 1
	case na:
		return -compareDigits(a[1:], b[1:])
	}
	return compareDigits(a, b)
}

func compareDigits(a, b []byte) int {
	if len(a) != len(b) {
		if len(a) < len(b) {
			return -1
		}
		return 1
	}
	return strings.Compare(string(a), string(b))
}

// TargetKeyHashes reads the key, stored hash and soft-delete mark of each
// target row of table in (lo, hi], in key order, as a batch's apply reads
// them (readTargetRows). It only reads: a table that is not there yet, or
// is not Sisporta's, is an error, and the caller sends the range's rows as
// they are.
func (t *Target) TargetKeyHashes(ctx context.Context, table string, s *schema.Table, softDelete bool, lo, hi schema.Row) ([]KeyHash, error) {
	if !SparseKeys(s) {
		return nil, fmt.Errorf("the key of table %s is not integers", table)
	}
	sh, err := t.shapeOf(s)
	if err != nil {
		return nil, err
	}
	w := newRangeWhere(sh.keyCols, sh.keyCodecs, nil)
	cond := w.rangeCond(lo, hi)
	if w.err != nil {
		return nil, w.err
	}
	order := make([]string, len(sh.keyCols))
	for i, c := range sh.keyCols {
		order[i] = quote(c.Name)
	}
	// The condition is the statement's last clause: the order follows it.
	cond += " ORDER BY " + strings.Join(order, ", ")
	var out []KeyHash
	err = t.inTx(ctx, func(x *tx) error {
		out, err = readKeyHashes(ctx, x, table, sh, softDelete, cond, w.args)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("reading the keys and row hashes of table %s: %w", table, t.redact(err))
	}
	return out, nil
}

// readKeyHashes is readTargetRows for integer keys, which need no
// canonical rewriting: each row's key values are kept as read (in shared
// chunks), with no key strings or map between (a changed range's target
// read is a million rows a re-sync).
func readKeyHashes(ctx context.Context, x *tx, table string, sh *shape, softDelete bool, cond string, args []any) ([]KeyHash, error) {
	q := targetRowsQuery(table, sh.keyCols, sh.keyCodecs, softDelete, cond)
	var (
		out   []KeyHash
		chunk []byte
	)
	n := len(sh.keyCols)
	err := x.rawQuery(ctx, q, args, func(vals []driver.Value) error {
		size := 0
		for _, v := range vals[:n] {
			size += 20
			if b, ok := v.([]byte); ok {
				size += len(b)
			}
		}
		if cap(chunk)-len(chunk) < size {
			chunk = make([]byte, 0, max(size, 32<<10))
		}
		kh := KeyHash{Key: make(schema.Row, n)}
		for i, v := range vals[:n] {
			if v == nil {
				return fmt.Errorf("column %s: a NULL key in the target", sh.keyCols[i].Name)
			}
			start := len(chunk)
			chunk = appendDriverValue(chunk, v)
			kh.Key[i] = chunk[start:len(chunk):len(chunk)]
		}
		kh.Hash, kh.HasHash = uintValue(vals[n])
		if softDelete {
			d, _ := uintValue(vals[n+1])
			kh.Deleted = d == 1
		}
		out = append(out, kh)
		return nil
	})
	return out, err
}

// uintValue reads an unsigned integer column (a row hash, a soft-delete
// mark) as the driver gives it (text, or a number), without a string per
// value; false for NULL or anything else.
func uintValue(v driver.Value) (uint64, bool) {
	switch x := v.(type) {
	case uint64:
		return x, true
	case int64:
		return uint64(x), true
	case []byte:
		if len(x) == 0 || len(x) > 20 {
			return 0, false
		}
		var u uint64
		for _, c := range x {
			if c < '0' || c > '9' {
				return 0, false
			}
			d := uint64(c - '0')
			if u > (math.MaxUint64-d)/10 {
				return 0, false
			}
			u = u*10 + d
		}
		return u, true
	}
	return 0, false
}

// checkParts makes sure a sparse batch's parts hold its rows, no more.
func checkParts(b *Batch) error {
	n := 0
	for _, p := range b.Parts {
		if p.Rows < 0 {
			return fmt.Errorf("sparse batch: a part of %d rows", p.Rows)
		}
		n += p.Rows
	}
	if n != len(b.Rows) {
		return fmt.Errorf("sparse batch: its parts hold %d rows, the batch %d", n, len(b.Rows))
	}
	return nil
}

// partsCond is the condition of a sparse batch's parts, "" when it has
// none.
func partsCond(w *whereBuilder, parts []Part) string {
	conds := make([]string, len(parts))
	for i, p := range parts {
		conds[i] = "(" + w.rangeCond(p.Lo, p.Hi) + ")"
	}
	return strings.Join(conds, " OR ")
}

// checkWant compares the target's digest of a sparse batch's whole range,
// once its parts are applied, with the one the extractor expected, and
// counts the rows it found unchanged (ApplyResult.Stale, ApplyOptions.OnStale).
func checkWant(ctx context.Context, tx *tx, b *Batch, sh *shape, info *tableInfo, o ApplyOptions, res *ApplyResult) error {
	res.Unchanged += b.Unchanged
	differ, err := checkChunk(ctx, tx, b, sh, info.order, []RangeCheck{{Lo: b.Lo, Hi: b.Hi, Want: *b.Want}})
	if err != nil {
		return err
	}
	res.Stale = len(differ) > 0
	if res.Stale && o.OnStale != nil {
		return o.OnStale()
	}
	return nil
}
