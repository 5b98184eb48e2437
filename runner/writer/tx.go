package writer

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"time"

	"github.com/sisporta/sisporta/runner/mysqlconn"
)

// tx is a transaction on one connection, begun and ended with statements
// rather than database/sql's Tx, so that its hottest query (a batch's key
// range) can read through the driver directly: database/sql's per-value
// conversions were a large share of a no-op resync's worker time.
type tx struct {
	conn *sql.Conn
}

func (x *tx) ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error) {
	return x.conn.ExecContext(ctx, q, args...)
}

func (x *tx) QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	return x.conn.QueryContext(ctx, q, args...)
}

func (x *tx) QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row {
	return x.conn.QueryRowContext(ctx, q, args...)
}

// rawQuery calls fn with each row's driver values (valid until fn returns).
func (x *tx) rawQuery(ctx context.Context, q string, args []any, fn func(vals []driver.Value) error) error {
	return mysqlconn.RawQuery(ctx, x.conn, q, args, fn)
}

// inTx runs fn in a READ COMMITTED transaction (no gap locks between
// concurrent batches), retrying deadlocks and lock wait timeouts a few
// times.
func (t *Target) inTx(ctx context.Context, fn func(x *tx) error) error {
	var err error
	for attempt := 0; attempt < 6; attempt++ {
		if attempt > 0 {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(time.Duration(attempt*attempt*20) * time.Millisecond):
			}
		}
		err = t.tryTx(ctx, fn)
		if err == nil || !retryable(err) {
			return err
		}
	}
	return err
}

func (t *Target) tryTx(ctx context.Context, fn func(x *tx) error) (err error) {
	conn, err := t.db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	// The connection is READ COMMITTED already (sessionConnector).
	if _, err := conn.ExecContext(ctx, "START TRANSACTION"); err != nil {
		return err
	}
	defer func() {
		if err == nil {
			return
		}
		// Roll back; if even that fails, the connection's state is unknown:
		// drop it instead of returning it to the pool mid-transaction.
		if _, rerr := conn.ExecContext(context.WithoutCancel(ctx), "ROLLBACK"); rerr != nil {
			_ = conn.Raw(func(any) error { return driver.ErrBadConn })
		}
	}()
	if err = fn(&tx{conn: conn}); err != nil {
		return err
	}
	_, err = conn.ExecContext(ctx, "COMMIT")
	return err
}
