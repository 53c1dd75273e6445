package parsers

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/s3ingest/s3ingest/parsers/schema"
)

// Hostile and unusual input: every shape is bounded in memory and time.

// TestHeaderNamesLinear: 60,000 duplicate names are made unique in well under
// a second (it took minutes when each duplicate tried a_2, a_3, ... from the
// start), with the same names as before, and a cancelled context stops it.
func TestHeaderNamesLinear(t *testing.T) {
	cells := func(names ...string) []cell {
		out := make([]cell, len(names))
		for i, n := range names {
			out[i] = cell{b: []byte(n), kind: kText}
		}
		return out
	}
	for _, tc := range []struct{ in, want string }{
		{"a,a,a", "a,a_2,a_3"},
		{"a,a,a_2", "a,a_3,a_2"},
		{"a, ,a_2,a,a", "a,c2,a_2,a_3,a_4"},
		{"a_2,a,a,a_2", "a_2,a,a_3,a_2_2"},
		{"b,a,b,a,b", "b,a,b_2,a_2,b_3"},
	} {
		got, err := headerNames(context.Background(), cells(strings.Split(tc.in, ",")...))
		if err != nil || strings.Join(got, ",") != tc.want {
			t.Errorf("headerNames(%s) = %v, %v; want %s", tc.in, got, err, tc.want)
		}
	}

	const n = 60_000
	many := make([]string, n)
	for i := range many {
		many[i] = "a"
	}
	start := time.Now()
	got, err := headerNames(context.Background(), cells(many...))
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("%d duplicate names took %v", n, d)
	}
	seen := map[string]bool{}
	for _, g := range got {
		if seen[g] {
			t.Fatalf("duplicate name %q", g)
		}
		seen[g] = true
	}
	if got[n-1] != "a_60000" {
		t.Errorf("last name %q, want a_60000", got[n-1])
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := headerNames(ctx, cells(many...)); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: err = %v, want context.Canceled", err)
	}
}

// pqWideFile writes, by hand, a Parquet file of n INT32 columns and no row
// group: just the magic and a footer (a million columns take 12 MB).
func pqWideFile(n int) []byte { return pqFooterFile(n, 0) }

// pqFooterFile writes, by hand, a Parquet file of n INT32 columns and
// rowGroups empty row groups of one (empty) column chunk each: just the
// magic and a footer.
func pqFooterFile(n, rowGroups int) []byte {
	uvarint := func(b []byte, v uint64) []byte { return binary.AppendUvarint(b, v) }
	zigzag := func(v int64) uint64 { return uint64(v<<1) ^ uint64(v>>63) }
	list := func(b []byte, n int, et byte) []byte {
		if n < 15 {
			return append(b, byte(n)<<4|et)
		}
		return uvarint(append(b, 0xf0|et), uint64(n))
	}
	f := []byte{0x15, 0x02, 0x19} // version 1; schema:
	f = list(f, n+1, 12)
	f = append(f, 0x48, 1, 'r', 0x15) // root: name, num_children
	f = uvarint(f, zigzag(int64(n)))
	f = append(f, 0)
	for i := range n {
		name := "c" + strconv.Itoa(i)
		f = append(f, 0x15, 0x02, 0x25, 0x00, 0x18, byte(len(name))) // INT32, REQUIRED, name
		f = append(append(f, name...), 0)
	}
	f = append(f, 0x16, 0x00, 0x19) // num_rows 0, row_groups:
	f = list(f, rowGroups, 12)
	for range rowGroups {
		f = append(f, 0x19, 0x1c, 0x00, 0x16, 0x00, 0x16, 0x00, 0x00) // [{}], total_byte_size 0, num_rows 0
	}
	f = append(f, 0x00)
	out := append([]byte("PAR1"), f...)
	out = binary.LittleEndian.AppendUint32(out, uint32(len(f)))
	return append(out, "PAR1"...)
}

// TestMaxColumns: an object with more columns than Options.MaxColumns fails
// with a ParseError naming the object and the count, whatever the format;
// a later CSV record that is too wide is rejected as a row. A Parquet footer
// of 100,000 row groups is refused for its estimated decoded size (it took
// ~270 MiB).
func TestMaxColumns(t *testing.T) {
	wideCSV := func(n int, sep string) string {
		var b strings.Builder
		for i := range n {
			if i > 0 {
				b.WriteString(sep)
			}
			fmt.Fprintf(&b, "c%d", i)
		}
		b.WriteString("\n")
		return b.String()
	}
	jsonKeys := func(n int) string {
		var b strings.Builder
		b.WriteString("{")
		for i := range n {
			if i > 0 {
				b.WriteString(",")
			}
			fmt.Fprintf(&b, `"k%d":%d`, i, i)
		}
		b.WriteString("}\n")
		return b.String()
	}
	for _, tc := range []struct {
		name string
		obj  string
		data []byte
		max  int
		want string // in the error; "" means it opens
	}{
		{"csv default limit", "s3://b/wide.csv", []byte(wideCSV(10_001, ",") + "1\n"), 0, "the record has 10001 fields, more than max_columns (10000)"},
		{"csv at the limit", "s3://b/wide.csv", []byte(wideCSV(10_000, ",")), 0, ""},
		{"csv quoted header", "s3://b/q.csv", []byte(`"a","b","c","d"` + "\n1,2,3,4\n"), 3, "the record has 4 fields, more than max_columns (3)"},
		{"csv line of commas", "s3://b/commas.csv", []byte(strings.Repeat(",", 1<<20) + "\n"), 0, "the record has 1048577 fields"},
		{"tsv", "s3://b/wide.tsv", []byte(wideCSV(50, "\t")), 49, "the record has 50 fields, more than max_columns (49)"},
		{"json keys", "s3://b/wide.json", []byte(jsonKeys(10_001)), 0, "more than 10000 distinct keys"},
		{"json keys over documents", "s3://b/w.ndjson", []byte(`{"a":1}` + "\n" + `{"b":1}` + "\n" + `{"c":1}` + "\n"), 2, "more than 2 distinct keys"},
		{"json flattened", "s3://b/n.json", []byte(`{"a":{"b":1,"c":{"d":2,"e":3}}}`), 2, "more than 2 distinct keys"},
		{"json flattening off", "s3://b/n.json", []byte(`{"a":{"b":1,"c":{"d":2,"e":3}}}`), 1, ""},
		{"parquet", "s3://b/w.parquet", pqWideFile(12), 11, "the file has 12 columns, more than max_columns (11)"},
		{"parquet at the limit", "s3://b/w.parquet", pqWideFile(11), 11, ""},
		{"parquet footer of a million columns", "s3://b/m.parquet", pqWideFile(1_000_000), 0, "the file has 1000000 columns, more than max_columns (10000)"},
		{"parquet footer of 100,000 row groups", "s3://b/rg.parquet", pqFooterFile(1, 100_000), 0, "the footer would decode to more than 268435456 bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := Options{MaxColumns: tc.max}
			if tc.name == "json flattening off" {
				opts.JSON.MaxDepth = -1
			}
			start := time.Now()
			r, err := Open(context.Background(), BytesObject(tc.obj, tc.data), opts)
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("took %v", d)
			}
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				r.Close()
				return
			}
			var pe *ParseError
			if !errors.As(err, &pe) || !errors.Is(err, ErrTooLarge) || pe.Object != tc.obj || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want a ParseError about %s containing %q", err, tc.obj, tc.want)
			}
			if pe.rowLevel() {
				t.Errorf("the error is row-level: %#v", pe)
			}
		})
	}

	// A data record wider than the limit is rejected as a row, quoted or not;
	// the rows around it load.
	data := "a,b\n1,2\n" + strings.Repeat("x,", 10) + "x\n3,4\n" + strings.Repeat(`"y",`, 10) + "\"z\"\n5,6\n"
	var rejects []*ParseError
	_, rows := readRows(t, "t.csv", []byte(data), Options{MaxColumns: 5, OnReject: func(pe *ParseError) error {
		rejects = append(rejects, pe)
		return nil
	}})
	if len(rows) != 3 || len(rejects) != 2 {
		t.Fatalf("rows %v, rejects %v", rows, rejects)
	}
	for i, line := range []int64{3, 5} {
		if pe := rejects[i]; pe.Line != line || !errors.Is(pe, ErrTooLarge) || !strings.Contains(pe.Error(), "the record has 11 fields, more than max_columns (5)") {
			t.Errorf("reject %d: %v, want line %d", i, pe, line)
		}
	}
}

// batchAlloc is the memory a batch's slices hold.
func batchAlloc(b *schema.Batch) int {
	n := cap(b.Lines) * 8
	for i := range b.Cols {
		v := &b.Cols[i]
		n += cap(v.Nulls) + cap(v.Bools) + 8*cap(v.Ints) + 8*cap(v.Floats) + cap(v.Bytes) + 4*cap(v.Offsets)
	}
	return n
}

// TestWideBatchesBoundedByBytes: a batch of a 20,000-column object holds
// few rows, so its memory stays under schema.BatchFixedBytes (plus the text
// of its values), where a batch of 8,192 rows took about a gigabyte. The
// batch is made as the worker makes it, with room for Options.BatchRows.
func TestWideBatchesBoundedByBytes(t *testing.T) {
	const cols, rows = 20_000, 300
	wide := func(row func(b *strings.Builder, r, c int), header bool) []byte {
		var b strings.Builder
		if header {
			for c := range cols {
				if c > 0 {
					b.WriteByte(',')
				}
				fmt.Fprintf(&b, "col%d", c)
			}
			b.WriteByte('\n')
		}
		for r := range rows {
			for c := range cols {
				row(&b, r, c)
			}
			b.WriteByte('\n')
		}
		return []byte(b.String())
	}
	for _, tc := range []struct {
		name, obj string
		data      []byte
		text      bool // string values: the text bound applies too
	}{
		{"csv int64", "wide.csv", wide(func(b *strings.Builder, r, c int) {
			if c > 0 {
				b.WriteByte(',')
			}
			b.WriteString(strconv.Itoa((r + c) % 10))
		}, true), false},
		{"csv strings", "wide.csv", wide(func(b *strings.Builder, r, c int) {
			if c > 0 {
				b.WriteByte(',')
			}
			b.WriteString("x")
		}, true), true},
		{"ndjson", "wide.ndjson", wide(func(b *strings.Builder, r, c int) {
			switch {
			case c == 0:
				b.WriteString(`{"k0":1`)
			default:
				fmt.Fprintf(b, `,"k%d":%d`, c, c%7)
			}
			if c == cols-1 {
				b.WriteByte('}')
			}
		}, false), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			r, err := Open(ctx, BytesObject(tc.obj, tc.data), Options{MaxColumns: cols})
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			sch := r.Schema()
			if len(sch.Fields) != cols {
				t.Fatalf("%d columns", len(sch.Fields))
			}
			limit := schema.BatchRows(sch, DefaultBatchRows)
			if limit >= DefaultBatchRows || limit < 50 {
				t.Fatalf("BatchRows = %d for %d columns", limit, cols)
			}
			b := schema.NewBatch(sch, DefaultBatchRows)
			bound := schema.BatchFixedBytes
			if tc.text {
				bound += 32 << 20
			}
			total := 0
			for {
				err := r.Next(ctx, b)
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				if b.Len() > limit {
					t.Fatalf("a batch of %d rows, more than %d", b.Len(), limit)
				}
				if a := batchAlloc(b); a > bound {
					t.Fatalf("a batch of %d rows holds %d bytes, more than %d", b.Len(), a, bound)
				}
				total += b.Len()
			}
			if total != rows {
				t.Fatalf("%d rows, want %d", total, rows)
			}
			runtime.ReadMemStats(&after)
			alloc := after.TotalAlloc - before.TotalAlloc
			t.Logf("%d columns: %d rows per batch, batch %.1f MiB, %.1f MiB allocated for %.1f MiB of input",
				cols, limit, float64(batchAlloc(b))/(1<<20), float64(alloc)/(1<<20), float64(len(tc.data))/(1<<20))
			if !raceEnabled && alloc > 256<<20 {
				t.Errorf("reading allocated %d MiB", alloc>>20)
			}
		})
	}
}

// zstdFrame hand-writes a zstd frame holding data in one raw block, whose
// header declares a window of 2^windowLog bytes or, when fcs > 0, is a
// single segment of fcs bytes (the decoder then sizes its window from fcs).
func zstdFrame(windowLog int, fcs uint64, data string) []byte {
	b := []byte{0x28, 0xb5, 0x2f, 0xfd}
	if fcs > 0 {
		b = append(b, 0xe0) // 8-byte content size, single segment
		b = binary.LittleEndian.AppendUint64(b, fcs)
	} else {
		b = append(b, 0x00, byte(windowLog-10)<<3)
	}
	h := uint32(1 | len(data)<<3) // last block, raw
	b = append(b, byte(h), byte(h>>8), byte(h>>16))
	return append(b, data...)
}

// TestZstdWindowCapped: a zstd frame that declares a 512 MiB window (in 21
// bytes) fails with a ParseError instead of being decoded with whatever
// window it asks for; a window up to MaxZstdWindow is read.
func TestZstdWindowCapped(t *testing.T) {
	const data = "a,b\n1,2\n"
	for _, tc := range []struct {
		name  string
		frame []byte
		fails bool
	}{
		{"512 MiB window", zstdFrame(29, 0, data), true},
		{"64 MiB window", zstdFrame(26, 0, data), true},
		{"single segment of 512 MiB", zstdFrame(0, 512<<20, data), true},
		{"32 MiB window", zstdFrame(25, 0, data), false},
		{"8 MiB window", zstdFrame(23, 0, data), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			r, err := Open(context.Background(), BytesObject("s3://b/k.csv.zst", tc.frame), Options{})
			if err == nil {
				var n int
				_, n, err = readAllBatches(r)
				r.Close()
				if err == nil && n != 1 {
					t.Fatalf("%d rows", n)
				}
			}
			runtime.ReadMemStats(&after)
			if !tc.fails {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			var pe *ParseError
			if !errors.As(err, &pe) || !errors.Is(err, ErrTooLarge) || pe.Object != "s3://b/k.csv.zst" || !strings.Contains(err.Error(), "window of more than 32 MiB") {
				t.Fatalf("err = %v, want a ParseError about the zstd window", err)
			}
			if a := after.TotalAlloc - before.TotalAlloc; !raceEnabled && a > 16<<20 {
				t.Errorf("allocated %d MiB", a>>20)
			}
		})
	}
}

// readAllBatches reads r to the end and returns its rows and their count.
func readAllBatches(r Reader) ([][]any, int, error) {
	b := schema.NewBatch(r.Schema(), 64)
	var rows [][]any
	for {
		err := r.Next(context.Background(), b)
		if err == io.EOF {
			return rows, len(rows), nil
		}
		if err != nil {
			return rows, len(rows), err
		}
		for i := 0; i < b.Len(); i++ {
			rows = append(rows, b.Row(i))
		}
	}
}

// TestHonestPreview: a preview in which no sampled row parses fails with
// the first errors (line and byte) instead of returning a schema inferred
// from nothing; one in which some rows parse still lists the others as
// warnings.
func TestHonestPreview(t *testing.T) {
	for _, tc := range []struct {
		name, obj, data string
		want            []string // in the error; nil: the preview succeeds
		rows            int
	}{
		{"ndjson of broken lines", "s3://b/k.ndjson", "{\"a\":1,}\n{\"a\" 2}\n{\"a\":3\n",
			[]string{"line 1, byte 8", "no sampled row parses (3 rejected)", "invalid JSON", "then line 2, byte 6", "; line 3"}, 0},
		{"json array of non-objects after an object", "s3://b/k.json", `[{"a":1}, 2, 3]`, nil, 1},
		{"csv of ragged rows", "s3://b/k.csv", "a,b,c\n1,2\n3,4\n", []string{"line 2", "no sampled row parses (2 rejected)", "the row has 2 fields, the header has 3"}, 0},
		{"csv of wrong types with a schema", "s3://b/k.csv", "a\nx\ny\n", []string{"line 2", "no sampled row parses", `column "a"`}, 0},
		{"ndjson with one good line", "s3://b/k.ndjson", "{\"a\":1,}\n{\"a\":2}\n", nil, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := Options{}
			if strings.Contains(tc.name, "schema") {
				opts.Schema = &schema.Schema{Fields: []schema.Field{{Name: "a", Type: schema.Int64}}}
			}
			res, err := Preview(context.Background(), BytesObject(tc.obj, []byte(tc.data)), opts, 10, 0)
			if tc.want == nil {
				if err != nil {
					t.Fatal(err)
				}
				if len(res.Rows) != tc.rows || len(res.Warnings) == 0 {
					t.Fatalf("rows %v, warnings %v", res.Rows, res.Warnings)
				}
				return
			}
			var pe *ParseError
			if !errors.As(err, &pe) || pe.Object != tc.obj || !pe.Permanent() || pe.rowLevel() {
				t.Fatalf("res %+v, err = %v; want a ParseError", res, err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

// TestNameIsAHint: an object named as JSON or Parquet whose content is not
// fails as invalid JSON or Parquet, saying what it starts with, instead of
// being read as something else; a forced format still reads it.
func TestNameIsAHint(t *testing.T) {
	gz := func(s string) string { return string(compressGzip(t, []byte(s))) }
	for _, tc := range []struct {
		obj, data, want string
	}{
		{"s3://b/k.json", "id,name\n1,x\n", `invalid JSON: starts with "id,name": looks like CSV`},
		{"s3://b/k.ndjson", "<html><body>404</body></html>\n", `invalid JSON: starts with "<html><body>404</body></html>": looks like XML or HTML`},
		{"s3://b/k.jsonl", "\x00\x01\x02garbage", `invalid JSON: starts with "\x00\x01\x02garbage": looks like binary data`},
		{"s3://b/k.json", "PAR1\x00\x00\x00\x00PAR1", `invalid JSON: starts with "PAR1`},
		{"s3://b/k.json", "name\nx\n", `invalid JSON: starts with "name": is not JSON, CSV or Parquet`},
		{"s3://b/k.json.gz", gz("id;name\n1;x\n"), `invalid JSON: starts with "id;name": looks like CSV`},
		{"s3://b/k.parquet", "id,name\n1,x\n", `invalid Parquet: no "PAR1" magic: starts with "id,name": looks like CSV`},
		{"s3://b/k.parquet", gz("id,name\n1,x\n"), `invalid Parquet: no "PAR1" magic: its gzip-decompressed content starts with "id,name": looks like CSV`},
	} {
		t.Run(tc.obj, func(t *testing.T) {
			obj := BytesObject(tc.obj, []byte(tc.data))
			_, err := Open(context.Background(), obj, Options{})
			_, perr := Preview(context.Background(), obj, Options{}, 5, 0)
			for _, err := range []error{err, perr} {
				var pe *ParseError
				if !errors.As(err, &pe) || !errors.Is(err, ErrCorrupt) || pe.Object != tc.obj || !strings.Contains(err.Error(), tc.want) {
					t.Errorf("err = %v, want a ParseError containing %q", err, tc.want)
				}
			}
		})
	}
	// a forced format reads what the object holds
	_, rows := readRows(t, "k.json", []byte("id,name\n1,x\n"), Options{Format: FormatCSV})
	if len(rows) != 1 {
		t.Fatalf("rows %v", rows)
	}
	// without a name that says otherwise, numbers on lines are CSV as before
	r, _ := readRows(t, "k.txt", []byte("1\n2\n"), Options{})
	if r.Info().Format != FormatCSV {
		t.Fatalf("format %s", r.Info().Format)
	}
}

// TestJSONScalars: a JSON array or NDJSON of scalars loads as one column
// "value" (as DuckDB's read_json does) instead of rejecting every element.
func TestJSONScalars(t *testing.T) {
	for _, tc := range []struct {
		obj, data, schema string
		rows              string
		opts              Options
	}{
		{"k.json", "[1, 2, 3]", "value int64", "[[1] [2] [3]]", Options{}},
		{"k.json", "[\"a\", \"b\"]", "value string", "[[a] [b]]", Options{}},
		{"k.ndjson", "\"a\"\n\"b\"\n", "value string", "[[a] [b]]", Options{}},
		{"k.ndjson", "1\n2.5\nnull\n", "value float64?", "[[1] [2.5] [<nil>]]", Options{}},
		{"k.jsonl", "true\nfalse\n", "value bool", "[[true] [false]]", Options{}},
		{"k.json", "[\"2024-01-02\"]", "value date", "[[2024-01-02]]", Options{}},
		{"k.json", "[[1,2], [3]]", "value json", "[[[1,2]] [[3]]]", Options{}},
		{"k.json", `["a", {"x":1}, [1], null]`, "value string?", `[[a] [{"x":1}] [[1]] [<nil>]]`, Options{}},
		{"k.json", "[1, 2]", "value int64", "[[1] [2]]",
			Options{Schema: &schema.Schema{Fields: []schema.Field{{Name: "value", Type: schema.Int64}}}}},
		{"data", "[1, 2]", "value int64", "[[1] [2]]", Options{}},
	} {
		t.Run(tc.data, func(t *testing.T) {
			r, rows := readRows(t, tc.obj, []byte(tc.data), tc.opts)
			for i := range rows {
				for j, v := range rows[i] {
					if raw, ok := v.(json.RawMessage); ok {
						rows[i][j] = string(raw)
					}
				}
			}
			if got := r.Schema().String(); got != tc.schema || fmt.Sprint(rows) != tc.rows {
				t.Fatalf("schema %s, rows %v; want %s, %s", got, rows, tc.schema, tc.rows)
			}
			if r.Info().Format != FormatJSON {
				t.Fatalf("format %s", r.Info().Format)
			}
		})
	}
	// objects stay objects: a scalar among them is rejected as a row
	var rejects []*ParseError
	_, rows := readRows(t, "k.json", []byte(`[{"a":1}, 2]`), Options{OnReject: func(pe *ParseError) error { rejects = append(rejects, pe); return nil }})
	if len(rows) != 1 || len(rejects) != 1 || !strings.Contains(rejects[0].Error(), "not a JSON object") {
		t.Fatalf("rows %v, rejects %v", rows, rejects)
	}
}

// chunkedObject returns at most n bytes per Read, as an S3 body does.
type chunkedObject struct {
	Object
	n int
}

func (c chunkedObject) Open(ctx context.Context, off, n int64) (io.ReadCloser, error) {
	rc, err := c.Object.Open(ctx, off, n)
	if err != nil {
		return nil, err
	}
	return struct {
		io.Reader
		io.Closer
	}{&nByteReader{r: rc, n: c.n}, rc}, nil
}

// TestLongRecordsLinear: a record that spans thousands of reads of the
// stream is scanned again a logarithmic number of times, not once per read
// (which made a 6 MiB JSON document take a second, and a 256 MiB one
// minutes).
func TestLongRecordsLinear(t *testing.T) {
	for _, tc := range []struct{ name, obj, data string }{
		{"csv quoted field", "k.csv", "a,b\n\"" + strings.Repeat(`""`, 3<<20) + "\",1\n"},
		{"csv unquoted line", "k.csv", "a,b\n" + strings.Repeat("x", 6<<20) + ",1\n"},
		{"json array element", "k.json", `[{"a":"` + strings.Repeat(`\"`, 3<<20) + `"}]`},
		{"ndjson line", "k.ndjson", `{"a":"` + strings.Repeat(`\"`, 3<<20) + "\"}\n"},
		{"concatenated", "k.json", "{\n\"a\":\"" + strings.Repeat(`\"`, 3<<20) + "\"}\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			r, err := Open(context.Background(), chunkedObject{BytesObject(tc.obj, []byte(tc.data)), 16 << 10}, Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			rows, _, err := readAllBatches(r)
			if err != nil || len(rows) != 1 {
				t.Fatalf("%d rows, %v", len(rows), err)
			}
			d := time.Since(start)
			t.Logf("%s: %v", tc.name, d)
			if !raceEnabled && d > 400*time.Millisecond {
				t.Errorf("took %v", d)
			}
		})
	}
}

// TestHostileShapes: each hostile shape ends, within a second or two, with a
// clear ParseError or loads, and allocates a bounded amount.
func TestHostileShapes(t *testing.T) {
	dupHeader := strings.Repeat("a,", 512<<10) + "a\n1\n"
	zeros := compressGzip(t, make([]byte, 64<<20))
	for _, tc := range []struct {
		name, obj string
		data      []byte
		opts      Options
		want      string // "" loads
	}{
		{"1 MiB of duplicate header names", "k.csv", []byte(dupHeader), Options{}, "the record has 524289 fields, more than max_columns (10000)"},
		{"60,000 duplicate header names", "k.csv", []byte(strings.Repeat("a,", 59_999) + "a\n"), Options{MaxColumns: 60_000}, ""},
		{"1,000,000-deep arrays", "k.json", []byte(strings.Repeat("[", 1_000_000)), Options{}, "nested too deeply"},
		{"1,000,000-deep objects", "k.json", []byte(strings.Repeat(`{"a":`, 1_000_000)), Options{}, "nested too deeply"},
		{"a 20 MiB line", "k.csv", []byte("a\n" + strings.Repeat("x", 20<<20) + "\n"), Options{}, "longer than max_line_bytes"},
		{"a gzip bomb of zeros", "k.csv.gz", zeros, Options{}, "longer than max_line_bytes"},
		{"a gzip bomb over max_decompressed_bytes", "k.csv.gz", zeros, Options{MaxDecompressedBytes: 1 << 20, MaxLineBytes: 4 << 20}, "decompresses to more than 1048576 bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			start := time.Now()
			r, err := Open(context.Background(), chunkedObject{BytesObject(tc.obj, tc.data), 32 << 10}, tc.opts)
			if err == nil {
				_, _, err = readAllBatches(r)
				r.Close()
			}
			d := time.Since(start)
			runtime.ReadMemStats(&after)
			alloc := after.TotalAlloc - before.TotalAlloc
			t.Logf("%v, %d MiB allocated: %v", d, alloc>>20, err)
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
			} else {
				var pe *ParseError
				if !errors.As(err, &pe) || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("err = %v, want a ParseError containing %q", err, tc.want)
				}
			}
			if !raceEnabled && (d > 2*time.Second || alloc > ObjectMemoryBudget) {
				t.Errorf("took %v and %d MiB", d, alloc>>20)
			}
		})
	}
}
