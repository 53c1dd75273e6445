package daemon

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"sync/atomic"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/s3ingest/s3ingest/jobs"
	"github.com/s3ingest/s3ingest/worker"
)

// Scheduler leadership: every ingestd may run the schedule manager
// (S3INGEST_SCHEDULER), but only the holder of a lease in Redis does, so a
// schedule is enqueued once per tick however many processes run — asynq's
// schedulers tick at their own phases (an @every schedule counts from each
// process's start), so uniqueness locks alone let several processes each
// enqueue in turn. A leader that dies stops renewing; another process
// takes over within the lease's TTL.
const (
	// SchedulerLeaseKey is the Redis key of the lease.
	SchedulerLeaseKey = "s3ingest:scheduler:leader"
	// SchedulerLeaseTTL is how long a lease lasts without renewal; it is
	// renewed every third of it.
	SchedulerLeaseTTL = 15 * time.Second
)

var (
	// takeLease takes the lease if it is free or already ours.
	takeLease = redis.NewScript(`
local v = redis.call('GET', KEYS[1])
if v == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
if v then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1`)
	renewLease = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0`)
	releaseLease = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0`)
)

// scheduler runs the schedule manager while this process holds the lease.
type scheduler struct {
	rdb  redis.UniversalClient
	log  *zap.Logger
	sync time.Duration
	ttl  time.Duration
	id   string // this process's lease value

	mgr     *asynq.PeriodicTaskManager // non-nil while leading
	leading atomic.Bool                // mgr != nil, for observers
	renewed time.Time                  // last successful renewal
}

func newScheduler(rdb redis.UniversalClient, log *zap.Logger, sync, ttl time.Duration) *scheduler {
	var b [12]byte
	_, _ = rand.Read(b[:])
	if ttl <= 0 {
		ttl = SchedulerLeaseTTL
	}
	return &scheduler{rdb: rdb, log: log, sync: sync, ttl: ttl, id: hex.EncodeToString(b[:])}
}

// run takes and keeps the lease until ctx ends, starting the manager while
// it leads and stopping it when it loses the lease; on return the manager
// is stopped and the lease released, so another process takes over at
// once.
func (s *scheduler) run(ctx context.Context) {
	t := time.NewTicker(s.ttl / 3)
	defer t.Stop()
	for {
		s.step(ctx)
		select {
		case <-ctx.Done():
			s.stop()
			rctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			_ = releaseLease.Run(rctx, s.rdb, []string{SchedulerLeaseKey}, s.id).Err()
			cancel()
			return
		case <-t.C:
		}
	}
}

// step renews the lease (leading) or tries to take it (following).
func (s *scheduler) step(ctx context.Context) {
	ms := s.ttl.Milliseconds()
	if s.mgr != nil {
		n, err := renewLease.Run(ctx, s.rdb, []string{SchedulerLeaseKey}, s.id, ms).Int()
		switch {
		case err == nil && n == 1:
			s.renewed = time.Now()
			return
		case ctx.Err() != nil:
			return
		case err != nil && time.Since(s.renewed) < s.ttl:
			// Redis unreachable for a moment: the lease outlives it.
			return
		}
		// Lost it (taken over, or expired while Redis was unreachable):
		// another process may lead by now.
		s.log.Warn("ingestd: scheduler lease lost; stopping the schedule manager", zap.Error(err))
		s.stop()
		return
	}
	n, err := takeLease.Run(ctx, s.rdb, []string{SchedulerLeaseKey}, s.id, ms).Int()
	if err != nil || n != 1 {
		return
	}
	s.renewed = time.Now()
	mgr, err := asynq.NewPeriodicTaskManager(asynq.PeriodicTaskManagerOpts{
		PeriodicTaskConfigProvider: jobs.NewSchedules(s.rdb),
		RedisUniversalClient:       s.rdb,
		SchedulerOpts:              &asynq.SchedulerOpts{Logger: worker.AsynqLogger(s.log, "scheduler")},
		SyncInterval:               s.sync,
	})
	if err == nil {
		err = mgr.Start()
	}
	if err != nil {
		s.log.Error("ingestd: start schedule manager", zap.Error(err))
		_ = releaseLease.Run(ctx, s.rdb, []string{SchedulerLeaseKey}, s.id).Err()
		return
	}
	s.mgr = mgr
	s.leading.Store(true)
	s.log.Info("ingestd: leading the schedulers (this process enqueues scheduled runs)")
}

func (s *scheduler) stop() {
	if s.mgr != nil {
		s.mgr.Shutdown()
		s.mgr = nil
		s.leading.Store(false)
	}
}
