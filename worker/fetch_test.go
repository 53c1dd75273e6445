package worker_test

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/s3ingest/s3ingest/internal/testenv"
	"github.com/s3ingest/s3ingest/jobs"
	"github.com/s3ingest/s3ingest/worker"
	"github.com/s3ingest/s3ingest/worker/source"
)

// TestIngestCountsTheFetchChoice ingests an object long enough for the
// adaptive fetch (four rounds of 64 KiB × 2 parts) and one too short: the
// long one's choice is counted in s3ingest_fetch_choices_total, the short
// one's read adds nothing, and every row arrives.
func TestIngestCountsTheFetchChoice(t *testing.T) {
	reg := prometheus.NewRegistry()
	h := newHarness(t, withMetrics(worker.NewMetrics(reg)), withWorker(func(c *worker.Config) {
		c.FetchPartSize, c.FetchConcurrency = source.MinPartSize, 2
	}))
	bucket := h.s3.UniqueBucket(t)
	long := ordersCSV(1, 40000, nil) // > 4 × 128 KiB
	if len(long) < 4*2*source.MinPartSize {
		t.Fatalf("the long object has %d bytes, too short to test the adaptive fetch", len(long))
	}
	h.s3.Put(t, bucket, "orders/long.csv", long)
	h.s3.Put(t, bucket, "orders/short.csv", ordersCSV(40001, 10, nil))
	cred := h.addCredential("ws-a", testenv.ReaderAccessKey, testenv.ReaderSecretKey)

	var res jobs.IngestResult
	if info, err := h.run(ingestTask(t, "ws-a", cred, bucket, "orders/", "orders"), &res); err != nil {
		t.Fatalf("ingest failed: %v (state %s)", err, info.State)
	}
	if res.Objects != 2 || res.Rows != 40010 || res.Failed != 0 {
		t.Fatalf("result = %+v", res)
	}
	checkOrders(t, readDataset(t, h, "ws-a", "orders"), 40010)
	var n int
	var total float64
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "s3ingest_fetch_choices_total" {
			for _, m := range mf.GetMetric() {
				n++
				total += m.GetCounter().GetValue()
			}
		}
	}
	if n != 1 || total != 1 {
		t.Errorf("s3ingest_fetch_choices_total: %d series, %v reads; want one read counted under one way", n, total)
	}
}
