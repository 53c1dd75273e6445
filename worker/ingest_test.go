package worker_test

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"net/http"
	"os"
	"sort"
	"strings"
	"testing"

	"github.com/hibiken/asynq"

	"github.com/s3ingest/s3ingest/internal/testenv"
	"github.com/s3ingest/s3ingest/jobs"
	"github.com/s3ingest/s3ingest/parsers/schema"
	"github.com/s3ingest/s3ingest/worker/sink"
)

// ordersCSV returns rows id first..first+n-1 of a small orders table. The
// values are derived from the id so a test can check every cell.
func ordersCSV(first, n int, bad map[int]string) []byte {
	var b bytes.Buffer
	b.WriteString("id,name,amount,day,paid\n")
	for id := first; id < first+n; id++ {
		amount := fmt.Sprintf("%d.5", id)
		if v, ok := bad[id]; ok {
			amount = v
		}
		fmt.Fprintf(&b, "%d,name %d,%s,2024-03-%02d,%t\n", id, id, amount, id%28+1, id%2 == 0)
	}
	return b.Bytes()
}

func gz(b []byte) []byte {
	var out bytes.Buffer
	w := gzip.NewWriter(&out)
	w.Write(b)
	w.Close()
	return out.Bytes()
}

func ingestTask(t *testing.T, ws, cred, bucket, prefix, dataset string, mutate ...func(*jobs.IngestPayload)) *asynq.Task {
	t.Helper()
	p := jobs.IngestPayload{WorkspaceID: ws, CredentialID: cred, Source: jobs.Source{Bucket: bucket, Prefix: prefix}, Dataset: dataset}
	for _, m := range mutate {
		m(&p)
	}
	task, err := jobs.NewIngestTask(p, asynq.MaxRetry(2))
	if err != nil {
		t.Fatal(err)
	}
	return task
}

// readDataset reads dataset of workspace ws from the harness's file sink.
func readDataset(t *testing.T, h *harness, ws, dataset string) *sink.DatasetContents {
	t.Helper()
	ds, err := sink.ReadDataset(h.datasetDir(ws, dataset))
	if err != nil {
		t.Fatal(err)
	}
	return ds
}

// checkOrders asserts the dataset holds exactly ids [1, n] with their values.
func checkOrders(t *testing.T, ds *sink.DatasetContents, n int) {
	t.Helper()
	if got := strings.Join(ds.Schema.Names(), ","); got != "id,name,amount,day,paid" {
		t.Fatalf("dataset columns = %s", got)
	}
	if len(ds.Rows) != n {
		t.Fatalf("dataset has %d rows, want %d", len(ds.Rows), n)
	}
	sort.Slice(ds.Rows, func(i, j int) bool { return ds.Rows[i][0].(int64) < ds.Rows[j][0].(int64) })
	for i, row := range ds.Rows {
		id := int64(i + 1)
		want := []any{id, fmt.Sprintf("name %d", id), float64(id) + 0.5, fmt.Sprintf("2024-03-%02d", id%28+1), id%2 == 0}
		if fmt.Sprint(row) != fmt.Sprint(want) {
			t.Fatalf("row %d = %v, want %v", i, row, want)
		}
	}
}

func TestIngestEndToEnd(t *testing.T) {
	h := newHarness(t)
	bucket := h.s3.UniqueBucket(t)
	h.s3.Put(t, bucket, "orders/2024/a.csv", ordersCSV(1, 120, nil))
	h.s3.Put(t, bucket, "orders/2024/b.csv.gz", gz(ordersCSV(121, 80, nil)))
	h.s3.Put(t, bucket, "orders/2024/", nil) // a "directory" marker is not an object to ingest
	h.s3.Put(t, bucket, "other/c.csv", ordersCSV(500, 10, nil))
	cred := h.addCredential("ws-a", testenv.ReaderAccessKey, testenv.ReaderSecretKey)

	var res jobs.IngestResult
	info, err := h.run(ingestTask(t, "ws-a", cred, bucket, "orders/", "orders"), &res)
	if err != nil {
		t.Fatalf("ingest failed: %v (state %s)", err, info.State)
	}
	if !res.Done || res.Objects != 2 || res.Rows != 200 || res.Skipped != 0 || res.Failed != 0 || res.Rejected != 0 {
		t.Fatalf("result = %+v", res)
	}
	checkOrders(t, readDataset(t, h, "ws-a", "orders"), 200)

	// Exactly once: a second run finds both objects in the ledger.
	var again jobs.IngestResult
	if _, err := h.run(ingestTask(t, "ws-a", cred, bucket, "orders/", "orders"), &again); err != nil {
		t.Fatal(err)
	}
	if again.Objects != 0 || again.Skipped != 2 || again.Rows != 0 {
		t.Fatalf("second run = %+v, want everything skipped", again)
	}
	checkOrders(t, readDataset(t, h, "ws-a", "orders"), 200)

	// A changed object (new ETag) is read again; new keys are picked up.
	h.s3.Put(t, bucket, "orders/2024/c.csv", ordersCSV(201, 5, nil))
	var third jobs.IngestResult
	if _, err := h.run(ingestTask(t, "ws-a", cred, bucket, "orders/", "orders"), &third); err != nil {
		t.Fatal(err)
	}
	if third.Objects != 1 || third.Skipped != 2 || third.Rows != 5 {
		t.Fatalf("third run = %+v, want only the new object", third)
	}
	checkOrders(t, readDataset(t, h, "ws-a", "orders"), 205)
}

func TestIngestGlobAndExplicitKeys(t *testing.T) {
	h := newHarness(t)
	bucket := h.s3.UniqueBucket(t)
	h.s3.EnableVersioning(t, bucket)
	h.s3.Put(t, bucket, "x/2024/a.csv", ordersCSV(1, 10, nil))
	h.s3.Put(t, bucket, "x/2024/b.json", []byte(`{"id":1}`))
	h.s3.Put(t, bucket, "x/2025/c.csv", ordersCSV(11, 10, nil))
	cred := h.addCredential("ws-a", testenv.ReaderAccessKey, testenv.ReaderSecretKey)

	var res jobs.IngestResult
	if _, err := h.run(ingestTask(t, "ws-a", cred, bucket, "", "globbed", func(p *jobs.IngestPayload) { p.Source.Glob = "x/**/*.csv" }), &res); err != nil {
		t.Fatal(err)
	}
	if res.Objects != 2 || res.Rows != 20 {
		t.Fatalf("glob result = %+v", res)
	}
	checkOrders(t, readDataset(t, h, "ws-a", "globbed"), 20)

	var one jobs.IngestResult
	if _, err := h.run(ingestTask(t, "ws-a", cred, bucket, "", "keyed", func(p *jobs.IngestPayload) { p.Source.Keys = []string{"x/2024/a.csv"} }), &one); err != nil {
		t.Fatal(err)
	}
	if one.Objects != 1 || one.Rows != 10 {
		t.Fatalf("explicit key result = %+v", one)
	}

	// The same object version found by key (HeadObject, with its version
	// ID) instead of by listing is already in the ledger.
	var byKey jobs.IngestResult
	if _, err := h.run(ingestTask(t, "ws-a", cred, bucket, "", "globbed", func(p *jobs.IngestPayload) { p.Source.Keys = []string{"x/2025/c.csv"} }), &byKey); err != nil {
		t.Fatal(err)
	}
	if byKey.Objects != 0 || byKey.Skipped != 1 {
		t.Fatalf("listed object ingested again by key: %+v", byKey)
	}
}

func TestIngestWrongSecretIsArchivedAsRejectedCredentials(t *testing.T) {
	h := newHarness(t)
	bucket := h.s3.UniqueBucket(t)
	h.s3.Put(t, bucket, "a.csv", ordersCSV(1, 3, nil))
	cred := h.addCredential("ws-a", testenv.ReaderAccessKey, "not-the-secret-0000000000000000000000000")

	info, err := h.run(ingestTask(t, "ws-a", cred, bucket, "", "orders"), nil)
	if err == nil || info.State != asynq.TaskStateArchived {
		t.Fatalf("state %s, err %v: want archived", info.State, err)
	}
	if info.Retried != 0 {
		t.Fatalf("a rejected credential was retried %d times", info.Retried)
	}
	if !strings.Contains(info.LastErr, "credentials") || !strings.Contains(info.LastErr, "rejected") {
		t.Fatalf("last error %q does not say the credentials were rejected", info.LastErr)
	}
	if _, err := os.Stat(h.datasetDir("ws-a", "orders")); err == nil {
		if ds := readDataset(t, h, "ws-a", "orders"); len(ds.Rows) > 0 {
			t.Fatalf("rows written with rejected credentials")
		}
	}
}

func TestIngestRefusesAnotherWorkspacesCredential(t *testing.T) {
	h := newHarness(t)
	bucket := h.s3.UniqueBucket(t)
	h.s3.Put(t, bucket, "a.csv", ordersCSV(1, 3, nil))
	// Workspace B's credential points at a recording proxy, so any request
	// made with it would be seen.
	rec := h.s3.RecordingProxy(t)
	credB, err := h.store.AddCredential(t.Context(), "ws-b", credInput(testenv.ReaderAccessKey, testenv.ReaderSecretKey, h.s3.Region, rec.Endpoint))
	if err != nil {
		t.Fatal(err)
	}

	info, err := h.run(ingestTask(t, "ws-a", credB.ID, bucket, "", "stolen"), nil)
	if err == nil || info.State != asynq.TaskStateArchived || info.Retried != 0 {
		t.Fatalf("state %s retried %d err %v: want archived at once", info.State, info.Retried, err)
	}
	if !strings.Contains(info.LastErr, "ws-a") || !strings.Contains(info.LastErr, credB.ID) {
		t.Fatalf("last error %q should name the workspace and the credential", info.LastErr)
	}
	if n := len(rec.Requests()); n != 0 {
		t.Fatalf("%d S3 requests were made with another workspace's credential", n)
	}
	if _, err := os.Stat(h.datasetDir("ws-a", "stolen")); err == nil {
		t.Fatal("a dataset was created")
	}
}

func TestIngestErrorBudget(t *testing.T) {
	h := newHarness(t)
	bucket := h.s3.UniqueBucket(t)
	// Bad amounts past the inference sample (SampleRows 20).
	h.s3.Put(t, bucket, "a.csv", ordersCSV(1, 100, map[int]string{50: "N/A", 70: "twelve"}))
	cred := h.addCredential("ws-a", testenv.ReaderAccessKey, testenv.ReaderSecretKey)
	sample := func(p *jobs.IngestPayload) { p.Parse.SampleRows = 20 }

	t.Run("within budget", func(t *testing.T) {
		var res jobs.IngestResult
		_, err := h.run(ingestTask(t, "ws-a", cred, bucket, "", "within", sample, func(p *jobs.IngestPayload) {
			p.ErrorBudget.ObjectMaxRows = 5
		}), &res)
		if err != nil {
			t.Fatal(err)
		}
		if res.Rows != 98 || res.Rejected != 2 || len(res.Rejects) != 2 {
			t.Fatalf("result = %+v", res)
		}
		r := res.Rejects[0]
		if r.Line != 51 || r.Column != "amount" || r.Value != "N/A" || !strings.Contains(r.Error, "a.csv") {
			t.Fatalf("first reject = %+v, want line 51 column amount value N/A naming the object", r)
		}
		ds := readDataset(t, h, "ws-a", "within")
		if len(ds.Rows) != 98 || len(ds.Rejects) != 2 {
			t.Fatalf("dataset has %d rows and %d rejects", len(ds.Rows), len(ds.Rejects))
		}
	})
	t.Run("over budget", func(t *testing.T) {
		info, err := h.run(ingestTask(t, "ws-a", cred, bucket, "", "over", sample, func(p *jobs.IngestPayload) {
			p.ErrorBudget.ObjectMaxRows = 1
		}), nil)
		if err == nil || info.State != asynq.TaskStateArchived || info.Retried != 0 {
			t.Fatalf("state %s err %v: want archived without retry", info.State, err)
		}
		for _, want := range []string{"error budget exceeded", "2 of", "object_max_rows 1", "line 51", "amount"} {
			if !strings.Contains(info.LastErr, want) {
				t.Fatalf("last error %q lacks %q", info.LastErr, want)
			}
		}
		if ds := readDataset(t, h, "ws-a", "over"); len(ds.Rows) != 0 || len(ds.Objects) != 0 {
			t.Fatalf("a failed object left %d rows behind", len(ds.Rows))
		}
	})
	t.Run("strict by default", func(t *testing.T) {
		info, err := h.run(ingestTask(t, "ws-a", cred, bucket, "", "strict", sample), nil)
		if err == nil || !strings.Contains(info.LastErr, "error_budget is not set") {
			t.Fatalf("err %v, last error %q", err, info.LastErr)
		}
	})
}

func TestIngestCorruptObjectFailsCleanly(t *testing.T) {
	h := newHarness(t)
	bucket := h.s3.UniqueBucket(t)
	h.s3.Put(t, bucket, "data/good.csv", ordersCSV(1, 10, nil))
	h.s3.Put(t, bucket, "data/zz-bad.csv.gz", append([]byte{0x1f, 0x8b, 8, 0}, bytes.Repeat([]byte{0xff}, 200)...))
	cred := h.addCredential("ws-a", testenv.ReaderAccessKey, testenv.ReaderSecretKey)

	var res jobs.IngestResult
	info, err := h.run(ingestTask(t, "ws-a", cred, bucket, "data/", "mixed"), &res)
	if err == nil || info.State != asynq.TaskStateArchived || info.Retried != 0 {
		t.Fatalf("state %s err %v: want archived without retry", info.State, err)
	}
	if !strings.Contains(info.LastErr, "zz-bad.csv.gz") {
		t.Fatalf("last error %q does not name the corrupt object", info.LastErr)
	}
	if res.Objects != 1 || res.Failed != 1 || res.Rows != 10 {
		t.Fatalf("result = %+v: the good object should be committed, the bad one failed", res)
	}
	checkOrders(t, readDataset(t, h, "ws-a", "mixed"), 10)
}

func TestIngestRetriesTransientFailures(t *testing.T) {
	h := newHarness(t)
	bucket := h.s3.UniqueBucket(t)
	h.s3.Put(t, bucket, "a.csv", ordersCSV(1, 30, nil))
	var gets int
	endpoint := h.s3.FaultProxy(t, func(r *http.Request) (int, bool) {
		if r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/a.csv") {
			gets++
			return http.StatusServiceUnavailable, gets <= 4 // more than the SDK's own 3 attempts
		}
		return 0, false
	})
	c, err := h.store.AddCredential(t.Context(), "ws-a", credInput(testenv.ReaderAccessKey, testenv.ReaderSecretKey, h.s3.Region, endpoint))
	if err != nil {
		t.Fatal(err)
	}
	task, err := jobs.NewIngestTask(jobs.IngestPayload{WorkspaceID: "ws-a", CredentialID: c.ID,
		Source: jobs.Source{Bucket: bucket}, Dataset: "flaky"}, asynq.MaxRetry(3))
	if err != nil {
		t.Fatal(err)
	}
	var res jobs.IngestResult
	info, err := h.run(task, &res)
	if err != nil {
		t.Fatalf("state %s err %v: the task should succeed after a retry", info.State, err)
	}
	if info.Retried < 1 {
		t.Fatalf("retried %d times: the 503s should have cost one task retry", info.Retried)
	}
	checkOrders(t, readDataset(t, h, "ws-a", "flaky"), 30)
}

// TestIngestRetryAfterMidStreamFailureIsExactlyOnce breaks the connection
// in the middle of the third object's body, more often than the SDK
// retries: the task fails, is retried, skips the two objects it committed,
// and the dataset ends with every row exactly once.
func TestIngestRetryAfterMidStreamFailureIsExactlyOnce(t *testing.T) {
	h := newHarness(t)
	bucket := h.s3.UniqueBucket(t)
	h.s3.Put(t, bucket, "p/a.csv", ordersCSV(1, 100, nil))
	h.s3.Put(t, bucket, "p/b.csv", ordersCSV(101, 100, nil))
	h.s3.Put(t, bucket, "p/c.csv", ordersCSV(201, 5000, nil))
	var broken int
	endpoint := h.s3.FaultProxy(t, func(r *http.Request) (int, bool) {
		if r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/p/c.csv") && broken < 2 {
			broken++
			return testenv.FaultTruncate, true
		}
		return 0, false
	})
	c, err := h.store.AddCredential(t.Context(), "ws-a", credInput(testenv.ReaderAccessKey, testenv.ReaderSecretKey, h.s3.Region, endpoint))
	if err != nil {
		t.Fatal(err)
	}
	task, err := jobs.NewIngestTask(jobs.IngestPayload{WorkspaceID: "ws-a", CredentialID: c.ID,
		Source: jobs.Source{Bucket: bucket, Prefix: "p/"}, Dataset: "resumed", Concurrency: 1}, asynq.MaxRetry(5))
	if err != nil {
		t.Fatal(err)
	}
	var res jobs.IngestResult
	info, err := h.run(task, &res)
	if err != nil {
		t.Fatalf("state %s: %v", info.State, err)
	}
	if info.Retried < 1 {
		t.Fatalf("retried %d: the broken body should have failed a run", info.Retried)
	}
	if res.Skipped != 2 || res.Objects != 1 {
		t.Fatalf("final run %+v: want a and b skipped, c committed", res)
	}
	checkOrders(t, readDataset(t, h, "ws-a", "resumed"), 5200)
}

// TestIngestSkipsEmptyObjectsAndReportsWarnings: a _SUCCESS marker sorted
// first is counted as empty, never read, and a later object with a column
// the dataset lacks adds it (evolution add), reported in the result: never
// dropped.
func TestIngestSkipsEmptyObjectsAndReportsWarnings(t *testing.T) {
	h := newHarness(t)
	bucket := h.s3.UniqueBucket(t)
	h.s3.Put(t, bucket, "out/_SUCCESS", nil)
	h.s3.Put(t, bucket, "out/part-0.csv", ordersCSV(1, 50, nil))
	extra := strings.Replace(string(ordersCSV(51, 50, nil)), "id,name,amount,day,paid\n", "id,name,amount,day,paid,note\n", 1)
	extra = strings.ReplaceAll(extra, "true\n", "true,x\n")
	extra = strings.ReplaceAll(extra, "false\n", "false,y\n")
	h.s3.Put(t, bucket, "out/part-1.csv", []byte(extra))
	cred := h.addCredential("ws-a", testenv.ReaderAccessKey, testenv.ReaderSecretKey)

	var res jobs.IngestResult
	if _, err := h.run(ingestTask(t, "ws-a", cred, bucket, "out/", "spark"), &res); err != nil {
		t.Fatal(err)
	}
	if res.Empty != 1 || res.Objects != 2 || res.Rows != 100 {
		t.Fatalf("result %+v: want the marker counted as empty and both parts committed", res)
	}
	ds := readDataset(t, h, "ws-a", "spark")
	if got := strings.Join(ds.Schema.Names(), ","); got != "id,name,amount,day,paid,note" {
		t.Fatalf("dataset columns = %s", got)
	}
	notes := 0
	for _, row := range ds.Rows {
		id, note := row[0].(int64), row[5]
		var want any // null before part-1.csv brought the column
		if id > 50 {
			want = "y"
			if id%2 == 0 {
				want = "x"
			}
		}
		if note != want {
			t.Fatalf("row %d note = %v, want %v", id, note, want)
		}
		if note != nil {
			notes++
		}
	}
	if notes != 50 {
		t.Fatalf("%d notes, want 50", notes)
	}
	added := false
	for _, c := range res.SchemaChanges {
		for _, col := range c.Added {
			added = added || (col.Name == "note" && col.Type == schema.String && col.Nullable && strings.HasSuffix(c.Object, "part-1.csv"))
		}
	}
	if !added {
		t.Fatalf("schema changes %+v do not say part-1.csv added note", res.SchemaChanges)
	}
}
