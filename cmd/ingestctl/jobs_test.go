package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"os"
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

func writeGzipCSV(t *testing.T, rows int) string {
	t.Helper()
	var raw bytes.Buffer
	raw.WriteString("id;city;score;seen\n")
	for i := 1; i <= rows; i++ {
		fmt.Fprintf(&raw, "%d;city %d;%d.25;2024-05-%02dT10:00:00Z\n", i, i, i, i%28+1)
	}
	p := filepath.Join(t.TempDir(), "sample.csv.gz")
	var z bytes.Buffer
	w := gzip.NewWriter(&z)
	w.Write(raw.Bytes())
	w.Close()
	if err := os.WriteFile(p, z.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestPreviewFileJSON checks the local preview's machine-readable shape:
// format, compression, schema as a list of {name, type, nullable, reason},
// rows as lists in schema order.
func TestMain(m *testing.M) { testenv.Main(m) }

func TestPreviewFileJSON(t *testing.T) {
	c := &cli{t: t, url: "redis://127.0.0.1:1/0"} // local mode never touches Redis
	out := c.ok("", "preview", "--file", writeGzipCSV(t, 300), "--json", "--rows", "4")
	var got struct {
		Format      string `json:"format"`
		Compression string `json:"compression"`
		Delimiter   string `json:"delimiter"`
		Schema      []struct {
			Name     string `json:"name"`
			Type     string `json:"type"`
			Nullable bool   `json:"nullable"`
			Reason   string `json:"reason"`
		} `json:"schema"`
		Rows [][]any `json:"rows"`
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("output is not one JSON object: %v\n%s", err, out)
	}
	if got.Format != "csv" || got.Compression != "gzip" || got.Delimiter != ";" {
		t.Fatalf("format %q compression %q delimiter %q", got.Format, got.Compression, got.Delimiter)
	}
	wantTypes := map[string]string{"id": "int64", "city": "string", "score": "float64", "seen": "timestamp"}
	if len(got.Schema) != 4 {
		t.Fatalf("schema = %+v", got.Schema)
	}
	for _, f := range got.Schema {
		if wantTypes[f.Name] != f.Type || f.Reason == "" {
			t.Fatalf("field %+v, want type %s with a reason", f, wantTypes[f.Name])
		}
	}
	if len(got.Rows) != 4 || fmt.Sprint(got.Rows[2]) != "[3 city 3 3.25 2024-05-04T10:00:00Z]" {
		t.Fatalf("rows = %v", got.Rows)
	}

	human := c.ok("", "preview", "--file", writeGzipCSV(t, 10))
	for _, want := range []string{"format csv, compression gzip", "score", "float64", "city 2"} {
		if !strings.Contains(human, want) {
			t.Fatalf("human output lacks %q:\n%s", want, human)
		}
	}
}

func TestPreviewFileErrors(t *testing.T) {
	c := &cli{t: t, url: "redis://127.0.0.1:1/0"}
	bad := filepath.Join(t.TempDir(), "broken.parquet")
	if err := os.WriteFile(bad, []byte("PAR1 this is not parquet at all PAR1"), 0o644); err != nil {
		t.Fatal(err)
	}
	c.fails("broken.parquet", "", "preview", "--file", bad, "--json")
	c.fails("no such file", "", "preview", "--file", filepath.Join(t.TempDir(), "missing.csv"))
	c.fails("--delimiter", "", "preview", "--file", bad, "--delimiter", "ab")
}

// TestIngestThroughCLI runs the daemon on real Redis and S3 and drives it
// with ingestctl: a credential, a preview and an ingest with --wait, a
// schedule, and a failing ingest whose error reaches the exit status.
func TestIngestThroughCLI(t *testing.T) {
	c := newCLI(t)
	rs := &testenv.RedisServer{Addr: strings.TrimSuffix(strings.TrimPrefix(c.url, "redis://"), "/0")}
	rdb := rs.Client(t)
	s3 := testenv.S3(t)
	bucket := s3.UniqueBucket(t)
	var body bytes.Buffer
	body.WriteString("id,name\n")
	for i := 1; i <= 50; i++ {
		fmt.Fprintf(&body, "%d,n%d\n", i, i)
	}
	s3.Put(t, bucket, "in/a.csv", body.Bytes())
	// A bad id past the inference sample (1000 rows): line 1052.
	var bad bytes.Buffer
	bad.WriteString("id,name\n")
	for i := 1; i <= 1100; i++ {
		if i == 1051 {
			bad.WriteString("not-a-number,y\n")
			continue
		}
		fmt.Fprintf(&bad, "%d,x\n", i)
	}
	s3.Put(t, bucket, "bad/b.csv", bad.Bytes())

	keyring, err := credstore.KeyringFromEnv()
	if err != nil {
		t.Fatal(err)
	}
	store, err := credstore.NewStore(credstore.StoreConfig{Redis: rdb, Keyring: keyring})
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
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- daemon.Run(ctx, daemon.Options{Redis: rdb, RedisConnOpt: asynq.RedisClientOpt{Addr: rs.Addr},
			Resolver: resolver, Sink: snk, Server: worker.ServerConfig{Concurrency: 2, ShutdownTimeout: time.Second},
			Worker: worker.Config{AllowPrivateEndpoints: true}}) // SeaweedFS on loopback
	}()
	defer func() { cancel(); <-done }()

	t.Setenv(envCredSecret, testenv.ReaderSecretKey)
	var cred credstore.Credential
	if err := json.Unmarshal([]byte(c.ok("", "--json", "credential", "add", "--workspace", "ws1", "--name", "reader",
		"--access-key-id", testenv.ReaderAccessKey, "--endpoint", s3.Endpoint, "--region", s3.Region)), &cred); err != nil {
		t.Fatal(err)
	}

	out := c.ok("", "preview", "--workspace", "ws1", "--credential", cred.ID, "--bucket", bucket, "--prefix", "in/", "--wait", "--rows", "2")
	for _, want := range []string{"1 objects", "sampled s3://" + bucket + "/in/a.csv", "int64", "n2"} {
		if !strings.Contains(out, want) {
			t.Fatalf("preview output lacks %q:\n%s", want, out)
		}
	}

	var res jobs.IngestResult
	if err := json.Unmarshal([]byte(c.ok("", "--json", "ingest", "--workspace", "ws1", "--credential", cred.ID, "--bucket", bucket,
		"--prefix", "in/", "--dataset", "cli", "--wait")), &res); err != nil {
		t.Fatal(err)
	}
	if !res.Done || res.Objects != 1 || res.Rows != 50 {
		t.Fatalf("ingest result %+v", res)
	}
	ds, err := sink.ReadDataset(filepath.Join(dir, "ws1", "cli")) // <dir>/<workspace>/<dataset>
	if err != nil || len(ds.Rows) != 50 {
		t.Fatalf("dataset: %v rows, %v", len(ds.Rows), err)
	}

	// A dry run lists what an ingest would do, and the dataset it names.
	dry := c.ok("", "ingest", "--dry-run", "--workspace", "ws1", "--credential", cred.ID, "--bucket", bucket,
		"--prefix", "in/", "--dataset", "cli")
	for _, want := range []string{"dataset cli exists", "skip-loaded", "would 1 skip-loaded; 0 bytes to read"} {
		if !strings.Contains(dry, want) {
			t.Fatalf("dry run output lacks %q:\n%s", want, dry)
		}
	}
	dry = c.ok("", "ingest", "--dry-run", "--workspace", "ws1", "--credential", cred.ID, "--bucket", bucket,
		"--prefix", "in/", "--dataset", "cli-new")
	if !strings.Contains(dry, "does not exist yet") || !strings.Contains(dry, "would 1 read") {
		t.Fatalf("dry run into a new dataset:\n%s", dry)
	}

	// A failing ingest prints its result and exits non-zero with the cause.
	out, _, err = c.run("", "ingest", "--workspace", "ws1", "--credential", cred.ID, "--bucket", bucket,
		"--prefix", "bad/", "--dataset", "cli-bad", "--wait")
	if err == nil || !strings.Contains(err.Error(), "line 1052") || !strings.Contains(out, "1 failed") {
		t.Fatalf("failing ingest: err %v\n%s", err, out)
	}

	// Without --wait the task ID is printed and task status finds it.
	out = c.ok("", "--json", "ingest", "--workspace", "ws1", "--credential", cred.ID, "--bucket", bucket, "--prefix", "in/", "--dataset", "cli")
	var enq map[string]string
	if err := json.Unmarshal([]byte(out), &enq); err != nil || enq["task_id"] == "" {
		t.Fatalf("enqueue output %q: %v", out, err)
	}
	status := c.ok("", "task", "status", "--wait", enq["task_id"]) // found in its queue
	if !strings.Contains(status, "completed") || !strings.Contains(status, `"skipped":1`) {
		t.Fatalf("task status:\n%s", status)
	}

	// Schedules.
	c.ok("", "schedule", "add", "--workspace", "ws1", "--id", "nightly", "--cron", "0 3 * * *", "--credential", cred.ID,
		"--bucket", bucket, "--prefix", "in/", "--dataset", "cli", "--max-rejects", "5")
	c.fails("cron", "", "schedule", "add", "--workspace", "ws1", "--id", "bad", "--cron", "every day", "--bucket", bucket, "--dataset", "cli")
	if out := c.ok("", "schedule", "list", "--workspace", "ws1"); !strings.Contains(out, "nightly") || !strings.Contains(out, "0 3 * * *") {
		t.Fatalf("schedule list:\n%s", out)
	}
	c.ok("", "schedule", "remove", "--workspace", "ws1", "--id", "nightly")
	c.fails("not found", "", "schedule", "remove", "--workspace", "ws1", "--id", "nightly")

	// Payload validation happens before anything is enqueued.
	c.fails("dataset", "", "ingest", "--workspace", "ws1", "--bucket", bucket)
}

func TestSecretKeyCommand(t *testing.T) {
	c := &cli{t: t, url: "redis://127.0.0.1:1/0"}
	key := strings.TrimSpace(c.ok("", "secret-key"))
	if _, err := credstore.ParseKeyring(key); err != nil {
		t.Fatalf("secret-key printed %q, which does not parse: %v", key, err)
	}
	if key == strings.TrimSpace(c.ok("", "secret-key")) {
		t.Fatal("two generated keys are equal")
	}
}
