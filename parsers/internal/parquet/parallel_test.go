package parquet

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	parquetgo "github.com/parquet-go/parquet-go"

	"github.com/s3ingest/s3ingest/parsers/schema"
)

// readTrace reads a whole file with cfg and returns what a caller sees:
// every row with its line, the rejected rows' errors and the final error,
// as text.
func readTrace(t *testing.T, data []byte, cfg Config) string {
	t.Helper()
	var out strings.Builder
	cfg.OnReject = func(e *Error) error {
		fmt.Fprintf(&out, "reject: %v\n", e)
		return nil
	}
	r, err := Open(context.Background(), bytes.NewReader(data), int64(len(data)), cfg)
	if err != nil {
		return fmt.Sprintf("open: %v", err)
	}
	defer r.Close()
	b := schema.NewBatch(r.Schema(), cfg.BatchRows)
	for {
		err := r.Next(context.Background(), b)
		for i := range b.Len() {
			fmt.Fprintf(&out, "%d: %v\n", b.Lines[i], b.Row(i))
		}
		if err == io.EOF {
			return out.String()
		}
		if err != nil {
			fmt.Fprintf(&out, "error: %v\n", err)
			return out.String()
		}
		fmt.Fprintf(&out, "batch %d\n", b.Len())
	}
}

type parallelRow struct {
	ID    int64    `parquet:"id"`
	Name  *string  `parquet:"name,optional"`
	Score float64  `parquet:"score"`
	Small int32    `parquet:"small"`
	Flag  bool     `parquet:"flag"`
	Cat   string   `parquet:"cat,dict"`
	Tags  []string `parquet:"tags,list"`
	Ratio *float32 `parquet:"ratio,optional"`
	Bin   []byte   `parquet:"bin"`
}

// parallelFile writes n rows in row groups of group rows.
func parallelFile(t *testing.T, n int, group int64, opts ...parquetgo.WriterOption) []byte {
	rows := make([]parallelRow, n)
	for i := range rows {
		r := &rows[i]
		r.ID, r.Score, r.Small, r.Flag = int64(i), float64(i)/3, int32(i%1000), i%3 == 0
		r.Cat = []string{"a", "bb", "ccc"}[i%3]
		if i%5 != 0 {
			s := strings.Repeat("n", i%9) + fmt.Sprint(i)
			r.Name = &s
		}
		if i%4 != 0 {
			f := float32(i) / 7
			r.Ratio = &f
		}
		r.Tags = []string{"x", "y", "z"}[:i%4%3]
		r.Bin = []byte{byte(i), 0xff, byte(i >> 8)} // not text: base64
	}
	var buf bytes.Buffer
	w := parquetgo.NewGenericWriter[parallelRow](&buf, append(opts, parquetgo.MaxRowsPerRowGroup(group))...)
	if _, err := w.Write(rows); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestParallelEqualsSequential: reading the columns in parallel gives what
// the sequential read gives (rows, order, lines, rejected rows, errors) on
// the parquet-testing corpus (good and bad files) and on generated files,
// with and without a schema (string targets and rejected values).
func TestParallelEqualsSequential(t *testing.T) {
	type file struct {
		name string
		data []byte
	}
	var files []file
	for _, dir := range []string{"data", "bad_data"} {
		paths, _ := filepath.Glob(filepath.Join("../../testdata/parquet-testing", dir, "*.parquet"))
		for _, p := range paths {
			data, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			files = append(files, file{dir + "/" + filepath.Base(p), data})
		}
	}
	if len(files) < 50 {
		t.Fatalf("found %d corpus files; the corpus is missing", len(files))
	}
	files = append(files,
		file{"generated snappy", parallelFile(t, 30000, 7000, parquetgo.Compression(&parquetgo.Snappy))},
		file{"generated zstd, page size 1 KiB", parallelFile(t, 20000, 20000, parquetgo.Compression(&parquetgo.Zstd), parquetgo.PageBufferSize(1024))},
	)
	// a schema reading the generated files' columns as other types: the
	// ids as strings; a missing column and the names (null in every fifth
	// row) not nullable: rejected rows, with two errors in every fifth
	withSchema := &schema.Schema{Fields: []schema.Field{
		{Name: "cat", Type: schema.String, Nullable: true},
		{Name: "id", Type: schema.String},
		{Name: "score", Type: schema.Float64},
		{Name: "missing", Type: schema.Int64},
		{Name: "flag", Type: schema.Bool},
		{Name: "small", Type: schema.String, Nullable: true},
		{Name: "name", Type: schema.String},
	}}
	for _, f := range files {
		for _, cfg := range []Config{{BatchRows: 1000}, {BatchRows: 8192}, {BatchRows: 777, Schema: withSchema}} {
			seq, par := cfg, cfg
			seq.Workers, par.Workers = 1, 4
			want := readTrace(t, f.data, seq)
			if got := readTrace(t, f.data, par); got != want {
				t.Errorf("%s (batch %d, schema %v): the parallel read differs from the sequential one:\n%s", f.name, cfg.BatchRows, cfg.Schema != nil, firstDiff(want, got))
			}
		}
	}
}

func firstDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := range min(len(w), len(g)) {
		if w[i] != g[i] {
			return fmt.Sprintf("line %d:\nsequential: %s\nparallel:   %s", i+1, w[i], g[i])
		}
	}
	return fmt.Sprintf("sequential has %d lines, parallel %d", len(w), len(g))
}

// TestParallelNoLeak: no goroutine outlives a Next call, whether the read
// ends at io.EOF, with a cancelled context, with an error of the
// io.ReaderAt mid-read, with a panic of the decoder in a worker, or with
// Close in the middle; and the background fetch of the next read-ahead
// window does not outlive Close.
func TestParallelNoLeak(t *testing.T) {
	data := parallelFile(t, 30000, 5000)
	before := runtime.NumGoroutine()
	check := func(what string) {
		t.Helper()
		deadline := time.Now().Add(2 * time.Second)
		for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
		if n := runtime.NumGoroutine(); n > before {
			t.Fatalf("%s: %d goroutines, %d before", what, n, before)
		}
	}
	cfg := Config{Workers: 4, BatchRows: 3000}
	open := func(ra io.ReaderAt) *Reader {
		t.Helper()
		r, err := Open(context.Background(), ra, int64(len(data)), cfg)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}

	r := open(bytes.NewReader(data))
	b := schema.NewBatch(r.Schema(), 3000)
	n := 0
	for r.Next(context.Background(), b) == nil {
		n += b.Len()
	}
	r.Close()
	if n != 30000 {
		t.Fatalf("%d rows", n)
	}
	check("read to the end")

	r = open(bytes.NewReader(data))
	ctx, cancel := context.WithCancel(context.Background())
	if err := r.Next(ctx, b); err != nil {
		t.Fatal(err)
	}
	cancel()
	if err := r.Next(ctx, b); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled: %v", err)
	}
	r.Close()
	check("cancelled")

	boom := errors.New("connection reset")
	fa := &failingAt{ra: bytes.NewReader(data), after: int64(len(data)), err: boom}
	r = open(fa)
	fa.after = int64(len(data)) / 2 // the data, not the footer
	var err error
	for err == nil {
		err = r.Next(context.Background(), b)
	}
	if !errors.Is(err, boom) {
		t.Fatalf("failing reader: %v", err)
	}
	r.Close()
	check("failing reader")

	r = open(bytes.NewReader(data))
	if err := r.Next(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	r.chunks[r.cols[r.srcCol[r.par[1]]].node.first].leaf = nil // a worker's column panics
	err = r.Next(context.Background(), b)
	var e *Error
	if !errors.As(err, &e) || !strings.Contains(err.Error(), "decoder failed") || e.Column == "" {
		t.Fatalf("a panic in a worker: %v", err)
	}
	r.Close()
	check("panic in a worker")

	r = open(bytes.NewReader(data))
	if err := r.Next(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	r.Close()
	check("closed in the middle")

	// Close while the next read-ahead window is fetched in the background
	// (a slow source): Close waits for that goroutine
	many := parallelFile(t, 200_000, 10_000)
	r, err = Open(context.Background(), slowReaderAt{bytes.NewReader(many), 50 * time.Millisecond}, int64(len(many)), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Next(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	a := r.src.ahead
	if a == nil {
		t.Fatalf("no background fetch of the next window (%d bytes of row groups in windows of %d)", len(many), ReadAheadWindow)
	}
	r.Close()
	select {
	case <-a.done:
	default:
		t.Fatal("Close returned before the background fetch ended")
	}
	check("closed while the next window is fetched")
}

// failingAt fails every read that reaches past after.
type failingAt struct {
	ra    io.ReaderAt
	after int64
	err   error
}

func (f *failingAt) ReadAt(p []byte, off int64) (int, error) {
	if off+int64(len(p)) > f.after && off >= 4 {
		return 0, f.err
	}
	return f.ra.ReadAt(p, off)
}
