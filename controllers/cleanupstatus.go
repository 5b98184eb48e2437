package controllers

import (
	"strconv"
	"time"

	syncv1alpha1 "github.com/sisporta/sisporta/api/v1alpha1"
	"github.com/sisporta/sisporta/runner/runstate"
)

// cleanupSeverity orders cleanup results so the pipeline's lastCleanup
// shows the one needing attention: a tripped guard is never hidden behind
// another entity's success.
var cleanupSeverity = map[syncv1alpha1.CleanupResult]int{
	syncv1alpha1.CleanupSkipped:      1,
	syncv1alpha1.CleanupSucceeded:    2,
	syncv1alpha1.CleanupDryRun:       3,
	syncv1alpha1.CleanupFailed:       4,
	syncv1alpha1.CleanupGuardTripped: 5,
}

// summarizeCleanups reports the worst cleanup result of a run, with the
// rows (deleted, or that would have been) of the entities that had it.
func summarizeCleanups(run *runstate.Run) *syncv1alpha1.CleanupStatus {
	var out *syncv1alpha1.CleanupStatus
	var latest time.Time
	for _, e := range run.Entities {
		c := entityCleanup(e)
		if c == nil {
			continue
		}
		if c.Time.After(latest) {
			latest = c.Time
		}
		cs := cleanupStatus(c)
		msg := ""
		if cs.Message != "" {
			msg = e.Name + ": " + cs.Message
		}
		switch {
		case out == nil || cleanupSeverity[cs.Result] > cleanupSeverity[out.Result]:
			out = &syncv1alpha1.CleanupStatus{Result: cs.Result, Deleted: cs.Deleted, Message: msg}
		case cs.Result == out.Result:
			out.Deleted += cs.Deleted
			if msg != "" {
				out.Message = joinMessages(out.Message, msg)
			}
		}
	}
	if out != nil {
		out.Time = statusTime(latest)
		out.Message = safeMessage(out.Message)
	}
	return out
}

func entityCleanup(e runstate.EntityRun) *runstate.Cleanup {
	if e.Final == nil {
		return nil
	}
	return e.Final.Cleanup
}

func cleanupStatus(c *runstate.Cleanup) *syncv1alpha1.CleanupStatus {
	cs := &syncv1alpha1.CleanupStatus{Time: statusTime(c.Time), Result: c.Result, Deleted: c.Deleted, Message: safeMessage(c.Message)}
	if _, known := cleanupSeverity[c.Result]; !known {
		// The CRD accepts only the known results: an unknown one would make
		// every status write fail.
		cs.Result = syncv1alpha1.CleanupFailed
		cs.Message = safeMessage("unknown cleanup result " + strconv.Quote(string(c.Result)) + ": " + c.Message)
	}
	return cs
}
