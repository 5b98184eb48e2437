package cmd

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	syncv1alpha1 "github.com/sisporta/sisporta/api/v1alpha1"
	"github.com/sisporta/sisporta/runner/queue"
	"github.com/sisporta/sisporta/runner/runstate"
	"github.com/sisporta/sisporta/test/testenv"
)

var env *testenv.Env

func TestMain(m *testing.M) {
	// Several tests start the manager in this one process.
	skipControllerNameValidation = true
	os.Exit(testenv.Main(m, &env))
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// TestManagerStartsAndServesProbes runs `sisporta manager` against a real
// kube-apiserver found through KUBECONFIG, as `make run` does.
func TestManagerStartsAndServesProbes(t *testing.T) {
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(kubeconfig, env.KubeConfig(), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("KUBECONFIG", kubeconfig)
	probe, metrics := freePort(t), freePort(t)

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		root := newRootCommand()
		root.SetArgs([]string{"manager",
			fmt.Sprintf("--health-probe-bind-address=127.0.0.1:%d", probe),
			fmt.Sprintf("--metrics-bind-address=127.0.0.1:%d", metrics),
			"--leader-elect", "--leader-election-namespace=default"})
		done <- root.ExecuteContext(ctx)
	}()

	for _, path := range []string{fmt.Sprintf("http://127.0.0.1:%d/healthz", probe), fmt.Sprintf("http://127.0.0.1:%d/readyz", probe), fmt.Sprintf("http://127.0.0.1:%d/metrics", metrics)} {
		if err := waitHTTP200(path, 30*time.Second); err != nil {
			cancel()
			t.Fatalf("%s: %v (manager: %v)", path, err, drain(done))
		}
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("manager returned an error on a clean stop: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("manager did not stop within 30s of its context ending")
	}
}

func TestManagerWithoutClusterSaysWhatIsMissing(t *testing.T) {
	t.Setenv("KUBECONFIG", filepath.Join(t.TempDir(), "missing"))
	t.Setenv("KUBERNETES_SERVICE_HOST", "")
	root := newRootCommand()
	root.SetArgs([]string{"manager", "--health-probe-bind-address=0", "--metrics-bind-address=0"})
	err := root.ExecuteContext(context.Background())
	if err == nil {
		t.Fatal("manager started without a cluster")
	}
	t.Log(err)
}

func TestManagerRefusesABadDefaultRedisURLWithoutShowingIt(t *testing.T) {
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(kubeconfig, env.KubeConfig(), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("KUBECONFIG", kubeconfig)
	t.Setenv("SISPORTA_DEFAULT_REDIS_URL", "rediz://:S3cret-pw@redis:6379/0")
	root := newRootCommand()
	root.SetArgs([]string{"manager", "--health-probe-bind-address=0", "--metrics-bind-address=0"})
	err := root.ExecuteContext(context.Background())
	if err == nil || !strings.Contains(err.Error(), "SISPORTA_DEFAULT_REDIS_URL") {
		t.Fatalf("got %v, want an error naming the setting", err)
	}
	if strings.Contains(err.Error(), "S3cret-pw") {
		t.Errorf("the error shows the password: %v", err)
	}
	t.Log(err)
}

func drain(ch <-chan error) error {
	select {
	case err := <-ch:
		return err
	default:
		return nil
	}
}

func waitHTTP200(url string, within time.Duration) error {
	deadline := time.Now().Add(within)
	var last error
	for time.Now().Before(deadline) {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("status %d", resp.StatusCode)
		}
		last = err
		time.Sleep(200 * time.Millisecond)
	}
	return last
}

// TestManagerReconcilesAPipeline runs `sisporta manager` as `make run`
// does, with a SyncPipeline and its Secrets applied: the extractor CronJob
// and worker Deployment appear with the runner image, and the pipeline
// becomes Ready with the default Redis.
func TestManagerReconcilesAPipeline(t *testing.T) {
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(kubeconfig, env.KubeConfig(), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("KUBECONFIG", kubeconfig)
	t.Setenv("SISPORTA_DEFAULT_REDIS_URL", testenv.RedisURL())
	t.Setenv("SISPORTA_RUNNER_IMAGE", "registry.example/sisporta:from-env")
	ns := fmt.Sprintf("manager-e2e-%d", time.Now().UnixNano()%1e6) // a namespace of this run's own

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		root := newRootCommand()
		root.SetArgs([]string{"manager", "--health-probe-bind-address=0", "--metrics-bind-address=0", "--namespace=" + ns,
			"--queue-poll-interval=1s", "--max-concurrent-reconciles=2", "--kube-api-qps=50", "--kube-api-burst=100", "--redis-outage-grace-period=30s"})
		done <- root.ExecuteContext(ctx)
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("manager: %v", err)
		}
	}()

	c := env.Client
	for _, o := range []client.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "erp-readonly"}, StringData: map[string]string{"dsn": "sqlserver://ro:pw@erp:1433?database=ERP"}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "quotes-db"}, StringData: map[string]string{"dsn": "u:pw@tcp(db:3306)/quotes"}},
	} {
		if err := c.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	p := &syncv1alpha1.SyncPipeline{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "erp-to-quotes"},
		Spec: syncv1alpha1.SyncPipelineSpec{
			Schedule: "*/15 * * * *",
			Source:   syncv1alpha1.SourceSpec{Driver: syncv1alpha1.SourceSQLServer, DSNSecretRef: syncv1alpha1.SecretKeySelector{Name: "erp-readonly", Key: "dsn"}},
			Target:   syncv1alpha1.TargetSpec{DSNSecretRef: syncv1alpha1.SecretKeySelector{Name: "quotes-db", Key: "dsn"}},
			Entities: []syncv1alpha1.EntitySpec{{Name: "products", Source: syncv1alpha1.EntitySource{Table: "dbo.Produtos"}, Target: syncv1alpha1.EntityTarget{Table: "products"}}},
		},
	}
	if err := c.Create(ctx, p); err != nil {
		t.Fatal(err)
	}

	deadline := time.Now().Add(60 * time.Second)
	var last string
	for {
		cj := &batchv1.CronJob{}
		d := &appsv1.Deployment{}
		got := &syncv1alpha1.SyncPipeline{}
		errCJ := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: "erp-to-quotes-extract"}, cj)
		errD := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: "erp-to-quotes-worker"}, d)
		errP := c.Get(ctx, client.ObjectKeyFromObject(p), got)
		ready := meta.FindStatusCondition(got.Status.Conditions, syncv1alpha1.ConditionReady)
		if errCJ == nil && errD == nil && errP == nil && ready != nil && ready.Status == metav1.ConditionTrue {
			if img := cj.Spec.JobTemplate.Spec.Template.Spec.Containers[0].Image; img != "registry.example/sisporta:from-env" {
				t.Errorf("extractor image %q, want SISPORTA_RUNNER_IMAGE", img)
			}
			break
		}
		last = fmt.Sprintf("cronjob: %v, deployment: %v, pipeline: %v, ready: %+v", errCJ, errD, errP, ready)
		if time.Now().After(deadline) {
			t.Fatalf("the manager did not reconcile the pipeline within 60s: %s", last)
		}
		time.Sleep(200 * time.Millisecond)
	}

	// --queue-poll-interval reaches the poller: tasks put by hand on the
	// idle queue scale the workers within about a second.
	rdb, _, err := queue.Connect(ctx, testenv.RedisURL())
	if err != nil {
		t.Fatal(err)
	}
	defer rdb.Close()
	q := queue.Name(ns, "erp-to-quotes")
	defer func() {
		_ = asynq.NewInspectorFromRedisClient(rdb).DeleteQueue(q, true)
		_ = runstate.NewStore(rdb).Purge(context.Background(), q)
	}()
	time.Sleep(2 * time.Second) // past the reconciles of the pipeline's creation
	start := time.Now()
	if _, err := asynq.NewClientFromRedisClient(rdb).Enqueue(asynq.NewTask("test:batch", nil), asynq.Queue(q), asynq.MaxRetry(0)); err != nil {
		t.Fatal(err)
	}
	for {
		d := &appsv1.Deployment{}
		if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: "erp-to-quotes-worker"}, d); err != nil {
			t.Fatal(err)
		}
		if ptr.Deref(d.Spec.Replicas, 0) == 1 {
			t.Logf("one task on the idle queue: a worker asked for %s later", time.Since(start).Round(10*time.Millisecond))
			return
		}
		if time.Since(start) > 10*time.Second {
			t.Fatalf("no worker 10s after a task reached the idle queue, with --queue-poll-interval=1s")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestManagerRefusesBadScaleSettings(t *testing.T) {
	for _, tc := range []struct{ arg, want string }{
		{"--max-concurrent-reconciles=0", "--max-concurrent-reconciles must be at least 1"},
		{"--queue-poll-interval=100ms", "--queue-poll-interval must be at least 1s"},
		{"--redis-outage-grace-period=-1s", "--redis-outage-grace-period must not be negative"},
		{"--kube-api-burst=0", "--kube-api-burst must be at least 1"},
	} {
		root := newRootCommand()
		root.SetArgs([]string{"manager", "--health-probe-bind-address=0", "--metrics-bind-address=0", tc.arg})
		err := root.ExecuteContext(context.Background())
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want %q", tc.arg, err, tc.want)
		}
	}
}

func TestManagerRateLimit(t *testing.T) {
	for _, tc := range []struct {
		qps       float32
		burst     int
		wantQPS   float32
		wantBurst int
	}{
		{200, 400, 200, 400},
		{0, 400, -1, 0}, // no client-side limit, as controller-runtime's default
		{-5, 1, -1, 0},
	} {
		c := &rest.Config{}
		(&managerOptions{kubeAPIQPS: tc.qps, kubeAPIBurst: tc.burst}).rateLimit(c)
		if c.QPS != tc.wantQPS || c.Burst != tc.wantBurst {
			t.Errorf("qps %v burst %d: config %v/%d, want %v/%d", tc.qps, tc.burst, c.QPS, c.Burst, tc.wantQPS, tc.wantBurst)
		}
	}
}
