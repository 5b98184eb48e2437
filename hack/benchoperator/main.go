// Command benchoperator measures the Sisporta operator at scale on this
// machine: the real manager binary (a process of its own) against a real
// kube-apiserver (envtest) and a real Redis, with N SyncPipelines applied
// before it starts. It prints
//
//   - the time from the manager's start until every pipeline is Ready with
//     status.observedGeneration (and Ready's) equal to its generation;
//   - the objects the manager writes, and the CPU it uses, in the quiet
//     minute that follows (writes come from the API server's audit log,
//     which also says which objects they were);
//   - the manager's peak RSS;
//   - the scale-up latency of one idle pipeline: tasks put on its queue by
//     hand (as `sisporta dlq retry` would) until its worker Deployment asks
//     for workers;
//   - the same start measured again after a restart of the manager, with
//     every owned object already in place.
//
// make bench-operator builds bin/sisporta and runs it:
//
//	go run ./hack/benchoperator -pipelines 1000
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	syncv1alpha1 "github.com/sisporta/sisporta/api/v1alpha1"
	"github.com/sisporta/sisporta/runner/queue"
	"github.com/sisporta/sisporta/runner/runstate"
	"github.com/sisporta/sisporta/test/testenv"
)

var (
	pipelines   = flag.Int("pipelines", 1000, "SyncPipelines applied before the manager starts")
	namespaces  = flag.Int("namespaces", 50, "namespaces the pipelines are spread over")
	managerBin  = flag.String("manager", "bin/sisporta", "the sisporta binary whose manager is measured")
	managerArgs = flag.String("args", "", "extra arguments of `sisporta manager`, space-separated")
	redisURL    = flag.String("redis", testenv.RedisURL(), "Redis the pipelines' queues live in (the manager's default Redis)")
	quiet       = flag.Duration("quiet", time.Minute, "length of the quiet window measured after every pipeline is Ready")
	readyWithin = flag.Duration("ready-timeout", 10*time.Minute, "give up when the pipelines are not all Ready by then")
	scaleTasks  = flag.Int("scale-tasks", 350, "tasks put by hand on an idle pipeline's queue for the scale-up measurement")
	restart     = flag.Bool("restart", true, "measure a restart of the manager too")
	leaderElect = flag.Bool("leader-elect", true, "run the manager with --leader-elect, as the chart does (its Lease renewals are counted apart)")
	schedule    = flag.String("schedule", "", "the pipelines' schedule (default: daily, twelve hours from now, so that no run is due while the bench measures)")
	deployCtrl  = flag.Bool("deployment-controller", true, "play kube-controller-manager's Deployment controller (envtest has none): worker Deployments report themselves rolled out")
	logPath     = flag.String("log", "", "write the manager's log here (default: a temporary file, named at the end)")
)

const managerUser = "sisporta-bench-manager"

// Goals of issue 12 on a 2-core machine.
const (
	goalReady   = 20 * time.Second
	goalWrites  = 0
	goalCPU     = 3 * time.Second
	goalRSS     = 150 << 20
	goalScaleUp = 35 * time.Second
)

func main() {
	flag.Parse()
	ctrllog.SetLogger(logr.Discard()) // the bench's own informers have nothing to say
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "bench-operator:", err)
		os.Exit(1)
	}
}

type bench struct {
	env     *envtest.Environment
	admin   client.Client
	cache   cache.Cache
	rdb     redis.UniversalClient
	tmp     string
	audit   string
	kubecfg string
	prefix  string
	nss     []string
	names   []client.ObjectKey
	log     *os.File
}

func run() error {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	b := &bench{}
	defer b.cleanup()
	if err := b.start(ctx); err != nil {
		return err
	}
	if err := b.apply(ctx); err != nil {
		return err
	}
	fmt.Printf("bench-operator: %d pipelines in %d namespaces, manager %s %s, Redis %s, %d cores\n",
		*pipelines, len(b.nss), *managerBin, *managerArgs, redactURL(*redisURL), numCPU())

	m, err := b.startManager()
	if err != nil {
		return err
	}
	defer m.stop()
	cpu0 := b.cpuByProcess(m)
	ready, err := b.waitAllReady(ctx, m)
	if err != nil {
		return err
	}
	fmt.Printf("start: all %d pipelines Ready with a current observedGeneration %.1f s after the manager started (load average %s)\n", *pipelines, ready.Seconds(), loadAvg())
	b.printStartCost(m, cpu0, m.started, time.Now())

	settle, err := m.waitIdle(ctx, 2*time.Minute)
	if err != nil {
		return err
	}
	fmt.Printf("       (its work queue was empty %.1f s after that)\n", settle.Seconds())
	q, err := b.quietWindow(ctx, m, *quiet)
	if err != nil {
		return err
	}
	q.print(*quiet)

	up, to, err := b.scaleUp(ctx)
	if err != nil {
		return err
	}
	fmt.Printf("scale-up: %d tasks put by hand on the queue of idle pipeline %s: worker Deployment at %d replicas %.1f s later\n", *scaleTasks, b.names[0], to, up.Seconds())
	rss := m.peakRSS()
	fmt.Printf("peak RSS: %.0f MiB\n", float64(rss)/(1<<20))
	m.stop()

	var restartReady time.Duration
	var restartRSS int64
	if *restart {
		if err := b.bumpGenerations(ctx); err != nil {
			return err
		}
		m2, err := b.startManager()
		if err != nil {
			return err
		}
		defer m2.stop()
		cpu0 := b.cpuByProcess(m2)
		restartReady, err = b.waitAllReady(ctx, m2)
		if err != nil {
			return err
		}
		fmt.Printf("restart: all Ready with the new observedGeneration %.1f s after the manager started (load average %s)\n", restartReady.Seconds(), loadAvg())
		b.printStartCost(m2, cpu0, m2.started, time.Now())
		if _, err := m2.waitIdle(ctx, 2*time.Minute); err != nil {
			return err
		}
		restartRSS = m2.peakRSS()
		m2.stop()
		fmt.Printf("         (every owned object in place, each pipeline's spec changed while the manager was down; peak RSS %.0f MiB)\n", float64(restartRSS)/(1<<20))
	}

	fmt.Println()
	fmt.Println("goals (issue 12, 2 cores):")
	check := func(what string, ok bool, got string) {
		mark := "ok  "
		if !ok {
			mark = "MISS"
		}
		fmt.Printf("  %s %-40s %s\n", mark, what, got)
	}
	check("all Ready <= 20 s after start", ready <= goalReady, fmt.Sprintf("%.1f s", ready.Seconds()))
	if *restart {
		check("all Ready <= 20 s after a restart", restartReady <= goalReady, fmt.Sprintf("%.1f s", restartReady.Seconds()))
	}
	check("quiet minute: 0 writes", q.writes() <= goalWrites, fmt.Sprintf("%d", q.writes()))
	check("quiet minute: <= 3 s CPU", q.cpu <= goalCPU, fmt.Sprintf("%.2f s", q.cpu.Seconds()))
	check("peak RSS <= 150 MiB", max(rss, restartRSS) <= goalRSS, fmt.Sprintf("%.0f MiB", float64(max(rss, restartRSS))/(1<<20)))
	check("scale-up <= 35 s", up <= goalScaleUp, fmt.Sprintf("%.1f s", up.Seconds()))
	fmt.Printf("manager log: %s\n", b.log.Name())
	return nil
}

// start runs kube-apiserver with an audit log of the manager's writes.
func (b *bench) start(ctx context.Context) error {
	assets, err := testenv.Assets()
	if err != nil {
		return err
	}
	root, err := testenv.RepoRoot()
	if err != nil {
		return err
	}
	if err := os.Chdir(root); err != nil {
		return err
	}
	b.tmp, err = os.MkdirTemp("", "sisporta-bench-operator-")
	if err != nil {
		return err
	}
	policy := filepath.Join(b.tmp, "audit-policy.yaml")
	if err := os.WriteFile(policy, []byte(`apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
- level: Metadata
  users: [`+managerUser+`]
  verbs: [create, update, patch, delete, deletecollection]
- level: None
`), 0o600); err != nil {
		return err
	}
	b.audit = filepath.Join(b.tmp, "audit.log")
	b.env = &envtest.Environment{
		BinaryAssetsDirectory: assets,
		CRDDirectoryPaths:     []string{filepath.Join(root, "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
	}
	b.env.ControlPlane.GetAPIServer().Configure().
		Set("audit-policy-file", policy).
		Set("audit-log-path", b.audit).
		Set("audit-log-format", "json")
	cfg, err := b.env.Start()
	if err != nil {
		return fmt.Errorf("starting kube-apiserver and etcd: %w", err)
	}
	scheme := testenv.Scheme()
	if b.admin, err = client.New(cfg, client.Options{Scheme: scheme}); err != nil {
		return err
	}
	user, err := b.env.AddUser(envtest.User{Name: managerUser, Groups: []string{"system:masters"}}, cfg)
	if err != nil {
		return err
	}
	kc, err := user.KubeConfig()
	if err != nil {
		return err
	}
	b.kubecfg = filepath.Join(b.tmp, "manager.kubeconfig")
	if err := os.WriteFile(b.kubecfg, kc, 0o600); err != nil {
		return err
	}
	// The bench watches the pipelines through an informer of its own: a
	// list of every pipeline every few hundred milliseconds would load the
	// API server the manager is measured against.
	if b.cache, err = cache.New(cfg, cache.Options{Scheme: scheme}); err != nil {
		return err
	}
	if _, err := b.cache.GetInformer(ctx, &syncv1alpha1.SyncPipeline{}); err != nil {
		return err
	}
	if _, err := b.cache.GetInformer(ctx, &appsv1.Deployment{}); err != nil {
		return err
	}
	if *deployCtrl {
		if err := b.playDeploymentController(ctx); err != nil {
			return err
		}
	}
	go func() { _ = b.cache.Start(ctx) }()
	if !b.cache.WaitForCacheSync(ctx) {
		return errors.New("the bench's informers did not sync")
	}
	rdb, _, err := queue.Connect(ctx, *redisURL)
	if err != nil {
		return fmt.Errorf("Redis: %w", err)
	}
	b.rdb = rdb
	b.prefix = fmt.Sprintf("bench-%d", time.Now().UnixNano()%1e6)
	if *logPath != "" {
		b.log, err = os.Create(*logPath)
	} else {
		b.log, err = os.CreateTemp("", "sisporta-bench-manager-*.log")
	}
	return err
}

// playDeploymentController does what kube-controller-manager's Deployment
// controller would (envtest runs none): it reports each worker Deployment
// of the bench as rolled out at its replica count, pods ready at once.
// Without it every Deployment would look forever in rollout.
func (b *bench) playDeploymentController(ctx context.Context) error {
	inf, err := b.cache.GetInformer(ctx, &appsv1.Deployment{})
	if err != nil {
		return err
	}
	q := workqueue.NewTypedDelayingQueue[client.ObjectKey]()
	enqueue := func(o any) {
		if d, ok := o.(*appsv1.Deployment); ok && strings.HasPrefix(d.Namespace, b.prefix) && !rolledOut(d) {
			q.Add(client.ObjectKeyFromObject(d))
		}
	}
	if _, err := inf.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		AddFunc:    enqueue,
		UpdateFunc: func(_, o any) { enqueue(o) },
	}); err != nil {
		return err
	}
	go func() {
		<-ctx.Done()
		q.ShutDown()
	}()
	for range 4 {
		go func() {
			for {
				key, stop := q.Get()
				if stop {
					return
				}
				d := &appsv1.Deployment{}
				if err := b.cache.Get(ctx, key, d); err == nil && !rolledOut(d) {
					n := ptr.Deref(d.Spec.Replicas, 1)
					d.Status = appsv1.DeploymentStatus{ObservedGeneration: d.Generation, Replicas: n, UpdatedReplicas: n, ReadyReplicas: n, AvailableReplicas: n}
					if err := b.admin.Status().Update(ctx, d); err != nil && ctx.Err() == nil {
						q.AddAfter(key, 100*time.Millisecond)
					}
				}
				q.Done(key)
			}
		}()
	}
	return nil
}

func rolledOut(d *appsv1.Deployment) bool {
	n := ptr.Deref(d.Spec.Replicas, 1)
	return d.Status.ObservedGeneration == d.Generation && d.Status.Replicas == n && d.Status.UpdatedReplicas == n && d.Status.ReadyReplicas == n
}

// apply creates the namespaces, their Secrets and the pipelines, the way a
// GitOps sync would, before any manager runs.
func (b *bench) apply(ctx context.Context) error {
	n := max(1, min(*namespaces, *pipelines))
	for i := range n {
		ns := fmt.Sprintf("%s-%02d", b.prefix, i)
		b.nss = append(b.nss, ns)
		for _, o := range []client.Object{
			&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}},
			&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "erp-readonly"}, StringData: map[string]string{"dsn": "sqlserver://ro:pw@erp:1433?database=ERP"}},
			&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "quotes-db"}, StringData: map[string]string{"dsn": "u:pw@tcp(db:3306)/quotes"}},
		} {
			if err := b.admin.Create(ctx, o); err != nil {
				return err
			}
		}
	}
	for i := range *pipelines {
		b.names = append(b.names, client.ObjectKey{Namespace: b.nss[i%n], Name: fmt.Sprintf("p-%04d", i)})
	}
	start := time.Now()
	err := parallel(8, len(b.names), func(i int) error {
		return b.admin.Create(ctx, pipeline(b.names[i]))
	})
	if err != nil {
		return err
	}
	fmt.Printf("applied %d pipelines in %.1f s\n", len(b.names), time.Since(start).Seconds())
	return nil
}

// pipeline is the README's pipeline. Its daily schedule falls twelve hours
// from now: no run is due while the bench measures (a run starting is not
// quiet), as no CronJob controller would start it anyway.
func pipeline(key client.ObjectKey) *syncv1alpha1.SyncPipeline {
	at := time.Now().UTC().Add(12 * time.Hour)
	sched := fmt.Sprintf("%d %d * * *", at.Minute(), at.Hour())
	if *schedule != "" {
		sched = *schedule
	}
	return &syncv1alpha1.SyncPipeline{
		ObjectMeta: metav1.ObjectMeta{Namespace: key.Namespace, Name: key.Name},
		Spec: syncv1alpha1.SyncPipelineSpec{
			Schedule: sched,
			Source:   syncv1alpha1.SourceSpec{Driver: syncv1alpha1.SourceSQLServer, DSNSecretRef: syncv1alpha1.SecretKeySelector{Name: "erp-readonly", Key: "dsn"}},
			Target:   syncv1alpha1.TargetSpec{Driver: syncv1alpha1.TargetMySQL, DSNSecretRef: syncv1alpha1.SecretKeySelector{Name: "quotes-db", Key: "dsn"}},
			Workers: syncv1alpha1.WorkersSpec{MinReplicas: syncv1alpha1.DefaultMinReplicas, MaxReplicas: syncv1alpha1.DefaultMaxReplicas,
				TargetPendingPerReplica: syncv1alpha1.DefaultTargetPendingPerReplica, ScaleDownStabilizationSeconds: syncv1alpha1.DefaultScaleDownStabilizationSeconds,
				Concurrency: syncv1alpha1.DefaultConcurrency},
			Entities: []syncv1alpha1.EntitySpec{{
				Name:   "products",
				Source: syncv1alpha1.EntitySource{Table: "dbo.Produtos", KeyColumns: []syncv1alpha1.Identifier{"CodProduto"}},
				Target: syncv1alpha1.EntityTarget{Table: "products"},
			}},
		},
	}
}

// bumpGenerations changes every pipeline's spec (its batch size), as a
// GitOps sync while the operator was down would.
func (b *bench) bumpGenerations(ctx context.Context) error {
	return parallel(8, len(b.names), func(i int) error {
		p := &syncv1alpha1.SyncPipeline{}
		if err := b.admin.Get(ctx, b.names[i], p); err != nil {
			return err
		}
		patch := client.MergeFrom(p.DeepCopy())
		p.Spec.BatchSize = 500
		return b.admin.Patch(ctx, p, patch)
	})
}

type manager struct {
	cmd     *exec.Cmd
	started time.Time
	metrics string
	done    chan error
	stopped atomic.Bool
}

func (b *bench) startManager() (*manager, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	args := []string{"manager", "--health-probe-bind-address=0", fmt.Sprintf("--metrics-bind-address=127.0.0.1:%d", port)}
	if *leaderElect {
		args = append(args, "--leader-elect", "--leader-election-namespace="+b.nss[0])
	}
	args = append(args, strings.Fields(*managerArgs)...)
	cmd := exec.Command(*managerBin, args...)
	cmd.Env = append(os.Environ(),
		"KUBECONFIG="+b.kubecfg,
		"SISPORTA_DEFAULT_REDIS_URL="+*redisURL,
		"SISPORTA_RUNNER_IMAGE=registry.example/sisporta:bench",
	)
	cmd.Stdout, cmd.Stderr = b.log, b.log
	m := &manager{cmd: cmd, metrics: fmt.Sprintf("http://127.0.0.1:%d/metrics", port), done: make(chan error, 1)}
	m.started = time.Now()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", *managerBin, err)
	}
	go func() { m.done <- cmd.Wait() }()
	return m, nil
}

func (m *manager) stop() {
	if m.stopped.Swap(true) {
		return
	}
	_ = m.cmd.Process.Signal(syscall.SIGTERM)
	// Stopped on purpose: its exit status (killed by the signal) is no error.
	var exit error
	select {
	case exit = <-m.done:
	case <-time.After(30 * time.Second):
		_ = m.cmd.Process.Kill()
		exit = <-m.done
	}
	_ = exit
}

func (m *manager) exited() error {
	select {
	case err := <-m.done:
		m.done <- err
		return fmt.Errorf("the manager exited: %v", err)
	default:
		return nil
	}
}

// waitAllReady waits until every pipeline is Ready=True with its status
// and its Ready condition at the current generation.
func (b *bench) waitAllReady(ctx context.Context, m *manager) (time.Duration, error) {
	deadline := m.started.Add(*readyWithin)
	last := time.Now()
	for {
		var list syncv1alpha1.SyncPipelineList
		// Read-only: no copy of a thousand pipelines five times a second
		// (the bench must leave the CPU to what it measures).
		if err := b.cache.List(ctx, &list, client.UnsafeDisableDeepCopy); err != nil {
			return 0, err
		}
		ready := 0
		for i := range list.Items {
			p := &list.Items[i]
			if !strings.HasPrefix(p.Namespace, b.prefix) || p.Status.ObservedGeneration != p.Generation {
				continue
			}
			if c := meta.FindStatusCondition(p.Status.Conditions, syncv1alpha1.ConditionReady); c != nil && c.Status == metav1.ConditionTrue && c.ObservedGeneration == p.Generation {
				ready++
			}
		}
		if ready == len(b.names) {
			return time.Since(m.started), nil
		}
		if err := m.exited(); err != nil {
			return 0, err
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("only %d of %d pipelines Ready after %s", ready, len(b.names), *readyWithin)
		}
		if time.Since(last) > 10*time.Second {
			fmt.Printf("  ... %d of %d Ready after %.0f s\n", ready, len(b.names), time.Since(m.started).Seconds())
			last = time.Now()
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// waitIdle waits until the manager's syncpipeline work queue is empty and
// nothing is being reconciled, as its metrics say.
func (m *manager) waitIdle(ctx context.Context, within time.Duration) (time.Duration, error) {
	start := time.Now()
	for time.Since(start) < within {
		vals, err := scrape(ctx, m.metrics)
		if err == nil && sum(vals, "workqueue_depth{", `name="syncpipeline"`) == 0 &&
			sum(vals, "controller_runtime_active_workers{", `controller="syncpipeline"`) == 0 {
			return time.Since(start), nil
		}
		time.Sleep(200 * time.Millisecond)
	}
	return 0, fmt.Errorf("the manager's work queue did not empty within %s", within)
}

// cpuByProcess reads the CPU time used so far by the manager, the API
// server, etcd and this bench.
func (b *bench) cpuByProcess(m *manager) map[string]time.Duration {
	out := map[string]time.Duration{}
	add := func(name string, pid int) {
		if t, err := cpuTime(pid); err == nil {
			out[name] += t
		}
	}
	add("manager", m.cmd.Process.Pid)
	add("bench", os.Getpid())
	// Other envtests may run on this machine from the same binaries: ours
	// are the ones started with our certificate and data directories.
	apiserverDir := b.env.ControlPlane.GetAPIServer().CertDir
	etcdDir := b.env.ControlPlane.Etcd.DataDir
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if err != nil {
			continue
		}
		args := strings.Split(string(cmdline), "\x00")
		switch filepath.Base(args[0]) {
		case "kube-apiserver":
			if slices.Contains(args, "--cert-dir="+apiserverDir) {
				add("kube-apiserver", pid)
			}
		case "etcd":
			if slices.Contains(args, "--data-dir="+etcdDir) {
				add("etcd", pid)
			}
		}
	}
	return out
}

// printStartCost says what a start cost: CPU by process, and the writes
// the manager made, by kind.
func (b *bench) printStartCost(m *manager, cpu0 map[string]time.Duration, from, to time.Time) {
	cpu1 := b.cpuByProcess(m)
	vals, _ := scrape(context.Background(), m.metrics)
	fmt.Printf("       reconciles so far: %.0f\n", sum(vals, "controller_runtime_reconcile_total{", `controller="syncpipeline"`))
	fmt.Print("       CPU meanwhile:")
	for _, name := range []string{"manager", "kube-apiserver", "etcd", "bench"} {
		fmt.Printf(" %s %.1f s", name, (cpu1[name] - cpu0[name]).Seconds())
	}
	fmt.Println()
	byKind := map[string]int{}
	total := 0
	_ = readAudit(b.audit, func(e auditEvent) {
		if e.User.Username != managerUser || e.Stage != "ResponseComplete" || e.StageTimestamp.Before(from) || e.StageTimestamp.After(to) || e.ObjectRef.Resource == "leases" {
			return
		}
		kind := e.Verb + " " + e.ObjectRef.Resource
		if e.ObjectRef.Subresource != "" {
			kind += "/" + e.ObjectRef.Subresource
		}
		if e.ResponseStatus.Code >= 300 {
			kind += fmt.Sprintf(" (HTTP %d)", e.ResponseStatus.Code)
		}
		byKind[kind]++
		total++
	})
	kinds := make([]string, 0, len(byKind))
	for k := range byKind {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	parts := make([]string, len(kinds))
	for i, k := range kinds {
		parts[i] = fmt.Sprintf("%d %s", byKind[k], k)
	}
	fmt.Printf("       manager writes meanwhile: %d (%s)\n", total, strings.Join(parts, ", "))
}

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	return strings.Join(strings.Fields(string(b))[:3], " ")
}

type quietResult struct {
	cpu        time.Duration
	reconciles int
	byKind     map[string]int
	leases     int
	sample     map[string][]string
}

func (q quietResult) writes() int {
	n := 0
	for _, c := range q.byKind {
		n += c
	}
	return n
}

func (q quietResult) print(window time.Duration) {
	fmt.Printf("quiet %s: %d objects written by the manager, %.2f s of manager CPU, %d reconciles", window, q.writes(), q.cpu.Seconds(), q.reconciles)
	if q.leases > 0 {
		fmt.Printf(" (besides %d renewals of its leader-election Lease)", q.leases)
	}
	fmt.Println()
	kinds := make([]string, 0, len(q.byKind))
	for k := range q.byKind {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	for _, k := range kinds {
		fmt.Printf("  %5d %s  e.g. %s\n", q.byKind[k], k, strings.Join(q.sample[k], ", "))
	}
}

// quietWindow measures the manager's CPU and writes while nothing happens.
func (b *bench) quietWindow(ctx context.Context, m *manager, d time.Duration) (quietResult, error) {
	reconciles := func() float64 {
		vals, _ := scrape(ctx, m.metrics)
		return sum(vals, "controller_runtime_reconcile_total{", `controller="syncpipeline"`)
	}
	cpu0, err := cpuTime(m.cmd.Process.Pid)
	if err != nil {
		return quietResult{}, err
	}
	r0 := reconciles()
	from := time.Now()
	time.Sleep(d)
	to := time.Now()
	cpu1, err := cpuTime(m.cmd.Process.Pid)
	if err != nil {
		return quietResult{}, err
	}
	r1 := reconciles()
	// The audit log is written when a request completes: give the last
	// ones a moment to land.
	time.Sleep(time.Second)
	q := quietResult{cpu: cpu1 - cpu0, reconciles: int(r1 - r0), byKind: map[string]int{}, sample: map[string][]string{}}
	err = readAudit(b.audit, func(e auditEvent) {
		if e.User.Username != managerUser || e.Stage != "ResponseComplete" || e.StageTimestamp.Before(from) || e.StageTimestamp.After(to) {
			return
		}
		if e.ObjectRef.Resource == "leases" {
			q.leases++
			return
		}
		kind := e.Verb + " " + e.ObjectRef.Resource
		if e.ObjectRef.Subresource != "" {
			kind += "/" + e.ObjectRef.Subresource
		}
		kind += fmt.Sprintf(" (HTTP %d)", e.ResponseStatus.Code)
		q.byKind[kind]++
		if len(q.sample[kind]) < 3 {
			q.sample[kind] = append(q.sample[kind], e.ObjectRef.Namespace+"/"+e.ObjectRef.Name)
		}
	})
	return q, err
}

type auditEvent struct {
	Stage          string    `json:"stage"`
	Verb           string    `json:"verb"`
	StageTimestamp time.Time `json:"stageTimestamp"`
	User           struct {
		Username string `json:"username"`
	} `json:"user"`
	ObjectRef struct {
		Resource    string `json:"resource"`
		Subresource string `json:"subresource"`
		Namespace   string `json:"namespace"`
		Name        string `json:"name"`
	} `json:"objectRef"`
	ResponseStatus struct {
		Code int `json:"code"`
	} `json:"responseStatus"`
}

func readAudit(path string, f func(auditEvent)) error {
	file, err := os.Open(path)
	if err != nil {
		return err
	}
	defer file.Close()
	sc := bufio.NewScanner(file)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		var e auditEvent
		if json.Unmarshal(sc.Bytes(), &e) == nil {
			f(e)
		}
	}
	return sc.Err()
}

// scaleUp puts tasks by hand on an idle pipeline's queue and times how
// long the operator takes to ask for workers.
func (b *bench) scaleUp(ctx context.Context) (time.Duration, int32, error) {
	key := b.names[0]
	d := &appsv1.Deployment{}
	if err := b.cache.Get(ctx, client.ObjectKey{Namespace: key.Namespace, Name: key.Name + "-worker"}, d); err != nil {
		return 0, 0, err
	}
	if r := ptr.Deref(d.Spec.Replicas, -1); r != 0 {
		return 0, 0, fmt.Errorf("worker Deployment of %s at %d replicas before the tasks, want 0", key, r)
	}
	c := asynq.NewClientFromRedisClient(b.rdb)
	start := time.Now()
	for i := range *scaleTasks {
		if _, err := c.Enqueue(asynq.NewTask("bench:batch", []byte(strconv.Itoa(i))), asynq.Queue(queue.Name(key.Namespace, key.Name)), asynq.MaxRetry(0)); err != nil {
			return 0, 0, err
		}
	}
	for time.Since(start) < 5*time.Minute {
		if err := b.cache.Get(ctx, client.ObjectKey{Namespace: key.Namespace, Name: key.Name + "-worker"}, d); err != nil {
			return 0, 0, err
		}
		if r := ptr.Deref(d.Spec.Replicas, 0); r > 0 {
			return time.Since(start), r, nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return 0, 0, errors.New("the workers were not scaled up within 5 minutes of tasks reaching the queue")
}

func (m *manager) peakRSS() int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", m.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmHWM:" {
			kib, _ := strconv.ParseInt(f[1], 10, 64)
			return kib << 10
		}
	}
	return 0
}

// cpuTime is a process's user plus system CPU time, from /proc.
func cpuTime(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	// fields after the command: state is [0]; utime and stime are the
	// 14th and 15th fields of the line, [11] and [12] here.
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("cannot parse /proc/%d/stat", pid)
	}
	const clkTck = 100 // USER_HZ on Linux
	return time.Duration(ut+st) * time.Second / clkTck, nil
}

// scrape reads a Prometheus text endpoint into "name{labels}" -> value.
func scrape(ctx context.Context, url string) (map[string]float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	out := map[string]float64{}
	for _, l := range strings.Split(string(body), "\n") {
		if l == "" || l[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(l, ' ')
		if i < 0 {
			continue
		}
		v, err := strconv.ParseFloat(l[i+1:], 64)
		if err == nil {
			out[l[:i]] = v
		}
	}
	return out, nil
}

// sum adds the series of a metric whose labels hold a given pair.
func sum(vals map[string]float64, metric, label string) float64 {
	var n float64
	for k, v := range vals {
		if strings.HasPrefix(k, metric) && strings.Contains(k, label) {
			n += v
		}
	}
	return n
}

func (b *bench) cleanup() {
	ctx := context.Background()
	if b.rdb != nil && b.prefix != "" {
		for _, key := range b.names {
			q := queue.Name(key.Namespace, key.Name)
			_ = asynq.NewInspectorFromRedisClient(b.rdb).DeleteQueue(q, true)
			_ = queue.DeleteQueueKeys(ctx, b.rdb, q)
			_ = runstate.NewStore(b.rdb).Purge(ctx, q)
		}
		_ = b.rdb.Close()
	}
	if b.env != nil {
		_ = b.env.Stop()
	}
	if b.tmp != "" {
		_ = os.RemoveAll(b.tmp)
	}
	if b.log != nil {
		_ = b.log.Close()
	}
}

func parallel(workers, n int, f func(i int) error) error {
	var (
		wg    sync.WaitGroup
		next  atomic.Int64
		mu    sync.Mutex
		first error
	)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				if err := f(i); err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
					return
				}
			}
		}()
	}
	wg.Wait()
	return first
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func numCPU() int {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return 0
	}
	return strings.Count(string(b), "\nprocessor") + 1
}

func redactURL(u string) string {
	if i, j := strings.Index(u, "://"), strings.LastIndexByte(u, '@'); i >= 0 && j > i {
		return u[:i+3] + "***@" + u[j+1:]
	}
	return u
}
