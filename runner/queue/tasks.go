package queue

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"

	"github.com/hibiken/asynq"
)

// BatchTaskID is unique per (run, entity, batch): enqueuing the same batch
// twice while it is queued is refused by asynq. Finished tasks are not
// retained (their payloads would pile up in Redis run after run); a batch
// that did come twice is recognised by the ledger and applied once.
func BatchTaskID(pipeline string, run int64, entity string, seq int) string {
	return fmt.Sprintf("%s/%d/%s/%d", pipeline, run, entity, seq)
}

// FinalizeTaskID is unique per (run, entity).
func FinalizeTaskID(pipeline string, run int64, entity string) string {
	return fmt.Sprintf("%s/%d/%s/finalize", pipeline, run, entity)
}

// TaskTimeout bounds one batch or finalize step; a worker that dies holds
// a task no longer than this before asynq hands it to another.
const TaskTimeout = 30 * time.Minute

// NewBatchTask builds the apply-batch task for a batch.
func NewBatchTask(queueName string, b *Batch, maxRetry int) (*asynq.Task, error) {
	payload, err := EncodeBatch(b)
	if err != nil {
		return nil, err
	}
	return asynq.NewTask(TypeApplyBatch, payload,
		asynq.Queue(queueName),
		asynq.TaskID(BatchTaskID(b.Pipeline, b.Run, b.Entity, b.Seq)),
		asynq.MaxRetry(maxRetry),
		asynq.Timeout(TaskTimeout),
	), nil
}

// minFinalizeRetry is the least retry budget of a finalize step.
const minFinalizeRetry = 3

// NewFinalizeTask builds the finalize task of an entity's run. It retries
// for as long as batches are missing (those waits do not count as
// failures), then up to maxRetry times on real errors. Its budget is
// never below minFinalizeRetry: asynq archives a task whose retries are
// used up before asking whether an error counts, so with queue.maxRetry 0
// the first wait for a batch would dead-letter a healthy run.
func NewFinalizeTask(queueName string, f *Finalize, maxRetry int) (*asynq.Task, error) {
	payload, err := EncodeFinalize(f)
	if err != nil {
		return nil, err
	}
	return asynq.NewTask(TypeFinalize, payload,
		asynq.Queue(queueName),
		asynq.TaskID(FinalizeTaskID(f.Pipeline, f.Run, f.Entity)),
		asynq.MaxRetry(max(maxRetry, minFinalizeRetry)),
		asynq.Timeout(TaskTimeout),
	), nil
}

// ErrNotReady means a finalize step found batches of its run not applied
// yet: asynq retries it without counting a failure.
var ErrNotReady = errors.New("batches of the run are not all applied yet")

// ErrRetryLater wraps errors of a finalize step that is still within its
// waiting time (the target is down, say): it is retried every few seconds
// without counting a failure, so it is never archived while its run can
// still complete.
var ErrRetryLater = errors.New("finalize will retry")

// IsFailure tells asynq which errors count toward a task's retry limit.
func IsFailure(err error) bool {
	return !errors.Is(err, ErrNotReady) && !errors.Is(err, ErrRetryLater)
}

// RetryDelay is exponential backoff with jitter: 2s, 4s, 8s ... capped at
// ten minutes; a finalize waiting for batches polls every few seconds.
func RetryDelay(n int, err error, _ *asynq.Task) time.Duration {
	if errors.Is(err, ErrNotReady) {
		return time.Duration(300+rand.IntN(300)) * time.Millisecond
	}
	if errors.Is(err, ErrRetryLater) {
		return time.Duration(5000+rand.IntN(5000)) * time.Millisecond
	}
	d := time.Second << min(n+1, 10)
	d = min(d, 10*time.Minute)
	return d/2 + time.Duration(rand.Int64N(int64(d/2)+1))
}

// TaskRef is what a task ID names.
type TaskRef struct {
	Pipeline string // <namespace>/<name>
	Run      int64
	Entity   string
	// Seq is the batch's sequence number; -1 for the finalize step.
	Seq int
}

// ParseTaskID reads a batch or finalize task ID. Namespaces, pipeline
// names and entity names hold no '/', so the fields are exact (an entity
// named like a run ID cannot be mistaken for one).
func ParseTaskID(id string) (TaskRef, bool) {
	parts := strings.Split(id, "/")
	if len(parts) != 5 {
		return TaskRef{}, false
	}
	run, err := strconv.ParseInt(parts[2], 10, 64)
	if err != nil {
		return TaskRef{}, false
	}
	ref := TaskRef{Pipeline: parts[0] + "/" + parts[1], Run: run, Entity: parts[3], Seq: -1}
	if parts[4] != "finalize" {
		if ref.Seq, err = strconv.Atoi(parts[4]); err != nil {
			return TaskRef{}, false
		}
	}
	return ref, true
}

// String names the task for people.
func (r TaskRef) String() string {
	if r.Seq < 0 {
		return fmt.Sprintf("entity %s, finalize step", r.Entity)
	}
	return fmt.Sprintf("entity %s, batch %d", r.Entity, r.Seq)
}
