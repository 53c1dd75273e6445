package e2e

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/jackc/pgx/v5"

	"github.com/s3ingest/s3ingest/internal/testenv"
	"github.com/s3ingest/s3ingest/jobs"
)

const (
	repWorkspace  = "ws-rep"
	repDataset    = "orders"
	repSchedDS    = "ticks"
	repTasks      = 10  // ingest tasks, one prefix of 20 objects each
	repObjects    = 200 // objects over all tasks
	repRows       = 50  // rows per object
	repSchedEvery = 2 * time.Second
)

// TestReplicas runs three ingestd processes on one Redis with the
// PostgreSQL sink. Ten ingest tasks (200 objects, 50 rows each, into one
// dataset) are spread over them; two of the processes are killed with
// SIGKILL while they run tasks, and restarted. Every object's rows must be
// in the dataset exactly once, every task must complete, and a schedule
// (@every 2s) that all three processes' schedulers serve must be enqueued
// once per tick, not once per process.
func TestReplicas(t *testing.T) {
	e := newEnv(t)
	s3 := e.s3
	pgDSN := testenv.Postgres(t)
	bucket := s3.UniqueBucket(t)

	// 200 objects under in/p00/ … in/p09/, and 3 for the schedule.
	objs := make([]srcObj, 0, repObjects)
	for k := 0; k < repObjects; k++ {
		body := csvObject(k, repRows)
		key := fmt.Sprintf("in/p%02d/%03d.csv", k/(repObjects/repTasks), k)
		s3.Put(t, bucket, key, body)
		objs = append(objs, srcObj{Key: key, First: int64(k) * objectIDBase, Rows: repRows, Size: int64(len(body))})
	}
	for k := 900; k < 903; k++ {
		s3.Put(t, bucket, fmt.Sprintf("sched/%03d.csv", k), csvObject(k, repRows))
	}
	// Every object read waits 300 ms, so a task (20 objects, one at a time)
	// runs for about 6 s and the kills find tasks running.
	proxy := newS3Proxy(t, s3, 0, 300*time.Millisecond, 0)
	cred := e.addCredential(repWorkspace, proxy.URL)

	err := jobs.NewSchedules(e.rdb).Put(context.Background(), jobs.Schedule{ID: "tick", Cron: "@every 2s",
		Ingest: jobs.IngestPayload{WorkspaceID: repWorkspace, CredentialID: cred,
			Source: jobs.Source{Bucket: bucket, Prefix: "sched/"}, Dataset: repSchedDS}})
	if err != nil {
		t.Fatal(err)
	}

	cfg := e.daemonEnv(pgDSN)
	cfg["S3INGEST_CONCURRENCY"] = "2"
	var ds [3]*Daemon
	for i := range ds {
		ds[i] = StartDaemon(t, fmt.Sprintf("ingestd-%d", i), cfg)
	}
	observeStart := time.Now()

	// Remember every scheduler entry (a killed process's entry disappears
	// from the list; its enqueue history stays).
	entries := map[string]bool{}
	var entriesMu sync.Mutex
	stopWatch := make(chan struct{})
	watchDone := make(chan struct{})
	go func() {
		defer close(watchDone)
		for {
			if es, err := e.insp.SchedulerEntries(); err == nil {
				entriesMu.Lock()
				for _, en := range es {
					entries[en.ID] = true
				}
				entriesMu.Unlock()
			}
			select {
			case <-stopWatch:
				return
			case <-time.After(300 * time.Millisecond):
			}
		}
	}()

	var ids []string
	for i := 0; i < repTasks; i++ {
		info, err := e.jobs.EnqueueIngest(context.Background(), jobs.IngestPayload{
			WorkspaceID: repWorkspace, CredentialID: cred,
			Source:  jobs.Source{Bucket: bucket, Prefix: fmt.Sprintf("in/p%02d/", i)},
			Dataset: repDataset, Concurrency: 1,
		})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, info.ID)
	}

	// Kill processes 1 and 2 while each runs at least one ingest task.
	var victimsTasks []string
	waitFor(t, "ingestd-1 and ingestd-2 both running an ingest task", 60*time.Second, 20*time.Millisecond, func() (bool, string) {
		active := activeIngests(t, e)
		a, b := active[ds[1].PID()], active[ds[2].PID()]
		if len(a) > 0 && len(b) > 0 {
			victimsTasks = append(append([]string(nil), a...), b...)
			return true, ""
		}
		return false, fmt.Sprintf("active ingest tasks by pid: %v", active)
	})
	var killedAt [3]time.Time
	for _, i := range []int{1, 2} {
		killedAt[i] = ds[i].Kill()
	}
	t.Logf("killed ingestd-1 and ingestd-2 (SIGKILL) while they ran tasks %v", victimsTasks)
	for _, i := range []int{1, 2} {
		ds[i].Start()
	}

	// Every task completes.
	infos := map[string]*asynq.TaskInfo{}
	waitFor(t, "all ingest tasks to complete", 180*time.Second, 200*time.Millisecond, func() (bool, string) {
		var pending []string
		for _, id := range ids {
			info := e.task(jobs.QueueIngest, id)
			if info.State == asynq.TaskStateArchived {
				t.Fatalf("task %s failed for good: %s", id, info.LastErr)
			}
			infos[id] = info
			if info.State != asynq.TaskStateCompleted {
				pending = append(pending, id[:8]+":"+info.State.String())
			}
		}
		return len(pending) == 0, "not completed: " + strings.Join(pending, " ")
	})
	var lastDone time.Time
	for _, id := range victimsTasks {
		info := infos[id]
		if info.Retried < 1 {
			t.Errorf("task %s ran on a killed process but records no retry (retried %d)", id, info.Retried)
		}
		if info.CompletedAt.After(lastDone) {
			lastDone = info.CompletedAt
		}
	}
	t.Logf("RECOVERY TestReplicas: the killed processes' tasks finished %.1fs after the kill (3 recoverers on one Redis)", lastDone.Sub(killedAt[1]).Seconds())

	// Exact rows in PostgreSQL.
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, pgDSN)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	checkPGDataset(t, ctx, conn, repDataset, objs)
	var schedObjs []srcObj
	for k := 900; k < 903; k++ {
		schedObjs = append(schedObjs, srcObj{Key: fmt.Sprintf("sched/%03d.csv", k), First: int64(k) * objectIDBase, Rows: repRows})
	}
	checkPGDataset(t, ctx, conn, repSchedDS, schedObjs)

	// Scheduled runs: let the schedule tick a while longer with all three
	// processes idle, then count enqueues per tick.
	if rest := 12*time.Second - time.Since(lastDone); rest > 0 {
		time.Sleep(rest)
	}
	close(stopWatch)
	<-watchDone
	observeEnd := time.Now()
	var events []time.Time
	// A scheduler publishes its entries every 5 s, so a process killed
	// sooner never lists them; its enqueue history stays under asynq's
	// scheduler_history key (an asynq v0.26 detail: keys
	// asynq:scheduler_history:<entry ID>).
	hist, err := e.rdb.Keys(context.Background(), "asynq:scheduler_history:*").Result()
	if err != nil {
		t.Fatal(err)
	}
	entriesMu.Lock()
	for _, k := range hist {
		entries[strings.TrimPrefix(k, "asynq:scheduler_history:")] = true
	}
	for id := range entries {
		evs, err := e.insp.ListSchedulerEnqueueEvents(id, asynq.PageSize(10000))
		if err != nil {
			t.Fatal(err)
		}
		for _, ev := range evs {
			events = append(events, ev.EnqueuedAt)
		}
	}
	nEntries := len(entries)
	entriesMu.Unlock()
	sort.Slice(events, func(i, j int) bool { return events[i].Before(events[j]) })
	window := observeEnd.Sub(observeStart)
	t.Logf("schedule @every 2s: %d scheduler entries (3 processes, 2 of them restarted) enqueued %d runs in %.1fs (%d ticks of one scheduler)",
		nEntries, len(events), window.Seconds(), int(window/repSchedEvery))
	perSecond := map[int64]int{}
	for _, ev := range events {
		perSecond[ev.Unix()]++
	}
	var dups []string
	for _, ev := range events {
		if n := perSecond[ev.Unix()]; n > 1 {
			dups = append(dups, fmt.Sprintf("%s ×%d", ev.Format("15:04:05"), n))
			perSecond[ev.Unix()] = 0
		}
	}
	if len(dups) > 0 {
		t.Errorf("the schedule was enqueued more than once for one tick (several schedulers fired together): %s", strings.Join(dups, ", "))
	}
	if max := int(window/repSchedEvery) + 1; len(events) > max {
		t.Errorf("the schedule was enqueued %d times in %.1fs, more than once per 2 s tick (at most %d): its three schedulers tick at different phases; enqueue times: %s",
			len(events), window.Seconds(), max, fmtTimes(events))
	}
	if len(events) == 0 {
		t.Errorf("the schedule was never enqueued in %.1fs", window.Seconds())
	}
}

// activeIngests returns the ingest tasks each ingestd process (by pid) is
// running, from the servers asynq registers in Redis.
func activeIngests(t testing.TB, e *env) map[int][]string {
	servers, err := e.insp.Servers()
	if err != nil {
		t.Fatal(err)
	}
	out := map[int][]string{}
	for _, s := range servers {
		for _, w := range s.ActiveWorkers {
			if w.Queue == jobs.QueueIngest {
				out[s.PID] = append(out[s.PID], w.TaskID)
			}
		}
	}
	return out
}

// checkPGDataset checks a PostgreSQL dataset of repWorkspace against the
// source objects: one ledger row per object with its row count, and each
// object's ids in the table exactly once.
func checkPGDataset(t *testing.T, ctx context.Context, conn *pgx.Conn, dataset string, objs []srcObj) {
	t.Helper()
	table := pgx.Identifier{"ws_" + repWorkspace, dataset}.Sanitize()
	var total, distinct int64
	if err := conn.QueryRow(ctx, "SELECT count(*), count(DISTINCT id) FROM "+table).Scan(&total, &distinct); err != nil {
		t.Fatalf("count rows of %s: %v", table, err)
	}
	var want int64
	for _, o := range objs {
		want += o.Rows
	}
	t.Logf("dataset %s: %d rows (%d distinct ids), want %d", table, total, distinct, want)
	if total != want || distinct != want {
		t.Errorf("dataset %s has %d rows with %d distinct ids, want %d rows, each once", table, total, distinct, want)
	}
	rows, err := conn.Query(ctx, "SELECT id / $1, count(*), count(DISTINCT id), min(id), max(id) FROM "+table+" GROUP BY 1", objectIDBase)
	if err != nil {
		t.Fatal(err)
	}
	perObj := map[int64][4]int64{}
	for rows.Next() {
		var k, n, d, lo, hi int64
		if err := rows.Scan(&k, &n, &d, &lo, &hi); err != nil {
			t.Fatal(err)
		}
		perObj[k] = [4]int64{n, d, lo, hi}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	for _, o := range objs {
		got := perObj[o.First/objectIDBase]
		if got != [4]int64{o.Rows, o.Rows, o.First, o.First + o.Rows - 1} {
			t.Errorf("object %s: %d rows, %d distinct ids in [%d, %d]; want %d rows, ids %d..%d once each",
				o.Key, got[0], got[1], got[2], got[3], o.Rows, o.First, o.First+o.Rows-1)
		}
	}
	ledger := map[string]int64{}
	lr, err := conn.Query(ctx, "SELECT key, rows FROM s3ingest_ledger WHERE workspace = $1 AND dataset = $2", repWorkspace, dataset)
	if err != nil {
		t.Fatal(err)
	}
	for lr.Next() {
		var key string
		var n int64
		if err := lr.Scan(&key, &n); err != nil {
			t.Fatal(err)
		}
		if _, dup := ledger[key]; dup {
			t.Errorf("ledger of %s has object %s twice", dataset, key)
		}
		ledger[key] = n
	}
	if err := lr.Err(); err != nil {
		t.Fatal(err)
	}
	if len(ledger) != len(objs) {
		t.Errorf("ledger of %s has %d objects, want %d", dataset, len(ledger), len(objs))
	}
	for _, o := range objs {
		if n, ok := ledger[o.Key]; !ok || n != o.Rows {
			t.Errorf("ledger of %s: object %s has rows %d (present %v), want %d", dataset, o.Key, n, ok, o.Rows)
		}
	}
}

func fmtTimes(ts []time.Time) string {
	s := make([]string, len(ts))
	for i, x := range ts {
		s[i] = x.Format("05.000")
	}
	return strings.Join(s, " ")
}
