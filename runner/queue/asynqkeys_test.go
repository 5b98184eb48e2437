package queue_test

import (
	"context"
	"testing"

	"github.com/hibiken/asynq"

	"github.com/sisporta/sisporta/runner/queue"
	"github.com/sisporta/sisporta/test/testenv"
)

// The key layout kept here is asynq's own: a task asynq enqueued is found
// under AsynqPendingKey, and DeleteQueueKeys leaves no key of the queue
// behind, nor the queue in asynq's list of queues, while another queue's
// keys stay.
func TestAsynqKeyLayoutAndDeleteQueueKeys(t *testing.T) {
	ctx := context.Background()
	rdb, opt, err := queue.Connect(ctx, testenv.RedisURL())
	if err != nil {
		t.Fatal(err)
	}
	defer rdb.Close()
	q, other := "sisporta.t.keys-"+testenv.Random(4), "sisporta.t.keys-"+testenv.Random(4)
	c := asynq.NewClient(opt)
	defer c.Close()
	for _, name := range []string{q, q, other} {
		if _, err := c.Enqueue(asynq.NewTask("test:task", nil), asynq.Queue(name)); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { _ = queue.DeleteQueueKeys(context.Background(), rdb, other) })
	if n, err := rdb.LLen(ctx, queue.AsynqPendingKey(q)).Result(); err != nil || n != 2 {
		t.Fatalf("%s holds %d tasks (%v), want the 2 enqueued", queue.AsynqPendingKey(q), n, err)
	}
	if err := queue.DeleteQueueKeys(ctx, rdb, q); err != nil {
		t.Fatal(err)
	}
	if keys, err := rdb.Keys(ctx, queue.AsynqKeyPattern(q)).Result(); err != nil || len(keys) > 0 {
		t.Errorf("keys of the deleted queue left: %v %v", keys, err)
	}
	queues, err := asynq.NewInspector(opt).Queues()
	if err != nil {
		t.Fatal(err)
	}
	var listed, otherListed bool
	for _, name := range queues {
		listed = listed || name == q
		otherListed = otherListed || name == other
	}
	if listed || !otherListed {
		t.Errorf("asynq lists the deleted queue: %v, the other one: %v", listed, otherListed)
	}
	if n, _ := rdb.LLen(ctx, queue.AsynqPendingKey(other)).Result(); n != 1 {
		t.Errorf("the other queue holds %d tasks, want 1", n)
	}
}
