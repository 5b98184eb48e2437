package cmd

import (
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	syncv1alpha1 "github.com/sisporta/sisporta/api/v1alpha1"
	"github.com/sisporta/sisporta/controllers"
)

// managerOptions are the flags of `sisporta manager`.
type managerOptions struct {
	metricsAddr   string
	probeAddr     string
	leaderElect   bool
	leaderElectNS string
	namespace     string
	runnerImage   string
	// defaultRedisURL is better passed through SISPORTA_DEFAULT_REDIS_URL from
	// a Secret: a flag's value shows in the pod spec and the process list.
	defaultRedisURL string
	// Scale: the API client's rate limit, reconciles at once, how often
	// queue depth is polled, how long a Redis outage leaves Ready alone.
	kubeAPIQPS              float32
	kubeAPIBurst            int
	maxConcurrentReconciles int
	queuePollInterval       time.Duration
	redisOutageGrace        time.Duration
	logs                    *logFlags
}

func newManagerCommand() *cobra.Command {
	o := &managerOptions{}
	c := &cobra.Command{
		Use:   "manager",
		Short: "Run the operator that reconciles SyncPipelines",
		Long: `Run the Sisporta operator. It uses the KUBECONFIG or in-cluster configuration
it finds, serves Prometheus metrics and health probes, and with --leader-elect
lets only one replica act at a time.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runManager(cmd, o) },
	}
	f := c.Flags()
	f.StringVar(&o.metricsAddr, "metrics-bind-address", ":8080", "address the metrics endpoint binds to; \"0\" disables it")
	f.StringVar(&o.probeAddr, "health-probe-bind-address", ":8081", "address the health and readiness probes bind to")
	f.BoolVar(&o.leaderElect, "leader-elect", false, "elect a leader so that only one manager replica reconciles at a time")
	f.StringVar(&o.leaderElectNS, "leader-election-namespace", "", "namespace of the leader election lease (default: the pod's namespace)")
	f.StringVar(&o.namespace, "namespace", envOr("SISPORTA_WATCH_NAMESPACE", ""), "reconcile only SyncPipelines of this namespace (default: all namespaces)")
	f.StringVar(&o.runnerImage, "runner-image", envOr("SISPORTA_RUNNER_IMAGE", defaultRunnerImage()), "image of the extractor and workers of pipelines without spec.image: the operator's own image (env SISPORTA_RUNNER_IMAGE)")
	f.StringVar(&o.defaultRedisURL, "default-redis-url", "", "Redis URL for pipelines without spec.queue.redisSecretRef (prefer env SISPORTA_DEFAULT_REDIS_URL from a Secret: flags show in the pod spec)")
	f.Float32Var(&o.kubeAPIQPS, "kube-api-qps", defaultKubeAPIQPS, "queries per second the manager may send the Kubernetes API server (client-side rate limit; 0 or less: no limit but the server's own priority and fairness)")
	f.IntVar(&o.kubeAPIBurst, "kube-api-burst", defaultKubeAPIBurst, "requests the manager may send the Kubernetes API server in a burst above --kube-api-qps")
	f.IntVar(&o.maxConcurrentReconciles, "max-concurrent-reconciles", controllers.DefaultMaxConcurrentReconciles, "SyncPipelines reconciled at once")
	f.DurationVar(&o.queuePollInterval, "queue-poll-interval", controllers.DefaultQueuePollInterval, "how often the depth of every pipeline's queue is read (one round trip per Redis); tasks reaching an idle pipeline's queue scale its workers within this")
	f.DurationVar(&o.redisOutageGrace, "redis-outage-grace-period", controllers.DefaultRedisOutageGrace, "how long a pipeline's Redis may be unreachable before Ready turns False; a shorter outage sets Degraded only (0: Ready=False at once)")
	o.logs = bindLogFlags(f)
	return c
}

func newScheme() *runtime.Scheme {
	s := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(s))
	utilruntime.Must(syncv1alpha1.AddToScheme(s))
	return s
}

func runManager(cmd *cobra.Command, o *managerOptions) error {
	ctrl.SetLogger(o.logs.logger(managerLogs))
	log := ctrl.Log.WithName("setup")

	if err := o.validate(); err != nil {
		return err
	}
	restConfig, err := ctrl.GetConfig()
	if err != nil {
		return fmt.Errorf("no Kubernetes configuration found (set KUBECONFIG or run in a cluster): %w", err)
	}
	o.rateLimit(restConfig)
	opts := ctrl.Options{
		Scheme:                  newScheme(),
		Metrics:                 metricsserver.Options{BindAddress: o.metricsAddr},
		HealthProbeBindAddress:  o.probeAddr,
		LeaderElection:          o.leaderElect,
		LeaderElectionID:        "sisporta.sync.sisporta.io",
		LeaderElectionNamespace: o.leaderElectNS,
		// Release the lease on a clean stop so a new leader takes over at once.
		LeaderElectionReleaseOnCancel: true,
		Logger:                        releaseAwareLogger(ctrl.Log, cmd.Context()),
	}
	if skipControllerNameValidation {
		opts.Controller.SkipNameValidation = &skipControllerNameValidation
	}
	if o.namespace != "" {
		opts.Cache.DefaultNamespaces = map[string]cache.Config{o.namespace: {}}
	}
	controllers.ConfigureCache(&opts.Cache)
	mgr, err := ctrl.NewManager(restConfig, opts)
	if err != nil {
		return fmt.Errorf("cannot create the manager: %w", err)
	}
	if o.defaultRedisURL == "" {
		o.defaultRedisURL = os.Getenv("SISPORTA_DEFAULT_REDIS_URL")
	}
	if err := setupControllers(mgr, o); err != nil {
		return err
	}
	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		return err
	}
	if err := mgr.AddReadyzCheck("readyz", healthz.Ping); err != nil {
		return err
	}
	log.Info("starting manager", "version", versionString(), "namespace", o.namespace, "leaderElect", o.leaderElect,
		"runnerImage", o.runnerImage, "defaultRedis", o.defaultRedisURL != "",
		"kubeAPIQPS", restConfig.QPS, "kubeAPIBurst", restConfig.Burst, "maxConcurrentReconciles", o.maxConcurrentReconciles,
		"queuePollInterval", o.queuePollInterval.String(), "redisOutageGracePeriod", o.redisOutageGrace.String())
	if err := mgr.Start(cmd.Context()); err != nil && !errors.Is(err, cmd.Context().Err()) {
		return fmt.Errorf("manager stopped: %w", err)
	}
	return nil
}

// skipControllerNameValidation lets tests start the manager more than once
// in one process (controller names are otherwise unique per process).
var skipControllerNameValidation bool

// setupControllers registers the reconcilers with the manager.
func setupControllers(mgr ctrl.Manager, o *managerOptions) error {
	grace := o.redisOutageGrace
	if grace == 0 {
		grace = time.Nanosecond // no grace at all (zero means the default to controllers.Options)
	}
	return controllers.SetupWithManager(mgr, controllers.Options{
		RunnerImage:             o.runnerImage,
		DefaultRedisURL:         o.defaultRedisURL,
		QueuePollInterval:       o.queuePollInterval,
		RedisOutageGrace:        grace,
		MaxConcurrentReconciles: o.maxConcurrentReconciles,
	})
}

// The API client's default rate limit: high enough that starting with a
// thousand pipelines is not throttled on the client (make bench-operator),
// low enough that a runaway reconcile cannot flood the API server.
const (
	defaultKubeAPIQPS   = 200
	defaultKubeAPIBurst = 400
)

func (o *managerOptions) validate() error {
	switch {
	case o.maxConcurrentReconciles < 1:
		return fmt.Errorf("--max-concurrent-reconciles must be at least 1, not %d", o.maxConcurrentReconciles)
	case o.queuePollInterval < time.Second:
		return fmt.Errorf("--queue-poll-interval must be at least 1s, not %s", o.queuePollInterval)
	case o.redisOutageGrace < 0:
		return fmt.Errorf("--redis-outage-grace-period must not be negative, not %s", o.redisOutageGrace)
	case o.kubeAPIQPS > 0 && o.kubeAPIBurst < 1:
		return fmt.Errorf("--kube-api-burst must be at least 1 when --kube-api-qps limits the rate, not %d", o.kubeAPIBurst)
	}
	return nil
}

// rateLimit applies --kube-api-qps and --kube-api-burst; QPS 0 or less
// leaves the client unthrottled (controller-runtime's default, -1).
func (o *managerOptions) rateLimit(c *rest.Config) {
	if o.kubeAPIQPS <= 0 {
		c.QPS, c.Burst = -1, 0
		return
	}
	c.QPS, c.Burst = o.kubeAPIQPS, o.kubeAPIBurst
}

// defaultRunnerImage is the released image of this build; the Helm chart
// passes the exact image the operator runs as.
func defaultRunnerImage() string {
	return "ghcr.io/sisporta/sisporta:" + Version
}

func envOr(key, def string) string {
	if v, ok := os.LookupEnv(key); ok && v != "" {
		return v
	}
	return def
}
