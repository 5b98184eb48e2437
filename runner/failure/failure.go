// Package failure tells errors that retrying cannot fix from those it
// can: a permanent error sends its task to the dead-letter queue at once
// (and stops `sisporta sync` within seconds) instead of being retried for
// the whole backoff schedule with the same result.
package failure

import (
	"errors"

	"github.com/go-sql-driver/mysql"
	mssql "github.com/microsoft/go-mssqldb"
)

// PermanentError is an error that retrying cannot fix; its message says
// what to do.
type PermanentError struct{ Err error }

func (e *PermanentError) Error() string { return e.Err.Error() }
func (e *PermanentError) Unwrap() error { return e.Err }

// Permanent marks err as permanent.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &PermanentError{Err: err}
}

// IsPermanent reports whether err, or a database error within it, cannot
// be fixed by retrying: a login without the rights it needs. (A missing
// table or column is permanent at the source, which wraps it, but not at
// the target, which creates it again.)
func IsPermanent(err error) bool {
	var pe *PermanentError
	if errors.As(err, &pe) {
		return true
	}
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		switch me.Number {
		case 1044, 1045, 1142, 1143, 1227: // access denied
			return true
		}
	}
	var se mssql.Error
	if errors.As(err, &se) {
		switch se.Number {
		case 229, 230, 262, 300, 916, 4060, 18456: // permission denied, cannot open the database, login failed
			return true
		}
	}
	return false
}

// IsMissingObject reports a table or column that does not exist.
func IsMissingObject(err error) bool {
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		return me.Number == 1146 || me.Number == 1054
	}
	var se mssql.Error
	if errors.As(err, &se) {
		return se.Number == 208 || se.Number == 207
	}
	return false
}
