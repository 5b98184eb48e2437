package writer

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/go-sql-driver/mysql"

	"github.com/sisporta/sisporta/runner/failure"
	"github.com/sisporta/sisporta/runner/schema"
)

// CountRows counts the live rows of a target table (not soft-deleted).
func (t *Target) CountRows(ctx context.Context, table string, softDelete bool) (int64, error) {
	q := "SELECT COUNT(*) FROM " + quoteTable(table)
	if softDelete {
		q += " WHERE " + quote(DeletedColumn) + " IS NULL"
	}
	var n int64
	err := t.db.QueryRowContext(ctx, q).Scan(&n)
	return n, t.redact(err)
}

// Empty reports whether a target table holds no row at all, or does not
// exist yet.
func (t *Target) Empty(ctx context.Context, table string) (bool, error) {
	var one int
	err := t.db.QueryRowContext(ctx, "SELECT 1 FROM "+quoteTable(table)+" LIMIT 1").Scan(&one)
	switch {
	case errors.Is(err, sql.ErrNoRows), failure.IsMissingObject(err):
		return true, nil
	case err != nil:
		return false, t.redact(err)
	}
	return false, nil
}

// ErrSuperseded ends the cleanup of a run that a newer run of the entity
// has overtaken: the newer run decides what the target holds.
var ErrSuperseded = errors.New("a newer run overtook this one")

// DeleteKeys removes (or soft-deletes) the rows of a chunk of delete
// candidates of the run and drops those candidates, in one short
// transaction, and adds the count to the run record, so a cleanup
// interrupted midway resumes with exact counts and no long table lock is
// ever held. It removes the rows whose keys are exactly the given ones
// (see keysExactly), never a row the target's collation merely calls
// equal to one.
func (t *Target) DeleteKeys(ctx context.Context, table string, s *schema.Table, softDelete bool, pipeline, entity string, run int64, keys []schema.Row) (int64, error) {
	if len(keys) == 0 {
		return 0, nil
	}
	hashes := make([][]byte, len(keys))
	for i, k := range keys {
		hashes[i] = keyHash(k) // as addPending recorded the candidate
	}
	sh, err := t.shapeOf(s)
	if err != nil {
		return 0, err
	}
	var affected int64
	err = t.inTx(ctx, func(tx *tx) error {
		// The run must still own the entity, in this very transaction: a
		// newer run registers itself by updating the row this share lock
		// holds, so it waits for the chunk, and once it is current no
		// chunk of the old run deletes rows it may have just written.
		cur, _, err := currentRunShared(ctx, tx, pipeline, entity)
		if err != nil {
			return err
		}
		if cur != run {
			return fmt.Errorf("%w: run %d of entity %s started, and its batches may have written the rows this cleanup would delete", ErrSuperseded, cur, entity)
		}
		w := newWhere(sh.keyCols, sh.keyCodecs)
		cond := w.keysExactly(keys)
		if w.err != nil {
			return w.err
		}
		var q string
		if softDelete {
			q = "UPDATE " + quoteTable(table) + " SET " + quote(DeletedColumn) + " = UTC_TIMESTAMP(6) WHERE " + cond + " AND " + quote(DeletedColumn) + " IS NULL"
		} else {
			q = "DELETE FROM " + quoteTable(table) + " WHERE " + cond
		}
		r, err := tx.ExecContext(ctx, q, w.args...)
		if err != nil {
			var me *mysql.MySQLError
			if errors.As(err, &me) {
				if why := constraintRefused(me, table); why != "" {
					return failure.Permanent(fmt.Errorf("%s; the run's cleanup stopped there, and the next run goes on: %w", why, err))
				}
			}
			return err
		}
		affected, _ = r.RowsAffected()
		args := []any{pipeline, entity, run}
		ph := make([]string, len(hashes))
		for i, h := range hashes {
			ph[i] = "?"
			args = append(args, h)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM _sisporta_pending_deletes WHERE pipeline = ? AND entity = ? AND run_id = ? AND key_hash IN (`+strings.Join(ph, ", ")+`)`, args...); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `UPDATE _sisporta_runs SET rows_deleted = rows_deleted + ? WHERE pipeline = ? AND run_id = ? AND entity = ?`, affected, pipeline, run, entity)
		return err
	})
	return affected, t.redact(err)
}
