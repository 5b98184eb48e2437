package controllers

import (
	"context"
	"strconv"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	syncv1alpha1 "github.com/sisporta/sisporta/api/v1alpha1"
	"github.com/sisporta/sisporta/runner/redact"
	"github.com/sisporta/sisporta/runner/runstate"
)

// recentRuns is how many runs the status is computed from; older history
// is read only when none of them succeeded.
const recentRuns = 5

// maxMessage bounds messages copied from the run summary into the status.
const maxMessage = 1024

// runView is the run summary the workers keep in Redis, newest first.
type runView struct {
	recent        []*runstate.Run
	last          *runstate.Run
	lastComplete  *runstate.Run
	lastSucceeded *runstate.Run
}

func observeRuns(ctx context.Context, conn *redisConn, queueName string) (*runView, error) {
	runs, err := conn.runs.Recent(ctx, queueName, recentRuns)
	if err != nil {
		return nil, err
	}
	v := &runView{recent: runs}
	for _, run := range runs {
		res := run.Result()
		if v.last == nil {
			v.last = run
		}
		if v.lastComplete == nil && res != syncv1alpha1.RunRunning {
			v.lastComplete = run
		}
		if v.lastSucceeded == nil && res == syncv1alpha1.RunSucceeded {
			v.lastSucceeded = run
		}
	}
	if v.lastSucceeded == nil && len(runs) == recentRuns {
		if _, v.lastSucceeded, err = conn.runs.Latest(ctx, queueName); err != nil {
			return nil, err
		}
	}
	return v, nil
}

// applyRuns fills the run parts of the status from the summary; what the
// summary no longer holds (it expires, Redis may be flushed) keeps its
// last known value.
func applyRuns(s *syncv1alpha1.SyncPipelineStatus, spec []syncv1alpha1.EntitySpec, v *runView) {
	if v.last != nil {
		s.LastRun = runStatus(v.last)
	}
	if v.lastSucceeded != nil {
		s.LastSuccessfulRun = runStatus(v.lastSucceeded)
	}
	if v.lastComplete != nil {
		s.Lag = runLag(v.lastComplete)
		s.LastCleanup = summarizeCleanups(v.lastComplete)
	}
	s.Entities = entityStatuses(spec, v, s.Entities)
}

func runStatus(run *runstate.Run) *syncv1alpha1.RunStatus {
	if run == nil {
		return nil
	}
	read, written, unchanged, deleted := run.Totals()
	rs := &syncv1alpha1.RunStatus{
		ID:                 strconv.FormatInt(run.Meta.ID, 10),
		SourceSnapshotTime: statusTime(run.Meta.SnapshotTime),
		StartTime:          statusTime(run.Meta.StartTime),
		Result:             syncv1alpha1.RunResult(run.Result()),
		RowsRead:           read,
		RowsWritten:        written,
		RowsUnchanged:      unchanged,
		RowsDeleted:        deleted,
		RowsRepaired:       run.Repaired(),
		Verified:           run.Meta.Verify,
		FailedEntities:     run.FailedEntities(),
		Message:            safeMessage(run.Message()),
	}
	for _, w := range run.Meta.Warnings {
		rs.Warnings = append(rs.Warnings, safeMessage(w))
	}
	if t, ok := run.CompletionTime(); ok {
		rs.CompletionTime = statusTime(t)
	}
	return rs
}

// runLag is how far the target trailed the source: from the snapshot the
// run read to the moment its last entity was applied.
func runLag(run *runstate.Run) *metav1.Duration {
	done, ok := run.CompletionTime()
	if !ok || run.Meta.SnapshotTime.IsZero() || done.Before(run.Meta.SnapshotTime) {
		return nil
	}
	return &metav1.Duration{Duration: done.Sub(run.Meta.SnapshotTime).Truncate(time.Second)}
}

// entityStatuses reports each entity of the spec from the newest run that
// has it; what no recent run tells (an old last sync) keeps its value.
func entityStatuses(spec []syncv1alpha1.EntitySpec, v *runView, previous []syncv1alpha1.EntityStatus) []syncv1alpha1.EntityStatus {
	prev := map[string]syncv1alpha1.EntityStatus{}
	for _, e := range previous {
		prev[e.Name] = e
	}
	out := make([]syncv1alpha1.EntityStatus, 0, len(spec))
	for _, es := range spec {
		st := syncv1alpha1.EntityStatus{Name: es.Name, LastSyncedTime: prev[es.Name].LastSyncedTime, LastCleanup: prev[es.Name].LastCleanup}
		seen, synced, cleaned := false, false, false
		for _, run := range v.recent {
			e, ok := findEntity(run, es.Name)
			if !ok {
				continue
			}
			if !seen {
				seen = true
				st.Rows, st.Result, st.Message = entityRows(e), syncv1alpha1.RunResult(e.Result()), safeMessage(entityError(e))
			}
			if !synced && e.Result() == syncv1alpha1.RunSucceeded {
				synced = true
				st.LastSyncedTime = statusTime(run.Meta.SnapshotTime)
			}
			if c := entityCleanup(e); !cleaned && c != nil {
				cleaned = true
				st.LastCleanup = cleanupStatus(c)
			}
		}
		if !seen {
			p := prev[es.Name]
			st.Rows, st.Result, st.Message = p.Rows, p.Result, p.Message
		}
		out = append(out, st)
	}
	return out
}

func findEntity(run *runstate.Run, name string) (runstate.EntityRun, bool) {
	for _, e := range run.Entities {
		if e.Name == name {
			return e, true
		}
	}
	return runstate.EntityRun{}, false
}

func entityRows(e runstate.EntityRun) int64 {
	if e.Final != nil {
		return e.Final.RowsRead
	}
	if e.Extract != nil {
		return e.Extract.RowsRead
	}
	return 0
}

func entityError(e runstate.EntityRun) string {
	if e.Final != nil {
		return e.Final.Error
	}
	if e.Extract != nil {
		return e.Extract.Error
	}
	return ""
}

// statusTime keeps the second precision the API stores, so an unchanged
// status compares equal to the stored one.
func statusTime(t time.Time) *metav1.Time {
	if t.IsZero() {
		return nil
	}
	mt := metav1.NewTime(t.UTC().Truncate(time.Second))
	return &mt
}

// safeMessage strips anything shaped like a password (the data plane
// redacts its errors already; this is a second guard) and bounds the size.
func safeMessage(s string) string {
	if s == "" {
		return ""
	}
	return clip(redact.String(s), maxMessage)
}

func joinMessages(a, b string) string {
	if a == "" {
		return b
	}
	return a + "; " + b
}
