package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/s3ingest/s3ingest/internal/testenv"
	"github.com/s3ingest/s3ingest/jobs"
)

// execute runs one command line as main does (errors and their fix on
// stderr) and returns stdout, stderr and the exit status.
func (c *cli) execute(args ...string) (string, string, int) {
	c.t.Helper()
	var out, errOut bytes.Buffer
	a := newApp(&out, &errOut)
	if c.setup != nil {
		c.setup(a)
	}
	defer a.close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if c.stdin != "" {
		a.stdin = strings.NewReader(c.stdin)
	}
	code := a.execute(ctx, append([]string{"--redis-url", c.url}, args...))
	return out.String(), errOut.String(), code
}

// progressWorker completes each ingest after writing three progress
// snapshots, 300ms apart, the way ingestd does (with the totals a newer
// ingestd adds).
func progressWorker(t *testing.T, rs *testenv.RedisServer) {
	blockingWorker(t, rs.Client(t), func(ctx context.Context, task *asynq.Task) error {
		for i := int64(1); i <= 3; i++ {
			snap := map[string]any{"dataset": "d", "done": false, "objects": i, "rows": 100 * i, "bytes": 2048 * i,
				"duration": (time.Duration(i) * time.Second).String(), "objects_total": 4, "bytes_total": 8192}
			b, _ := json.Marshal(snap)
			if _, err := task.ResultWriter().Write(b); err != nil {
				return err
			}
			time.Sleep(300 * time.Millisecond)
		}
		b, _ := json.Marshal(jobs.IngestResult{Dataset: "d", Done: true, Objects: 4, Rows: 400, Bytes: 8192})
		_, err := task.ResultWriter().Write(b)
		return err
	})
}

// TestIngestWaitProgress: --wait shows the progress the task writes: lines
// on a non-terminal, a bar on a terminal; the final summary on stdout.
func TestIngestWaitProgress(t *testing.T) {
	rs := testenv.Redis(t)
	progressWorker(t, rs)
	for _, tc := range []struct {
		name     string
		terminal bool
		want     []string // on stderr
	}{
		// (The pending line depends on the first poll beating the worker:
		// TestWaitStopsEarly's timeout case, with no worker, checks it.)
		{"lines", false, []string{
			": running: 1 of 4 objects done, 100 rows, 2.0 KiB read of 8.0 KiB (2.0 KiB/s), about 3s left\n",
			": running: 2 of 4 objects done, 200 rows, 4.0 KiB read of 8.0 KiB (2.0 KiB/s), about 2s left\n",
		}},
		{"bar", true, []string{"of 4 objects, ", "00 rows", "% |", "kB/s"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &cli{t: t, url: rs.URL(), setup: func(a *app) {
				a.progressEvery = 100 * time.Millisecond
				a.terminal = func(io.Writer) bool { return tc.terminal }
			}}
			out, errOut, err := c.run("", "ingest", "--workspace", "ws1", "--bucket", "data", "--dataset", "d", "--wait")
			if err != nil {
				t.Fatalf("ingest --wait: %v\n%s\n%s", err, out, errOut)
			}
			if !strings.Contains(out, "dataset d: 4 objects (0 skipped, 0 failed), 400 rows, 8192 bytes") {
				t.Errorf("stdout lacks the final summary:\n%s", out)
			}
			if strings.Contains(out, "running") {
				t.Errorf("progress on stdout:\n%s", out)
			}
			for _, w := range tc.want {
				if !strings.Contains(errOut, w) {
					t.Errorf("stderr lacks %q:\n%s", w, errOut)
				}
			}
		})
	}
}

// TestWaitStopsEarly: a --timeout or Redis gone past --redis-grace ends
// --wait with an error saying the task goes on and how to follow it; a
// Redis blip shorter than the grace is ridden out.
func TestWaitStopsEarly(t *testing.T) {
	rs := testenv.Redis(t)
	for _, tc := range []struct {
		name       string
		args       []string
		cutAt      time.Duration // 0: no cut
		restoreAt  time.Duration // 0: stays cut
		worker     bool
		wantCode   int
		want       []string // on stdout+stderr
		maxElapsed time.Duration
	}{
		{name: "timeout", args: []string{"--timeout", "400ms"}, wantCode: 1, maxElapsed: 20 * time.Second, want: []string{
			": pending: waiting for a worker\n", "stopped waiting for task ", "the task keeps running",
			"fix: follow the task with `ingestctl task status "}},
		{name: "redis gone", args: []string{"--redis-grace", "500ms"}, cutAt: 400 * time.Millisecond, wantCode: 1, maxElapsed: 15 * time.Second, want: []string{
			"lost Redis while waiting for task ", "the task keeps running", "once Redis is reachable again"}},
		{name: "blip ridden out", args: []string{"--redis-grace", "20s"}, cutAt: 300 * time.Millisecond, restoreAt: 1800 * time.Millisecond, worker: true,
			wantCode: 0, maxElapsed: 40 * time.Second, want: []string{"dataset d: 4 objects"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			target := testenv.Redis(t)
			if !tc.worker {
				target = rs
			} else {
				progressWorker(t, target)
			}
			proxy := testenv.NewTCPProxy(t, target.Addr)
			c := &cli{t: t, url: "redis://" + proxy.Addr() + "/0", setup: func(a *app) { a.progressEvery = time.Hour }}
			if tc.cutAt > 0 {
				timer := time.AfterFunc(tc.cutAt, proxy.Cut)
				defer timer.Stop()
				if tc.restoreAt > 0 {
					r := time.AfterFunc(tc.restoreAt, proxy.Restore)
					defer r.Stop()
				}
			}
			start := time.Now()
			out, errOut, code := c.execute(append([]string{"ingest", "--workspace", "ws1", "--bucket", "data", "--dataset", "d", "--wait"}, tc.args...)...)
			if elapsed := time.Since(start); elapsed > tc.maxElapsed {
				t.Errorf("took %s, want at most %s", elapsed, tc.maxElapsed)
			}
			if code != tc.wantCode {
				t.Errorf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tc.wantCode, out, errOut)
			}
			for _, w := range tc.want {
				if !strings.Contains(out+errOut, w) {
					t.Errorf("output lacks %q\nstdout:\n%s\nstderr:\n%s", w, out, errOut)
				}
			}
		})
	}
}

// TestLineProgressPacing: a line at each state change, then at most one
// per interval while the state stays; none for the final states (the
// result follows).
func TestLineProgressPacing(t *testing.T) {
	var buf bytes.Buffer
	now := time.Unix(1000, 0)
	p := &lineProgress{w: &buf, every: 5 * time.Second, now: func() time.Time { return now }}
	snap := func(objects int64) []byte {
		b, _ := json.Marshal(jobs.IngestResult{Dataset: "d", Objects: objects, Rows: objects * 10, Bytes: objects << 20, Duration: jobs.Duration(time.Duration(objects) * time.Second)})
		return b
	}
	steps := []struct {
		after time.Duration
		state asynq.TaskState
		res   []byte
		want  string // "" for no line
	}{
		{0, asynq.TaskStatePending, nil, "task t1: pending: waiting for a worker"},
		{time.Second, asynq.TaskStatePending, nil, ""},
		{time.Second, asynq.TaskStateActive, snap(1), "task t1: running: 1 object done, 10 rows, 1.0 MiB read (1.0 MiB/s)"},
		{4 * time.Second, asynq.TaskStateActive, snap(2), ""},
		{time.Second, asynq.TaskStateActive, snap(3), "task t1: running: 3 objects done, 30 rows, 3.0 MiB read (1.0 MiB/s)"},
		{time.Second, asynq.TaskStateRetry, nil, "task t1: failed, will be retried (try 2 of 11): boom"},
		{6 * time.Second, asynq.TaskStateCompleted, snap(4), ""},
	}
	for i, s := range steps {
		now = now.Add(s.after)
		buf.Reset()
		p.update(&asynq.TaskInfo{ID: "t1", State: s.state, Result: s.res, Retried: 1, MaxRetry: 10, LastErr: "boom"})
		got := strings.TrimSuffix(buf.String(), "\n")
		if got != s.want {
			t.Errorf("step %d (%s): printed %q, want %q", i, s.state, got, s.want)
		}
	}
}
