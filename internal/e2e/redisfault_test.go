package e2e

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/s3ingest/s3ingest/credstore"
	"github.com/s3ingest/s3ingest/internal/testenv"
	"github.com/s3ingest/s3ingest/jobs"
	"github.com/s3ingest/s3ingest/worker/sink"
)

// Source of the Redis restart test: 8 CSV objects, two of them large
// (~6.5 MiB, 200k rows), read through the pacing proxy so that the ingest
// takes about ten seconds.
var redisFaultRows = []int64{4000, 4000, 200_000, 4000, 4000, 200_000, 4000, 4000}

const (
	redisFaultRate     = 1 << 20 // bytes/s per object read
	redisFaultGetDelay = 200 * time.Millisecond
	redisFaultDown     = 2 * time.Second // how long Redis stays down
	redisFaultWS       = "ws-redisfault"
	redisFaultDataset  = "orders"
)

// TestRedisRestart stops Redis in the middle of an ingest run by ingestd
// (a real process) and starts it again on the same port about two seconds
// later, with persistence as deploy/redis.conf configures it (append-only
// file). It checks that ingestd rides out the outage without exiting, the
// ingest completes with exact rows, the results of tasks completed before
// the outage are still there unchanged, and no task was lost (every task
// seen before the outage is still there, in the state expected).
//
// Two variants: a clean stop (SIGTERM; appendfsync everysec, as
// deploy/redis.conf) and kill -9 (appendfsync always: every write is on
// disk before Redis answers, so nothing acknowledged is lost even then).
func TestRedisRestart(t *testing.T) {
	s3 := testenv.S3(t)
	bucket := s3.UniqueBucket(t)
	objs := putObjects(t, s3, bucket, "in/obj-", redisFaultRows)
	small := putObjects(t, s3, bucket, "small/obj-", []int64{100, 200})
	ingestdBinary(t)

	for _, sc := range []struct {
		name  string
		fsync string
		stop  func(r *testenv.RedisServer)
	}{
		{"sigterm-everysec", "everysec", (*testenv.RedisServer).Terminate},
		{"kill9-always", "always", (*testenv.RedisServer).Stop},
	} {
		t.Run(sc.name, func(t *testing.T) {
			t.Parallel()
			runRedisRestart(t, s3, bucket, objs, small, sc.fsync, sc.stop)
		})
	}
}

func runRedisRestart(t *testing.T, s3 *testenv.S3Server, bucket string, objs, small []srcObj,
	fsync string, stop func(*testenv.RedisServer)) {
	ctx := context.Background()
	e := newEnvOn(t, testenv.RedisWithAOF(t, fsync), s3)
	direct := addNamedCredential(t, e, "direct", s3.Endpoint)
	proxy := newS3Proxy(t, s3, 0, redisFaultGetDelay, redisFaultRate)
	paced := addNamedCredential(t, e, "paced", proxy.URL)
	root := t.TempDir()
	d := StartDaemon(t, "ingestd", e.daemonEnv("file://"+root))

	// Two tasks completed before the outage, whose results must survive.
	var early []*asynq.TaskInfo
	for i, ds := range []string{"early_a", "early_b"} {
		info, err := e.jobs.EnqueueIngest(ctx, jobs.IngestPayload{WorkspaceID: redisFaultWS, CredentialID: direct,
			Source: jobs.Source{Bucket: bucket, Prefix: "small/"}, Dataset: ds})
		if err != nil {
			t.Fatal(err)
		}
		waitFor(t, "early task "+itoa(i)+" to complete", 60*time.Second, 50*time.Millisecond, func() (bool, string) {
			info = e.task(info.Queue, info.ID)
			if info.State == asynq.TaskStateArchived {
				t.Fatalf("early task %s failed: %s", ds, info.LastErr)
			}
			return info.State == asynq.TaskStateCompleted, "state " + info.State.String()
		})
		if len(info.Result) == 0 {
			t.Fatalf("early task %s completed without a result", ds)
		}
		early = append(early, info)
	}
	// A task scheduled for later: it must still be scheduled afterwards.
	later, err := e.jobs.EnqueueIngest(ctx, jobs.IngestPayload{WorkspaceID: redisFaultWS, CredentialID: direct,
		Source: jobs.Source{Bucket: bucket, Prefix: "small/"}, Dataset: "later"}, asynq.ProcessIn(time.Hour))
	if err != nil {
		t.Fatal(err)
	}

	// The ingest that Redis goes away under.
	main, err := e.jobs.EnqueueIngest(ctx, jobs.IngestPayload{WorkspaceID: redisFaultWS, CredentialID: paced,
		Source: jobs.Source{Bucket: bucket, Prefix: "in/"}, Dataset: redisFaultDataset})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	var total int64
	for _, o := range objs {
		total += o.Size
	}
	var note string
	waitFor(t, "the ingest to be a third done", 60*time.Second, 20*time.Millisecond, func() (bool, string) {
		served, _, _, _ := proxy.snapshot()
		var n int64
		for _, v := range served {
			n += v
		}
		note = fmtMB(n) + " of " + fmtMB(total) + " read"
		return n > total/3, note
	})
	before := taskStates(t, e)
	if got := before[main.ID]; got != asynq.TaskStateActive {
		t.Fatalf("about to stop Redis but the ingest is %s, not active", got)
	}
	t.Logf("tasks before the outage: %s", fmtStates(before))

	logOff := logSize(d)
	down := time.Now()
	stop(e.redis)
	t.Logf("redis stopped %.1fs into the ingest (%s)", down.Sub(start).Seconds(), note)
	time.Sleep(redisFaultDown)
	e.redis.Restart(t)
	up := time.Now()
	t.Logf("redis up again after %.1fs", up.Sub(down).Seconds())
	if exited(d) {
		t.Fatalf("ingestd exited while Redis was down:\n%s", d.LogTail(4000))
	}

	var info *asynq.TaskInfo
	waitFor(t, "the ingest to complete after the Redis restart", 120*time.Second, 100*time.Millisecond, func() (bool, string) {
		if exited(d) {
			t.Fatalf("ingestd exited after the Redis restart:\n%s", d.LogTail(4000))
		}
		i, err := e.jobs.Task(main.Queue, main.ID)
		if errors.Is(err, asynq.ErrTaskNotFound) || errors.Is(err, asynq.ErrQueueNotFound) {
			t.Fatalf("the ingest task was lost in the Redis restart: %v", err)
		}
		if err != nil {
			return false, err.Error() // e.g. Redis still loading its append-only file
		}
		info = i
		if info.State == asynq.TaskStateArchived {
			t.Fatalf("the ingest failed for good after the Redis restart (retried %d): %s", info.Retried, info.LastErr)
		}
		return info.State == asynq.TaskStateCompleted, "state " + info.State.String() + ", last error " + info.LastErr
	})
	t.Logf("ingest completed %.1fs after Redis came back (%.1fs in all), retried %d times",
		time.Since(up).Seconds(), time.Since(start).Seconds(), info.Retried)

	// What ingestd said about the outage (warnings, errors and lines not
	// written by its logger).
	for _, l := range logLinesAfter(d, logOff) {
		if !strings.Contains(l, `"level":"info"`) && !strings.Contains(l, `"level":"debug"`) {
			t.Logf("ingestd: %s", l)
		}
	}
	if exited(d) {
		t.Fatalf("ingestd exited after the Redis restart")
	}

	// Exact rows.
	var res jobs.IngestResult
	if err := jobs.DecodeResult(info, &res); err != nil {
		t.Fatal(err)
	}
	t.Logf("final result: %s", res.String())
	if !res.Done || res.Failed != 0 || res.Objects+res.Skipped != int64(len(objs)) {
		t.Errorf("final result: %s; want done, 0 failed, objects + skipped = %d", res.String(), len(objs))
	}
	var want int64
	for _, o := range objs {
		want += o.Rows
	}
	dsDir := filepath.Join(root, sink.WorkspaceDirName(redisFaultWS), redisFaultDataset)
	if got := verifyFileDataset(t, dsDir, bucket, objs); got != want {
		t.Errorf("dataset has %d rows, want %d", got, want)
	}
	for _, ds := range []string{"early_a", "early_b"} {
		verifyFileDataset(t, filepath.Join(root, sink.WorkspaceDirName(redisFaultWS), ds), bucket, small)
	}

	// The results of the tasks completed before the outage, unchanged.
	for _, want := range early {
		got, err := e.jobs.Task(want.Queue, want.ID)
		if err != nil {
			t.Errorf("task %s, completed before the outage: %v", want.ID, err)
			continue
		}
		if got.State != asynq.TaskStateCompleted || !bytes.Equal(got.Result, want.Result) {
			t.Errorf("task %s, completed before the outage, is %s with result %s; want completed with %s",
				want.ID, got.State, got.Result, want.Result)
		}
	}

	// No task lost: every task seen before is still there, in the state
	// expected, and none appeared from nowhere.
	after := taskStates(t, e)
	t.Logf("tasks after: %s", fmtStates(after))
	expect := map[string]asynq.TaskState{main.ID: asynq.TaskStateCompleted, later.ID: asynq.TaskStateScheduled}
	for _, i := range early {
		expect[i.ID] = asynq.TaskStateCompleted
	}
	for id := range before {
		if _, ok := expect[id]; !ok {
			t.Errorf("task %s (%s before the outage) is not one the test enqueued", id, before[id])
		}
	}
	for id, st := range expect {
		if before[id] == 0 {
			t.Errorf("task %s missing before the outage", id)
		}
		if after[id] != st {
			t.Errorf("task %s is %v after the outage, want %s", id, after[id], st)
		}
	}
	if len(after) != len(expect) {
		t.Errorf("%d tasks after the outage, want %d", len(after), len(expect))
	}
}

// newEnvOn is newEnv on a given Redis.
func newEnvOn(t testing.TB, rs *testenv.RedisServer, s3 *testenv.S3Server) *env {
	t.Helper()
	rdb := rs.Client(t)
	key := credstore.GenerateKey()
	keyring, err := credstore.ParseKeyring(key)
	if err != nil {
		t.Fatal(err)
	}
	store, err := credstore.NewStore(credstore.StoreConfig{Redis: rdb, Keyring: keyring, PlatformARN: testenv.PlatformUserARN})
	if err != nil {
		t.Fatal(err)
	}
	return &env{t: t, redis: rs, rdb: rdb, s3: s3, key: key, store: store,
		jobs: jobs.NewClient(rdb), insp: asynq.NewInspectorFromRedisClient(rdb)}
}

// addNamedCredential stores SeaweedFS's reader keys under name, pointing at
// endpoint, and returns the credential's ID.
func addNamedCredential(t testing.TB, e *env, name, endpoint string) string {
	t.Helper()
	cred, err := e.store.AddCredential(context.Background(), redisFaultWS, credstore.CredentialInput{Name: name,
		AccessKeyID: testenv.ReaderAccessKey, SecretAccessKey: credstore.Secret(testenv.ReaderSecretKey),
		Region: e.s3.Region, Endpoint: endpoint})
	if err != nil {
		t.Fatal(err)
	}
	return cred.ID
}

// taskStates lists every task of every queue with its state.
func taskStates(t testing.TB, e *env) map[string]asynq.TaskState {
	t.Helper()
	queues, err := e.insp.Queues()
	if err != nil {
		t.Fatalf("list queues: %v", err)
	}
	out := map[string]asynq.TaskState{}
	for _, q := range queues {
		for _, l := range []func(string, ...asynq.ListOption) ([]*asynq.TaskInfo, error){
			e.insp.ListPendingTasks, e.insp.ListActiveTasks, e.insp.ListScheduledTasks,
			e.insp.ListRetryTasks, e.insp.ListArchivedTasks, e.insp.ListCompletedTasks,
		} {
			infos, err := l(q, asynq.PageSize(1000))
			if err != nil {
				t.Fatalf("list tasks of queue %s: %v", q, err)
			}
			for _, i := range infos {
				out[i.ID] = i.State
			}
		}
	}
	return out
}

func fmtStates(m map[string]asynq.TaskState) string {
	n := map[string]int{}
	for _, s := range m {
		n[s.String()]++
	}
	var parts []string
	for s, c := range n {
		parts = append(parts, s+"="+itoa(c))
	}
	sort.Strings(parts)
	return strings.Join(parts, " ")
}

func exited(d *Daemon) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.exitedLocked()
}

func logSize(d *Daemon) int64 {
	st, err := os.Stat(d.logPath)
	if err != nil {
		return 0
	}
	return st.Size()
}

func logLinesAfter(d *Daemon, off int64) []string {
	b, err := os.ReadFile(d.logPath)
	if err != nil || int64(len(b)) < off {
		return nil
	}
	return strings.Split(strings.TrimSpace(string(b[off:])), "\n")
}
