package main

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/s3ingest/s3ingest/internal/buildinfo"
	"github.com/s3ingest/s3ingest/internal/testenv"
	"github.com/s3ingest/s3ingest/jobs"
)

// TestTaskStatusFindsAnyQueue enqueues one task on each queue (no daemon
// runs, so they stay pending) and finds each by ID alone.
func TestTaskStatusFindsAnyQueue(t *testing.T) {
	rs := testenv.Redis(t)
	c := &cli{t: t, url: rs.URL()}
	jc := jobs.NewClient(rs.Client(t))
	src := jobs.Source{Bucket: "data", Prefix: "in/"}
	preview, err := jc.EnqueuePreview(t.Context(), jobs.PreviewPayload{WorkspaceID: "ws1", Source: src})
	if err != nil {
		t.Fatal(err)
	}
	ingest, err := jc.EnqueueIngest(t.Context(), jobs.IngestPayload{WorkspaceID: "ws1", Source: src, Dataset: "d"})
	if err != nil {
		t.Fatal(err)
	}
	scheduled, err := jc.EnqueueIngest(t.Context(), jobs.IngestPayload{WorkspaceID: "ws1", Source: src, Dataset: "d", ScheduleID: "nightly"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		id, queue string
	}{
		{preview.ID, jobs.QueueInteractive},
		{ingest.ID, jobs.QueueIngest},
		{scheduled.ID, jobs.QueueScheduled},
	} {
		if tc.id == "" {
			t.Fatal("no task ID")
		}
		out := c.ok("", "task", "status", tc.id)
		if !strings.Contains(out, "task "+tc.id) || !strings.Contains(out, "on "+tc.queue+": pending") {
			t.Errorf("task status %s (queue %s):\n%s", tc.id, tc.queue, out)
		}
		var got map[string]any
		if err := json.Unmarshal([]byte(c.ok("", "--json", "task", "status", tc.id)), &got); err != nil || got["queue"] != tc.queue || got["id"] != tc.id {
			t.Errorf("--json task status %s: %v %v, want queue %s", tc.id, got, err, tc.queue)
		}
		// An explicit --queue is still honoured.
		if out := c.ok("", "task", "status", "--queue", tc.queue, tc.id); !strings.Contains(out, "on "+tc.queue) {
			t.Errorf("task status --queue %s %s:\n%s", tc.queue, tc.id, out)
		}
	}
	c.fails("task no-such-id not found in any queue (interactive, ingest, scheduled)", "", "task", "status", "no-such-id")
	c.fails("task "+preview.ID+" not found in queue ingest", "", "task", "status", "--queue", "ingest", preview.ID)
	_, _, err = c.run("", "task", "status", "no-such-id")
	if err == nil || strings.Contains(err.Error(), "asynq") {
		t.Errorf("unknown task: %v, want an error without asynq's words", err)
	}
}

// TestEnqueueSaysHowToFollow: the printed follow-up command works as is.
func TestEnqueueSaysHowToFollow(t *testing.T) {
	c := &cli{t: t, url: testenv.Redis(t).URL()}
	out := c.ok("", "ingest", "--workspace", "ws1", "--bucket", "data", "--dataset", "d")
	i := strings.Index(out, "follow it with: ingestctl ")
	if i < 0 {
		t.Fatalf("no follow-up command in:\n%s", out)
	}
	follow := strings.Fields(strings.TrimPrefix(out[i:], "follow it with: ingestctl "))
	if st := c.ok("", follow...); !strings.Contains(st, "pending") {
		t.Fatalf("ingestctl %v:\n%s", follow, st)
	}
}

func TestVersion(t *testing.T) {
	c := &cli{t: t, url: "redis://127.0.0.1:1/0"}
	out := c.ok("", "--version")
	if want := buildinfo.Read().String(); !strings.Contains(out, want) {
		t.Fatalf("--version printed %q, want %q", out, want)
	}
}

// taskState reads a task's state through `task status --json` ("" when it
// is not found).
func taskState(c *cli, id string) string {
	c.t.Helper()
	out, _, err := c.run("", "--json", "task", "status", id)
	if err != nil {
		if strings.Contains(err.Error(), "not found") {
			return ""
		}
		c.t.Fatalf("task status %s: %v", id, err)
	}
	var got map[string]any
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		c.t.Fatalf("task status --json: %v\n%s", err, out)
	}
	return got["state"].(string)
}

// TestTaskListCancelRetryDelete runs the task commands on tasks no worker
// takes (they stay where the commands put them).
func TestTaskListCancelRetryDelete(t *testing.T) {
	rs := testenv.Redis(t)
	c := &cli{t: t, url: rs.URL()}
	jc := jobs.NewClient(rs.Client(t))
	src := jobs.Source{Bucket: "data", Prefix: "in/"}
	preview, err := jc.EnqueuePreview(t.Context(), jobs.PreviewPayload{WorkspaceID: "ws1", Source: src})
	if err != nil {
		t.Fatal(err)
	}
	ingest, err := jc.EnqueueIngest(t.Context(), jobs.IngestPayload{WorkspaceID: "ws1", Source: src, Dataset: "orders"})
	if err != nil {
		t.Fatal(err)
	}
	run, err := jc.EnqueueIngest(t.Context(), jobs.IngestPayload{WorkspaceID: "ws2", Source: src, Dataset: "events", ScheduleID: "nightly"})
	if err != nil {
		t.Fatal(err)
	}

	out := c.ok("", "task", "list")
	for _, want := range []string{preview.ID, ingest.ID, run.ID, "ws1/orders", "ws2/events", "ws1 s3://data", "3 of 3 tasks shown (3 pending)"} {
		if !strings.Contains(out, want) {
			t.Errorf("task list lacks %q:\n%s", want, out)
		}
	}
	if out := c.ok("", "task", "list", "--limit", "1"); !strings.Contains(out, "1 of 3 tasks shown") || !strings.Contains(out, "raise --limit") {
		t.Errorf("task list --limit 1:\n%s", out)
	}
	if out := c.ok("", "task", "list", "--state", "archived"); !strings.Contains(out, "no tasks in interactive, ingest, scheduled in state archived") {
		t.Errorf("task list --state archived:\n%s", out)
	}
	var listed struct {
		Tasks []taskRow `json:"tasks"`
		Total int       `json:"total"`
	}
	if err := json.Unmarshal([]byte(c.ok("", "--json", "task", "list", "--queue", "ingest")), &listed); err != nil {
		t.Fatal(err)
	}
	if listed.Total != 1 || len(listed.Tasks) != 1 || listed.Tasks[0].ID != ingest.ID || listed.Tasks[0].WorkspaceID != "ws1" ||
		listed.Tasks[0].Dataset != "orders" || listed.Tasks[0].State != "pending" {
		t.Errorf("task list --queue ingest --json: %+v", listed)
	}
	c.fails(`--state "bogus": want one of active, retry, pending, scheduled, archived, completed`, "", "task", "list", "--state", "bogus")

	steps := []struct {
		args      []string
		want      string // in stdout, or in the error when fail
		fail      bool
		id, state string // the task's state afterwards ("" gone)
	}{
		{[]string{"task", "cancel", ingest.ID}, "canceled: it was pending and is now archived", false, ingest.ID, "archived"},
		{[]string{"task", "cancel", ingest.ID}, "is archived: it is not running and will not run, nothing to cancel", true, ingest.ID, "archived"},
		{[]string{"task", "retry", ingest.ID}, "was archived and is now pending on queue ingest", false, ingest.ID, "pending"},
		{[]string{"task", "retry", ingest.ID}, "is pending: it already runs as soon as a worker is free", true, ingest.ID, "pending"},
		// A scheduled run is deleted (it holds its schedule's lock).
		{[]string{"task", "cancel", run.ID}, "is now deleted (a scheduled run: deleting it lets schedule nightly run", false, run.ID, ""},
		{[]string{"task", "delete", preview.ID}, "task " + preview.ID + " (pending) deleted from queue interactive", false, preview.ID, ""},
		{[]string{"task", "delete", preview.ID}, "not found in any queue", true, preview.ID, ""},
		{[]string{"task", "retry", "nope"}, "task nope not found", true, "", ""},
	}
	for _, s := range steps {
		out, _, err := c.run("", s.args...)
		switch {
		case s.fail && (err == nil || !strings.Contains(err.Error(), s.want)):
			t.Errorf("%v: err %v, want one containing %q", s.args, err, s.want)
		case !s.fail && (err != nil || !strings.Contains(out, s.want)):
			t.Errorf("%v: %v\n%s\nwant %q", s.args, err, out, s.want)
		}
		if s.id != "" {
			if got := taskState(c, s.id); got != s.state {
				t.Errorf("after %v: task %s is %q, want %q", s.args, s.id, got, s.state)
			}
		}
	}
	var act taskAction
	if err := json.Unmarshal([]byte(c.ok("", "--json", "task", "cancel", ingest.ID)), &act); err != nil ||
		act.ID != ingest.ID || act.From != "pending" || act.State != "archived" || act.Action != "cancel" {
		t.Errorf("--json task cancel: %+v %v", act, err)
	}
}

// blockingWorker runs an asynq server on rdb whose ingest handler calls
// handle; it stops with the test.
func blockingWorker(t *testing.T, rdb redis.UniversalClient, handle func(ctx context.Context, task *asynq.Task) error) {
	t.Helper()
	workerOn(t, rdb, jobs.QueueIngest, handle)
}

// workerOn runs an asynq server on rdb serving queue with handle for
// ingests; it stops with the test.
func workerOn(t *testing.T, rdb redis.UniversalClient, queue string, handle func(ctx context.Context, task *asynq.Task) error) {
	t.Helper()
	srv := asynq.NewServerFromRedisClient(rdb, asynq.Config{
		Concurrency: 1,
		Queues:      map[string]int{queue: 1},
		Logger:      quietLogger{},
	})
	mux := asynq.NewServeMux()
	mux.HandleFunc(jobs.TypeIngest, handle)
	if err := srv.Start(mux); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
}

// quietLogger keeps asynq's logs out of the test output.
type quietLogger struct{}

func (quietLogger) Debug(...any) {}
func (quietLogger) Info(...any)  {}
func (quietLogger) Warn(...any)  {}
func (quietLogger) Error(...any) {}
func (quietLogger) Fatal(...any) {}

// TestTaskCancelActive: a running task is interrupted and archived, so it
// does not run again; delete refuses a running task.
func TestTaskCancelActive(t *testing.T) {
	rs := testenv.Redis(t)
	c := &cli{t: t, url: rs.URL()}
	rdb := rs.Client(t)
	started := make(chan struct{}, 1)
	stopped := make(chan error, 1)
	blockingWorker(t, rdb, func(ctx context.Context, _ *asynq.Task) error {
		started <- struct{}{}
		<-ctx.Done()
		stopped <- ctx.Err()
		return ctx.Err()
	})
	info, err := jobs.NewClient(rdb).EnqueueIngest(t.Context(), jobs.IngestPayload{WorkspaceID: "ws1", Source: jobs.Source{Bucket: "data"}, Dataset: "d"})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-started:
	case <-time.After(30 * time.Second):
		t.Fatal("the worker did not start the task")
	}
	c.fails("is active: cancel it first with `ingestctl task cancel "+info.ID+"`", "", "task", "delete", info.ID)
	if out := c.ok("", "task", "list", "--state", "active"); !strings.Contains(out, info.ID) || !strings.Contains(out, "running") {
		t.Errorf("task list --state active:\n%s", out)
	}
	out := c.ok("", "task", "cancel", info.ID)
	if !strings.Contains(out, "canceled while running") || !strings.Contains(out, "is now archived") {
		t.Errorf("task cancel of a running task:\n%s", out)
	}
	select {
	case err := <-stopped:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("handler stopped with %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the handler was not canceled")
	}
	if st := taskState(c, info.ID); st != "archived" {
		t.Errorf("after cancel the task is %s, want archived", st)
	}
}
