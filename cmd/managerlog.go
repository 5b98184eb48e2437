package cmd

import (
	"context"

	"github.com/go-logr/logr"
)

// Released on a requested stop, the leader lease makes controller-runtime
// report "error received after stop sequence was engaged" with "leader
// election lost" (its elector cannot tell a release from a loss): every
// helm uninstall and rollout would end the operator's log with an error.
const (
	afterStopMsg = "error received after stop sequence was engaged"
	leaseLostErr = "leader election lost"
)

// releaseAwareLogger logs that error as what it is, an info line, once
// stopping (ctx is done); a lease lost while running stays an error.
func releaseAwareLogger(l logr.Logger, stopping context.Context) logr.Logger {
	return logr.New(releaseAwareSink{LogSink: l.GetSink(), stopping: stopping})
}

type releaseAwareSink struct {
	logr.LogSink
	stopping context.Context
}

func (s releaseAwareSink) Error(err error, msg string, kv ...any) {
	if msg == afterStopMsg && err != nil && err.Error() == leaseLostErr && s.stopping.Err() != nil {
		s.LogSink.Info(0, "released the leader lease on the way out", kv...)
		return
	}
	s.LogSink.Error(err, msg, kv...)
}

func (s releaseAwareSink) WithValues(kv ...any) logr.LogSink {
	return releaseAwareSink{LogSink: s.LogSink.WithValues(kv...), stopping: s.stopping}
}

func (s releaseAwareSink) WithName(name string) logr.LogSink {
	return releaseAwareSink{LogSink: s.LogSink.WithName(name), stopping: s.stopping}
}

// WithCallDepth keeps the caller's file and line right in the log.
func (s releaseAwareSink) WithCallDepth(depth int) logr.LogSink {
	if d, ok := s.LogSink.(logr.CallDepthLogSink); ok {
		return releaseAwareSink{LogSink: d.WithCallDepth(depth), stopping: s.stopping}
	}
	return s
}
