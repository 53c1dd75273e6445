package worker_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/jackc/pgx/v5"

	"github.com/s3ingest/s3ingest/credstore"
	"github.com/s3ingest/s3ingest/internal/testenv"
	"github.com/s3ingest/s3ingest/jobs"
	"github.com/s3ingest/s3ingest/worker"
	"github.com/s3ingest/s3ingest/worker/sink"
)

// TestCredentialRefreshFailureMidIngestIsRetried: the integration's cached
// credentials go stale one second after each AssumeRole and every object
// read is slowed down, so credentials are refreshed mid-ingest; STS fails
// that refresh (and, with the resolver's clock 15 minutes ahead, the
// previous credentials are no longer good enough to keep serving). A
// failure credstore judges transient (a throttle, the platform's own keys
// refused) is transient mid-run too, as it is at the start of a job: the
// task is retried and completes with every row, instead of being archived.
func TestCredentialRefreshFailureMidIngestIsRetried(t *testing.T) {
	for _, fault := range []struct {
		name, code string
		status     int
		// fails is how many AssumeRole calls after the first fail: the
		// attempts of STS's retryer for each attempt of S3's, which retry
		// a throttled refresh; refused keys are not retried.
		fails int64
	}{
		{"throttled", "RequestLimitExceeded", http.StatusBadRequest, 9},
		{"platform keys refused", "InvalidClientTokenId", http.StatusForbidden, 1},
	} {
		t.Run(fault.name, func(t *testing.T) {
			ws := "ws-refresh-" + strings.ReplaceAll(fault.name, " ", "-")
			const objects = 6
			var calls atomic.Int64
			env := newIntegEnv(t, []roleSpec{{Workspace: ws, Name: "refresh-fail", Policy: generatedPolicy(customerBucket, "slow/")}},
				func(srv *testenv.S3Server) []harnessOpt {
					slow := srv.FaultProxy(t, func(r *http.Request) (int, bool) {
						if r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, "/"+customerBucket+"/slow/") {
							time.Sleep(600 * time.Millisecond)
						}
						return 0, false
					})
					// The first AssumeRole passes, the next fault.fails
					// fail, later ones pass.
					up, err := url.Parse(srv.STSEndpoint)
					if err != nil {
						t.Fatal(err)
					}
					rp := httputil.NewSingleHostReverseProxy(up)
					sts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
						if n := calls.Add(1); n >= 2 && n <= 1+fault.fails {
							w.Header().Set("Content-Type", "text/xml")
							w.WriteHeader(fault.status)
							fmt.Fprintf(w, `<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type><Code>%s</Code><Message>injected</Message></Error><RequestId>1</RequestId></ErrorResponse>`, fault.code)
							return
						}
						rp.ServeHTTP(w, r)
					}))
					t.Cleanup(sts.Close)
					return []harnessOpt{
						withWorker(func(c *worker.Config) { c.S3Endpoint = slow }),
						viaPlatformSTS(sts.URL),
						withResolver(func(c *credstore.ResolverConfig) {
							c.SessionDuration = 15 * time.Minute
							c.ExpiryWindow = 15*time.Minute - time.Second
							c.NegativeCacheTTL = time.Millisecond
							c.Now = func() time.Time { return time.Now().Add(15 * time.Minute) }
						}),
					}
				})
			for i := range objects {
				env.srv.Put(t, customerBucket, fmt.Sprintf("slow/part-%02d.csv", i), ordersCSV(i*10+1, 10, nil))
			}

			var res jobs.IngestResult
			task, err := jobs.NewIngestTask(jobs.IngestPayload{WorkspaceID: ws, Source: jobs.Source{Bucket: customerBucket, Prefix: "slow/"},
				Dataset: "slow", Concurrency: 1}, asynq.MaxRetry(5))
			if err != nil {
				t.Fatal(err)
			}
			info, err := env.run(task, &res)
			if err != nil {
				t.Fatalf("ingest across a failed refresh: %v (state %s, retried %d, last error %s)", err, info.State, info.Retried, info.LastErr)
			}
			if info.Retried == 0 || !strings.Contains(info.LastErr, fault.code) || calls.Load() < 2+fault.fails {
				t.Fatalf("retried %d, %d AssumeRole calls, last error %q: the failed refresh did not happen mid-run", info.Retried, calls.Load(), info.LastErr)
			}
			if res.Objects+res.Skipped != objects || res.Failed != 0 || res.Objects == objects {
				t.Fatalf("result %+v: want the objects of the first attempt skipped, the others read", res)
			}
			checkOrders(t, readDataset(t, env.harness, ws, "slow"), objects*10)
		})
	}
}

// TestBoundingBoxCSVLoadsIntoPostgres: a bounding-box CSV has columns xmin
// and xmax, which PostgreSQL reserves as system columns. They load under
// deterministic stored names (xmin_, xmax_), kept in the dataset's record,
// with every value, and without a retry. (The DDL errors that remain, such
// as too many columns or a missing privilege, are classified permanent by
// SQLSTATE: see worker/sink's TestPostgresDDLErrorsArePermanent.)
func TestBoundingBoxCSVLoadsIntoPostgres(t *testing.T) {
	dsn := testenv.Postgres(t)
	h := newHarness(t, withSink(dsn))
	bucket := h.s3.UniqueBucket(t)
	h.s3.Put(t, bucket, "in/boxes.csv", []byte("id,xmin,xmax\n1,0.5,1.5\n2,2.5,3.5\n"))
	cred := h.addCredential("ws-a", testenv.ReaderAccessKey, testenv.ReaderSecretKey)

	var res jobs.IngestResult
	info, err := h.run(ingestTask(t, "ws-a", cred, bucket, "in/", "boxes"), &res)
	if err != nil || info.Retried != 0 || res.Rows != 2 {
		t.Fatalf("bounding boxes: err %v, retried %d, rows %d", err, info.Retried, res.Rows)
	}
	ctx := context.Background()
	snk, err := sink.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer snk.Close()
	rec, err := snk.Dataset(ctx, sink.Dataset{Workspace: "ws-a", Name: "boxes"})
	if err != nil {
		t.Fatal(err)
	}
	for name, stored := range map[string]string{"xmin": "xmin_", "xmax": "xmax_"} {
		if c := rec.Column(name); c == nil || c.Stored != stored {
			t.Fatalf("column %s = %+v, want stored as %s", name, c, stored)
		}
	}
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var sum float64
	if err := conn.QueryRow(ctx, `SELECT sum(xmin_) + sum(xmax_) FROM "ws_ws-a".boxes`).Scan(&sum); err != nil || sum != 8 {
		t.Fatalf("sum of xmin_ and xmax_ = %v, %v; want 8", sum, err)
	}
}

// TestWrongRegionOnCustomEndpointIsPermanent: an S3-compatible endpoint
// whose buckets live in another region than the credential names answers
// AuthorizationHeaderMalformed ("expecting 'eu-west-1'"). The region of a
// custom endpoint is configuration, not discovered, so retrying cannot
// help: the task is archived at once, and the error names the region the
// server asked for.
func TestWrongRegionOnCustomEndpointIsPermanent(t *testing.T) {
	h := newHarness(t)
	bucket := h.s3.UniqueBucket(t)
	h.s3.Put(t, bucket, "in/a.csv", ordersCSV(1, 3, nil))
	up, err := url.Parse(h.s3.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	var refused atomic.Int64
	rp := httputil.NewSingleHostReverseProxy(up)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.Contains(r.Header.Get("Authorization"), "/"+testenv.Region+"/s3/") {
			refused.Add(1)
			w.Header().Set("Content-Type", "application/xml")
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?>
<Error><Code>AuthorizationHeaderMalformed</Code><Message>The authorization header is malformed; the region '%s' is wrong; expecting 'eu-west-1'</Message><Region>eu-west-1</Region></Error>`, testenv.Region)
			return
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	ep := srv.URL
	c, err := h.store.AddCredential(t.Context(), "ws-a", credInput(testenv.ReaderAccessKey, testenv.ReaderSecretKey, testenv.Region, ep))
	if err != nil {
		t.Fatal(err)
	}

	info, err := h.run(ingestTask(t, "ws-a", c.ID, bucket, "in/", "region"), nil)
	if err == nil || info.Retried != 0 || refused.Load() == 0 {
		t.Fatalf("err %v, retried %d, refused %d: want archived at once", err, info.Retried, refused.Load())
	}
	if !strings.Contains(info.LastErr, "eu-west-1") || !strings.Contains(info.LastErr, "set the region configured with endpoint "+ep+" to eu-west-1") {
		t.Fatalf("last error %q: want the region the server asked for", info.LastErr)
	}
}
