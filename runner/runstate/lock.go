package runstate

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// ErrLocked is returned when another extraction of the pipeline holds the
// lock: runs of one pipeline never overlap, whoever starts them (the
// CronJob, a run-now Job, a local sync against the same Redis).
var ErrLocked = errors.New("another extraction of this pipeline is running")

func lockKey(queue string) string { return keyPrefix(queue) + "extract-lock" }

// lockTTL bounds how long the lock of a killed extractor outlives it; the
// living holder refreshes it four times as often.
const lockTTL = 30 * time.Second

var unlockScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`)

var refreshScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0`)

// Lock takes the pipeline's extraction lock for holder and keeps it while
// ctx lives; release it with the returned function. It returns ErrLocked,
// naming the holder, when someone else has it.
func (s *Store) Lock(ctx context.Context, queue, holder string) (func(), error) {
	key := lockKey(queue)
	ok, err := s.rdb.SetNX(ctx, key, holder, lockTTL).Result()
	if err != nil {
		return nil, fmt.Errorf("taking the extraction lock in Redis: %w", err)
	}
	if !ok {
		other, _ := s.rdb.Get(ctx, key).Result()
		return nil, fmt.Errorf("%w (held by %s; it expires %s after its holder stops)", ErrLocked, other, lockTTL)
	}
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(lockTTL / 4)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-t.C:
				_ = refreshScript.Run(ctx, s.rdb, []string{key}, holder, lockTTL.Milliseconds()).Err()
			}
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() { close(done) })
		c, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = unlockScript.Run(c, s.rdb, []string{key}, holder).Err()
	}, nil
}

// LockHolder names who holds the pipeline's extraction lock ("" if none).
func (s *Store) LockHolder(ctx context.Context, queue string) (string, error) {
	v, err := s.rdb.Get(ctx, lockKey(queue)).Result()
	if errors.Is(err, redis.Nil) {
		return "", nil
	}
	return v, err
}
