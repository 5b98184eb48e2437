package localsync

import (
	"testing"

	syncv1alpha1 "github.com/sisporta/sisporta/api/v1alpha1"
	"github.com/sisporta/sisporta/runner/runstate"
)

// A run a newer one overtook for some entity did not succeed, and the
// rows its batches wrote are counted (found by an adversarial run: the
// JSON said Succeeded with 0 rows written while sync exited 1).
func TestOvertakenRunSummary(t *testing.T) {
	p := &syncv1alpha1.SyncPipeline{}
	p.Name, p.Namespace = "p", "default"
	r := &runstate.Run{Meta: runstate.Meta{ID: 7, Entities: []string{"a", "b"}}, Entities: []runstate.EntityRun{
		{Name: "a", Final: &runstate.Final{Result: syncv1alpha1.RunSucceeded, RowsRead: 10, RowsWritten: 10}},
		{Name: "b", Final: &runstate.Final{Result: syncv1alpha1.RunSuperseded, RowsRead: 600, RowsWritten: 600}},
	}}
	s := summarize(p, r)
	if s.Result != syncv1alpha1.RunSuperseded || s.RowsWritten != 610 {
		t.Errorf("summary %s, %d rows written; want Superseded and 610", s.Result, s.RowsWritten)
	}
	r.Entities[1].Final.Result = syncv1alpha1.RunSucceeded
	if s := summarize(p, r); s.Result != syncv1alpha1.RunSucceeded {
		t.Errorf("all succeeded: %s", s.Result)
	}
}
