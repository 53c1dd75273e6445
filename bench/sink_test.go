package bench

// Sink benchmarks: FileSink (typed vectors -> parquet-go column writers)
// against parquet-go's GenericWriter[T] of structs on the same rows, and
// the PostgreSQL sink's binary COPY.
//
//	go test -run '^$' -bench Sink -benchmem -benchtime 10x -cpu 1 ./bench/
//
// The results are in the table TestMain prints and in bench/README.md.

import (
	"context"
	"math/rand/v2"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/parquet-go/parquet-go"

	"github.com/s3ingest/s3ingest/internal/testenv"
	"github.com/s3ingest/s3ingest/parsers/schema"
	"github.com/s3ingest/s3ingest/worker/sink"
)

// sinkRows rows in batches of sinkBatchRows, 9 columns of every kind but
// JSON (one nullable string with ~30 % nulls).
const (
	sinkRows      = 1 << 19
	sinkBatchRows = 8192
)

var sinkSchema = &schema.Schema{Fields: []schema.Field{
	{Name: "id", Type: schema.Int64},
	{Name: "user_id", Type: schema.Int64},
	{Name: "amount", Type: schema.Float64},
	{Name: "created", Type: schema.Date},
	{Name: "updated", Type: schema.Timestamp},
	{Name: "name", Type: schema.String},
	{Name: "comment", Type: schema.String, Nullable: true},
	{Name: "flag", Type: schema.Bool},
	{Name: "country", Type: schema.String},
}}

// sinkRow is the same row as a struct, for GenericWriter.
type sinkRow struct {
	ID      int64   `parquet:"id"`
	UserID  int64   `parquet:"user_id"`
	Amount  float64 `parquet:"amount"`
	Created int32   `parquet:"created,date"`
	Updated int64   `parquet:"updated,timestamp(microsecond)"`
	Name    string  `parquet:"name"`
	Comment *string `parquet:"comment,optional"`
	Flag    bool    `parquet:"flag"`
	Country string  `parquet:"country"`
}

var (
	sinkBatches []*schema.Batch
	sinkStructs []sinkRow
	sinkBytes   int64 // value bytes of all rows (8 per number, string lengths)
)

func sinkData() ([]*schema.Batch, []sinkRow) {
	if sinkBatches != nil {
		return sinkBatches, sinkStructs
	}
	rng := rand.New(rand.NewPCG(1, 2))
	comments := []string{"first order", "repeat customer, paid by card", "gift wrap requested; deliver after 6pm", "", "priority"}
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for start := 0; start < sinkRows; start += sinkBatchRows {
		b := schema.NewBatch(sinkSchema, sinkBatchRows)
		for i := start; i < start+sinkBatchRows; i++ {
			r := sinkRow{
				ID:      int64(i),
				UserID:  rng.Int64N(1_000_000),
				Amount:  float64(rng.IntN(1_000_000)) / 100,
				Created: int32(schema.DateFromTime(base) + int64(rng.IntN(365))),
				Updated: base.UnixMicro() + rng.Int64N(365*86400*1_000_000),
				Name:    genNames[rng.IntN(len(genNames))] + strconv.Itoa(rng.IntN(1000)),
				Flag:    rng.IntN(2) == 0,
				Country: genCountries[rng.IntN(len(genCountries))],
			}
			if rng.IntN(10) >= 3 {
				c := comments[rng.IntN(len(comments))]
				r.Comment = &c
			}
			sinkStructs = append(sinkStructs, r)
			b.Cols[0].AppendInt(r.ID)
			b.Cols[1].AppendInt(r.UserID)
			b.Cols[2].AppendFloat(r.Amount)
			b.Cols[3].AppendInt(int64(r.Created))
			b.Cols[4].AppendInt(r.Updated)
			b.Cols[5].AppendString(r.Name)
			if r.Comment == nil {
				b.Cols[6].AppendNull()
			} else {
				b.Cols[6].AppendString(*r.Comment)
			}
			b.Cols[7].AppendBool(r.Flag)
			b.Cols[8].AppendString(r.Country)
			b.Lines = append(b.Lines, int64(i+2))
			sinkBytes += 5*8 + 1 + int64(len(r.Name)+len(r.Country))
			if r.Comment != nil {
				sinkBytes += int64(len(*r.Comment))
			}
		}
		sinkBatches = append(sinkBatches, b)
	}
	return sinkBatches, sinkStructs
}

// writeFileSink writes every batch as one object through FileSink.
func writeFileSink(b *testing.B, s *sink.FileSink, key string) {
	ctx := context.Background()
	batches, _ := sinkData()
	w, err := s.Begin(ctx, sink.Dataset{Workspace: "bench", Name: "bench"}, sink.ObjectRef{Bucket: "b", Key: key, ETag: "e", Size: 1}, sink.PlanFor(sinkSchema))
	if err != nil {
		b.Fatal(err)
	}
	for _, batch := range batches {
		if err := w.Write(ctx, batch); err != nil {
			b.Fatal(err)
		}
	}
	if err := w.Commit(ctx, sink.Stats{Rows: sinkRows}); err != nil {
		b.Fatal(err)
	}
}

// writeGeneric writes the same rows with parquet-go's GenericWriter[T], with
// the FileSink's codec, into a file it fsyncs.
func writeGeneric(b *testing.B, path string) {
	_, rows := sinkData()
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	w := parquet.NewGenericWriter[sinkRow](f, parquet.Compression(&parquet.Snappy), parquet.MaxRowsPerRowGroup(sink.DefaultRowGroupRows))
	for start := 0; start < len(rows); start += sinkBatchRows {
		if _, err := w.Write(rows[start : start+sinkBatchRows]); err != nil {
			b.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		b.Fatal(err)
	}
	if err := f.Sync(); err != nil {
		b.Fatal(err)
	}
	if err := f.Close(); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkSinkParquet writes 512 Ki rows (9 columns) as one Parquet file:
// through FileSink (typed vectors, column by column, fsync + rename) and
// through parquet-go's GenericWriter[sinkRow] (structs, fsync), both with
// Snappy. It runs on the disk (the test's temp dir, where fsync dominates)
// and on tmpfs (/dev/shm, CPU-bound), and prints the ratio of the two
// writers for each.
func BenchmarkSinkParquet(b *testing.B) {
	sinkData()
	storages := []struct{ name, dir string }{{"disk", b.TempDir()}}
	if st, err := os.Stat("/dev/shm"); err == nil && st.IsDir() {
		d, err := os.MkdirTemp("/dev/shm", "s3ingest-bench-")
		if err != nil {
			b.Fatal(err)
		}
		defer os.RemoveAll(d)
		storages = append(storages, struct{ name, dir string }{"tmpfs", d})
	}
	for _, st := range storages {
		b.Run(st.name, func(b *testing.B) { benchParquet(b, st.name, st.dir) })
	}
}

func benchParquet(b *testing.B, storage, dir string) {
	fs, err := sink.OpenFile(dir, sink.FileOptions{})
	if err != nil {
		b.Fatal(err)
	}
	var rowsPerSec, rowsPerCPUSec [2]float64
	for i, p := range []struct {
		name, impl string
		fn         func(b *testing.B, n int)
	}{
		{"file-sink", ours, func(b *testing.B, n int) { writeFileSink(b, fs, "k"+strconv.Itoa(n)) }},
		{"parquet-generic-writer", "parquet-go GenericWriter[T]", func(b *testing.B, n int) {
			writeGeneric(b, filepath.Join(dir, "generic-"+strconv.Itoa(n)+".parquet"))
		}},
	} {
		b.Run(p.name, func(b *testing.B) {
			b.SetBytes(sinkBytes)
			b.ReportAllocs()
			var cpu time.Duration
			for n := range b.N {
				c0 := cpuTime()
				p.fn(b, n)
				cpu += cpuTime() - c0
				b.StopTimer()
				cleanDir(b, dir)
				b.StartTimer()
			}
			rowsPerSec[i] = float64(sinkRows) * float64(b.N) / b.Elapsed().Seconds()
			rowsPerCPUSec[i] = float64(sinkRows) * float64(b.N) / cpu.Seconds()
			b.ReportMetric(rowsPerSec[i], "rows/s")
			b.ReportMetric(rowsPerCPUSec[i], "rows/cpu-s")
			note("Parquet write to "+storage+", 9 columns", p.impl, "rows/s",
				float64(sinkRows)*float64(b.N), b.Elapsed().Seconds(), cpu.Seconds())
		})
	}
}

func cleanDir(b *testing.B, dir string) {
	paths, _ := filepath.Glob(filepath.Join(dir, "*.parquet"))
	more, _ := filepath.Glob(filepath.Join(dir, "bench", "part-*.parquet"))
	for _, p := range append(paths, more...) {
		if err := os.Remove(p); err != nil {
			b.Fatal(err)
		}
	}
}

// TestSinkBenchDataAgrees checks that FileSink and GenericWriter produce the
// same rows from the benchmark data, so the comparison is like for like.
func TestSinkBenchDataAgrees(t *testing.T) {
	batches, rows := sinkData()
	dir := t.TempDir()
	fs, err := sink.OpenFile(dir, sink.FileOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	w, err := fs.Begin(ctx, sink.Dataset{Workspace: "bench", Name: "check"}, sink.ObjectRef{Bucket: "b", Key: "k", ETag: "e", Size: 1}, sink.PlanFor(sinkSchema))
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(ctx, batches[0]); err != nil {
		t.Fatal(err)
	}
	if err := w.Commit(ctx, sink.Stats{}); err != nil {
		t.Fatal(err)
	}
	ds, err := sink.ReadDataset(filepath.Join(dir, "bench", "check"))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "generic.parquet")
	f, _ := os.Create(path)
	gw := parquet.NewGenericWriter[sinkRow](f)
	if _, err := gw.Write(rows[:sinkBatchRows]); err != nil {
		t.Fatal(err)
	}
	gw.Close()
	f.Close()
	back, err := parquet.ReadFile[sinkRow](path)
	if err != nil {
		t.Fatal(err)
	}
	if len(ds.Rows) != sinkBatchRows || len(back) != sinkBatchRows {
		t.Fatalf("rows: sink %d, generic %d", len(ds.Rows), len(back))
	}
	for i, r := range back {
		var comment any
		if r.Comment != nil {
			comment = *r.Comment
		}
		want := []any{r.ID, r.UserID, r.Amount, schema.FormatDate(int64(r.Created)), schema.FormatTimestamp(r.Updated), r.Name, comment, r.Flag, r.Country}
		got := ds.Rows[i]
		for j := range want {
			if got[j] != want[j] {
				t.Fatalf("row %d column %s: sink %v, generic %v", i, sinkSchema.Fields[j].Name, got[j], want[j])
			}
		}
	}
}

// benchPostgresDSN returns an admin DSN: $S3INGEST_PG_ADMIN_DSN (testenv's
// variable) or the local server testenv also probes. (testenv.Postgres
// needs testenv.Main in TestMain, which this package's TestMain does not
// call.)
// BenchmarkSinkPostgresCopy writes the same 512 Ki rows through the
// PostgreSQL sink (one transaction, binary COPY per batch, ledger row) into
// a table in a scratch schema.
func BenchmarkSinkPostgresCopy(b *testing.B) {
	batches, _ := sinkData()
	admin := testenv.Postgres(b)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close(ctx)
	ns := "s3ingest_bench_" + strconv.FormatUint(rand.Uint64()%1e9, 10)
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+ns); err != nil {
		b.Fatal(err)
	}
	defer conn.Exec(ctx, "DROP SCHEMA "+ns+" CASCADE")
	// The sink keeps the workspace's tables in its own schema (ws_ + the
	// workspace ID): the scratch name serves as the workspace too.
	wsSchema := sink.WorkspaceSchemaPrefix + ns
	defer conn.Exec(ctx, "DROP SCHEMA IF EXISTS "+wsSchema+" CASCADE")
	u, _ := url.Parse(admin)
	q := u.Query()
	q.Set("search_path", ns)
	u.RawQuery = q.Encode()
	pg, err := sink.OpenPostgres(ctx, u.String(), sink.PostgresOptions{})
	if err != nil {
		b.Fatal(err)
	}
	defer pg.Close()
	b.SetBytes(sinkBytes)
	b.ReportAllocs()
	b.ResetTimer()
	var cpu time.Duration
	for n := range b.N {
		c0 := cpuTime()
		w, err := pg.Begin(ctx, sink.Dataset{Workspace: ns, Name: "bench"}, sink.ObjectRef{Bucket: "b", Key: "k" + strconv.Itoa(n), ETag: "e", Size: 1}, sink.PlanFor(sinkSchema))
		if err != nil {
			b.Fatal(err)
		}
		for _, batch := range batches {
			if err := w.Write(ctx, batch); err != nil {
				b.Fatal(err)
			}
		}
		if err := w.Commit(ctx, sink.Stats{}); err != nil {
			b.Fatal(err)
		}
		cpu += cpuTime() - c0
		b.StopTimer()
		if _, err := pg.Pool().Exec(ctx, "TRUNCATE "+wsSchema+".bench"); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	b.ReportMetric(float64(sinkRows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
	b.ReportMetric(float64(sinkRows)*float64(b.N)/cpu.Seconds(), "client-rows/cpu-s")
	note("PostgreSQL COPY, 9 columns (client CPU)", ours, "rows/s", float64(sinkRows)*float64(b.N), b.Elapsed().Seconds(), cpu.Seconds())
}
