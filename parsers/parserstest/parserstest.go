// Package parserstest is the conformance harness of package parsers: every
// format's reader goes through the same checks, so that a new format gets
// them by listing its cases.
//
// A Case gives the bytes of an object, the options, and what must come
// out: the schema, the rows (in schema.Vector.Value form: nil, bool, int64,
// float64, string, json.RawMessage), the rejected rows, or the fatal error
// and its position. Run runs each case through parsers.Open
//
//   - as is, and with streams that return 1, 2, 3, 4 and 5 bytes per Read;
//   - with batches of 1, 2 and 3 rows and the default, alternating two
//     batches and checking that filling one never changes the other (no
//     aliasing between batches or with the parser's buffers);
//   - for compressible (text) cases, gzipped, as multi-member gzip, zstd
//     and bzip2: the rows and error positions must not change;
//   - without Options.OnReject: the first rejected row must fail the read;
//   - with its context cancelled after the first batch: Next must return
//     ctx.Err() at once, not a ParseError.
//
// A format registers by calling Run from a test of its own, e.g. in
// parsers/parquet_conformance_test.go:
//
//	func TestParquetConformance(t *testing.T) {
//		parserstest.Run(t, parserstest.Case{
//			Name: "parquet/basic", Object: "t.parquet", Format: parsers.FormatParquet,
//			Data:   func(tb testing.TB) []byte { return writeParquet(tb, ...) },
//			Schema: "id int64, name string?",
//			Rows:   [][]any{{int64(1), "a"}, {int64(2), nil}},
//			Lines:  []int64{0, 1}, // Parquet: 0-based row index
//		})
//	}
//
// Cases are subtests named by Case.Name and then by variant, so one format
// or case can be run alone, e.g. go test -run 'TestParquetConformance/parquet/basic/'.
package parserstest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"

	dbzip2 "github.com/dsnet/compress/bzip2"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"

	"github.com/s3ingest/s3ingest/parsers"
	"github.com/s3ingest/s3ingest/parsers/schema"
)

// Case is one input and its expected outcome.
type Case struct {
	Name   string
	Object string         // object name; its extension may matter
	Format parsers.Format // expected Info().Format
	Data   func(tb testing.TB) []byte
	Opts   parsers.Options
	// Schema is the expected schema in schema.Schema.String form; "" skips
	// the check.
	Schema string
	// Rows are the expected rows; Lines, if set, their Batch.Lines.
	Rows  [][]any
	Lines []int64
	// Rejects are the row-level errors expected through OnReject, in order
	// (the harness's OnReject returns nil); without OnReject the first one
	// must be returned by Next.
	Rejects []WantError
	// Err, if set, is the fatal error Open or Next must return (after Rows).
	Err *WantError
	// Text marks a text format whose compressed variants must read the same.
	Text bool
	// Check, if set, inspects the opened reader (e.g. its Info).
	Check func(tb testing.TB, r parsers.Reader)
}

// WantError describes a *parsers.ParseError; zero fields are not checked
// except Line, which is always compared (0 for Parquet).
type WantError struct {
	Is       error // sentinel, e.g. ErrType
	Line     int64
	Column   string
	Byte     int64
	RowGroup int
	Row      int64
	Contains string // a substring of Error()
}

// Gzip compresses each of data as one gzip member and concatenates them
// (a multi-member stream when there are several).
func Gzip(tb testing.TB, data ...[]byte) []byte {
	tb.Helper()
	var out bytes.Buffer
	for _, d := range data { // one member each
		out.Write(gzipOne(tb, d))
	}
	return out.Bytes()
}

// Zstd compresses data as one zstd frame.
func Zstd(tb testing.TB, data []byte) []byte { return zstdBytes(tb, data) }

// Bzip2 compresses data with bzip2.
func Bzip2(tb testing.TB, data []byte) []byte { return bzip2Bytes(tb, data) }

// Micro returns obj with bodies that return n bytes per Read (one byte
// through iotest.OneByteReader when n is 1), to check that a reader does
// not depend on how its stream is cut.
func Micro(obj parsers.Object, n int) parsers.Object { return microObject{Object: obj, n: n} }

// microObject returns n bytes (or 1 byte via iotest.OneByteReader) per Read.
type microObject struct {
	parsers.Object
	n int
}

func (m microObject) Open(ctx context.Context, off, n int64) (io.ReadCloser, error) {
	rc, err := m.Object.Open(ctx, off, n)
	if err != nil {
		return nil, err
	}
	var r io.Reader
	if m.n == 1 {
		r = iotest.OneByteReader(rc)
	} else {
		r = &nByteReader{r: rc, n: m.n}
	}
	return struct {
		io.Reader
		io.Closer
	}{r, rc}, nil
}

type nByteReader struct {
	r io.Reader
	n int
}

func (n *nByteReader) Read(p []byte) (int, error) {
	if len(p) > n.n {
		p = p[:n.n]
	}
	return n.r.Read(p)
}

// variant is one way of presenting a case's bytes.
type variant struct {
	name  string
	micro int
	comp  func(testing.TB, []byte) []byte
	ext   string
}

func variantsFor(c Case) []variant {
	vs := []variant{{name: "plain"}}
	for n := 1; n <= 5; n++ {
		vs = append(vs, variant{name: fmt.Sprintf("micro%d", n), micro: n})
	}
	if c.Text {
		vs = append(vs,
			variant{name: "gzip", comp: gzipOne, ext: ".gz"},
			variant{name: "gzip-multi", comp: func(tb testing.TB, b []byte) []byte {
				third := len(b) / 3
				return Gzip(tb, b[:third], b[third:2*third], b[2*third:])
			}, ext: ".gz"},
			variant{name: "gzip-micro3", comp: gzipOne, micro: 3},
			variant{name: "zstd", comp: zstdBytes, ext: ".zst"},
			variant{name: "bzip2", comp: bzip2Bytes, ext: ".bz2"},
		)
	}
	return vs
}

// Run runs every case, with every variant, as subtests of t (see the
// package doc).
func Run(t *testing.T, cases ...Case) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			data := c.Data(t)
			for _, v := range variantsFor(c) {
				t.Run(v.name, func(t *testing.T) {
					b, name := data, c.Object
					if v.comp != nil {
						b, name = v.comp(t, data), name+v.ext
					}
					var obj parsers.Object = parsers.BytesObject(name, b)
					if v.micro > 0 {
						obj = microObject{Object: obj, n: v.micro}
					}
					for _, batch := range []int{0, 1, 2, 3} {
						runBatches(t, c, obj, batch)
					}
					runNoOnReject(t, c, obj)
					runCancel(t, c, obj)
				})
			}
		})
	}
}

// snapshot copies the rows of a batch.
func snapshot(b *schema.Batch) [][]any {
	rows := make([][]any, b.Len())
	for i := range rows {
		rows[i] = normalizeRow(b.Row(i))
	}
	return rows
}

func normalizeRow(r []any) []any {
	for i, v := range r {
		if j, ok := v.(json.RawMessage); ok {
			r[i] = "json:" + string(j)
		}
	}
	return r
}

func runBatches(t *testing.T, c Case, obj parsers.Object, batchRows int) {
	t.Helper()
	ctx := context.Background()
	opts := c.Opts
	opts.BatchRows = batchRows
	var rejects []*parsers.ParseError
	opts.OnReject = func(pe *parsers.ParseError) error { rejects = append(rejects, pe); return nil }
	r, err := parsers.Open(ctx, obj, opts)
	var rows [][]any
	var lines []int64
	if err == nil {
		defer r.Close()
		if c.Check != nil {
			c.Check(t, r)
		}
		if got := r.Info().Format; got != c.Format {
			t.Fatalf("batch %d: format %q, want %q", batchRows, got, c.Format)
		}
		if c.Schema != "" && r.Schema().String() != c.Schema {
			t.Fatalf("batch %d: schema %q, want %q", batchRows, r.Schema().String(), c.Schema)
		}
		// two batches used alternately: filling one must not change the other
		bs := [2]*schema.Batch{schema.NewBatch(r.Schema(), 4), schema.NewBatch(r.Schema(), 4)}
		var prev [][]any
		for k := 0; ; k++ {
			b := bs[k%2]
			err = r.Next(ctx, b)
			if k > 0 && prev != nil {
				if got := snapshot(bs[(k-1)%2]); !reflect.DeepEqual(got, prev) {
					t.Fatalf("batch %d: batch %d changed when batch %d was read:\n%v\nwas\n%v", batchRows, k-1, k, got, prev)
				}
			}
			if err != nil {
				if b.Len() != 0 && err != io.EOF {
					t.Fatalf("batch %d: Next returned %d rows with an error", batchRows, b.Len())
				}
				break
			}
			if batchRows > 0 && b.Len() > batchRows {
				t.Fatalf("batch of %d rows, want at most %d", b.Len(), batchRows)
			}
			for ci := range b.Cols {
				if b.Cols[ci].Len() != b.Len() {
					t.Fatalf("column %d has %d values, batch %d rows", ci, b.Cols[ci].Len(), b.Len())
				}
			}
			prev = snapshot(b)
			rows = append(rows, prev...)
			lines = append(lines, b.Lines...)
		}
	}
	if err == io.EOF {
		err = nil
	}
	want := make([][]any, len(c.Rows))
	for i := range c.Rows {
		want[i] = normalizeRow(append([]any(nil), c.Rows[i]...))
	}
	if len(want) != 0 || len(rows) != 0 {
		if !reflect.DeepEqual(rows, want) {
			t.Fatalf("batch %d: rows\n%#v\nwant\n%#v (err %v)", batchRows, rows, want, err)
		}
	}
	if c.Lines != nil && !reflect.DeepEqual(lines, c.Lines) {
		t.Fatalf("batch %d: lines %v, want %v", batchRows, lines, c.Lines)
	}
	checkErr(t, "fatal error", err, c.Err)
	if len(rejects) != len(c.Rejects) {
		t.Fatalf("batch %d: %d rejects %v, want %d", batchRows, len(rejects), rejects, len(c.Rejects))
	}
	for i := range rejects {
		checkErr(t, "reject", rejects[i], &c.Rejects[i])
	}
}

func checkErr(t *testing.T, what string, err error, want *WantError) {
	t.Helper()
	if want == nil {
		if err != nil {
			t.Fatalf("%s: unexpected error %v", what, err)
		}
		return
	}
	var pe *parsers.ParseError
	if !errors.As(err, &pe) {
		t.Fatalf("%s: got %v, want a *parsers.ParseError", what, err)
	}
	if want.Is != nil && !errors.Is(err, want.Is) {
		t.Fatalf("%s: %v is not %v", what, err, want.Is)
	}
	if pe.Line != want.Line {
		t.Fatalf("%s: %v: line %d, want %d", what, err, pe.Line, want.Line)
	}
	if want.Column != "" && pe.Column != want.Column {
		t.Fatalf("%s: %v: column %q, want %q", what, err, pe.Column, want.Column)
	}
	if want.Byte != 0 && pe.Byte != want.Byte {
		t.Fatalf("%s: %v: byte %d, want %d", what, err, pe.Byte, want.Byte)
	}
	if want.RowGroup != 0 && pe.RowGroup != want.RowGroup {
		t.Fatalf("%s: %v: row group %d, want %d", what, err, pe.RowGroup, want.RowGroup)
	}
	if want.Row != 0 && pe.Row != want.Row {
		t.Fatalf("%s: %v: row %d, want %d", what, err, pe.Row, want.Row)
	}
	if want.Contains != "" && !strings.Contains(err.Error(), want.Contains) {
		t.Fatalf("%s: %q does not contain %q", what, err.Error(), want.Contains)
	}
	if pe.Object == "" {
		t.Fatalf("%s: %v: no object name", what, err)
	}
}

// runNoOnReject checks that without OnReject the first bad row fails
// the read.
func runNoOnReject(t *testing.T, c Case, obj parsers.Object) {
	t.Helper()
	if len(c.Rejects) == 0 {
		return
	}
	r, err := parsers.Open(context.Background(), obj, c.Opts)
	if err == nil {
		defer r.Close()
		b := schema.NewBatch(r.Schema(), 0)
		for err == nil {
			err = r.Next(context.Background(), b)
		}
	}
	checkErr(t, "without OnReject", err, &c.Rejects[0])
}

// runCancel cancels the context after the first batch.
func runCancel(t *testing.T, c Case, obj parsers.Object) {
	t.Helper()
	if len(c.Rows) < 2 {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	opts := c.Opts
	opts.BatchRows = 1
	opts.OnReject = func(*parsers.ParseError) error { return nil }
	r, err := parsers.Open(ctx, obj, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	b := schema.NewBatch(r.Schema(), 1)
	if err := r.Next(ctx, b); err != nil {
		t.Fatal(err)
	}
	cancel()
	if err := r.Next(ctx, b); !errors.Is(err, context.Canceled) {
		t.Fatalf("Next after cancel: %v, want context.Canceled", err)
	}
	var pe *parsers.ParseError
	if errors.As(err, &pe) {
		t.Fatalf("Next after cancel returned a ParseError: %v", err)
	}
}

// RescueCase is a case read with Options.RescueColumn (Opts must set it
// and a Schema with that column). Run's checks apply as they are (the
// rows, with the rescue column's exact JSON, in every variant); RunRescue
// adds the rescue mode's promise, that nothing is lost: per delivered row,
// the values of the source columns are exactly the row's loaded values
// plus its rescued values, never both for one column.
type RescueCase struct {
	Case
	// Source lists, per delivered row, its non-null source values by
	// source column name: a loaded value in schema.Vector.Text form, a
	// rescued JSON string as its text, any other rescued JSON value as
	// written.
	Source []map[string]string
}

// RunRescue runs rescue cases: Run, then the conservation check (see
// RescueCase). A format registers by calling it from a test of its own.
func RunRescue(t *testing.T, cases ...RescueCase) {
	t.Helper()
	for _, c := range cases {
		if c.Opts.RescueColumn == "" || c.Opts.Schema == nil {
			t.Fatalf("%s: a rescue case needs Opts.RescueColumn and Opts.Schema", c.Name)
		}
		Run(t, c.Case)
		t.Run(c.Name+"/conservation", func(t *testing.T) {
			got := rescueSources(t, c.Case)
			if !reflect.DeepEqual(got, c.Source) {
				t.Fatalf("source values per row (loaded + rescued)\n%q\nwant\n%q", got, c.Source)
			}
		})
	}
}

// rescueSources reads a rescue case and returns, per row, its loaded and
// rescued values by source column name.
func rescueSources(t *testing.T, c Case) []map[string]string {
	t.Helper()
	ctx := context.Background()
	opts := c.Opts
	opts.OnReject = func(*parsers.ParseError) error { return nil }
	r, err := parsers.Open(ctx, parsers.BytesObject(c.Object, c.Data(t)), opts)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	rc := r.Schema().Index(opts.RescueColumn)
	if rc < 0 {
		t.Fatalf("the reader's schema has no column %q", opts.RescueColumn)
	}
	var out []map[string]string
	b := schema.NewBatch(r.Schema(), 0)
	for {
		err := r.Next(ctx, b)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < b.Len(); i++ {
			row := map[string]string{}
			for ci := range b.Cols {
				if ci != rc && !b.Cols[ci].Nulls[i] {
					row[r.Schema().Fields[ci].Name] = b.Cols[ci].Text(i)
				}
			}
			if v := &b.Cols[rc]; !v.Nulls[i] {
				for _, kv := range rescuedMembers(t, v.BytesAt(i)) {
					if old, dup := row[kv[0]]; dup {
						t.Fatalf("line %d: column %q is both loaded (%q) and rescued (%q)", b.Lines[i], kv[0], old, kv[1])
					}
					row[kv[0]] = kv[1]
				}
			}
			out = append(out, row)
		}
	}
	return out
}

// rescuedMembers parses a rescued JSON object: a non-empty object with
// distinct keys; it returns its members (a string value as its text).
func rescuedMembers(t *testing.T, b []byte) [][2]string {
	t.Helper()
	if !json.Valid(b) {
		t.Fatalf("rescued value %q is not valid JSON", b)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		t.Fatalf("rescued value %q is not a JSON object", b)
	}
	var out [][2]string
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			t.Fatal(err)
		}
		k := tok.(string)
		if seen[k] {
			t.Fatalf("rescued value %q repeats the key %q", b, k)
		}
		seen[k] = true
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			t.Fatal(err)
		}
		v := string(raw)
		var s string
		if json.Unmarshal(raw, &s) == nil {
			v = s
		}
		out = append(out, [2]string{k, v})
	}
	if len(out) == 0 {
		t.Fatalf("rescued value %q is empty: a row with nothing to rescue must be null", b)
	}
	return out
}

// Str returns a Case.Data function that returns s.
func Str(s string) func(testing.TB) []byte { return func(testing.TB) []byte { return []byte(s) } }

func gzipOne(tb testing.TB, b []byte) []byte {
	tb.Helper()
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	if _, err := w.Write(b); err != nil {
		tb.Fatal(err)
	}
	if err := w.Close(); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

func zstdBytes(tb testing.TB, b []byte) []byte {
	tb.Helper()
	w, err := zstd.NewWriter(nil)
	if err != nil {
		tb.Fatal(err)
	}
	defer w.Close()
	return w.EncodeAll(b, nil)
}

func bzip2Bytes(tb testing.TB, b []byte) []byte {
	tb.Helper()
	var buf bytes.Buffer
	w, err := dbzip2.NewWriter(&buf, nil)
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := w.Write(b); err != nil {
		tb.Fatal(err)
	}
	if err := w.Close(); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}
