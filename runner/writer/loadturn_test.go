package writer

import (
	"context"
	"testing"
	"time"
)

// returnsWithin reports whether f returns within d.
func returnsWithin(d time.Duration, f func()) bool {
	done := make(chan struct{})
	go func() { f(); close(done) }()
	select {
	case <-done:
		return true
	case <-time.After(d):
		return false
	}
}

// holdTurns takes every turn of the table, each without waiting.
func holdTurns(t *testing.T, tg *Target, table string) (release func()) {
	t.Helper()
	var releases []func()
	for i := range loadsPerTable {
		if !returnsWithin(time.Second, func() { releases = append(releases, tg.loadTurn(context.Background(), table)) }) {
			t.Fatalf("load %d of %d into %s waited for a turn", i+1, loadsPerTable, table)
		}
	}
	return func() {
		for _, r := range releases {
			r()
		}
	}
}

func TestLoadTurnsBoundTheLoadsIntoATable(t *testing.T) {
	tg := &Target{}
	ctx := context.Background()
	releaseAll := holdTurns(t, tg, "orders")

	if !returnsWithin(time.Second, func() { tg.loadTurn(ctx, "customers")() }) {
		t.Fatal("a load into another table waited for orders' turns")
	}
	next := make(chan func())
	go func() { next <- tg.loadTurn(ctx, "orders") }()
	select {
	case <-next:
		t.Fatalf("a load into orders went ahead while %d others held every turn", loadsPerTable)
	case <-time.After(200 * time.Millisecond):
	}
	releaseAll()
	select {
	case r := <-next:
		r()
	case <-time.After(time.Second):
		t.Fatal("the waiting load did not get a turn once the others gave theirs back")
	}
	holdTurns(t, tg, "orders")() // every turn was given back
}

func TestLoadTurnWaitIsBounded(t *testing.T) {
	defer func(d time.Duration) { loadTurnWait = d }(loadTurnWait)
	loadTurnWait = 100 * time.Millisecond
	tg := &Target{}
	release := holdTurns(t, tg, "orders")
	defer release()

	// A holder stuck (say, on a lock of the waiter's transaction) must not
	// stall the waiter for longer than loadTurnWait.
	start := time.Now()
	tg.loadTurn(context.Background(), "orders")() // went ahead without the turn: its release is a no-op
	if waited := time.Since(start); waited < loadTurnWait || waited > 5*time.Second {
		t.Fatalf("waited %v for a held turn, want about %v", waited, loadTurnWait)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	loadTurnWait = time.Hour
	if !returnsWithin(time.Second, func() { tg.loadTurn(ctx, "orders")() }) {
		t.Fatal("a cancelled load kept waiting for the turn")
	}
	// The holders' turns are still theirs: the no-op releases gave
	// nothing back, so a waiter with a deadline gets no turn before it.
	ctx, cancel = context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	tg.loadTurn(ctx, "orders")()
	if ctx.Err() == nil {
		t.Fatal("got the turn while the holder still held it")
	}
}
