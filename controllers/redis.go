package controllers

import (
	"context"
	"crypto/sha256"
	"errors"
	"sync"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"k8s.io/apimachinery/pkg/types"

	"github.com/sisporta/sisporta/runner/queue"
	"github.com/sisporta/sisporta/runner/redact"
	"github.com/sisporta/sisporta/runner/runstate"
)

// redisConn is one Redis a pipeline's queue lives in.
type redisConn struct {
	rdb       redis.UniversalClient
	inspector *asynq.Inspector
	runs      *runstate.Store
	addr      string
	lastUsed  time.Time
}

// redisPool shares one client per Redis URL across pipelines and
// reconciles. URLs are keyed by their hash and kept in memory only.
type redisPool struct {
	mu    sync.Mutex
	conns map[[32]byte]*redisConn
	// urls remembers each pipeline's last Redis URL so that a deleted
	// pipeline's queue can still be purged when its Secret went first (as
	// when a whole namespace is deleted).
	urls map[types.NamespacedName]string
	// downSince is when each Redis stopped answering, for as long as it
	// does not: reconciles and the queue poller both report to it, so an
	// outage is timed from whoever saw it first.
	downSince map[[32]byte]time.Time
}

const redisIdleClose = 30 * time.Minute

func newRedisPool() *redisPool {
	return &redisPool{conns: map[[32]byte]*redisConn{}, urls: map[types.NamespacedName]string{}, downSince: map[[32]byte]time.Time{}}
}

// failed records that a Redis did not answer at now and returns since when
// it has not.
func (p *redisPool) failed(url string, now time.Time) time.Time {
	key := sha256.Sum256([]byte(url))
	p.mu.Lock()
	defer p.mu.Unlock()
	since, ok := p.downSince[key]
	if !ok || now.Before(since) {
		p.downSince[key] = now
		return now
	}
	return since
}

// answered records that a Redis answered: any outage is over. It reports
// whether one was.
func (p *redisPool) answered(url string) bool {
	key := sha256.Sum256([]byte(url))
	p.mu.Lock()
	defer p.mu.Unlock()
	_, was := p.downSince[key]
	delete(p.downSince, key)
	return was
}

// get returns a client for the URL, connecting (and pinging) on first use.
// Errors are redacted: they never contain the URL's password.
func (p *redisPool) get(ctx context.Context, url string) (*redisConn, error) {
	key := sha256.Sum256([]byte(url))
	now := time.Now()
	p.mu.Lock()
	c := p.conns[key]
	if c != nil {
		c.lastUsed = now
	}
	p.closeIdleLocked(now)
	p.mu.Unlock()
	if c != nil {
		return c, nil
	}
	rdb, opt, err := queue.Connect(ctx, url)
	if err != nil {
		return nil, redact.Err(err, url)
	}
	c = &redisConn{rdb: rdb, inspector: asynq.NewInspectorFromRedisClient(rdb), runs: runstate.NewStore(rdb), addr: queue.RedisAddr(opt), lastUsed: now}
	p.mu.Lock()
	defer p.mu.Unlock()
	if old := p.conns[key]; old != nil { // another reconcile connected meanwhile
		_ = rdb.Close()
		return old, nil
	}
	p.conns[key] = c
	return c, nil
}

// drop closes the client of a URL after an error, so the next reconcile
// connects afresh.
func (p *redisPool) drop(url string) {
	key := sha256.Sum256([]byte(url))
	p.mu.Lock()
	defer p.mu.Unlock()
	if c := p.conns[key]; c != nil {
		_ = c.rdb.Close()
		delete(p.conns, key)
	}
}

func (p *redisPool) closeIdleLocked(now time.Time) {
	for k, c := range p.conns {
		if now.Sub(c.lastUsed) > redisIdleClose {
			_ = c.rdb.Close()
			delete(p.conns, k)
		}
	}
}

func (p *redisPool) closeAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for k, c := range p.conns {
		_ = c.rdb.Close()
		delete(p.conns, k)
	}
}

func (p *redisPool) remember(pipeline types.NamespacedName, url string) {
	p.mu.Lock()
	p.urls[pipeline] = url
	p.mu.Unlock()
}

func (p *redisPool) remembered(pipeline types.NamespacedName) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.urls[pipeline]
}

func (p *redisPool) forgetPipeline(pipeline types.NamespacedName) {
	p.mu.Lock()
	delete(p.urls, pipeline)
	p.mu.Unlock()
}

// checkRedisURL parses a Redis URL as queue.Connect will (user names
// included); the error never repeats the URL, and is only the reason: the
// callers say what a Redis URL looks like.
func checkRedisURL(url string) error {
	if url == "" {
		return errEmptyRedisURL
	}
	_, err := queue.ParseRedisURL(url)
	if ue := (*queue.RedisURLError)(nil); errors.As(err, &ue) {
		return errors.New(ue.Reason)
	}
	return redact.Err(err, url)
}

type constError string

func (e constError) Error() string { return string(e) }

const errEmptyRedisURL = constError("it is empty")
