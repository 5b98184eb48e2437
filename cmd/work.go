package cmd

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/spf13/cobra"

	"github.com/sisporta/sisporta/runner/apply"
	"github.com/sisporta/sisporta/runner/metrics"
	"github.com/sisporta/sisporta/runner/queue"
	"github.com/sisporta/sisporta/runner/runstate"
	"github.com/sisporta/sisporta/runner/writer"
)

func newWorkCommand() *cobra.Command {
	var (
		config          string
		conn            connFlags
		queueName       string
		concurrency     int
		probeAddr       string
		metricsAddr     string
		shutdownTimeout time.Duration
		logs            *logFlags
	)
	c := &cobra.Command{
		Use:   "work",
		Short: "Apply queued batches to the target (what the worker Deployment runs)",
		Long: `Consume a pipeline's queue: apply batches to the target MySQL in idempotent
transactions and finalize each entity's run (verified, guarded cleanup). On
SIGTERM it stops taking tasks and lets in-flight batches finish for
--shutdown-timeout; unfinished ones go back to the queue. Health probes on
--health-probe-bind-address (/healthz, /readyz), Prometheus metrics on
--metrics-bind-address (/metrics).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			conn.resolve()
			log := logs.logger(runnerLogs)
			tuneGC()
			if queueName == "" || concurrency == 0 {
				p, err := loadPipeline(config)
				if err != nil {
					return err
				}
				if queueName == "" {
					queueName = queue.Name(p.Namespace, p.Name)
				}
				if concurrency == 0 {
					concurrency = int(p.Spec.Workers.Concurrency)
				}
			}
			ctx := cmd.Context()
			rdb, opt, err := queue.Connect(ctx, conn.redisURL)
			if err != nil {
				return err
			}
			defer rdb.Close()
			// The target may be down: the pool connects on first use and
			// batches retry with backoff until it is back.
			tg, err := writer.New(conn.targetDSN, concurrency+2)
			if err != nil {
				return err
			}
			defer tg.Close()
			go tg.Warm(ctx)
			w := &apply.Worker{Target: tg, Runs: runstate.NewStore(rdb), Queue: queueName, SourceDSN: conn.sourceDSN, Log: log}
			defer w.Close()

			// The probe server answers until the process exits: stopping
			// makes /readyz say not ready, never "connection refused" (the
			// kubelet probes a terminating pod and reports each refusal as a
			// Warning event).
			var stopping atomic.Bool
			mux := http.NewServeMux()
			mux.HandleFunc("/healthz", func(rw http.ResponseWriter, _ *http.Request) { rw.WriteHeader(http.StatusOK) })
			mux.HandleFunc("/readyz", func(rw http.ResponseWriter, r *http.Request) {
				if stopping.Load() {
					http.Error(rw, "stopping: finishing in-flight batches", http.StatusServiceUnavailable)
					return
				}
				pctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
				defer cancel()
				if err := rdb.Ping(pctx).Err(); err != nil {
					http.Error(rw, "redis unreachable", http.StatusServiceUnavailable)
					return
				}
				rw.WriteHeader(http.StatusOK)
			})
			if _, err := serveHTTP(probeAddr, mux); err != nil {
				return fmt.Errorf("health probes on %s: %w", probeAddr, err)
			}
			if metricsAddr != "0" && metricsAddr != "" {
				mm := http.NewServeMux()
				mm.Handle("/metrics", promhttp.HandlerFor(metrics.Registry, promhttp.HandlerOpts{}))
				stopMetrics, err := serveHTTP(metricsAddr, mm)
				if err != nil {
					return fmt.Errorf("metrics on %s: %w", metricsAddr, err)
				}
				defer stopMetrics()
			}

			srv := apply.NewServer(opt, queueName, concurrency, shutdownTimeout, log)
			if err := srv.Start(w.Mux()); err != nil {
				return fmt.Errorf("starting the worker: %w", err)
			}
			log.Info("worker started", "queue", queueName, "concurrency", concurrency)
			<-ctx.Done()
			stopping.Store(true)
			log.Info("stopping: finishing in-flight batches", "timeout", shutdownTimeout.String())
			srv.Shutdown()
			log.Info("worker stopped")
			return nil
		},
	}
	f := c.Flags()
	f.StringVar(&config, "config", "", "SyncPipeline manifest (env SISPORTA_CONFIG); gives the queue and concurrency")
	conn.bind(f, true, true, true)
	f.StringVar(&queueName, "queue", "", "queue to consume (default: the pipeline's, sisporta.<namespace>.<name>)")
	f.IntVar(&concurrency, "concurrency", 0, "batches applied at once (default: the pipeline's workers.concurrency)")
	f.StringVar(&probeAddr, "health-probe-bind-address", ":8081", "address of /healthz and /readyz")
	f.StringVar(&metricsAddr, "metrics-bind-address", ":8080", "address of /metrics; \"0\" disables it")
	f.DurationVar(&shutdownTimeout, "shutdown-timeout", 60*time.Second, "on SIGTERM, how long in-flight batches may take to finish")
	logs = bindLogFlags(f)
	return c
}

// serveHTTP serves h on addr until the returned stop is called.
func serveHTTP(addr string, h http.Handler) (func(), error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	s := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := s.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			_ = l.Close()
		}
	}()
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = s.Shutdown(ctx)
	}, nil
}
