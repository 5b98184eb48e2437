package writer

import (
	"context"
	"time"
)

// Load turns: a worker process runs one LOAD DATA a table at a time. Two
// loads into neighbouring key ranges of one table (a full copy's batches
// i and i+1, applied side by side) contend for the same index pages and
// split each other's pages in the middle: MariaDB 10.11 spent 5.5–5.9 s
// of CPU loading 1M rows in 8,000-row batches two at a time, 3.7–3.8 s
// one at a time, and wrote a table 4% larger. The other batches of the
// worker's concurrency still decode, check and commit meanwhile.

// loadTurnWait bounds the wait for a turn. The turn only saves server
// CPU; a load that has waited this long goes ahead anyway, so a holder
// that waits on a lock the waiter's transaction holds (InnoDB cannot see
// this wait) stalls it no longer than this.
var loadTurnWait = 2 * time.Second

// loadTurn waits for the table's turn to load, at most loadTurnWait or
// until ctx ends, and returns what gives the turn back (a no-op when it
// went ahead without one).
func (t *Target) loadTurn(ctx context.Context, table string) (release func()) {
	v, _ := t.loading.LoadOrStore(table, make(chan struct{}, 1))
	turn := v.(chan struct{})
	select {
	case turn <- struct{}{}:
		return func() { <-turn }
	default:
	}
	timer := time.NewTimer(loadTurnWait)
	defer timer.Stop()
	select {
	case turn <- struct{}{}:
		return func() { <-turn }
	case <-timer.C:
	case <-ctx.Done():
	}
	return func() {}
}
