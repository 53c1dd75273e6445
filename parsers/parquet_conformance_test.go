package parsers

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"math"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"
)

// Parquet cases of the conformance suite (conformance_test.go): they run
// through Open (sniffing "PAR1"), with micro-reads of 1 to 5 bytes per Read,
// batches of 1 to 3 rows, alternating batches (no aliasing) and a cancelled
// context.

type pqConfRow struct {
	ID    int64     `parquet:"id"`
	Name  *string   `parquet:"name,optional"`
	Score float64   `parquet:"score"`
	At    time.Time `parquet:"at,timestamp(millisecond)"`
	Day   int32     `parquet:"day,date"`
	OK    bool      `parquet:"ok"`
	Price int64     `parquet:"price,decimal(2:12)"`
}

func pqConfRows(n int) []pqConfRow {
	rows := make([]pqConfRow, n)
	for i := range rows {
		rows[i] = pqConfRow{ID: int64(i + 1), Score: float64(i) + 0.5, At: time.UnixMilli(1704067200000 + int64(i)*1500).UTC(),
			Day: int32(19723 + i), OK: i%2 == 0, Price: int64(i*100 + 5)}
		if i%3 != 1 {
			s := string(rune('a' + i))
			rows[i].Name = &s
		}
	}
	return rows
}

func pqConfWant(n int) [][]any {
	out := make([][]any, n)
	for i, r := range pqConfRows(n) {
		var name any
		if r.Name != nil {
			name = *r.Name
		}
		out[i] = []any{r.ID, name, r.Score, r.At.Format("2006-01-02T15:04:05.999999Z07:00"), time.Unix(int64(r.Day)*86400, 0).UTC().Format("2006-01-02"), r.OK,
			pqDecimalText(r.Price, 2)}
	}
	return out
}

func pqDecimalText(v int64, scale int) string { return string(pqAppendDecimal(nil, v, scale)) }

func pqLines(n int) []int64 {
	l := make([]int64, n)
	for i := range l {
		l[i] = int64(i)
	}
	return l
}

// pqGarbleChunk overwrites the first bytes of the column chunk of row group
// rg, column col.
func pqGarbleChunk(tb testing.TB, data []byte, rg, col int) []byte {
	tb.Helper()
	f, err := parquet.OpenFile(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		tb.Fatal(err)
	}
	start, _ := pqChunkRange(&f.Metadata().RowGroups[rg].Columns[col])
	out := bytes.Clone(data)
	for i := start; i < start+12; i++ {
		out[i] = 0xff
	}
	return out
}

func init() {
	const schemaText = "id int64, name string?, score float64, at timestamp, day date, ok bool, price string"
	registerConformance(
		conformanceCase{Name: "parquet/basic", Object: "t.parquet", Format: FormatParquet,
			Data: func(tb testing.TB) []byte {
				return pqWriteFile(tb, pqConfRows(7), parquet.Compression(&parquet.Snappy))
			},
			Schema: schemaText, Rows: pqConfWant(7), Lines: pqLines(7),
			Check: func(tb testing.TB, r Reader) {
				if i := r.Info(); i.RowCount != 7 || i.Compression != CompressionNone {
					tb.Fatalf("info %+v", i)
				}
			}},
		conformanceCase{Name: "parquet/row-groups", Object: "data.bin", Format: FormatParquet,
			Data: func(tb testing.TB) []byte {
				return pqWriteFile(tb, pqConfRows(8), parquet.MaxRowsPerRowGroup(3), parquet.Compression(&parquet.Zstd))
			},
			Schema: schemaText, Rows: pqConfWant(8), Lines: pqLines(8)},
		conformanceCase{Name: "parquet/empty", Object: "t.parquet", Format: FormatParquet,
			Data:   func(tb testing.TB) []byte { return pqWriteFile(tb, []pqConfRow{}) },
			Schema: schemaText},
		conformanceCase{Name: "parquet/nested", Object: "t.parquet", Format: FormatParquet,
			Data: func(tb testing.TB) []byte {
				type row struct {
					ID int64            `parquet:"id"`
					L  []int32          `parquet:"l,list"`
					M  map[string]int32 `parquet:"m"`
				}
				return pqWriteFile(tb, []row{{1, []int32{1, 2}, map[string]int32{"a": 1}}, {2, nil, nil}, {3, []int32{3}, map[string]int32{}}})
			},
			Schema: "id int64, l json, m json",
			Rows: [][]any{{int64(1), json.RawMessage(`[1,2]`), json.RawMessage(`{"a":1}`)}, {int64(2), json.RawMessage(`[]`), json.RawMessage(`{}`)},
				{int64(3), json.RawMessage(`[3]`), json.RawMessage(`{}`)}}},
		conformanceCase{Name: "parquet/reject-uint64", Object: "t.parquet", Format: FormatParquet,
			Data: func(tb testing.TB) []byte {
				type row struct {
					ID int64  `parquet:"id"`
					U  uint64 `parquet:"u"`
				}
				rows := []row{{0, 0}, {1, 1}, {2, 2}, {3, 3}, {4, math.MaxUint64}, {5, 5}, {6, 1 << 63}}
				return pqWriteFile(tb, rows, parquet.MaxRowsPerRowGroup(4))
			},
			Schema:  "id int64, u int64",
			Rows:    [][]any{{int64(0), int64(0)}, {int64(1), int64(1)}, {int64(2), int64(2)}, {int64(3), int64(3)}, {int64(5), int64(5)}},
			Lines:   []int64{0, 1, 2, 3, 5},
			Rejects: []wantError{{Is: ErrType, RowGroup: 1, Row: 4, Column: "u", Contains: `value "18446744073709551615"`}, {Is: ErrType, RowGroup: 1, Row: 6, Column: "u"}}},
		conformanceCase{Name: "parquet/corrupt-row-group", Object: "t.parquet", Format: FormatParquet,
			Data: func(tb testing.TB) []byte {
				return pqGarbleChunk(tb, pqWriteFile(tb, pqConfRows(6), parquet.MaxRowsPerRowGroup(3)), 1, 2)
			},
			Rows: pqConfWant(3),
			Err:  &wantError{Is: ErrCorrupt, RowGroup: 1, Row: 3, Column: "score", Contains: "page header"}},
		conformanceCase{Name: "parquet/truncated", Object: "t.parquet", Format: FormatParquet,
			Data: func(tb testing.TB) []byte {
				b := pqWriteFile(tb, pqConfRows(5))
				return b[:len(b)-1]
			},
			Err: &wantError{Is: ErrCorrupt, Contains: "does not end with"}},
		conformanceCase{Name: "parquet/bad-footer-length", Object: "t.parquet", Format: FormatParquet,
			Data: func(tb testing.TB) []byte {
				b := pqWriteFile(tb, pqConfRows(5))
				binary.LittleEndian.PutUint32(b[len(b)-8:], uint32(len(b)))
				return b
			},
			Err: &wantError{Is: ErrCorrupt, Contains: "footer length"}},
		conformanceCase{Name: "parquet/encrypted-footer", Object: "t.parquet", Format: FormatParquet,
			Data: func(tb testing.TB) []byte {
				b := pqWriteFile(tb, pqConfRows(5))
				copy(b[len(b)-4:], "PARE")
				return b
			},
			Err: &wantError{Is: ErrUnsupported, Contains: "unsupported: encrypted Parquet file"}},
	)
}
