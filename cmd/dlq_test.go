package cmd

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/hibiken/asynq"

	"github.com/sisporta/sisporta/runner/queue"
	"github.com/sisporta/sisporta/test/testenv"
)

func runCmd(t *testing.T, args ...string) (string, error) {
	t.Helper()
	root := newRootCommand()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetArgs(args)
	err := root.ExecuteContext(context.Background())
	return out.String(), err
}

func TestDLQCommands(t *testing.T) {
	ctx := context.Background()
	rdb, _, err := queue.Connect(ctx, testenv.RedisURL())
	if err != nil {
		t.Fatal(err)
	}
	defer rdb.Close()
	q := "sisporta.dlqtest." + testenv.Random(3)
	insp := asynq.NewInspectorFromRedisClient(rdb)
	defer insp.DeleteQueue(q, true) //nolint:errcheck
	client := asynq.NewClientFromRedisClient(rdb)
	for _, id := range []string{"ns/p/1/items/0", "ns/p/1/items/1"} {
		if _, err := client.Enqueue(asynq.NewTask(queue.TypeApplyBatch, []byte("{}")), asynq.Queue(q), asynq.TaskID(id)); err != nil {
			t.Fatal(err)
		}
		if err := insp.ArchiveTask(q, id); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("SISPORTA_REDIS_URL", testenv.RedisURL())

	out, err := runCmd(t, "dlq", "list", "--queue", q)
	if err != nil || !strings.Contains(out, "ns/p/1/items/0") || !strings.Contains(out, "2 dead-letter tasks") {
		t.Fatalf("list: %v\n%s", err, out)
	}
	out, err = runCmd(t, "dlq", "retry", "--queue", q, "--id", "ns/p/1/items/0")
	if err != nil || !strings.Contains(out, "queued again") {
		t.Fatalf("retry: %v\n%s", err, out)
	}
	info, _ := insp.GetQueueInfo(q)
	if info.Pending != 1 || info.Archived != 1 {
		t.Fatalf("after retry: pending %d archived %d", info.Pending, info.Archived)
	}
	out, err = runCmd(t, "dlq", "purge", "--queue", q)
	if err != nil || !strings.Contains(out, "1 tasks deleted") {
		t.Fatalf("purge: %v\n%s", err, out)
	}
	if _, err := runCmd(t, "dlq", "list"); err == nil || !strings.Contains(err.Error(), "no pipeline file") {
		t.Fatalf("list without a pipeline: %v", err)
	}
}
