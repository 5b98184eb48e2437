package queue

import (
	"context"
	"fmt"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/sisporta/sisporta/runner/redact"
)

// Connect opens a Redis client for a redis:// or rediss:// URL (or
// redis-socket://path) and checks that it answers. Errors never contain the
// URL's password.
func Connect(ctx context.Context, redisURL string) (redis.UniversalClient, asynq.RedisConnOpt, error) {
	if redisURL == "" {
		return nil, nil, fmt.Errorf("no Redis URL: set --redis-url or SISPORTA_REDIS_URL (redis://:password@host:6379/0)")
	}
	opt, err := asynq.ParseRedisURI(redisURL)
	if err != nil {
		return nil, nil, fmt.Errorf("the Redis URL is not valid (want redis://[:password@]host:port[/db]): %w", redact.Err(err, redisURL))
	}
	rdb, ok := opt.MakeRedisClient().(redis.UniversalClient)
	if !ok {
		return nil, nil, fmt.Errorf("unsupported Redis URL")
	}
	pingCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := rdb.Ping(pingCtx).Err(); err != nil {
		_ = rdb.Close()
		return nil, nil, fmt.Errorf("Redis at %s does not answer: %w", RedisAddr(opt), redact.Err(err, redisURL))
	}
	return rdb, opt, nil
}

// RedisAddr returns the host:port of a connection option, for messages.
func RedisAddr(opt asynq.RedisConnOpt) string {
	switch o := opt.(type) {
	case asynq.RedisClientOpt:
		return o.Addr
	case asynq.RedisFailoverClientOpt:
		return "sentinel master " + o.MasterName
	case asynq.RedisClusterClientOpt:
		return fmt.Sprint(o.Addrs)
	}
	return "the configured address"
}
