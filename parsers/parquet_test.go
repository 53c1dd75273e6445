package parsers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/big"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/deprecated"

	engine "github.com/s3ingest/s3ingest/parsers/internal/parquet"
	"github.com/s3ingest/s3ingest/parsers/schema"
)

// pqTypeCase is one column type: a file with one column, and what reading
// it must give.
type pqTypeCase struct {
	name     string
	file     func(t *testing.T) []byte
	typ      schema.Type
	nullable bool
	reason   string // the Reason must start with this
	want     []any  // values of the column (schema.Vector.Value)
}

// pqOne writes rows of a one-field struct.
func pqOne[T any](rows ...T) func(t *testing.T) []byte {
	return func(t *testing.T) []byte {
		t.Helper()
		return pqWriteFile(t, rows)
	}
}

func pqBE(x *big.Int, size int) []byte {
	b := make([]byte, size)
	if x.Sign() >= 0 {
		x.FillBytes(b)
		return b
	}
	// two's complement
	m := new(big.Int).Add(new(big.Int).Lsh(big.NewInt(1), uint(8*size)), x)
	m.FillBytes(b)
	return b
}

func TestParquetTypeMapping(t *testing.T) {
	type (
		boolT struct {
			V bool `parquet:"v"`
		}
		int8T struct {
			V int8 `parquet:"v"`
		}
		int32T struct {
			V int32 `parquet:"v"`
		}
		uint8T struct {
			V uint8 `parquet:"v"`
		}
		uint32T struct {
			V uint32 `parquet:"v"`
		}
		uint64T struct {
			V uint64 `parquet:"v"`
		}
		int64T struct {
			V int64 `parquet:"v"`
		}
		f32T struct {
			V float32 `parquet:"v"`
		}
		f64T struct {
			V float64 `parquet:"v"`
		}
		dateT struct {
			V int32 `parquet:"v,date"`
		}
		tsMsT struct {
			V int64 `parquet:"v,timestamp(millisecond)"`
		}
		tsUsT struct {
			V int64 `parquet:"v,timestamp(microsecond)"`
		}
		tsNsT struct {
			V int64 `parquet:"v,timestamp(nanosecond)"`
		}
		tsLocalT struct {
			V int64 `parquet:"v,timestamp(microsecond:local)"`
		}
		timeT struct {
			V time.Time `parquet:"v,timestamp(microsecond)"`
		}
		timeMsT struct {
			V int32 `parquet:"v,time(millisecond)"`
		}
		timeUsT struct {
			V int64 `parquet:"v,time(microsecond)"`
		}
		timeNsT struct {
			V int64 `parquet:"v,time(nanosecond)"`
		}
		dec32T struct {
			V int32 `parquet:"v,decimal(2:9)"`
		}
		dec64T struct {
			V int64 `parquet:"v,decimal(3:18)"`
		}
		decBytesT struct {
			V []byte `parquet:"v,decimal(2:30)"`
		}
		decFixedT struct {
			V [16]byte `parquet:"v,decimal(4:38)"`
		}
		strT struct {
			V string `parquet:"v"`
		}
		enumT struct {
			V string `parquet:"v,enum"`
		}
		uuidT struct {
			V [16]byte `parquet:"v,uuid"`
		}
		jsonT struct {
			V string `parquet:"v,json"`
		}
		rawT struct {
			V []byte `parquet:"v"`
		}
		fixedT struct {
			V [4]byte `parquet:"v"`
		}
		int96T struct {
			V deprecated.Int96 `parquet:"v"`
		}
		optT struct {
			V *int64 `parquet:"v,optional"`
		}
		optStrT struct {
			V *string `parquet:"v,optional,dict"`
		}
		dictT struct {
			V string `parquet:"v,dict"`
		}
	)
	ptr := func(v int64) *int64 { return &v }
	sptr := func(v string) *string { return &v }
	two100 := new(big.Int).Lsh(big.NewInt(1), 100)
	bigNeg, _ := new(big.Int).SetString("-12345678901234567890123", 10)
	var uuid [16]byte
	for i := range uuid {
		uuid[i] = byte(i)
	}
	// 2024-01-01 is epoch day 19723, Julian day 2460311.
	int96 := deprecated.Int96{1001, 0, 2460311}
	at := time.Date(2024, 1, 2, 3, 4, 5, 123456000, time.UTC)

	cases := []pqTypeCase{
		{"bool", pqOne(boolT{true}, boolT{false}), schema.Bool, false, "bool: Parquet BOOLEAN", []any{true, false}},
		{"int8", pqOne(int8T{-8}, int8T{127}), schema.Int64, false, "int64: Parquet INT32 INT(8, signed)", []any{int64(-8), int64(127)}},
		{"int32", pqOne(int32T{math.MinInt32}, int32T{7}), schema.Int64, false, "int64: Parquet INT32", []any{int64(math.MinInt32), int64(7)}},
		{"uint8", pqOne(uint8T{200}), schema.Int64, false, "int64: Parquet INT32 INT(8, unsigned)", []any{int64(200)}},
		{"uint32", pqOne(uint32T{4000000000}), schema.Int64, false, "int64: Parquet INT32 INT(32, unsigned)", []any{int64(4000000000)}},
		{"uint64", pqOne(uint64T{math.MaxInt64}, uint64T{0}), schema.Int64, false, "int64: Parquet INT64 INT(64, unsigned); a value above", []any{int64(math.MaxInt64), int64(0)}},
		{"int64", pqOne(int64T{math.MinInt64}, int64T{math.MaxInt64}), schema.Int64, false, "int64: Parquet INT64", []any{int64(math.MinInt64), int64(math.MaxInt64)}},
		{"float", pqOne(f32T{1.5}, f32T{float32(math.Inf(-1))}), schema.Float64, false, "float64: Parquet FLOAT", []any{1.5, math.Inf(-1)}},
		{"double", pqOne(f64T{0.1}, f64T{-2e300}), schema.Float64, false, "float64: Parquet DOUBLE", []any{0.1, -2e300}},
		{"date", pqOne(dateT{19723}, dateT{-1}), schema.Date, false, "date: Parquet INT32 DATE", []any{"2024-01-01", "1969-12-31"}},
		{"timestamp millis", pqOne(tsMsT{1704067200123}), schema.Timestamp, false, "timestamp: Parquet INT64 TIMESTAMP(MILLIS, UTC)", []any{"2024-01-01T00:00:00.123Z"}},
		{"timestamp micros", pqOne(tsUsT{1704067200123456}), schema.Timestamp, false, "timestamp: Parquet INT64 TIMESTAMP(MICROS, UTC)", []any{"2024-01-01T00:00:00.123456Z"}},
		{"timestamp nanos", pqOne(tsNsT{1704067200123456789}, tsNsT{-1}), schema.Timestamp, false, "timestamp: Parquet INT64 TIMESTAMP(NANOS, UTC), nanoseconds truncated", []any{"2024-01-01T00:00:00.123456Z", "1969-12-31T23:59:59.999999Z"}},
		{"timestamp local", pqOne(tsLocalT{1704067200000000}), schema.Timestamp, false, "timestamp: Parquet INT64 TIMESTAMP(MICROS, local), a wall-clock time read as UTC", []any{"2024-01-01T00:00:00Z"}},
		{"time.Time", pqOne(timeT{at}), schema.Timestamp, false, "timestamp: Parquet INT64 TIMESTAMP(MICROS, UTC)", []any{"2024-01-02T03:04:05.123456Z"}},
		{"time millis", pqOne(timeMsT{45296789}), schema.String, false, "string: Parquet INT32 TIME(MILLIS, UTC), as text", []any{"12:34:56.789000"}},
		{"time micros", pqOne(timeUsT{45296789012}), schema.String, false, "string: Parquet INT64 TIME(MICROS, UTC), as text", []any{"12:34:56.789012"}},
		{"time nanos", pqOne(timeNsT{45296789012345}), schema.String, false, "string: Parquet INT64 TIME(NANOS, UTC), as text", []any{"12:34:56.789012345"}},
		{"decimal int32", pqOne(dec32T{-1230}, dec32T{5}, dec32T{0}), schema.String, false, "string: Parquet INT32 DECIMAL(9, 2), exact decimal text (a float would round)", []any{"-12.30", "0.05", "0.00"}},
		{"decimal int64", pqOne(dec64T{123456789012345678}, dec64T{math.MinInt64}), schema.String, false, "string: Parquet INT64 DECIMAL(18, 3), exact decimal text", []any{"123456789012345.678", "-9223372036854775.808"}},
		{"decimal bytes", pqOne(decBytesT{pqBE(bigNeg, 13)}, decBytesT{pqBE(big.NewInt(7), 13)}), schema.String, false, "string: Parquet FIXED_LEN_BYTE_ARRAY(13) DECIMAL(30, 2), exact", []any{"-123456789012345678901.23", "0.07"}},
		{"decimal fixed", pqOne(decFixedT{[16]byte(pqBE(two100, 16))}, decFixedT{[16]byte(pqBE(big.NewInt(-1), 16))}), schema.String, false, "string: Parquet FIXED_LEN_BYTE_ARRAY(16) DECIMAL(38, 4), exact", []any{"126765060022822940149670320.5376", "-0.0001"}},
		{"string", pqOne(strT{"héllo"}, strT{""}, strT{"tab\there"}), schema.String, false, "string: Parquet BYTE_ARRAY STRING", []any{"héllo", "", "tab\there"}},
		{"enum", pqOne(enumT{"RED"}), schema.String, false, "string: Parquet BYTE_ARRAY ENUM", []any{"RED"}},
		{"uuid", pqOne(uuidT{uuid}), schema.String, false, "string: Parquet FIXED_LEN_BYTE_ARRAY(16) UUID, canonical", []any{"00010203-0405-0607-0809-0a0b0c0d0e0f"}},
		{"json", pqOne(jsonT{`{"a":[1,2]}`}, jsonT{`null`}), schema.JSON, false, "json: Parquet BYTE_ARRAY JSON", []any{json.RawMessage(`{"a":[1,2]}`), json.RawMessage(`null`)}},
		{"bytes", pqOne(rawT{[]byte("abc")}, rawT{[]byte{0xff, 0xfe}}, rawT{[]byte{0, 1}}, rawT{[]byte{}}), schema.String, false, "string: Parquet BYTE_ARRAY without logical type: UTF-8 text as is, other (binary) values base64-encoded", []any{"abc", "//4=", "AAE=", ""}},
		{"bytes splitting a character", pqOne(rawT{[]byte{0xc3}}, rawT{[]byte{0xa9}}, rawT{[]byte("é")}), schema.String, false, "string: Parquet BYTE_ARRAY without logical type", []any{"ww==", "qQ==", "é"}},
		{"fixed bytes", pqOne(fixedT{[4]byte{'a', 'b', 'c', 'd'}}, fixedT{[4]byte{0, 1, 2, 3}}), schema.String, false, "string: Parquet FIXED_LEN_BYTE_ARRAY(4) without logical type", []any{"abcd", "AAECAw=="}},
		{"int96", pqOne(int96T{int96}), schema.Timestamp, false, "timestamp: Parquet INT96 (legacy Impala/Spark timestamp)", []any{"2024-01-01T00:00:00.000001Z"}},
		{"optional", pqOne(optT{ptr(3)}, optT{nil}, optT{ptr(-4)}), schema.Int64, true, "int64: Parquet INT64", []any{int64(3), nil, int64(-4)}},
		{"optional dictionary string", pqOne(optStrT{sptr("a")}, optStrT{nil}, optStrT{sptr("b")}, optStrT{sptr("a")}), schema.String, true, "string: Parquet BYTE_ARRAY STRING", []any{"a", nil, "b", "a"}},
		{"dictionary string", pqOne(dictT{"x"}, dictT{"y"}, dictT{"x"}), schema.String, false, "string: Parquet BYTE_ARRAY STRING", []any{"x", "y", "x"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := pqOpenBytes(t, tc.file(t), Options{})
			defer r.Close()
			f := r.Schema().Fields
			if len(f) != 1 || f[0].Name != "v" {
				t.Fatalf("schema %s, want one column v", r.Schema())
			}
			if f[0].Type != tc.typ || f[0].Nullable != tc.nullable {
				t.Errorf("type %s nullable %v, want %s %v", f[0].Type, f[0].Nullable, tc.typ, tc.nullable)
			}
			if !strings.HasPrefix(f[0].Reason, tc.reason) {
				t.Errorf("reason %q, want prefix %q", f[0].Reason, tc.reason)
			}
			rows, _, err := pqReadAll(context.Background(), r, 100)
			if err != nil {
				t.Fatal(err)
			}
			var got []any
			for _, row := range rows {
				got = append(got, row[0])
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("values\n got %#v\nwant %#v", got, tc.want)
			}
		})
	}
}

// TestParquetColumnOrder checks that columns keep the file's field order
// (a struct's declaration order here, not sorted by name).
func TestParquetColumnOrder(t *testing.T) {
	type row struct {
		Zeta  int64  `parquet:"zeta"`
		Alpha string `parquet:"alpha"`
		Mid   bool   `parquet:"mid"`
	}
	r := pqOpenBytes(t, pqWriteFile(t, []row{{1, "a", true}}), Options{})
	defer r.Close()
	if got := strings.Join(r.Schema().Names(), ","); got != "zeta,alpha,mid" {
		t.Fatalf("columns %s, want zeta,alpha,mid", got)
	}
	rows, _, err := pqReadAll(context.Background(), r, 10)
	if err != nil || !reflect.DeepEqual(rows, [][]any{{int64(1), "a", true}}) {
		t.Fatalf("rows %v, %v", rows, err)
	}
}

func TestParquetNestedJSON(t *testing.T) {
	type item struct {
		X int32  `parquet:"x"`
		Y string `parquet:"y"`
	}
	type inner struct {
		A int32   `parquet:"a"`
		B *string `parquet:"b,optional"`
	}
	type row struct {
		ID   int64            `parquet:"id"`
		L    []int64          `parquet:"l,list"`
		OL   []*string        `parquet:"ol,list" parquet-element:",optional"`
		M    map[string]int64 `parquet:"m"`
		St   inner            `parquet:"st"`
		OSt  *inner           `parquet:"ost,optional"`
		Rep  []string         `parquet:"rep"`
		LS   []item           `parquet:"ls,list"`
		LL   [][]int32        `parquet:"ll,list" parquet-element:",list"`
		Tail float64          `parquet:"tail"`
	}
	s := func(v string) *string { return &v }
	rows := []row{
		{ID: 1, L: []int64{1, 2}, OL: []*string{s("a"), nil, s("c")}, M: map[string]int64{"k": 7}, St: inner{1, s("x")},
			OSt: &inner{2, nil}, Rep: []string{"p", "q"}, LS: []item{{1, "u"}, {2, "v\"w"}}, LL: [][]int32{{1}, {}, {2, 3}}, Tail: 0.5},
		{ID: 2, Tail: 1},
	}
	r := pqOpenBytes(t, pqWriteFile(t, rows), Options{})
	defer r.Close()
	wantSchema := "id int64, l json, ol json, m json, st json, ost json?, rep json, ls json, ll json, tail float64"
	if got := r.Schema().String(); got != wantSchema {
		t.Fatalf("schema\n got %s\nwant %s", got, wantSchema)
	}
	for _, f := range r.Schema().Fields[1:9] {
		if !strings.HasPrefix(f.Reason, "json: Parquet ") {
			t.Errorf("%s: reason %q", f.Name, f.Reason)
		}
	}
	got, _, err := pqReadAll(context.Background(), r, 10)
	if err != nil {
		t.Fatal(err)
	}
	want := [][]string{
		{`[1,2]`, `["a",null,"c"]`, `{"k":7}`, `{"a":1,"b":"x"}`, `{"a":2,"b":null}`, `["p","q"]`, `[{"x":1,"y":"u"},{"x":2,"y":"v\"w"}]`, `[[1],[],[2,3]]`},
		{`[]`, `[]`, `{}`, `{"a":0,"b":null}`, `NULL`, `[]`, `[]`, `[]`},
	}
	for i, row := range got {
		for j, w := range want[i] {
			v := row[j+1]
			var text string
			if v == nil {
				text = "NULL"
			} else {
				raw, ok := v.(json.RawMessage)
				if !ok {
					t.Fatalf("row %d column %d: %T, want json.RawMessage", i, j+1, v)
				}
				if !json.Valid(raw) {
					t.Errorf("row %d column %d: invalid JSON %s", i, j+1, raw)
				}
				text = string(raw)
			}
			if text != w {
				t.Errorf("row %d column %s: %s, want %s", i, r.Schema().Fields[j+1].Name, text, w)
			}
		}
	}
}

// TestParquetRowGroups reads a file of many row groups in batches that span
// them.
func TestParquetRowGroups(t *testing.T) {
	const n = 10000
	data := pqWriteFile(t, pqBenchRows(n), parquet.MaxRowsPerRowGroup(777), parquet.Compression(&parquet.Zstd))
	for _, batch := range []int{1, 3, 1000, 8192} {
		r := pqOpenBytes(t, data, Options{BatchRows: batch})
		if r.Info().RowCount != n {
			t.Fatalf("RowCount %d", r.Info().RowCount)
		}
		rows, lines, err := pqReadAll(context.Background(), r, batch)
		r.Close()
		if err != nil {
			t.Fatal(err)
		}
		if len(rows) != n {
			t.Fatalf("batch %d: %d rows", batch, len(rows))
		}
		for i, row := range rows {
			if row[0] != int64(i) || lines[i] != int64(i) {
				t.Fatalf("batch %d: row %d has id %v, line %d", batch, i, row[0], lines[i])
			}
		}
	}
}

// TestParquetNextContract checks the Reader contract: io.EOF with an empty
// batch at the end and after it, batches of at most BatchRows rows, a
// mismatched batch refused, Close idempotent and Next after Close an error.
func TestParquetNextContract(t *testing.T) {
	data := pqWriteFile(t, pqBenchRows(10))
	r := pqOpenBytes(t, data, Options{BatchRows: 4})
	ctx := context.Background()
	if err := r.Next(ctx, schema.NewBatch(&schema.Schema{}, 1)); err == nil || errors.Is(err, io.EOF) {
		t.Fatalf("a batch of another schema: %v", err)
	}
	b := schema.NewBatch(r.Schema(), 4)
	var sizes []int
	for {
		err := r.Next(ctx, b)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		sizes = append(sizes, b.Len())
	}
	if fmt.Sprint(sizes) != "[4 4 2]" {
		t.Fatalf("batch sizes %v", sizes)
	}
	for range 2 {
		if err := r.Next(ctx, b); err != io.EOF || b.Len() != 0 {
			t.Fatalf("after the end: %v, %d rows", err, b.Len())
		}
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if err := r.Next(ctx, b); err == nil || err == io.EOF {
		t.Fatalf("Next after Close: %v", err)
	}
}

// TestParquetNoAliasing checks that a batch's values do not change when the
// reader fills another batch (values are copied out of parquet-go's pages).
func TestParquetNoAliasing(t *testing.T) {
	data := pqWriteFile(t, pqBenchRows(5000), parquet.PageBufferSize(4096))
	r := pqOpenBytes(t, data, Options{BatchRows: 700})
	defer r.Close()
	ctx := context.Background()
	b1, b2 := schema.NewBatch(r.Schema(), 700), schema.NewBatch(r.Schema(), 700)
	if err := r.Next(ctx, b1); err != nil {
		t.Fatal(err)
	}
	snap := pqSnapshot(b1)
	for {
		if err := r.Next(ctx, b2); err != nil {
			if err == io.EOF {
				break
			}
			t.Fatal(err)
		}
		if !reflect.DeepEqual(pqSnapshot(b1), snap) {
			t.Fatal("the first batch changed while the reader filled another one")
		}
	}
}

func pqSnapshot(b *schema.Batch) [][]any {
	var out [][]any
	for i := range b.Len() {
		out = append(out, b.Row(i))
	}
	return out
}

// TestParquetBatchSizesAgree reads the same file with batches of 1 to 5 rows
// and with large batches: the rows are the same.
func TestParquetBatchSizesAgree(t *testing.T) {
	data := pqWriteFile(t, pqBenchRows(300), parquet.PageBufferSize(1024), parquet.MaxRowsPerRowGroup(70))
	var want [][]any
	for _, batch := range []int{8192, 1, 2, 3, 4, 5} {
		r := pqOpenBytes(t, data, Options{BatchRows: batch})
		got, _, err := pqReadAll(context.Background(), r, batch)
		r.Close()
		if err != nil {
			t.Fatal(err)
		}
		if want == nil {
			want = got
			continue
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("batches of %d rows read other rows", batch)
		}
	}
}

type pqU64Row struct {
	ID int64  `parquet:"id"`
	U  uint64 `parquet:"u"`
	S  string `parquet:"s"`
}

func pqU64File(t *testing.T, n int, bad map[int]bool, rowsPerGroup int) []byte {
	rows := make([]pqU64Row, n)
	for i := range rows {
		rows[i] = pqU64Row{ID: int64(i), U: uint64(i), S: fmt.Sprint("s", i)}
		if bad[i] {
			rows[i].U = math.MaxUint64 - uint64(i)
		}
	}
	return pqWriteFile(t, rows, parquet.MaxRowsPerRowGroup(int64(rowsPerGroup)))
}

// TestParquetRowErrors checks row-level errors: their exact position, the
// rows before them handed over first without OnReject, and skipped rows
// with an OnReject that returns nil.
func TestParquetRowErrors(t *testing.T) {
	bad := map[int]bool{1234: true, 1235: true, 4000: true}
	data := pqU64File(t, 5000, bad, 1000)
	ctx := context.Background()

	t.Run("no OnReject", func(t *testing.T) {
		r := pqOpenBytes(t, data, Options{BatchRows: 1000})
		defer r.Close()
		rows, _, err := pqReadAll(ctx, r, 1000)
		var pe *ParseError
		if !errors.As(err, &pe) || !errors.Is(err, ErrType) {
			t.Fatalf("error %v, want a ParseError wrapping ErrType", err)
		}
		if len(rows) != 1234 {
			t.Fatalf("%d rows before the error, want 1234", len(rows))
		}
		if pe.RowGroup != 1 || pe.Row != 1234 || pe.Column != "u" || pe.Value != "18446744073709550381" || pe.Line != 0 {
			t.Fatalf("error at %+v", pe)
		}
		if !strings.Contains(pe.Error(), "row group 1, row 1234") {
			t.Fatalf("message %q", pe.Error())
		}
		b := schema.NewBatch(r.Schema(), 10)
		if err2 := r.Next(ctx, b); err2 != err {
			t.Fatalf("after a fatal row error Next returned %v", err2)
		}
	})
	t.Run("OnReject skips", func(t *testing.T) {
		var rejected []int64
		r := pqOpenBytes(t, data, Options{BatchRows: 999, OnReject: func(pe *ParseError) error {
			rejected = append(rejected, pe.Row)
			return nil
		}})
		defer r.Close()
		rows, lines, err := pqReadAll(ctx, r, 999)
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(rejected) != "[1234 1235 4000]" || len(rows) != 5000-3 {
			t.Fatalf("rejected %v, %d rows", rejected, len(rows))
		}
		for i, row := range rows {
			id := row[0].(int64)
			if lines[i] != id || bad[int(id)] || row[1] != id || row[2] != fmt.Sprint("s", id) {
				t.Fatalf("row %d: %v line %d", i, row, lines[i])
			}
		}
	})
	t.Run("OnReject stops", func(t *testing.T) {
		stop := errors.New("budget exceeded")
		r := pqOpenBytes(t, data, Options{OnReject: func(pe *ParseError) error {
			if pe.Row == 4000 {
				return stop
			}
			return nil
		}})
		defer r.Close()
		rows, _, err := pqReadAll(ctx, r, 8192)
		if err != stop || len(rows) != 4000-2 {
			t.Fatalf("%v after %d rows", err, len(rows))
		}
	})
	t.Run("as string", func(t *testing.T) {
		want := &schema.Schema{Fields: []schema.Field{{Name: "u", Type: schema.String}}}
		r := pqOpenBytes(t, data, Options{Schema: want})
		defer r.Close()
		rows, _, err := pqReadAll(ctx, r, 8192)
		if err != nil || len(rows) != 5000 || rows[1234][0] != "18446744073709550381" || rows[7][0] != "7" {
			t.Fatalf("%v, %d rows", err, len(rows))
		}
	})
}

// TestParquetInvalidValues checks the other row-level conversions.
func TestParquetInvalidValues(t *testing.T) {
	type row struct {
		S string `parquet:"s"`
		J string `parquet:"j,json"`
	}
	data := pqWriteFile(t, []row{{"ok", `{}`}, {"bad\xff", `{}`}, {"ok", `{"x"`}, {"fine", `[1]`}, {"\xc3", `1`}, {"\xa9", `2`}})
	var msgs []string
	r := pqOpenBytes(t, data, Options{OnReject: func(pe *ParseError) error {
		msgs = append(msgs, fmt.Sprintf("%d %s %v", pe.Row, pe.Column, pe.Err))
		return nil
	}})
	defer r.Close()
	rows, _, err := pqReadAll(context.Background(), r, 10)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"1 s wrong type: invalid UTF-8 in a STRING value", "2 j wrong type: invalid JSON in a JSON value",
		"4 s wrong type: invalid UTF-8 in a STRING value", "5 s wrong type: invalid UTF-8 in a STRING value"}
	if !reflect.DeepEqual(msgs, want) || len(rows) != 2 || rows[1][0] != "fine" {
		t.Fatalf("rejects %q, rows %v", msgs, rows)
	}
}

func TestParquetOptionsSchema(t *testing.T) {
	type row struct {
		ID   int64     `parquet:"id"`
		Name string    `parquet:"name"`
		At   time.Time `parquet:"at,timestamp(millisecond)"`
		Day  int32     `parquet:"day,date"`
		Opt  *int64    `parquet:"opt,optional"`
		Dec  int64     `parquet:"dec,decimal(2:10)"`
		L    []int32   `parquet:"l,list"`
	}
	at := time.Date(2024, 5, 6, 7, 8, 9, 10e6, time.UTC)
	seven := int64(7)
	data := pqWriteFile(t, []row{{ID: 1, Name: "a", At: at, Day: 1, Dec: 12345, L: []int32{1}}, {ID: 2, Opt: &seven}})
	f := func(name string, typ schema.Type, nullable bool) schema.Field {
		return schema.Field{Name: name, Type: typ, Nullable: nullable}
	}
	s := func(fields ...schema.Field) *schema.Schema { return &schema.Schema{Fields: fields} }
	cases := []struct {
		name    string
		schema  *schema.Schema
		want    [][]any
		rejects []string
		err     string
	}{
		{"subset reordered", s(f("name", schema.String, false), f("id", schema.Int64, false)), [][]any{{"a", int64(1)}, {"", int64(2)}}, nil, ""},
		{"missing column is null", s(f("nope", schema.Int64, true), f("id", schema.Int64, false)), [][]any{{nil, int64(1)}, {nil, int64(2)}}, nil, ""},
		{"as text", s(f("id", schema.String, false), f("at", schema.String, false), f("day", schema.String, false), f("opt", schema.String, true), f("dec", schema.String, false)),
			[][]any{{"1", "2024-05-06T07:08:09.01Z", "1970-01-02", nil, "123.45"}, {"2", "0001-01-01T00:00:00Z", "1970-01-01", "7", "0.00"}}, nil, ""},
		{"json as string", s(f("l", schema.String, false)), [][]any{{"[1]"}, {"[]"}}, nil, ""},
		{"null in a non-nullable column", s(f("id", schema.Int64, false), f("opt", schema.Int64, false)), [][]any{{int64(2), int64(7)}}, []string{"0 opt null in a column that is not nullable"}, ""},
		{"missing non-nullable column", s(f("id", schema.Int64, false), f("nope", schema.Int64, false)), nil,
			[]string{"0 nope null in a column that is not nullable", "1 nope null in a column that is not nullable"}, ""},
		{"incompatible", s(f("name", schema.Int64, false)), nil, nil, `unsupported: column "name" is string in the file`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var rejects []string
			opts := Options{Schema: tc.schema, OnReject: func(pe *ParseError) error {
				if !errors.Is(pe, ErrType) {
					t.Errorf("reject %v", pe)
				}
				rejects = append(rejects, fmt.Sprintf("%d %s %s", pe.Row, pe.Column, strings.TrimPrefix(pe.Err.Error(), "wrong type: ")))
				return nil
			}}
			r, err := openParquet(context.Background(), newPQRangeObject("x.parquet", data), opts)
			if tc.err != "" {
				var pe *ParseError
				if !errors.As(err, &pe) || !errors.Is(err, ErrUnsupported) || !strings.HasPrefix(pe.Err.Error(), tc.err) {
					t.Fatalf("error %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			if r.Schema() != tc.schema {
				t.Fatalf("schema %s is not the given one", r.Schema())
			}
			rows, _, err := pqReadAll(context.Background(), r, 10)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(rows, tc.want) && !(len(rows) == 0 && len(tc.want) == 0) {
				t.Fatalf("rows %#v, want %#v", rows, tc.want)
			}
			if !reflect.DeepEqual(rejects, tc.rejects) {
				t.Fatalf("rejects %q, want %q", rejects, tc.rejects)
			}
		})
	}
}

func TestParquetPreview(t *testing.T) {
	data := pqWriteFile(t, pqBenchRows(20000), parquet.MaxRowsPerRowGroup(5000), parquet.Compression(&parquet.Snappy))
	obj := newPQRangeObject("s3://bucket/p.parquet", data)
	res, err := previewParquet(context.Background(), obj, Options{}, 5)
	if err != nil {
		t.Fatal(err)
	}
	if res.Format != FormatParquet || res.Compression != CompressionNone || res.RowCount != 20000 || !res.Truncated {
		t.Fatalf("info %+v truncated %v", res.Info, res.Truncated)
	}
	if len(res.Rows) != 5 || res.Rows[4][0] != int64(4) || res.Rows[2][5] != "garden" {
		t.Fatalf("rows %v", res.Rows)
	}
	for _, f := range res.Schema.Fields {
		if !strings.Contains(f.Reason, "Parquet ") {
			t.Errorf("%s: reason %q", f.Name, f.Reason)
		}
	}
	// The head magic, the footer, then the first row group whole (it is
	// small): three requests, a fraction of the object.
	if n := obj.requests.Load(); n > 3 {
		t.Errorf("%d requests, ranges %v", n, obj.ranges)
	}
	if got := obj.bytes.Load(); got > int64(len(data))/2 {
		t.Errorf("preview fetched %d of %d bytes", got, len(data))
	}

	// a large row group: the head, the footer, then one window of each
	// column's first pages
	big := newPQRangeObject("big.parquet", pqBenchFile(t, 300000, 300000))
	res, err = previewParquet(context.Background(), big, Options{}, 10)
	if err != nil || len(res.Rows) != 10 {
		t.Fatalf("%v, %d rows", err, len(res.Rows))
	}
	if n, got := big.requests.Load(), big.bytes.Load(); n > 2+12 || got > 12*engine.PreviewReadBuffer+engine.TailBytes+4 {
		t.Errorf("preview of a %d-byte row group: %d requests, %d bytes", len(big.b), n, got)
	}

	// a small file is one request, and not truncated
	small := newPQRangeObject("small.parquet", pqWriteFile(t, pqBenchRows(3)))
	res, err = previewParquet(context.Background(), small, Options{}, 0)
	if err != nil || len(res.Rows) != 3 || res.Truncated || small.requests.Load() != 1 {
		t.Fatalf("%v: %d rows, truncated %v, %d requests", err, len(res.Rows), res.Truncated, small.requests.Load())
	}

	// rejected rows become warnings
	res, err = previewParquet(context.Background(), newPQRangeObject("u.parquet", pqU64File(t, 10, map[int]bool{3: true}, 10)), Options{}, 5)
	if err != nil || len(res.Rows) != 5 || len(res.Warnings) != 1 || !strings.Contains(res.Warnings[0], "row 3") {
		t.Fatalf("%v: rows %v warnings %q", err, res.Rows, res.Warnings)
	}
}
