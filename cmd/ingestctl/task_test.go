package main

import (
	"encoding/json"
	"strings"
	"testing"

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
