package worker_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/s3ingest/s3ingest/internal/testenv"
	"github.com/s3ingest/s3ingest/jobs"
)

// TestIngestIntoPostgres runs the pipeline into the PostgreSQL sink: the
// table (in the workspace's schema "ws_<workspace>") holds exactly the rows
// with their types, rejects go to the rejects table beside it, and a second
// run adds nothing.
func TestIngestIntoPostgres(t *testing.T) {
	dsn := testenv.Postgres(t)
	h := newHarness(t, withSink(dsn))
	bucket := h.s3.UniqueBucket(t)
	h.s3.Put(t, bucket, "in/a.csv", ordersCSV(1, 150, map[int]string{140: "oops"}))
	h.s3.Put(t, bucket, "in/b.csv.gz", gz(ordersCSV(151, 50, nil)))
	cred := h.addCredential("ws-a", testenv.ReaderAccessKey, testenv.ReaderSecretKey)
	budget := func(p *jobs.IngestPayload) { p.ErrorBudget.ObjectMaxRows = 3; p.Parse.SampleRows = 100 }

	var res jobs.IngestResult
	if _, err := h.run(ingestTask(t, "ws-a", cred, bucket, "in/", "orders_pg", budget), &res); err != nil {
		t.Fatal(err)
	}
	if res.Objects != 2 || res.Rows != 199 || res.Rejected != 1 {
		t.Fatalf("result %+v", res)
	}

	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var n int
	var sum float64
	if err := conn.QueryRow(ctx, `SELECT count(*), sum(amount) FROM "ws_ws-a".orders_pg`).Scan(&n, &sum); err != nil {
		t.Fatal(err)
	}
	want := 0.0
	for id := 1; id <= 200; id++ {
		if id != 140 {
			want += float64(id) + 0.5
		}
	}
	if n != 199 || sum != want {
		t.Fatalf("table has %d rows summing %v, want 199 summing %v", n, sum, want)
	}
	var name, day string
	var paid bool
	if err := conn.QueryRow(ctx, `SELECT name, day::text, paid FROM "ws_ws-a".orders_pg WHERE id = 42`).Scan(&name, &day, &paid); err != nil {
		t.Fatal(err)
	}
	if name != "name 42" || day != fmt.Sprintf("2024-03-%02d", 42%28+1) || !paid {
		t.Fatalf("row 42 = %q %q %v", name, day, paid)
	}
	var line int64
	var col, val string
	if err := conn.QueryRow(ctx, `SELECT line, "column", value FROM "ws_ws-a".orders_pg_rejects`).Scan(&line, &col, &val); err != nil {
		t.Fatal(err)
	}
	if line != 141 || col != "amount" || val != "oops" {
		t.Fatalf("reject = line %d column %s value %s", line, col, val)
	}

	var again jobs.IngestResult
	if _, err := h.run(ingestTask(t, "ws-a", cred, bucket, "in/", "orders_pg", budget), &again); err != nil {
		t.Fatal(err)
	}
	if again.Skipped != 2 || again.Rows != 0 {
		t.Fatalf("second run %+v", again)
	}
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM "ws_ws-a".orders_pg`).Scan(&n); err != nil || n != 199 {
		t.Fatalf("after the second run the table has %d rows (%v)", n, err)
	}
}

// TestValueTheSinkRefusesIsARejectedRow: PostgreSQL cannot store a NUL
// byte in text. That row is rejected within the error budget and the rest of
// its batch is committed.
func TestValueTheSinkRefusesIsARejectedRow(t *testing.T) {
	dsn := testenv.Postgres(t)
	h := newHarness(t, withSink(dsn))
	bucket := h.s3.UniqueBucket(t)
	data := strings.Replace(string(ordersCSV(1, 100, nil)), "name 60,", "name \x0060,", 1)
	h.s3.Put(t, bucket, "in/a.csv", []byte(data))
	cred := h.addCredential("ws-a", testenv.ReaderAccessKey, testenv.ReaderSecretKey)

	var res jobs.IngestResult
	if _, err := h.run(ingestTask(t, "ws-a", cred, bucket, "in/", "nul", func(p *jobs.IngestPayload) { p.ErrorBudget.ObjectMaxRows = 5 }), &res); err != nil {
		t.Fatal(err)
	}
	if res.Rows != 99 || res.Rejected != 1 || len(res.Rejects) != 1 {
		t.Fatalf("result %+v", res)
	}
	if r := res.Rejects[0]; r.Line != 61 || r.Column != "name" || !strings.Contains(r.Error, "cannot store") {
		t.Fatalf("reject %+v", r)
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var n int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM "ws_ws-a".nul WHERE id <> 60`).Scan(&n); err != nil || n != 99 {
		t.Fatalf("table has %d other rows (%v)", n, err)
	}

	// Without a budget the object fails and nothing of it is committed.
	info, err := h.run(ingestTask(t, "ws-a", cred, bucket, "in/", "nul_strict"), nil)
	if err == nil || info.Retried != 0 || !strings.Contains(info.LastErr, "cannot store") {
		t.Fatalf("strict: err %v retried %d last %q", err, info.Retried, info.LastErr)
	}
}
