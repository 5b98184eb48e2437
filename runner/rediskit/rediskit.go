// Package rediskit holds Redis helpers that know nothing of Sisporta's
// keys: those of the run summary are runstate's, those of the queues
// asynq's (kept in runner/queue).
package rediskit

import (
	"context"

	"github.com/redis/go-redis/v9"
)

// scanBatch is how many keys one SCAN step asks for and one DEL removes:
// enough to be quick, few enough not to hold Redis up.
const scanBatch = 500

// DeleteMatching deletes every key matching a SCAN pattern, scanBatch at
// a time (KEYS would block Redis while it walks every key). Keys written
// while it runs may be missed: it is for keys no one writes any more.
func DeleteMatching(ctx context.Context, rdb redis.UniversalClient, pattern string) error {
	iter := rdb.Scan(ctx, 0, pattern, scanBatch).Iterator()
	var keys []string
	for iter.Next(ctx) {
		keys = append(keys, iter.Val())
	}
	if err := iter.Err(); err != nil {
		return err
	}
	for len(keys) > 0 {
		n := min(len(keys), scanBatch)
		if err := rdb.Del(ctx, keys[:n]...).Err(); err != nil {
			return err
		}
		keys = keys[n:]
	}
	return nil
}
