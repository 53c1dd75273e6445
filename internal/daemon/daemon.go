// Package daemon assembles ingestd from built clients: the asynq server with
// the worker's handlers, the schedule manager, the credential cache
// invalidation listener, and the admin HTTP server (health, metrics, the
// asynqmon dashboard). cmd/ingestd and the embedded demo both run it.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/hibiken/asynq"
	"github.com/hibiken/asynqmon"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/s3ingest/s3ingest/worker"
	"github.com/s3ingest/s3ingest/worker/sink"
)

// Options are the daemon's parts. Redis, RedisConnOpt, Resolver and Sink
// are required.
type Options struct {
	// Redis is the shared client for the queue, records and schedules.
	Redis redis.UniversalClient
	// RedisConnOpt is the same Redis for asynqmon, which opens its own
	// connection.
	RedisConnOpt asynq.RedisConnOpt
	// Resolver resolves credentials; if it also has Run(ctx) error (the
	// credstore.Resolver's invalidation listener), the daemon runs it.
	Resolver worker.Resolver
	// Sink receives datasets.
	Sink sink.Sink
	// Worker and Server tune the handlers and the asynq server.
	Worker worker.Config
	Server worker.ServerConfig
	// Scheduler runs the schedule manager in this process.
	Scheduler bool
	// ScheduleSync is how often schedules are re-read from Redis
	// (default 30s).
	ScheduleSync time.Duration
	// SchedulerLeaseTTL is how long the scheduler lease lasts unrenewed:
	// the longest gap before another process's scheduler takes over from
	// one that died (default SchedulerLeaseTTL, 15s).
	SchedulerLeaseTTL time.Duration
	// AdminAddr is the admin HTTP listen address ("" disables it).
	AdminAddr string
	// MonitorReadOnly puts the asynqmon dashboard in read-only mode.
	MonitorReadOnly bool
	// AdminToken, when set, is required by every admin path but /healthz
	// and /readyz: as "Authorization: Bearer <token>", or as the password
	// of HTTP basic auth (any user name) so a browser can open the
	// dashboard.
	AdminToken string
	// AdminAllowUnauthenticated lets the admin server listen on a
	// non-loopback address without AdminToken. Without it Run refuses to
	// start that way: the dashboard can cancel and delete tasks and shows
	// every payload.
	AdminAllowUnauthenticated bool
	// Log is the logger (nil: no logs).
	Log *zap.Logger
	// Registry collects metrics (nil: a new registry).
	Registry *prometheus.Registry
	// Ready, if set, is called with the admin address once everything is
	// serving.
	Ready func(adminAddr string)
}

// Run serves until ctx is cancelled, then shuts down in order: stop taking
// tasks and let running ones finish (ServerConfig.ShutdownTimeout), stop the
// schedule manager, stop the admin server.
func Run(ctx context.Context, o Options) error {
	if o.Redis == nil || o.RedisConnOpt == nil || o.Resolver == nil || o.Sink == nil {
		return errors.New("daemon.Run: Redis, RedisConnOpt, Resolver and Sink are required")
	}
	if err := checkAdminAuth(o.AdminAddr, o.AdminToken, o.AdminAllowUnauthenticated); err != nil {
		return err
	}
	log := o.Log
	if log == nil {
		log = zap.NewNop()
	}
	reg := o.Registry
	if reg == nil {
		reg = prometheus.NewRegistry()
		reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	if err := registerBuildInfo(reg); err != nil {
		return fmt.Errorf("register s3ingest_build_info: %w", err)
	}
	for _, w := range redisWarnings(ctx, o.Redis) {
		log.Warn("ingestd: redis configuration", zap.String("warning", w))
	}
	metrics := worker.NewMetrics(reg)
	qc := newQueueCollector(asynq.NewInspectorFromRedisClient(o.Redis), log, queueScrapeTimeout)
	if err := reg.Register(qc); err == nil {
		defer reg.Unregister(qc)
	} else if !errors.As(err, new(prometheus.AlreadyRegisteredError)) {
		return fmt.Errorf("register s3ingest_queue_tasks: %w", err)
	} // else another daemon on this registry reports the queues
	h, err := worker.NewHandlers(o.Worker, o.Resolver, o.Sink, log, metrics)
	if err != nil {
		return err
	}
	srv, err := worker.NewServer(o.Redis, o.Server, log)
	if err != nil {
		return err
	}
	mux := asynq.NewServeMux()
	h.Register(mux)

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, 3)

	// Credential cache invalidation: owned here, ends with ctx.
	listenerDone := make(chan struct{})
	if r, ok := o.Resolver.(interface{ Run(context.Context) error }); ok {
		go func() {
			defer close(listenerDone)
			if err := r.Run(ctx); err != nil && ctx.Err() == nil {
				errc <- fmt.Errorf("credential invalidation listener: %w", err)
			}
		}()
	} else {
		close(listenerDone)
	}

	if err := srv.Start(mux); err != nil {
		return fmt.Errorf("start asynq server: %w", err)
	}
	log.Info("ingestd: serving", zap.Int("concurrency", o.Server.Concurrency))

	// The schedule manager runs on the process that holds the scheduler
	// lease (see scheduler.go); its goroutine is owned here and ends with
	// ctx.
	schedDone := make(chan struct{})
	if o.Scheduler {
		sync := o.ScheduleSync
		if sync == 0 {
			sync = 30 * time.Second
		}
		sch := newScheduler(o.Redis, log, sync, o.SchedulerLeaseTTL)
		go func() {
			defer close(schedDone)
			sch.run(ctx)
		}()
	} else {
		close(schedDone)
	}

	var admin *http.Server
	adminAddr := ""
	if o.AdminAddr != "" {
		ln, err := net.Listen("tcp", o.AdminAddr)
		if err != nil {
			srv.Shutdown()
			cancel()
			<-schedDone
			return fmt.Errorf("admin listener on %s (S3INGEST_ADMIN_ADDR): %w", o.AdminAddr, err)
		}
		adminAddr = ln.Addr().String()
		handler, mon := adminHandler(o, reg)
		defer mon.Close() // asynqmon's own Redis connection
		admin = &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second}
		go func() {
			if err := admin.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				errc <- fmt.Errorf("admin server: %w", err)
			}
		}()
		log.Info("ingestd: admin", zap.String("addr", adminAddr), zap.String("dashboard", "http://"+adminAddr+"/monitor/"))
	}
	if o.Ready != nil {
		o.Ready(adminAddr)
	}

	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-errc:
	}
	log.Info("ingestd: shutting down")
	srv.Shutdown()
	cancel()
	<-schedDone
	if admin != nil {
		sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = admin.Shutdown(sctx)
		scancel()
	}
	cancel()
	<-listenerDone
	return runErr
}

// adminHandler serves /healthz (process up), /readyz (Redis reachable, plus
// warnings about its configuration), /metrics and the asynqmon dashboard
// under /monitor/ (both behind AdminToken when set). Close the returned
// dashboard when done.
func adminHandler(o Options, reg *prometheus.Registry) (http.Handler, *asynqmon.HTTPHandler) {
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := o.Redis.Ping(ctx).Err(); err != nil {
			http.Error(w, "redis: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ready")
		for _, warning := range redisWarnings(ctx, o.Redis) {
			fmt.Fprintln(w, "warning:", warning)
		}
	})
	mux.Handle("/metrics", requireToken(o.AdminToken, promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg})))
	mon := asynqmon.New(asynqmon.Options{
		RootPath:     "/monitor",
		RedisConnOpt: o.RedisConnOpt,
		ReadOnly:     o.MonitorReadOnly,
	})
	mux.Handle("/monitor/", requireToken(o.AdminToken, mon))
	return mux, mon
}
