package writer

import (
	"context"
	"database/sql/driver"
	"fmt"
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
// target row of table in (lo, hi], in key order. It only reads: a table
// that is not there yet, or is not Sisporta's, is an error, and the
// caller sends the range's rows as they are.
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
	sel, order := make([]string, 0, len(sh.keyCols)+2), make([]string, len(sh.keyCols))
	for i, c := range sh.keyCols {
		sel = append(sel, quote(c.Name))
		order[i] = quote(c.Name)
	}
	sel = append(sel, quote(HashColumn))
	if softDelete {
		sel = append(sel, quote(DeletedColumn)+" IS NOT NULL")
	}
	q := "SELECT " + strings.Join(sel, ", ") + " FROM " + quoteTable(table) + " WHERE " + cond + " ORDER BY " + strings.Join(order, ", ")
	var out []KeyHash
	n := len(sh.keyCols)
	err = t.inTx(ctx, func(x *tx) error {
		out = out[:0]
		return x.rawQuery(ctx, q, w.args, func(vals []driver.Value) error {
			k := make(schema.Row, n)
			for i := range n {
				if vals[i] == nil {
					return fmt.Errorf("table %s: a NULL key", table)
				}
				k[i] = appendDriverValue(nil, vals[i])
			}
			kh := KeyHash{Key: k}
			if vals[n] != nil {
				h, err := driverUint(vals[n])
				if err != nil {
					return err
				}
				kh.Hash, kh.HasHash = h, true
			}
			if softDelete {
				d, err := driverUint(vals[n+1])
				if err != nil {
					return err
				}
				kh.Deleted = d != 0
			}
			out = append(out, kh)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("reading the keys and row hashes of table %s: %w", table, t.redact(err))
	}
	return out, nil
}

// driverUint reads an unsigned integer the driver returned.
func driverUint(v driver.Value) (uint64, error) {
	switch x := v.(type) {
	case int64:
		return uint64(x), nil
	case uint64:
		return x, nil
	case []byte:
		var n uint64
		_, err := fmt.Sscan(string(x), &n)
		return n, err
	}
	return 0, fmt.Errorf("unexpected %T for an unsigned integer", v)
}

// applySparse applies a sparse batch in tx: one read of the target rows
// of all its parts, one write of the rows that differ, the parts' target
// rows the batch lacks recorded as delete candidates; then it checks the
// range's digest (ApplyResult.Stale).
func (t *Target) applySparse(ctx context.Context, tx *tx, b *Batch, sh *shape, info *tableInfo, o ApplyOptions, res *ApplyResult) error {
	if err := b.loadRows(); err != nil {
		return err
	}
	at := 0
	w := newRangeWhere(sh.keyCols, sh.keyCodecs, info.order)
	conds := make([]string, 0, len(b.Parts))
	for _, p := range b.Parts {
		if p.Rows < 0 || at+p.Rows > len(b.Rows) {
			return fmt.Errorf("sparse batch: its parts hold %d rows or more, the batch %d", at+p.Rows, len(b.Rows))
		}
		conds = append(conds, "("+w.rangeCond(p.Lo, p.Hi)+")")
		at += p.Rows
	}
	if w.err != nil {
		return w.err
	}
	if at != len(b.Rows) {
		return fmt.Errorf("sparse batch: its parts hold %d rows, the batch %d", at, len(b.Rows))
	}
	existing := map[string]targetRow{}
	var rangeKeys []string
	if len(conds) > 0 {
		var err error
		if rangeKeys, err = readTargetRows(ctx, tx, b, sh, false, strings.Join(conds, " OR "), w.args, existing); err != nil {
			return err
		}
	}
	res.RangeRows = len(rangeKeys)
	batchKeys := make(map[string]bool, len(b.Rows))
	var (
		write  []schema.Row
		hashes []uint64
	)
	hasher := sh.hasher()
	key := make(schema.Row, len(sh.keyIdx))
	for _, r := range b.Rows {
		for i, j := range sh.keyIdx {
			key[i] = r[j]
		}
		ks := KeyString(key)
		batchKeys[ks] = true
		h := hasher.Sum(r)
		if cur, ok := existing[ks]; ok && cur.unchanged(h, false) {
			res.Unchanged++
			continue
		}
		write = append(write, r)
		hashes = append(hashes, h)
	}
	if err := t.upsert(ctx, tx, b, sh, write, hashes); err != nil {
		return err
	}
	res.Written = len(write)
	var cands []string
	for _, ks := range rangeKeys {
		if !batchKeys[ks] && !existing[ks].deleted {
			cands = append(cands, ks)
		}
	}
	if err := addPending(ctx, tx, b, cands); err != nil {
		return err
	}
	res.Candidates = len(cands)
	res.Unchanged += b.Unchanged
	if b.Want != nil {
		differ, err := checkChunk(ctx, tx, b, sh, info.order, []RangeCheck{{Lo: b.Lo, Hi: b.Hi, Want: *b.Want}})
		if err != nil {
			return err
		}
		res.Stale = len(differ) > 0
		if res.Stale && o.OnStale != nil {
			if err := o.OnStale(); err != nil {
				return err
			}
		}
	}
	return writeLedger(ctx, tx, b, len(b.Rows)+b.Unchanged, res)
}
