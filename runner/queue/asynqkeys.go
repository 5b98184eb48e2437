package queue

import (
	"context"

	"github.com/redis/go-redis/v9"

	"github.com/sisporta/sisporta/runner/rediskit"
)

// asynq's Redis key layout (since v0.18) is internal to asynq (its base
// package), yet reading a queue's depth in one pipelined round trip and
// removing every trace of a deleted queue need it: it is kept here, in
// one place. controllers' queuewatch_test holds it to asynq's own counts.
const asynqQueuesKey = "asynq:queues" // SET of every queue's name

// AsynqKey names one of a queue's keys: asynq:{<queue>}:<kind>, such as
// pending, active (lists), scheduled, retry, archived (sorted sets).
func AsynqKey(queue, kind string) string { return "asynq:{" + queue + "}:" + kind }

// AsynqKeyPattern matches every Redis key asynq keeps for a queue.
func AsynqKeyPattern(queue string) string { return AsynqKey(queue, "*") }

// AsynqPendingKey is the list of a queue's pending tasks.
func AsynqPendingKey(queue string) string { return AsynqKey(queue, "pending") }

// DeleteQueueKeys deletes every key asynq keeps for a queue and its entry
// in the set of queues: what asynq's Inspector.DeleteQueue leaves (the
// processed and failed counters) or refuses to delete (tasks still marked
// active by workers that were killed).
func DeleteQueueKeys(ctx context.Context, rdb redis.UniversalClient, queue string) error {
	if err := rediskit.DeleteMatching(ctx, rdb, AsynqKeyPattern(queue)); err != nil {
		return err
	}
	return rdb.SRem(ctx, asynqQueuesKey, queue).Err()
}
