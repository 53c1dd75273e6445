package parsers

import (
	"bytes"
	"fmt"
	"slices"
	"unicode/utf8"

	"github.com/s3ingest/s3ingest/parsers/internal/shared"
	"github.com/s3ingest/s3ingest/parsers/schema"
)

// The rescue column of the text formats (Options.RescueColumn).
//
// Each row is converted as usual, except that a value that does not
// convert to its (nullable) column's type leaves null there and is
// rescued; the values of source columns outside the schema are rescued
// too. The rescued values of a row are written as one JSON object into the
// rescue column, keyed by source column name in source order: CSV header
// order, JSON document order (cell.seq).

// rescueState is a text reader's rescue state.
type rescueState struct {
	// names are the source column names: CSV: per header field; JSON: per
	// schema column.
	names [][]byte
	// known (CSV): per header field, whether a schema column other than
	// the rescue column reads it.
	known []bool
	items []rescueItem
	buf   []byte
	seen  map[string]int
	// rowBytes is the size of the last row's rescued JSON.
	rowBytes int
}

// rescueItem is one value to rescue.
type rescueItem struct {
	seq  int32 // position in the source row
	name []byte
	c    *cell
}

// initRescue turns rescuing on; names are the source column names (see
// rescueState.names) and known is the CSV header fields read by a schema
// column (nil for JSON).
func (r *reader) initRescue(idx int, names []string, known []bool) {
	r.rescuing, r.rescue = true, idx
	r.resc.names = make([][]byte, len(names))
	for i, n := range names {
		r.resc.names[i] = []byte(n)
	}
	r.resc.known = known
}

// dedupeExtras drops, among items[from:], every item whose name comes
// again later (a JSON document that repeats a key: the last value wins, as
// for the columns of the schema).
func (rs *rescueState) dedupeExtras(items []rescueItem, from int) []rescueItem {
	extras := items[from:]
	if len(extras) < 2 {
		return items
	}
	drop := func(k int) bool {
		if len(extras) <= 16 {
			for l := k + 1; l < len(extras); l++ {
				if bytes.Equal(extras[k].name, extras[l].name) {
					return true
				}
			}
			return false
		}
		return rs.seen[string(extras[k].name)] != k
	}
	if len(extras) > 16 {
		if rs.seen == nil {
			rs.seen = map[string]int{}
		}
		clear(rs.seen)
		for k := range extras {
			rs.seen[string(extras[k].name)] = k
		}
	}
	w := from
	for k := range extras {
		if !drop(k) {
			items[w] = extras[k]
			w++
		}
	}
	return items[:w]
}

// convertRescue is convert in rescue mode.
func (r *reader) convertRescue(b *schema.Batch) *ParseError {
	rs := &r.resc
	rs.rowBytes = 0
	if pe := r.ragged(); pe != nil {
		return pe
	}
	row := &r.row
	cells := row.cells
	fields := r.schema.Fields
	csv := r.width > 0
	items := rs.items[:0]
	for i := range b.Cols {
		if i == r.rescue {
			continue
		}
		v := &b.Cols[i]
		ci := r.colMap[i]
		var c *cell
		if ci >= 0 && ci < len(cells) {
			c = &cells[ci]
		}
		msg := r.appendCell(v, c, fields[i].Nullable)
		if msg == "" {
			continue
		}
		if msg == msgNull || msg == msgUTF8 || !fields[i].Nullable {
			return r.typeError(i, c, msg)
		}
		v.AppendNull()
		if csv {
			items = append(items, rescueItem{seq: int32(ci), name: rs.names[ci], c: c})
		} else {
			items = append(items, rescueItem{seq: c.seq, name: rs.names[i], c: c})
		}
	}
	if csv {
		for j := 0; j < min(len(cells), r.width); j++ {
			c := &cells[j]
			if rs.known[j] || (!c.quoted && r.nulls.is(c.b)) {
				continue
			}
			items = append(items, rescueItem{seq: int32(j), name: rs.names[j], c: c})
		}
	} else {
		// a key named like the rescue column is a source column too
		if r.rescue < len(cells) && cells[r.rescue].kind != kNull {
			c := &cells[r.rescue]
			items = append(items, rescueItem{seq: c.seq, name: rs.names[r.rescue], c: c})
		}
		from := len(items)
		for k := range row.extras {
			if e := &row.extras[k]; e.c.kind != kNull {
				items = append(items, rescueItem{seq: e.c.seq, name: e.key, c: &e.c})
			}
		}
		items = rs.dedupeExtras(items, from)
	}
	rs.items = items
	rv := &b.Cols[r.rescue]
	if len(items) == 0 {
		rv.AppendNull()
		b.Lines = append(b.Lines, row.line)
		return nil
	}
	if !slices.IsSortedFunc(items, cmpSeq) {
		slices.SortFunc(items, cmpSeq)
	}
	limit := 2 * r.opts.MaxLineBytes
	buf := append(rs.buf[:0], '{')
	for k := range items {
		it := &items[k]
		c := it.c
		if c.kind != kNum && c.kind != kBool && !r.src.validUTF8() && !utf8.Valid(c.b) {
			return r.rescueError(it, ErrType, msgUTF8, "set csv.encoding to the object's encoding (e.g. windows-1252)")
		}
		if k > 0 {
			buf = append(buf, ',')
		}
		buf = shared.AppendJSONString(buf, it.name)
		buf = append(buf, ':')
		switch c.kind {
		case kText, kStr:
			buf = shared.AppendJSONString(buf, c.b)
		default: // a JSON number, boolean, object or array as written
			buf = append(buf, c.b...)
		}
		if len(buf) > limit {
			rs.buf = buf[:0]
			return r.rescueError(it, ErrTooLarge,
				fmt.Sprintf("the rescued values of the row take more than %d bytes as JSON (twice max_line_bytes)", limit),
				"add the row's columns to the schema, or raise max_line_bytes")
		}
	}
	buf = append(buf, '}')
	rs.buf = buf
	rs.rowBytes = len(buf)
	rv.AppendBytes(buf)
	b.Lines = append(b.Lines, row.line)
	return nil
}

func cmpSeq(x, y rescueItem) int { return int(x.seq) - int(y.seq) }

// rescueError is the row-level error of a value that cannot be rescued.
func (r *reader) rescueError(it *rescueItem, sentinel error, msg, hint string) *ParseError {
	return &ParseError{Object: r.name, Line: r.row.line, RowGroup: -1, rowLvl: true, Column: string(it.name),
		Value: shared.Shorten(it.c.b), Err: fmt.Errorf("%w: %s", sentinel, msg), Hint: hint}
}
