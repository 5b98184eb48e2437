package rediskit_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/sisporta/sisporta/runner/rediskit"
	"github.com/sisporta/sisporta/test/testenv"
)

// More keys than one SCAN step and one DEL take all go; a key outside the
// pattern, even one sharing its prefix, stays.
func TestDeleteMatchingDeletesEveryMatchAndNothingElse(t *testing.T) {
	ctx := context.Background()
	opt, err := redis.ParseURL(testenv.RedisURL())
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(opt)
	defer rdb.Close()
	prefix := "sisporta-t-rediskit-" + testenv.Random(4)
	keep := prefix + "-kept"
	t.Cleanup(func() { rdb.Del(context.Background(), keep) })
	p := rdb.Pipeline()
	for i := 0; i < 1234; i++ {
		p.Set(ctx, fmt.Sprintf("%s:%d", prefix, i), i, 0)
	}
	p.Set(ctx, keep, 1, 0)
	if _, err := p.Exec(ctx); err != nil {
		t.Fatal(err)
	}
	if err := rediskit.DeleteMatching(ctx, rdb, prefix+":*"); err != nil {
		t.Fatal(err)
	}
	if left, err := rdb.Keys(ctx, prefix+":*").Result(); err != nil || len(left) > 0 {
		t.Errorf("%d matching keys left (%v)", len(left), err)
	}
	if n, _ := rdb.Exists(ctx, keep).Result(); n != 1 {
		t.Error("a key outside the pattern was deleted")
	}
	if err := rediskit.DeleteMatching(ctx, rdb, prefix+":*"); err != nil {
		t.Errorf("nothing left to delete: %v", err)
	}
}
