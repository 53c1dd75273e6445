//go:build !race

// Memory tests measure the heap, which the race detector inflates: this
// file is left out under -race and scripts/test.sh runs it without it
// (-run MemoryFlat).

package sink_test

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"runtime/pprof"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"

	"github.com/s3ingest/s3ingest/parsers/schema"
	"github.com/s3ingest/s3ingest/worker/sink"
)

// wideWriterBound is the most heap the FileSink may add while writing one
// object of 10,000 string columns (the parsers' default MaxColumns), on top
// of the batch the parser hands it: sink.WriterMemoryBudget (before the fix,
// parquet-go's default page buffers took 640-800 MiB here).
const wideWriterBound = sink.WriterMemoryBudget

// TestMemoryFlatWideObject writes 10,000 string columns × 2,000 rows
// ("value-abc"-like strings, about 200 MB of values) through one FileSink
// Writer in parser-sized batches and checks that the peak heap it adds
// stays under sink.WriterMemoryBudget; then that the file holds every row.
func TestMemoryFlatWideObject(t *testing.T) {
	if testing.Short() {
		t.Skip("memory test: skipped with -short")
	}
	const cols, rows = 10_000, 2_000
	fields := make([]schema.Field, cols)
	for i := range fields {
		fields[i] = schema.Field{Name: fmt.Sprintf("c%05d", i), Type: schema.String, Nullable: true}
	}
	s := &schema.Schema{Fields: fields}
	fs, err := sink.OpenFile(t.TempDir(), sink.FileOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := ctxT(t)
	ds, o := dset("wide"), obj("wide.csv")
	b := schema.NewBatch(s, rows) // the parser's batch: BatchRows of the schema
	batchRows := cap(b.Lines)
	var buf []byte
	fill := func(first, n int) {
		b.Reset()
		for r := first; r < first+n; r++ {
			for c := range b.Cols {
				buf = appendCell(buf[:0], r, c)
				b.Cols[c].AppendBytes(buf)
			}
			b.Lines = append(b.Lines, int64(r+2))
		}
	}
	fill(0, batchRows) // the batch at its full size before the baseline

	var peak atomic.Uint64
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	heap := func() uint64 {
		metrics.Read(sample)
		return sample[0].Value.Uint64()
	}
	runtime.GC()
	base := heap()
	peak.Store(base)
	note := func() {
		if h := heap(); h > peak.Load() {
			peak.Store(h)
		}
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // also samples inside Write and Commit
		defer wg.Done()
		tk := time.NewTicker(2 * time.Millisecond)
		defer tk.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tk.C:
				note()
			}
		}
	}()

	start := time.Now()
	w, err := fs.Begin(ctx, ds, o, sink.PlanFor(s))
	if err != nil {
		t.Fatal(err)
	}
	for r := 0; r < rows; r += batchRows {
		n := min(batchRows, rows-r)
		fill(r, n)
		if err := w.Write(ctx, b); err != nil {
			t.Fatal(err)
		}
		note()
	}
	if pf := os.Getenv("WIDE_HEAPPROF"); pf != "" { // a profile of the live heap before Commit

		runtime.GC()
		t.Logf("live heap before commit: %d MiB", (heap()-base)>>20)
		hf, _ := os.Create(pf)
		pprof.WriteHeapProfile(hf)
		hf.Close()
	}
	note()
	writes := peak.Load() - base
	if err := w.Commit(ctx, sink.Stats{}); err != nil {
		t.Fatal(err)
	}
	note()
	close(stop)
	wg.Wait()
	growth := peak.Load() - base
	t.Logf("%d columns × %d rows in batches of %d rows: peak heap growth %d MiB (%d MiB until Commit; bound %d MiB), %v",
		cols, rows, batchRows, growth>>20, writes>>20, wideWriterBound>>20, time.Since(start).Round(time.Millisecond))
	if growth > wideWriterBound {
		t.Errorf("peak heap growth %d MiB, over the writer's budget of %d MiB", growth>>20, wideWriterBound>>20)
	}

	// The file holds every row: read a few columns back.
	dir, err := fs.DatasetDir(ds)
	if err != nil {
		t.Fatal(err)
	}
	parts, _ := filepath.Glob(filepath.Join(dir, "part-*.parquet"))
	if len(parts) != 1 {
		t.Fatalf("parts: %v", parts)
	}
	pf := openParquetFile(t, parts[0])
	if pf.NumRows() != rows {
		t.Fatalf("file has %d rows, want %d", pf.NumRows(), rows)
	}
	t.Logf("file: %d MiB, %d row groups", pf.Size()>>20, len(pf.RowGroups()))
	for _, c := range []int{0, 4321, cols - 1} {
		r := 0
		for _, rg := range pf.RowGroups() {
			pages := rg.ColumnChunks()[c].Pages()
			for {
				p, err := pages.ReadPage()
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				vals := make([]parquet.Value, p.NumValues())
				n, _ := p.Values().ReadValues(vals)
				for _, v := range vals[:n] {
					if got, want := string(v.ByteArray()), string(appendCell(nil, r, c)); got != want {
						t.Fatalf("column %d row %d: %q, want %q", c, r, got, want)
					}
					r++
				}
				parquet.Release(p)
			}
			pages.Close()
		}
		if r != rows {
			t.Fatalf("column %d: %d values, want %d", c, r, rows)
		}
	}
}

// appendCell appends the value of row r, column c of the wide object:
// short strings of one width ("value-10e1-1999"), distinct per row and
// column, as a wide CSV export has. One width keeps the batch's buffers at
// their first size, so the heap measured is the sink's.
func appendCell(dst []byte, r, c int) []byte {
	dst = append(dst, "value-"...)
	dst = appendPadded(dst, int64(c), 16)
	dst = append(dst, '-')
	return appendPadded(dst, int64(r), 10)
}

func appendPadded(dst []byte, x int64, base int) []byte {
	var a [16]byte
	s := strconv.AppendInt(a[:0], x, base)
	for i := len(s); i < 4; i++ {
		dst = append(dst, '0')
	}
	return append(dst, s...)
}
