package controllers

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	syncv1alpha1 "github.com/sisporta/sisporta/api/v1alpha1"
	"github.com/sisporta/sisporta/runner/queue"
	"github.com/sisporta/sisporta/test/testenv"
)

// TestQueuePollerReadsAsynqsCounts holds the keys the poller reads to
// asynq's own counts, state by state: asynq's key layout is internal to it.
func TestQueuePollerReadsAsynqsCounts(t *testing.T) {
	rdb, inspector := testRedis(t)
	ns := "poll-" + randomHex()
	cleanupQueue(t, rdb, ns, "erp")
	q := queue.Name(ns, "erp")
	c := asynq.NewClientFromRedisClient(rdb)
	enqueue(t, rdb, ns, "erp", 5)
	for i := range 3 {
		if _, err := c.Enqueue(asynq.NewTask("test:later", []byte(fmt.Sprint(i))), asynq.Queue(q), asynq.ProcessIn(time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := inspector.ArchiveAllScheduledTasks(q); err != nil { // 3 dead
		t.Fatal(err)
	}
	for i := range 2 {
		if _, err := c.Enqueue(asynq.NewTask("test:later", []byte(fmt.Sprint(i))), asynq.Queue(q), asynq.ProcessIn(time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	w := newQueueWatcher(time.Second, newRedisPool())
	got, err := w.read(context.Background(), redisURL, []string{q, queue.Name(ns, "none")})
	if err != nil {
		t.Fatal(err)
	}
	info, err := inspector.GetQueueInfo(q)
	if err != nil {
		t.Fatal(err)
	}
	want := queueDepth{Pending: int64(info.Pending), Active: int64(info.Active), Scheduled: int64(info.Scheduled), Retry: int64(info.Retry), Dead: int64(info.Archived)}
	if got[0] != want || want != (queueDepth{Pending: 5, Scheduled: 2, Dead: 3}) {
		t.Errorf("poller read %+v, asynq says %+v, want 5 pending, 2 scheduled, 3 dead", got[0], want)
	}
	if got[1] != (queueDepth{}) {
		t.Errorf("a queue that does not exist: %+v, want all zero", got[1])
	}
}

// TestQueuePollerWakesOnlyPipelinesWhoseDepthChanged: many queues in one
// Redis, one round trip a poll, one wake for the one that changed.
func TestQueuePollerWakesOnlyPipelinesWhoseDepthChanged(t *testing.T) {
	t.Parallel() // long and independent: overlaps the other parallel tests
	rdb, _ := testRedis(t)
	ns := "poll-" + randomHex()
	w := newQueueWatcher(200*time.Millisecond, newRedisPool())
	for i := range 50 {
		name := fmt.Sprintf("p%02d", i)
		cleanupQueue(t, rdb, ns, name)
		w.watch(keyOf(ns, name), redisURL, queue.Name(ns, name), &queueDepth{})
	}
	start := func() (stop func()) {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { _ = w.Start(ctx); close(done) }()
		return func() {
			cancel()
			<-done
			time.Sleep(2 * w.interval) // a poll under way when it stopped ends
		}
	}
	stop := start()
	defer func() { stop() }()

	quiet := func(d time.Duration) {
		t.Helper()
		select {
		case ev := <-w.events:
			t.Fatalf("woke %s/%s though no depth changed", ev.Object.GetNamespace(), ev.Object.GetName())
		case <-time.After(d):
		}
	}
	quiet(time.Second)
	// Three tasks, one at a time: a poll between them wakes p07 again for
	// each depth it had not seen, and only p07.
	enqueue(t, rdb, ns, "p07", 3)
	woken := 0
	for woken == 0 || len(w.events) > 0 {
		select {
		case ev := <-w.events:
			if ev.Object.GetName() != "p07" || ev.Object.GetNamespace() != ns {
				t.Fatalf("woke %s/%s, want %s/p07", ev.Object.GetNamespace(), ev.Object.GetName(), ns)
			}
			woken++
		case <-time.After(5 * time.Second):
			t.Fatal("the pipeline whose queue got tasks was not woken")
		}
		if woken < 3 {
			time.Sleep(2 * w.interval) // a poll that saw fewer tasks is followed by one that sees all
		}
	}
	quiet(time.Second)

	// A reconcile that saw the new depth first leaves nothing to wake for.
	// The poller is stopped meanwhile: a poll that read the queue before
	// the task came and compared after the reconcile would rightly wake it.
	stop()
	select {
	case ev := <-w.events:
		t.Fatalf("woke %s/%s though no depth changed", ev.Object.GetNamespace(), ev.Object.GetName())
	default:
	}
	enqueue(t, rdb, ns, "p08", 1)
	w.watch(keyOf(ns, "p08"), redisURL, queue.Name(ns, "p08"), &queueDepth{Pending: 1})
	stop = start()
	quiet(time.Second)

	// A forgotten pipeline is not polled any more.
	w.forget(keyOf(ns, "p09"))
	enqueue(t, rdb, ns, "p09", 1)
	quiet(time.Second)
}

// TestQueuePollerWakesEveryPipelineWhenItsRedisStopsAndReturns: their
// status must say Redis is unreachable, then that it is back.
func TestQueuePollerWakesEveryPipelineWhenItsRedisStopsAndReturns(t *testing.T) {
	t.Parallel() // long and independent: overlaps the other parallel tests
	proxy := redisProxy(t)
	pool := newRedisPool()
	w := newQueueWatcher(200*time.Millisecond, pool)
	ns := "poll-" + randomHex()
	rdb, _ := testRedis(t)
	for _, name := range []string{"a", "b"} {
		cleanupQueue(t, rdb, ns, name)
		w.watch(keyOf(ns, name), proxiedURL(proxy), queue.Name(ns, name), &queueDepth{})
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = w.Start(ctx) }()

	woken := func(what string) {
		t.Helper()
		got := map[string]bool{}
		deadline := time.After(10 * time.Second)
		for len(got) < 2 {
			select {
			case ev := <-w.events:
				got[ev.Object.GetName()] = true
			case <-deadline:
				t.Fatalf("%s: woke %v, want a and b", what, got)
			}
		}
	}
	proxy.Down()
	woken("Redis stopped")
	if _, down := pool.downSince[sha(proxiedURL(proxy))]; !down {
		t.Error("the outage is not recorded for reconciles to time it")
	}
	proxy.Up(t)
	woken("Redis back")
	if _, down := pool.downSince[sha(proxiedURL(proxy))]; down {
		t.Error("the outage is still recorded after Redis answered")
	}
}

// TestTasksPutOnAnIdleQueueByHandScaleTheWorkers: nothing in Kubernetes
// changes when tasks reach the queue of an idle pipeline (`sisporta dlq
// retry`, a batch re-queued by hand); the queue poller notices within its
// interval. The suite's idle requeue is an hour, so nothing else would.
func TestTasksPutOnAnIdleQueueByHandScaleTheWorkers(t *testing.T) {
	ns := newNamespace(t)
	createDSNSecrets(t, ns)
	rdb, _ := testRedis(t)
	cleanupQueue(t, rdb, ns, "erp")
	createPipeline(t, newPipeline(ns, "erp"))
	waitCondition(t, ns, "erp", syncv1alpha1.ConditionReady, "True", syncv1alpha1.ReasonAwaitingFirstRun)
	waitCondition(t, ns, "erp", syncv1alpha1.ConditionProgressing, "False", syncv1alpha1.ReasonIdle)
	waitReplicas(t, ns, 0)
	settle(t, ns, "erp")

	start := time.Now()
	enqueue(t, rdb, ns, "erp", 350)
	waitReplicas(t, ns, 4) // ceil(350 / 50) = 7, capped at maxReplicas 4
	took := time.Since(start)
	t.Logf("workers scaled 0 -> 4 %s after 350 tasks were put on the idle queue (poll interval %s)", took.Round(10*time.Millisecond), suitePollInterval)
	if limit := suitePollInterval + 5*time.Second; took > limit {
		t.Errorf("workers scaled %s after the tasks arrived, want within the poll interval %s and a few seconds", took, suitePollInterval)
	}
	// The poller may look while the tasks are still being put (140 of
	// 350 on a loaded machine) and scale in two steps, 0 to 3 then 3 to 4:
	// the last step is the one to see.
	waitEvent(t, ns, "erp", syncv1alpha1.EventScaled, " to 4:")
}

// TestRedisStopShorterThanTheGraceKeepsReady stops the pipeline's Redis
// (a proxy in front of the real one, taken down) for 20 seconds, under the
// default grace period of 60: Degraded says RedisUnreachable meanwhile,
// Ready stays True throughout, and both recover when Redis is back.
func TestRedisStopShorterThanTheGraceKeepsReady(t *testing.T) {
	t.Parallel()
	ns := newNamespace(t)
	createDSNSecrets(t, ns)
	proxy := redisProxy(t)
	rdb, _ := testRedis(t)
	cleanupQueue(t, rdb, ns, "erp")
	createSecret(t, ns, "redis", map[string]string{"url": proxiedURL(proxy)})
	createPipeline(t, newPipeline(ns, "erp", func(p *syncv1alpha1.SyncPipeline) {
		p.Spec.Queue.RedisSecretRef = &syncv1alpha1.SecretKeySelector{Name: "redis", Key: "url"}
	}))
	ready := waitCondition(t, ns, "erp", syncv1alpha1.ConditionReady, "True", syncv1alpha1.ReasonAwaitingFirstRun)
	readySince := findCondition(ready, syncv1alpha1.ConditionReady).LastTransitionTime
	settle(t, ns, "erp")

	proxy.Down()
	stopped := time.Now()
	var degradedAfter time.Duration
	for time.Since(stopped) < 20*time.Second {
		p := getPipeline(t, ns, "erp")
		r := findCondition(p, syncv1alpha1.ConditionReady)
		if r.Status != metav1.ConditionTrue || r.Reason != syncv1alpha1.ReasonAwaitingFirstRun || !r.LastTransitionTime.Equal(&readySince) {
			t.Fatalf("%s into a Redis stop shorter than the grace period, Ready is %s/%s (%s)", time.Since(stopped).Round(time.Second), r.Status, r.Reason, r.Message)
		}
		if d := findCondition(p, syncv1alpha1.ConditionDegraded); degradedAfter == 0 && d.Status == metav1.ConditionTrue {
			if d.Reason != syncv1alpha1.ReasonRedisUnreachable || !strings.Contains(d.Message, "Ready keeps its last value") {
				t.Fatalf("Degraded %s: %s", d.Reason, d.Message)
			}
			degradedAfter = time.Since(stopped)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if degradedAfter == 0 {
		t.Fatal("Degraded never said Redis was unreachable during a 20s stop")
	}
	t.Logf("Degraded=True (RedisUnreachable) %s into the stop; Ready stayed True for its 20s", degradedAfter.Round(100*time.Millisecond))
	waitEvent(t, ns, "erp", syncv1alpha1.ReasonRedisUnreachable, "Ready keeps its last value")

	proxy.Up(t)
	p := waitCondition(t, ns, "erp", syncv1alpha1.ConditionDegraded, "False", syncv1alpha1.ReasonNoProblems)
	if r := findCondition(p, syncv1alpha1.ConditionReady); r.Status != metav1.ConditionTrue || !r.LastTransitionTime.Equal(&readySince) {
		t.Errorf("after Redis came back, Ready %s since %s, want True since %s", r.Status, r.LastTransitionTime, readySince)
	}
	waitEvent(t, ns, "erp", syncv1alpha1.EventRecovered, "no known problem")
}

// TestRedisOutageLongerThanTheGraceSetsReadyFalse runs the queue step and
// the conditions against a Redis that refuses connections, with the outage
// clock set back: within the grace period Ready keeps its value and a look
// is planned for when it ends; past it, Ready=False. A pipeline without a
// Ready to keep gets Ready=False at once.
func TestRedisOutageLongerThanTheGraceSetsReadyFalse(t *testing.T) {
	t.Parallel() // long and independent: overlaps the other parallel tests
	const grace = time.Minute
	now := time.Now()
	synced := metav1.Condition{Type: syncv1alpha1.ConditionReady, Status: metav1.ConditionTrue, Reason: syncv1alpha1.ReasonSynced, Message: "the last complete run succeeded (run 7)", LastTransitionTime: metav1.NewTime(now.Add(-time.Hour))}
	for _, tc := range []struct {
		name       string
		outage     time.Duration
		previous   *metav1.Condition
		wantStatus metav1.ConditionStatus
		wantReason string
		recheck    time.Duration
	}{
		{"20s into an outage", 20 * time.Second, &synced, metav1.ConditionTrue, syncv1alpha1.ReasonSynced, 40 * time.Second},
		{"61s into an outage", 61 * time.Second, &synced, metav1.ConditionFalse, syncv1alpha1.ReasonRedisUnreachable, 0},
		{"a new pipeline", 0, nil, metav1.ConditionFalse, syncv1alpha1.ReasonRedisUnreachable, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := &Reconciler{Options: Options{RedisOutageGrace: grace}, redis: newRedisPool(), queues: newQueueWatcher(time.Second, newRedisPool())}
			r.redis.failed(badRedisURL, now.Add(-tc.outage))
			p := newPipeline("ns", "erp")
			p.Generation = 2
			if tc.previous != nil {
				c := *tc.previous
				c.ObservedGeneration = 1
				p.Status.Conditions = []metav1.Condition{c}
			}
			st := newPipelineState(p, now)
			st.redisURL = badRedisURL
			r.observeQueue(context.Background(), st)
			setConditions(st)
			ready := meta.FindStatusCondition(st.status.Conditions, syncv1alpha1.ConditionReady)
			if ready.Status != tc.wantStatus || ready.Reason != tc.wantReason || ready.ObservedGeneration != 2 {
				t.Errorf("Ready %s/%s at generation %d (%s), want %s/%s at 2", ready.Status, ready.Reason, ready.ObservedGeneration, ready.Message, tc.wantStatus, tc.wantReason)
			}
			if tc.previous != nil && ready.Status == tc.previous.Status && !ready.LastTransitionTime.Equal(&tc.previous.LastTransitionTime) {
				t.Errorf("Ready's lastTransitionTime moved to %s", ready.LastTransitionTime)
			}
			degraded := meta.FindStatusCondition(st.status.Conditions, syncv1alpha1.ConditionDegraded)
			if degraded.Status != metav1.ConditionTrue || degraded.Reason != syncv1alpha1.ReasonRedisUnreachable || !strings.Contains(degraded.Message, "127.0.0.1:1") {
				t.Errorf("Degraded %s/%s: %s", degraded.Status, degraded.Reason, degraded.Message)
			}
			if tc.recheck > 0 && (st.requeueAfter <= 0 || st.requeueAfter > tc.recheck) {
				t.Errorf("next look in %s, want by the end of the grace period (%s)", st.requeueAfter, tc.recheck)
			}
		})
	}
}

const suitePollInterval = time.Second

// settle waits until the operator has stopped looking at a pipeline after
// creating it: what follows is what the test itself causes.
func settle(t *testing.T, ns, name string) {
	t.Helper()
	eventually(t, "no more reconciles of "+name, func() error {
		n := reconcileCount(ns, name)
		time.Sleep(1500 * time.Millisecond)
		if m := reconcileCount(ns, name); m != n {
			return errorf("%d reconciles in 1.5s", m-n)
		}
		return nil
	})
}

// redisProxy is a proxy to the test Redis that can be taken down and up:
// a Redis stop without stopping the Redis other tests share.
func redisProxy(t *testing.T) *testenv.Proxy {
	t.Helper()
	u, err := url.Parse(redisURL)
	if err != nil {
		t.Fatal(err)
	}
	p := testenv.NewProxy(t, u.Host)
	p.Up(t)
	return p
}

func proxiedURL(p *testenv.Proxy) string {
	u, _ := url.Parse(redisURL)
	u.Host = p.Addr
	return u.String()
}

func sha(s string) [32]byte { return sha256.Sum256([]byte(s)) }

func randomHex() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
