package cmd

import (
	"errors"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/hibiken/asynq"
	"github.com/spf13/cobra"

	"github.com/sisporta/sisporta/runner/queue"
)

// newDLQCommand manages the dead-letter queue: asynq's archive of tasks
// that failed their last retry.
func newDLQCommand() *cobra.Command {
	var (
		config    string
		queueName string
		conn      connFlags
	)
	c := &cobra.Command{
		Use:   "dlq",
		Short: "List, retry and purge a pipeline's dead-letter tasks",
		Long: `Batches that failed every retry are archived by asynq: Sisporta's dead-letter
queue. Nothing in them is lost; retry them once the cause is fixed.`,
	}
	pf := c.PersistentFlags()
	pf.StringVar(&config, "config", "", "SyncPipeline manifest naming the pipeline (env SISPORTA_CONFIG)")
	pf.StringVar(&queueName, "queue", "", "the queue, sisporta.<namespace>.<name> (instead of --config)")
	conn.bind(pf, false, false, true)

	inspector := func(cmd *cobra.Command) (*asynq.Inspector, string, func(), error) {
		conn.resolve()
		if queueName == "" {
			p, err := loadPipeline(config)
			if err != nil {
				return nil, "", nil, err
			}
			queueName = queue.Name(p.Namespace, p.Name)
		}
		rdb, _, err := queue.Connect(cmd.Context(), conn.redisURL)
		if err != nil {
			return nil, "", nil, err
		}
		return asynq.NewInspectorFromRedisClient(rdb), queueName, func() { _ = rdb.Close() }, nil
	}

	list := &cobra.Command{
		Use:   "list",
		Short: "List dead-letter tasks with their last error",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			insp, q, done, err := inspector(cmd)
			if err != nil {
				return err
			}
			defer done()
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tTYPE\tFAILED\tRETRIED\tLAST ERROR")
			n := 0
			for page := 1; ; page++ {
				tasks, err := insp.ListArchivedTasks(q, asynq.Page(page), asynq.PageSize(100))
				if errors.Is(err, asynq.ErrQueueNotFound) {
					break
				}
				if err != nil {
					return err
				}
				for _, t := range tasks {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\n", t.ID, t.Type, t.LastFailedAt.Format(time.RFC3339), t.Retried, t.LastErr)
					n++
				}
				if len(tasks) < 100 {
					break
				}
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%d dead-letter tasks in %s\n", n, q)
			return nil
		},
	}
	retry := bulkCommand(inspector, "retry", "Put dead-letter tasks back in the queue (all, or --id)", "queued again",
		(*asynq.Inspector).RunTask, (*asynq.Inspector).RunAllArchivedTasks)
	purge := bulkCommand(inspector, "purge", "Delete dead-letter tasks for good (all, or --id)", "deleted",
		(*asynq.Inspector).DeleteTask, (*asynq.Inspector).DeleteAllArchivedTasks)
	c.AddCommand(list, retry, purge)
	return c
}

// bulkCommand acts on one dead-letter task (--id) or on all of them.
func bulkCommand(inspector func(*cobra.Command) (*asynq.Inspector, string, func(), error), use, short, done string,
	one func(*asynq.Inspector, string, string) error, all func(*asynq.Inspector, string) (int, error)) *cobra.Command {
	var id string
	c := &cobra.Command{
		Use:   use,
		Short: short,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			insp, q, closeFn, err := inspector(cmd)
			if err != nil {
				return err
			}
			defer closeFn()
			if id != "" {
				if err := one(insp, q, id); err != nil {
					return fmt.Errorf("%s %s: %w", use, id, err)
				}
				fmt.Fprintf(cmd.OutOrStdout(), "task %s %s\n", id, done)
				return nil
			}
			n, err := all(insp, q)
			if err != nil && !errors.Is(err, asynq.ErrQueueNotFound) {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%d tasks %s\n", n, done)
			return nil
		},
	}
	c.Flags().StringVar(&id, "id", "", "only this task")
	return c
}
