package cmd

import (
	"testing"

	"github.com/spf13/pflag"
)

// TestEveryCommandThatLogsTakesTheSameLogFlags: one set of logging flags,
// --verbose (-v) among them for the scripts that pass it.
func TestEveryCommandThatLogsTakesTheSameLogFlags(t *testing.T) {
	root := newRootCommand()
	for _, name := range []string{"manager", "extract", "work", "sync", "stop-operator"} {
		c, _, err := root.Find([]string{name})
		if err != nil {
			t.Fatal(err)
		}
		for _, flag := range []string{"zap-log-level", "zap-encoder", "zap-stacktrace-level", "zap-time-encoding", "zap-devel", "verbose"} {
			if c.Flags().Lookup(flag) == nil {
				t.Errorf("sisporta %s has no --%s", name, flag)
			}
		}
		if f := c.Flags().ShorthandLookup("v"); f == nil || f.Name != "verbose" {
			t.Errorf("sisporta %s: -v is not --verbose", name)
		}
	}
}

// TestVerboseIsZapLogLevelDebug: --verbose and -v log what
// --zap-log-level=debug does; without a flag each command keeps its
// default level.
func TestVerboseIsZapLogLevelDebug(t *testing.T) {
	parse := func(args ...string) *logFlags {
		f := pflag.NewFlagSet("test", pflag.ContinueOnError)
		l := bindLogFlags(f)
		if err := f.Parse(args); err != nil {
			t.Fatal(err)
		}
		return l
	}
	for _, args := range [][]string{{"--verbose"}, {"-v"}, {"--zap-log-level=debug"}} {
		for _, d := range []logDefaults{managerLogs, runnerLogs, quietLogs} {
			if !parse(args...).logger(d).V(1).Enabled() {
				t.Errorf("%v does not log debug entries", args)
			}
		}
	}
	if log := parse().logger(runnerLogs); !log.Enabled() || log.V(1).Enabled() {
		t.Error("the data-plane commands log info, not debug, by default")
	}
	if parse().logger(quietLogs).Enabled() {
		t.Error("sisporta sync logs only errors by default")
	}
	if !parse("--zap-log-level=info").logger(quietLogs).Enabled() {
		t.Error("--zap-log-level=info does not make sisporta sync log info")
	}
}
