package parsers

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"

	"github.com/s3ingest/s3ingest/parsers/schema"
)

// pqBenchRow is the 12-column mixed flat table of the benchmarks.
type pqBenchRow struct {
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

func pqBenchRows(n int) []pqBenchRow {
	cats := []string{"books", "music", "garden", "toys", "food", "tools", "sports", "health"}
	base := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	rows := make([]pqBenchRow, n)
	for i := range rows {
		r := &rows[i]
		r.ID = int64(i)
		r.Qty = int32(i % 1000)
		r.Price = float64(i%10000) / 100
		r.Ratio = float32(i%97) / 97
		r.Flag = i%3 == 0
		r.Category = cats[i%len(cats)]
		r.Name = "customer-" + strconv.Itoa(i*7919%1000003)
		r.At = base.Add(time.Duration(i) * time.Second)
		r.Day = int32(19723 + i%365)
		if i%10 != 0 {
			v := int64(i * 3)
			r.OptInt = &v
		}
		if i%7 != 0 {
			s := "note " + strconv.Itoa(i%5000)
			r.OptStr = &s
		}
		r.Score = float64(i) * 1.5
	}
	return rows
}

var pqBenchFiles sync.Map // key -> []byte

// pqBenchFile returns a snappy-compressed file of n rows in groups of
// rowsPerGroup rows.
func pqBenchFile(tb testing.TB, n, rowsPerGroup int) []byte {
	key := fmt.Sprint(n, "/", rowsPerGroup)
	if b, ok := pqBenchFiles.Load(key); ok {
		return b.([]byte)
	}
	b := pqWriteFile(tb, pqBenchRows(n), parquet.Compression(&parquet.Snappy), parquet.MaxRowsPerRowGroup(int64(rowsPerGroup)))
	pqBenchFiles.Store(key, b)
	return b
}

// BenchmarkParquet reads a 12-column mixed table of 1 M rows (snappy,
// dictionary strings, nulls) from memory through ranged reads.
func BenchmarkParquet(b *testing.B) {
	const rows = 1 << 20
	data := pqBenchFile(b, rows, rows)
	ctx := context.Background()
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	b.ResetTimer()
	total := 0
	c0 := cpuTime()
	for b.Loop() {
		r, err := openParquet(ctx, pqAtObject{newPQRangeObject("bench.parquet", data)}, Options{})
		if err != nil {
			b.Fatal(err)
		}
		batch := schema.NewBatch(r.Schema(), DefaultBatchRows)
		for {
			err := r.Next(ctx, batch)
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			total += batch.Len()
		}
		r.Close()
	}
	b.ReportMetric(float64(total)/b.Elapsed().Seconds(), "rows/s")
	if cpu := cpuTime() - c0; cpu > 0 {
		// rows per CPU-second (GC included): steady on a loaded machine
		b.ReportMetric(float64(total)/cpu.Seconds(), "rows/cpu-s")
	}
}

type pqNestedBenchRow struct {
	ID   int64            `parquet:"id"`
	Tags []string         `parquet:"tags,list"`
	Attr map[string]int64 `parquet:"attr"`
	Pos  struct {
		X float64 `parquet:"x"`
		Y float64 `parquet:"y"`
	} `parquet:"pos"`
}

// BenchmarkParquetNested reads 256 K rows with a list, a map and a struct
// (assembled into JSON text).
func BenchmarkParquetNested(b *testing.B) {
	const rows = 1 << 18
	key := "nested"
	data, ok := pqBenchFiles.Load(key)
	if !ok {
		in := make([]pqNestedBenchRow, rows)
		for i := range in {
			in[i].ID = int64(i)
			in[i].Tags = []string{"a", "b", strconv.Itoa(i % 10)}[:i%4%3+1]
			in[i].Attr = map[string]int64{"k": int64(i)}
			in[i].Pos.X, in[i].Pos.Y = float64(i), -float64(i)
		}
		data = pqWriteFile(b, in, parquet.Compression(&parquet.Snappy))
		pqBenchFiles.Store(key, data)
	}
	ctx := context.Background()
	b.ReportAllocs()
	total := 0
	for b.Loop() {
		r, err := openParquet(ctx, pqAtObject{newPQRangeObject("nested.parquet", data.([]byte))}, Options{})
		if err != nil {
			b.Fatal(err)
		}
		batch := schema.NewBatch(r.Schema(), DefaultBatchRows)
		for {
			err := r.Next(ctx, batch)
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			total += batch.Len()
		}
		r.Close()
	}
	b.ReportMetric(float64(total)/b.Elapsed().Seconds(), "rows/s")
}
