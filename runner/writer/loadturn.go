package writer

import (
	"context"
	"time"
)

// Load turns: a worker process runs at most loadsPerTable LOAD DATA
// statements into one table at a time. Loads into neighbouring key
// ranges of one table (a full copy's batches i and i+1, applied side by
// side) contend for the same index pages: on one 2-core machine MariaDB
// 10.11 spent 5.5–5.9 s of CPU loading 1M rows in 8,000-row batches two
// at a time against 3.7–3.8 s one at a time. On another (page-table
// isolation off) two at a time cost 5–15% more CPU, and one at a time
// made the load the full copy's critical path: the extractor finished
// 1.2 s ahead of the last load, a core idle meanwhile, and in six paired
// rounds two at a time finished the full copy sooner in each (5.3–6.4 s
// against 5.8–8.3 s). More than two were not measured. The other
// batches of the worker's concurrency still decode, check and commit
// meanwhile.

// loadsPerTable is how many loads into one table run at once.
const loadsPerTable = 2

// loadTurnWait bounds the wait for a turn. The turn only saves server
// CPU; a load that has waited this long goes ahead anyway, so a holder
// that waits on a lock the waiter's transaction holds (InnoDB cannot see
// this wait) stalls it no longer than this.
var loadTurnWait = 2 * time.Second

// loadTurn waits for one of the table's turns to load, at most
// loadTurnWait or until ctx ends, and returns what gives the turn back (a
// no-op when it went ahead without one).
func (t *Target) loadTurn(ctx context.Context, table string) (release func()) {
	v, _ := t.loading.LoadOrStore(table, make(chan struct{}, loadsPerTable))
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
