package controllers

import (
	"context"
	"crypto/sha256"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/log"

	syncv1alpha1 "github.com/sisporta/sisporta/api/v1alpha1"
	"github.com/sisporta/sisporta/runner/queue"
)

// queueDepth is what the poller compares: the task counts of an asynq
// queue by state. Anything that puts tasks on a queue or takes them off
// (an extractor, a worker, `sisporta dlq retry`, a person) changes it.
type queueDepth struct {
	Pending, Active, Scheduled, Retry, Dead int64
}

func depthOf(q *syncv1alpha1.QueueStatus) queueDepth {
	return queueDepth{Pending: q.Pending, Active: q.Active, Scheduled: q.Scheduled, Retry: q.Retry, Dead: q.Dead}
}

// queueWatcher notices work on the pipelines' queues without reconciling
// them: one goroutine per Redis reads the depth of all the queues of the
// pipelines that use it in one round trip every interval, and wakes (through
// a controller-runtime channel source) only the pipelines whose depth
// changed since it or a reconcile last saw it. A Redis that stops or
// starts answering wakes all its pipelines, so that their status says so.
//
// Pipelines register themselves on every reconcile (watch) and leave when
// deleted (forget); a Redis nobody uses any more is no longer polled.
type queueWatcher struct {
	interval time.Duration
	pool     *redisPool
	events   chan event.GenericEvent

	mu        sync.Mutex
	ctx       context.Context // set by Start; nil before
	redises   map[[32]byte]*redisWatch
	pipelines map[types.NamespacedName][32]byte
}

// redisWatch is one Redis and the queues polled in it.
type redisWatch struct {
	url    string
	queues map[types.NamespacedName]*queueWatch
	cancel context.CancelFunc // of its goroutine; nil while none runs
	down   bool               // the last poll failed
}

type queueWatch struct {
	name  string
	depth queueDepth
	known bool
}

func newQueueWatcher(interval time.Duration, pool *redisPool) *queueWatcher {
	return &queueWatcher{
		interval:  interval,
		pool:      pool,
		events:    make(chan event.GenericEvent, 1024),
		redises:   map[[32]byte]*redisWatch{},
		pipelines: map[types.NamespacedName][32]byte{},
	}
}

// watch makes the poller follow a pipeline's queue in the Redis at url.
// depth is what the reconcile just read (nil when it could not): the poller
// wakes the pipeline only for a depth different from it.
func (w *queueWatcher) watch(key types.NamespacedName, url, queueName string, depth *queueDepth) {
	if w == nil {
		return
	}
	h := sha256.Sum256([]byte(url))
	w.mu.Lock()
	defer w.mu.Unlock()
	if old, ok := w.pipelines[key]; ok && old != h {
		w.removeLocked(key, old)
	}
	rw := w.redises[h]
	if rw == nil {
		rw = &redisWatch{url: url, queues: map[types.NamespacedName]*queueWatch{}}
		w.redises[h] = rw
	}
	q := rw.queues[key]
	if q == nil || q.name != queueName {
		q = &queueWatch{name: queueName}
		rw.queues[key] = q
	}
	if depth != nil {
		q.depth, q.known = *depth, true
	}
	w.pipelines[key] = h
	w.startLocked(rw)
}

// forget stops following a pipeline (deleted, or its Redis unknown).
func (w *queueWatcher) forget(key types.NamespacedName) {
	if w == nil {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if h, ok := w.pipelines[key]; ok {
		w.removeLocked(key, h)
	}
}

func (w *queueWatcher) removeLocked(key types.NamespacedName, h [32]byte) {
	delete(w.pipelines, key)
	rw := w.redises[h]
	if rw == nil {
		return
	}
	delete(rw.queues, key)
	if len(rw.queues) == 0 {
		if rw.cancel != nil {
			rw.cancel()
		}
		delete(w.redises, h)
	}
}

func (w *queueWatcher) startLocked(rw *redisWatch) {
	if w.ctx == nil || rw.cancel != nil {
		return
	}
	ctx, cancel := context.WithCancel(w.ctx)
	rw.cancel = cancel
	go w.loop(ctx, rw)
}

// Start runs the pollers until ctx ends. It is a manager Runnable, so it
// runs only on the elected leader, like the reconciler it wakes.
func (w *queueWatcher) Start(ctx context.Context) error {
	w.mu.Lock()
	w.ctx = ctx
	for _, rw := range w.redises {
		w.startLocked(rw)
	}
	w.mu.Unlock()
	<-ctx.Done()
	w.mu.Lock()
	w.ctx = nil
	for _, rw := range w.redises {
		rw.cancel = nil // their contexts ended with ctx
	}
	w.mu.Unlock()
	return nil
}

func (w *queueWatcher) loop(ctx context.Context, rw *redisWatch) {
	t := time.NewTicker(w.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			w.poll(ctx, rw)
		}
	}
}

// poll reads every queue's depth in one round trip and wakes the pipelines
// whose depth changed.
func (w *queueWatcher) poll(ctx context.Context, rw *redisWatch) {
	w.mu.Lock()
	url := rw.url
	keys := make([]types.NamespacedName, 0, len(rw.queues))
	names := make([]string, 0, len(rw.queues))
	for k, q := range rw.queues {
		keys = append(keys, k)
		names = append(names, q.name)
	}
	w.mu.Unlock()
	if len(keys) == 0 {
		return
	}

	timeout := min(w.interval, 10*time.Second)
	pctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	depths, err := w.read(pctx, url, names)
	if ctx.Err() != nil {
		return
	}
	var wake []types.NamespacedName
	w.mu.Lock()
	if err != nil {
		if !rw.down {
			log.FromContext(ctx).Info("Redis does not answer the queue poller; waking its pipelines", "pipelines", len(rw.queues))
			rw.down = true
			for k := range rw.queues {
				wake = append(wake, k)
			}
		}
	} else {
		recovered := rw.down
		rw.down = false
		for i, k := range keys {
			q := rw.queues[k]
			if q == nil || q.name != names[i] {
				continue // forgotten or moved meanwhile
			}
			// A depth the last reconcile did not see (it changed, or that
			// reconcile could not read the queue) is news for the pipeline.
			if recovered || !q.known || q.depth != depths[i] {
				wake = append(wake, k)
				q.depth, q.known = depths[i], true
			}
		}
	}
	w.mu.Unlock()
	// The outage clock is shared with reconciles; it is kept outside the
	// watcher's lock.
	if err != nil {
		w.pool.failed(url, time.Now())
		w.pool.drop(url)
	} else {
		w.pool.answered(url)
	}
	for _, k := range wake {
		select {
		case w.events <- event.GenericEvent{Object: &syncv1alpha1.SyncPipeline{ObjectMeta: metav1.ObjectMeta{Namespace: k.Namespace, Name: k.Name}}}:
		case <-ctx.Done():
			return
		}
	}
}

// read asks Redis for the depth of each queue, pipelined: five commands a
// queue, one round trip in all.
func (w *queueWatcher) read(ctx context.Context, url string, queues []string) ([]queueDepth, error) {
	conn, err := w.pool.get(ctx, url)
	if err != nil {
		return nil, err
	}
	pipe := conn.rdb.Pipeline()
	cmds := make([][5]*redis.IntCmd, len(queues))
	for i, q := range queues {
		cmds[i] = [5]*redis.IntCmd{
			pipe.LLen(ctx, queue.AsynqKey(q, "pending")),
			pipe.LLen(ctx, queue.AsynqKey(q, "active")),
			pipe.ZCard(ctx, queue.AsynqKey(q, "scheduled")),
			pipe.ZCard(ctx, queue.AsynqKey(q, "retry")),
			pipe.ZCard(ctx, queue.AsynqKey(q, "archived")),
		}
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, err
	}
	out := make([]queueDepth, len(queues))
	for i, c := range cmds {
		out[i] = queueDepth{Pending: c[0].Val(), Active: c[1].Val(), Scheduled: c[2].Val(), Retry: c[3].Val(), Dead: c[4].Val()}
	}
	return out, nil
}
