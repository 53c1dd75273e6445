package parsers_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/s3ingest/s3ingest/parsers"
	"github.com/s3ingest/s3ingest/parsers/parserstest"
)

// The CSV and JSON cases of the conformance suite (package parserstest):
// each runs through parsers.Open as is, with micro-reads, small batches,
// compressed (gzip, multi-member gzip, zstd, bzip2), without OnReject and
// with a cancelled context.

func TestCSVConformance(t *testing.T) { parserstest.Run(t, csvCases...) }

func TestJSONConformance(t *testing.T) { parserstest.Run(t, jsonCases...) }

// csvCases are also the seeds of FuzzCSV and FuzzSniff.
var csvCases = []parserstest.Case{
	{Name: "csv/basic-trailing-newline", Object: "t.csv", Format: parsers.FormatCSV, Text: true,
		Data:   parserstest.Str("id,name,score\n1,alice,1.5\n2,bob,2\n"),
		Schema: "id int64, name string, score float64",
		Rows:   [][]any{{int64(1), "alice", 1.5}, {int64(2), "bob", 2.0}}, Lines: []int64{2, 3}},
	{Name: "csv/basic-no-trailing-newline", Object: "t.csv", Format: parsers.FormatCSV, Text: true,
		Data:   parserstest.Str("id,name,score\n1,alice,1.5\n2,bob,2"),
		Schema: "id int64, name string, score float64",
		Rows:   [][]any{{int64(1), "alice", 1.5}, {int64(2), "bob", 2.0}}, Lines: []int64{2, 3}},
	{Name: "csv/crlf-bom-quotes", Object: "t.csv", Format: parsers.FormatCSV, Text: true,
		Data:   parserstest.Str("\xef\xbb\xbfa,b\r\n\"x, \"\"y\"\"\",2024-01-02\r\n\"multi\r\nline\",2024-02-03\r\n"),
		Schema: "a string, b date",
		Rows:   [][]any{{`x, "y"`, "2024-01-02"}, {"multi\r\nline", "2024-02-03"}}, Lines: []int64{2, 3}},
	{Name: "csv/semicolon-nulls", Object: "t.txt", Format: parsers.FormatCSV, Text: true,
		Data:   parserstest.Str("k;v;t\n1;;2024-01-02T03:04:05Z\n2;NULL;2024-01-02 03:04:05.5+02:00\n3;7;2024-01-02T03:04\n"),
		Schema: "k int64, v int64?, t timestamp",
		Rows: [][]any{{int64(1), nil, "2024-01-02T03:04:05Z"}, {int64(2), nil, "2024-01-02T01:04:05.5Z"},
			{int64(3), int64(7), "2024-01-02T03:04:00Z"}}},
	{Name: "csv/tsv-no-header", Object: "t.tsv", Format: parsers.FormatCSV, Text: true,
		Data:   parserstest.Str("1\ttrue\t-3.25e2\n2\tFALSE\t4\n"),
		Schema: "c1 int64, c2 bool, c3 float64",
		Rows:   [][]any{{int64(1), true, -325.0}, {int64(2), false, 4.0}}},
	{Name: "csv/bad-value-position", Object: "t.csv", Format: parsers.FormatCSV, Text: true,
		Opts:    parsers.Options{SampleRows: 2},
		Data:    parserstest.Str("id,note,n\n1,\"a\nb\",5\n2,x,6\n3,\"c\nd\ne\",oops\n4,y,8\n"),
		Rows:    [][]any{{int64(1), "a\nb", int64(5)}, {int64(2), "x", int64(6)}, {int64(4), "y", int64(8)}},
		Lines:   []int64{2, 4, 8},
		Rejects: []parserstest.WantError{{Is: parsers.ErrType, Line: 5, Column: "n", Contains: `value "oops"`}}},
	{Name: "csv/ragged-rejected", Object: "t.csv", Format: parsers.FormatCSV, Text: true,
		Data:    parserstest.Str("a,b\n1,2\n3\n4,5,6\n7,8\n"),
		Schema:  "a int64, b int64",
		Rows:    [][]any{{int64(1), int64(2)}, {int64(7), int64(8)}},
		Rejects: []parserstest.WantError{{Is: parsers.ErrCorrupt, Line: 3}, {Is: parsers.ErrCorrupt, Line: 4}}},
	{Name: "csv/ragged-pad", Object: "t.csv", Format: parsers.FormatCSV, Text: true,
		Opts:   parsers.Options{CSV: parsers.CSVOptions{Ragged: parsers.RaggedPad}},
		Data:   parserstest.Str("a,b\n1,2\n3\n4,5,6\n"),
		Schema: "a int64, b int64?",
		Rows:   [][]any{{int64(1), int64(2)}, {int64(3), nil}, {int64(4), int64(5)}}},
	{Name: "csv/unclosed-quote", Object: "t.csv", Format: parsers.FormatCSV, Text: true,
		Data: parserstest.Str("a,b\n1,2\n3,\"open\n4,5\n"),
		Rows: [][]any{{int64(1), int64(2)}},
		Err:  &parserstest.WantError{Is: parsers.ErrCorrupt, Line: 3, Contains: "never closed"}},
	{Name: "csv/line-too-long", Object: "t.csv", Format: parsers.FormatCSV, Text: true,
		Opts: parsers.Options{MaxLineBytes: 64, SampleRows: 1},
		Data: parserstest.Str("a,b\n1,2\n3,4\n5," + strings.Repeat("x", 100) + "\n6,7\n"),
		Rows: [][]any{{int64(1), int64(2)}, {int64(3), int64(4)}},
		Err:  &parserstest.WantError{Is: parsers.ErrTooLarge, Line: 4, Contains: "max_line_bytes (64 bytes)"}},
	{Name: "csv/empty", Object: "t.csv", Format: parsers.FormatCSV, Text: true,
		Data: parserstest.Str(""), Schema: "c1 string", Rows: nil},
	{Name: "csv/gzip-bomb", Object: "bomb.csv.gz", Format: parsers.FormatCSV,
		Opts: parsers.Options{MaxDecompressedBytes: 32 << 10},
		Data: func(tb testing.TB) []byte {
			return parserstest.Gzip(tb, bytes.Repeat([]byte("1,2\n"), 4<<20))
		},
		Err: &parserstest.WantError{Is: parsers.ErrTooLarge, Contains: "max_decompressed_bytes"}},
}

// jsonCases are also the seeds of FuzzJSON and FuzzSniff.
var jsonCases = []parserstest.Case{
	{Name: "json/ndjson-trailing-newline", Object: "t.json", Format: parsers.FormatJSON, Text: true,
		Data:   parserstest.Str(`{"id":1,"u":{"name":"a","tags":[1,2]},"ok":true}` + "\n" + `{"id":2,"u":{"name":"b\u00e9"},"ok":false}` + "\n"),
		Schema: "id int64, u.name string, u.tags json?, ok bool",
		Rows:   [][]any{{int64(1), "a", json.RawMessage(`[1,2]`), true}, {int64(2), "bé", nil, false}}, Lines: []int64{1, 2}},
	{Name: "json/ndjson-no-trailing-newline", Object: "t.ndjson", Format: parsers.FormatJSON, Text: true,
		Data:   parserstest.Str("{\"a\":1.5,\"d\":\"2024-01-02\"}\n\n{\"a\":2,\"d\":null}"),
		Schema: "a float64, d date?",
		Rows:   [][]any{{1.5, "2024-01-02"}, {2.0, nil}}, Lines: []int64{1, 3}},
	{Name: "json/ndjson-bad-line", Object: "t.jsonl", Format: parsers.FormatJSON, Text: true,
		Data:    parserstest.Str("{\"a\":1}\n{\"a\":2,,}\n{\"a\":3}\n{\"a\":\"x\"}\n"),
		Opts:    parsers.Options{SampleRows: 2},
		Rows:    [][]any{{int64(1)}, {int64(3)}},
		Rejects: []parserstest.WantError{{Is: parsers.ErrCorrupt, Line: 2, Byte: 8}, {Is: parsers.ErrType, Line: 4, Column: "a"}}},
	{Name: "json/array", Object: "t.json", Format: parsers.FormatJSON, Text: true,
		Data:   parserstest.Str("[\n  {\"a\": 1, \"b\": {\"c\": {\"d\": 1}}},\n  {\"a\": 2,\n   \"b\": {\"c\": {\"d\": 2}}}\n]\n"),
		Opts:   parsers.Options{JSON: parsers.JSONOptions{MaxDepth: 1}},
		Schema: "a int64, b.c json",
		Rows:   [][]any{{int64(1), json.RawMessage(`{"d": 1}`)}, {int64(2), json.RawMessage(`{"d": 2}`)}}, Lines: []int64{2, 3}},
	{Name: "json/pretty-object", Object: "t.json", Format: parsers.FormatJSON, Text: true,
		Data:   parserstest.Str("{\n  \"id\": 7,\n  \"tags\": [\"a\"]\n}\n{\"id\": 8,\n \"tags\": []}"),
		Schema: "id int64, tags json",
		Rows:   [][]any{{int64(7), json.RawMessage(`["a"]`)}, {int64(8), json.RawMessage(`[]`)}}, Lines: []int64{1, 5}},
	{Name: "json/array-broken", Object: "t.json", Format: parsers.FormatJSON, Text: true,
		Data: parserstest.Str("[{\"a\":1},\n {\"a\":2}\n {\"a\":3}]"),
		Rows: [][]any{{int64(1)}, {int64(2)}},
		Err:  &parserstest.WantError{Is: parsers.ErrCorrupt, Line: 3, Byte: 2}},
}
