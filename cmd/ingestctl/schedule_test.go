package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/s3ingest/s3ingest/internal/testenv"
	"github.com/s3ingest/s3ingest/jobs"
)

// TestScheduleListNextAndLastRun: each schedule's next run from its cron
// (UTC, as the scheduler) and its newest run: completed with rows, failed
// with the error, or none.
func TestScheduleListNextAndLastRun(t *testing.T) {
	rs := testenv.Redis(t)
	rdb := rs.Client(t)
	c := &cli{t: t, url: rs.URL()}
	for _, s := range []struct{ ws, id, cron string }{
		{"ws1", "good", "0 3 * * *"},
		{"ws1", "bad", "@every 30m"},
		{"ws2", "idle", "15 * * * *"},
	} {
		c.ok("", "schedule", "add", "--workspace", s.ws, "--id", s.id, "--cron", s.cron, "--bucket", "data", "--prefix", "in/", "--dataset", "d"+s.id)
	}
	// Runs as the scheduler enqueues them, handled by a stand-in worker:
	// "good" completes (an older run with fewer rows first), "bad" fails
	// for good.
	workerOn(t, rdb, jobs.QueueScheduled, func(ctx context.Context, task *asynq.Task) error {
		var p jobs.IngestPayload
		if err := json.Unmarshal(task.Payload(), &p); err != nil {
			return err
		}
		if p.ScheduleID == "bad" {
			return fmt.Errorf("access denied to s3://data/in/: %w", asynq.SkipRetry)
		}
		b, _ := json.Marshal(jobs.IngestResult{Dataset: p.Dataset, Done: true, Objects: 2, Rows: int64(len(p.Source.Prefix)) * 100})
		_, err := task.ResultWriter().Write(b)
		return err
	})
	jc := jobs.NewClient(rdb)
	var last *asynq.TaskInfo
	for _, run := range []struct{ id, prefix string }{{"good", "in/"}, {"good", "in/x/"}, {"bad", "in/"}} {
		info, err := jc.EnqueueIngest(t.Context(), jobs.IngestPayload{WorkspaceID: "ws1", ScheduleID: run.id, Dataset: "d" + run.id,
			Source: jobs.Source{Bucket: "data", Prefix: run.prefix}})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
		last, err = jc.Wait(ctx, info.Queue, info.ID, 50*time.Millisecond)
		cancel()
		if run.id == "good" && err != nil || run.id == "bad" && !errors.Is(err, jobs.ErrTaskFailed) {
			t.Fatalf("run of %s: %v", run.id, err)
		}
		time.Sleep(1100 * time.Millisecond) // completion times are in seconds
	}

	out := c.ok("", "schedule", "list")
	lines := strings.Split(out, "\n")
	find := func(id string) string {
		for _, l := range lines {
			if strings.Contains(l, " "+id+" ") {
				return l
			}
		}
		t.Fatalf("no line for schedule %s:\n%s", id, out)
		return ""
	}
	now := time.Now().UTC()
	next3 := time.Date(now.Year(), now.Month(), now.Day(), 3, 0, 0, 0, time.UTC)
	if !next3.After(now) {
		next3 = next3.AddDate(0, 0, 1)
	}
	if l := find("good"); !strings.Contains(l, next3.Format(time.RFC3339)) || !strings.Contains(l, "completed ") || !strings.Contains(l, "2 objects, 500 rows") {
		t.Errorf("schedule good (next %s, last run 500 rows):\n%s", next3.Format(time.RFC3339), l)
	}
	if l := find("bad"); !strings.Contains(l, "failed ") || !strings.Contains(l, "access denied to s3://data/in/") || !strings.Contains(l, last.ID) {
		t.Errorf("schedule bad (last run failed, task %s):\n%s", last.ID, l)
	}
	if l := find("idle"); !strings.Contains(l, "never") || !strings.Contains(l, ":15:00Z") {
		t.Errorf("schedule idle:\n%s", l)
	}

	var rows []scheduleRow
	if err := json.Unmarshal([]byte(c.ok("", "--json", "schedule", "list", "--workspace", "ws1")), &rows); err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 || rows[0].ID != "bad" || rows[1].ID != "good" {
		t.Fatalf("--json schedule list --workspace ws1: %+v", rows)
	}
	bad, good := rows[0], rows[1]
	if good.NextRun == nil || !good.NextRun.Equal(next3) || good.LastRun == nil || good.LastRun.State != "completed" || good.LastRun.Rows != 500 ||
		good.LastRun.FinishedAt == nil || good.Cron != "0 3 * * *" || good.Ingest.Dataset != "dgood" {
		t.Errorf("good: %+v next %v last %+v", good.Schedule, good.NextRun, good.LastRun)
	}
	if bad.NextRun == nil || bad.NextRun.Sub(now) > 30*time.Minute+time.Second || bad.LastRun == nil || bad.LastRun.State != "archived" ||
		!strings.Contains(bad.LastRun.Error, "access denied") {
		t.Errorf("bad: next %v last %+v", bad.NextRun, bad.LastRun)
	}
}
