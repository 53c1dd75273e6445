// Command ingestd is the s3ingest daemon: it runs preview, ingest and verify
// tasks from Redis (asynq), re-enqueues scheduled ingests, and serves health,
// metrics and the asynqmon dashboard.
//
//	ingestd            run the daemon (configuration from S3INGEST_* variables)
//	ingestd demo       run everything embedded on sample data
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"github.com/spf13/cobra"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/s3ingest/s3ingest/credstore"
	"github.com/s3ingest/s3ingest/internal/buildinfo"
	"github.com/s3ingest/s3ingest/internal/daemon"
	"github.com/s3ingest/s3ingest/internal/demo"
	"github.com/s3ingest/s3ingest/internal/redact"
	"github.com/s3ingest/s3ingest/worker"
	"github.com/s3ingest/s3ingest/worker/sink"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := newRootCmd().ExecuteContext(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "ingestd:", err)
		os.Exit(1)
	}
}

func newRootCmd() *cobra.Command {
	var flagRedis, flagSink, flagAdmin string
	root := &cobra.Command{
		Use:           "ingestd",
		Short:         "s3ingest worker daemon: runs S3 preview and ingest jobs from Redis",
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       buildinfo.Read().String(),
		Args:          cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfig(osGetenv)
			if err != nil {
				return err
			}
			if flagRedis != "" {
				cfg.RedisURL = flagRedis
			}
			if flagSink != "" {
				cfg.Sink = flagSink
			}
			if flagAdmin != "" {
				cfg.AdminAddr = flagAdmin
			}
			return runDaemon(cmd.Context(), cfg)
		},
	}
	root.Flags().StringVar(&flagRedis, "redis-url", "", "Redis URL (overrides S3INGEST_REDIS_URL)")
	root.Flags().StringVar(&flagSink, "sink", "", "dataset sink URL, file:///dir or postgres://... (overrides S3INGEST_SINK)")
	root.Flags().StringVar(&flagAdmin, "admin-addr", "", `admin HTTP address, "off" to disable (overrides S3INGEST_ADMIN_ADDR)`)
	root.AddCommand(newDemoCmd())
	return root
}

func newDemoCmd() *cobra.Command {
	var o demo.Options
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "run a preview and an ingest end to end on embedded Redis and S3 with sample data",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.Out = cmd.OutOrStdout()
			return demo.Run(cmd.Context(), o)
		},
	}
	cmd.Flags().StringVar(&o.Dir, "dir", "./demo-data", "directory for the demo's datasets")
	cmd.Flags().BoolVar(&o.Once, "once", false, "exit when the demo jobs are done instead of serving until Ctrl-C")
	cmd.Flags().StringVar(&o.AdminAddr, "admin-addr", "127.0.0.1:9090", `admin HTTP address with the asynqmon dashboard ("" to disable)`)
	return cmd
}

// runDaemon builds the clients from cfg and runs the daemon until ctx ends.
func runDaemon(ctx context.Context, cfg config) error {
	log, err := newLogger(cfg.LogLevel, cfg.LogFormat)
	if err != nil {
		return err
	}
	defer log.Sync() //nolint:errcheck

	keyring, err := credstore.KeyringFromEnv()
	if err != nil {
		return fmt.Errorf("%w (ingestd refuses to start without a key: generate one with `ingestctl secret-key`)", err)
	}
	ropt, err := redis.ParseURL(cfg.RedisURL)
	if err != nil {
		return fmt.Errorf("S3INGEST_REDIS_URL %s: %s", redact.URL(cfg.RedisURL), redact.Error(cfg.RedisURL, err))
	}
	redis.SetLogger(daemon.RedisLogger(log)) // go-redis's own lines, as JSON at warn
	rdb := redis.NewClient(ropt)
	defer rdb.Close()
	if err := rdb.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("connect to Redis at %s (S3INGEST_REDIS_URL): %w", ropt.Addr, err)
	}
	connOpt, err := asynq.ParseRedisURI(cfg.RedisURL)
	if err != nil {
		return fmt.Errorf("S3INGEST_REDIS_URL %s: %s", redact.URL(cfg.RedisURL), redact.Error(cfg.RedisURL, err))
	}
	store, err := credstore.NewStore(credstore.StoreConfig{Redis: rdb, Keyring: keyring})
	if err != nil {
		return err
	}
	resolver, err := credstore.NewResolver(credstore.ResolverConfig{
		Store:            store,
		STSEndpoint:      cfg.STSEndpoint,
		SessionDuration:  cfg.AssumeRoleTTL,
		NegativeCacheTTL: cfg.NegativeCacheTTL,
		Logger:           log.Named("credstore"),
	})
	if err != nil {
		return err
	}
	snk, err := sink.Open(ctx, cfg.Sink)
	if err != nil {
		// The sink may be a URL or a key=value DSN with a password in it.
		return fmt.Errorf("S3INGEST_SINK %s: %s", redact.DSN(cfg.Sink), redact.Error(cfg.Sink, err))
	}
	defer snk.Close()
	admin := cfg.AdminAddr
	if admin == "off" {
		admin = ""
	}
	return daemon.Run(ctx, daemon.Options{
		Redis:        rdb,
		RedisConnOpt: connOpt,
		Resolver:     resolver,
		Sink:         snk,
		Worker: worker.Config{
			Concurrency:           cfg.ObjectConcurrency,
			PreviewHeadBytes:      cfg.PreviewHeadBytes,
			S3Endpoint:            cfg.S3Endpoint,
			S3Region:              cfg.S3Region,
			MaxObjects:            cfg.MaxObjects,
			AllowPrivateEndpoints: cfg.AllowPrivate,
			FetchPartSize:         cfg.FetchPartSize,
			FetchConcurrency:      cfg.FetchConcurrency,
			FetchMode:             cfg.FetchMode,
		},
		Server: worker.ServerConfig{
			Concurrency:     cfg.Concurrency,
			Queues:          cfg.Queues,
			ShutdownTimeout: cfg.ShutdownTimeout,
			PollInterval:    cfg.PollInterval,
		},
		Scheduler:       cfg.Scheduler,
		AdminAddr:       admin,
		MonitorReadOnly: cfg.MonitorReadOnly,
		AdminToken:      cfg.AdminToken,
		Log:             log,

		AdminAllowUnauthenticated: cfg.AdminNoAuth,
	})
}

// newLogger builds the production zap logger. Messages are constant (zap
// samples by message); details go in fields.
func newLogger(level, format string) (*zap.Logger, error) {
	lvl, err := zapcore.ParseLevel(level)
	if err != nil {
		return nil, fmt.Errorf("S3INGEST_LOG_LEVEL=%q: %w", level, err)
	}
	zc := zap.NewProductionConfig()
	zc.Level = zap.NewAtomicLevelAt(lvl)
	zc.Encoding = format
	if format == "console" {
		zc.EncoderConfig = zap.NewDevelopmentEncoderConfig()
	}
	l, err := zc.Build()
	if err != nil {
		return nil, errors.Join(errors.New("build logger"), err)
	}
	return l, nil
}
