package runstate_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/sisporta/sisporta/runner/queue"
	"github.com/sisporta/sisporta/runner/runstate"
	"github.com/sisporta/sisporta/test/testenv"

	syncv1alpha1 "github.com/sisporta/sisporta/api/v1alpha1"
)

// newStore returns a store on the real Redis and a queue name of the
// test's own, purged at the end.
func newStore(t *testing.T) (*runstate.Store, string) {
	t.Helper()
	rdb, _, err := queue.Connect(context.Background(), testenv.RedisURL())
	if err != nil {
		t.Fatal(err)
	}
	s := runstate.NewStore(rdb)
	q := "sisporta.test." + testenv.Random(4)
	t.Cleanup(func() {
		_ = s.Purge(context.Background(), q)
		_ = rdb.Close()
	})
	return s, q
}

func TestRunSummaryOnRealRedis(t *testing.T) {
	ctx := context.Background()
	s, q := newStore(t)

	now := time.Now().UTC().Truncate(time.Millisecond)
	id1, epoch, err := s.NewRunID(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	id2, epoch2, _ := s.NewRunID(ctx, q) // the same millisecond: still larger
	id3, _, _ := s.NewRunID(ctx, q)
	if !(id2 > id1 && id3 > id2) || epoch == "" || epoch2 != epoch {
		t.Fatalf("run IDs not increasing within one epoch: %d %d %d, epochs %q %q", id1, id2, id3, epoch, epoch2)
	}
	// The IDs come from Redis's clock, not the caller's.
	if d := time.Since(time.UnixMilli(id1)); d < -time.Minute || d > time.Minute {
		t.Fatalf("run ID %d is %s away from now", id1, d)
	}

	for _, id := range []int64{id1, id2} {
		if err := s.Start(ctx, q, runstate.Meta{ID: id, Pipeline: "test/p", SnapshotTime: now, StartTime: now, Entities: []string{"a", "b"}}); err != nil {
			t.Fatal(err)
		}
	}
	// Run 1: both entities succeed, one with a tripped guard.
	_ = s.SetExtract(ctx, q, id1, "a", runstate.Extract{RowsRead: 10, Batches: 1, Done: true})
	_ = s.SetExtract(ctx, q, id1, "b", runstate.Extract{RowsRead: 5, Batches: 1, Done: true})
	_ = s.AddProgress(ctx, q, id1, "a", 4, 6)
	r, err := s.Get(ctx, q, id1)
	if err != nil || r.Result() != syncv1alpha1.RunRunning {
		t.Fatalf("before finals: %v %v", r, err)
	}
	if read, written, unchanged, _ := r.Totals(); read != 15 || written != 4 || unchanged != 6 {
		t.Errorf("progress totals %d %d %d", read, written, unchanged)
	}
	_ = s.SetFinal(ctx, q, id1, "a", runstate.Final{Result: syncv1alpha1.RunSucceeded, RowsRead: 10, RowsWritten: 4, RowsUnchanged: 6, EndTime: now.Add(time.Minute)})
	_ = s.SetFinal(ctx, q, id1, "b", runstate.Final{Result: syncv1alpha1.RunSucceeded, RowsRead: 5, RowsDeleted: 0, EndTime: now.Add(2 * time.Minute),
		Cleanup: &runstate.Cleanup{Result: syncv1alpha1.CleanupGuardTripped, Deleted: 3, Message: "guard: ..."}})
	// Run 2: one entity fails to extract.
	_ = s.SetExtract(ctx, q, id2, "a", runstate.Extract{Error: "entity a: table gone"})
	_ = s.SetFinal(ctx, q, id2, "a", runstate.Final{Result: syncv1alpha1.RunFailed, Error: "entity a: table gone", EndTime: now})
	_ = s.SetFinal(ctx, q, id2, "b", runstate.Final{Result: syncv1alpha1.RunSucceeded, EndTime: now})

	last, ok, err := s.Latest(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	if last.Meta.ID != id2 || last.Result() != syncv1alpha1.RunPartiallyFailed || last.FailedEntities()[0] != "a" {
		t.Errorf("last = %d %s %v", last.Meta.ID, last.Result(), last.FailedEntities())
	}
	if ok == nil || ok.Meta.ID != id1 || ok.Result() != syncv1alpha1.RunSucceeded {
		t.Fatalf("last successful = %+v", ok)
	}
	if end, done := ok.CompletionTime(); !done || !end.Equal(now.Add(2*time.Minute)) {
		t.Errorf("completion %s %v", end, done)
	}
	if err := s.Purge(ctx, q); err != nil {
		t.Fatal(err)
	}
	if runs, _ := s.Recent(ctx, q, 10); len(runs) != 0 {
		t.Errorf("%d runs left after purge", len(runs))
	}
}

func TestExtractionLockKeepsRunsApart(t *testing.T) {
	ctx := context.Background()
	s, q := newStore(t)

	unlock, err := s.Lock(ctx, q, "first")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Lock(ctx, q, "second"); !errors.Is(err, runstate.ErrLocked) || !strings.Contains(err.Error(), "first") {
		t.Fatalf("second lock: %v, want ErrLocked naming the holder", err)
	}
	if h, _ := s.LockHolder(ctx, q); h != "first" {
		t.Fatalf("holder %q", h)
	}
	unlock()
	unlock2, err := s.Lock(ctx, q, "second")
	if err != nil {
		t.Fatalf("after release: %v", err)
	}
	unlock() // a stale release must not free someone else's lock
	if h, _ := s.LockHolder(ctx, q); h != "second" {
		t.Fatalf("holder after a stale release: %q", h)
	}
	unlock2()
}

// spec.verify's schedule: every Nth run, or when the last verifying run
// started an interval ago; the first run under a policy verifies, and so
// does the next run after Redis lost the record.
func TestVerifyDue(t *testing.T) {
	ctx := context.Background()
	s, q := newStore(t)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	due := func(every int, interval time.Duration, at time.Time) bool {
		t.Helper()
		d, err := s.VerifyDue(ctx, q, every, interval, at)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	if due(0, 0, t0) {
		t.Fatal("no policy: no verifying run")
	}
	var got []bool
	for i := 0; i < 7; i++ {
		got = append(got, due(3, 0, t0.Add(time.Duration(i)*time.Minute)))
	}
	if want := []bool{true, false, false, true, false, false, true}; !equalBools(got, want) {
		t.Fatalf("every 3rd run: %v, want %v", got, want)
	}
	if !due(0, time.Hour, t0.Add(7*time.Minute+time.Hour)) {
		t.Fatal("an hour after the last verifying run: want one")
	}
	if due(0, time.Hour, t0.Add(8*time.Minute+time.Hour)) {
		t.Fatal("a minute after the last verifying run: want none")
	}
	if err := s.Purge(ctx, q); err != nil {
		t.Fatal(err)
	}
	if !due(100, 24*time.Hour, t0.Add(9*time.Hour)) {
		t.Fatal("after Redis lost the record: want a verifying run")
	}
}

func equalBools(a, b []bool) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// A Redis that lost its data starts a new epoch: the target then orders
// runs by when it first sees them, not by comparing IDs of two timelines.
func TestRunIDEpochChangesWhenRedisLosesItsCounter(t *testing.T) {
	ctx := context.Background()
	s, q := newStore(t)
	_, e1, err := s.NewRunID(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Purge(ctx, q); err != nil {
		t.Fatal(err)
	}
	_, e2, err := s.NewRunID(ctx, q)
	if err != nil || e2 == e1 {
		t.Fatalf("epoch after the counter was lost: %q (was %q), %v", e2, e1, err)
	}
}
