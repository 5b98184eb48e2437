package cmd

import (
	"flag"
	"os"

	"github.com/go-logr/logr"
	"github.com/spf13/pflag"
	"go.uber.org/zap/zapcore"
	"golang.org/x/term"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
)

// logFlags are the logging flags of every command that logs, one set for
// all: controller-runtime's zap flags (--zap-log-level, --zap-encoder,
// --zap-stacktrace-level, --zap-time-encoding, --zap-devel), and --verbose
// (-v), which the data-plane commands had before and scripts pass: it means
// --zap-log-level=debug.
type logFlags struct {
	zap     zap.Options
	verbose bool
}

func bindLogFlags(f *pflag.FlagSet) *logFlags {
	l := &logFlags{}
	zf := flag.NewFlagSet("log", flag.ContinueOnError)
	l.zap.BindFlags(zf)
	f.AddGoFlagSet(zf)
	f.BoolVarP(&l.verbose, "verbose", "v", false, "debug logs (the same as --zap-log-level=debug)")
	return l
}

// logDefaults say how a command logs where no flag says otherwise.
type logDefaults struct {
	level zapcore.Level
	// stacktrace is the level from which entries carry a stack trace.
	stacktrace zapcore.Level
	// consoleOnTerminal logs readable lines on a terminal; JSON otherwise,
	// for the log collectors of a cluster.
	consoleOnTerminal bool
}

var (
	// managerLogs: JSON, info, stack traces on errors (controller-runtime's
	// production defaults).
	managerLogs = logDefaults{level: zapcore.InfoLevel, stacktrace: zapcore.ErrorLevel}
	// runnerLogs: the data-plane processes report errors as values, so
	// their stacks would be noise.
	runnerLogs = logDefaults{level: zapcore.InfoLevel, stacktrace: zapcore.PanicLevel, consoleOnTerminal: true}
	// quietLogs: an interactive command's outcome is its summary, so it
	// logs only errors unless asked.
	quietLogs = logDefaults{level: zapcore.ErrorLevel, stacktrace: zapcore.PanicLevel, consoleOnTerminal: true}
)

// logger builds the command's logger: the flags given win over d, and
// --zap-devel brings zap's development defaults instead of d.
func (l *logFlags) logger(d logDefaults) logr.Logger {
	o := l.zap
	if l.verbose {
		o.Level = zapcore.DebugLevel
	}
	if !o.Development {
		if o.Level == nil {
			o.Level = d.level
		}
		if o.StacktraceLevel == nil {
			o.StacktraceLevel = d.stacktrace
		}
		if o.NewEncoder == nil && d.consoleOnTerminal && term.IsTerminal(int(os.Stderr.Fd())) {
			zap.ConsoleEncoder()(&o)
		}
	}
	return zap.New(zap.UseFlagOptions(&o))
}
