package worker_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/s3ingest/s3ingest/credstore"
	"github.com/s3ingest/s3ingest/internal/testenv"
	"github.com/s3ingest/s3ingest/jobs"
)

// slowBody releases a response body 32 KiB at a time.
type slowBody struct {
	io.ReadCloser
	every time.Duration
}

func (b *slowBody) Read(p []byte) (int, error) {
	time.Sleep(b.every)
	return b.ReadCloser.Read(p[:min(len(p), 32<<10)])
}

// TestProgressInsideAnObject: while one large object is being read, the
// task's progress counts the rows parsed and bytes fetched inside it, the
// objects and bytes to read, a rate and an estimate of the time left —
// not 0 until the object commits. The final result says which attempt it
// was.
func TestProgressInsideAnObject(t *testing.T) {
	h := newHarness(t)
	bucket := h.s3.UniqueBucket(t)
	var b strings.Builder
	b.WriteString("id,label\n")
	for i := range 120000 {
		fmt.Fprintf(&b, "%d,row number %d\n", i, i)
	}
	// The dataset exists first (until it does, objects are read one at a
	// time inside the listing, so the listing's end is not known yet).
	h.s3.Put(t, bucket, "big/first.csv", []byte("id,label\n-1,first\n"))

	up, err := url.Parse(h.s3.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(up)
	rp.ModifyResponse = func(r *http.Response) error {
		if r.Request.Method == http.MethodGet && strings.Contains(r.Request.URL.Path, "/big/") {
			r.Body = &slowBody{ReadCloser: r.Body, every: 20 * time.Millisecond}
		}
		return nil
	}
	proxy := httptest.NewServer(rp)
	t.Cleanup(proxy.Close)
	c, err := h.store.AddCredential(context.Background(), "ws-a", credstore.CredentialInput{Name: "slow", AccessKeyID: testenv.ReaderAccessKey,
		SecretAccessKey: credstore.Secret(testenv.ReaderSecretKey), Region: h.s3.Region, Endpoint: proxy.URL})
	if err != nil {
		t.Fatal(err)
	}

	if _, err := h.run(ingestTask(t, "ws-a", c.ID, bucket, "big/", "progress"), nil); err != nil {
		t.Fatal(err)
	}
	h.s3.Put(t, bucket, "big/data.csv", []byte(b.String()))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	info, err := h.jobs.Enqueue(ctx, ingestTask(t, "ws-a", c.ID, bucket, "big/", "progress"))
	if err != nil {
		t.Fatal(err)
	}
	var mid *jobs.IngestResult
	done, err := h.jobs.WaitFor(ctx, info.Queue, info.ID, jobs.WaitOptions{Poll: 50 * time.Millisecond, OnUpdate: func(ti *asynq.TaskInfo) {
		var r jobs.IngestResult
		if mid == nil && len(ti.Result) > 0 && jobs.DecodeResult(ti, &r) == nil && !r.Done && r.Objects == 0 && r.RowsRead > 0 &&
			r.BytesRead > 0 && r.BytesRead < r.BytesTotal {
			mid = &r
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	if mid == nil {
		t.Fatal("no progress report showed rows and bytes inside the object before it committed")
	}
	if mid.ObjectsTotal != 1 || !mid.ListingDone || mid.BytesPerSecond <= 0 || mid.ETASeconds <= 0 || mid.Skipped != 1 {
		t.Fatalf("progress mid-object: objects total %d, listing done %v, %.0f B/s, ETA %.1fs, skipped %d",
			mid.ObjectsTotal, mid.ListingDone, mid.BytesPerSecond, mid.ETASeconds, mid.Skipped)
	}
	var final jobs.IngestResult
	if err := jobs.DecodeResult(done, &final); err != nil {
		t.Fatal(err)
	}
	if !final.Done || final.Rows != 120000 || final.RowsRead != 120000 || final.BytesRead < final.BytesTotal || final.Attempt != 1 {
		t.Fatalf("final result %+v", final)
	}
}
