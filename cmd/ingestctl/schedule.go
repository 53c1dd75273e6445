package main

import (
	"fmt"
	"time"

	"github.com/hibiken/asynq"
	"github.com/robfig/cron/v3"

	"github.com/s3ingest/s3ingest/jobs"
)

// cronParser parses specs as asynq's scheduler does (robfig/cron's
// standard parser: five fields or a descriptor such as @hourly or
// @every 30m); the scheduler runs in UTC.
var cronParser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// scheduleRow is one schedule of `schedule list`: the stored schedule,
// its next run and its last run (--json keeps the schedule's fields at the
// top level).
type scheduleRow struct {
	jobs.Schedule
	// NextRun is the next time the scheduler enqueues a run (nil if the
	// spec does not parse).
	NextRun *time.Time `json:"next_run,omitempty"`
	// LastRun is the newest run still kept (nil: none).
	LastRun *lastRun `json:"last_run,omitempty"`
}

// lastRun is a schedule's newest run.
type lastRun struct {
	TaskID     string     `json:"task_id"`
	State      string     `json:"state"`
	FinishedAt *time.Time `json:"finished_at,omitempty"`
	Objects    int64      `json:"objects"`
	Rows       int64      `json:"rows"`
	Failed     int64      `json:"failed,omitempty"`
	Error      string     `json:"error,omitempty"`
}

// text renders the run for the LAST RUN column.
func (r *lastRun) text(now time.Time) string {
	if r == nil {
		return "never (or none kept)"
	}
	switch r.State {
	case asynq.TaskStateActive.String():
		return fmt.Sprintf("running: %d objects, %d rows so far (task %s)", r.Objects, r.Rows, r.TaskID)
	case asynq.TaskStatePending.String(), asynq.TaskStateScheduled.String():
		return "waiting for a worker (task " + r.TaskID + ")"
	case asynq.TaskStateRetry.String():
		return "failed, will be retried: " + shorten(r.Error, 60) + " (task " + r.TaskID + ")"
	}
	when := ""
	if r.FinishedAt != nil {
		when = " " + relTime(*r.FinishedAt, now)
	}
	if r.State == asynq.TaskStateArchived.String() {
		return "failed" + when + ": " + shorten(r.Error, 60) + " (task " + r.TaskID + ")"
	}
	out := fmt.Sprintf("completed%s: %d objects, %d rows", when, r.Objects, r.Rows)
	if r.Failed > 0 {
		out += fmt.Sprintf(", %d objects failed", r.Failed)
	}
	return out
}

// scheduleRunsPerState bounds the runs read per state (the newest ones).
const scheduleRunsPerState = 1000

// scheduleRows adds each schedule's next run and newest run (read from
// the scheduled queue).
func scheduleRows(in *asynq.Inspector, all []jobs.Schedule, now time.Time) ([]scheduleRow, error) {
	rows := make([]scheduleRow, 0, len(all))
	if len(all) == 0 {
		return rows, nil
	}
	newest, err := newestRuns(in)
	if err != nil {
		return nil, err
	}
	for _, sc := range all {
		r := scheduleRow{Schedule: sc}
		if s, err := cronParser.Parse(sc.Cron); err == nil {
			next := s.Next(now.UTC())
			r.NextRun = &next
		}
		if t := newest[sc.Ingest.WorkspaceID+"/"+sc.ID]; t != nil {
			r.LastRun = runOf(t)
		}
		rows = append(rows, r)
	}
	return rows, nil
}

// runOf describes a run's task.
func runOf(t *asynq.TaskInfo) *lastRun {
	r := &lastRun{TaskID: t.ID, State: t.State.String()}
	switch t.State {
	case asynq.TaskStateCompleted:
		r.FinishedAt = timePtr(t.CompletedAt)
	case asynq.TaskStateArchived, asynq.TaskStateRetry:
		r.FinishedAt = timePtr(t.LastFailedAt)
		r.Error = t.LastErr
	}
	if s, ok := decodeSnapshot(t.Result); ok {
		r.Objects, r.Rows, r.Failed = s.Objects, s.Rows, s.Failed
	}
	return r
}

// runRank orders a schedule's runs: the one running, then one waiting,
// then the newest finished.
func runRank(t *asynq.TaskInfo) (int, time.Time) {
	switch t.State {
	case asynq.TaskStateActive:
		return 3, time.Time{}
	case asynq.TaskStatePending, asynq.TaskStateScheduled, asynq.TaskStateRetry:
		return 2, t.NextProcessAt
	case asynq.TaskStateCompleted:
		return 1, t.CompletedAt
	}
	return 1, t.LastFailedAt
}

// newestRuns returns the newest run of each schedule (by
// "workspace/schedule"), from the scheduled queue.
func newestRuns(in *asynq.Inspector) (map[string]*asynq.TaskInfo, error) {
	known, err := existingQueues(in)
	if err != nil || !known[jobs.QueueScheduled] {
		return nil, err
	}
	qi, err := in.GetQueueInfo(jobs.QueueScheduled)
	if err != nil {
		return nil, fmt.Errorf("read queue %s: %w", jobs.QueueScheduled, err)
	}
	out := map[string]*asynq.TaskInfo{}
	consider := func(ts []*asynq.TaskInfo) {
		for _, t := range ts {
			p := payloadOf(t)
			if p.ScheduleID == "" {
				continue
			}
			k := p.WorkspaceID + "/" + p.ScheduleID
			cur := out[k]
			if cur == nil {
				out[k] = t
				continue
			}
			rn, tn := runRank(t)
			rc, tc := runRank(cur)
			if rn > rc || rn == rc && tn.After(tc) {
				out[k] = t
			}
		}
	}
	type lister func(string, ...asynq.ListOption) ([]*asynq.TaskInfo, error)
	for _, l := range []struct {
		total int
		list  lister
	}{
		{qi.Active, in.ListActiveTasks},
		{qi.Pending, in.ListPendingTasks},
		{qi.Scheduled, in.ListScheduledTasks},
		{qi.Retry, in.ListRetryTasks},
		{qi.Archived, in.ListArchivedTasks},
		{qi.Completed, in.ListCompletedTasks},
	} {
		if l.total == 0 {
			continue
		}
		// Finished runs are listed oldest first: read the last pages.
		const page = 500
		last := (l.total + page - 1) / page
		for p := last; p >= 1 && p > last-scheduleRunsPerState/page; p-- {
			ts, err := l.list(jobs.QueueScheduled, asynq.PageSize(page), asynq.Page(p))
			if err != nil {
				return nil, fmt.Errorf("list runs of schedules: %w", err)
			}
			consider(ts)
		}
	}
	return out, nil
}
