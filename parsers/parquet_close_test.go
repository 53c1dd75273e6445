package parsers

import (
	"context"
	"io"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"

	"github.com/s3ingest/s3ingest/parsers/schema"
)

// stallingObject stalls the request numbered stallAt until its context
// ends, like a GET on a connection that stopped answering.
type stallingObject struct {
	*pqRangeObject
	stallAt int64
}

func (o *stallingObject) Open(ctx context.Context, off, n int64) (io.ReadCloser, error) {
	if o.requests.Load()+1 == o.stallAt {
		o.requests.Add(1)
		<-ctx.Done()
		return nil, ctx.Err()
	}
	return o.pqRangeObject.Open(ctx, off, n)
}

// TestParquetCloseEndsAStalledReadAhead: Close returns at once even when
// the background read-ahead of the next window hangs on a stalled
// connection and the context of the Next that started it is still live
// (a sink failed, say, and the job goes on).
func TestParquetCloseEndsAStalledReadAhead(t *testing.T) {
	// Requests 1-2 read the footer, 3 the first window, 4 the second in
	// the background (see TestParquetObjectErrors).
	data := pqWriteFile(t, pqBenchRows(200000), parquet.MaxRowsPerRowGroup(50000))
	obj := &stallingObject{pqRangeObject: newPQRangeObject("s3://b/k.parquet", data), stallAt: 4}
	ctx := context.Background()
	r, err := openParquet(ctx, obj, Options{})
	if err != nil {
		t.Fatal(err)
	}
	b := schema.NewBatch(r.Schema(), 1000)
	if err := r.Next(ctx, b); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(time.Second)
	for obj.requests.Load() < 4 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond) // the background fetch is on its way
	}
	if obj.requests.Load() < 4 {
		t.Fatalf("no background read-ahead started (%d requests)", obj.requests.Load())
	}
	closed := make(chan error, 1)
	go func() { closed <- r.Close() }()
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		t.Fatal("Close waited for a stalled read-ahead GET (10 s)")
	}
}
