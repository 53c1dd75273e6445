package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"github.com/spf13/cobra"

	"github.com/s3ingest/s3ingest/jobs"
)

// newTaskCmd builds `ingestctl task status|list|cancel|retry|delete`.
func newTaskCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "task",
		Short: "list, inspect, cancel, retry and delete tasks",
		Long: `Tasks are the units of work ingestd runs: previews and verifications (queue
interactive), ingests (queue ingest) and scheduled runs (queue scheduled).

A task is pending (waiting for a worker), scheduled (waiting for its time),
active (running), retry (failed, waiting to run again), archived (failed for
good, or canceled) or completed. Commands that take a task ID find it in any
queue; --queue narrows the search.`,
	}
	cmd.AddCommand(newTaskStatusCmd(a), newTaskListCmd(a), newTaskCancelCmd(a), newTaskRetryCmd(a), newTaskDeleteCmd(a))
	return cmd
}

func newTaskStatusCmd(a *app) *cobra.Command {
	var queue string
	var wf waitFlags
	status := &cobra.Command{
		Use:   "status TASK_ID",
		Short: "show a task's state, last error and result",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			_, c, info, err := a.lookupTask(cmd.Context(), queue, args[0])
			if err != nil {
				return err
			}
			if wf.wait {
				var progress taskProgress
				if info.Type == jobs.TypeIngest {
					progress = a.ingestProgress(wf)
				}
				var onUpdate func(*asynq.TaskInfo)
				if progress != nil {
					onUpdate = progress.update
				}
				done, werr := a.waitTask(cmd.Context(), c, info, wf, onUpdate)
				if progress != nil {
					progress.finish()
				}
				var we *jobs.WaitError
				if done == nil || errors.As(werr, &we) {
					return werr
				}
				info = done
			}
			if a.asJSON {
				return a.printJSON(map[string]any{"id": info.ID, "queue": info.Queue, "type": info.Type, "state": info.State.String(),
					"retried": info.Retried, "max_retry": info.MaxRetry, "last_error": info.LastErr, "result": rawJSON(info.Result)})
			}
			a.printf("task %s (%s) on %s: %s, retried %d of %d\n", info.ID, info.Type, info.Queue, info.State, info.Retried, info.MaxRetry)
			if info.LastErr != "" {
				a.printf("last error: %s\n", info.LastErr)
			}
			if len(info.Result) > 0 {
				a.printf("result: %s\n", info.Result)
			}
			return nil
		},
	}
	status.Flags().StringVar(&queue, "queue", "", "the task's queue (default: look in "+strings.Join(taskQueues, ", ")+")")
	wf.register(status)
	return status
}

// taskQueues are the queues tasks are enqueued on, where the task
// commands look for a task when --queue is not given.
var taskQueues = []string{jobs.QueueInteractive, jobs.QueueIngest, jobs.QueueScheduled}

// findTask returns the task id from queue, or from the first of
// taskQueues that has it when queue is "".
// lookupTask connects to Redis and finds task id (in queue, or in any
// queue when queue is empty).
func (a *app) lookupTask(ctx context.Context, queue, id string) (redis.UniversalClient, *jobs.Client, *asynq.TaskInfo, error) {
	rdb, err := a.redis(ctx)
	if err != nil {
		return nil, nil, nil, err
	}
	c := jobs.NewClient(rdb)
	info, err := findTask(c, queue, id)
	if err != nil {
		return nil, nil, nil, err
	}
	return rdb, c, info, nil
}

func findTask(c *jobs.Client, queue, id string) (*asynq.TaskInfo, error) {
	queues := taskQueues
	if queue != "" {
		queues = []string{queue}
	}
	for _, q := range queues {
		info, err := c.Task(q, id)
		switch {
		case err == nil:
			return info, nil
		case errors.Is(err, asynq.ErrTaskNotFound), errors.Is(err, asynq.ErrQueueNotFound):
			continue
		default:
			return nil, fmt.Errorf("read task %s in queue %s: %w", id, q, err)
		}
	}
	where := "queue " + queue
	if queue == "" {
		where = "any queue (" + strings.Join(taskQueues, ", ") + ")"
	}
	return nil, fmt.Errorf("task %s not found in %s: check the ID; a finished task is kept %s (previews, verifications) or %s (ingests)",
		id, where, days(jobs.PreviewRetention), days(jobs.IngestRetention))
}

// days renders a whole number of days ("1 day", "7 days"), else the
// duration.
func days(d time.Duration) string {
	const day = 24 * time.Hour
	switch {
	case d == day:
		return "1 day"
	case d > 0 && d%day == 0:
		return fmt.Sprintf("%d days", d/day)
	}
	return d.String()
}

// taskStates are the states `task list` shows, in its order: what needs
// attention first.
var taskStates = []asynq.TaskState{asynq.TaskStateActive, asynq.TaskStateRetry, asynq.TaskStatePending,
	asynq.TaskStateScheduled, asynq.TaskStateArchived, asynq.TaskStateCompleted}

// parseTaskState returns the state named s.
func parseTaskState(s string) (asynq.TaskState, error) {
	var names []string
	for _, st := range taskStates {
		if st.String() == s {
			return st, nil
		}
		names = append(names, st.String())
	}
	return 0, fmt.Errorf("--state %q: want one of %s", s, strings.Join(names, ", "))
}

// listTasks returns up to limit tasks of queue in state (newest listing
// order of the store), and how many tasks that state holds in all.
func listTasks(in *asynq.Inspector, queue string, st asynq.TaskState, limit int) ([]*asynq.TaskInfo, int, error) {
	qi, err := in.GetQueueInfo(queue)
	if err != nil {
		return nil, 0, fmt.Errorf("read queue %s: %w", queue, err)
	}
	var total int
	var list func(string, ...asynq.ListOption) ([]*asynq.TaskInfo, error)
	switch st {
	case asynq.TaskStateActive:
		total, list = qi.Active, in.ListActiveTasks
	case asynq.TaskStatePending:
		total, list = qi.Pending, in.ListPendingTasks
	case asynq.TaskStateScheduled:
		total, list = qi.Scheduled, in.ListScheduledTasks
	case asynq.TaskStateRetry:
		total, list = qi.Retry, in.ListRetryTasks
	case asynq.TaskStateArchived:
		total, list = qi.Archived, in.ListArchivedTasks
	case asynq.TaskStateCompleted:
		total, list = qi.Completed, in.ListCompletedTasks
	default:
		return nil, 0, fmt.Errorf("state %s cannot be listed", st)
	}
	if total == 0 || limit <= 0 {
		return nil, total, nil
	}
	tasks, err := list(queue, asynq.PageSize(limit))
	if errors.Is(err, asynq.ErrQueueNotFound) {
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, fmt.Errorf("list %s tasks of queue %s: %w", st, queue, err)
	}
	return tasks, total, nil
}

// existingQueues returns the queues Redis knows.
func existingQueues(in *asynq.Inspector) (map[string]bool, error) {
	qs, err := in.Queues()
	if err != nil {
		return nil, fmt.Errorf("list queues: %w", err)
	}
	m := make(map[string]bool, len(qs))
	for _, q := range qs {
		m[q] = true
	}
	return m, nil
}

// taskPayload is what the task commands show of a payload: the fields
// every s3ingest payload (preview, ingest, verify) may have.
type taskPayload struct {
	WorkspaceID string `json:"workspace_id"`
	Dataset     string `json:"dataset"`
	ScheduleID  string `json:"schedule_id"`
	Bucket      string `json:"bucket"`
	Source      struct {
		Bucket string `json:"bucket"`
	} `json:"source"`
}

func payloadOf(info *asynq.TaskInfo) taskPayload {
	var p taskPayload
	_ = json.Unmarshal(info.Payload, &p) // a foreign payload shows as "-"
	return p
}

// target renders "workspace/dataset" (or the workspace and bucket of a
// preview or verification).
func (p taskPayload) target() string {
	switch {
	case p.WorkspaceID == "":
		return "-"
	case p.Dataset != "":
		return p.WorkspaceID + "/" + p.Dataset
	case p.Source.Bucket != "":
		return p.WorkspaceID + " s3://" + p.Source.Bucket
	case p.Bucket != "":
		return p.WorkspaceID + " s3://" + p.Bucket
	}
	return p.WorkspaceID
}

// taskRow is one task of `task list --json`.
type taskRow struct {
	ID            string     `json:"id"`
	Queue         string     `json:"queue"`
	State         string     `json:"state"`
	Type          string     `json:"type"`
	WorkspaceID   string     `json:"workspace_id,omitempty"`
	Dataset       string     `json:"dataset,omitempty"`
	ScheduleID    string     `json:"schedule_id,omitempty"`
	Retried       int        `json:"retried"`
	MaxRetry      int        `json:"max_retry"`
	LastError     string     `json:"last_error,omitempty"`
	NextProcessAt *time.Time `json:"next_process_at,omitempty"`
	LastFailedAt  *time.Time `json:"last_failed_at,omitempty"`
	CompletedAt   *time.Time `json:"completed_at,omitempty"`
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	t = t.UTC()
	return &t
}

func newTaskRow(info *asynq.TaskInfo) taskRow {
	p := payloadOf(info)
	r := taskRow{ID: info.ID, Queue: info.Queue, State: info.State.String(), Type: info.Type,
		WorkspaceID: p.WorkspaceID, Dataset: p.Dataset, ScheduleID: p.ScheduleID,
		Retried: info.Retried, MaxRetry: info.MaxRetry, LastError: info.LastErr,
		LastFailedAt: timePtr(info.LastFailedAt), CompletedAt: timePtr(info.CompletedAt)}
	switch info.State {
	case asynq.TaskStatePending, asynq.TaskStateScheduled, asynq.TaskStateRetry:
		r.NextProcessAt = timePtr(info.NextProcessAt)
	}
	return r
}

// when says when the task runs next or ran last, for the WHEN column.
func when(info *asynq.TaskInfo, now time.Time) string {
	switch info.State {
	case asynq.TaskStateActive:
		return "running"
	case asynq.TaskStatePending:
		return "waiting for a worker"
	case asynq.TaskStateScheduled, asynq.TaskStateRetry:
		if !info.NextProcessAt.IsZero() {
			return "runs " + relTime(info.NextProcessAt, now)
		}
	case asynq.TaskStateCompleted:
		if !info.CompletedAt.IsZero() {
			return "completed " + relTime(info.CompletedAt, now)
		}
	case asynq.TaskStateArchived:
		if !info.LastFailedAt.IsZero() {
			return "failed " + relTime(info.LastFailedAt, now)
		}
	}
	return "-"
}

// relTime renders t as an RFC 3339 time with "in 5m" or "3m ago".
func relTime(t, now time.Time) string {
	d := t.Sub(now).Round(time.Second)
	rel := "in " + d.String()
	if d < 0 {
		rel = (-d).String() + " ago"
	}
	return t.UTC().Format(time.RFC3339) + " (" + rel + ")"
}

// shorten cuts s to n runes with an ellipsis, on one line.
func shorten(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

func newTaskListCmd(a *app) *cobra.Command {
	var (
		queue, state string
		limit        int
	)
	cmd := &cobra.Command{
		Use:   "list [--queue Q] [--state S] [--limit N]",
		Short: "list tasks by queue and state",
		Long: `List tasks, those that need attention first: active, retry, pending,
scheduled, archived (failed for good or canceled), completed. Without --queue
every queue (` + strings.Join(taskQueues, ", ") + `) is listed; without --state
every state. --limit bounds the tasks shown in all; the summary line says how
many each state holds.`,
		Example: `  ingestctl task list
  ingestctl task list --state archived --queue ingest --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			states := taskStates
			if state != "" {
				st, err := parseTaskState(state)
				if err != nil {
					return err
				}
				states = []asynq.TaskState{st}
			}
			queues := taskQueues
			if queue != "" {
				queues = []string{queue}
			}
			if limit <= 0 {
				return fmt.Errorf("--limit %d: want a positive number", limit)
			}
			rdb, err := a.redis(cmd.Context())
			if err != nil {
				return err
			}
			in := asynq.NewInspectorFromRedisClient(rdb)
			known, err := existingQueues(in)
			if err != nil {
				return err
			}
			var (
				shown  []*asynq.TaskInfo
				totals = map[asynq.TaskState]int{}
				total  int
			)
			for _, st := range states {
				for _, q := range queues {
					if !known[q] {
						continue // no task was ever enqueued there
					}
					tasks, n, err := listTasks(in, q, st, limit-len(shown))
					if err != nil {
						return err
					}
					totals[st] += n
					total += n
					shown = append(shown, tasks...)
				}
			}
			if a.asJSON {
				rows := make([]taskRow, 0, len(shown))
				for _, t := range shown {
					rows = append(rows, newTaskRow(t))
				}
				return a.printJSON(map[string]any{"tasks": rows, "total": total})
			}
			if total == 0 {
				a.printf("no tasks in %s%s\n", strings.Join(queues, ", "), stateNote(state))
				return nil
			}
			now := time.Now()
			tw := tabwriter.NewWriter(a.stdout, 2, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tQUEUE\tSTATE\tTYPE\tWORKSPACE/DATASET\tRETRIED\tLAST ERROR\tWHEN")
			for _, t := range shown {
				p := payloadOf(t)
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d/%d\t%s\t%s\n", t.ID, t.Queue, t.State, t.Type, p.target(),
					t.Retried, t.MaxRetry, dashIfEmpty(shorten(t.LastErr, 60)), when(t, now))
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			var parts []string
			for _, st := range states {
				if totals[st] > 0 {
					parts = append(parts, fmt.Sprintf("%d %s", totals[st], st))
				}
			}
			a.printf("\n%d of %d tasks shown (%s)", len(shown), total, strings.Join(parts, ", "))
			if len(shown) < total {
				a.printf("; raise --limit or narrow with --queue and --state to see more")
			}
			a.printf("\n")
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&queue, "queue", "", "only this queue (default: "+strings.Join(taskQueues, ", ")+")")
	f.StringVar(&state, "state", "", "only this state: pending, active, scheduled, retry, archived or completed")
	f.IntVar(&limit, "limit", 50, "tasks to show at most")
	return cmd
}

func stateNote(state string) string {
	if state == "" {
		return ""
	}
	return " in state " + state
}

// taskAction is the outcome of `task cancel|retry|delete`, for --json.
type taskAction struct {
	ID     string `json:"id"`
	Queue  string `json:"queue"`
	Action string `json:"action"`
	// From and State are the task's state before and after.
	From  string `json:"from"`
	State string `json:"state,omitempty"`
}

// report prints what a task command did.
func (a *app) report(r taskAction, text string) error {
	if a.asJSON {
		return a.printJSON(r)
	}
	a.printf("%s\n", text)
	return nil
}

// holdsScheduleLock reports whether the task is a scheduled run, which
// holds its schedule's lock until it completes or is deleted (see
// jobs.ScheduleUniqueTTL): cancelling one deletes it so the next tick runs.
func holdsScheduleLock(info *asynq.TaskInfo) bool {
	return payloadOf(info).ScheduleID != ""
}

// cancelWait is how long `task cancel` waits for a running task to stop.
const cancelWait = 15 * time.Second

func newTaskCancelCmd(a *app) *cobra.Command {
	var queue string
	var wait time.Duration
	cmd := &cobra.Command{
		Use:   "cancel TASK_ID",
		Short: "stop a task: a running one is interrupted, a waiting one will not run",
		Long: `Cancel a task.

An active task is sent a cancel signal; ingestd stops it (objects already
committed stay in the dataset; the next ingest of the same source reads only
what is missing), and the task is then archived so that it does not run again.
A pending, scheduled or retry task is archived: it keeps its record and
` + "`ingestctl task retry ID`" + ` runs it again. A scheduled run (of a schedule) is
deleted instead, so that the schedule's next run is not held back by it.
A completed or archived task has nothing to cancel.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			rdb, c, info, err := a.lookupTask(cmd.Context(), queue, args[0])
			if err != nil {
				return err
			}
			in := asynq.NewInspectorFromRedisClient(rdb)
			id := args[0]
			r := taskAction{ID: id, Queue: info.Queue, Action: "cancel", From: info.State.String()}
			switch info.State {
			case asynq.TaskStateActive:
				return a.cancelActive(cmd.Context(), c, in, info, r, wait)
			case asynq.TaskStatePending, asynq.TaskStateScheduled, asynq.TaskStateRetry:
				return a.stopWaiting(in, info, r, "")
			}
			return fmt.Errorf("task %s is %s: it is not running and will not run, nothing to cancel (`ingestctl task delete %s` removes it)", id, info.State, id)
		},
	}
	cmd.Flags().StringVar(&queue, "queue", "", "the task's queue (default: look in "+strings.Join(taskQueues, ", ")+")")
	cmd.Flags().DurationVar(&wait, "wait-stop", cancelWait, "how long to wait for a running task to stop")
	return cmd
}

// stopWaiting archives a task that is not running (deletes a scheduled
// run) and reports it; how says how it stopped running ("" if it never
// ran).
func (a *app) stopWaiting(in *asynq.Inspector, info *asynq.TaskInfo, r taskAction, how string) error {
	id := info.ID
	if holdsScheduleLock(info) {
		if err := in.DeleteTask(info.Queue, id); err != nil {
			return taskOpError("delete", info, err)
		}
		r.State = "deleted"
		return a.report(r, fmt.Sprintf("task %s canceled%s: it was %s and is now deleted (a scheduled run: deleting it lets schedule %s run at its next time)",
			id, how, info.State, payloadOf(info).ScheduleID))
	}
	if err := in.ArchiveTask(info.Queue, id); err != nil {
		return taskOpError("archive", info, err)
	}
	r.State = asynq.TaskStateArchived.String()
	return a.report(r, fmt.Sprintf("task %s canceled%s: it was %s and is now archived; `ingestctl task retry %s` runs it again, `ingestctl task delete %s` removes it",
		id, how, info.State, id, id))
}

// cancelActive signals a running task, waits for it to stop and archives
// it (asynq puts an interrupted task up for retry).
func (a *app) cancelActive(ctx context.Context, c *jobs.Client, in *asynq.Inspector, info *asynq.TaskInfo, r taskAction, wait time.Duration) error {
	id := info.ID
	if err := in.CancelProcessing(id); err != nil {
		return fmt.Errorf("send the cancel signal to task %s: %w", id, err)
	}
	deadline := time.Now().Add(wait)
	for {
		cur, err := c.Task(info.Queue, id)
		switch {
		case errors.Is(err, asynq.ErrTaskNotFound):
			r.State = "gone"
			return a.report(r, fmt.Sprintf("task %s stopped and is gone (it was removed meanwhile)", id))
		case err != nil:
			return fmt.Errorf("cancel signal sent to task %s, but its state cannot be read: %w", id, err)
		}
		switch cur.State {
		case asynq.TaskStateCompleted, asynq.TaskStateArchived:
			r.State = cur.State.String()
			return a.report(r, fmt.Sprintf("task %s was %s before the cancel signal took effect", id, cur.State))
		case asynq.TaskStatePending, asynq.TaskStateScheduled, asynq.TaskStateRetry:
			return a.stopWaiting(in, cur, r, " while running")
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("cancel signal sent to task %s, but it is still active after %s: the ingestd running it may be busy or unreachable; "+
				"check with `ingestctl task status %s` and cancel again", id, wait, id)
		}
		t := time.NewTimer(200 * time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("cancel signal sent to task %s; stopped waiting for it to stop: %w", id, ctx.Err())
		case <-t.C:
		}
	}
}

// taskOpError words a failed action on a task found moments ago: its
// state changed meanwhile, or Redis failed.
func taskOpError(op string, info *asynq.TaskInfo, err error) error {
	if errors.Is(err, asynq.ErrTaskNotFound) {
		return fmt.Errorf("task %s is gone: it was removed or finished meanwhile", info.ID)
	}
	return fmt.Errorf("%s task %s (it was %s; check `ingestctl task status %s`): %s", op, info.ID, info.State, info.ID, strings.TrimPrefix(err.Error(), "asynq: "))
}

func newTaskRetryCmd(a *app) *cobra.Command {
	var queue string
	cmd := &cobra.Command{
		Use:   "retry TASK_ID",
		Short: "run an archived, retry or scheduled task now",
		Long: `Run a task now: an archived task (failed for good or canceled), one waiting to
be retried, or one scheduled for later is put back in its queue as pending. An
ingest run again reads only the objects its dataset does not have yet.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			rdb, _, info, err := a.lookupTask(cmd.Context(), queue, args[0])
			if err != nil {
				return err
			}
			id := args[0]
			switch info.State {
			case asynq.TaskStateArchived, asynq.TaskStateRetry, asynq.TaskStateScheduled:
			case asynq.TaskStatePending:
				return fmt.Errorf("task %s is pending: it already runs as soon as a worker is free", id)
			case asynq.TaskStateActive:
				return fmt.Errorf("task %s is active: it is running now", id)
			default:
				return fmt.Errorf("task %s is %s: only archived, retry or scheduled tasks can be run again; enqueue a new one instead", id, info.State)
			}
			if err := asynq.NewInspectorFromRedisClient(rdb).RunTask(info.Queue, id); err != nil {
				return taskOpError("run", info, err)
			}
			r := taskAction{ID: id, Queue: info.Queue, Action: "retry", From: info.State.String(), State: asynq.TaskStatePending.String()}
			return a.report(r, fmt.Sprintf("task %s was %s and is now pending on queue %s: it runs as soon as a worker is free; follow it with `ingestctl task status %s --wait`",
				id, info.State, info.Queue, id))
		},
	}
	cmd.Flags().StringVar(&queue, "queue", "", "the task's queue (default: look in "+strings.Join(taskQueues, ", ")+")")
	return cmd
}

func newTaskDeleteCmd(a *app) *cobra.Command {
	var queue string
	cmd := &cobra.Command{
		Use:   "delete TASK_ID",
		Short: "delete a task that is not running, with its result",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			rdb, _, info, err := a.lookupTask(cmd.Context(), queue, args[0])
			if err != nil {
				return err
			}
			id := args[0]
			if info.State == asynq.TaskStateActive {
				return fmt.Errorf("task %s is active: cancel it first with `ingestctl task cancel %s`", id, id)
			}
			if err := asynq.NewInspectorFromRedisClient(rdb).DeleteTask(info.Queue, id); err != nil {
				return taskOpError("delete", info, err)
			}
			r := taskAction{ID: id, Queue: info.Queue, Action: "delete", From: info.State.String(), State: "deleted"}
			return a.report(r, fmt.Sprintf("task %s (%s) deleted from queue %s", id, info.State, info.Queue))
		},
	}
	cmd.Flags().StringVar(&queue, "queue", "", "the task's queue (default: look in "+strings.Join(taskQueues, ", ")+")")
	return cmd
}
