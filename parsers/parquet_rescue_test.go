package parsers_test

import (
	"math"
	"testing"

	"github.com/parquet-go/parquet-go"

	"github.com/s3ingest/s3ingest/parsers"
	"github.com/s3ingest/s3ingest/parsers/parserstest"
)

// pqDriftRow is a Parquet file full of drift against the schema of
// TestParquetRescueConformance: columns the schema lacks (email, ok,
// score, tags), one named like the rescue column, columns the schema types
// differently (amount: string vs float64), values that do not convert
// (u: UINT64 above int64; big: int64 beyond 2^53 into float64) and columns
// that convert (n: int32 into int64; day: date into timestamp; big).
type pqDriftRow struct {
	ID     int64   `parquet:"id"`
	Email  *string `parquet:"email,optional"`
	Amount string  `parquet:"amount"`
	U      uint64  `parquet:"u"`
	N      int32   `parquet:"n"`
	OK     bool    `parquet:"ok"`
	Score  float64 `parquet:"score"`
	Day    int32   `parquet:"day,date"`
	Big    int64   `parquet:"big"`
	Tags   []int32 `parquet:"tags,list"`
	Resc   string  `parquet:"_rescued"`
}

func TestParquetRescueConformance(t *testing.T) {
	str := func(s string) *string { return &s }
	rows := []pqDriftRow{
		{1, str("a@b.c"), "12.5", 5, 7, true, 1.5, 19723, 3, []int32{1, 2}, "x"},
		{2, nil, "12.3.4", math.MaxUint64, -1, false, math.NaN(), 0, 1 << 60, nil, ""},
		{3, str(""), "", 1 << 63, 0, true, math.Inf(1), 1, -(1 << 53), []int32{}, `{"a":1}`},
	}
	data := func(tb testing.TB) []byte { return writeParquet(tb, rows, parquet.MaxRowsPerRowGroup(2)) }
	opts := rescueOpts(t, "id int64?, amount float64?, u int64?, n int64?, day timestamp?, big float64?, note string?")
	notNull := rescueOpts(t, "id int64?, u int64, n int64?")
	typedNotNull := rescueOpts(t, "id int64?, amount float64")
	parserstest.RunRescue(t,
		parserstest.RescueCase{Case: parserstest.Case{Name: "parquet/rescue-drift", Object: "t.parquet", Format: parsers.FormatParquet,
			Opts: opts, Data: data,
			Schema: "id int64?, amount float64?, u int64?, n int64?, day timestamp?, big float64?, note string?, _rescued json?",
			Rows: [][]any{
				{int64(1), nil, int64(5), int64(7), "2024-01-01T00:00:00Z", 3.0, nil, rj(`{"email":"a@b.c","amount":"12.5","ok":true,"score":1.5,"tags":[1,2],"_rescued":"x"}`)},
				{int64(2), nil, nil, int64(-1), "1970-01-01T00:00:00Z", nil, nil, rj(`{"amount":"12.3.4","u":18446744073709551615,"ok":false,"score":"NaN","big":1152921504606846976,"tags":[],"_rescued":""}`)},
				{int64(3), nil, nil, int64(0), "1970-01-02T00:00:00Z", -9007199254740992.0, nil, rj(`{"email":"","amount":"","u":9223372036854775808,"ok":true,"score":"Infinity","tags":[],"_rescued":"{\"a\":1}"}`)},
			},
			Lines: rowIndexes(3)},
			Source: []map[string]string{
				{"id": "1", "email": "a@b.c", "amount": "12.5", "u": "5", "n": "7", "ok": "true", "score": "1.5", "day": "2024-01-01T00:00:00Z", "big": "3", "tags": "[1,2]", "_rescued": "x"},
				{"id": "2", "amount": "12.3.4", "u": "18446744073709551615", "n": "-1", "ok": "false", "score": "NaN", "day": "1970-01-01T00:00:00Z", "big": "1152921504606846976", "tags": "[]", "_rescued": ""},
				{"id": "3", "email": "", "amount": "", "u": "9223372036854775808", "n": "0", "ok": "true", "score": "Infinity", "day": "1970-01-02T00:00:00Z", "big": "-9.007199254740992e+15", "tags": "[]", "_rescued": `{"a":1}`},
			}},
		// a value that does not convert in a column the schema says is not
		// nullable is still rejected
		parserstest.RescueCase{Case: parserstest.Case{Name: "parquet/rescue-not-null", Object: "t.parquet", Format: parsers.FormatParquet,
			Opts: notNull, Data: data,
			Schema: "id int64?, u int64, n int64?, _rescued json?",
			Rows: [][]any{
				{int64(1), int64(5), int64(7), rj(`{"email":"a@b.c","amount":"12.5","ok":true,"score":1.5,"day":"2024-01-01","big":3,"tags":[1,2],"_rescued":"x"}`)},
			},
			Lines:   []int64{0},
			Rejects: []parserstest.WantError{{Is: parsers.ErrType, RowGroup: 0, Row: 1, Column: "u"}, {Is: parsers.ErrType, RowGroup: 1, Row: 2, Column: "u"}}},
			Source: []map[string]string{
				{"id": "1", "email": "a@b.c", "amount": "12.5", "u": "5", "n": "7", "ok": "true", "score": "1.5", "day": "2024-01-01", "big": "3", "tags": "[1,2]", "_rescued": "x"},
			}},
		// a column the file types differently is rescued whole: a schema
		// column that is not nullable rejects every row
		parserstest.RescueCase{Case: parserstest.Case{Name: "parquet/rescue-typed-not-null", Object: "t.parquet", Format: parsers.FormatParquet,
			Opts: typedNotNull, Data: data,
			Schema: "id int64?, amount float64, _rescued json?",
			Rejects: []parserstest.WantError{
				{Is: parsers.ErrType, RowGroup: 0, Row: 0, Column: "amount", Contains: "has another type (its values are rescued)"},
				{Is: parsers.ErrType, RowGroup: 0, Row: 1, Column: "amount"}, {Is: parsers.ErrType, RowGroup: 1, Row: 2, Column: "amount"}}}},
	)
}
