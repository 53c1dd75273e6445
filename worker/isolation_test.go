package worker_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/s3ingest/s3ingest/internal/testenv"
	"github.com/s3ingest/s3ingest/jobs"
	"github.com/s3ingest/s3ingest/worker/sink"
)

// TestIngestDatasetsIsolatedByWorkspace: two workspaces, each with its own
// credential, ingest the same bucket and prefix into a dataset of the same
// name. Each gets its own dataset with exactly its rows, and its own
// ledger: neither is skipped because the other committed the same objects,
// and a later run of each reads only what that workspace has not read.
func TestIngestDatasetsIsolatedByWorkspace(t *testing.T) {
	const wsA, wsB = "ws-a", "acme:prod" // ':' is escaped in directory names, kept in schema names
	for _, backend := range []string{"file", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			var opts []harnessOpt
			var dsn string
			if backend == "postgres" {
				dsn = testenv.Postgres(t)
				opts = append(opts, withSink(dsn))
			}
			h := newHarness(t, opts...)
			// ids returns the number of rows of the workspace's "orders" and
			// checks they are exactly ids 1..n.
			ids := func(ws string, n int) {
				t.Helper()
				if dsn == "" {
					ds := readDataset(t, h, ws, "orders")
					checkOrders(t, ds, n)
					for _, e := range ds.Objects {
						if e.Workspace != ws || e.Dataset != "orders" {
							t.Fatalf("%s: ledger entry of %s/%s", ws, e.Workspace, e.Dataset)
						}
					}
					return
				}
				conn, err := pgx.Connect(context.Background(), dsn)
				if err != nil {
					t.Fatal(err)
				}
				defer conn.Close(context.Background())
				var rows, distinct, lo, hi, ledger int
				table := pgx.Identifier{sink.PostgresSchemaName(ws), "orders"}.Sanitize()
				if err := conn.QueryRow(context.Background(), `SELECT count(*), count(DISTINCT id), coalesce(min(id), 0), coalesce(max(id), 0) FROM `+table).
					Scan(&rows, &distinct, &lo, &hi); err != nil {
					t.Fatal(err)
				}
				if rows != n || distinct != n || lo != 1 || hi != n {
					t.Fatalf("%s: %s has %d rows (%d distinct ids %d..%d), want ids 1..%d", ws, table, rows, distinct, lo, hi, n)
				}
				if err := conn.QueryRow(context.Background(), `SELECT count(*) FROM s3ingest_ledger WHERE workspace = $1 AND dataset = 'orders'`, ws).Scan(&ledger); err != nil {
					t.Fatal(err)
				}
				if want := map[int]int{150: 2, 160: 3}[n]; ledger != want {
					t.Fatalf("%s: %d ledger rows, want %d", ws, ledger, want)
				}
			}

			bucket := h.s3.UniqueBucket(t)
			h.s3.Put(t, bucket, "shared/a.csv", ordersCSV(1, 100, nil))
			h.s3.Put(t, bucket, "shared/b.csv.gz", gz(ordersCSV(101, 50, nil)))
			credA := h.addCredential(wsA, testenv.ReaderAccessKey, testenv.ReaderSecretKey)
			credB := h.addCredential(wsB, testenv.ReaderAccessKey, testenv.ReaderSecretKey)
			run := func(ws, cred string, objects, skipped, rows int64) {
				t.Helper()
				var res jobs.IngestResult
				if info, err := h.run(ingestTask(t, ws, cred, bucket, "shared/", "orders"), &res); err != nil {
					t.Fatalf("%s: ingest failed: %v (state %s)", ws, err, info.State)
				}
				if !res.Done || res.Objects != objects || res.Skipped != skipped || res.Rows != rows || res.Failed != 0 {
					t.Fatalf("%s: result %+v, want %d objects, %d skipped, %d rows", ws, res, objects, skipped, rows)
				}
			}

			run(wsA, credA, 2, 0, 150)
			ids(wsA, 150)
			h.s3.Put(t, bucket, "shared/c.csv", ordersCSV(151, 10, nil))
			// B reads everything, although A committed a.csv and b.csv.gz.
			run(wsB, credB, 3, 0, 160)
			ids(wsB, 160)
			ids(wsA, 150) // none of B's rows in A's dataset
			// Each ledger is its own: A reads only c.csv, B nothing.
			run(wsA, credA, 1, 2, 10)
			run(wsB, credB, 0, 3, 0)
			ids(wsA, 160)
			ids(wsB, 160)
		})
	}
}
