package cleanup

import (
	"context"

	syncv1alpha1 "github.com/sisporta/sisporta/api/v1alpha1"
	"github.com/sisporta/sisporta/runner/runstate"
	"github.com/sisporta/sisporta/runner/writer"
)

// Deleting is the cleanup result a run record holds while a cleanup that
// passed its guards deletes: a state, not a result. A finalize step that
// finds it was interrupted there, and resumes deleting instead of judging
// the guards again on what is left (a half-done cleanup would otherwise
// look like a small one, or trip a guard the first attempt passed).
const Deleting = "Deleting"

// Resumes reports whether rec, an entity's run record as stored, was left
// by a cleanup interrupted while deleting.
func Resumes(rec writer.RunRecord) bool { return rec.CleanupResult == Deleting }

// RunRecorded is Run with its progress kept in the run's record in the
// target, so that a finalize step interrupted anywhere ends the same:
// base, the record of the running run, is saved first (unless j.Resume:
// it is saved already); once the guards allow deleting the record says
// Deleting; each chunk adds its count to the record in its own
// transaction (writer.Target.DeleteKeys), so a cleanup that deleted
// anything reports the record's count, whichever attempts deleted them.
func RunRecorded(ctx context.Context, tg *writer.Target, v Verifier, j Job, base writer.RunRecord) (runstate.Cleanup, error) {
	if !j.Resume {
		if err := tg.SaveRun(ctx, base); err != nil {
			return runstate.Cleanup{}, err
		}
	}
	cl, err := Run(ctx, tg, v, j, func() error {
		r := base
		r.CleanupResult = Deleting
		return tg.SaveRun(ctx, r)
	})
	if err != nil {
		return cl, err
	}
	if cl.Result == syncv1alpha1.CleanupSucceeded && (j.Resume || cl.Deleted > 0) {
		if r, ok, err := tg.LoadRun(ctx, base.Pipeline, base.Run, base.Entity); err == nil && ok {
			cl.Deleted = r.RowsDeleted
			cl.Message = DeletedMessage(j.Spec.Mode, cl.Deleted)
		}
	}
	return cl, nil
}
