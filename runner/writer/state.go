package writer

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/sisporta/sisporta/runner/failure"
)

// State tables, in the target database next to the mirrored tables:
//
//	_sisporta_entities         one row per (pipeline, entity): the current run
//	                           (batches of older runs are skipped), the
//	                           incremental watermark
//	_sisporta_ledger           one row per applied batch, written in the
//	                           batch's own transaction: a batch delivered
//	                           twice applies once, and counts are exact
//	_sisporta_pending_deletes  delete candidates of a run, applied by the
//	                           finalize step only when the run is complete
//	_sisporta_runs             one row per (run, entity): the run record
//	_sisporta_run_registry     runs each entity has seen, by epoch: how runs
//	                           of two run-ID timelines are ordered
//	_sisporta_tables           one row per target table: the pipeline and
//	                           entity that mirror it (its one owner), and
//	                           whether Sisporta created it
var stateDDL = []string{
	`CREATE TABLE IF NOT EXISTS _sisporta_entities (
  pipeline VARCHAR(255) NOT NULL,
  entity VARCHAR(63) NOT NULL,
  current_run BIGINT NOT NULL,
  current_epoch VARCHAR(32) NULL,
  cursor_value VARCHAR(255) NULL,
  updated_at DATETIME(6) NOT NULL,
  PRIMARY KEY (pipeline, entity)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin`,
	`CREATE TABLE IF NOT EXISTS _sisporta_ledger (
  pipeline VARCHAR(255) NOT NULL,
  entity VARCHAR(63) NOT NULL,
  run_id BIGINT NOT NULL,
  seq INT NOT NULL,
  rows_in INT NOT NULL,
  rows_written INT NOT NULL,
  rows_unchanged INT NOT NULL,
  candidates INT NOT NULL,
  rows_repaired INT NOT NULL DEFAULT 0,
  applied_at DATETIME(6) NOT NULL,
  PRIMARY KEY (pipeline, entity, run_id, seq)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin`,
	`CREATE TABLE IF NOT EXISTS _sisporta_pending_deletes (
  pipeline VARCHAR(255) NOT NULL,
  entity VARCHAR(63) NOT NULL,
  run_id BIGINT NOT NULL,
  key_hash BINARY(16) NOT NULL,
  key_value MEDIUMBLOB NOT NULL,
  PRIMARY KEY (pipeline, entity, run_id, key_hash)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin`,
	`CREATE TABLE IF NOT EXISTS _sisporta_runs (
  pipeline VARCHAR(255) NOT NULL,
  run_id BIGINT NOT NULL,
  entity VARCHAR(63) NOT NULL,
  result VARCHAR(32) NOT NULL,
  snapshot_time DATETIME(6) NULL,
  completed_at DATETIME(6) NULL,
  rows_read BIGINT NOT NULL DEFAULT 0,
  rows_written BIGINT NOT NULL DEFAULT 0,
  rows_unchanged BIGINT NOT NULL DEFAULT 0,
  rows_deleted BIGINT NOT NULL DEFAULT 0,
  rows_repaired BIGINT NOT NULL DEFAULT 0,
  verified BOOLEAN NOT NULL DEFAULT 0,
  batches INT NOT NULL DEFAULT 0,
  cleanup_result VARCHAR(32) NULL,
  cleanup_message TEXT NULL,
  cleanup_count BIGINT NOT NULL DEFAULT 0,
  message TEXT NULL,
  PRIMARY KEY (pipeline, run_id, entity)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin`,
	`CREATE TABLE IF NOT EXISTS _sisporta_run_registry (
  pipeline VARCHAR(255) NOT NULL,
  entity VARCHAR(63) NOT NULL,
  epoch VARCHAR(32) NOT NULL,
  run_id BIGINT NOT NULL,
  registered_at DATETIME(6) NOT NULL,
  PRIMARY KEY (pipeline, entity, epoch, run_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin`,
	ownersDDL("_sisporta_tables"),
}

// ownersDDL creates a table of target-table owners under the given
// (quoted) name: one in the target database, and one in each other
// database holding a qualified target table, so that every pipeline
// writing a table finds its owner in the same place.
func ownersDDL(name string) string {
	return `CREATE TABLE IF NOT EXISTS ` + name + ` (
  table_schema VARCHAR(64) NOT NULL,
  table_name VARCHAR(64) NOT NULL,
  pipeline VARCHAR(255) NOT NULL,
  entity VARCHAR(63) NOT NULL,
  created_by_sisporta BOOLEAN NOT NULL DEFAULT 0,
  since DATETIME(6) NOT NULL,
  PRIMARY KEY (table_schema, table_name)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin`
}

// stateColumns are columns added to state tables after their first
// release: tables created earlier get them on the next start.
var stateColumns = []struct{ table, column, def string }{
	{"_sisporta_entities", "current_epoch", "VARCHAR(32) NULL"},
	{"_sisporta_ledger", "rows_repaired", "INT NOT NULL DEFAULT 0"},
	{"_sisporta_runs", "rows_repaired", "BIGINT NOT NULL DEFAULT 0"},
	{"_sisporta_runs", "verified", "BOOLEAN NOT NULL DEFAULT 0"},
}

// ensureState creates the state tables, and adds columns that later
// releases added to them.
func (t *Target) ensureState(ctx context.Context) error {
	for _, ddl := range stateDDL {
		if _, err := t.db.ExecContext(ctx, ddl); err != nil {
			return t.stateError("creating Sisporta's state tables in the target", err)
		}
	}
	var missing []string
	for _, c := range stateColumns {
		var n int
		if err := t.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? AND COLUMN_NAME = ?`,
			c.table, c.column).Scan(&n); err != nil {
			return t.redact(err)
		}
		if n == 0 {
			missing = append(missing, "ALTER TABLE "+c.table+" ADD COLUMN "+c.column+" "+c.def)
		}
	}
	if len(missing) > 0 {
		if err := t.runDDL(ctx, missing); err != nil && !isDuplicateColumn(err) {
			return t.stateError("adding columns to Sisporta's state tables in the target", err)
		}
	}
	return nil
}

// stateError says what went wrong with the state tables: a target that
// cannot be reached (batches wait and retry), or a login without the
// rights Sisporta needs (permanent until they are granted).
func (t *Target) stateError(doing string, err error) error {
	var me *mysql.MySQLError
	switch {
	case !errors.As(err, &me):
		return fmt.Errorf("cannot reach the target MySQL (%s): %w; batches wait in the queue and are retried", doing, t.redact(err))
	case failure.IsPermanent(err):
		return failure.Permanent(fmt.Errorf("%s: the target login needs SELECT, INSERT, UPDATE, DELETE, CREATE, ALTER and INDEX on the target database: %w", doing, t.redact(err)))
	}
	return fmt.Errorf("%s: %w", doing, t.redact(err))
}

func isDuplicateColumn(err error) bool {
	var me *mysql.MySQLError
	return errors.As(err, &me) && me.Number == 1060
}

// RegisterRun makes the run the entity's current run, unless a newer one
// is: batches and the finalize step of any other run are then skipped as
// superseded. Within one epoch (one run-ID counter, see runstate) run IDs
// only grow, so the larger ID is the newer run. Across epochs (a Redis that
// lost its data, another Redis, a local sync's embedded one) IDs cannot be
// compared: whichever run the target sees first is older, so a run of
// another epoch that the target has never seen becomes current, and a run
// it has seen before and that is no longer current stays superseded. A
// clock that was far ahead therefore never freezes the mirror. The
// exclusive lock on the entity's row waits for batches of the previous run
// in flight (they hold a shared lock), so no older batch commits after a
// newer run starts.
func (t *Target) RegisterRun(ctx context.Context, pipeline, entity, epoch string, run int64) error {
	key := fmt.Sprintf("%s\x00%s\x00%s\x00%d", pipeline, entity, epoch, run)
	if _, ok := t.registered.Load(key); ok {
		return nil
	}
	// Already current (another worker registered it): no lock needed, so
	// a worker frozen inside a batch of this run holds no one up here.
	if cur, curEpoch, err := t.CurrentRun(ctx, pipeline, entity); err == nil && cur == run && curEpoch == epoch {
		t.registered.Store(key, true)
		return nil
	}
	err := t.inTx(ctx, func(x *tx) error {
		// The entity's first run claims the row; concurrent batches of it
		// find it claimed and read it below.
		r, err := x.ExecContext(ctx, `INSERT IGNORE INTO _sisporta_entities (pipeline, entity, current_run, current_epoch, updated_at) VALUES (?, ?, ?, ?, UTC_TIMESTAMP(6))`,
			pipeline, entity, run, epoch)
		if err != nil {
			return err
		}
		if n, _ := r.RowsAffected(); n == 1 {
			return registerInTx(ctx, x, pipeline, entity, epoch, run)
		}
		var (
			cur      int64
			curEpoch string
		)
		err = x.QueryRowContext(ctx, `SELECT current_run, COALESCE(current_epoch, '') FROM _sisporta_entities WHERE pipeline = ? AND entity = ? FOR UPDATE`,
			pipeline, entity).Scan(&cur, &curEpoch)
		switch {
		case err != nil:
			return err
		case cur == run && curEpoch == epoch:
			return nil
		case curEpoch == epoch && run < cur:
			return nil // an older run of this timeline: superseded
		case curEpoch != epoch:
			var seen int
			err := x.QueryRowContext(ctx, `SELECT 1 FROM _sisporta_run_registry WHERE pipeline = ? AND entity = ? AND epoch = ? AND run_id = ?`,
				pipeline, entity, epoch, run).Scan(&seen)
			if err == nil {
				return nil // seen before and overtaken since: superseded
			}
			if !errors.Is(err, sql.ErrNoRows) {
				return err
			}
		}
		if _, err := x.ExecContext(ctx, `UPDATE _sisporta_entities SET current_run = ?, current_epoch = ?, updated_at = UTC_TIMESTAMP(6) WHERE pipeline = ? AND entity = ?`,
			run, epoch, pipeline, entity); err != nil {
			return err
		}
		return registerInTx(ctx, x, pipeline, entity, epoch, run)
	})
	if err != nil {
		return fmt.Errorf("registering run %d of entity %s: %w", run, entity, t.redact(err))
	}
	t.registered.Store(key, true)
	return nil
}

func registerInTx(ctx context.Context, x *tx, pipeline, entity, epoch string, run int64) error {
	_, err := x.ExecContext(ctx, `INSERT IGNORE INTO _sisporta_run_registry (pipeline, entity, epoch, run_id, registered_at) VALUES (?, ?, ?, ?, UTC_TIMESTAMP(6))`,
		pipeline, entity, epoch, run)
	return err
}

// CurrentRun returns the entity's current run and its epoch (0 when none).
func (t *Target) CurrentRun(ctx context.Context, pipeline, entity string) (int64, string, error) {
	var (
		run   int64
		epoch string
	)
	err := t.db.QueryRowContext(ctx, `SELECT current_run, COALESCE(current_epoch, '') FROM _sisporta_entities WHERE pipeline = ? AND entity = ?`, pipeline, entity).Scan(&run, &epoch)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, "", nil
	}
	return run, epoch, t.redact(err)
}

// currentRunShared reads the current run under a shared lock held to the
// end of the batch's transaction.
func currentRunShared(ctx context.Context, tx *tx, pipeline, entity string) (int64, string, error) {
	var (
		run   int64
		epoch string
	)
	err := tx.QueryRowContext(ctx, `SELECT current_run, COALESCE(current_epoch, '') FROM _sisporta_entities WHERE pipeline = ? AND entity = ? LOCK IN SHARE MODE`, pipeline, entity).Scan(&run, &epoch)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, "", nil
	}
	return run, epoch, err
}

// LedgerTotals sums the ledger of a run's entity.
type LedgerTotals struct {
	Batches    int
	RowsIn     int64
	Written    int64
	Unchanged  int64
	Candidates int64
	Repaired   int64
}

// Ledger sums the applied batches of an entity's run.
func (t *Target) Ledger(ctx context.Context, pipeline, entity string, run int64) (LedgerTotals, error) {
	var lt LedgerTotals
	err := t.db.QueryRowContext(ctx, `SELECT COUNT(*), COALESCE(SUM(rows_in),0), COALESCE(SUM(rows_written),0), COALESCE(SUM(rows_unchanged),0), COALESCE(SUM(candidates),0), COALESCE(SUM(rows_repaired),0)
FROM _sisporta_ledger WHERE pipeline = ? AND entity = ? AND run_id = ?`, pipeline, entity, run).Scan(&lt.Batches, &lt.RowsIn, &lt.Written, &lt.Unchanged, &lt.Candidates, &lt.Repaired)
	return lt, t.redact(err)
}

// RunRecord is a row of _sisporta_runs.
type RunRecord struct {
	Pipeline       string
	Run            int64
	Entity         string
	Result         string
	SnapshotTime   time.Time
	CompletedAt    time.Time
	RowsRead       int64
	RowsWritten    int64
	RowsUnchanged  int64
	RowsDeleted    int64
	RowsRepaired   int64
	Verified       bool
	Batches        int
	CleanupResult  string
	CleanupMessage string
	// CleanupCount is the rows deleted, or that would have been (DryRun,
	// GuardTripped).
	CleanupCount int64
	Message      string
}

// SaveRun writes a run record, replacing an earlier one for the same
// (pipeline, run, entity).
func (t *Target) SaveRun(ctx context.Context, r RunRecord) error {
	var completed any
	if !r.CompletedAt.IsZero() {
		completed = r.CompletedAt.UTC().Format("2006-01-02 15:04:05.000000")
	}
	var snap any
	if !r.SnapshotTime.IsZero() {
		snap = r.SnapshotTime.UTC().Format("2006-01-02 15:04:05.000000")
	}
	_, err := t.db.ExecContext(ctx, `INSERT INTO _sisporta_runs (pipeline, run_id, entity, result, snapshot_time, completed_at, rows_read, rows_written, rows_unchanged, rows_deleted, rows_repaired, verified, batches, cleanup_result, cleanup_message, cleanup_count, message)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULLIF(?, ''), NULLIF(?, ''), ?, NULLIF(?, ''))
ON DUPLICATE KEY UPDATE result = VALUES(result), snapshot_time = VALUES(snapshot_time), completed_at = VALUES(completed_at),
  rows_read = VALUES(rows_read), rows_written = VALUES(rows_written), rows_unchanged = VALUES(rows_unchanged),
  rows_deleted = VALUES(rows_deleted), rows_repaired = VALUES(rows_repaired), verified = VALUES(verified), batches = VALUES(batches),
  cleanup_result = VALUES(cleanup_result), cleanup_message = VALUES(cleanup_message), cleanup_count = VALUES(cleanup_count), message = VALUES(message)`,
		r.Pipeline, r.Run, r.Entity, r.Result, snap, completed, r.RowsRead, r.RowsWritten, r.RowsUnchanged, r.RowsDeleted, r.RowsRepaired, r.Verified, r.Batches, r.CleanupResult, r.CleanupMessage, r.CleanupCount, r.Message)
	return t.redact(err)
}

// LoadRun reads a run record; ok is false when there is none.
func (t *Target) LoadRun(ctx context.Context, pipeline string, run int64, entity string) (r RunRecord, ok bool, err error) {
	if err := t.ensureReady(ctx); err != nil {
		return r, false, err
	}
	var (
		snap, completed, cleanup, cleanupMsg, msg sql.NullString
	)
	err = t.db.QueryRowContext(ctx, `SELECT result, snapshot_time, completed_at, rows_read, rows_written, rows_unchanged, rows_deleted, rows_repaired, verified, batches, cleanup_result, cleanup_message, cleanup_count, message
FROM _sisporta_runs WHERE pipeline = ? AND run_id = ? AND entity = ?`, pipeline, run, entity).Scan(
		&r.Result, &snap, &completed, &r.RowsRead, &r.RowsWritten, &r.RowsUnchanged, &r.RowsDeleted, &r.RowsRepaired, &r.Verified, &r.Batches, &cleanup, &cleanupMsg, &r.CleanupCount, &msg)
	if errors.Is(err, sql.ErrNoRows) {
		return r, false, nil
	}
	if err != nil {
		return r, false, t.redact(err)
	}
	r.Pipeline, r.Run, r.Entity = pipeline, run, entity
	r.SnapshotTime = parseTime(snap.String)
	r.CompletedAt = parseTime(completed.String)
	r.CleanupResult, r.CleanupMessage, r.Message = cleanup.String, cleanupMsg.String, msg.String
	return r, true, nil
}

func parseTime(s string) time.Time {
	t, _ := time.Parse("2006-01-02 15:04:05.999999", s)
	return t
}

// Cursor reads an entity's stored incremental watermark ("" when none).
func (t *Target) Cursor(ctx context.Context, pipeline, entity string) (string, error) {
	if err := t.ensureReady(ctx); err != nil {
		return "", err
	}
	var v sql.NullString
	err := t.db.QueryRowContext(ctx, `SELECT cursor_value FROM _sisporta_entities WHERE pipeline = ? AND entity = ?`, pipeline, entity).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	return v.String, t.redact(err)
}

// SetCursor stores an entity's incremental watermark.
func (t *Target) SetCursor(ctx context.Context, pipeline, entity, value string) error {
	_, err := t.db.ExecContext(ctx, `UPDATE _sisporta_entities SET cursor_value = ?, updated_at = UTC_TIMESTAMP(6) WHERE pipeline = ? AND entity = ?`, value, pipeline, entity)
	return t.redact(err)
}

// Housekeep drops ledger rows and pending deletes of every run of the
// entity but its current one, as the target sees it when deleting (a newer
// run may have started meanwhile: its rows stay), and registry entries
// older than 30 days.
func (t *Target) Housekeep(ctx context.Context, pipeline, entity string) error {
	for _, table := range []string{"_sisporta_ledger", "_sisporta_pending_deletes"} {
		//nolint:gosec // table is one of the two names above; values are parameters
		q := `DELETE x FROM ` + table + ` x JOIN _sisporta_entities e ON e.pipeline = x.pipeline AND e.entity = x.entity
WHERE x.pipeline = ? AND x.entity = ? AND x.run_id <> e.current_run`
		if _, err := t.db.ExecContext(ctx, q, pipeline, entity); err != nil {
			return t.redact(err)
		}
	}
	_, err := t.db.ExecContext(ctx, `DELETE FROM _sisporta_run_registry WHERE pipeline = ? AND entity = ? AND registered_at < UTC_TIMESTAMP(6) - INTERVAL 30 DAY`, pipeline, entity)
	return t.redact(err)
}
