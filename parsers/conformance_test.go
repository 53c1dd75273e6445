package parsers

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

	"github.com/s3ingest/s3ingest/parsers/schema"
)

// The conformance suite runs every parser through one harness.
//
// A case gives the bytes of an object, the options, and what must come out:
// the schema, the rows (in schema.Vector.Value form: nil, bool, int64,
// float64, string, json.RawMessage), the rejected rows, or the fatal error
// and its position. The harness runs each case
//
//   - as is, and with streams that return 1, 2, 3, 4 and 5 bytes per Read;
//   - with batches of 1, 2 and 3 rows and the default, alternating two
//     batches and checking that filling one never changes the other (no
//     aliasing between batches or with the parser's buffers);
//   - for compressible (text) cases, gzipped, as multi-member gzip, zstd
//     and bzip2: the rows and error positions must not change;
//   - with its context cancelled after the first batch: Next must return
//     ctx.Err() at once, not a ParseError.
//
// Adding cases from another file (the Parquet reader's tests do this):
//
//	func init() {
//		registerConformance(conformanceCase{
//			Name: "parquet/basic", Object: "t.parquet", Format: FormatParquet,
//			Data: func(tb testing.TB) []byte { return writeParquet(tb, ...) },
//			Schema: "id int64, name string?",
//			Rows:   [][]any{{int64(1), "a"}, {int64(2), nil}},
//			Lines:  []int64{0, 1}, // Parquet: 0-based row index
//		})
//	}
//
// Cases named with a "csv/", "json/" or "parquet/" prefix can be run alone
// with go test -run 'TestConformance/parquet/'.

// conformanceCase is one input and its expected outcome.
type conformanceCase struct {
	Name   string
	Object string // object name; its extension may matter
	Format Format // expected Info().Format
	Data   func(tb testing.TB) []byte
	Opts   Options
	// Schema is the expected schema in schema.Schema.String form; "" skips
	// the check.
	Schema string
	// Rows are the expected rows; Lines, if set, their Batch.Lines.
	Rows  [][]any
	Lines []int64
	// Rejects are the row-level errors expected through OnReject, in order
	// (the harness's OnReject returns nil); without OnReject the first one
	// must be returned by Next.
	Rejects []wantError
	// Err, if set, is the fatal error Open or Next must return (after Rows).
	Err *wantError
	// Text marks a text format whose compressed variants must read the same.
	Text bool
	// Check, if set, inspects the opened reader (e.g. its Info).
	Check func(tb testing.TB, r Reader)
}

// wantError describes a *ParseError; zero fields are not checked except
// Line, which is always compared for text formats.
type wantError struct {
	Is       error // sentinel, e.g. ErrType
	Line     int64
	Column   string
	Byte     int64
	RowGroup int
	Row      int64
	Contains string // a substring of Error()
}

var conformanceCases []conformanceCase

// registerConformance adds cases to the suite; call it from an init func.
func registerConformance(cs ...conformanceCase) { conformanceCases = append(conformanceCases, cs...) }

func str(s string) func(testing.TB) []byte { return func(testing.TB) []byte { return []byte(s) } }

func init() {
	registerConformance(
		conformanceCase{Name: "csv/basic-trailing-newline", Object: "t.csv", Format: FormatCSV, Text: true,
			Data:   str("id,name,score\n1,alice,1.5\n2,bob,2\n"),
			Schema: "id int64, name string, score float64",
			Rows:   [][]any{{int64(1), "alice", 1.5}, {int64(2), "bob", 2.0}}, Lines: []int64{2, 3}},
		conformanceCase{Name: "csv/basic-no-trailing-newline", Object: "t.csv", Format: FormatCSV, Text: true,
			Data:   str("id,name,score\n1,alice,1.5\n2,bob,2"),
			Schema: "id int64, name string, score float64",
			Rows:   [][]any{{int64(1), "alice", 1.5}, {int64(2), "bob", 2.0}}, Lines: []int64{2, 3}},
		conformanceCase{Name: "csv/crlf-bom-quotes", Object: "t.csv", Format: FormatCSV, Text: true,
			Data:   str("\xef\xbb\xbfa,b\r\n\"x, \"\"y\"\"\",2024-01-02\r\n\"multi\r\nline\",2024-02-03\r\n"),
			Schema: "a string, b date",
			Rows:   [][]any{{`x, "y"`, "2024-01-02"}, {"multi\r\nline", "2024-02-03"}}, Lines: []int64{2, 3}},
		conformanceCase{Name: "csv/semicolon-nulls", Object: "t.txt", Format: FormatCSV, Text: true,
			Data:   str("k;v;t\n1;;2024-01-02T03:04:05Z\n2;NULL;2024-01-02 03:04:05.5+02:00\n3;7;2024-01-02T03:04\n"),
			Schema: "k int64, v int64?, t timestamp",
			Rows: [][]any{{int64(1), nil, "2024-01-02T03:04:05Z"}, {int64(2), nil, "2024-01-02T01:04:05.5Z"},
				{int64(3), int64(7), "2024-01-02T03:04:00Z"}}},
		conformanceCase{Name: "csv/tsv-no-header", Object: "t.tsv", Format: FormatCSV, Text: true,
			Data:   str("1\ttrue\t-3.25e2\n2\tFALSE\t4\n"),
			Schema: "c1 int64, c2 bool, c3 float64",
			Rows:   [][]any{{int64(1), true, -325.0}, {int64(2), false, 4.0}}},
		conformanceCase{Name: "csv/bad-value-position", Object: "t.csv", Format: FormatCSV, Text: true,
			Opts:    Options{SampleRows: 2},
			Data:    str("id,note,n\n1,\"a\nb\",5\n2,x,6\n3,\"c\nd\ne\",oops\n4,y,8\n"),
			Rows:    [][]any{{int64(1), "a\nb", int64(5)}, {int64(2), "x", int64(6)}, {int64(4), "y", int64(8)}},
			Lines:   []int64{2, 4, 8},
			Rejects: []wantError{{Is: ErrType, Line: 5, Column: "n", Contains: `value "oops"`}}},
		conformanceCase{Name: "csv/ragged-rejected", Object: "t.csv", Format: FormatCSV, Text: true,
			Data:    str("a,b\n1,2\n3\n4,5,6\n7,8\n"),
			Schema:  "a int64, b int64",
			Rows:    [][]any{{int64(1), int64(2)}, {int64(7), int64(8)}},
			Rejects: []wantError{{Is: ErrCorrupt, Line: 3}, {Is: ErrCorrupt, Line: 4}}},
		conformanceCase{Name: "csv/ragged-pad", Object: "t.csv", Format: FormatCSV, Text: true,
			Opts:   Options{CSV: CSVOptions{Ragged: RaggedPad}},
			Data:   str("a,b\n1,2\n3\n4,5,6\n"),
			Schema: "a int64, b int64?",
			Rows:   [][]any{{int64(1), int64(2)}, {int64(3), nil}, {int64(4), int64(5)}}},
		conformanceCase{Name: "csv/unclosed-quote", Object: "t.csv", Format: FormatCSV, Text: true,
			Data: str("a,b\n1,2\n3,\"open\n4,5\n"),
			Rows: [][]any{{int64(1), int64(2)}},
			Err:  &wantError{Is: ErrCorrupt, Line: 3, Contains: "never closed"}},
		conformanceCase{Name: "csv/line-too-long", Object: "t.csv", Format: FormatCSV, Text: true,
			Opts: Options{MaxLineBytes: 64, SampleRows: 1},
			Data: str("a,b\n1,2\n3,4\n5," + strings.Repeat("x", 100) + "\n6,7\n"),
			Rows: [][]any{{int64(1), int64(2)}, {int64(3), int64(4)}},
			Err:  &wantError{Is: ErrTooLarge, Line: 4, Contains: "max_line_bytes (64 bytes)"}},
		conformanceCase{Name: "csv/empty", Object: "t.csv", Format: FormatCSV, Text: true,
			Data: str(""), Schema: "c1 string", Rows: nil},
		conformanceCase{Name: "csv/gzip-bomb", Object: "bomb.csv.gz", Format: FormatCSV,
			Opts: Options{MaxDecompressedBytes: 32 << 10},
			Data: func(tb testing.TB) []byte {
				return gzipBytes(tb, bytes.Repeat([]byte("1,2\n"), 4<<20))
			},
			Err: &wantError{Is: ErrTooLarge, Contains: "max_decompressed_bytes"}},

		conformanceCase{Name: "json/ndjson-trailing-newline", Object: "t.json", Format: FormatJSON, Text: true,
			Data:   str(`{"id":1,"u":{"name":"a","tags":[1,2]},"ok":true}` + "\n" + `{"id":2,"u":{"name":"b\u00e9"},"ok":false}` + "\n"),
			Schema: "id int64, u.name string, u.tags json?, ok bool",
			Rows:   [][]any{{int64(1), "a", json.RawMessage(`[1,2]`), true}, {int64(2), "bé", nil, false}}, Lines: []int64{1, 2}},
		conformanceCase{Name: "json/ndjson-no-trailing-newline", Object: "t.ndjson", Format: FormatJSON, Text: true,
			Data:   str("{\"a\":1.5,\"d\":\"2024-01-02\"}\n\n{\"a\":2,\"d\":null}"),
			Schema: "a float64, d date?",
			Rows:   [][]any{{1.5, "2024-01-02"}, {2.0, nil}}, Lines: []int64{1, 3}},
		conformanceCase{Name: "json/ndjson-bad-line", Object: "t.jsonl", Format: FormatJSON, Text: true,
			Data:    str("{\"a\":1}\n{\"a\":2,,}\n{\"a\":3}\n{\"a\":\"x\"}\n"),
			Opts:    Options{SampleRows: 2},
			Rows:    [][]any{{int64(1)}, {int64(3)}},
			Rejects: []wantError{{Is: ErrCorrupt, Line: 2, Byte: 8}, {Is: ErrType, Line: 4, Column: "a"}}},
		conformanceCase{Name: "json/array", Object: "t.json", Format: FormatJSON, Text: true,
			Data:   str("[\n  {\"a\": 1, \"b\": {\"c\": {\"d\": 1}}},\n  {\"a\": 2,\n   \"b\": {\"c\": {\"d\": 2}}}\n]\n"),
			Opts:   Options{JSON: JSONOptions{MaxDepth: 1}},
			Schema: "a int64, b.c json",
			Rows:   [][]any{{int64(1), json.RawMessage(`{"d": 1}`)}, {int64(2), json.RawMessage(`{"d": 2}`)}}, Lines: []int64{2, 3}},
		conformanceCase{Name: "json/pretty-object", Object: "t.json", Format: FormatJSON, Text: true,
			Data:   str("{\n  \"id\": 7,\n  \"tags\": [\"a\"]\n}\n{\"id\": 8,\n \"tags\": []}"),
			Schema: "id int64, tags json",
			Rows:   [][]any{{int64(7), json.RawMessage(`["a"]`)}, {int64(8), json.RawMessage(`[]`)}}, Lines: []int64{1, 5}},
		conformanceCase{Name: "json/array-broken", Object: "t.json", Format: FormatJSON, Text: true,
			Data: str("[{\"a\":1},\n {\"a\":2}\n {\"a\":3}]"),
			Rows: [][]any{{int64(1)}, {int64(2)}},
			Err:  &wantError{Is: ErrCorrupt, Line: 3, Byte: 2}},
	)
}

func gzipBytes(tb testing.TB, data ...[]byte) []byte {
	tb.Helper()
	var out bytes.Buffer
	for _, d := range data { // one member each
		out.Write(compressGzip(tb, d))
	}
	return out.Bytes()
}

// microObject returns n bytes (or 1 byte via iotest.OneByteReader) per Read.
type microObject struct {
	Object
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

func variantsFor(c conformanceCase) []variant {
	vs := []variant{{name: "plain"}}
	for n := 1; n <= 5; n++ {
		vs = append(vs, variant{name: fmt.Sprintf("micro%d", n), micro: n})
	}
	if c.Text {
		vs = append(vs,
			variant{name: "gzip", comp: compressGzip, ext: ".gz"},
			variant{name: "gzip-multi", comp: func(tb testing.TB, b []byte) []byte {
				third := len(b) / 3
				return gzipBytes(tb, b[:third], b[third:2*third], b[2*third:])
			}, ext: ".gz"},
			variant{name: "gzip-micro3", comp: compressGzip, micro: 3},
			variant{name: "zstd", comp: compressZstd, ext: ".zst"},
			variant{name: "bzip2", comp: compressBzip2, ext: ".bz2"},
		)
	}
	return vs
}

func TestConformance(t *testing.T) {
	for _, c := range conformanceCases {
		t.Run(c.Name, func(t *testing.T) {
			data := c.Data(t)
			for _, v := range variantsFor(c) {
				t.Run(v.name, func(t *testing.T) {
					b, name := data, c.Object
					if v.comp != nil {
						b, name = v.comp(t, data), name+v.ext
					}
					var obj Object = BytesObject(name, b)
					if v.micro > 0 {
						obj = microObject{Object: obj, n: v.micro}
					}
					for _, batch := range []int{0, 1, 2, 3} {
						runCase(t, c, obj, batch)
					}
					runCaseNoOnReject(t, c, obj)
					runCaseCancel(t, c, obj)
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

func runCase(t *testing.T, c conformanceCase, obj Object, batchRows int) {
	t.Helper()
	ctx := context.Background()
	opts := c.Opts
	opts.BatchRows = batchRows
	var rejects []*ParseError
	opts.OnReject = func(pe *ParseError) error { rejects = append(rejects, pe); return nil }
	r, err := Open(ctx, obj, opts)
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

func checkErr(t *testing.T, what string, err error, want *wantError) {
	t.Helper()
	if want == nil {
		if err != nil {
			t.Fatalf("%s: unexpected error %v", what, err)
		}
		return
	}
	var pe *ParseError
	if !errors.As(err, &pe) {
		t.Fatalf("%s: got %v, want a *ParseError", what, err)
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

// runCaseNoOnReject checks that without OnReject the first bad row fails
// the read.
func runCaseNoOnReject(t *testing.T, c conformanceCase, obj Object) {
	t.Helper()
	if len(c.Rejects) == 0 {
		return
	}
	r, err := Open(context.Background(), obj, c.Opts)
	if err == nil {
		defer r.Close()
		b := schema.NewBatch(r.Schema(), 0)
		for err == nil {
			err = r.Next(context.Background(), b)
		}
	}
	checkErr(t, "without OnReject", err, &c.Rejects[0])
}

// runCaseCancel cancels the context after the first batch.
func runCaseCancel(t *testing.T, c conformanceCase, obj Object) {
	t.Helper()
	if len(c.Rows) < 2 {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	opts := c.Opts
	opts.BatchRows = 1
	opts.OnReject = func(*ParseError) error { return nil }
	r, err := Open(ctx, obj, opts)
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
	var pe *ParseError
	if errors.As(err, &pe) {
		t.Fatalf("Next after cancel returned a ParseError: %v", err)
	}
}
