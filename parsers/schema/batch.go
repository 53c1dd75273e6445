package schema

import (
	"encoding/json"
	"strconv"
	"time"
)

// Vector is one column of a Batch. Exactly one value slice is used, chosen by
// Type; Nulls always has one entry per row.
//
//	Bool               -> Bools
//	Int64, Date, Timestamp -> Ints (days / microseconds since the epoch for Date / Timestamp)
//	Float64            -> Floats
//	String, JSON       -> Bytes + Offsets (value i is Bytes[Offsets[i]:Offsets[i+1]])
//
// Vectors are reused across batches: appending never allocates once the
// slices have grown to the batch capacity.
type Vector struct {
	Type    Type
	Nulls   []bool
	Bools   []bool
	Ints    []int64
	Floats  []float64
	Bytes   []byte
	Offsets []int32
}

// Len returns the number of rows in the vector.
func (v *Vector) Len() int { return len(v.Nulls) }

// AppendNull appends a null (a zero placeholder in the value slice).
func (v *Vector) AppendNull() {
	v.Nulls = append(v.Nulls, true)
	switch v.Type {
	case Bool:
		v.Bools = append(v.Bools, false)
	case Int64, Date, Timestamp:
		v.Ints = append(v.Ints, 0)
	case Float64:
		v.Floats = append(v.Floats, 0)
	default:
		v.pushOffset()
	}
}

// AppendBool appends a bool value.
func (v *Vector) AppendBool(b bool) { v.Nulls = append(v.Nulls, false); v.Bools = append(v.Bools, b) }

// AppendInt appends an Int64, Date (days) or Timestamp (microseconds) value.
func (v *Vector) AppendInt(i int64) { v.Nulls = append(v.Nulls, false); v.Ints = append(v.Ints, i) }

// AppendFloat appends a Float64 value.
func (v *Vector) AppendFloat(f float64) {
	v.Nulls = append(v.Nulls, false)
	v.Floats = append(v.Floats, f)
}

// AppendBytes appends a String or JSON value; b is copied.
func (v *Vector) AppendBytes(b []byte) {
	v.Nulls = append(v.Nulls, false)
	v.Bytes = append(v.Bytes, b...)
	v.pushOffset()
}

// AppendString appends a String or JSON value.
func (v *Vector) AppendString(s string) {
	v.Nulls = append(v.Nulls, false)
	v.Bytes = append(v.Bytes, s...)
	v.pushOffset()
}

func (v *Vector) pushOffset() {
	if len(v.Offsets) == 0 {
		v.Offsets = append(v.Offsets, 0)
	}
	v.Offsets = append(v.Offsets, int32(len(v.Bytes)))
}

// BytesAt returns the String/JSON value of row i. The slice aliases the
// vector's buffer and is only valid until the batch is reset.
func (v *Vector) BytesAt(i int) []byte { return v.Bytes[v.Offsets[i]:v.Offsets[i+1]] }

// Truncate drops rows from n on.
func (v *Vector) Truncate(n int) {
	if n >= len(v.Nulls) {
		return
	}
	v.Nulls = v.Nulls[:n]
	switch v.Type {
	case Bool:
		v.Bools = v.Bools[:n]
	case Int64, Date, Timestamp:
		v.Ints = v.Ints[:n]
	case Float64:
		v.Floats = v.Floats[:n]
	default:
		if len(v.Offsets) > 0 {
			v.Offsets = v.Offsets[:n+1]
			v.Bytes = v.Bytes[:v.Offsets[n]]
		}
	}
}

// Reset empties the vector, keeping its memory.
func (v *Vector) Reset() {
	v.Nulls = v.Nulls[:0]
	v.Bools = v.Bools[:0]
	v.Ints = v.Ints[:0]
	v.Floats = v.Floats[:0]
	v.Bytes = v.Bytes[:0]
	v.Offsets = v.Offsets[:0]
}

// Value returns row i as a plain Go value for previews and tests: nil, bool,
// int64, float64, string, or json.RawMessage. Dates render as "2006-01-02"
// and timestamps as RFC 3339 with microseconds in UTC.
func (v *Vector) Value(i int) any {
	if v.Nulls[i] {
		return nil
	}
	switch v.Type {
	case Bool:
		return v.Bools[i]
	case Int64:
		return v.Ints[i]
	case Float64:
		return v.Floats[i]
	case Date:
		return FormatDate(v.Ints[i])
	case Timestamp:
		return FormatTimestamp(v.Ints[i])
	case JSON:
		return json.RawMessage(append([]byte(nil), v.BytesAt(i)...))
	default:
		return string(v.BytesAt(i))
	}
}

// Text renders row i as text (the empty string for null), the form used in
// reject records and error messages.
func (v *Vector) Text(i int) string {
	if v.Nulls[i] {
		return ""
	}
	switch v.Type {
	case Bool:
		return strconv.FormatBool(v.Bools[i])
	case Int64:
		return strconv.FormatInt(v.Ints[i], 10)
	case Float64:
		return strconv.FormatFloat(v.Floats[i], 'g', -1, 64)
	case Date:
		return FormatDate(v.Ints[i])
	case Timestamp:
		return FormatTimestamp(v.Ints[i])
	default:
		return string(v.BytesAt(i))
	}
}

// Epoch day and microsecond helpers.

// DateFromTime returns the days since 1970-01-01 of t's calendar date.
func DateFromTime(t time.Time) int64 {
	y, m, d := t.Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC).Unix() / 86400
}

// TimeFromDate returns midnight UTC of the given epoch day.
func TimeFromDate(days int64) time.Time { return time.Unix(days*86400, 0).UTC() }

// FormatDate renders an epoch day as YYYY-MM-DD.
func FormatDate(days int64) string { return TimeFromDate(days).Format(time.DateOnly) }

// TimestampFromTime returns microseconds since the epoch.
func TimestampFromTime(t time.Time) int64 { return t.UnixMicro() }

// TimeFromTimestamp returns the UTC time of microseconds since the epoch.
func TimeFromTimestamp(us int64) time.Time { return time.UnixMicro(us).UTC() }

// FormatTimestamp renders microseconds since the epoch as RFC 3339 in UTC.
func FormatTimestamp(us int64) string {
	return TimeFromTimestamp(us).Format("2006-01-02T15:04:05.999999Z07:00")
}

// Batch is a set of rows held as typed columns, the unit parsers hand to
// sinks. A Batch is reused: call Reset before refilling it.
type Batch struct {
	// Schema describes Cols; len(Cols) == len(Schema.Fields).
	Schema *Schema
	// Cols holds one vector per field.
	Cols []Vector
	// Lines holds, per row, its position in the source object: the 1-based
	// line for CSV/JSON, the 0-based row index for Parquet.
	Lines []int64
}

// BatchFixedBytes bounds the fixed-width part of a batch: its rows' lines,
// null flags, numbers and string offsets (RowBytes per row), whatever the
// schema's width. Readers hand over a batch once it holds BatchRows rows,
// and NewBatch preallocates no more, so a wide schema gets small batches: a
// 20,000-column batch holds about 180 rows instead of 8,192 (which took
// ~940 MiB). The text of string and JSON values is bounded separately (by
// the readers, at 32 MiB per batch).
const BatchFixedBytes = 16 << 20

// RowBytes is the memory one row of s takes in a Batch, not counting the
// text of string and JSON values: its line (8 bytes), and per column its
// null flag (1) and its value (1 for a bool, 8 for a number, date or
// timestamp, a 4-byte offset for a string or JSON value).
func RowBytes(s *Schema) int {
	n := 8
	for _, f := range s.Fields {
		switch f.Type {
		case Bool:
			n += 2
		case Int64, Float64, Date, Timestamp:
			n += 9
		default:
			n += 5
		}
	}
	return n
}

// BatchRows is the number of rows of s a batch holds: at most max (when
// max > 0) and at most BatchFixedBytes / RowBytes(s), at least 1.
func BatchRows(s *Schema, max int) int {
	n := BatchFixedBytes / RowBytes(s)
	if max > 0 && max < n {
		n = max
	}
	if n < 1 {
		n = 1
	}
	return n
}

// NewBatch returns an empty batch for s with room for capacity rows, or for
// BatchRows(s, capacity) when that is fewer (a batch grows past its
// preallocation if more rows are appended).
func NewBatch(s *Schema, capacity int) *Batch {
	capacity = BatchRows(s, capacity)
	b := &Batch{Schema: s, Cols: make([]Vector, len(s.Fields)), Lines: make([]int64, 0, capacity)}
	for i, f := range s.Fields {
		v := &b.Cols[i]
		v.Type = f.Type
		v.Nulls = make([]bool, 0, capacity)
		switch f.Type {
		case Bool:
			v.Bools = make([]bool, 0, capacity)
		case Int64, Date, Timestamp:
			v.Ints = make([]int64, 0, capacity)
		case Float64:
			v.Floats = make([]float64, 0, capacity)
		default:
			v.Offsets = make([]int32, 0, capacity+1)
		}
	}
	return b
}

// Len returns the number of complete rows in the batch.
func (b *Batch) Len() int { return len(b.Lines) }

// Reset empties the batch, keeping its memory.
func (b *Batch) Reset() {
	for i := range b.Cols {
		b.Cols[i].Reset()
	}
	b.Lines = b.Lines[:0]
}

// Truncate drops rows from n on; parsers use it to roll back a row that
// failed half-way through conversion.
func (b *Batch) Truncate(n int) {
	for i := range b.Cols {
		b.Cols[i].Truncate(n)
	}
	if n < len(b.Lines) {
		b.Lines = b.Lines[:n]
	}
}

// Row returns row i as plain Go values in schema order (see Vector.Value).
func (b *Batch) Row(i int) []any {
	out := make([]any, len(b.Cols))
	for c := range b.Cols {
		out[c] = b.Cols[c].Value(i)
	}
	return out
}

// DeleteRow removes row i, shifting the later rows up. It is O(rows) and
// meant for the rare row a sink refuses after parsing.
func (b *Batch) DeleteRow(i int) {
	for c := range b.Cols {
		b.Cols[c].deleteRow(i)
	}
	b.Lines = append(b.Lines[:i], b.Lines[i+1:]...)
}

func (v *Vector) deleteRow(i int) {
	v.Nulls = append(v.Nulls[:i], v.Nulls[i+1:]...)
	switch v.Type {
	case Bool:
		v.Bools = append(v.Bools[:i], v.Bools[i+1:]...)
	case Int64, Date, Timestamp:
		v.Ints = append(v.Ints[:i], v.Ints[i+1:]...)
	case Float64:
		v.Floats = append(v.Floats[:i], v.Floats[i+1:]...)
	default:
		start, end := v.Offsets[i], v.Offsets[i+1]
		n := end - start
		v.Bytes = append(v.Bytes[:start], v.Bytes[end:]...)
		for j := i + 1; j < len(v.Offsets); j++ {
			v.Offsets[j] -= n
		}
		v.Offsets = append(v.Offsets[:i+1], v.Offsets[i+2:]...)
	}
}
