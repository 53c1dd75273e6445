package sink_test

// FileSink write benchmarks on small data (a few seconds each): typed
// batches of 12 mixed columns, the shape of the DuckDB comparison's data,
// written through a Writer into a file on tmpfs when there is one.
//
//	go test -run '^$' -bench FileSinkWrite -benchtime 3x -cpu 1,2 ./worker/sink/
//	go test -run '^$' -bench FileSinkWrite/codec= -benchtime 3x -cpu 1 ./worker/sink/

import (
	"context"
	"math/rand/v2"
	"os"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/compress"

	"github.com/s3ingest/s3ingest/parsers/schema"
	"github.com/s3ingest/s3ingest/worker/sink"
)

// benchRows rows in batches of benchBatchRows.
const (
	benchRows      = 1 << 18
	benchBatchRows = 8192
)

// benchSchema: ints, floats, timestamps with and without fractions, a
// date, a bool, nulls, strings with commas and quotes.
var benchSchema = &schema.Schema{Fields: []schema.Field{
	{Name: "id", Type: schema.Int64},
	{Name: "user_id", Type: schema.Int64},
	{Name: "amount", Type: schema.Float64},
	{Name: "score", Type: schema.Float64, Nullable: true},
	{Name: "created_at", Type: schema.Timestamp},
	{Name: "updated_at", Type: schema.Timestamp, Nullable: true},
	{Name: "day", Type: schema.Date},
	{Name: "active", Type: schema.Bool},
	{Name: "name", Type: schema.String},
	{Name: "email", Type: schema.String},
	{Name: "comment", Type: schema.String, Nullable: true},
	{Name: "country", Type: schema.String},
}}

var (
	benchBatchesCache []*schema.Batch
	benchValueBytes   int64
)

// benchBatches returns the benchmark's batches (generated once,
// deterministic).
func benchBatches() []*schema.Batch {
	if benchBatchesCache != nil {
		return benchBatchesCache
	}
	rng := rand.New(rand.NewPCG(11, 12))
	names := []string{"Ada", "Grace", "Linus", "Barbara", "Ken", "Dennis", "Margaret", "Edsger", "Donald", "Frances"}
	countries := []string{"DE", "FR", "US", "JP", "BR", "IN", "NG", "SE"}
	comments := []string{`said "hello", then left`, "repeat customer, paid by card", "gift wrap; deliver after 6pm", "", `5" screen, "mint"`}
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var buf []byte
	for start := 0; start < benchRows; start += benchBatchRows {
		b := schema.NewBatch(benchSchema, benchBatchRows)
		for i := start; i < start+benchBatchRows; i++ {
			c := b.Cols
			c[0].AppendInt(int64(i))
			c[1].AppendInt(rng.Int64N(1_000_000))
			c[2].AppendFloat(float64(rng.IntN(10_000_000)) / 100)
			if rng.IntN(10) == 0 {
				c[3].AppendNull()
			} else {
				c[3].AppendFloat(rng.Float64())
			}
			c[4].AppendInt(base.Unix()*1e6 + rng.Int64N(365*86400)*1e6)
			if rng.IntN(5) == 0 {
				c[5].AppendNull()
			} else {
				c[5].AppendInt(base.UnixMicro() + rng.Int64N(365*86400*1e6))
			}
			c[6].AppendInt(schema.DateFromTime(base) + int64(rng.IntN(365)))
			c[7].AppendBool(rng.IntN(2) == 0)
			n := names[rng.IntN(len(names))]
			buf = strconv.AppendInt(append(buf[:0], n...), int64(rng.IntN(100_000)), 10)
			c[8].AppendBytes(buf)
			buf = append(strconv.AppendInt(append(buf, '.'), int64(i), 10), "@example.com"...)
			c[9].AppendBytes(buf)
			if rng.IntN(10) < 3 {
				c[10].AppendNull()
			} else {
				c[10].AppendString(comments[rng.IntN(len(comments))])
			}
			c[11].AppendString(countries[rng.IntN(len(countries))])
			b.Lines = append(b.Lines, int64(i+2))
		}
		for c := range b.Cols {
			v := &b.Cols[c]
			switch v.Type {
			case schema.String:
				benchValueBytes += int64(v.Offsets[v.Len()])
			case schema.Bool:
				benchValueBytes += int64(v.Len())
			default:
				benchValueBytes += 8 * int64(v.Len())
			}
		}
		benchBatchesCache = append(benchBatchesCache, b)
	}
	return benchBatchesCache
}

// benchDir returns a directory on tmpfs when there is one (CPU-bound, no
// fsync cost), else the test's temporary directory.
func benchDir(b *testing.B) string {
	if st, err := os.Stat("/dev/shm"); err == nil && st.IsDir() {
		d, err := os.MkdirTemp("/dev/shm", "s3ingest-sinkbench-")
		if err == nil {
			b.Cleanup(func() { os.RemoveAll(d) })
			return d
		}
	}
	return b.TempDir()
}

// writeBench writes every benchmark batch as one object and returns the
// file's size.
func writeBench(b *testing.B, fs *sink.FileSink, plan sink.Plan, key string) int64 {
	ctx := context.Background()
	ds := sink.Dataset{Workspace: "bench", Name: "bench"}
	o := sink.ObjectRef{Bucket: "b", Key: key, ETag: "e", Size: 1}
	w, err := fs.Begin(ctx, ds, o, plan)
	if err != nil {
		b.Fatal(err)
	}
	for _, batch := range benchBatches() {
		if err := w.Write(ctx, batch); err != nil {
			b.Fatal(err)
		}
	}
	if err := w.Commit(ctx, sink.Stats{Rows: benchRows}); err != nil {
		b.Fatal(err)
	}
	path, err := fs.PartPath(ds, o)
	if err != nil {
		b.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		b.Fatal(err)
	}
	if err := os.Remove(path); err != nil {
		b.Fatal(err)
	}
	return st.Size()
}

// BenchmarkFileSinkWrite writes 256 Ki rows × 12 mixed columns through one
// FileSink Writer with the default options.
func BenchmarkFileSinkWrite(b *testing.B) {
	benchBatches()
	dir := benchDir(b)
	fs, err := sink.OpenFile(dir, sink.FileOptions{})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	writeBenchN(b, fs)
	b.ReportMetric(float64(benchRows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}

// writeBenchN writes the benchmark's rows b.N times, as b.N objects, and
// reports the file's size and the CPU time per object.
func writeBenchN(b *testing.B, fs *sink.FileSink) {
	plan := sink.PlanFor(benchSchema)
	b.SetBytes(benchValueBytes)
	var size int64
	c0 := cpuTime()
	for n := range b.N {
		size = writeBench(b, fs, plan, "k"+strconv.Itoa(n))
	}
	b.ReportMetric(float64(size), "file-bytes")
	b.ReportMetric(float64((cpuTime()-c0).Milliseconds())/float64(b.N), "cpu-ms/op")
}

// BenchmarkFileSinkCodec writes the benchmark's rows with each codec
// (parquet-go's Snappy, "better" mode, for comparison): time and file
// size.
func BenchmarkFileSinkCodec(b *testing.B) {
	benchBatches()
	codecs := []struct {
		name  string
		codec compress.Codec
	}{
		{"snappy-better", &parquet.Snappy},
		{"snappy", sink.CodecSnappy.ParquetCodec()},
		{"lz4_raw", sink.CodecLZ4Raw.ParquetCodec()},
		{"zstd", sink.CodecZstd.ParquetCodec()},
		{"gzip", sink.CodecGzip.ParquetCodec()},
		{"none", sink.CodecNone.ParquetCodec()},
	}
	for _, c := range codecs {
		b.Run("codec="+c.name, func(b *testing.B) {
			fs, err := sink.OpenFile(benchDir(b), sink.FileOptions{Compression: c.codec})
			if err != nil {
				b.Fatal(err)
			}
			writeBenchN(b, fs)
		})
	}
}

// cpuTime returns the CPU time (user and system) the process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
