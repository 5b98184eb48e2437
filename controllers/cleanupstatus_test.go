package controllers

import (
	"testing"
	"time"

	syncv1alpha1 "github.com/sisporta/sisporta/api/v1alpha1"
	"github.com/sisporta/sisporta/runner/runstate"
)

// The pipeline's lastCleanup says what was done across entities: every
// entity's cleanup has a message, and those of the shown result are all
// there, the ones that deleted included.
func TestCleanupSummarySaysWhatEveryEntityDid(t *testing.T) {
	now := time.Now()
	final := func(result syncv1alpha1.CleanupResult, msg string, deleted int64) *runstate.Final {
		return &runstate.Final{Result: syncv1alpha1.RunSucceeded, Cleanup: &runstate.Cleanup{Time: now, Result: result, Message: msg, Deleted: deleted}}
	}
	run := &runstate.Run{Entities: []runstate.EntityRun{
		{Name: "products", Final: final(syncv1alpha1.CleanupSucceeded, "deleted 2 rows no longer in the source", 2)},
		{Name: "price-lists", Final: final(syncv1alpha1.CleanupSucceeded, "no rows left the source", 0)},
		{Name: "dealers", Final: final(syncv1alpha1.CleanupSucceeded, "marked 1 row deleted (no longer in the source)", 1)},
	}}
	got := summarizeCleanups(run)
	want := "products: deleted 2 rows no longer in the source; price-lists: no rows left the source; dealers: marked 1 row deleted (no longer in the source)"
	if got == nil || got.Result != syncv1alpha1.CleanupSucceeded || got.Deleted != 3 || got.Message != want {
		t.Fatalf("summary %+v, want 3 deleted and %q", got, want)
	}
	// A tripped guard is what shows, with its entity's message.
	run.Entities[1].Final = final(syncv1alpha1.CleanupGuardTripped, "guard: cleanup would delete 9 of 10 rows", 9)
	if got := summarizeCleanups(run); got.Result != syncv1alpha1.CleanupGuardTripped || got.Message != "price-lists: guard: cleanup would delete 9 of 10 rows" {
		t.Fatalf("summary %+v", got)
	}
}
