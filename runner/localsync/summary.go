package localsync

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	syncv1alpha1 "github.com/sisporta/sisporta/api/v1alpha1"
	"github.com/sisporta/sisporta/runner/queue"
	"github.com/sisporta/sisporta/runner/runstate"
)

// Summary is a run's outcome, as `sisporta sync -o json` prints it.
type Summary struct {
	Pipeline        string                 `json:"pipeline"`
	Run             int64                  `json:"run"`
	Result          syncv1alpha1.RunResult `json:"result"`
	SnapshotTime    time.Time              `json:"sourceSnapshotTime"`
	StartTime       time.Time              `json:"startTime"`
	CompletionTime  time.Time              `json:"completionTime"`
	DurationSeconds float64                `json:"durationSeconds"`
	RowsRead        int64                  `json:"rowsRead"`
	RowsWritten     int64                  `json:"rowsWritten"`
	RowsUnchanged   int64                  `json:"rowsUnchanged"`
	RowsDeleted     int64                  `json:"rowsDeleted"`
	RowsRepaired    int64                  `json:"rowsRepaired"`
	// RowsSkipped (among RowsUnchanged) were not read: their key ranges,
	// RangesSkipped of them, had the source digest of the last complete run.
	RowsSkipped   int64           `json:"rowsSkipped,omitempty"`
	RangesSkipped int             `json:"rangesSkipped,omitempty"`
	Verified      bool            `json:"verified"`
	Warnings      []string        `json:"warnings,omitempty"`
	Entities      []EntitySummary `json:"entities"`
}

// EntitySummary is one entity of a Summary.
type EntitySummary struct {
	Name          string                 `json:"name"`
	Result        syncv1alpha1.RunResult `json:"result"`
	RowsRead      int64                  `json:"rowsRead"`
	RowsWritten   int64                  `json:"rowsWritten"`
	RowsUnchanged int64                  `json:"rowsUnchanged"`
	RowsDeleted   int64                  `json:"rowsDeleted"`
	RowsRepaired  int64                  `json:"rowsRepaired"`
	RowsSkipped   int64                  `json:"rowsSkipped,omitempty"`
	RangesSkipped int                    `json:"rangesSkipped,omitempty"`
	Cleanup       *runstate.Cleanup      `json:"cleanup,omitempty"`
	Error         string                 `json:"error,omitempty"`
	Warnings      []string               `json:"warnings,omitempty"`
}

func summarize(p *syncv1alpha1.SyncPipeline, r *runstate.Run) *Summary {
	s := &Summary{Pipeline: queue.PipelineID(p.Namespace, p.Name), Run: r.Meta.ID, Result: r.Result(),
		SnapshotTime: r.Meta.SnapshotTime, StartTime: r.Meta.StartTime}
	s.CompletionTime, _ = r.CompletionTime()
	s.DurationSeconds = s.CompletionTime.Sub(s.StartTime).Seconds()
	s.RowsRead, s.RowsWritten, s.RowsUnchanged, s.RowsDeleted = r.Totals()
	s.RowsRepaired, s.Verified, s.Warnings = r.Repaired(), r.Meta.Verify, r.Meta.Warnings
	for _, e := range r.Entities {
		// The counts of an entity without a final account are its
		// progress, as in the run's totals (Run.Totals).
		es := EntitySummary{Name: e.Name, Result: e.Result(), RowsWritten: e.RowsWritten, RowsUnchanged: e.RowsUnchanged}
		if e.Extract != nil {
			es.RowsRead = e.Extract.RowsRead
			es.Error = e.Extract.Error
		}
		if f := e.Final; f != nil {
			es.RowsRead, es.RowsWritten, es.RowsUnchanged, es.RowsDeleted = f.RowsRead, f.RowsWritten, f.RowsUnchanged, f.RowsDeleted
			es.RowsRepaired = f.RowsRepaired
			es.RowsSkipped, es.RangesSkipped, es.Warnings = f.RowsSkipped, f.RangesSkipped, f.Warnings
			s.RowsSkipped += f.RowsSkipped
			s.RangesSkipped += f.RangesSkipped
			es.Cleanup = f.Cleanup
			if f.Error != "" {
				es.Error = f.Error
			}
		}
		s.Entities = append(s.Entities, es)
	}
	// Overtaken entities were not brought up to this run's snapshot (the
	// newer run does that): the run did not succeed, whatever it wrote.
	if s.Result == syncv1alpha1.RunSucceeded && len(s.Superseded()) > 0 {
		s.Result = syncv1alpha1.RunSuperseded
	}
	return s
}

// GuardTripped names the entities whose cleanup a guard refused.
func (s *Summary) GuardTripped() []string {
	var out []string
	for _, e := range s.Entities {
		if e.Cleanup != nil && e.Cleanup.Result == syncv1alpha1.CleanupGuardTripped {
			out = append(out, e.Name)
		}
	}
	return out
}

// Superseded names the entities another run overtook: nothing of this
// run's was applied to them.
func (s *Summary) Superseded() []string {
	var out []string
	for _, e := range s.Entities {
		if e.Result == syncv1alpha1.RunSuperseded {
			out = append(out, e.Name)
		}
	}
	return out
}

// Failed names the entities that failed.
func (s *Summary) Failed() []string {
	var out []string
	for _, e := range s.Entities {
		if e.Result == syncv1alpha1.RunFailed {
			out = append(out, e.Name)
		}
	}
	return out
}

// WriteText prints the summary as a table with the cleanup messages below.
func (s *Summary) WriteText(w io.Writer) error {
	verified := ""
	if s.Verified {
		verified = ", verifying every row"
	}
	fmt.Fprintf(w, "run %d of %s: %s in %.1fs (source snapshot %s%s)\n\n", s.Run, s.Pipeline, s.Result,
		s.DurationSeconds, s.SnapshotTime.Format(time.RFC3339), verified)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "ENTITY\tRESULT\tREAD\tWRITTEN\tUNCHANGED\tDELETED\tCLEANUP\t")
	for _, e := range s.Entities {
		cl := "-"
		if e.Cleanup != nil {
			cl = string(e.Cleanup.Result)
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%d\t%s\t\n", e.Name, e.Result, e.RowsRead, e.RowsWritten, e.RowsUnchanged, e.RowsDeleted, cl)
	}
	fmt.Fprintf(tw, "total\t%s\t%d\t%d\t%d\t%d\t\t\n", s.Result, s.RowsRead, s.RowsWritten, s.RowsUnchanged, s.RowsDeleted)
	if err := tw.Flush(); err != nil {
		return err
	}
	var notes []string
	for _, e := range s.Entities {
		if e.Error != "" {
			notes = append(notes, fmt.Sprintf("%s: %s", e.Name, e.Error))
		}
		if e.Cleanup != nil && e.Cleanup.Message != "" && e.Cleanup.Result != syncv1alpha1.CleanupSucceeded {
			notes = append(notes, fmt.Sprintf("%s: %s", e.Name, e.Cleanup.Message))
		}
		for _, w := range e.Warnings {
			notes = append(notes, fmt.Sprintf("%s: warning: %s", e.Name, w))
		}
	}
	if s.RangesSkipped > 0 {
		notes = append(notes, fmt.Sprintf("%d key ranges (%d rows) were not read: their source digest had not changed since the last complete run (their rows are among the unchanged)", s.RangesSkipped, s.RowsSkipped))
	}
	for _, w := range s.Warnings {
		notes = append(notes, "warning: "+w)
	}
	if s.RowsRepaired > 0 {
		notes = append(notes, fmt.Sprintf("verification repaired %d rows whose target values had been changed behind Sisporta's back (they are among the written rows)", s.RowsRepaired))
	}
	if len(notes) > 0 {
		fmt.Fprintln(w, "\n"+strings.Join(notes, "\n"))
	}
	return nil
}
