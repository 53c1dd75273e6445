package sink_test

import (
	"fmt"
	"path/filepath"
	"reflect"
	"runtime"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go/format"

	"github.com/s3ingest/s3ingest/parsers/schema"
	"github.com/s3ingest/s3ingest/worker/sink"
)

// parallelSchema has every type, nullable and not, and wide enough
// (cols > 128) variants are made by widen.
func parallelSchema() *schema.Schema {
	s := allTypes()
	s.Fields = append(s.Fields,
		schema.Field{Name: "flag_req", Type: schema.Bool},
		schema.Field{Name: "x_req", Type: schema.Float64},
		schema.Field{Name: "day_req", Type: schema.Date},
		schema.Field{Name: "at_req", Type: schema.Timestamp},
		schema.Field{Name: "s_req", Type: schema.String},
	)
	return s
}

// widen appends n nullable columns cycling through the types.
func widen(s *schema.Schema, n int) *schema.Schema {
	types := []schema.Type{schema.Int64, schema.String, schema.Float64, schema.Bool, schema.Timestamp, schema.Date, schema.JSON}
	for i := range n {
		s.Fields = append(s.Fields, schema.Field{Name: fmt.Sprintf("w%03d", i), Type: types[i%len(types)], Nullable: true})
	}
	return s
}

// parallelBatch fills a batch of rows rows (ids from first) with values
// that vary by row and column, nulls in every nullable column.
func parallelBatch(s *schema.Schema, first, rows int) *schema.Batch {
	b := schema.NewBatch(s, rows)
	for r := first; r < first+rows; r++ {
		for c := range b.Cols {
			v := &b.Cols[c]
			f := s.Fields[c]
			if c == 0 {
				v.AppendInt(int64(r))
				continue
			}
			if f.Nullable && (r+c)%7 == 0 {
				v.AppendNull()
				continue
			}
			k := int64(r*31 + c*17)
			switch f.Type {
			case schema.Bool:
				v.AppendBool(k%3 == 0)
			case schema.Int64:
				v.AppendInt(k*k - 1<<40)
			case schema.Float64:
				v.AppendFloat(float64(k) / 7)
			case schema.Date:
				v.AppendInt(k % 40000)
			case schema.Timestamp:
				v.AppendInt(k * 1_000_003)
			case schema.JSON:
				v.AppendString(fmt.Sprintf(`{"k":%d}`, k))
			default:
				v.AppendString(fmt.Sprintf("value %d, \"quoted\" %x", k, k*k))
			}
		}
		b.Lines = append(b.Lines, int64(r+2))
	}
	return b
}

// writeObject writes batches of the given sizes through a FileSink with
// opt and returns the dataset's rows and the file's row groups (rows and
// column chunk metadata without offsets).
func writeObject(t *testing.T, s *schema.Schema, opt sink.FileOptions, batches []int) ([][]any, []format.RowGroup) {
	t.Helper()
	dir := t.TempDir()
	fs, err := sink.OpenFile(dir, opt)
	if err != nil {
		t.Fatal(err)
	}
	ctx := ctxT(t)
	ds, o := dset("par"), obj("par.csv")
	w, err := fs.Begin(ctx, ds, o, sink.PlanFor(s))
	if err != nil {
		t.Fatal(err)
	}
	defer w.Abort(ctx)
	first := 0
	for _, n := range batches {
		if err := w.Write(ctx, parallelBatch(s, first, n)); err != nil {
			t.Fatal(err)
		}
		first += n
	}
	if err := w.Commit(ctx, sink.Stats{}); err != nil {
		t.Fatal(err)
	}
	got, err := sink.ReadDataset(filepath.Join(dir, testWS, "par"))
	if err != nil {
		t.Fatal(err)
	}
	p, _ := fs.PartPath(ds, o)
	pf := openParquetFile(t, p)
	groups := pf.Metadata().RowGroups
	for i := range groups {
		groups[i].FileOffset = 0
		for j := range groups[i].Columns {
			c := &groups[i].Columns[j]
			c.FileOffset = 0
			c.MetaData.DataPageOffset, c.MetaData.DictionaryPageOffset, c.MetaData.IndexPageOffset = 0, 0, 0
			c.OffsetIndexOffset, c.ColumnIndexOffset = 0, 0
		}
	}
	return got.Rows, groups
}

// TestParallelWriterMatchesSequential writes the same rows with one
// column goroutine and with several: the files read back identical
// (values, order), with the same row groups and the same column chunks
// (sizes, statistics, codecs, encodings), for every type with nulls, for
// a narrow file (pages fill inside Writes) and a wide one (every Write
// ends each column's page).
func TestParallelWriterMatchesSequential(t *testing.T) {
	for _, tc := range []struct {
		name    string
		schema  *schema.Schema
		opt     sink.FileOptions
		batches []int
	}{
		{"narrow", parallelSchema(), sink.FileOptions{RowGroupRows: 30_000}, []int{8192, 8192, 20_000, 1, 8192, 5000}},
		{"narrow zstd", parallelSchema(), sink.FileOptions{RowGroupRows: 12_000, Compression: sink.CodecZstd.ParquetCodec()}, []int{8192, 8192, 7}},
		{"wide", widen(parallelSchema(), 150), sink.FileOptions{RowGroupBytes: 2 << 20}, []int{700, 700, 700, 3}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			seq := tc.opt
			seq.Parallelism = 1
			par := tc.opt
			par.Parallelism = 4
			wantRows, wantGroups := writeObject(t, tc.schema, seq, tc.batches)
			gotRows, gotGroups := writeObject(t, tc.schema, par, tc.batches)
			total := 0
			for _, n := range tc.batches {
				total += n
			}
			if len(wantRows) != total {
				t.Fatalf("sequential file has %d rows, want %d", len(wantRows), total)
			}
			if len(wantGroups) < 2 {
				t.Fatalf("only %d row group(s): the test needs several", len(wantGroups))
			}
			equalRows(t, gotRows, wantRows, true)
			if !reflect.DeepEqual(gotGroups, wantGroups) {
				t.Errorf("row groups differ:\nparallel   %+v\nsequential %+v", gotGroups, wantGroups)
			}
			// The rows are the batches' own, in order.
			for i, r := range gotRows {
				if r[0] != int64(i) {
					t.Fatalf("row %d has id %v", i, r[0])
				}
			}
		})
	}
}

// TestParallelWriterAbortLeaksNothing aborts a Writer in the middle of an
// object written with several column goroutines: no goroutine is left and
// no file.
func TestParallelWriterAbortLeaksNothing(t *testing.T) {
	dir := t.TempDir()
	fs, err := sink.OpenFile(dir, sink.FileOptions{Parallelism: 8})
	if err != nil {
		t.Fatal(err)
	}
	ctx := ctxT(t)
	s := parallelSchema()
	before := runtime.NumGoroutine()
	w, err := fs.Begin(ctx, dset("abort"), obj("a.csv"), sink.PlanFor(s))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if err := w.Write(ctx, parallelBatch(s, i*8192, 8192)); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Abort(ctx); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		buf := make([]byte, 1<<20)
		t.Fatalf("%d goroutines after Abort, %d before:\n%s", n, before, buf[:runtime.Stack(buf, true)])
	}
	left, _ := filepath.Glob(filepath.Join(dir, testWS, "abort", ".tmp", "*"))
	if len(left) > 0 {
		t.Errorf("files left after Abort: %v", left)
	}
}
