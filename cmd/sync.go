package cmd

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/sisporta/sisporta/runner/localsync"
)

// Exit codes of `sisporta sync`.
const (
	exitEntityFailed = 1
	exitGuardTripped = 3
)

func newSyncCommand() *cobra.Command {
	var (
		file    string
		conn    connFlags
		output  string
		timeout time.Duration
		logs    *logFlags
		verify  bool
	)
	c := &cobra.Command{
		Use:   "sync -f pipeline.yaml",
		Short: "Run one complete sync locally: extract, queue, apply, clean up",
		Long: `Run one complete run of a pipeline in this process: read the source, queue the
batches, apply them to the target and run the guarded cleanup. The file is a
SyncPipeline manifest, the same YAML applied to a cluster; connections come
from flags or the environment (SISPORTA_SOURCE_DSN, SISPORTA_TARGET_DSN,
SISPORTA_REDIS_URL). Without a Redis URL an embedded Redis is used.

Exit codes: 0 success; 1 an entity failed (or the run could not start);
3 every entity was applied but a cleanup guard refused to delete.`,
		Example: `  SISPORTA_SOURCE_DSN='sqlserver://ro:pw@erp:1433?database=ERP' \
  SISPORTA_TARGET_DSN='sync:pw@tcp(mysql:3306)/mirror' \
  sisporta sync -f pipeline.yaml -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			conn.resolve()
			tuneGC()
			if output != "text" && output != "json" {
				return fmt.Errorf("-o %q: use text or json", output)
			}
			p, err := loadPipeline(file)
			if err != nil {
				return err
			}
			var progress io.Writer
			if term.IsTerminal(int(os.Stderr.Fd())) && output == "text" {
				progress = os.Stderr
			}
			sum, err := localsync.Run(cmd.Context(), localsync.Options{Pipeline: p, SourceDSN: conn.sourceDSN,
				TargetDSN: conn.targetDSN, RedisURL: conn.redisURL, Progress: progress, Log: logs.logger(quietLogs), Timeout: timeout, Verify: verify})
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if output == "json" {
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				if err := enc.Encode(sum); err != nil {
					return err
				}
			} else if err := sum.WriteText(out); err != nil {
				return err
			}
			if failed := sum.Failed(); len(failed) > 0 {
				return &exitError{code: exitEntityFailed, err: fmt.Errorf("entities failed: %s", strings.Join(failed, ", "))}
			}
			if sup := sum.Superseded(); len(sup) > 0 {
				return &exitError{code: exitEntityFailed, err: fmt.Errorf("another run of this pipeline overtook this one for: %s (the rows this run had written stay, and the newer run brings those entities up to its own snapshot: run sync again once it has finished)", strings.Join(sup, ", "))}
			}
			if g := sum.GuardTripped(); len(g) > 0 {
				return &exitError{code: exitGuardTripped, err: fmt.Errorf("cleanup guard refused to delete in: %s (nothing was deleted there)", strings.Join(g, ", "))}
			}
			return nil
		},
	}
	f := c.Flags()
	f.StringVarP(&file, "file", "f", "", "SyncPipeline manifest (env SISPORTA_CONFIG)")
	conn.bind(f, true, true, true)
	f.StringVarP(&output, "output", "o", "text", "summary format: text or json")
	f.DurationVar(&timeout, "timeout", 0, "give up after this long (0: no limit)")
	logs = bindLogFlags(f)
	f.BoolVar(&verify, "verify", false, "check every target row's values against the source instead of trusting stored row hashes, and repair what differs (reads every row of both sides)")
	return c
}
