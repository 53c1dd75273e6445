package worker

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/s3ingest/s3ingest/jobs"
)

// ServerConfig configures the asynq server. The zero value is the
// documented defaults.
type ServerConfig struct {
	// Concurrency is how many tasks run at once in this process (default 8).
	Concurrency int
	// Queues maps queue names to priority weights (default interactive 6,
	// ingest 3, scheduled 1).
	Queues map[string]int
	// ShutdownTimeout is how long running tasks get to finish on SIGTERM
	// before they are handed back to the queue (default 30s).
	ShutdownTimeout time.Duration
	// RetryDelay computes the delay before retry n of a failed task
	// (default asynq's exponential backoff with jitter).
	RetryDelay asynq.RetryDelayFunc
	// PollInterval is how often an idle server looks for new tasks
	// (default DefaultPollInterval, 250ms: a preview waits at most that
	// long to start, for about four Redis calls a second per idle process).
	// When set, retried and scheduled tasks are also moved to their queues
	// that often (else every 5s, asynq's default).
	PollInterval time.Duration
}

// DefaultPollInterval is ServerConfig.PollInterval's default. asynq's own
// (1s) made an idle daemon's pickup of a preview take 0.5s on average.
const DefaultPollInterval = 250 * time.Millisecond

// MinPollInterval bounds ServerConfig.PollInterval from below, so that a
// setting cannot make idle daemons hammer Redis.
const MinPollInterval = 10 * time.Millisecond

// DefaultQueues are the queue weights used when ServerConfig.Queues is nil.
func DefaultQueues() map[string]int {
	return map[string]int{jobs.QueueInteractive: 6, jobs.QueueIngest: 3, jobs.QueueScheduled: 1}
}

// Validate checks the config; errors name the field.
func (c ServerConfig) Validate() error {
	if c.Concurrency < 0 {
		return fmt.Errorf("ServerConfig.Concurrency: must not be negative")
	}
	for q, w := range c.Queues {
		if q == "" || w <= 0 {
			return fmt.Errorf("ServerConfig.Queues: queue %q needs a positive weight, got %d", q, w)
		}
	}
	if c.PollInterval < 0 || (c.PollInterval > 0 && c.PollInterval < MinPollInterval) {
		return fmt.Errorf("ServerConfig.PollInterval: %s is neither 0 (%s) nor at least %s", c.PollInterval, DefaultPollInterval, MinPollInterval)
	}
	if c.ShutdownTimeout < 0 {
		return fmt.Errorf("ServerConfig.ShutdownTimeout: must not be negative")
	}
	return nil
}

// NewServer returns an asynq server on rdb that logs task failures through
// log. Register the handlers on a mux and pass it to Run or Start.
func NewServer(rdb redis.UniversalClient, cfg ServerConfig, log *zap.Logger) (*asynq.Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Concurrency == 0 {
		cfg.Concurrency = 8
	}
	if cfg.Queues == nil {
		cfg.Queues = DefaultQueues()
	}
	if cfg.ShutdownTimeout == 0 {
		cfg.ShutdownTimeout = 30 * time.Second
	}
	if log == nil {
		log = zap.NewNop()
	}
	poll, delayed := cfg.PollInterval, cfg.PollInterval
	if poll == 0 {
		poll = DefaultPollInterval // delayed stays asynq's 5s
	}
	return asynq.NewServerFromRedisClient(rdb, asynq.Config{
		Concurrency:              cfg.Concurrency,
		Queues:                   cfg.Queues,
		ShutdownTimeout:          cfg.ShutdownTimeout,
		RetryDelayFunc:           retryDelay(cfg.RetryDelay),
		TaskCheckInterval:        poll,
		DelayedTaskCheckInterval: delayed,
		Logger:                   AsynqLogger(log, "asynq"),
		ErrorHandler: asynq.ErrorHandlerFunc(func(ctx context.Context, t *asynq.Task, err error) {
			retried, _ := asynq.GetRetryCount(ctx)
			maxRetry, _ := asynq.GetMaxRetry(ctx)
			log.Warn("task error", zap.String("type", t.Type()), zap.String("task_id", taskID(t)),
				zap.Int("retried", retried), zap.Int("max_retry", maxRetry), zap.Error(err))
		}),
	}), nil
}

// retryDelay returns the delay before retry n: a task whose worker died
// (its lease expired: a crash, a kill -9, a lost node) is retried at once
// rather than after asynq's backoff, since nothing about the task failed;
// everything else follows next (default asynq's exponential backoff).
func retryDelay(next asynq.RetryDelayFunc) asynq.RetryDelayFunc {
	if next == nil {
		next = asynq.DefaultRetryDelayFunc
	}
	return func(n int, err error, t *asynq.Task) time.Duration {
		if errors.Is(err, asynq.ErrLeaseExpired) {
			return LeaseExpiredRetryDelay
		}
		return next(n, err, t)
	}
}

// LeaseExpiredRetryDelay is the delay before a task whose worker died is
// run again (asynq's recoverer finds it once its 30 s lease has expired,
// checking every minute).
const LeaseExpiredRetryDelay = time.Second

// AsynqLogger adapts a zap logger, named name, to asynq.Logger. Two of
// asynq's messages are reworded for people: "Retry exhausted for task
// id=…" (also logged for tasks that were never retried because they failed
// permanently) becomes "task archived" at info level (the handler's own
// "task error" line says why), and the scheduler's error on a clean
// shutdown about the shared Redis connection it may not close becomes a
// debug line.
func AsynqLogger(log *zap.Logger, name string) asynq.Logger {
	return zapLogger{log.Sugar().Named(name)}
}

type zapLogger struct{ s *zap.SugaredLogger }

func (l zapLogger) Debug(args ...any) { l.s.Debug(args...) }
func (l zapLogger) Info(args ...any)  { l.s.Info(args...) }
func (l zapLogger) Warn(args ...any) {
	msg := fmt.Sprint(args...)
	if id, ok := strings.CutPrefix(msg, "Retry exhausted for task id="); ok {
		l.s.Infow("task archived", "task_id", id)
		return
	}
	l.s.Warn(msg)
}
func (l zapLogger) Error(args ...any) {
	msg := fmt.Sprint(args...)
	if strings.Contains(msg, "redis connection is shared") {
		l.s.Debug(msg) // asynq refusing to close a client it does not own: expected
		return
	}
	l.s.Error(msg)
}
func (l zapLogger) Fatal(args ...any) { l.s.Fatal(args...) }
