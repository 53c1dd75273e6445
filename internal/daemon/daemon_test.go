package daemon_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/s3ingest/s3ingest/credstore"
	"github.com/s3ingest/s3ingest/internal/daemon"
	"github.com/s3ingest/s3ingest/internal/testenv"
	"github.com/s3ingest/s3ingest/jobs"
	"github.com/s3ingest/s3ingest/worker"
	"github.com/s3ingest/s3ingest/worker/sink"
)

func TestMain(m *testing.M) { testenv.Main(m) }

func csvRows(first, n int) []byte {
	var b bytes.Buffer
	b.WriteString("id,label\n")
	for i := first; i < first+n; i++ {
		fmt.Fprintf(&b, "%d,row %d\n", i, i)
	}
	return b.Bytes()
}

// TestDaemonServesSchedulesAndShutsDown runs the daemon as ingestd does, on
// real Redis and S3: a schedule re-ingests every second and reads only new
// objects; the admin server serves health, metrics and the dashboard; the
// daemon stops when its context ends.
func TestDaemonServesSchedulesAndShutsDown(t *testing.T) {
	rs := testenv.Redis(t)
	rdb := rs.Client(t)
	s3 := testenv.S3(t)
	bucket := s3.UniqueBucket(t)
	s3.Put(t, bucket, "in/a.csv", csvRows(1, 10))

	keyring, err := credstore.ParseKeyring(credstore.GenerateKey())
	if err != nil {
		t.Fatal(err)
	}
	store, err := credstore.NewStore(credstore.StoreConfig{Redis: rdb, Keyring: keyring, PlatformARN: testenv.PlatformUserARN})
	if err != nil {
		t.Fatal(err)
	}
	cred, err := store.AddCredential(context.Background(), "ws", credstore.CredentialInput{Name: "reader",
		AccessKeyID: testenv.ReaderAccessKey, SecretAccessKey: credstore.Secret(testenv.ReaderSecretKey),
		Region: s3.Region, Endpoint: s3.Endpoint})
	if err != nil {
		t.Fatal(err)
	}
	resolver, err := credstore.NewResolver(credstore.ResolverConfig{Store: store})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	snk, err := sink.Open(context.Background(), "file://"+dir)
	if err != nil {
		t.Fatal(err)
	}
	defer snk.Close()
	connOpt, err := asynq.ParseRedisURI(rs.URL())
	if err != nil {
		t.Fatal(err)
	}

	err = jobs.NewSchedules(rdb).Put(context.Background(), jobs.Schedule{ID: "every-second", Cron: "@every 1s",
		Ingest: jobs.IngestPayload{WorkspaceID: "ws", CredentialID: cred.ID, Source: jobs.Source{Bucket: bucket, Prefix: "in/"}, Dataset: "sched"}})
	if err != nil {
		t.Fatal(err)
	}

	// Two tasks on a queue no daemon serves: they stay pending, and
	// /metrics reports them.
	qc := asynq.NewClientFromRedisClient(rdb)
	for i := 0; i < 2; i++ {
		if _, err := qc.Enqueue(asynq.NewTask("probe:none", nil), asynq.Queue("unserved")); err != nil {
			t.Fatal(err)
		}
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- daemon.Run(ctx, daemon.Options{
			Redis: rdb, RedisConnOpt: connOpt, Resolver: resolver, Sink: snk,
			Server:    worker.ServerConfig{Concurrency: 2, ShutdownTimeout: 2 * time.Second},
			Worker:    worker.Config{AllowPrivateEndpoints: true}, // SeaweedFS on loopback
			Scheduler: true, ScheduleSync: 200 * time.Millisecond,
			AdminAddr: "127.0.0.1:0", MonitorReadOnly: true,
			Ready: func(addr string) { ready <- addr },
		})
	}()
	var admin string
	select {
	case admin = <-ready:
	case err := <-done:
		t.Fatalf("daemon exited: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("daemon not ready")
	}

	rows := func() int {
		ds, err := sink.ReadDataset(filepath.Join(dir, "ws", "sched")) // <dir>/<workspace>/<dataset>
		if err != nil {
			return -1
		}
		return len(ds.Rows)
	}
	waitRows := func(want int) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for time.Now().Before(deadline) {
			if rows() == want {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Fatalf("dataset has %d rows, want %d", rows(), want)
	}
	waitRows(10)
	s3.Put(t, bucket, "in/b.csv", csvRows(11, 5))
	waitRows(15)
	// Further runs find nothing new: the row count stays exact.
	time.Sleep(2500 * time.Millisecond)
	if n := rows(); n != 15 {
		t.Fatalf("after more scheduled runs the dataset has %d rows, want 15 (duplicates?)", n)
	}

	get := func(path string) (int, string) {
		resp, err := http.Get("http://" + admin + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get("/healthz"); code != 200 || !strings.Contains(body, "ok") {
		t.Fatalf("/healthz = %d %q", code, body)
	}
	if code, _ := get("/readyz"); code != 200 {
		t.Fatalf("/readyz = %d", code)
	}
	code, body := get("/metrics")
	if code != 200 || !strings.Contains(body, `s3ingest_tasks_total{outcome="ok",type="ingest:run"}`) ||
		!strings.Contains(body, "s3ingest_rows_total 15") {
		t.Fatalf("/metrics = %d, lacks task and row counters:\n%s", code, grep(body, "s3ingest_"))
	}
	for _, want := range []string{`s3ingest_queue_tasks{queue="unserved",state="pending"} 2`,
		`s3ingest_queue_tasks{queue="unserved",state="active"} 0`,
		`s3ingest_active_objects 0`, `s3ingest_inflight_bytes 0`} {
		if !strings.Contains(body, want) {
			t.Fatalf("/metrics lacks %s:\n%s", want, grep(body, "s3ingest_"))
		}
	}
	if code, body := get("/monitor/"); code != 200 || !strings.Contains(strings.ToLower(body), "<html") {
		t.Fatalf("/monitor/ = %d", code)
	}
	if code, body := get("/monitor/api/queues"); code != 200 || !strings.Contains(body, jobs.QueueScheduled) {
		t.Fatalf("/monitor/api/queues = %d %s", code, body)
	}

	// Readiness follows Redis.
	rs.Stop()
	if code, _ := get("/readyz"); code != http.StatusServiceUnavailable {
		t.Fatalf("/readyz with Redis down = %d, want 503", code)
	}
	// The metrics are still served, without the queues' sizes.
	start := time.Now()
	if code, body := get("/metrics"); code != 200 || strings.Contains(body, "s3ingest_queue_tasks{") ||
		!strings.Contains(body, "s3ingest_rows_total 15") || time.Since(start) > 10*time.Second {
		t.Fatalf("/metrics with Redis down = %d after %s:\n%s", code, time.Since(start), grep(body, "s3ingest_"))
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("daemon.Run returned %v after shutdown", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("daemon did not shut down")
	}
}

func grep(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) && !strings.HasPrefix(l, "#") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

func TestRunRequiresItsParts(t *testing.T) {
	if err := daemon.Run(context.Background(), daemon.Options{}); err == nil || !strings.Contains(err.Error(), "required") {
		t.Fatalf("Run(empty) = %v", err)
	}
}
