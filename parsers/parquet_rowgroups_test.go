package parsers

import (
	"bytes"
	"context"
	"encoding/binary"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"

	engine "github.com/s3ingest/s3ingest/parsers/internal/parquet"
)

// pqTinyRowGroups writes, with parquet-go, a Parquet file of n row groups
// of one row each (columns id int64, name string). parquet-go v0.32 writes
// at most 32,767 row groups (a row group's ordinal is an int16), so not the
// 100,000 of issue 9.
func pqTinyRowGroups(t testing.TB, n int) []byte {
	type row struct {
		ID   int64  `parquet:"id"`
		Name string `parquet:"name"`
	}
	var b bytes.Buffer
	w := parquet.NewGenericWriter[row](&b, parquet.MaxRowsPerRowGroup(1))
	rows := []row{{}}
	for i := range n {
		rows[0] = row{ID: int64(i), Name: "r" + strconv.Itoa(i)}
		if _, err := w.Write(rows); err != nil {
			t.Fatal(err)
		}
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// TestParquetTinyRowGroups: a file of 32,767 one-row row groups (the
// hostile shape of issue 9; it took 40-48 s against S3 at one ranged GET
// per row group) loads every row, in order, with one request per
// read-ahead window: the footer's three, then two for 5 MB of row groups.
func TestParquetTinyRowGroups(t *testing.T) {
	n := 32_767
	if raceEnabled {
		n = 4096 // the same shape, faster to write under -race
	}
	data := pqTinyRowGroups(t, n)
	obj := newPQRangeObject("s3://b/row-groups.parquet", data)
	var m0, m1, m2 runtime.MemStats
	runtime.ReadMemStats(&m0)
	start := time.Now()
	r, err := openParquet(context.Background(), obj, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	open := obj.requests.Load()
	runtime.ReadMemStats(&m1)
	rows, lines, err := pqReadAll(context.Background(), r, DefaultBatchRows)
	d := time.Since(start)
	runtime.ReadMemStats(&m2)
	if err != nil || len(rows) != n {
		t.Fatalf("%d rows, %v", len(rows), err)
	}
	for i, row := range rows {
		if row[0] != int64(i) || row[1] != "r"+strconv.Itoa(i) || lines[i] != int64(i) {
			t.Fatalf("row %d (line %d): %v", i, lines[i], row)
		}
	}
	// the row groups' bytes (before the footer) in read-ahead windows of
	// whole row groups
	footer := int64(binary.LittleEndian.Uint32(data[len(data)-8:]))
	rgBytes := int64(len(data)) - 8 - footer - 4
	reads, want := obj.requests.Load()-open, rgBytes/engine.ReadAheadWindow+1
	if reads > want {
		t.Errorf("%d requests to read %d row groups of %d bytes in all (ranges %v), want %d (read-ahead windows of %d bytes)",
			reads, n, rgBytes, obj.ranges[open:], want, engine.ReadAheadWindow)
	}
	// what the engine allocates per row group (page readers, guards, page
	// headers; the test's rows are ~100 bytes each). Not under -race, whose
	// sync.Pool drops items at random: parquet-go's pooled read buffers
	// (ReadBufferSize each) are then allocated again for each row group.
	openAlloc, perGroup := m1.TotalAlloc-m0.TotalAlloc, (m2.TotalAlloc-m1.TotalAlloc)/uint64(n)
	t.Logf("%d row groups, %d bytes: %d requests (%d to open), %v; %d MiB allocated to open (footer), %d bytes per row group to read",
		n, len(data), obj.requests.Load(), open, d, openAlloc>>20, perGroup)
	if !raceEnabled && perGroup > 16<<10 {
		t.Errorf("%d bytes allocated per row group of one row", perGroup)
	}
}

// BenchmarkParquetTinyRowGroups reads 32,767 one-row row groups from an
// object with a first-byte latency of 1 ms per request (S3's is 10-30 ms):
// one request per read-ahead window instead of one per row group (~35 s
// per read before).
func BenchmarkParquetTinyRowGroups(b *testing.B) {
	data := pqTinyRowGroups(b, 32_767)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		obj := newPQRangeObject("k", data)
		obj.latency = time.Millisecond
		n, err := pqReadObject(context.Background(), obj, Options{})
		if err != nil || n != 32_767 {
			b.Fatal(n, err)
		}
		b.ReportMetric(float64(obj.requests.Load()), "requests/op")
	}
}

// BenchmarkParquetReadAhead reads 200,000 rows in 10 row groups of ~1.5 MB
// from an object with a first-byte latency of 10 ms and 100 MB/s per
// request (one S3 connection): the next read-ahead window is fetched while
// the current one is decoded.
func BenchmarkParquetReadAhead(b *testing.B) {
	data := pqWriteFile(b, pqBenchRows(200000), parquet.MaxRowsPerRowGroup(20000))
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		obj := newPQRangeObject("k", data)
		obj.latency, obj.bandwidth = 10*time.Millisecond, 100<<20
		n, err := pqReadObject(context.Background(), obj, Options{})
		if err != nil || n != 200000 {
			b.Fatal(n, err)
		}
		b.ReportMetric(float64(obj.requests.Load()), "requests/op")
	}
}
