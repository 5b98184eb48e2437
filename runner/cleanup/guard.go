// Package cleanup removes target rows that left the source, after a
// complete run only, behind guards that never let a bad run empty a table.
// It reads the run's delete candidates that the writer recorded
// (pending.go), drops those the source still has, judges the guards
// (guard.go), and deletes in chunks (cleanup.go) whose progress the run
// record keeps, so an interrupted finalize step resumes (resume.go). The
// statements against target tables are the writer's.
package cleanup

import (
	"fmt"

	syncv1alpha1 "github.com/sisporta/sisporta/api/v1alpha1"
)

// Decision is what a cleanup may do.
type Decision struct {
	// Result is the cleanup result to report.
	Result syncv1alpha1.CleanupResult
	// Delete is true when rows may be removed.
	Delete  bool
	Message string
}

// Decide applies the cleanup policy and its guards to a complete run:
// rowsRead is what the run read from the source, targetRows the live rows
// of the target table, deletes the verified rows the source no longer has.
func Decide(spec syncv1alpha1.CleanupSpec, rowsRead, targetRows, deletes int64) Decision {
	if spec.Mode == syncv1alpha1.CleanupOff {
		return Decision{Result: syncv1alpha1.CleanupSkipped, Message: fmt.Sprintf("cleanup mode is Off: %d rows no longer in the source were kept", deletes)}
	}
	if deletes == 0 {
		return Decision{Result: syncv1alpha1.CleanupSucceeded, Message: "no rows left the source"}
	}
	if rowsRead == 0 && targetRows > 0 {
		return Decision{Result: syncv1alpha1.CleanupGuardTripped, Message: fmt.Sprintf(
			"guard: the source returned no rows while the target table has %d; refusing to empty it, whatever maxDeletePercent says (check the source table, the where filter and the source login's permissions; if the source table really is empty now, empty the target table yourself: TRUNCATE TABLE …)", targetRows)}
	}
	maxPct := spec.MaxDeletePercentOrDefault()
	if targetRows > 0 && deletes*100 > int64(maxPct)*targetRows {
		return Decision{Result: syncv1alpha1.CleanupGuardTripped, Message: fmt.Sprintf(
			"guard: cleanup would delete %d of %d rows (%.1f%%), more than maxDeletePercent %d%%; nothing was deleted (if the source really lost these rows, raise cleanup.maxDeletePercent for one run)",
			deletes, targetRows, float64(deletes)*100/float64(targetRows), maxPct)}
	}
	if spec.DryRun {
		return Decision{Result: syncv1alpha1.CleanupDryRun, Message: fmt.Sprintf("dry run: %d rows would be %s", deletes, verb(spec.Mode))}
	}
	return Decision{Result: syncv1alpha1.CleanupSucceeded, Delete: true}
}

func verb(m syncv1alpha1.CleanupMode) string {
	if m == syncv1alpha1.CleanupSoftDelete {
		return "marked deleted"
	}
	return "deleted"
}

// DeletedMessage says what a cleanup that passed its guards did.
func DeletedMessage(mode syncv1alpha1.CleanupMode, n int64) string {
	rows := "rows"
	if n == 1 {
		rows = "row"
	}
	if mode == syncv1alpha1.CleanupSoftDelete {
		return fmt.Sprintf("marked %d %s deleted (no longer in the source)", n, rows)
	}
	return fmt.Sprintf("deleted %d %s no longer in the source", n, rows)
}
