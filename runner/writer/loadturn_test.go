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

func TestLoadTurnIsOneLoadATable(t *testing.T) {
	tg := &Target{}
	ctx := context.Background()
	release := tg.loadTurn(ctx, "orders")

	if !returnsWithin(time.Second, func() { tg.loadTurn(ctx, "customers")() }) {
		t.Fatal("a load into another table waited for orders' turn")
	}
	second := make(chan func())
	go func() { second <- tg.loadTurn(ctx, "orders") }()
	select {
	case <-second:
		t.Fatal("a second load into orders went ahead while the first held the turn")
	case <-time.After(200 * time.Millisecond):
	}
	release()
	select {
	case r := <-second:
		r()
	case <-time.After(time.Second):
		t.Fatal("the second load did not get the turn once the first gave it back")
	}
	if !returnsWithin(time.Second, func() { tg.loadTurn(ctx, "orders")() }) {
		t.Fatal("the turn was not given back after the second load")
	}
}

func TestLoadTurnWaitIsBounded(t *testing.T) {
	defer func(d time.Duration) { loadTurnWait = d }(loadTurnWait)
	loadTurnWait = 100 * time.Millisecond
	tg := &Target{}
	release := tg.loadTurn(context.Background(), "orders")
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
	// The holder's turn is still its own: the no-op releases gave nothing
	// back, so a waiter with a deadline gets no turn before it.
	ctx, cancel = context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	tg.loadTurn(ctx, "orders")()
	if ctx.Err() == nil {
		t.Fatal("got the turn while the holder still held it")
	}
}
