package controllers

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/sisporta/sisporta/test/testenv"
)

// The tests run the reconciler in a real manager against a real
// kube-apiserver (envtest) and a real Redis. Each test works in its own
// namespace, so the pipeline's asynq queue (sisporta.<ns>.<name>) is its own.

var (
	env *testenv.Env
	// managerLogs holds every log line of the manager, to prove no secret
	// value is ever logged.
	managerLogs = &syncBuffer{}
	redisURL    = testenv.RedisURL()
)

const testRunnerImage = "registry.example/sisporta:test"

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	e, err := testenv.Start()
	if err != nil {
		fmt.Fprintln(os.Stderr, "testenv:", err)
		return 1
	}
	env = e
	defer func() {
		if err := e.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "testenv: stop:", err)
		}
	}()
	stop, err := startManager()
	if err != nil {
		fmt.Fprintln(os.Stderr, "manager:", err)
		return 1
	}
	code := m.Run()
	stop()
	// The last word on secrets: no line any test made the manager log holds
	// a secret value.
	if leaks := secretsIn(managerLogs.String()); len(leaks) > 0 {
		fmt.Fprintf(os.Stderr, "FAIL: the manager logged secret values: %v\n", leaks)
		return 1
	}
	if os.Getenv("SISPORTA_TEST_LOGS") != "" {
		fmt.Fprint(os.Stderr, managerLogs.String())
	}
	return code
}

// reconcileCounts counts finished reconciles per pipeline.
var reconcileCounts = struct {
	sync.Mutex
	n map[types.NamespacedName]int
}{n: map[types.NamespacedName]int{}}

func reconcileCount(ns, name string) int {
	reconcileCounts.Lock()
	defer reconcileCounts.Unlock()
	return reconcileCounts.n[types.NamespacedName{Namespace: ns, Name: name}]
}

// suiteReconciler is the reconciler the suite's manager runs.
var suiteReconciler *Reconciler

func startManager() (stop func(), err error) {
	setUp = func(r *Reconciler) { suiteReconciler = r }
	reconciled = func(key types.NamespacedName) {
		reconcileCounts.Lock()
		reconcileCounts.n[key]++
		reconcileCounts.Unlock()
	}
	logger := zap.New(zap.WriteTo(managerLogs), zap.UseDevMode(true))
	ctrl.SetLogger(logger)
	opts := ctrl.Options{
		Scheme:                 env.Scheme,
		Logger:                 logger,
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
	}
	ConfigureCache(&opts.Cache)
	mgr, err := ctrl.NewManager(env.Config, opts)
	if err != nil {
		return nil, err
	}
	// Nothing looks at an idle pipeline but what is watched and the queue
	// poller: a test that passes only because of a periodic look fails.
	// The outage grace period is the default.
	if err := SetupWithManager(mgr, Options{
		RunnerImage:       testRunnerImage,
		DefaultRedisURL:   redisURL,
		BusyRequeue:       300 * time.Millisecond,
		IdleRequeue:       time.Hour,
		QueuePollInterval: suitePollInterval,
		FinalizerTimeout:  30 * time.Second,
	}); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	return func() {
		cancel()
		if err := <-done; err != nil {
			fmt.Fprintln(os.Stderr, "manager stopped:", err)
		}
	}, nil
}

// syncBuffer is a goroutine-safe log sink.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// secretsIn returns the secret values (or their passwords) found in s.
func secretsIn(s string) []string {
	var found []string
	for _, secret := range secretValues {
		if strings.Contains(s, secret) {
			found = append(found, secret)
		}
	}
	return found
}
