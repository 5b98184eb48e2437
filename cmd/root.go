// Package cmd holds the subcommands of the sisporta binary.
package cmd

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
	"go.uber.org/zap/zapcore"
	"golang.org/x/term"
)

// Execute runs the command line and returns the process exit code.
func Execute() int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	root := newRootCommand()
	if stop := startProfile(); stop != nil {
		defer stop()
	}
	if err := root.ExecuteContext(ctx); err != nil {
		if c, _, ferr := root.Find(os.Args[1:]); ferr == nil && structuredLogs[c.Name()] && !term.IsTerminal(int(os.Stderr.Fd())) {
			// Processes of the cluster log JSON only: their last word too.
			(&logFlags{}).logger(logDefaults{level: zapcore.ErrorLevel, stacktrace: zapcore.PanicLevel}).Error(err, "exiting")
		} else {
			fmt.Fprintln(os.Stderr, "sisporta:", err)
		}
		var coded interface{ ExitCode() int }
		if asExitCoder(err, &coded) {
			return coded.ExitCode()
		}
		return 1
	}
	return 0
}

// structuredLogs are the commands that run in the cluster, whose output
// log collectors parse.
var structuredLogs = map[string]bool{"manager": true, "extract": true, "work": true}

func newRootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:   "sisporta",
		Short: "Keep MySQL a faithful mirror of a read-only SQL Server or MySQL database",
		Long: `Sisporta mirrors tables of a legacy database it may only read (SQL Server
first) into MySQL. One binary serves every role:

  manager   the Kubernetes operator reconciling SyncPipelines
  extract   one extraction run (what the CronJob runs)
  work      the queue worker (what the worker Deployment runs)
  sync      one complete run in one process, for laptops and CI
  dlq       list, retry and purge dead-letter tasks`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(newVersionCommand())
	root.AddCommand(newManagerCommand())
	root.AddCommand(newExtractCommand())
	root.AddCommand(newWorkCommand())
	root.AddCommand(newSyncCommand())
	root.AddCommand(newDLQCommand())
	root.AddCommand(newStopCommand())
	return root
}
