package jobs_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/s3ingest/s3ingest/internal/testenv"
	"github.com/s3ingest/s3ingest/jobs"
)

// waitEnv enqueues an ingest on a real Redis and returns a jobs.Client
// that reaches Redis through a proxy the test can cut, and a direct
// client to complete the task with.
func waitEnv(t *testing.T) (c *jobs.Client, proxy *testenv.TCPProxy, direct *redis.Client, info *asynq.TaskInfo) {
	t.Helper()
	rs := testenv.Redis(t)
	direct = rs.Client(t)
	proxy = testenv.NewTCPProxy(t, rs.Addr)
	viaProxy := redis.NewClient(&redis.Options{Addr: proxy.Addr(), MaxRetries: -1, DialTimeout: 200 * time.Millisecond,
		ReadTimeout: 200 * time.Millisecond, WriteTimeout: 200 * time.Millisecond})
	t.Cleanup(func() { viaProxy.Close() })
	c = jobs.NewClient(viaProxy)
	info, err := jobs.NewClient(direct).EnqueueIngest(context.Background(), jobs.IngestPayload{WorkspaceID: "ws", Dataset: "d",
		Source: jobs.Source{Bucket: "bucket", Prefix: "p/"}})
	if err != nil {
		t.Fatal(err)
	}
	return c, proxy, direct, info
}

// complete runs one asynq worker on the direct client that completes the
// task after delay.
func complete(t *testing.T, direct *redis.Client, delay time.Duration) {
	srv := asynq.NewServerFromRedisClient(direct, asynq.Config{Concurrency: 1, Queues: map[string]int{jobs.QueueIngest: 1},
		TaskCheckInterval: 50 * time.Millisecond, Logger: nopLogger{}})
	mux := asynq.NewServeMux()
	mux.HandleFunc(jobs.TypeIngest, func(ctx context.Context, t *asynq.Task) error {
		time.Sleep(delay)
		_, err := t.ResultWriter().Write([]byte(`{"done":true}`))
		return err
	})
	if err := srv.Start(mux); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
}

// TestWaitRidesOutARedisBlip: Redis unreachable for 2s while the task
// runs; Wait keeps going and returns the completed task.
func TestWaitRidesOutARedisBlip(t *testing.T) {
	c, proxy, direct, info := waitEnv(t)
	complete(t, direct, 3*time.Second)
	go func() {
		time.Sleep(500 * time.Millisecond)
		proxy.Cut()
		time.Sleep(2 * time.Second)
		proxy.Restore()
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var updates int
	done, err := c.WaitFor(ctx, info.Queue, info.ID, jobs.WaitOptions{Poll: 50 * time.Millisecond, RedisGrace: 10 * time.Second,
		OnUpdate: func(*asynq.TaskInfo) { updates++ }})
	if err != nil {
		t.Fatalf("Wait across a Redis blip: %v", err)
	}
	if done.State != asynq.TaskStateCompleted || string(done.Result) != `{"done":true}` || updates < 2 {
		t.Fatalf("Wait = %s %q after %d updates", done.State, done.Result, updates)
	}
}

// TestWaitGivesUpSayingTheTaskGoesOn: past the grace, and on a timeout,
// Wait returns a *WaitError that names the task, its last state and that
// it keeps running.
func TestWaitGivesUpSayingTheTaskGoesOn(t *testing.T) {
	c, proxy, _, info := waitEnv(t)
	// Timeout: the task stays pending (no worker).
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, err := c.WaitFor(ctx, info.Queue, info.ID, jobs.WaitOptions{Poll: 20 * time.Millisecond})
	var we *jobs.WaitError
	if !errors.As(err, &we) || we.Redis || we.State != "pending" || !errors.Is(err, context.DeadlineExceeded) ||
		!strings.Contains(err.Error(), "keeps running") || !strings.Contains(err.Error(), info.ID) {
		t.Fatalf("Wait past its timeout = %v, want a WaitError naming the task, state pending, keeps running", err)
	}
	// Redis gone for longer than the grace.
	proxy.Cut()
	start := time.Now()
	_, err = c.WaitFor(context.Background(), info.Queue, info.ID, jobs.WaitOptions{Poll: 20 * time.Millisecond, RedisGrace: time.Second})
	if !errors.As(err, &we) || !we.Redis || !strings.Contains(err.Error(), "lost Redis") {
		t.Fatalf("Wait with Redis gone = %v, want a Redis WaitError", err)
	}
	if d := time.Since(start); d < time.Second || d > 10*time.Second {
		t.Fatalf("gave up after %s, want about the 1s grace", d)
	}
}

type nopLogger struct{}

func (nopLogger) Debug(...any) {}
func (nopLogger) Info(...any)  {}
func (nopLogger) Warn(...any)  {}
func (nopLogger) Error(...any) {}
func (nopLogger) Fatal(...any) {}
