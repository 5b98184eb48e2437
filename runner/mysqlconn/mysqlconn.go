// Package mysqlconn holds what the source and target sides share about
// MySQL connections: how DSNs are set up, and reading rows through the
// driver directly.
package mysqlconn

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/go-sql-driver/mysql"
)

// Config parses a go-sql-driver DSN and sets what Sisporta relies on:
// values as the server's text (interpolateParams keeps the text protocol
// even with arguments, no parseTime), UTC for TIMESTAMPs, one statement per
// call, and a database named.
func Config(dsn string) (*mysql.Config, error) {
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		return nil, fmt.Errorf("want user:password@tcp(host:3306)/database: %w", err)
	}
	if cfg.DBName == "" {
		return nil, fmt.Errorf("it names no database: end it with /<database>")
	}
	cfg.InterpolateParams = true
	cfg.ParseTime = false
	cfg.MultiStatements = false
	if cfg.Params == nil {
		cfg.Params = map[string]string{}
	}
	// The session's text is utf8mb4 whatever the DSN asks: a legacy
	// collation=utf8_general_ci (3-byte UTF-8) or latin1 would turn
	// characters into '?' or mojibake on the way, and values read back
	// would look unchanged. Session variables that would change how text
	// is converted are Sisporta's to set.
	cfg.Collation = "utf8mb4_general_ci"
	for k := range cfg.Params {
		switch strings.ToLower(k) {
		case "charset", "names", "character_set_client", "character_set_connection", "character_set_results",
			"collation_connection", "sql_mode", "time_zone":
			delete(cfg.Params, k)
		}
	}
	cfg.Params["time_zone"] = "'+00:00'"
	return cfg, nil
}

// SourceSQLMode is the sql_mode of source sessions: MySQL's classic one,
// so text reads as stored (no PAD_CHAR_TO_FULL_LENGTH) and where filters
// mean what Sisporta's checker reads them as ("..." a string, || an OR,
// backslash escapes).
const SourceSQLMode = "'NO_ENGINE_SUBSTITUTION'"

// RawQuery runs q on conn and calls fn with each row's driver values
// (valid until fn returns): database/sql's per-value conversions cost a
// large share of reading wide tables. fn returning ErrStop ends early
// without an error.
func RawQuery(ctx context.Context, conn *sql.Conn, q string, args []any, fn func(vals []driver.Value) error) error {
	return conn.Raw(func(dc any) error {
		qc, ok := dc.(driver.QueryerContext)
		if !ok {
			return fmt.Errorf("the MySQL driver cannot query directly")
		}
		named := make([]driver.NamedValue, len(args))
		for i, a := range args {
			named[i] = driver.NamedValue{Ordinal: i + 1, Value: a}
		}
		rows, err := qc.QueryContext(ctx, q, named)
		if err != nil {
			return err
		}
		defer rows.Close()
		vals := make([]driver.Value, len(rows.Columns()))
		for {
			if err := rows.Next(vals); errors.Is(err, io.EOF) {
				return nil
			} else if err != nil {
				return err
			}
			if err := fn(vals); errors.Is(err, ErrStop) {
				return nil
			} else if err != nil {
				return err
			}
		}
	})
}

// ErrStop ends a RawQuery early.
var ErrStop = errors.New("stop reading")

// Querier is what Location reads through (a pool, a connection or a
// transaction).
type Querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// Location names a MySQL server and the session's database as
// "<server>|<database>": two connections with the same server part reach
// the same server (host name, port, server ID and data directory agree).
func Location(ctx context.Context, q Querier) (string, error) {
	var host, datadir, database sql.NullString
	var port, serverID sql.NullInt64
	if err := q.QueryRowContext(ctx, "SELECT @@hostname, @@port, @@server_id, @@datadir, DATABASE()").Scan(&host, &port, &serverID, &datadir, &database); err != nil {
		return "", err
	}
	return fmt.Sprintf("%s:%d:%d:%s|%s", host.String, port.Int64, serverID.Int64, datadir.String, database.String), nil
}
