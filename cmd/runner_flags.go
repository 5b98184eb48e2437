package cmd

import (
	"fmt"
	"os"
	"runtime/debug"

	"github.com/spf13/pflag"

	syncv1alpha1 "github.com/sisporta/sisporta/api/v1alpha1"
	"github.com/sisporta/sisporta/runner/pipeline"
)

// connFlags are the connection settings of the data-plane commands. Each
// falls back to its environment variable; flag defaults never show the
// environment's values (they are secrets) in --help.
type connFlags struct {
	sourceDSN, targetDSN, redisURL string
}

func (c *connFlags) bind(f *pflag.FlagSet, source, target, redis bool) {
	if source {
		f.StringVar(&c.sourceDSN, "source-dsn", "", "source DSN in the driver's native form (env SISPORTA_SOURCE_DSN; prefer the environment: flags show in process lists)")
	}
	if target {
		f.StringVar(&c.targetDSN, "target-dsn", "", "target MySQL DSN, user:pass@tcp(host:3306)/db (env SISPORTA_TARGET_DSN)")
	}
	if redis {
		f.StringVar(&c.redisURL, "redis-url", "", "Redis URL, redis://:pass@host:6379/0 (env SISPORTA_REDIS_URL)")
	}
}

func (c *connFlags) resolve() {
	if c.sourceDSN == "" {
		c.sourceDSN = os.Getenv("SISPORTA_SOURCE_DSN")
	}
	if c.targetDSN == "" {
		c.targetDSN = os.Getenv("SISPORTA_TARGET_DSN")
	}
	if c.redisURL == "" {
		c.redisURL = os.Getenv("SISPORTA_REDIS_URL")
	}
}

// loadPipeline reads the pipeline file named by a flag or SISPORTA_CONFIG.
func loadPipeline(path string) (*syncv1alpha1.SyncPipeline, error) {
	if path == "" {
		path = os.Getenv("SISPORTA_CONFIG")
	}
	if path == "" {
		return nil, fmt.Errorf("no pipeline file: give --config (or -f) pipeline.yaml, a SyncPipeline manifest")
	}
	return pipeline.Load(path)
}

// tuneGC trades a little memory for less collector work in the data-plane
// processes, whose live heap is a few batches: the collector runs a quarter
// as often, and a soft limit keeps the process under 128 MiB. The heap
// grows to the limit, and the rest of a process (the binary's pages, the
// runtime) takes about 40 MiB: at 96 MiB, wide rows (batches at their byte
// bound) took the processes to 130–139 MiB. GOGC and GOMEMLIMIT in the
// environment win.
func tuneGC() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(400)
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(80 << 20)
	}
}
