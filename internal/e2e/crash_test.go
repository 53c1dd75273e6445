package e2e

import (
	"context"
	"encoding/json"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/s3ingest/s3ingest/internal/testenv"
	"github.com/s3ingest/s3ingest/jobs"
	"github.com/s3ingest/s3ingest/worker/sink"
)

// Source of the crash tests: 12 CSV objects, two of them large (~16 MiB,
// 500k rows) so that reading one takes seconds through the pacing proxy.
var crashRows = []int64{4000, 4000, 4000, 4000, 500_000, 4000, 4000, 4000, 4000, 500_000, 4000, 4000}

const (
	crashRate     = 6 << 20                // bytes/s per object read
	crashGetDelay = 100 * time.Millisecond // before each object read
)

// TestCrashRecovery kills ingestd (SIGKILL of the real process) at several
// points of a 12-object ingest into the file sink, restarts it each time,
// and checks that the task finishes with exact rows per object (nothing
// lost, nothing twice), a retry recorded, and no temporary files left. It
// logs how long each recovery took (kill → the task runs again, kill →
// finished). The scenarios run in parallel, each with its own Redis,
// ingestd and dataset; each takes one to four minutes, because asynq finds
// a dead worker's task only after its 30 s lease, on a recoverer tick that
// comes once a minute.
func TestCrashRecovery(t *testing.T) {
	s3 := testenv.S3(t)
	bucket := s3.UniqueBucket(t)
	objs := putObjects(t, s3, bucket, "in/obj-", crashRows)
	ingestdBinary(t)

	scenarios := []struct {
		name      string
		listDelay time.Duration
		kill      func(r *crashRun)
	}{
		{"while-listing", 1500 * time.Millisecond, func(r *crashRun) {
			waitFor(r.t, "the task to list its source", 60*time.Second, 5*time.Millisecond, func() (bool, string) {
				_, _, listing, _ := r.proxy.snapshot()
				return listing > 0, "no LIST request in flight"
			})
			r.killAndRestart("while listing (a LIST request in flight)")
		}},
		{"mid-object", 0, func(r *crashRun) {
			var note string
			waitFor(r.t, "a large object half read", 60*time.Second, 5*time.Millisecond, func() (bool, string) {
				served, _, _, _ := r.proxy.snapshot()
				for _, o := range r.objs {
					if o.Rows < 100_000 {
						continue
					}
					n := served["/"+r.bucket+"/"+o.Key]
					if f := float64(n) / float64(o.Size); f > 0.3 && f < 0.7 {
						note = o.Key + " " + fmtMB(n) + " of " + fmtMB(o.Size) + " read"
						return true, ""
					}
				}
				return false, "no large object between 30% and 70% read"
			})
			r.killAndRestart("mid-object: " + note)
		}},
		{"between-objects", 0, func(r *crashRun) {
			waitFor(r.t, "progress showing 3 objects committed", 60*time.Second, 5*time.Millisecond, func() (bool, string) {
				var res jobs.IngestResult
				info := r.e.task(r.queue, r.id)
				if json.Unmarshal(info.Result, &res) != nil {
					return false, "no progress yet"
				}
				return res.Objects >= 3, "progress: " + res.String()
			})
			r.killAndRestart("between objects (progress showed >= 3 committed)")
		}},
		{"during-commits", 0, func(r *crashRun) {
			// Each object is committed right after its body has been read:
			// the parser's tail, the row group and footer written, fsync,
			// rename. Kills 1 and 2 land 0–5 ms after the end of a small
			// object (a run reads its first object alone); kill 3 lands
			// 0–100 ms after the end of a large object (its commit writes a
			// 500k-row row group and takes longer) while the other large one
			// is still being read.
			rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
			big := map[string]bool{}
			for _, o := range r.objs {
				big["/"+r.bucket+"/"+o.Key] = o.Rows >= 100_000
			}
			for i := 0; i < 3; i++ {
				since := time.Now()
				wantBig := i == 2
				var key string
				waitFor(r.t, "an object read to its end (its commit follows)", 150*time.Second, time.Millisecond, func() (bool, string) {
					_, finished, _, _ := r.proxy.snapshot()
					for p, at := range finished {
						if at.After(since) && big[p] == wantBig {
							key = p
							return true, ""
						}
					}
					return false, "no object finished since the last start"
				})
				maxOff := 5
				if wantBig {
					maxOff = 100
				}
				off := time.Duration(rng.IntN(maxOff)) * time.Millisecond
				time.Sleep(off)
				tmp := tempFiles(r.dsDir)
				r.killAndRestart("during commit: " + off.String() + " after " + key + " was read to its end; " +
					itoa(countParts(r.dsDir)) + " data files, temporary files: [" + strings.Join(tmp, ", ") + "]")
				if i < 2 {
					r.waitRerun()
				}
			}
		}},
	}
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			t.Parallel()
			r := newCrashRun(t, s3, bucket, objs, sc.listDelay)
			r.enqueue()
			sc.kill(r)
			r.finish()
		})
	}
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}

// crashRun is one ingest task that a test kills ingestd under.
type crashRun struct {
	t      *testing.T
	e      *env
	proxy  *s3Proxy
	d      *Daemon
	bucket string
	objs   []srcObj
	cred   string
	root   string // sink root
	dsDir  string // dataset directory
	queue  string
	id     string

	kills []kill
}

// kill is one SIGKILL and what followed.
type kill struct {
	point  string
	at     time.Time
	rerun  time.Duration // kill → the task active again on the restarted process
	taskOf int           // the task's Retried count before the kill
}

const (
	crashWorkspace = "ws-crash"
	crashDataset   = "orders"
)

func newCrashRun(t *testing.T, s3 *testenv.S3Server, bucket string, objs []srcObj, listDelay time.Duration) *crashRun {
	e := newEnv(t)
	r := &crashRun{t: t, e: e, bucket: bucket, objs: objs, root: t.TempDir()}
	r.proxy = newS3Proxy(t, s3, listDelay, crashGetDelay, crashRate)
	r.cred = e.addCredential(crashWorkspace, r.proxy.URL)
	r.dsDir = filepath.Join(r.root, sink.WorkspaceDirName(crashWorkspace), crashDataset)
	r.d = StartDaemon(t, "ingestd", e.daemonEnv("file://"+r.root))
	return r
}

func (r *crashRun) enqueue() {
	info, err := r.e.jobs.EnqueueIngest(context.Background(), jobs.IngestPayload{
		WorkspaceID: crashWorkspace, CredentialID: r.cred,
		Source:  jobs.Source{Bucket: r.bucket, Prefix: "in/"},
		Dataset: crashDataset,
	})
	if err != nil {
		r.t.Fatal(err)
	}
	r.queue, r.id = info.Queue, info.ID
}

// killAndRestart kills ingestd with SIGKILL while the task is active,
// restarts it at once, and records the kill.
func (r *crashRun) killAndRestart(point string) {
	r.t.Helper()
	info := r.e.task(r.queue, r.id)
	if info.State != asynq.TaskStateActive {
		r.t.Fatalf("about to kill %s but the task is %s, not active (last error %q)", point, info.State, info.LastErr)
	}
	at := r.d.Kill()
	r.kills = append(r.kills, kill{point: point, at: at, taskOf: info.Retried})
	r.t.Logf("kill -9 #%d at %s: %s", len(r.kills), at.Format("15:04:05.000"), point)
	r.d.Start()
}

// waitRerun waits until the task runs again after the last kill (asynq's
// recoverer found it and our 1 s retry delay passed) and records when.
func (r *crashRun) waitRerun() {
	r.t.Helper()
	k := &r.kills[len(r.kills)-1]
	waitFor(r.t, "the killed task to run again", 150*time.Second, 50*time.Millisecond, func() (bool, string) {
		info := r.e.task(r.queue, r.id)
		again := info.Retried > k.taskOf && (info.State == asynq.TaskStateActive || info.State == asynq.TaskStateCompleted)
		return again, "state " + info.State.String() + ", retried " + itoa(info.Retried)
	})
	k.rerun = time.Since(k.at)
	r.t.Logf("recovery #%d: the task ran again %.1fs after the kill", len(r.kills), k.rerun.Seconds())
}

// finish waits for the task to complete and checks the dataset.
func (r *crashRun) finish() {
	t := r.t
	r.waitRerun()
	var info *asynq.TaskInfo
	waitFor(t, "the task to complete", 150*time.Second, 100*time.Millisecond, func() (bool, string) {
		info = r.e.task(r.queue, r.id)
		if info.State == asynq.TaskStateArchived {
			t.Fatalf("the task failed for good after %d retries: %s", info.Retried, info.LastErr)
		}
		return info.State == asynq.TaskStateCompleted, "state " + info.State.String()
	})
	last := r.kills[len(r.kills)-1]
	done := time.Since(last.at)
	if info.CompletedAt.After(last.at) {
		done = info.CompletedAt.Sub(last.at)
	}
	for i, k := range r.kills {
		t.Logf("RECOVERY %s #%d: kill → running again %.1fs", t.Name(), i+1, k.rerun.Seconds())
	}
	t.Logf("RECOVERY %s: last kill → finished %.1fs; task retried %d times", t.Name(), done.Seconds(), info.Retried)

	// The task records its retries: one per kill (each hit it running).
	if info.Retried != len(r.kills) {
		t.Errorf("the task was retried %d times, want %d (one per kill -9)", info.Retried, len(r.kills))
	}
	var res jobs.IngestResult
	if err := jobs.DecodeResult(info, &res); err != nil {
		t.Fatal(err)
	}
	t.Logf("final result: %s\n%s", res.String(), info.Result)
	if !res.Done || res.Failed != 0 || res.Objects+res.Skipped != int64(len(r.objs)) {
		t.Errorf("final result: %s; want done, 0 failed, objects + skipped = %d", res.String(), len(r.objs))
	}
	if res.Attempt != info.Retried+1 {
		t.Errorf("the result records attempt %d, want %d (the task was retried %d times)", res.Attempt, info.Retried+1, info.Retried)
	}

	// Exact rows per object: nothing lost, nothing twice.
	var want int64
	for _, o := range r.objs {
		want += o.Rows
	}
	if got := verifyFileDataset(t, r.dsDir, r.bucket, r.objs); got != want {
		t.Errorf("dataset has %d rows, want %d", got, want)
	}
	// No temporary files of the dead writers.
	if left := tempFiles(r.dsDir); len(left) > 0 {
		t.Errorf("%d temporary files of killed writers are left in %s after the task completed:\n  %s",
			len(left), filepath.Join(r.dsDir, ".tmp"), strings.Join(left, "\n  "))
	}
}
