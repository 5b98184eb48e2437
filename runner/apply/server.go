package apply

import (
	"context"
	"fmt"
	"time"

	"github.com/go-logr/logr"
	"github.com/hibiken/asynq"

	"github.com/sisporta/sisporta/runner/queue"
)

// NewServer returns an asynq server consuming one pipeline's queue with
// Sisporta's retry policy: exponential backoff, waits for missing batches
// not counted as failures, and shutdownTimeout for in-flight batches to
// finish on SIGTERM before they are handed back to the queue.
func NewServer(opt asynq.RedisConnOpt, queueName string, concurrency int, shutdownTimeout time.Duration, log logr.Logger) *asynq.Server {
	return asynq.NewServer(opt, asynq.Config{
		Concurrency:     concurrency,
		Queues:          map[string]int{queueName: 1},
		RetryDelayFunc:  queue.RetryDelay,
		IsFailure:       queue.IsFailure,
		ShutdownTimeout: shutdownTimeout,
		Logger:          asynqLogger{log.WithName("asynq")},
		LogLevel:        asynq.WarnLevel,
		ErrorHandler: asynq.ErrorHandlerFunc(func(ctx context.Context, t *asynq.Task, err error) {
			if !queue.IsFailure(err) {
				return
			}
			n, _ := asynq.GetRetryCount(ctx)
			m, _ := asynq.GetMaxRetry(ctx)
			if n >= m {
				log.Error(err, "task failed for the last time: archived in the dead-letter queue (sisporta dlq list)", "type", t.Type())
			}
		}),
		HealthCheckInterval: 15 * time.Second,
		// Pick up new work and due retries (a finalize waiting for its
		// batches) within a fraction of a second, not asynq's 1s and 5s.
		// asynq polls an empty queue (no blocking pop), sleeping half to
		// one and a half times the interval between polls: a worker that
		// ran dry waits that long for the next batch, and every run starts
		// and ends with one. At 25 ms an idle worker polls Redis at most 80
		// times a second (one small script each), and a run's first batch,
		// its range checks and its finalize step are picked up within 40 ms
		// where they waited up to 300 ms.
		TaskCheckInterval:        25 * time.Millisecond,
		DelayedTaskCheckInterval: 500 * time.Millisecond,
	})
}

// asynqLogger routes asynq's logs to logr.
type asynqLogger struct{ l logr.Logger }

func (a asynqLogger) Debug(args ...any) { a.l.V(1).Info(fmt.Sprint(args...)) }
func (a asynqLogger) Info(args ...any)  { a.l.Info(fmt.Sprint(args...)) }
func (a asynqLogger) Warn(args ...any)  { a.l.Info(fmt.Sprint(args...), "level", "warn") }
func (a asynqLogger) Error(args ...any) { a.l.Error(nil, fmt.Sprint(args...)) }
func (a asynqLogger) Fatal(args ...any) { a.l.Error(nil, fmt.Sprint(args...), "level", "fatal") }
