package cmd

import (
	"context"
	"errors"
	"strings"

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
// stopping (ctx is done); a lease lost while running stays an error. So
// does any error that is the stop's own cancellation (client-go's elector
// reports "Error retrieving lease lock: context canceled" when the stop
// cuts a renewal short): once stopping, it is an info line too.
func releaseAwareLogger(l logr.Logger, stopping context.Context) logr.Logger {
	return logr.New(releaseAwareSink{LogSink: l.GetSink(), stopping: stopping})
}

type releaseAwareSink struct {
	logr.LogSink
	stopping context.Context
}

func (s releaseAwareSink) Error(err error, msg string, kv ...any) {
	if err != nil && s.stopping.Err() != nil {
		if msg == afterStopMsg && err.Error() == leaseLostErr {
			s.LogSink.Info(0, "released the leader lease on the way out", kv...)
			return
		}
		if errors.Is(err, context.Canceled) || strings.HasSuffix(err.Error(), context.Canceled.Error()) {
			s.LogSink.Info(0, msg+": cut short by the stop", append(kv, "reason", err.Error())...)
			return
		}
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
