package parquet

import (
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/s3ingest/s3ingest/parsers/internal/shared"
	"github.com/s3ingest/s3ingest/parsers/schema"
)

// The rescue column (Config.RescueColumn).
//
// bindSchema binds the file columns that Config.Schema reads with their
// type (or as text) as usual; the other file columns (missing from the
// schema, typed differently there (except where widens converts value by
// value), or named like the rescue column) are
// the rescue's extra columns, read in their own type into a scratch batch.
// fillRescue then writes, per row, one JSON object into the rescue column:
// the non-null values of the extra columns and the values of bound
// columns that did not convert (their column holds null), keyed by file
// column name in the file's column order. Numbers and booleans are JSON
// numbers and booleans (NaN and infinities strings), strings, dates and
// timestamps JSON strings of their text, nested values JSON. A row with
// nothing to rescue has null. Values that are not valid UTF-8, and values
// of columns the schema says are not nullable, are still rejected.

// rescue is a Reader's rescue state.
type rescue struct {
	col     int           // output index of the rescue column, -1: off
	typed   []bool        // per output column: the file column has another type (rescued)
	widen   []schema.Type // per output column: the file column's type, widened (0: none)
	tmp     schema.Vector // a widened column's values in the file's type
	tmpErrs []rowErr
	extra   []int          // file columns read only for the rescue, in file order
	scratch *schema.Batch  // one vector per extra column, their own types
	errs    []rowErr       // conversion errors of the scratch columns
	items   []rescuedValue // values of bound columns that did not convert
	buf     []byte
}

// rescuedValue is a value of a bound column that did not convert.
type rescuedValue struct {
	row  int // index in the batch
	seq  int // file column
	json []byte
}

// initRescue sets up the extra columns: the file columns not in bound.
func (r *Reader) initRescue(bound []bool) {
	var fields []schema.Field
	for j := range r.cols {
		if !bound[j] {
			r.resc.extra = append(r.resc.extra, j)
			fields = append(fields, r.cols[j].field)
		}
	}
	r.resc.scratch = schema.NewBatch(&schema.Schema{Fields: fields}, 0)
}

// fillRescue fills the rescue column of the n rows of b from base on (see
// rescue); it turns the conversion errors of nullable bound columns into
// rescued values, and the errors of extra columns into rejected rows only
// for values it cannot rescue.
func (r *Reader) fillRescue(b *schema.Batch, base, n int) error {
	rs := &r.resc
	// values of bound columns that did not convert (their vector has null)
	items := rs.items[:0]
	errs := r.rowErrs[:0]
	for _, e := range r.rowErrs {
		if e.col >= 0 && e.col != rs.col && r.out.Fields[e.col].Nullable && r.srcCol[e.col] >= 0 &&
			b.Cols[e.col].Nulls[e.row] {
			if js, ok := rescueRaw(e.value, e.msg); ok {
				items = append(items, rescuedValue{row: e.row, seq: r.srcCol[e.col], json: js})
				continue
			}
		}
		errs = append(errs, e)
	}
	r.rowErrs = errs
	// the extra columns, in their own types
	sb := rs.scratch
	sb.Reset()
	rs.errs = rs.errs[:0]
	for k, j := range rs.extra {
		if err := r.readColumn(&sb.Cols[k], j, k, 0, n, false, &rs.errs); err != nil {
			return err
		}
	}
	r.curCol = ""
	for _, e := range rs.errs {
		j := rs.extra[e.col]
		if sb.Cols[e.col].Nulls[e.row] {
			if js, ok := rescueRaw(e.value, e.msg); ok {
				items = append(items, rescuedValue{row: base + e.row, seq: j, json: js})
				continue
			}
		}
		e.row += base
		e.col, e.name = -1, r.cols[j].field.Name
		r.rowErrs = append(r.rowErrs, e)
	}
	slices.SortStableFunc(items, func(x, y rescuedValue) int {
		if x.row != y.row {
			return x.row - y.row
		}
		return x.seq - y.seq
	})
	rs.items = items
	// one JSON object per row
	rv := &b.Cols[rs.col]
	next := 0
	for k := range n {
		row := base + k
		buf := append(rs.buf[:0], '{')
		e := 0
		for next < len(items) && items[next].row < row {
			next++
		}
		for {
			// merge the extra columns (in file order) with the row's
			// rescued values (sorted by file column)
			var it *rescuedValue
			if next < len(items) && items[next].row == row {
				it = &items[next]
			}
			for e < len(rs.extra) && sb.Cols[e].Nulls[k] {
				e++
			}
			switch {
			case it != nil && (e == len(rs.extra) || it.seq < rs.extra[e]):
				buf = appendMember(buf, r.cols[it.seq].field.Name, it.json)
				next++
				continue
			case e < len(rs.extra):
				buf = appendMember(buf, r.cols[rs.extra[e]].field.Name, nil)
				buf = appendVectorJSON(buf, &sb.Cols[e], k)
				e++
				continue
			}
			break
		}
		rs.buf = buf
		if len(buf) == 1 {
			rv.AppendNull()
			continue
		}
		rv.AppendBytes(append(buf, '}'))
	}
	return nil
}

// appendMember appends `,"name":` (no comma first) and js.
func appendMember(buf []byte, name string, js []byte) []byte {
	if len(buf) > 1 {
		buf = append(buf, ',')
	}
	buf = shared.AppendJSONString(buf, []byte(name))
	buf = append(buf, ':')
	return append(buf, js...)
}

// appendVectorJSON appends the non-null value k of v as JSON.
func appendVectorJSON(buf []byte, v *schema.Vector, k int) []byte {
	switch v.Type {
	case schema.Bool:
		return strconv.AppendBool(buf, v.Bools[k])
	case schema.Int64:
		return strconv.AppendInt(buf, v.Ints[k], 10)
	case schema.Float64:
		return appendFloatJSON(buf, v.Floats[k], 64)
	case schema.JSON:
		return append(buf, v.BytesAt(k)...)
	case schema.Date, schema.Timestamp:
		return shared.AppendJSONString(buf, []byte(v.Text(k)))
	default:
		return shared.AppendJSONString(buf, v.BytesAt(k))
	}
}

// rescueRaw is the JSON of the raw text of a value that did not convert
// (msg says why): a JSON number as such, other UTF-8 text as a JSON
// string. Text that is not UTF-8 cannot be rescued (false).
func rescueRaw(value, msg string) ([]byte, bool) {
	if strings.Contains(msg, "UTF-8") || !utf8.ValidString(value) {
		return nil, false
	}
	if value != "" && (value[0] == '-' || value[0] >= '0' && value[0] <= '9') && json.Valid([]byte(value)) {
		return []byte(value), true
	}
	return shared.AppendJSONString(nil, []byte(value)), true
}

// maxExactFloat is the largest magnitude up to which every int64 is a
// float64.
const maxExactFloat = 1 << 53

// widens reports whether, in rescue mode, a file column of type have is
// read into a schema column of type want value by value: int64 into
// float64 (values beyond 2^53 in magnitude, which a float64 cannot hold
// exactly, are rescued) and date into timestamp (midnight UTC).
func widens(have, want schema.Type) bool {
	return have == schema.Int64 && want == schema.Float64 || have == schema.Date && want == schema.Timestamp
}

// widen appends the next n rows of file column j to v (output column col,
// of a wider type; see widens), from batch row base on.
func (r *Reader) widen(v *schema.Vector, j, col, base, n int, errs *[]rowErr) error {
	rs := &r.resc
	t := &rs.tmp
	t.Reset()
	t.Type = rs.widen[col]
	rs.tmpErrs = rs.tmpErrs[:0]
	if err := r.readColumn(t, j, col, 0, n, false, &rs.tmpErrs); err != nil {
		return err
	}
	for _, e := range rs.tmpErrs {
		e.row += base
		*errs = append(*errs, e)
	}
	for k := range n {
		switch {
		case t.Nulls[k]:
			v.AppendNull()
		case t.Type == schema.Date:
			v.AppendInt(t.Ints[k] * 86400 * 1_000_000)
		case t.Ints[k] < -maxExactFloat || t.Ints[k] > maxExactFloat:
			*errs = append(*errs, rowErr{row: v.Len(), col: col, value: strconv.FormatInt(t.Ints[k], 10),
				msg: "int64 value beyond 2^53 does not fit float64 exactly"})
			v.AppendNull()
		default:
			v.AppendFloat(float64(t.Ints[k]))
		}
	}
	return nil
}
