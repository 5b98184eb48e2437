package writer

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/sisporta/sisporta/runner/failure"
)

// CheckResult is what a range check found.
type CheckResult struct {
	// Skipped is a skip reason of ApplyBatch (a duplicate delivery, a run
	// superseded), or "".
	Skipped string
	// Differ are the indexes (RangeCheck.Index) of the ranges whose
	// target rows differ from what Sisporta wrote there.
	Differ []int
}

// checksPerStatement bounds the ranges one statement aggregates.
const checksPerStatement = 32

// CheckRanges compares each of a range-check batch's checks (key ranges
// the run skipped because their source digest had not changed) with the
// target's digest of the range: count, count of hashed rows, BIT_XOR and
// SUM of the row hashes of its live rows (soft-deleted rows are the
// source's deletes). A range that differs holds rows someone deleted,
// added or changed behind Sisporta's back (or a table emptied, or dropped
// and made again): onDiffer is told of those before the batch is
// recorded in the ledger, in its transaction, so a failure there retries
// the whole check. Nothing is written to the table.
func (t *Target) CheckRanges(ctx context.Context, b *Batch, checks []RangeCheck, onDiffer func(idx []int) error) (CheckResult, error) {
	info, sh, err := t.prepare(ctx, b)
	if err != nil {
		return CheckResult{}, err
	}
	var res CheckResult
	err = t.inTx(ctx, func(tx *tx) error {
		res = CheckResult{}
		cur, epoch, err := currentRunShared(ctx, tx, b.Pipeline, b.Entity)
		if err != nil {
			return err
		}
		if cur != b.Run || epoch != b.Epoch {
			res.Skipped = SkipSuperseded
			return nil
		}
		var dup int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM _sisporta_ledger WHERE pipeline = ? AND entity = ? AND run_id = ? AND seq = ?`,
			b.Pipeline, b.Entity, b.Run, b.Seq).Scan(&dup); err != nil {
			return err
		}
		if dup > 0 {
			res.Skipped = SkipDuplicate
			return nil
		}
		for start := 0; start < len(checks); start += checksPerStatement {
			chunk := checks[start:min(start+checksPerStatement, len(checks))]
			differ, err := checkChunk(ctx, tx, b, sh, info.order, chunk)
			if err != nil {
				return err
			}
			res.Differ = append(res.Differ, differ...)
		}
		if len(res.Differ) > 0 {
			if err := onDiffer(res.Differ); err != nil {
				return err
			}
		}
		return writeLedger(ctx, tx, b, 0, &ApplyResult{})
	})
	if err != nil {
		if errors.Is(err, errLedgerDup) {
			return CheckResult{Skipped: SkipDuplicate}, nil
		}
		if failure.IsMissingObject(err) {
			t.forgetTable(b.Table) // dropped under the run: the retry makes it again (empty: every range differs)
		}
		return CheckResult{}, fmt.Errorf("entity %s, range check %d, table %s: %w", b.Entity, b.Seq, b.Table, t.redact(err))
	}
	return res, nil
}

// checkChunk aggregates each range of chunk in one statement and returns
// the indexes of those whose digest is not the one wanted.
func checkChunk(ctx context.Context, tx *tx, b *Batch, sh *shape, order []string, chunk []RangeCheck) ([]int, error) {
	h := quote(HashColumn)
	live := ""
	if b.SoftDelete {
		live = " AND " + quote(DeletedColumn) + " IS NULL"
	}
	var (
		parts []string
		args  []any
	)
	for i, c := range chunk {
		w := newRangeWhere(sh.keyCols, sh.keyCodecs, order)
		cond := w.rangeCond(c.Lo, c.Hi)
		if w.err != nil {
			return nil, w.err
		}
		parts = append(parts, "SELECT "+strconv.Itoa(i)+", COUNT(*), COUNT("+h+"), COALESCE(BIT_XOR("+h+"), 0), COALESCE(SUM("+h+"), 0) FROM "+
			quoteTable(b.Table)+" WHERE "+cond+live)
		args = append(args, w.args...)
	}
	rows, err := tx.QueryContext(ctx, strings.Join(parts, " UNION ALL "), args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	seen := make([]bool, len(chunk))
	var differ []int
	for rows.Next() {
		var (
			i         int
			n, hashed int64
			xor       uint64
			sum       string
		)
		if err := rows.Scan(&i, &n, &hashed, &xor, &sum); err != nil {
			return nil, err
		}
		if i < 0 || i >= len(chunk) {
			return nil, fmt.Errorf("range check: unexpected row %d", i)
		}
		seen[i] = true
		want := chunk[i].Want
		if n != int64(want.Count) || hashed != n || xor != want.Xor || sum != want.Sum {
			differ = append(differ, chunk[i].Index)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for i, ok := range seen {
		if !ok {
			return nil, fmt.Errorf("range check: no row for range %d", chunk[i].Index)
		}
	}
	return differ, nil
}
