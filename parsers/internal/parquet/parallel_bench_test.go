package parquet

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"testing"
	"time"

	parquetgo "github.com/parquet-go/parquet-go"

	"github.com/s3ingest/s3ingest/parsers/schema"
)

// slowReaderAt adds a first-byte latency to every read, as a ranged GET
// has.
type slowReaderAt struct {
	ra      io.ReaderAt
	latency time.Duration
}

func (s slowReaderAt) ReadAt(p []byte, off int64) (int, error) {
	time.Sleep(s.latency)
	return s.ra.ReadAt(p, off)
}

// BenchmarkWorkers reads 200,000 rows of 9 columns (snappy) in one row
// group over the read-ahead window, so that each column is read through its
// own buffer, with 1 and 2 workers, from memory and with a 2 ms latency per
// read: the workers decode the columns in parallel (CPU, with -cpu 2) and
// overlap the columns' reads (latency, even on one core).
func BenchmarkWorkers(b *testing.B) {
	var data []byte
	for _, latency := range []time.Duration{0, 2 * time.Millisecond} {
		for _, workers := range []int{1, 2} {
			b.Run(fmt.Sprintf("latency=%v/workers=%d", latency, workers), func(b *testing.B) {
				if data == nil {
					data = parallelFileB(b, 400_000)
				}
				b.SetBytes(int64(len(data)))
				ctx := context.Background()
				rows := 0
				for b.Loop() {
					r, err := Open(ctx, slowReaderAt{bytes.NewReader(data), latency}, int64(len(data)), Config{Workers: workers})
					if err != nil {
						b.Fatal(err)
					}
					batch := schema.NewBatch(r.Schema(), 8192)
					for {
						err := r.Next(ctx, batch)
						if err == io.EOF {
							break
						}
						if err != nil {
							b.Fatal(err)
						}
						rows += batch.Len()
					}
					r.Close()
				}
				b.ReportMetric(float64(rows)/b.Elapsed().Seconds(), "rows/s")
			})
		}
	}
}

func parallelFileB(b *testing.B, n int) []byte {
	rows := make([]parallelRow, n)
	for i := range rows {
		r := &rows[i]
		r.ID, r.Score, r.Small, r.Flag = int64(i), float64(i)/3, int32(i%1000), i%3 == 0
		r.Cat = []string{"a", "bb", "ccc"}[i%3]
		s := fmt.Sprint("name-", i*7919%1000003)
		r.Name = &s
		f := float32(i) / 7
		r.Ratio = &f
		r.Bin = []byte{byte(i), 0xff, byte(i >> 8)}
	}
	var buf bytes.Buffer
	w := parquetgo.NewGenericWriter[parallelRow](&buf, parquetgo.Compression(&parquetgo.Snappy), parquetgo.MaxRowsPerRowGroup(int64(n)))
	if _, err := w.Write(rows); err != nil {
		b.Fatal(err)
	}
	if err := w.Close(); err != nil {
		b.Fatal(err)
	}
	if len(buf.Bytes()) <= ReadAheadWindow {
		b.Fatalf("%d bytes: not over the read-ahead window", buf.Len())
	}
	return buf.Bytes()
}
