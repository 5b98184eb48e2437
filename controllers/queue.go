package controllers

import (
	"context"
	"fmt"
	"slices"

	"github.com/sisporta/sisporta/runner/queue"
	"github.com/sisporta/sisporta/runner/redact"

	syncv1alpha1 "github.com/sisporta/sisporta/api/v1alpha1"
)

// observeQueue reads the depth of the pipeline's asynq queue. A queue that
// does not exist yet has no tasks. Failing to read it is a problem
// (RedisUnreachable) but not a reason to stop: the objects were already
// reconciled, and the workers keep their count.
func (r *Reconciler) observeQueue(ctx context.Context, st *pipelineState) {
	conn, err := r.redis.get(ctx, st.redisURL)
	if err == nil {
		var q *syncv1alpha1.QueueStatus
		if q, err = readQueue(conn, queue.Name(st.p.Namespace, st.p.Name)); err == nil {
			st.redis, st.queue = conn, q
			return
		}
		r.redis.drop(st.redisURL)
		err = fmt.Errorf("Redis at %s: %w", conn.addr, redact.Err(err, st.redisURL))
	}
	st.problems = append(st.problems, &problem{
		reason:      ReasonRedisUnreachable,
		message:     fmt.Sprintf("cannot read the queue: %v; queue depth and run results are unknown and workers keep their count until Redis answers: check that Redis runs and that %s holds its URL", err, redisSource(st)),
		blocksReady: true,
		retry:       true,
	})
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
