package localsync_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/sisporta/sisporta/runner/localsync"
	"github.com/sisporta/sisporta/runner/runstate"
	"github.com/sisporta/sisporta/runner/testutil"
)

func TestMissingTableOrColumnFailsOnlyThatEntity(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	seedItems(t, e, 5)
	p := testutil.Pipeline(t, `
apiVersion: sync.sisporta.io/v1alpha1
kind: SyncPipeline
metadata: {name: missing}
spec:
  schedule: "@daily"
  source: {driver: mysql, dsnSecretRef: {name: s, key: dsn}}
  target: {dsnSecretRef: {name: t, key: dsn}}
  entities:
  - name: good
    source: {table: items}
    target: {table: items}
  - name: no-table
    source: {table: nonexistent}
    target: {table: t2}
  - name: no-column
    source: {table: items}
    target: {table: t3}
    columns: [{source: id}, {source: colour}]
`)
	s := e.sync(t, p)
	if s.Result != runstate.ResultPartiallyFailed {
		t.Fatalf("result %s, want PartiallyFailed", s.Result)
	}
	if g := entity(t, s, "good"); g.Result != runstate.ResultSucceeded || g.RowsWritten != 5 {
		t.Errorf("good entity: %+v", g)
	}
	nt := entity(t, s, "no-table")
	if nt.Result != runstate.ResultFailed || !strings.Contains(nt.Error, "no-table") || !strings.Contains(nt.Error, "nonexistent") || !strings.Contains(nt.Error, "not found") {
		t.Errorf("missing table error does not name entity and table: %+v", nt)
	}
	nc := entity(t, s, "no-column")
	if nc.Result != runstate.ResultFailed || !strings.Contains(nc.Error, `column "colour" not found`) || !strings.Contains(nc.Error, "it has: id, label, visible") {
		t.Errorf("missing column error does not name the column and list the real ones: %+v", nc)
	}
	if f := s.Failed(); strings.Join(f, ",") != "no-table,no-column" {
		t.Errorf("failed entities = %v", f)
	}
	// The failure is in the target's run record too.
	var msg string
	if err := e.dst.QueryRow("SELECT message FROM _sisporta_runs WHERE entity = 'no-table'").Scan(&msg); err != nil || !strings.Contains(msg, "nonexistent") {
		t.Errorf("run record of the failed entity: %q %v", msg, err)
	}
}

func TestPasswordsNeverReachErrors(t *testing.T) {
	t.Parallel()
	const secret = "S3cr3t-Pa55word"
	p := testutil.Pipeline(t, guardPipeline("{mode: Delete}"))
	cases := map[string]localsync.Options{
		"unreachable target": {SourceDSN: "root@tcp(127.0.0.1:3306)/mysql", TargetDSN: "root:" + secret + "@tcp(127.0.0.1:1)/x"},
		"bad target login":   {SourceDSN: "root@tcp(127.0.0.1:3306)/mysql", TargetDSN: "nobody:" + secret + "@tcp(127.0.0.1:3306)/x"},
		"unreachable source": {SourceDSN: "root:" + secret + "@tcp(127.0.0.1:1)/x", TargetDSN: "root@tcp(127.0.0.1:3306)/x"},
		"malformed source":   {SourceDSN: "root:" + secret + "@tcp(127.0.0.1:3306", TargetDSN: "root@tcp(127.0.0.1:3306)/x"},
		"bad redis":          {SourceDSN: "root@tcp(127.0.0.1:3306)/mysql", RedisURL: "redis://:" + secret + "@127.0.0.1:1/0"},
	}
	for name, o := range cases {
		o.Pipeline, o.Log = p, quietLog(t)
		ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
		_, err := localsync.Run(ctx, o)
		cancel()
		if err == nil {
			t.Errorf("%s: no error", name)
			continue
		}
		if strings.Contains(err.Error(), secret) {
			t.Errorf("%s: the error shows the password: %v", name, err)
		}
		t.Logf("%s: %v", name, err)
	}
}

// Without a Redis URL, sync queues through an embedded Redis: asynq runs
// unchanged on it, so this is the same code path as in a cluster.
func TestSyncWithEmbeddedRedis(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	seedItems(t, e, 50)
	p := testutil.Pipeline(t, guardPipeline("{mode: Delete}"))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := localsync.Run(ctx, localsync.Options{Pipeline: p, SourceDSN: e.src.DSN, TargetDSN: e.dst.DSN, Log: quietLog(t)})
	if err != nil {
		t.Fatal(err)
	}
	mustSucceed(t, s)
	sameRows(t, e, "SELECT id, label FROM items", "SELECT id, label FROM items")
}
