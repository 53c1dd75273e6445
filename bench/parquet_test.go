package bench

// Parquet reader benchmarks: s3ingest's parsers.Open on a Parquet object
// (typed column pages copied into schema.Batch vectors) against parquet-go's
// own GenericReader[T] reading the same file into structs, and the peak heap
// of s3ingest's reader on files of 1 and 4 row groups.
//
//	go test -run '^$' -bench Parquet -benchmem ./bench/
//	go test -run TestParquetMemoryFlat -v ./bench/

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"

	"github.com/s3ingest/s3ingest/parsers"
	"github.com/s3ingest/s3ingest/parsers/schema"
)

// pqRow is the 12-column mixed flat table: int64, int32, two doubles, a
// float, a bool, a dictionary-encoded category, a unique name, a timestamp
// (µs), a date, and an optional int64 and string (~10 % and ~14 % nulls).
type pqRow struct {
	ID       int64     `parquet:"id"`
	Qty      int32     `parquet:"qty"`
	Price    float64   `parquet:"price"`
	Ratio    float32   `parquet:"ratio"`
	Flag     bool      `parquet:"flag"`
	Category string    `parquet:"category,dict"`
	Name     string    `parquet:"name"`
	At       time.Time `parquet:"at,timestamp(microsecond)"`
	Day      int32     `parquet:"day,date"`
	OptInt   *int64    `parquet:"opt_int,optional"`
	OptStr   *string   `parquet:"opt_str,optional"`
	Score    float64   `parquet:"score"`
}

const pqBenchRows = 1_500_000

var pqCategories = []string{"books", "music", "garden", "toys", "food", "tools", "sports", "health"}

// pqWrite writes rows [0, n) in row groups of perGroup rows (snappy, the
// writer's default page size) to w.
func pqWrite(tb testing.TB, w io.Writer, n, perGroup int) {
	tb.Helper()
	pw := parquet.NewGenericWriter[pqRow](w, parquet.Compression(&parquet.Snappy), parquet.MaxRowsPerRowGroup(int64(perGroup)))
	base := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	buf := make([]pqRow, 0, 8192)
	for i := 0; i < n; i++ {
		r := pqRow{ID: int64(i), Qty: int32(i % 1000), Price: float64(i%10000) / 100, Ratio: float32(i%97) / 97,
			Flag: i%3 == 0, Category: pqCategories[i%len(pqCategories)], Name: "customer-" + strconv.Itoa(i*7919%1000003),
			At: base.Add(time.Duration(i) * time.Second), Day: int32(19723 + i%365), Score: float64(i) * 1.5}
		if i%10 != 0 {
			v := int64(i * 3)
			r.OptInt = &v
		}
		if i%7 != 0 {
			s := "note " + strconv.Itoa(i%5000)
			r.OptStr = &s
		}
		buf = append(buf, r)
		if len(buf) == cap(buf) || i == n-1 {
			if _, err := pw.Write(buf); err != nil {
				tb.Fatal(err)
			}
			buf = buf[:0]
		}
	}
	if err := pw.Close(); err != nil {
		tb.Fatal(err)
	}
}

var (
	pqDataOnce sync.Once
	pqData     []byte
)

// parquetData is ~1.5 M rows in 3 row groups, in memory.
func parquetData(tb testing.TB) []byte {
	pqDataOnce.Do(func() {
		var b bytes.Buffer
		pqWrite(tb, &b, pqBenchRows, pqBenchRows/3)
		pqData = b.Bytes()
	})
	return pqData
}

// s3ingestParquet reads every row with parsers.Open and returns the count.
func s3ingestParquet(tb testing.TB, obj parsers.Object) int {
	ctx := context.Background()
	r, err := parsers.Open(ctx, obj, parsers.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	defer r.Close()
	b := schema.NewBatch(r.Schema(), parsers.DefaultBatchRows)
	n := 0
	for {
		err := r.Next(ctx, b)
		if err == io.EOF {
			return n
		}
		if err != nil {
			tb.Fatal(err)
		}
		n += b.Len()
	}
}

// genericParquet reads every row into structs with parquet-go's
// GenericReader and returns the count.
func genericParquet(tb testing.TB, data []byte) int {
	f, err := parquet.OpenFile(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		tb.Fatal(err)
	}
	r := parquet.NewGenericReader[pqRow](f)
	defer r.Close()
	rows := make([]pqRow, parsers.DefaultBatchRows)
	n := 0
	for {
		k, err := r.Read(rows)
		n += k
		if err == io.EOF {
			return n
		}
		if err != nil {
			tb.Fatal(err)
		}
	}
}

// BenchmarkParquet reads the same file with both readers, one after the
// other in every iteration, and reports the rows/s of each and their ratio
// (interleaving keeps the comparison fair on a machine whose load moves).
func BenchmarkParquet(b *testing.B) {
	data := parquetData(b)
	b.Run("s3ingest", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		b.ReportAllocs()
		rows := 0
		for b.Loop() {
			rows += s3ingestParquet(b, parsers.BytesObject("bench.parquet", data))
		}
		b.ReportMetric(float64(rows)/b.Elapsed().Seconds(), "rows/s")
	})
	b.Run("parquet-go-GenericReader", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		b.ReportAllocs()
		rows := 0
		for b.Loop() {
			rows += genericParquet(b, data)
		}
		b.ReportMetric(float64(rows)/b.Elapsed().Seconds(), "rows/s")
	})
	b.Run("side-by-side", func(b *testing.B) {
		var ourWall, theirWall, oursCPU, theirsCPU time.Duration
		rows := 0
		for b.Loop() {
			t0, c0 := time.Now(), cpuTime()
			n1 := s3ingestParquet(b, parsers.BytesObject("bench.parquet", data))
			t1, c1 := time.Now(), cpuTime()
			n2 := genericParquet(b, data)
			theirWall += time.Since(t1)
			theirsCPU += cpuTime() - c1
			ourWall += t1.Sub(t0)
			oursCPU += c1 - c0
			if n1 != pqBenchRows || n2 != pqBenchRows {
				b.Fatalf("read %d and %d rows, want %d", n1, n2, pqBenchRows)
			}
			rows += n1
		}
		a, g := float64(rows)/ourWall.Seconds(), float64(rows)/theirWall.Seconds()
		b.ReportMetric(a, "s3ingest-rows/s")
		b.ReportMetric(g, "generic-rows/s")
		b.ReportMetric(a/g, "ratio")
		note("Parquet read, 12 columns", ours, "rows/s", float64(rows), ourWall.Seconds(), oursCPU.Seconds())
		note("Parquet read, 12 columns", "parquet-go GenericReader[T]", "rows/s", float64(rows), theirWall.Seconds(), theirsCPU.Seconds())
	})
}

// TestParquetReadersAgree checks that both readers see the same values, so
// the benchmark compares like with like.
func TestParquetReadersAgree(t *testing.T) {
	var buf bytes.Buffer
	pqWrite(t, &buf, 20000, 7000)
	data := buf.Bytes()
	f, err := parquet.OpenFile(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	want := make([]pqRow, 20000)
	gr := parquet.NewGenericReader[pqRow](f)
	if n, err := gr.Read(want); n != len(want) || (err != nil && err != io.EOF) {
		t.Fatal(n, err)
	}
	r, err := parsers.Open(context.Background(), parsers.BytesObject("t.parquet", data), parsers.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if got := r.Schema().String(); got != "id int64, qty int64, price float64, ratio float64, flag bool, category string, name string, at timestamp, day date, opt_int int64?, opt_str string?, score float64" {
		t.Fatalf("schema %s", got)
	}
	b := schema.NewBatch(r.Schema(), 20000)
	i := 0
	for {
		err := r.Next(context.Background(), b)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		for k := range b.Len() {
			w := want[i]
			c := b.Cols
			ok := c[0].Ints[k] == w.ID && c[1].Ints[k] == int64(w.Qty) && c[2].Floats[k] == w.Price && c[3].Floats[k] == float64(w.Ratio) &&
				c[4].Bools[k] == w.Flag && string(c[5].BytesAt(k)) == w.Category && string(c[6].BytesAt(k)) == w.Name &&
				c[7].Ints[k] == w.At.UnixMicro() && c[8].Ints[k] == int64(w.Day) && c[11].Floats[k] == w.Score &&
				c[9].Nulls[k] == (w.OptInt == nil) && (w.OptInt == nil || c[9].Ints[k] == *w.OptInt) &&
				c[10].Nulls[k] == (w.OptStr == nil) && (w.OptStr == nil || string(c[10].BytesAt(k)) == *w.OptStr)
			if !ok {
				t.Fatalf("row %d differs: %v vs %+v", i, b.Row(k), w)
			}
			i++
		}
	}
	if i != len(want) {
		t.Fatalf("%d rows, want %d", i, len(want))
	}
}

// pqPeakHeap runs f and returns the peak growth of the heap's live objects
// over the heap before it (pooled buffers included), sampled every 200 µs (with GOGC at 25 so that
// garbage does not hide the live set).
func pqPeakHeap(f func()) uint64 {
	old := debug.SetGCPercent(25)
	defer debug.SetGCPercent(old)
	runtime.GC()
	runtime.GC() // twice: sync.Pool's victim cache survives one GC
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	read := func() uint64 { metrics.Read(sample); return sample[0].Value.Uint64() }
	base := read()
	var peak uint64
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(200 * time.Microsecond)
		defer t.Stop()
		for {
			if v := read(); v > peak {
				peak = v
			}
			select {
			case <-stop:
				return
			case <-t.C:
			}
		}
	}()
	f()
	close(stop)
	<-done
	if v := read(); v > peak {
		peak = v
	}
	if peak < base {
		return 0
	}
	return peak - base
}

// TestParquetMemoryFlat measures the peak heap of reading a file of one
// row group and one four times larger (four row groups of the same size)
// from disk through parsers.FileObject: memory depends on the row group and
// page sizes, not on the file's size. The numbers are logged; the test
// fails only if the larger file needs 1.5× the memory (+8 MiB) of the
// smaller one. Timings are not asserted.
func TestParquetMemoryFlat(t *testing.T) {
	if testing.Short() {
		t.Skip("writes two files of ~30 and ~120 MB")
	}
	const perGroup = 1_000_000
	dir := t.TempDir()
	peaks := map[int]uint64{}
	for _, groups := range []int{1, 4} {
		path := filepath.Join(dir, fmt.Sprintf("g%d.parquet", groups))
		f, err := os.Create(path)
		if err != nil {
			t.Fatal(err)
		}
		pqWrite(t, f, groups*perGroup, perGroup)
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
		st, _ := os.Stat(path)
		obj, err := parsers.FileObject(path)
		if err != nil {
			t.Fatal(err)
		}
		rows := 0
		peak := pqPeakHeap(func() { rows = s3ingestParquet(t, obj) })
		if rows != groups*perGroup {
			t.Fatalf("%d rows", rows)
		}
		peaks[groups] = peak
		t.Logf("%d row group(s), %d rows, %.1f MB file: peak heap growth %.1f MiB", groups, rows, float64(st.Size())/1e6, float64(peak)/(1<<20))
	}
	if peaks[4] > peaks[1]*3/2+8<<20 {
		t.Fatalf("peak heap grows with the file: %d vs %d bytes", peaks[4], peaks[1])
	}
}
