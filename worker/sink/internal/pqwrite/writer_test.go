package pqwrite

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/compress"
	"github.com/parquet-go/parquet-go/compress/zstd"
	"github.com/parquet-go/parquet-go/encoding/thrift"
	"github.com/parquet-go/parquet-go/format"

	"github.com/s3ingest/s3ingest/parsers/schema"
)

// The files written here are read back with parquet-go (pages, rows,
// footer) and, for the page index, also decoded straight from the file's
// bytes, and every value, statistic and index entry is compared with what
// the test computes from the data it wrote.

// ---------------------------------------------------------------------------
// Test data: a column is a field and its values, each nil (null), bool,
// int64 (Int64, Date, Timestamp), float64 or string (String, JSON).
type col struct {
	f    schema.Field
	vals []any
}

func fieldsOf(cols []col) []schema.Field {
	fs := make([]schema.Field, len(cols))
	for i, c := range cols {
		fs[i] = c.f
	}
	return fs
}

// vector returns vals as a vector of typ.
func vector(typ schema.Type, vals []any) *schema.Vector {
	v := &schema.Vector{Type: typ}
	for _, x := range vals {
		switch x := x.(type) {
		case nil:
			v.AppendNull()
		case bool:
			v.AppendBool(x)
		case int64:
			v.AppendInt(x)
		case float64:
			v.AppendFloat(x)
		case string:
			v.AppendString(x)
		default:
			panic(fmt.Sprintf("value %T", x))
		}
	}
	return v
}

var allTypes = []schema.Type{schema.Bool, schema.Int64, schema.Float64, schema.Date, schema.Timestamp, schema.String, schema.JSON}

// nulls says where a generated column has nulls.
type nulls int

const (
	noNulls    nulls = iota
	someNulls        // at the start, the middle, the end, and a fifth elsewhere
	onlyNulls        // every row
	nullsNever       // nullable, but no null
)

func (n nulls) String() string {
	return [...]string{"required", "nulls", "all_null", "nullable_no_null"}[n]
}

// genColumn returns n values of typ with nulls where nl says.
func genColumn(rng *rand.Rand, typ schema.Type, nl nulls, n int) []any {
	vals := make([]any, n)
	for i := range vals {
		switch {
		case nl == onlyNulls:
			continue
		case nl == someNulls && (i < 3 || i == n/2 || i == n/2+1 || i >= n-3 || rng.IntN(5) == 0):
			continue
		}
		vals[i] = genValue(rng, typ)
	}
	return vals
}

var sampleStrings = []string{
	"", "", "a", "A", "z", "é", "日本語", "🙂", "Ωmega", "naïve café", "\x00", "~", "\u00a0",
	"straße", "𝄞 music", "zzzzzzzz", "zzzzzzzzz", "aaaaaaaa", "aaaaaaab",
}

func genValue(rng *rand.Rand, typ schema.Type) any {
	special := rng.IntN(10) == 0
	switch typ {
	case schema.Bool:
		return rng.IntN(2) == 1
	case schema.Int64:
		if special {
			return []int64{math.MinInt64, math.MaxInt64, 0, -1, 1}[rng.IntN(5)]
		}
		return int64(rng.Uint64())
	case schema.Date:
		if special {
			return []int64{math.MinInt32, math.MaxInt32, 0, -1, 1}[rng.IntN(5)]
		}
		return rng.Int64N(200000) - 100000
	case schema.Timestamp:
		if special {
			return []int64{math.MinInt64, math.MaxInt64, 0, -1, 1}[rng.IntN(5)]
		}
		return rng.Int64N(4e15) - 2e15
	case schema.Float64:
		if special {
			return []float64{math.Inf(1), math.Inf(-1), math.Copysign(0, -1), 0, math.MaxFloat64,
				-math.MaxFloat64, math.SmallestNonzeroFloat64, math.NaN()}[rng.IntN(8)]
		}
		return rng.NormFloat64() * 1e6
	case schema.JSON:
		switch rng.IntN(4) {
		case 0:
			return fmt.Sprintf(`{"k":%d,"s":"é%d"}`, rng.IntN(1000), rng.IntN(10))
		case 1:
			return `[]`
		case 2:
			return fmt.Sprintf(`[%d,"日本",null]`, rng.IntN(100))
		default:
			return `{"long":"` + strings.Repeat("x", 60+rng.IntN(60)) + `"}`
		}
	default:
		switch rng.IntN(5) {
		case 0, 1:
			return sampleStrings[rng.IntN(len(sampleStrings))]
		case 2:
			var b strings.Builder
			for range rng.IntN(20) {
				b.WriteByte(byte('a' + rng.IntN(26)))
			}
			return b.String()
		case 3:
			// long, multi-byte: bounds in the column index are cut
			var b strings.Builder
			for b.Len() < 65+rng.IntN(120) {
				b.WriteString([]string{"é", "日", "🙂", "a", "~", "\u007f"}[rng.IntN(6)])
			}
			return b.String()
		default:
			return strings.Repeat(string(rune('a'+rng.IntN(26))), 1+rng.IntN(100))
		}
	}
}

// genCols returns a column of every type and every kind of nulls.
func genCols(rng *rand.Rand, rows int) []col {
	var cols []col
	for _, typ := range allTypes {
		for _, nl := range []nulls{noNulls, someNulls, onlyNulls, nullsNever} {
			f := schema.Field{Name: fmt.Sprintf("%s_%s", typ, nl), Type: typ, Nullable: nl != noNulls}
			cols = append(cols, col{f: f, vals: genColumn(rng, typ, nl, rows)})
		}
	}
	return cols
}

// ---------------------------------------------------------------------------
// Writing.

// writeFile writes cols in row groups of groups rows each, handing each
// row group to WriteColumn in batches of the sizes of batches (cycled),
// and returns the file.
func writeFile(t *testing.T, cols []col, groups, batches []int, opt Options) []byte {
	t.Helper()
	fields := fieldsOf(cols)
	var buf bytes.Buffer
	w, err := NewWriter(&buf, fields, opt)
	if err != nil {
		t.Fatalf("NewWriter: %v", err)
	}
	if w.NumColumns() != len(cols) {
		t.Fatalf("NumColumns = %d, want %d", w.NumColumns(), len(cols))
	}
	row, bi := 0, 0
	for _, g := range groups {
		start, end := row, row+g
		for row < end {
			n := min(batches[bi%len(batches)], end-row)
			bi++
			for c := range cols {
				if err := w.WriteColumn(c, vector(cols[c].f.Type, cols[c].vals[row:row+n])); err != nil {
					t.Fatalf("WriteColumn(%d): %v", c, err)
				}
			}
			row += n
			if got := w.Rows(); got != int64(row-start) {
				t.Fatalf("Rows() = %d, want %d", got, row-start)
			}
		}
		if err := w.EndRowGroup(); err != nil {
			t.Fatalf("EndRowGroup: %v", err)
		}
		if got := w.Rows(); got != 0 {
			t.Fatalf("Rows() after EndRowGroup = %d, want 0", got)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	return buf.Bytes()
}

func openFile(t *testing.T, data []byte) *parquet.File {
	t.Helper()
	f, err := parquet.OpenFile(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatalf("OpenFile: %v", err)
	}
	return f
}

// ---------------------------------------------------------------------------
// Checking.

// checkFile checks that data holds cols in row groups of groups rows
// (empty ones left out), with every statistic and index right, and
// returns the open file.
func checkFile(t *testing.T, data []byte, cols []col, groups []int, opt Options) *parquet.File {
	t.Helper()
	f := openFile(t, data)
	md := f.Metadata()
	var nonEmpty []int
	total := 0
	for _, g := range groups {
		total += g
		if g > 0 {
			nonEmpty = append(nonEmpty, g)
		}
	}
	if f.NumRows() != int64(total) {
		t.Errorf("NumRows = %d, want %d", f.NumRows(), total)
	}
	if len(f.RowGroups()) != len(nonEmpty) {
		t.Fatalf("%d row groups, want %d", len(f.RowGroups()), len(nonEmpty))
	}
	if got := len(f.Schema().Fields()); got != len(cols) {
		t.Fatalf("schema has %d columns, want %d", got, len(cols))
	}
	for i, fld := range f.Schema().Fields() {
		if fld.Name() != cols[i].f.Name || fld.Optional() != cols[i].f.Nullable {
			t.Errorf("schema column %d is %q (optional %t), want %q (optional %t)", i, fld.Name(), fld.Optional(), cols[i].f.Name, cols[i].f.Nullable)
		}
	}
	codec := format.Uncompressed
	if opt.Codec != nil {
		codec = opt.Codec.CompressionCodec()
	}
	pageBytes := opt.PageBytes
	if pageBytes <= 0 {
		pageBytes = DefaultPageBytes
	}
	row := 0
	for g, rg := range f.RowGroups() {
		n := nonEmpty[g]
		if rg.NumRows() != int64(n) {
			t.Errorf("row group %d: NumRows = %d, want %d", g, rg.NumRows(), n)
		}
		if md.RowGroups[g].NumRows != int64(n) {
			t.Errorf("row group %d: metadata NumRows = %d, want %d", g, md.RowGroups[g].NumRows, n)
		}
		for c := range cols {
			checkChunk(t, f, data, g, c, cols[c].f, cols[c].vals[row:row+n], codec, pageBytes)
		}
		checkRows(t, rg, cols, row, n)
		row += n
	}
	return f
}

// pageData is what a page of a chunk holds.
type pageData struct {
	vals  []any
	rows  int64
	nulls int64
}

// readPages reads the pages of a column chunk with parquet-go (which
// checks their CRC).
func readPages(t *testing.T, cc parquet.ColumnChunk, typ schema.Type, what string) []pageData {
	t.Helper()
	pages := cc.Pages()
	defer pages.Close()
	var out []pageData
	for {
		p, err := pages.ReadPage()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("%s: ReadPage: %v", what, err)
		}
		buf := make([]parquet.Value, p.NumValues())
		n, err := p.Values().ReadValues(buf)
		if err != nil && err != io.EOF {
			t.Fatalf("%s: ReadValues: %v", what, err)
		}
		if n != len(buf) {
			t.Fatalf("%s: page of %d values read %d", what, len(buf), n)
		}
		pd := pageData{rows: p.NumRows(), nulls: p.NumNulls()}
		for _, v := range buf {
			pd.vals = append(pd.vals, fromValue(typ, v))
		}
		out = append(out, pd)
		parquet.Release(p)
	}
	return out
}

// fromValue converts a value read back to the test's form.
func fromValue(typ schema.Type, v parquet.Value) any {
	if v.IsNull() {
		return nil
	}
	switch typ {
	case schema.Bool:
		return v.Boolean()
	case schema.Int64, schema.Timestamp:
		return v.Int64()
	case schema.Date:
		return int64(v.Int32())
	case schema.Float64:
		return v.Double()
	default:
		return string(v.ByteArray())
	}
}

// same reports whether two values are the same (floats bit for bit).
func same(a, b any) bool {
	if fa, ok := a.(float64); ok {
		fb, ok := b.(float64)
		return ok && math.Float64bits(fa) == math.Float64bits(fb)
	}
	return a == b
}

func show(x any) string {
	if s, ok := x.(string); ok && len(s) > 40 {
		return fmt.Sprintf("%q… (%d bytes)", s[:40], len(s))
	}
	return fmt.Sprintf("%#v", x)
}

func checkValues(t *testing.T, what string, got, want []any) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: %d values, want %d", what, len(got), len(want))
	}
	bad := 0
	for i := range min(len(got), len(want)) {
		if !same(got[i], want[i]) {
			t.Errorf("%s: value %d = %s, want %s", what, i, show(got[i]), show(want[i]))
			if bad++; bad == 5 {
				return
			}
		}
	}
}

// checkRows reads the row group's rows and compares them with cols from
// row start.
func checkRows(t *testing.T, rg parquet.RowGroup, cols []col, start, n int) {
	t.Helper()
	rows := rg.Rows()
	defer rows.Close()
	got := make([][]any, len(cols))
	buf := make([]parquet.Row, 64)
	for {
		k, err := rows.ReadRows(buf)
		for _, r := range buf[:k] {
			if len(r) != len(cols) {
				t.Fatalf("row of %d values, want %d", len(r), len(cols))
			}
			for _, v := range r {
				c := v.Column()
				got[c] = append(got[c], fromValue(cols[c].f.Type, v))
			}
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("ReadRows: %v", err)
		}
	}
	for c := range cols {
		checkValues(t, fmt.Sprintf("rows of column %q from row %d", cols[c].f.Name, start), got[c], cols[c].vals[start:start+n])
	}
}

// width is the bytes a value of typ takes in a page (PLAIN); 0: bytes of
// the value.
func width(typ schema.Type) int {
	switch typ {
	case schema.Bool:
		return 1
	case schema.Date:
		return 4
	case schema.Int64, schema.Timestamp, schema.Float64:
		return 8
	}
	return 0
}

func valueBytes(typ schema.Type, x any) int {
	if x == nil {
		return 0
	}
	if w := width(typ); w > 0 {
		return w
	}
	return len(x.(string))
}

// less orders values as the column's type does (NaN excluded by callers).
func less(a, b any) bool {
	switch a := a.(type) {
	case bool:
		return !a && b.(bool)
	case int64:
		return a < b.(int64)
	case float64:
		return a < b.(float64)
	case string:
		return a < b.(string) // Go compares strings byte-wise, unsigned
	}
	panic(fmt.Sprintf("less %T", a))
}

func isNaN(x any) bool {
	f, ok := x.(float64)
	return ok && f != f
}

// valueBounds returns the min and max of vals, nulls and NaN aside.
func valueBounds(vals []any) (lo, hi any, ok bool) {
	for _, x := range vals {
		if x == nil || isNaN(x) {
			continue
		}
		if !ok {
			lo, hi, ok = x, x, true
			continue
		}
		if less(x, lo) {
			lo = x
		}
		if less(hi, x) {
			hi = x
		}
	}
	return lo, hi, ok
}

// plainValue is x PLAIN-encoded as a statistic (byte arrays without their
// length); a float zero is -0.0 as a min and +0.0 as a max.
func plainValue(typ schema.Type, x any, isMax bool) []byte {
	switch typ {
	case schema.Bool:
		if x.(bool) {
			return []byte{1}
		}
		return []byte{0}
	case schema.Int64, schema.Timestamp:
		return binary.LittleEndian.AppendUint64(nil, uint64(x.(int64)))
	case schema.Date:
		return binary.LittleEndian.AppendUint32(nil, uint32(int32(x.(int64))))
	case schema.Float64:
		f := x.(float64)
		if f == 0 {
			f = math.Copysign(0, -1)
			if isMax {
				f = 0
			}
		}
		return binary.LittleEndian.AppendUint64(nil, math.Float64bits(f))
	}
	return []byte(x.(string))
}

// decodePlain decodes a PLAIN statistic of typ.
func decodePlain(typ schema.Type, b []byte) (any, error) {
	want := width(typ)
	if want > 0 && len(b) != want {
		return nil, fmt.Errorf("a %s bound of %d bytes", typ, len(b))
	}
	switch typ {
	case schema.Bool:
		if b[0] > 1 {
			return nil, fmt.Errorf("a bool bound %d", b[0])
		}
		return b[0] == 1, nil
	case schema.Int64, schema.Timestamp:
		return int64(binary.LittleEndian.Uint64(b)), nil
	case schema.Date:
		return int64(int32(binary.LittleEndian.Uint32(b))), nil
	case schema.Float64:
		return math.Float64frombits(binary.LittleEndian.Uint64(b)), nil
	}
	return string(b), nil
}

// checkChunk checks column c of row group g: its values, metadata,
// statistics, offset index and column index.
func checkChunk(t *testing.T, f *parquet.File, data []byte, g, c int, fld schema.Field, want []any, codec format.CompressionCodec, pageBytes int) {
	t.Helper()
	what := fmt.Sprintf("row group %d column %q", g, fld.Name)
	cc := f.RowGroups()[g].ColumnChunks()[c].(*parquet.FileColumnChunk)
	chunk := f.Metadata().RowGroups[g].Columns[c]
	meta := chunk.MetaData

	// The values, page by page.
	pages := readPages(t, cc, fld.Type, what)
	var got []any
	var wantNulls int64
	for _, x := range want {
		if x == nil {
			wantNulls++
		}
	}
	for i, p := range pages {
		got = append(got, p.vals...)
		var nulls int64
		for _, x := range p.vals {
			if x == nil {
				nulls++
			}
		}
		if p.nulls != nulls || p.rows != int64(len(p.vals)) {
			t.Errorf("%s: page %d says %d rows and %d nulls, has %d values and %d nulls", what, i, p.rows, p.nulls, len(p.vals), nulls)
		}
		if !fld.Nullable && nulls > 0 {
			t.Errorf("%s: page %d of a required column has nulls", what, i)
		}
		// A page ends once full: before the last of its values that
		// took bytes, its values took less than PageBytes. (Booleans
		// aside: how their size counts is the writer's business.)
		if fld.Type != schema.Bool {
			size, last := 0, 0
			for _, x := range p.vals {
				if n := valueBytes(fld.Type, x); n > 0 {
					last = n
					size += n
				}
			}
			if size-last >= pageBytes {
				t.Errorf("%s: page %d holds %d bytes of values, %d before its last, with PageBytes %d", what, i, size, size-last, pageBytes)
			}
		}
	}
	checkValues(t, what, got, want)

	// The chunk's metadata and statistics.
	if meta.NumValues != int64(len(want)) {
		t.Errorf("%s: NumValues = %d, want %d", what, meta.NumValues, len(want))
	}
	if meta.Codec != codec {
		t.Errorf("%s: Codec = %v, want %v", what, meta.Codec, codec)
	}
	if meta.Statistics.NullCount != wantNulls {
		t.Errorf("%s: NullCount = %d, want %d", what, meta.Statistics.NullCount, wantNulls)
	}
	if cc.NullCount() != wantNulls {
		t.Errorf("%s: parquet-go NullCount() = %d, want %d", what, cc.NullCount(), wantNulls)
	}
	if meta.Statistics.Min != nil || meta.Statistics.Max != nil {
		t.Errorf("%s: deprecated min/max set", what)
	}
	var wantMin, wantMax []byte
	if lo, hi, ok := valueBounds(want); ok {
		wantMin, wantMax = plainValue(fld.Type, lo, false), plainValue(fld.Type, hi, true)
		if len(wantMin) > 4096 || len(wantMax) > 4096 {
			wantMin, wantMax = nil, nil // too long to keep
		}
	}
	if !bytes.Equal(meta.Statistics.MinValue, wantMin) || (meta.Statistics.MinValue == nil) != (wantMin == nil) {
		t.Errorf("%s: statistics MinValue = %s, want %s", what, showBound(meta.Statistics.MinValue), showBound(wantMin))
	}
	if !bytes.Equal(meta.Statistics.MaxValue, wantMax) || (meta.Statistics.MaxValue == nil) != (wantMax == nil) {
		t.Errorf("%s: statistics MaxValue = %s, want %s", what, showBound(meta.Statistics.MaxValue), showBound(wantMax))
	}
	if meta.TotalCompressedSize <= 0 || meta.TotalUncompressedSize <= 0 {
		t.Errorf("%s: sizes %d compressed, %d uncompressed", what, meta.TotalCompressedSize, meta.TotalUncompressedSize)
	}
	if codec == format.Uncompressed && meta.TotalCompressedSize != meta.TotalUncompressedSize {
		t.Errorf("%s: uncompressed, but %d bytes compressed and %d uncompressed", what, meta.TotalCompressedSize, meta.TotalUncompressedSize)
	}

	// The offset index, decoded from the file, and as parquet-go reads it.
	if chunk.OffsetIndexOffset <= 0 || chunk.OffsetIndexLength <= 0 {
		t.Fatalf("%s: no offset index", what)
	}
	var oi format.OffsetIndex
	if err := thrift.Unmarshal(new(thrift.CompactProtocol), data[chunk.OffsetIndexOffset:chunk.OffsetIndexOffset+int64(chunk.OffsetIndexLength)], &oi); err != nil {
		t.Fatalf("%s: decode offset index: %v", what, err)
	}
	locs := oi.PageLocations
	if len(locs) != len(pages) {
		t.Fatalf("%s: offset index of %d pages, the chunk has %d", what, len(locs), len(pages))
	}
	next, row := meta.DataPageOffset, int64(0)
	for i, l := range locs {
		if l.Offset != next || l.FirstRowIndex != row || l.CompressedPageSize <= 0 {
			t.Errorf("%s: page %d at %d (%d bytes) from row %d, want at %d from row %d", what, i, l.Offset, l.CompressedPageSize, l.FirstRowIndex, next, row)
		}
		next += int64(l.CompressedPageSize)
		row += pages[i].rows
	}
	if next != meta.DataPageOffset+meta.TotalCompressedSize {
		t.Errorf("%s: pages end at %d, the chunk at %d", what, next, meta.DataPageOffset+meta.TotalCompressedSize)
	}
	if chunk.FileOffset != meta.DataPageOffset {
		t.Errorf("%s: FileOffset %d, DataPageOffset %d", what, chunk.FileOffset, meta.DataPageOffset)
	}
	if pgo, err := cc.OffsetIndex(); err != nil {
		t.Errorf("%s: parquet-go OffsetIndex: %v", what, err)
	} else if pgo.NumPages() != len(locs) {
		t.Errorf("%s: parquet-go OffsetIndex has %d pages, want %d", what, pgo.NumPages(), len(locs))
	} else {
		for i, l := range locs {
			if pgo.Offset(i) != l.Offset || pgo.CompressedPageSize(i) != int64(l.CompressedPageSize) || pgo.FirstRowIndex(i) != l.FirstRowIndex {
				t.Errorf("%s: parquet-go OffsetIndex page %d differs", what, i)
			}
		}
	}

	// The column index: none when a page has values but no bounds (only
	// NaN), or a max of bytes that cannot be cut (no character in its
	// first indexBound bytes can be incremented).
	wantIndex := true
	for _, p := range pages {
		_, hi, ok := valueBounds(p.vals)
		if !ok && p.nulls < p.rows {
			wantIndex = false
		}
		if s, isStr := hi.(string); ok && isStr && !cuttable(s) {
			wantIndex = false
		}
	}
	if !wantIndex {
		if chunk.ColumnIndexOffset != 0 || chunk.ColumnIndexLength != 0 {
			t.Errorf("%s: a page of only NaN or an uncuttable max, but a column index at %d", what, chunk.ColumnIndexOffset)
		}
		if _, err := cc.ColumnIndex(); err == nil {
			t.Errorf("%s: parquet-go reads a column index", what)
		}
		return
	}
	if chunk.ColumnIndexOffset <= 0 || chunk.ColumnIndexLength <= 0 {
		t.Fatalf("%s: no column index", what)
	}
	var ci format.ColumnIndex
	if err := thrift.Unmarshal(new(thrift.CompactProtocol), data[chunk.ColumnIndexOffset:chunk.ColumnIndexOffset+int64(chunk.ColumnIndexLength)], &ci); err != nil {
		t.Fatalf("%s: decode column index: %v", what, err)
	}
	if len(ci.NullPages) != len(pages) || len(ci.MinValues) != len(pages) || len(ci.MaxValues) != len(pages) || len(ci.NullCounts) != len(pages) {
		t.Fatalf("%s: column index of %d/%d/%d/%d pages, want %d", what, len(ci.NullPages), len(ci.MinValues), len(ci.MaxValues), len(ci.NullCounts), len(pages))
	}
	for i, p := range pages {
		if ci.NullCounts[i] != p.nulls {
			t.Errorf("%s: column index page %d: NullCounts %d, want %d", what, i, ci.NullCounts[i], p.nulls)
		}
		if null := p.nulls == p.rows; ci.NullPages[i] != null {
			t.Errorf("%s: column index page %d: NullPages %t, want %t", what, i, ci.NullPages[i], null)
		}
		lo, hi, ok := valueBounds(p.vals)
		if !ok {
			if len(ci.MinValues[i]) != 0 || len(ci.MaxValues[i]) != 0 {
				t.Errorf("%s: column index page %d of nulls has bounds", what, i)
			}
			continue
		}
		checkPageBounds(t, fmt.Sprintf("%s: column index page %d", what, i), fld.Type, ci.MinValues[i], ci.MaxValues[i], lo, hi, p.vals)
	}
	checkBoundaryOrder(t, what, fld.Type, &ci)
	if pgi, err := cc.ColumnIndex(); err != nil {
		t.Errorf("%s: parquet-go ColumnIndex: %v", what, err)
	} else if pgi.NumPages() != len(pages) {
		t.Errorf("%s: parquet-go ColumnIndex has %d pages, want %d", what, pgi.NumPages(), len(pages))
	} else {
		for i := range pages {
			if pgi.NullPage(i) != ci.NullPages[i] || pgi.NullCount(i) != ci.NullCounts[i] {
				t.Errorf("%s: parquet-go ColumnIndex page %d differs", what, i)
			}
			if !ci.NullPages[i] && !bytes.Equal(pgi.MinValue(i).Bytes(), ci.MinValues[i]) {
				t.Errorf("%s: parquet-go ColumnIndex page %d: min %x, want %x", what, i, pgi.MinValue(i).Bytes(), ci.MinValues[i])
			}
		}
	}
}

func showBound(b []byte) string {
	if b == nil {
		return "nil"
	}
	if len(b) > 40 {
		return fmt.Sprintf("%q… (%d bytes)", b[:40], len(b))
	}
	return fmt.Sprintf("%q", b)
}

// indexBound is the longest a column index bound of a byte array is when
// it is cut (a cut max may take one byte more: its last character
// incremented may be one byte longer).
const indexBound = 16

// cuttable reports whether a max can be cut for a column index: it is
// short, or its first indexBound bytes hold a character (valid UTF-8)
// below the last code point.
func cuttable(s string) bool {
	if len(s) <= indexBound {
		return true
	}
	for i := 0; i < indexBound; {
		r, size := utf8.DecodeRuneInString(s[i:])
		if i+size > indexBound {
			break
		}
		if (r != utf8.RuneError || size > 1) && r < utf8.MaxRune {
			return true
		}
		i += size
	}
	return false
}

// checkPageBounds checks a page's bounds in the column index: exact for
// fixed-width values; for byte arrays exact up to indexBound bytes, and
// else a cut min that is a prefix of the min and a max at most indexBound
// bytes (or exact), each on the right side of every value.
func checkPageBounds(t *testing.T, what string, typ schema.Type, bmin, bmax []byte, lo, hi any, vals []any) {
	t.Helper()
	if typ != schema.String && typ != schema.JSON {
		if w := plainValue(typ, lo, false); !bytes.Equal(bmin, w) {
			t.Errorf("%s: min %x, want %x (%v)", what, bmin, w, lo)
		}
		if w := plainValue(typ, hi, true); !bytes.Equal(bmax, w) {
			t.Errorf("%s: max %x, want %x (%v)", what, bmax, w, hi)
		}
		return
	}
	los, his := lo.(string), hi.(string)
	if len(los) <= indexBound {
		if string(bmin) != los {
			t.Errorf("%s: min %s, want %s", what, showBound(bmin), show(los))
		}
	} else if len(bmin) > indexBound || !strings.HasPrefix(los, string(bmin)) {
		t.Errorf("%s: min %s of %d bytes is not a cut of %s", what, showBound(bmin), len(bmin), show(los))
	}
	if len(his) <= indexBound {
		if string(bmax) != his {
			t.Errorf("%s: max %s, want %s", what, showBound(bmax), show(his))
		}
	} else if len(bmax) > indexBound+1 {
		t.Errorf("%s: max %s of %d bytes, not cut (%s)", what, showBound(bmax), len(bmax), show(his))
	}
	if utf8.ValidString(los) && !utf8.Valid(bmin) {
		t.Errorf("%s: min %s cut inside a character", what, showBound(bmin))
	}
	if utf8.ValidString(his) && !utf8.Valid(bmax) {
		t.Errorf("%s: max %s cut inside a character", what, showBound(bmax))
	}
	for _, x := range vals {
		if x == nil {
			continue
		}
		s := x.(string)
		if string(bmin) > s {
			t.Errorf("%s: min %s above value %s", what, showBound(bmin), show(s))
		}
		if string(bmax) < s {
			t.Errorf("%s: max %s below value %s", what, showBound(bmax), show(s))
		}
	}
}

// checkBoundaryOrder checks that an ascending or descending column index
// has its pages' bounds in that order (pages of nulls aside).
func checkBoundaryOrder(t *testing.T, what string, typ schema.Type, ci *format.ColumnIndex) {
	t.Helper()
	if ci.BoundaryOrder == format.Unordered {
		return
	}
	var prevMin, prevMax any
	for i := range ci.NullPages {
		if ci.NullPages[i] {
			continue
		}
		lo, err1 := decodePlain(typ, ci.MinValues[i])
		hi, err2 := decodePlain(typ, ci.MaxValues[i])
		if err := errors.Join(err1, err2); err != nil {
			t.Errorf("%s: column index page %d: %v", what, i, err)
			return
		}
		if prevMin != nil {
			var bad bool
			if ci.BoundaryOrder == format.Ascending {
				bad = less(lo, prevMin) || less(hi, prevMax)
			} else {
				bad = less(prevMin, lo) || less(prevMax, hi)
			}
			if bad {
				t.Errorf("%s: column index says %v, but page %d has bounds %v..%v after %v..%v", what, ci.BoundaryOrder, i, show(lo), show(hi), show(prevMin), show(prevMax))
			}
		}
		prevMin, prevMax = lo, hi
	}
}

// ---------------------------------------------------------------------------
// Tests.

// TestRoundTrip writes every type, required and nullable (nulls at the
// start, middle and end, all null, none), in batches of assorted sizes
// and several row groups and page sizes, and reads every value,
// statistic and index entry back.
func TestRoundTrip(t *testing.T) {
	cases := []struct {
		name      string
		pageBytes int
		groups    []int
		batches   []int
		codec     compress.Codec
	}{
		{"small pages split inside batches, two row groups", 64, []int{700, 301}, []int{1, 7, 100, 0, 250, 3}, nil},
		{"one value a page", 1, []int{40, 9}, []int{10, 1}, nil},
		{"default pages, one row group", 0, []int{1000}, []int{333}, nil},
		{"medium pages, three row groups, snappy", 1000, []int{1, 500, 999}, []int{64, 1000, 5}, &parquet.Snappy},
		{"one row", 0, []int{1}, []int{1}, nil},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			total := 0
			for _, g := range tc.groups {
				total += g
			}
			cols := genCols(rand.New(rand.NewPCG(uint64(i), 7)), total)
			opt := Options{PageBytes: tc.pageBytes, Codec: tc.codec}
			data := writeFile(t, cols, tc.groups, tc.batches, opt)
			f := checkFile(t, data, cols, tc.groups, opt)
			if tc.pageBytes == 64 {
				// Pages end inside batches: the int64 column's 700 rows
				// of row group 0 came in 11 batches, and make 88 pages.
				chunk := f.RowGroups()[0].ColumnChunks()[4].(*parquet.FileColumnChunk)
				if name := cols[4].f.Name; name != "int64_required" {
					t.Fatalf("column 4 is %s", name)
				}
				oi, err := chunk.OffsetIndex()
				if err != nil {
					t.Fatal(err)
				}
				if oi.NumPages() != 700*8/64+1 {
					t.Errorf("int64 column: %d pages of 64 bytes for 700 rows, want %d", oi.NumPages(), 700*8/64+1)
				}
			}
		})
	}
}

// writePages writes one nullable column of typ, each of pages ended by
// FlushPage, checks the file (checkFile) and returns it.
func writePages(t *testing.T, typ schema.Type, pages [][]any) ([]byte, *parquet.File) {
	t.Helper()
	cols := []col{{f: schema.Field{Name: "x", Type: typ, Nullable: true}}}
	var buf bytes.Buffer
	w, err := NewWriter(&buf, fieldsOf(cols), Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pages {
		cols[0].vals = append(cols[0].vals, p...)
		if err := w.WriteColumn(0, vector(typ, p)); err != nil {
			t.Fatal(err)
		}
		if err := w.FlushPage(0); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes(), checkFile(t, buf.Bytes(), cols, []int{len(cols[0].vals)}, Options{})
}

// TestFlushPage checks that FlushPage ends the page where called, does
// nothing without an open page, and that EndRowGroup ends the last page.
func TestFlushPage(t *testing.T) {
	cols := []col{
		{schema.Field{Name: "i", Type: schema.Int64}, nil},
		{schema.Field{Name: "s", Type: schema.String, Nullable: true}, nil},
	}
	fields := fieldsOf(cols)
	var buf bytes.Buffer
	w, err := NewWriter(&buf, fields, Options{})
	if err != nil {
		t.Fatal(err)
	}
	batches := [][]int{{3}, {2, 4}, {1}} // rows of each page, per batch
	row := int64(0)
	for _, pagesRows := range batches {
		for _, n := range pagesRows {
			for c := range cols {
				var vals []any
				for k := range n {
					switch c {
					case 0:
						vals = append(vals, row+int64(k))
					default:
						if k%2 == 1 {
							vals = append(vals, nil)
						} else {
							vals = append(vals, fmt.Sprint("v", row+int64(k)))
						}
					}
				}
				cols[c].vals = append(cols[c].vals, vals...)
				if err := w.WriteColumn(c, vector(cols[c].f.Type, vals)); err != nil {
					t.Fatal(err)
				}
				if err := w.FlushPage(c); err != nil {
					t.Fatal(err)
				}
				if err := w.FlushPage(c); err != nil { // no open page: nothing
					t.Fatal(err)
				}
			}
			row += int64(n)
		}
	}
	// The last page ends with the row group.
	for c := range cols {
		v := []any{int64(100)}
		if c == 1 {
			v = []any{nil}
		}
		cols[c].vals = append(cols[c].vals, v...)
		if err := w.WriteColumn(c, vector(cols[c].f.Type, v)); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	n := len(cols[0].vals)
	f := checkFile(t, buf.Bytes(), cols, []int{n}, Options{})
	want := []int64{0, 3, 5, 9, 10}
	for c := range cols {
		oi, err := f.RowGroups()[0].ColumnChunks()[c].OffsetIndex()
		if err != nil {
			t.Fatal(err)
		}
		var got []int64
		for i := range oi.NumPages() {
			got = append(got, oi.FirstRowIndex(i))
		}
		if !slices.Equal(got, want) {
			t.Errorf("column %d: pages start at rows %v, want %v", c, got, want)
		}
	}
}

// TestFloatStatistics: NaN is in no bound, a page of only NaN leaves the
// chunk without a column index, a zero min is -0.0 and a zero max +0.0.
func TestFloatStatistics(t *testing.T) {
	nan, inf := math.NaN(), math.Inf(1)
	negZero := math.Copysign(0, -1)
	none := math.NaN() // wantMin/wantMax: no statistic
	cases := []struct {
		name             string
		pages            [][]any
		wantIndex        bool
		wantMin, wantMax float64
	}{
		{"NaN excluded", [][]any{{1.5, nan, -2.0}}, true, -2, 1.5},
		{"NaN first", [][]any{{nan, 3.0, nan, 2.0}}, true, 2, 3},
		{"page of only NaN drops the column index", [][]any{{nan, nan}, {1.0, 2.0}}, false, 1, 2},
		{"page of NaN and nulls drops the column index", [][]any{{4.0}, {nil, nan, nil}}, false, 4, 4},
		{"only NaN", [][]any{{nan}}, false, none, none},
		{"page of nulls keeps the column index", [][]any{{nil, nil}, {5.0, -5.0}}, true, -5, 5},
		{"all null", [][]any{{nil, nil, nil}}, true, none, none},
		{"zero min is -0.0", [][]any{{0.0, 1.0}}, true, negZero, 1},
		{"-0.0 min is -0.0", [][]any{{1.0, negZero}}, true, negZero, 1},
		{"zero max is +0.0", [][]any{{-1.0, negZero}}, true, -1, 0},
		{"only -0.0", [][]any{{negZero}}, true, negZero, 0},
		{"only +0.0 and NaN", [][]any{{0.0, nan}, {nil}}, true, negZero, 0},
		{"zeros across pages", [][]any{{negZero}, {0.0}, {-0.5, 0.5}}, true, -0.5, 0.5},
		{"infinities", [][]any{{inf, -inf, nan}}, true, -inf, inf},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, f := writePages(t, schema.Float64, tc.pages)
			chunk := f.Metadata().RowGroups[0].Columns[0]
			if got := chunk.ColumnIndexOffset != 0; got != tc.wantIndex {
				t.Errorf("column index %t, want %t", got, tc.wantIndex)
			}
			if len(chunk.MetaData.EncodingStats) > 0 && int(chunk.MetaData.EncodingStats[0].Count) != len(tc.pages) {
				t.Errorf("%d pages, want %d", chunk.MetaData.EncodingStats[0].Count, len(tc.pages))
			}
			st := chunk.MetaData.Statistics
			for _, b := range []struct {
				name string
				got  []byte
				want float64
			}{{"min", st.MinValue, tc.wantMin}, {"max", st.MaxValue, tc.wantMax}} {
				if math.IsNaN(b.want) {
					if b.got != nil {
						t.Errorf("%s %x, want none", b.name, b.got)
					}
					continue
				}
				want := binary.LittleEndian.AppendUint64(nil, math.Float64bits(b.want))
				if !bytes.Equal(b.got, want) {
					t.Errorf("%s %x, want %x (%v)", b.name, b.got, want, b.want)
				}
			}
		})
	}
}

// TestStringBounds: column index bounds of long strings are cut and stay
// on the right side of every value; chunk statistics are exact up to 4096
// bytes and left out beyond.
func TestStringBounds(t *testing.T) {
	rep := strings.Repeat
	cases := []struct {
		name      string
		vals      []any
		wantStats bool
	}{
		{"short", []any{"b", "a", nil, "c"}, true},
		{"empty string min", []any{"abc", "", "zz"}, true},
		{"only empty strings", []any{"", nil, ""}, true},
		{"16 bytes exact", []any{rep("a", 16), rep("b", 16)}, true},
		{"17 bytes cut", []any{rep("a", 17), rep("b", 17)}, true},
		{"64 bytes cut", []any{rep("a", 64), rep("b", 64)}, true},
		{"long ASCII", []any{rep("a", 100) + "z", rep("b", 100), rep("a", 100)}, true},
		{"long multi-byte, cut at a character", []any{rep("é", 40), rep("日", 30), rep("🙂", 25)}, true},
		{"long, no ASCII byte to increment", []any{rep("日", 30), rep("é", 50)}, true},
		{"long, DEL bytes after the cut", []any{"a" + rep("\x7f", 99), "a"}, true},
		{"long, DEL bytes then a letter", []any{rep("\x7f", 70) + "a", "\x7f"}, true},
		{"prefix of a long value", []any{rep("m", 16), rep("m", 17), rep("m", 200)}, true},
		{"max of the last code point only", []any{rep("\U0010FFFF", 10), "a"}, true},
		{"invalid UTF-8", []any{rep("\xff", 80), rep("\x80", 80), "\xc3"}, true},
		{"4096 bytes exact", []any{rep("x", 4096), rep("a", 4096), "m"}, true},
		{"4097-byte max left out", []any{rep("y", 4097), "b"}, false},
		{"4097-byte min left out", []any{rep("a", 5000), "z"}, false},
		{"long value neither min nor max", []any{"a", rep("m", 5000), "z"}, true},
	}
	for _, typ := range []schema.Type{schema.String, schema.JSON} {
		for _, pageBytes := range []int{0, 64} {
			for _, tc := range cases {
				t.Run(fmt.Sprintf("%s/page %d/%s", typ, pageBytes, tc.name), func(t *testing.T) {
					cols := []col{{f: schema.Field{Name: "s", Type: typ, Nullable: true}, vals: tc.vals}}
					opt := Options{PageBytes: pageBytes}
					data := writeFile(t, cols, []int{len(tc.vals)}, []int{2}, opt)
					f := checkFile(t, data, cols, []int{len(tc.vals)}, opt)
					st := f.Metadata().RowGroups[0].Columns[0].MetaData.Statistics
					if got := st.MinValue != nil && st.MaxValue != nil; got != tc.wantStats {
						t.Errorf("statistics kept %t, want %t", got, tc.wantStats)
					}
				})
			}
		}
	}
}

// TestEmptyStringMinOnNewPage: a chunk whose min is the empty string, in
// a page after the first, has "" as its min, whatever the page's memory
// (the garbage collections empty the writer's pools, so the page holding
// "" starts from new memory).
func TestEmptyStringMinOnNewPage(t *testing.T) {
	for _, pages := range [][][]any{
		{{"b"}, {""}},
		{{"b", "c"}, {"", nil}, {"a"}},
		{{nil}, {"q"}, {""}, {"r"}},
	} {
		t.Run(fmt.Sprint(pages), func(t *testing.T) {
			cols := []col{{f: schema.Field{Name: "s", Type: schema.String, Nullable: true}}}
			var buf bytes.Buffer
			w, err := NewWriter(&buf, fieldsOf(cols), Options{})
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range pages {
				runtime.GC()
				runtime.GC()
				cols[0].vals = append(cols[0].vals, p...)
				if err := w.WriteColumn(0, vector(schema.String, p)); err != nil {
					t.Fatal(err)
				}
				if err := w.FlushPage(0); err != nil {
					t.Fatal(err)
				}
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			checkFile(t, buf.Bytes(), cols, []int{len(cols[0].vals)}, Options{})
		})
	}
}

// TestIntegerBounds: the signed order of integers, dates and timestamps,
// and false < true, in statistics and the column index, with page
// boundaries set by FlushPage; and the boundary order.
func TestIntegerBounds(t *testing.T) { // and the boundary order of every kind
	cases := []struct {
		name  string
		typ   schema.Type
		pages [][]any
		order format.BoundaryOrder
	}{
		{"int64 signed", schema.Int64, [][]any{{int64(-1), int64(1)}, {int64(math.MinInt64), int64(math.MaxInt64)}}, format.Unordered},
		{"int64 ascending", schema.Int64, [][]any{{int64(-5), int64(-3)}, {nil}, {int64(-3), int64(7)}}, format.Ascending},
		{"int64 descending", schema.Int64, [][]any{{int64(10), int64(9)}, {int64(3), nil, int64(8)}}, format.Descending},
		{"date signed", schema.Date, [][]any{{int64(-1), int64(0)}, {int64(math.MinInt32), int64(math.MaxInt32)}}, format.Unordered},
		{"date ascending", schema.Date, [][]any{{int64(-719162)}, {int64(0), int64(2932896)}}, format.Ascending},
		{"timestamp", schema.Timestamp, [][]any{{int64(1), nil, int64(-1)}, {int64(1700000000000000)}}, format.Ascending},
		{"bool", schema.Bool, [][]any{{true, true}, {false, nil}, {true, false}}, format.Unordered},
		{"bool only false", schema.Bool, [][]any{{false}, {false}}, format.Ascending},
		{"only nulls", schema.Int64, [][]any{{nil}, {nil, nil}}, format.Unordered},
		{"double ascending", schema.Float64, [][]any{{-2.5, math.NaN()}, {-2.5, 0.0}, {1e300}}, format.Ascending},
		{"double descending", schema.Float64, [][]any{{3.0, 4.0}, {-1.0, 2.0}}, format.Descending},
		{"double unordered", schema.Float64, [][]any{{3.0}, {1.0, 9.0}}, format.Unordered},
		{"string ascending", schema.String, [][]any{{"apple", "b"}, {"banana", "c"}, {"zz"}}, format.Ascending},
		{"string descending", schema.String, [][]any{{"x", "y"}, {"", "a"}}, format.Descending},
		{"string unordered", schema.String, [][]any{{"m"}, {"a", "z"}}, format.Unordered},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			data, f := writePages(t, tc.typ, tc.pages)
			chunk := f.Metadata().RowGroups[0].Columns[0]
			var ci format.ColumnIndex
			if err := thrift.Unmarshal(new(thrift.CompactProtocol), data[chunk.ColumnIndexOffset:chunk.ColumnIndexOffset+int64(chunk.ColumnIndexLength)], &ci); err != nil {
				t.Fatal(err)
			}
			if ci.BoundaryOrder != tc.order {
				t.Errorf("boundary order %v, want %v", ci.BoundaryOrder, tc.order)
			}
			if len(ci.NullPages) != len(tc.pages) {
				t.Errorf("%d pages in the column index, want %d", len(ci.NullPages), len(tc.pages))
			}
		})
	}
}

// TestCodecs writes with each codec and reads everything back.
func TestCodecs(t *testing.T) {
	cases := []struct {
		name  string
		codec compress.Codec
		want  format.CompressionCodec
	}{
		{"uncompressed", nil, format.Uncompressed},
		{"snappy", &parquet.Snappy, format.Snappy},
		{"zstd", &zstd.Codec{}, format.Zstd},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(3, 4))
			cols := genCols(rng, 3000)
			// and a column that compresses well
			rep := col{f: schema.Field{Name: "repeated", Type: schema.String}}
			for i := range 3000 {
				rep.vals = append(rep.vals, fmt.Sprintf("the same text again and again %d", i%3))
			}
			cols = append(cols, rep)
			opt := Options{Codec: tc.codec, PageBytes: 4096}
			groups := []int{2000, 1000}
			data := writeFile(t, cols, groups, []int{512, 100}, opt)
			f := checkFile(t, data, cols, groups, opt) // checks each chunk's Codec
			for g := range f.Metadata().RowGroups {
				md := f.Metadata().RowGroups[g].Columns[len(cols)-1].MetaData
				if md.Codec != tc.want {
					t.Errorf("codec %v, want %v", md.Codec, tc.want)
				}
				compressed := md.TotalCompressedSize < md.TotalUncompressedSize/2
				if compressed != (tc.want != format.Uncompressed) {
					t.Errorf("row group %d: repeated text takes %d bytes compressed, %d uncompressed", g, md.TotalCompressedSize, md.TotalUncompressedSize)
				}
			}
		})
	}
}

// TestMetadata: created_by and key/value metadata (Options.KeyValue, then
// SetKeyValue adding and replacing keys) are in the footer.
func TestMetadata(t *testing.T) {
	cols := []col{{schema.Field{Name: "a", Type: schema.Int64}, []any{int64(1), int64(2)}}}
	fields := fieldsOf(cols)
	var buf bytes.Buffer
	w, err := NewWriter(&buf, fields, Options{
		CreatedBy: "s3ingest test",
		KeyValue:  [][2]string{{"k1", "v1"}, {"k2", "v2"}, {"k1", "v1 again"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	w.SetKeyValue("k2", "replaced")
	w.SetKeyValue("k3", `{"json": "é"}`)
	if err := w.WriteColumn(0, vector(schema.Int64, cols[0].vals)); err != nil {
		t.Fatal(err)
	}
	w.SetKeyValue("k4", "") // after rows were written
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	f := checkFile(t, buf.Bytes(), cols, []int{2}, Options{})
	md := f.Metadata()
	if md.CreatedBy != "s3ingest test" {
		t.Errorf("CreatedBy %q", md.CreatedBy)
	}
	got := map[string]string{}
	for _, kv := range md.KeyValueMetadata {
		if _, dup := got[kv.Key]; dup {
			t.Errorf("key %q twice", kv.Key)
		}
		got[kv.Key] = kv.Value
	}
	want := map[string]string{"k1": "v1 again", "k2": "replaced", "k3": `{"json": "é"}`, "k4": ""}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("key/value metadata %v, want %v", got, want)
	}
	for k, v := range want {
		if got, ok := f.Lookup(k); !ok || got != v {
			t.Errorf("Lookup(%q) = %q, %t; want %q", k, got, ok, v)
		}
	}

	// No CreatedBy: parquet-go's (not empty), and no key/value metadata.
	buf.Reset()
	w, err = NewWriter(&buf, fields, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	md = openFile(t, buf.Bytes()).Metadata()
	if md.CreatedBy == "" || len(md.KeyValueMetadata) != 0 {
		t.Errorf("default CreatedBy %q, key/value metadata %v", md.CreatedBy, md.KeyValueMetadata)
	}
}

// TestEmptyFile: a writer closed without rows (and one whose row groups
// were all empty) writes a file of no rows with the schema.
func TestEmptyFile(t *testing.T) {
	cols := genCols(rand.New(rand.NewPCG(1, 1)), 0)
	fields := fieldsOf(cols)
	for _, endGroups := range []int{0, 3} {
		t.Run(fmt.Sprintf("EndRowGroup %d times", endGroups), func(t *testing.T) {
			var buf bytes.Buffer
			w, err := NewWriter(&buf, fields, Options{KeyValue: [][2]string{{"k", "v"}}})
			if err != nil {
				t.Fatal(err)
			}
			if buf.Len() != 0 {
				t.Errorf("NewWriter wrote %d bytes", buf.Len())
			}
			for range endGroups {
				if err := w.WriteColumn(0, vector(schema.Bool, nil)); err != nil {
					t.Fatal(err)
				}
				if err := w.EndRowGroup(); err != nil {
					t.Fatal(err)
				}
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			f := checkFile(t, buf.Bytes(), cols, nil, Options{})
			if f.NumRows() != 0 || len(f.RowGroups()) != 0 {
				t.Errorf("%d rows in %d row groups", f.NumRows(), len(f.RowGroups()))
			}
			if v, ok := f.Lookup("k"); !ok || v != "v" {
				t.Errorf("key/value metadata lost")
			}
			// The schema is the one parquet-go writes for these fields.
			var ref bytes.Buffer
			pw := parquet.NewWriter(&ref, Schema(fields))
			if err := pw.Close(); err != nil {
				t.Fatal(err)
			}
			want := openFile(t, ref.Bytes()).Metadata()
			if !reflect.DeepEqual(f.Metadata().Schema, want.Schema) {
				t.Errorf("schema %+v\nwant %+v", f.Metadata().Schema, want.Schema)
			}
			if !reflect.DeepEqual(f.Metadata().ColumnOrders, want.ColumnOrders) {
				t.Errorf("column orders %+v, want %+v", f.Metadata().ColumnOrders, want.ColumnOrders)
			}
			for i, leaf := range f.Schema().Columns() {
				if c, ok := f.Schema().Lookup(leaf...); !ok || c.ColumnIndex != i || leaf[0] != fields[i].Name {
					t.Errorf("column %d is %v", i, leaf)
				}
			}
		})
	}
}

// TestErrors: a vector of the wrong type, columns of different row counts,
// a schema that does not match the fields, and calls after Close.
func TestErrors(t *testing.T) {
	fields := []schema.Field{{Name: "i", Type: schema.Int64}, {Name: "s", Type: schema.String, Nullable: true}}
	newWriter := func(t *testing.T) (*Writer, *bytes.Buffer) {
		var buf bytes.Buffer
		w, err := NewWriter(&buf, fields, Options{})
		if err != nil {
			t.Fatal(err)
		}
		return w, &buf
	}

	t.Run("wrong vector type", func(t *testing.T) {
		for _, c := range []struct {
			col int
			typ schema.Type
		}{{0, schema.String}, {0, schema.Float64}, {0, schema.Timestamp}, {0, schema.Date}, {1, schema.JSON}, {1, schema.Int64}, {1, schema.Bool}} {
			w, _ := newWriter(t)
			v := &schema.Vector{Type: c.typ}
			switch c.typ {
			case schema.String, schema.JSON:
				v.AppendString("x")
			case schema.Float64:
				v.AppendFloat(1)
			case schema.Bool:
				v.AppendBool(true)
			default:
				v.AppendInt(1)
			}
			if err := w.WriteColumn(c.col, v); err == nil {
				t.Errorf("a %s vector for column %d (%s): no error", c.typ, c.col, fields[c.col].Type)
			}
		}
	})

	t.Run("different row counts", func(t *testing.T) {
		w, _ := newWriter(t)
		if err := w.WriteColumn(0, vector(schema.Int64, []any{int64(1), int64(2), int64(3)})); err != nil {
			t.Fatal(err)
		}
		if err := w.WriteColumn(1, vector(schema.String, []any{"a", nil})); err != nil {
			t.Fatal(err)
		}
		if err := w.EndRowGroup(); err == nil {
			t.Error("EndRowGroup: no error for 3 and 2 rows")
		}
		if err := w.Close(); err == nil {
			t.Error("Close after a failed EndRowGroup: no error")
		}
	})

	t.Run("after Close", func(t *testing.T) {
		w, buf := newWriter(t)
		if err := w.WriteColumn(0, vector(schema.Int64, []any{int64(1)})); err != nil {
			t.Fatal(err)
		}
		if err := w.WriteColumn(1, vector(schema.String, []any{"a"})); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		size := buf.Len()
		for _, c := range []struct {
			name string
			call func() error
		}{
			{"Close", w.Close},
			{"EndRowGroup", w.EndRowGroup},
			{"WriteColumn", func() error { return w.WriteColumn(0, vector(schema.Int64, []any{int64(2)})) }},
			{"FlushPage", func() error { return w.FlushPage(0) }},
		} {
			if err := c.call(); !errors.Is(err, ErrClosed) {
				t.Errorf("%s after Close: %v, want ErrClosed", c.name, err)
			}
		}
		if buf.Len() != size {
			t.Errorf("calls after Close wrote %d bytes", buf.Len()-size)
		}
	})

	t.Run("failed write", func(t *testing.T) {
		// The write's error comes back from EndRowGroup or, at the latest,
		// from Close (a row group may be written in the background).
		for _, buffers := range []bool{false, true} {
			opt := Options{}
			var pool *countingPool
			if buffers {
				pool = newCountingPool(parquet.NewBufferPool())
				opt.Buffers = pool
			}
			w, err := NewWriter(failWriter{}, fields, opt)
			if err != nil {
				t.Fatal(err)
			}
			for range 2 {
				if err := w.WriteColumn(0, vector(schema.Int64, []any{int64(1)})); err != nil {
					t.Fatal(err)
				}
				if err := w.WriteColumn(1, vector(schema.String, []any{"a"})); err != nil {
					t.Fatal(err)
				}
				if err = w.EndRowGroup(); err != nil {
					break
				}
			}
			cerr := w.Close()
			if !errors.Is(err, errWrite) && !errors.Is(cerr, errWrite) {
				t.Errorf("buffers %t: EndRowGroup: %v, Close: %v; want the write's error", buffers, err, cerr)
			}
			if cerr == nil {
				t.Errorf("buffers %t: Close after a failed write: no error", buffers)
			}
			if pool != nil {
				if gets, puts, out, _ := pool.counts(); gets != puts || out != 0 {
					t.Errorf("after a failed write: %d buffers taken, %d returned", gets, puts)
				}
			}
		}
	})
}

var errWrite = errors.New("write failed")

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errWrite }

// countingPool is a parquet.BufferPool that counts the buffers it hands
// out and takes back.
type countingPool struct {
	pool parquet.BufferPool

	mu        sync.Mutex
	gets      int
	puts      int
	out       map[io.ReadWriteSeeker]bool
	strangers int // buffers put back that were not out
}

func newCountingPool(p parquet.BufferPool) *countingPool {
	return &countingPool{pool: p, out: map[io.ReadWriteSeeker]bool{}}
}

func (p *countingPool) GetBuffer() io.ReadWriteSeeker {
	b := p.pool.GetBuffer()
	p.mu.Lock()
	defer p.mu.Unlock()
	p.gets++
	p.out[b] = true
	return b
}

func (p *countingPool) PutBuffer(b io.ReadWriteSeeker) {
	p.mu.Lock()
	p.puts++
	if !p.out[b] {
		p.strangers++
	}
	delete(p.out, b)
	p.mu.Unlock()
	p.pool.PutBuffer(b)
}

func (p *countingPool) counts() (gets, puts, out, strangers int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.gets, p.puts, len(p.out), p.strangers
}

// TestBufferPool: with Options.Buffers, each column chunk's pages go
// through a buffer of the pool, which is returned once its row group is
// written.
func TestBufferPool(t *testing.T) {
	pools := []struct {
		name string
		pool func(t *testing.T) parquet.BufferPool
	}{
		{"memory", func(*testing.T) parquet.BufferPool { return parquet.NewBufferPool() }},
		{"small chunks", func(*testing.T) parquet.BufferPool { return parquet.NewChunkBufferPool(100) }},
		{"files", func(t *testing.T) parquet.BufferPool { return parquet.NewFileBufferPool(t.TempDir(), "pages-*") }},
	}
	for _, pc := range pools {
		t.Run(pc.name, func(t *testing.T) {
			cols := genCols(rand.New(rand.NewPCG(5, 6)), 900)
			fields := fieldsOf(cols)
			pool := newCountingPool(pc.pool(t))
			opt := Options{Buffers: pool, PageBytes: 256, Codec: &parquet.Snappy}
			var buf bytes.Buffer
			w, err := NewWriter(&buf, fields, opt)
			if err != nil {
				t.Fatal(err)
			}
			groups := []int{600, 300}
			row := 0
			for g, n := range groups {
				for b := row; b < row+n; b += 128 {
					e := min(b+128, row+n)
					for c := range cols {
						if err := w.WriteColumn(c, vector(cols[c].f.Type, cols[c].vals[b:e])); err != nil {
							t.Fatal(err)
						}
					}
				}
				row += n
				if err := w.EndRowGroup(); err != nil {
					t.Fatal(err)
				}
				// one buffer per column chunk, all back once written
				if gets, puts, out, _ := pool.counts(); out != 0 || gets != len(cols)*(g+1) || puts != gets {
					t.Errorf("row group %d ended: %d buffers taken, %d returned, %d out; want %d taken, all returned", g, gets, puts, out, len(cols)*(g+1))
				}
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			gets, puts, out, strangers := pool.counts()
			if gets != puts || out != 0 || strangers != 0 || gets != len(cols)*len(groups) {
				t.Errorf("%d buffers taken, %d returned, %d still out, %d returned that were not out; want %d taken and all returned", gets, puts, out, strangers, len(cols)*len(groups))
			}
			checkFile(t, buf.Bytes(), cols, groups, opt)
		})
	}

	t.Run("closed after a failed EndRowGroup", func(t *testing.T) {
		cols := genCols(rand.New(rand.NewPCG(9, 10)), 100)
		fields := fieldsOf(cols)
		pool := newCountingPool(parquet.NewBufferPool())
		w, err := NewWriter(io.Discard, fields, Options{Buffers: pool, PageBytes: 64})
		if err != nil {
			t.Fatal(err)
		}
		for c := range cols {
			n := 100
			if c == 3 {
				n = 99
			}
			if err := w.WriteColumn(c, vector(cols[c].f.Type, cols[c].vals[:n])); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.EndRowGroup(); err == nil {
			t.Fatal("EndRowGroup: no error for columns of 100 and 99 rows")
		}
		if err := w.Close(); err == nil {
			t.Error("Close: no error")
		}
		if gets, puts, out, strangers := pool.counts(); gets == 0 || gets != puts || out != 0 || strangers != 0 {
			t.Errorf("%d buffers taken, %d returned, %d out, %d strangers; want all returned", gets, puts, out, strangers)
		}
	})

	t.Run("closed with an open row group", func(t *testing.T) {
		cols := genCols(rand.New(rand.NewPCG(7, 8)), 100)
		pool := newCountingPool(parquet.NewBufferPool())
		opt := Options{Buffers: pool, PageBytes: 64}
		fields := fieldsOf(cols)
		var buf bytes.Buffer
		w, err := NewWriter(&buf, fields, opt)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range [][2]int{{0, 33}, {33, 60}, {60, 100}} {
			for c := range cols {
				if err := w.WriteColumn(c, vector(cols[c].f.Type, cols[c].vals[r[0]:r[1]])); err != nil {
					t.Fatal(err)
				}
			}
			if r[1] == 60 {
				if err := w.EndRowGroup(); err != nil {
					t.Fatal(err)
				}
			}
		}
		if gets, _, out, _ := pool.counts(); out == 0 || gets <= len(cols) {
			t.Fatalf("before Close: %d buffers taken, %d out; want the open row group's out", gets, out)
		}
		if err := w.Close(); err != nil { // ends the open row group itself
			t.Fatal(err)
		}
		data := buf.Bytes()
		if gets, puts, out, strangers := pool.counts(); gets == 0 || gets != puts || out != 0 || strangers != 0 {
			t.Errorf("%d buffers taken, %d returned, %d out, %d strangers", gets, puts, out, strangers)
		}
		checkFile(t, data, cols, []int{60, 40}, opt)
	})
}

// TestConcurrentColumns writes every column from its own goroutine
// (WriteColumn and FlushPage for different columns at the same time), with
// a shared codec and buffer pool; run it with -race.
func TestConcurrentColumns(t *testing.T) {
	for _, tc := range []struct {
		name  string
		codec compress.Codec
		pool  bool
	}{
		{"zstd, buffer pool", &zstd.Codec{}, true},
		{"snappy, memory", &parquet.Snappy, false},
		{"uncompressed, buffer pool", nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(11, 12))
			groups := []int{1500, 1, 777}
			total := 0
			for _, g := range groups {
				total += g
			}
			cols := genCols(rng, total)
			fields := fieldsOf(cols)
			opt := Options{Codec: tc.codec, PageBytes: 200}
			var pool *countingPool
			if tc.pool {
				pool = newCountingPool(parquet.NewBufferPool())
				opt.Buffers = pool
			}
			var buf bytes.Buffer
			w, err := NewWriter(&buf, fields, opt)
			if err != nil {
				t.Fatal(err)
			}
			row := 0
			for _, n := range groups {
				start := row
				for round := 0; start < row+n; round++ {
					end := min(start+97+round*13, row+n)
					errs := make([]error, len(cols))
					var wg sync.WaitGroup
					for c := range cols {
						wg.Add(1)
						go func() {
							defer wg.Done()
							// each column its own batches within the round
							for b := start; b < end; b += 10 + c {
								e := min(b+10+c, end)
								if err := w.WriteColumn(c, vector(cols[c].f.Type, cols[c].vals[b:e])); err != nil {
									errs[c] = err
									return
								}
								if (b/7+c)%3 == 0 {
									if err := w.FlushPage(c); err != nil {
										errs[c] = err
										return
									}
								}
							}
						}()
					}
					wg.Wait()
					if err := errors.Join(errs...); err != nil {
						t.Fatal(err)
					}
					start = end
				}
				row += n
				if w.Rows() != int64(n) {
					t.Fatalf("Rows() = %d, want %d", w.Rows(), n)
				}
				if err := w.EndRowGroup(); err != nil {
					t.Fatal(err)
				}
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			if pool != nil {
				if gets, puts, out, strangers := pool.counts(); gets != puts || out != 0 || strangers != 0 {
					t.Errorf("%d buffers taken, %d returned, %d out, %d strangers", gets, puts, out, strangers)
				}
			}
			checkFile(t, buf.Bytes(), cols, groups, opt)
		})
	}
}

// blockingWriter blocks every Write until release is closed, counting the
// bytes written.
type blockingWriter struct {
	release chan struct{}
	entered chan struct{} // closed at the first Write
	once    sync.Once
	mu      sync.Mutex
	n       int
}

func (b *blockingWriter) Write(p []byte) (int, error) {
	b.once.Do(func() { close(b.entered) })
	<-b.release
	b.mu.Lock()
	b.n += len(p)
	b.mu.Unlock()
	return len(p), nil
}

func (b *blockingWriter) written() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.n
}

// TestAbortWaitsForTheBackgroundWrite: a row group is written in the
// background (no Options.Buffers); Abort waits for that write, nothing is
// written after it returns, and the Writer is closed.
func TestAbortWaitsForTheBackgroundWrite(t *testing.T) {
	cols := genCols(rand.New(rand.NewPCG(11, 12)), 300)
	fields := fieldsOf(cols)
	out := &blockingWriter{release: make(chan struct{}), entered: make(chan struct{})}
	w, err := NewWriter(out, fields, Options{Codec: &parquet.Snappy})
	if err != nil {
		t.Fatal(err)
	}
	for c := range cols {
		if err := w.WriteColumn(c, vector(cols[c].f.Type, cols[c].vals)); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.EndRowGroup(); err != nil {
		t.Fatalf("EndRowGroup: %v (the write is in the background)", err)
	}
	<-out.entered // the background write is under way, blocked in Write
	// the next row group is encoded meanwhile
	for c := range cols {
		if err := w.WriteColumn(c, vector(cols[c].f.Type, cols[c].vals[:10])); err != nil {
			t.Fatal(err)
		}
	}
	aborted := make(chan struct{})
	go func() {
		w.Abort()
		close(aborted)
	}()
	select {
	case <-aborted:
		t.Fatal("Abort returned while the row group was still being written")
	case <-time.After(50 * time.Millisecond):
	}
	close(out.release)
	select {
	case <-aborted:
	case <-time.After(10 * time.Second):
		t.Fatal("Abort did not return once the write could finish")
	}
	n := out.written()
	if n == 0 {
		t.Error("the background write wrote nothing")
	}
	if err := w.WriteColumn(0, vector(cols[0].f.Type, cols[0].vals[:1])); !errors.Is(err, ErrClosed) {
		t.Errorf("WriteColumn after Abort: %v, want ErrClosed", err)
	}
	if err := w.Close(); !errors.Is(err, ErrClosed) {
		t.Errorf("Close after Abort: %v, want ErrClosed", err)
	}
	w.Abort() // a second Abort does nothing
	if got := out.written(); got != n {
		t.Errorf("%d bytes written after Abort returned (%d then %d)", got-n, n, got)
	}
}

// TestBackgroundWriteError: a background row-group write that fails is
// reported by the next EndRowGroup, and by Close, with its cause.
func TestBackgroundWriteError(t *testing.T) {
	cols := genCols(rand.New(rand.NewPCG(13, 14)), 200)
	fields := fieldsOf(cols)
	w, err := NewWriter(failWriter{}, fields, Options{})
	if err != nil {
		t.Fatal(err)
	}
	writeAll := func(vals func(col) []any) {
		for c := range cols {
			if err := w.WriteColumn(c, vector(cols[c].f.Type, vals(cols[c]))); err != nil {
				t.Fatal(err)
			}
		}
	}
	writeAll(func(c col) []any { return c.vals[:100] })
	if err := w.EndRowGroup(); err != nil {
		t.Fatalf("first EndRowGroup: %v (its write is in the background)", err)
	}
	writeAll(func(c col) []any { return c.vals[100:] })
	if err := w.EndRowGroup(); !errors.Is(err, errWrite) {
		t.Errorf("second EndRowGroup: %v, want the first row group's write error", err)
	}
	if err := w.Close(); err == nil {
		t.Error("Close after a failed write: nil error")
	}
}

// TestSchema: each field type's Parquet leaf (physical type, logical type,
// repetition), in the fields' order.
func TestSchema(t *testing.T) {
	cases := []struct {
		typ     schema.Type
		kind    format.Type
		logical string // the logical type's String(); "" none
	}{
		{schema.Bool, format.Boolean, ""},
		{schema.Int64, format.Int64, "INT(64,true)"},
		{schema.Float64, format.Double, ""},
		{schema.Date, format.Int32, "DATE"},
		{schema.Timestamp, format.Int64, "TIMESTAMP(isAdjustedToUTC=true,unit=MICROS)"},
		{schema.String, format.ByteArray, "STRING"},
		{schema.JSON, format.ByteArray, "JSON"},
	}
	var fields []schema.Field
	for i, tc := range cases {
		// names out of alphabetical order: the columns keep the fields' order
		fields = append(fields, schema.Field{Name: fmt.Sprintf("z%d", len(cases)-i), Type: tc.typ, Nullable: i%2 == 0})
	}
	var buf bytes.Buffer
	w, err := NewWriter(&buf, fields, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	elems := openFile(t, buf.Bytes()).Metadata().Schema
	if len(elems) != len(cases)+1 {
		t.Fatalf("%d schema elements, want %d", len(elems), len(cases)+1)
	}
	for i, tc := range cases {
		e := elems[i+1]
		if e.Name != fields[i].Name {
			t.Errorf("element %d is %q, want %q", i+1, e.Name, fields[i].Name)
		}
		if k, _ := e.Type.Get(); k != tc.kind {
			t.Errorf("%s: physical type %v, want %v", tc.typ, k, tc.kind)
		}
		logical := ""
		if e.LogicalType.Value != nil {
			logical = fmt.Sprint(e.LogicalType.Value)
		}
		if logical != tc.logical {
			t.Errorf("%s: logical type %q, want %q", tc.typ, logical, tc.logical)
		}
		rep, _ := e.RepetitionType.Get()
		if want := map[bool]format.FieldRepetitionType{true: format.Optional, false: format.Required}[fields[i].Nullable]; rep != want {
			t.Errorf("%s: repetition %v, want %v", tc.typ, rep, want)
		}
	}
}
