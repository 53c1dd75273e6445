package parsers_test

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"math"
	"math/big"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"

	"github.com/s3ingest/s3ingest/parsers"
	"github.com/s3ingest/s3ingest/parsers/parserstest"
)

// The Parquet cases of the conformance suite (package parserstest): they
// run through parsers.Open (sniffing "PAR1"), with micro-reads of 1 to 5
// bytes per Read, batches of 1 to 3 rows, alternating batches (no aliasing),
// without OnReject and with a cancelled context.

// writeParquet writes rows with parquet-go's generic writer.
func writeParquet[T any](tb testing.TB, rows []T, opts ...parquet.WriterOption) []byte {
	tb.Helper()
	var buf bytes.Buffer
	w := parquet.NewGenericWriter[T](&buf, opts...)
	if _, err := w.Write(rows); err != nil {
		tb.Fatal(err)
	}
	if err := w.Close(); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

// confWant is what reading parsers.ParquetConfRows(n) gives.
func confWant(n int) [][]any {
	out := make([][]any, n)
	for i, r := range parsers.ParquetConfRows(n) {
		var name any
		if r.Name != nil {
			name = *r.Name
		}
		out[i] = []any{r.ID, name, r.Score, r.At.Format("2006-01-02T15:04:05.999999Z07:00"), time.Unix(int64(r.Day)*86400, 0).UTC().Format("2006-01-02"), r.OK,
			big.NewRat(r.Price, 100).FloatString(2)}
	}
	return out
}

// rowIndexes are the Batch.Lines of n Parquet rows: 0 to n-1.
func rowIndexes(n int) []int64 {
	l := make([]int64, n)
	for i := range l {
		l[i] = int64(i)
	}
	return l
}

// garbleChunk overwrites the first bytes of the column chunk of row group
// rg, column col.
func garbleChunk(tb testing.TB, data []byte, rg, col int) []byte {
	tb.Helper()
	f, err := parquet.OpenFile(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		tb.Fatal(err)
	}
	md := f.Metadata().RowGroups[rg].Columns[col].MetaData
	start := md.DataPageOffset
	if d := md.DictionaryPageOffset; d > 0 && d < start {
		start = d
	}
	out := bytes.Clone(data)
	for i := start; i < start+12; i++ {
		out[i] = 0xff
	}
	return out
}

func TestParquetConformance(t *testing.T) {
	const schemaText = "id int64, name string?, score float64, at timestamp, day date, ok bool, price string"
	parserstest.Run(t,
		parserstest.Case{Name: "parquet/basic", Object: "t.parquet", Format: parsers.FormatParquet,
			Data: func(tb testing.TB) []byte {
				return writeParquet(tb, parsers.ParquetConfRows(7), parquet.Compression(&parquet.Snappy))
			},
			Schema: schemaText, Rows: confWant(7), Lines: rowIndexes(7),
			Check: func(tb testing.TB, r parsers.Reader) {
				if i := r.Info(); i.RowCount != 7 || i.Compression != parsers.CompressionNone {
					tb.Fatalf("info %+v", i)
				}
			}},
		parserstest.Case{Name: "parquet/row-groups", Object: "data.bin", Format: parsers.FormatParquet,
			Data: func(tb testing.TB) []byte {
				return writeParquet(tb, parsers.ParquetConfRows(8), parquet.MaxRowsPerRowGroup(3), parquet.Compression(&parquet.Zstd))
			},
			Schema: schemaText, Rows: confWant(8), Lines: rowIndexes(8)},
		parserstest.Case{Name: "parquet/empty", Object: "t.parquet", Format: parsers.FormatParquet,
			Data:   func(tb testing.TB) []byte { return writeParquet(tb, []parsers.ParquetConfRow{}) },
			Schema: schemaText},
		parserstest.Case{Name: "parquet/nested", Object: "t.parquet", Format: parsers.FormatParquet,
			Data: func(tb testing.TB) []byte {
				type row struct {
					ID int64            `parquet:"id"`
					L  []int32          `parquet:"l,list"`
					M  map[string]int32 `parquet:"m"`
				}
				return writeParquet(tb, []row{{1, []int32{1, 2}, map[string]int32{"a": 1}}, {2, nil, nil}, {3, []int32{3}, map[string]int32{}}})
			},
			Schema: "id int64, l json, m json",
			Rows: [][]any{{int64(1), json.RawMessage(`[1,2]`), json.RawMessage(`{"a":1}`)}, {int64(2), json.RawMessage(`[]`), json.RawMessage(`{}`)},
				{int64(3), json.RawMessage(`[3]`), json.RawMessage(`{}`)}}},
		parserstest.Case{Name: "parquet/reject-uint64", Object: "t.parquet", Format: parsers.FormatParquet,
			Data: func(tb testing.TB) []byte {
				type row struct {
					ID int64  `parquet:"id"`
					U  uint64 `parquet:"u"`
				}
				rows := []row{{0, 0}, {1, 1}, {2, 2}, {3, 3}, {4, math.MaxUint64}, {5, 5}, {6, 1 << 63}}
				return writeParquet(tb, rows, parquet.MaxRowsPerRowGroup(4))
			},
			Schema:  "id int64, u int64",
			Rows:    [][]any{{int64(0), int64(0)}, {int64(1), int64(1)}, {int64(2), int64(2)}, {int64(3), int64(3)}, {int64(5), int64(5)}},
			Lines:   []int64{0, 1, 2, 3, 5},
			Rejects: []parserstest.WantError{{Is: parsers.ErrType, RowGroup: 1, Row: 4, Column: "u", Contains: `value "18446744073709551615"`}, {Is: parsers.ErrType, RowGroup: 1, Row: 6, Column: "u"}}},
		parserstest.Case{Name: "parquet/corrupt-row-group", Object: "t.parquet", Format: parsers.FormatParquet,
			Data: func(tb testing.TB) []byte {
				return garbleChunk(tb, writeParquet(tb, parsers.ParquetConfRows(6), parquet.MaxRowsPerRowGroup(3)), 1, 2)
			},
			Rows: confWant(3),
			Err:  &parserstest.WantError{Is: parsers.ErrCorrupt, RowGroup: 1, Row: 3, Column: "score", Contains: "page header"}},
		parserstest.Case{Name: "parquet/truncated", Object: "t.parquet", Format: parsers.FormatParquet,
			Data: func(tb testing.TB) []byte {
				b := writeParquet(tb, parsers.ParquetConfRows(5))
				return b[:len(b)-1]
			},
			Err: &parserstest.WantError{Is: parsers.ErrCorrupt, Contains: "does not end with"}},
		parserstest.Case{Name: "parquet/bad-footer-length", Object: "t.parquet", Format: parsers.FormatParquet,
			Data: func(tb testing.TB) []byte {
				b := writeParquet(tb, parsers.ParquetConfRows(5))
				binary.LittleEndian.PutUint32(b[len(b)-8:], uint32(len(b)))
				return b
			},
			Err: &parserstest.WantError{Is: parsers.ErrCorrupt, Contains: "footer length"}},
		parserstest.Case{Name: "parquet/encrypted-footer", Object: "t.parquet", Format: parsers.FormatParquet,
			Data: func(tb testing.TB) []byte {
				b := writeParquet(tb, parsers.ParquetConfRows(5))
				copy(b[len(b)-4:], "PARE")
				return b
			},
			Err: &parserstest.WantError{Is: parsers.ErrUnsupported, Contains: "unsupported: encrypted Parquet file"}},
	)
}
