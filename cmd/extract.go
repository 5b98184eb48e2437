package cmd

import (
	"errors"
	"fmt"
	"strings"

	"github.com/hibiken/asynq"
	"github.com/spf13/cobra"

	"github.com/sisporta/sisporta/runner/extract"
	"github.com/sisporta/sisporta/runner/queue"
	"github.com/sisporta/sisporta/runner/runstate"
	"github.com/sisporta/sisporta/runner/source"
	"github.com/sisporta/sisporta/runner/writer"

	syncv1alpha1 "github.com/sisporta/sisporta/api/v1alpha1"
)

func newExtractCommand() *cobra.Command {
	var (
		config     string
		conn       connFlags
		trigger    string
		maxPending int
		logs       *logFlags
	)
	c := &cobra.Command{
		Use:   "extract",
		Short: "Run one extraction: read the source and queue its batches (what the CronJob runs)",
		Long: `Run one extraction of a pipeline: read every entity from the source, read-only
and in key order, and queue its batches and finalize steps on the pipeline's
Redis queue for the workers. Incremental entities start from the cursor the
target database keeps, so they need the target DSN too (only read). Exits 1
when an entity could not be read (the others are still queued).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			conn.resolve()
			log := logs.logger(runnerLogs)
			tuneGC()
			p, err := loadPipeline(config)
			if err != nil {
				return err
			}
			if trigger == "" {
				trigger = envOr("SISPORTA_TRIGGER", syncv1alpha1.TriggerSchedule)
			}
			ctx := cmd.Context()
			rdb, _, err := queue.Connect(ctx, conn.redisURL)
			if err != nil {
				return err
			}
			defer rdb.Close()
			src, err := source.Open(ctx, p.Spec.Source, conn.sourceDSN)
			if err != nil {
				return err
			}
			defer src.Close()
			x := &extract.Extractor{Pipeline: p, Source: src, Client: asynq.NewClientFromRedisClient(rdb), Redis: rdb,
				Runs: runstate.NewStore(rdb), MaxPending: maxPending, Trigger: trigger, Log: log}
			// Incremental entities' cursors are the target's: without the
			// target the extraction cannot know where they start. Other
			// pipelines read it, when they have it, to send changed key
			// ranges sparse (only the rows that differ).
			switch {
			case incremental(p):
				if x.Target, err = writer.New(conn.targetDSN, 4); err != nil {
					return fmt.Errorf("the pipeline's incremental entities start from the cursors the target database keeps: %w", err)
				}
				defer x.Target.Close()
			case conn.targetDSN != "":
				if x.Target, err = writer.New(conn.targetDSN, 4); err != nil {
					return err
				}
				defer x.Target.Close()
			}
			res, err := x.Run(ctx)
			if errors.Is(err, runstate.ErrLocked) {
				// Runs of a pipeline never overlap; this one has nothing to do.
				log.Info("not starting: " + err.Error())
				return nil
			}
			if err != nil {
				return err
			}
			if failed := res.Failed(); len(failed) > 0 {
				return &exitError{code: 1, err: fmt.Errorf("run %d: entities failed to extract: %s", res.RunID, strings.Join(failed, ", "))}
			}
			log.Info("run queued", "run", res.RunID, "entities", len(res.Entities))
			return nil
		},
	}
	f := c.Flags()
	f.StringVar(&config, "config", "", "SyncPipeline manifest (env SISPORTA_CONFIG)")
	conn.bind(f, true, true, true)
	f.StringVar(&trigger, "trigger", "", "what started the run, recorded in the summary (env SISPORTA_TRIGGER; default schedule)")
	f.IntVar(&maxPending, "max-pending", extract.DefaultMaxPending, "pause reading while this many batches are pending in the queue")
	logs = bindLogFlags(f)
	return c
}

// incremental says whether an entity of the pipeline has a cursor.
func incremental(p *syncv1alpha1.SyncPipeline) bool {
	for _, e := range p.Spec.Entities {
		if e.Source.Cursor != nil {
			return true
		}
	}
	return false
}
