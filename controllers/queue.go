package controllers

import (
	"context"
	"fmt"
	"slices"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/types"

	"github.com/sisporta/sisporta/runner/queue"
	"github.com/sisporta/sisporta/runner/redact"

	syncv1alpha1 "github.com/sisporta/sisporta/api/v1alpha1"
)

// observeQueue reads the depth of the pipeline's asynq queue and has the
// queue poller follow it. A queue that does not exist yet has no tasks.
// Failing to read it is a problem (RedisUnreachable) but not a reason to
// stop: the objects were already reconciled, and the workers keep their
// count. An outage shorter than RedisOutageGrace sets Degraded and leaves
// Ready as it was (a Redis restart must not flap Ready); a longer one sets
// Ready=False.
func (r *Reconciler) observeQueue(ctx context.Context, st *pipelineState) {
	key := types.NamespacedName{Namespace: st.p.Namespace, Name: st.p.Name}
	name := queue.Name(st.p.Namespace, st.p.Name)
	conn, err := r.redis.get(ctx, st.redisURL)
	if err == nil {
		var q *syncv1alpha1.QueueStatus
		if q, err = readQueue(conn, name); err == nil {
			r.redis.answered(st.redisURL)
			st.redis, st.queue = conn, q
			d := depthOf(q)
			r.queues.watch(key, st.redisURL, name, &d)
			return
		}
		r.redis.drop(st.redisURL)
		err = fmt.Errorf("Redis at %s: %w", conn.addr, redact.Err(err, st.redisURL))
	}
	r.queues.watch(key, st.redisURL, name, nil)
	since := r.redis.failed(st.redisURL, st.now)
	msg := fmt.Sprintf("cannot read the queue (since %s): %v; queue depth and run results are unknown and workers keep their count until Redis answers: check that Redis runs and that %s holds its URL",
		since.UTC().Format(time.RFC3339), err, redisSource(st))
	left := r.RedisOutageGrace - st.now.Sub(since)
	hold := left > 0 && readyHoldable(st)
	if hold {
		msg += fmt.Sprintf("; Ready keeps its last value unless the outage lasts %s", r.RedisOutageGrace)
		st.holdReady = true
		st.recheckWithin(left)
	}
	st.problems = append(st.problems, &problem{
		reason:      syncv1alpha1.ReasonRedisUnreachable,
		message:     msg,
		blocksReady: !hold,
		retry:       true,
	})
}

// readyHoldable: the stored Ready is one that a look at Redis would
// confirm or change (a run's outcome, the first run awaited, suspension),
// so an outage shorter than the grace period keeps it. A pipeline that
// never had one, or whose Ready already says Redis is unreachable or names
// another problem, gets Ready=False at once: a new pipeline pointed at a
// wrong Redis says so without waiting.
func readyHoldable(st *pipelineState) bool {
	c := meta.FindStatusCondition(st.status.Conditions, syncv1alpha1.ConditionReady)
	if c == nil {
		return false
	}
	switch c.Reason {
	case syncv1alpha1.ReasonSynced, syncv1alpha1.ReasonAwaitingFirstRun, syncv1alpha1.ReasonSuspended, syncv1alpha1.ReasonRunFailed, syncv1alpha1.ReasonExtractionFailed:
		return true
	}
	return false
}

func readQueue(conn *redisConn, name string) (*syncv1alpha1.QueueStatus, error) {
	info, err := conn.inspector.GetQueueInfo(name)
	if err != nil {
		queues, qerr := conn.inspector.Queues()
		if qerr == nil && !slices.Contains(queues, name) {
			return &syncv1alpha1.QueueStatus{}, nil
		}
		return nil, err
	}
	return &syncv1alpha1.QueueStatus{
		Pending:        int64(info.Pending),
		Active:         int64(info.Active),
		Scheduled:      int64(info.Scheduled),
		Retry:          int64(info.Retry),
		Dead:           int64(info.Archived),
		LatencySeconds: int64(info.Latency.Seconds()),
	}, nil
}

// redisSource names where the pipeline's Redis URL comes from, for messages.
func redisSource(st *pipelineState) string {
	if ref := st.p.Spec.Queue.RedisSecretRef; ref != nil {
		return fmt.Sprintf("key %q of Secret %q", ref.Key, ref.Name)
	}
	return "the operator's --default-redis-url"
}
