package parsers

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go"

	"github.com/s3ingest/s3ingest/parsers/schema"
)

// The apache/parquet-testing corpus (testdata/parquet-testing, a copy with
// its licence). Every Parquet file of data/ must preview and read to the
// end with as many rows as its footer says, or fail as listed here.

type pqExpectedFailure struct {
	err error
	msg string // the cause starts with this
	why string
}

var pqCorpusFailures = map[string]pqExpectedFailure{
	"column_chunk_key_value_metadata.parquet": {ErrUnsupported, "unsupported: the footer omits a field parquet-go v0.32 requires",
		"a column chunk key-value pair without a value (optional in the current format); parquet-go's footer decoder requires it"},
	"hadoop_lz4_compressed.parquet": {ErrUnsupported, "unsupported: lz4 (Hadoop framing, deprecated) compression",
		"the deprecated LZ4 codec (Hadoop framing); parquet-go reads only LZ4_RAW"},
	"hadoop_lz4_compressed_larger.parquet": {ErrUnsupported, "unsupported: lz4 (Hadoop framing, deprecated) compression",
		"the deprecated LZ4 codec (Hadoop framing)"},
	"non_hadoop_lz4_compressed.parquet": {ErrUnsupported, "unsupported: lz4 (Hadoop framing, deprecated) compression",
		"the deprecated LZ4 codec (raw blocks under the old codec id)"},
	"datapage_v2_empty_datapage.snappy.parquet": {ErrUnsupported, "unsupported: a v2 data page with no data bytes",
		"a v2 page with zero compressed bytes: parquet-go decompresses them and fails (apache/arrow-rs#7388)"},
	"large_string_map.brotli.parquet": {ErrTooLarge, "too large: a page of 1073741828 bytes",
		"a 1 GiB page, over s3ingest's 256 MiB page limit (memory stays bounded)"},
	"datapage_v1-corrupt-checksum.parquet": {ErrCorrupt, "corrupt: crc32 checksum mismatch",
		"deliberately wrong page CRC"},
	"rle-dict-uncompressed-corrupt-checksum.parquet": {ErrCorrupt, "corrupt: crc32 checksum mismatch",
		"deliberately wrong dictionary page CRC"},
	"nation.dict-malformed.parquet": {ErrCorrupt, "corrupt: a page of 28 bytes runs past the end of its column chunk",
		"deliberately malformed dictionary page"},
}

// pqCorpusFooterMismatch are files whose footer row count disagrees with
// their row groups (the row groups are read, with a warning).
var pqCorpusFooterMismatch = map[string]int64{
	"repeated_no_annotation.parquet": 0, // footer says 0, the row group holds 6
}

func pqCorpusFiles(t *testing.T, sub string, match func(name string) bool) []string {
	t.Helper()
	root := filepath.Join(pqCorpus(t), sub)
	var files []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && match(d.Name()) {
			files = append(files, p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(files)
	if len(files) == 0 {
		t.Fatalf("no files in %s", root)
	}
	return files
}

func pqIsEncryptedName(name string) bool { return strings.HasSuffix(name, ".parquet.encrypted") }

func TestParquetCorpusData(t *testing.T) {
	files := pqCorpusFiles(t, "data", func(n string) bool { return strings.HasSuffix(n, ".parquet") })
	var unsupported []string
	for _, path := range files {
		name := filepath.Base(path)
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			obj := newPQRangeObject(name, data)
			res, perr := previewParquet(ctx, obj, Options{}, 10)
			r, oerr := openParquet(ctx, newPQRangeObject(name, data), Options{})
			var rows [][]any
			rerr := oerr
			if oerr == nil {
				rows, _, rerr = pqReadAll(ctx, r, 1000)
				defer r.Close()
			}
			if exp, ok := pqCorpusFailures[name]; ok {
				for what, err := range map[string]error{"preview": perr, "read": rerr} {
					var pe *ParseError
					if !errors.As(err, &pe) || !errors.Is(err, exp.err) || !strings.HasPrefix(pe.Err.Error(), exp.msg) {
						t.Fatalf("%s: %v; want a ParseError starting %q", what, err, exp.msg)
					}
				}
				if errors.Is(rerr, ErrUnsupported) {
					unsupported = append(unsupported, fmt.Sprintf("%s: %s", name, exp.why))
				}
				t.Logf("fails as expected (%s): %v", exp.why, rerr)
				return
			}
			if perr != nil {
				t.Fatalf("preview: %v", perr)
			}
			if rerr != nil {
				t.Fatalf("read: %v (after %d rows)", rerr, len(rows))
			}
			f, err := parquet.OpenFile(bytes.NewReader(data), int64(len(data)))
			if err != nil {
				t.Fatal(err)
			}
			footerRows := f.Metadata().NumRows
			if want, ok := pqCorpusFooterMismatch[name]; ok {
				if footerRows != want || len(res.Warnings) == 0 || !strings.Contains(res.Warnings[0], "reading the row groups") {
					t.Fatalf("footer rows %d, warnings %q", footerRows, res.Warnings)
				}
			} else if int64(len(rows)) != footerRows {
				t.Fatalf("read %d rows, the footer says %d", len(rows), footerRows)
			}
			if int64(len(rows)) != r.Info().RowCount || res.RowCount != r.Info().RowCount {
				t.Fatalf("read %d rows, RowCount %d, preview RowCount %d", len(rows), r.Info().RowCount, res.RowCount)
			}
			if want := min(10, len(rows)); len(res.Rows) != want || res.Truncated != (len(rows) > 10) {
				t.Fatalf("preview: %d rows (want %d), truncated %v", len(res.Rows), want, res.Truncated)
			}
			if fmt.Sprint(res.Rows) != fmt.Sprint(pqFirst(rows, 10)) { // NaN-proof
				t.Fatalf("preview rows differ from the first rows read")
			}
			if !res.Schema.Equal(r.Schema()) {
				t.Fatalf("preview schema %s, reader schema %s", res.Schema, r.Schema())
			}
			for _, f := range r.Schema().Fields {
				if !strings.Contains(f.Reason, "Parquet ") {
					t.Errorf("column %q: reason %q", f.Name, f.Reason)
				}
			}
			for _, row := range rows {
				for j, v := range row {
					if raw, ok := v.([]byte); ok {
						t.Fatalf("column %d: %T %s", j, v, raw)
					}
				}
			}
		})
	}
	t.Logf("unsupported files in data/:\n  %s", strings.Join(unsupported, "\n  "))
}

func pqFirst(rows [][]any, n int) [][]any {
	if len(rows) > n {
		rows = rows[:n]
	}
	if rows == nil {
		return [][]any{}
	}
	return rows
}

// TestParquetCorpusEncrypted: the encrypted files (named *.parquet.encrypted)
// are refused as unsupported, with one request.
func TestParquetCorpusEncrypted(t *testing.T) {
	files := pqCorpusFiles(t, "data", pqIsEncryptedName)
	for _, path := range files {
		name, _ := filepath.Rel(filepath.Join(pqCorpusDir, "data"), path)
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			for _, open := range []func(Object) error{
				func(o Object) error { _, err := openParquet(context.Background(), o, Options{}); return err },
				func(o Object) error { _, err := previewParquet(context.Background(), o, Options{}, 10); return err },
			} {
				obj := newPQRangeObject(name, data)
				err := open(obj)
				var pe *ParseError
				if !errors.As(err, &pe) || !errors.Is(err, ErrUnsupported) || !strings.HasPrefix(pe.Err.Error(), "unsupported: encrypted Parquet file") {
					t.Fatalf("%v", err)
				}
				if obj.requests.Load() != 1 {
					t.Errorf("%d requests", obj.requests.Load())
				}
			}
		})
	}
	if len(files) < 10 {
		t.Fatalf("only %d encrypted files found", len(files))
	}
}

// pqBadDataReads are bad_data files that parquet-go and s3ingest read
// anyway, with why that is right.
var pqBadDataReads = map[string]string{
	"ARROW-GH-43605.parquet": "dictionary indexes RLE-encoded with bit width 0: decodable (every index is 0), so all 21186 values are the dictionary's first",
}

// TestParquetCorpusBadData: every file of bad_data fails cleanly, with a
// ParseError and without a panic escaping, when previewed and when read.
func TestParquetCorpusBadData(t *testing.T) {
	files := pqCorpusFiles(t, "bad_data", func(n string) bool { return strings.HasSuffix(n, ".parquet") })
	for _, path := range files {
		name := filepath.Base(path)
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			_, perr := previewParquet(context.Background(), newPQRangeObject(name, data), Options{}, 10)
			n, rerr := pqReadObject(context.Background(), newPQRangeObject(name, data), Options{})
			if why, ok := pqBadDataReads[name]; ok {
				if perr != nil || rerr != nil {
					t.Fatalf("preview %v, read %v", perr, rerr)
				}
				t.Logf("read %d rows: %s", n, why)
				return
			}
			for what, err := range map[string]error{"preview": perr, "read": rerr} {
				var pe *ParseError
				if !errors.As(err, &pe) || !(errors.Is(err, ErrCorrupt) || errors.Is(err, ErrUnsupported)) {
					t.Fatalf("%s: %v, want a ParseError (corrupt or unsupported)", what, err)
				}
				if pe.Object != name {
					t.Fatalf("%s: object %q", what, pe.Object)
				}
			}
			t.Logf("%v", rerr)
		})
	}
}

// TestParquetCorpusValues checks values of files whose content is documented.
func TestParquetCorpusValues(t *testing.T) {
	ts := schema.FormatTimestamp
	decimals := func() []any {
		var v []any
		for i := 1; i <= 24; i++ {
			v = append(v, fmt.Sprintf("%d.00", i))
		}
		return v
	}()
	cases := []struct {
		file string
		col  string
		want []any // nil entries are nulls; "*" skips a value
	}{
		{"alltypes_plain.parquet", "id", []any{int64(4), int64(5), int64(6), int64(7), int64(2), int64(3), int64(0), int64(1)}},
		{"alltypes_plain.parquet", "bool_col", []any{true, false, true, false, true, false, true, false}},
		{"alltypes_plain.parquet", "float_col", []any{0.0, float64(float32(1.1)), 0.0, float64(float32(1.1)), 0.0, float64(float32(1.1)), 0.0, float64(float32(1.1))}},
		{"alltypes_plain.parquet", "date_string_col", []any{"03/01/09", "03/01/09", "04/01/09", "04/01/09", "02/01/09", "02/01/09", "01/01/09", "01/01/09"}},
		{"alltypes_plain.parquet", "timestamp_col", []any{"2009-03-01T00:00:00Z", "2009-03-01T00:01:00Z", "2009-04-01T00:00:00Z", "2009-04-01T00:01:00Z", "2009-02-01T00:00:00Z", "2009-02-01T00:01:00Z", "2009-01-01T00:00:00Z", "2009-01-01T00:01:00Z"}},
		{"int96_from_spark.parquet", "a", []any{ts(1704141296123456), ts(1704070800000000), ts(253402225200000000), ts(1735599600000000), nil, ts(9089380393200000000)}},
		{"byte_array_decimal.parquet", "value", decimals},
		{"int32_decimal.parquet", "value", decimals},
		{"int64_decimal.parquet", "value", decimals},
		{"fixed_length_decimal.parquet", "value", decimals},
		{"fixed_length_decimal_legacy.parquet", "value", decimals},
		{"float16_nonzeros_and_nans.parquet", "x", []any{nil, 1.0, -2.0, math.NaN(), 0.0, -1.0, math.Copysign(0, -1), 2.0}},
		{"float16_zeros_and_nans.parquet", "x", []any{nil, 0.0, math.NaN()}},
		{"nan_in_stats.parquet", "x", []any{1.0, math.NaN()}},
		{"datapage_v2.snappy.parquet", "a", []any{"abc", "abc", "abc", nil, "abc"}},
		{"datapage_v2.snappy.parquet", "e", []any{"[1,2,3]", nil, nil, "[1,2,3]", "[1,2]"}},
		{"list_columns.parquet", "int64_list", []any{"[1,2,3]", "[null,1]", "[4]"}},
		{"list_columns.parquet", "utf8_list", []any{`["abc","efg","hij"]`, nil, `["efg",null,"hij","xyz"]`}},
		{"nested_lists.snappy.parquet", "a", []any{`[[["a","b"],["c"]],[null,["d"]]]`, `[[["a","b"],["c","d"]],[null,["e"]]]`, `[[["a","b"],["c","d"],["e"]],[null,["f"]]]`}},
		{"nested_maps.snappy.parquet", "a", []any{`{"a":{"1":true,"2":false}}`, `{"b":{"1":true}}`, `{"c":null}`, `{"d":{}}`, `{"e":{"1":true}}`, `{"f":{"3":true,"4":false,"5":true}}`}},
		{"nullable.impala.parquet", "int_array", []any{"[1,2,3]", "[null,1,2,null,3,null]", "[]", nil, nil, nil, nil}},
		{"nullable.impala.parquet", "int_array_Array", []any{"[[1,2],[3,4]]", "[[null,1,2,null],[3,null,4],[],null]", "[null]", "[]", nil, nil, "[null,[5,6]]"}},
		{"nullable.impala.parquet", "int_map", []any{`{"k1":1,"k2":100}`, `{"k1":2,"k2":null}`, `{}`, `{}`, `{}`, nil, `{"k1":null,"k3":null}`}},
		{"nullable.impala.parquet", "nested_struct", []any{`{"A":1,"b":[1],"C":{"d":[[{"E":10,"F":"aaa"},{"E":-10,"F":"bbb"}],[{"E":11,"F":"c"}]]},"g":{"foo":{"H":{"i":[1.1]}}}}`, "*", "*", "*", "*", nil, "*"}},
		{"nonnullable.impala.parquet", "nested_Struct", []any{`{"a":-1,"B":[-1],"c":{"D":[[{"e":-1,"f":"nonnullable"}]]},"G":{}}`}},
		{"old_list_structure.parquet", "a", []any{"[[1,2],[3,4]]"}},
		{"repeated_primitive_no_list.parquet", "Int32_list", []any{"[0,1,2,3]", "[]", "[4]", "[5,6,7,8]"}},
		{"repeated_primitive_no_list.parquet", "group_of_lists", []any{`{"Int32_list_in_group":[0,1,2,3],"String_list_in_group":["foo","zero","one","two"]}`, "*", "*", "*"}},
		{"map_no_value.parquet", "my_map_no_v", []any{`{"1":null,"2":null,"3":null}`, `{"4":null,"5":null,"6":null}`, `{"7":null,"8":null,"9":null}`}},
		{"map_no_value.parquet", "my_list", []any{"[1,2,3]", "[4,5,6]", "[7,8,9]"}},
		{"null_list.parquet", "emptylist", []any{"[]"}},
		{"incorrect_map_schema.parquet", "my_map", []any{`{"parent":"another","name":"report"}`}},
		{"repeated_no_annotation.parquet", "phoneNumbers", []any{nil, nil, `{"phone":[]}`, `{"phone":[{"number":5555555555,"kind":null}]}`, "*", "*"}},
		{"unknown-logical-type.parquet", "column with unknown type", []any{"unknown string 1", "unknown string 2", "unknown string 3"}},
	}
	for _, tc := range cases {
		t.Run(tc.file+"/"+tc.col, func(t *testing.T) {
			got := pqCorpusColumn(t, tc.file, tc.col)
			if len(got) != len(tc.want) {
				t.Fatalf("%d values, want %d: %v", len(got), len(tc.want), got)
			}
			for i, w := range tc.want {
				if !pqSameValue(got[i], w) {
					t.Errorf("row %d: %#v, want %#v", i, got[i], w)
				}
			}
		})
	}
}

func pqSameValue(got, want any) bool {
	if want == "*" {
		return true
	}
	if raw, ok := got.(json.RawMessage); ok {
		got = string(raw)
	}
	if g, ok := got.(float64); ok {
		if w, ok := want.(float64); ok {
			return g == w && math.Signbit(g) == math.Signbit(w) || math.IsNaN(g) && math.IsNaN(w)
		}
	}
	return reflect.DeepEqual(got, want)
}

// pqCorpusColumn reads one column of a corpus file.
func pqCorpusColumn(t *testing.T, file, col string) []any {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(pqCorpus(t), "data", file))
	if err != nil {
		t.Fatal(err)
	}
	r := pqOpenBytes(t, data, Options{})
	defer r.Close()
	j := r.Schema().Index(col)
	if j < 0 {
		t.Fatalf("no column %q in %s", col, r.Schema())
	}
	rows, _, err := pqReadAll(context.Background(), r, 1000)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]any, len(rows))
	for i, row := range rows {
		out[i] = row[j]
	}
	return out
}

// TestParquetCorpusDeltaEncodings compares the DELTA_* encoded files with
// the CSV files that list their values.
func TestParquetCorpusDeltaEncodings(t *testing.T) {
	for _, name := range []string{"delta_binary_packed", "delta_byte_array", "delta_encoding_optional_column", "delta_encoding_required_column"} {
		t.Run(name, func(t *testing.T) {
			dir := filepath.Join(pqCorpus(t), "data")
			f, err := os.Open(filepath.Join(dir, name+"_expect.csv"))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			records, err := csv.NewReader(f).ReadAll()
			if err != nil {
				t.Fatal(err)
			}
			data, err := os.ReadFile(filepath.Join(dir, name+".parquet"))
			if err != nil {
				t.Fatal(err)
			}
			r := pqOpenBytes(t, data, Options{})
			defer r.Close()
			header := records[0]
			idx := make([]int, len(header))
			for i, h := range header {
				idx[i] = r.Schema().Index(strings.TrimSpace(h))
				if idx[i] < 0 {
					// the required-column file names its columns "x:"
					idx[i] = r.Schema().Index(strings.TrimSpace(h) + ":")
				}
				if idx[i] < 0 {
					t.Fatalf("column %q not in %s", h, r.Schema())
				}
			}
			b := schema.NewBatch(r.Schema(), 10000)
			if err := r.Next(context.Background(), b); err != nil {
				t.Fatal(err)
			}
			if b.Len() != len(records)-1 {
				t.Fatalf("%d rows, the CSV has %d", b.Len(), len(records)-1)
			}
			for i, rec := range records[1:] {
				for k, want := range rec {
					v := &b.Cols[idx[k]]
					got := v.Text(i)
					if want == "" && v.Nulls[i] || got == want {
						continue
					}
					t.Fatalf("row %d column %s: %q, want %q", i, header[k], got, want)
				}
			}
		})
	}
}
