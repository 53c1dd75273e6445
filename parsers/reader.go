package parsers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"unicode/utf8"
	"unsafe"

	"github.com/s3ingest/s3ingest/parsers/internal/shared"
	"github.com/s3ingest/s3ingest/parsers/schema"
)

// errRowRejected is returned by a source for a row-level problem; the
// source's rowErr() describes it and reading can go on.
var errRowRejected = errors.New("row rejected")

// source produces the raw rows of a text format.
type source interface {
	// read fills row with the next record. It returns io.EOF at the end,
	// errRowRejected for a bad row (see rowErr), or a fatal error.
	read(row *rowBuf) error
	rowErr() *ParseError
	close() error
	// validUTF8 reports that all bytes read so far are valid UTF-8, so
	// string values need no check of their own.
	validUTF8() bool
}

// rowBuf is one raw row. For CSV cells are the fields in file order; for
// JSON they are indexed by column.
type rowBuf struct {
	line   int64
	cells  []cell
	nbytes int
	// extras are the JSON keys outside the schema and their values, in
	// document order (kept only with Options.RescueColumn).
	extras []extraCell
}

// extraCell is a value of a key outside the schema.
type extraCell struct {
	key []byte
	c   cell
}

// sample holds the rows read for inference, copied out of the source's
// buffer, so they can be replayed into the first batches.
type sample struct {
	arena []byte
	rows  []sampleRow
	cells []sampleCell
	// exhaustive is set when the sample reached the end of the object.
	exhaustive bool
	// fatal is a fatal error met while sampling, returned after the replay.
	fatal error
}

type sampleRow struct {
	line   int64
	first  int
	n      int
	nbytes int
	rej    *ParseError
}

type sampleCell struct {
	off, n int
	col    int // -1: an extra (its key is the kn bytes before off)
	kind   cellKind
	quoted bool
	seq    int32
	kn     int32
}

// sampleCellBudget bounds the memory of a sample's cells and rows (beyond
// the text that Options.SampleBytes bounds, when that is smaller): a wide
// object of empty fields has little text but many cells.
const sampleCellBudget = 4 << 20

// full reports whether the sample holds sampleBytes of text, or its cells
// and rows take sampleCellBudget (or sampleBytes if larger).
func (s *sample) full(sampleBytes int) bool {
	cells := len(s.cells)*int(unsafe.Sizeof(sampleCell{})) + len(s.rows)*int(unsafe.Sizeof(sampleRow{}))
	return len(s.arena) >= sampleBytes || cells >= max(sampleBytes, sampleCellBudget)
}

// add copies a row (only its non-null cells when sparse).
func (s *sample) add(row *rowBuf, sparse bool) {
	sr := sampleRow{line: row.line, first: len(s.cells), nbytes: row.nbytes}
	for i := range row.cells {
		c := &row.cells[i]
		if sparse && c.kind == kNull {
			continue
		}
		s.cells = append(s.cells, sampleCell{off: len(s.arena), n: len(c.b), col: i, kind: c.kind, quoted: c.quoted, seq: c.seq})
		s.arena = append(s.arena, c.b...)
	}
	for i := range row.extras {
		e := &row.extras[i]
		s.arena = append(s.arena, e.key...)
		s.cells = append(s.cells, sampleCell{off: len(s.arena), n: len(e.c.b), col: -1, kind: e.c.kind, seq: e.c.seq, kn: int32(len(e.key))})
		s.arena = append(s.arena, e.c.b...)
	}
	sr.n = len(s.cells) - sr.first
	s.rows = append(s.rows, sr)
}

func (s *sample) addReject(line int64, pe *ParseError) {
	s.rows = append(s.rows, sampleRow{line: line, first: len(s.cells), rej: pe})
}

// load fills row with sample row i; width > 0 means sparse cells over width
// columns.
func (s *sample) load(i int, row *rowBuf, width int) *ParseError {
	sr := &s.rows[i]
	row.line, row.nbytes = sr.line, sr.nbytes
	row.extras = row.extras[:0]
	if sr.rej != nil {
		return sr.rej
	}
	if width > 0 {
		row.cells = resizeCells(row.cells, width)
		for j := range row.cells {
			row.cells[j] = cell{}
		}
	} else {
		row.cells = resizeCells(row.cells, sr.n)
	}
	for k := 0; k < sr.n; k++ {
		sc := &s.cells[sr.first+k]
		c := cell{b: s.arena[sc.off : sc.off+sc.n : sc.off+sc.n], kind: sc.kind, quoted: sc.quoted, seq: sc.seq}
		if width > 0 {
			if sc.col < 0 {
				k := sc.off - int(sc.kn)
				row.extras = append(row.extras, extraCell{key: s.arena[k:sc.off:sc.off], c: c})
			} else if sc.col < width {
				row.cells[sc.col] = c
			}
		} else {
			row.cells[k] = c
		}
	}
	return nil
}

func resizeCells(c []cell, n int) []cell {
	if cap(c) < n {
		return make([]cell, n, n+n/2+4)
	}
	return c[:n]
}

// reader is the Reader of the text formats: it replays the sample, then
// reads the source, and converts each row into the typed batch.
type reader struct {
	name     string
	info     Info
	schema   *schema.Schema
	src      source
	opts     Options
	nulls    *nullSet
	colMap   []int // schema column -> cell index (-1: always null)
	width    int   // CSV: expected field count; 0 for JSON
	sparse   int   // JSON: number of columns of a sparse row
	inferred bool

	sample *sample
	replay int

	// batchRows is the most rows of a batch: Options.BatchRows, fewer
	// for a wide schema.
	batchRows int

	// rescuing is set by Options.RescueColumn, rescue is its column's
	// index in the schema; see rescue.go.
	rescuing bool
	rescue   int
	resc     rescueState

	row     rowBuf
	eof     bool
	err     error // sticky fatal error
	jsonBuf []byte

	// textCap bounds the text of a batch (shared.MaxBatchBytes when 0;
	// smaller for the batches of a pipeline, see pipeline.go).
	textCap int
	// rec, when set, records rejects (and JSON keys outside the columns)
	// for the consumer instead of calling OnReject: set in the producers
	// of a pipeline.
	rec *[]event
	// lastText is the text of the last batch filled; feeder marks the
	// feeder of a pipeline (the only producer that waits for the consumer
	// after an oversized batch: a worker waiting could hold up the chunk
	// the consumer needs).
	lastText int
	feeder   bool

	// pipelined is set by Open: Next reads from a pipeline (see
	// pipeline.go) started by its first call.
	pipelined bool
	// sampleOnly makes the source end after the sample (the feeder of a
	// parallel pipeline replays the sample alone).
	sampleOnly bool
	pipe       *pipeline
	perr       error   // sticky error of the pipelined Next
	stream     *stream // the stream of src, whose read-ahead Close stops first
	cols       *jsonCols
}

func (r *reader) Schema() *schema.Schema { return r.schema }
func (r *reader) Info() Info             { return r.info }

func (r *reader) Close() error {
	if r.src == nil {
		return nil
	}
	r.stopPipeline()
	err := r.src.close()
	r.src = nil
	return err
}

// nextRow fills r.row from the sample replay or the source.
func (r *reader) nextRow() error {
	if s := r.sample; s != nil {
		if r.replay < len(s.rows) {
			i := r.replay
			r.replay++
			if pe := s.load(i, &r.row, r.sparse); pe != nil {
				return pe
			}
			return nil
		}
		fatal := s.fatal
		r.sample = nil // release the arena
		if fatal != nil {
			return fatal
		}
	}
	if r.src == nil || r.sampleOnly {
		return io.EOF
	}
	err := r.src.read(&r.row)
	if err == errRowRejected {
		return r.src.rowErr()
	}
	return err
}

// Next implements Reader. When it returns an error other than io.EOF, b is
// left empty.
func (r *reader) Next(ctx context.Context, b *schema.Batch) error {
	if r.pipelined {
		return r.nextPiped(ctx, b)
	}
	err := r.next(ctx, b)
	if err != nil && err != io.EOF {
		b.Reset()
	}
	return err
}

func (r *reader) next(ctx context.Context, b *schema.Batch) error {
	b.Reset()
	if err := ctx.Err(); err != nil {
		return err
	}
	if r.err != nil {
		return r.err
	}
	if r.eof {
		return io.EOF
	}
	if len(b.Cols) != len(r.schema.Fields) {
		return fmt.Errorf("parsers: batch has %d columns, schema has %d: use schema.NewBatch(reader.Schema(), n)", len(b.Cols), len(r.schema.Fields))
	}
	if r.batchRows == 0 {
		// a wide schema gets small batches (see schema.BatchFixedBytes)
		r.batchRows = schema.BatchRows(r.schema, r.opts.BatchRows)
	}
	textCap := r.textCap
	if textCap == 0 {
		textCap = shared.MaxBatchBytes
	}
	size := 0
	for n := 1; b.Len() < r.batchRows && size < textCap && (r.rec == nil || len(*r.rec) < maxBatchEvents); n++ {
		if n&1023 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		err := r.nextRow()
		if err != nil {
			var pe *ParseError
			switch {
			case err == io.EOF:
				r.eof = true
			case errors.As(err, &pe) && pe.rowLevel():
				if e := r.reject(pe); e != nil {
					return e
				}
				continue
			default:
				if ctx.Err() != nil {
					return ctx.Err()
				}
				r.err = err
				if b.Len() > 0 {
					return nil // hand over the good rows first
				}
				return err
			}
			break
		}
		var pe *ParseError
		if r.rescuing {
			pe = r.convertRescue(b)
		} else {
			pe = r.convert(b)
		}
		if pe != nil {
			b.Truncate(b.Len())
			if e := r.reject(pe); e != nil {
				return e
			}
			continue
		}
		// the rescued JSON counts toward the batch's text
		size += r.row.nbytes + r.resc.rowBytes
	}
	r.lastText = size
	if b.Len() == 0 && r.eof {
		return io.EOF
	}
	return nil
}

// rowLevel reports whether the error concerns a single row (and reading can
// go on past it).
func (e *ParseError) rowLevel() bool { return e.Line > 0 && e.rowLvl }

func (r *reader) reject(pe *ParseError) error {
	if r.rec != nil {
		*r.rec = append(*r.rec, event{pe: pe})
		return nil
	}
	if r.opts.OnReject == nil {
		return pe
	}
	return r.opts.OnReject(pe)
}

// convert appends r.row to b, or returns why it cannot.
func (r *reader) convert(b *schema.Batch) *ParseError {
	row := &r.row
	cells := row.cells
	if pe := r.ragged(); pe != nil {
		return pe
	}
	fields := r.schema.Fields
	for i := range b.Cols {
		v := &b.Cols[i]
		ci := r.colMap[i]
		var c *cell
		if ci >= 0 && ci < len(cells) {
			c = &cells[ci]
		}
		if msg := r.appendCell(v, c, fields[i].Nullable); msg != "" {
			return r.typeError(i, c, msg)
		}
	}
	b.Lines = append(b.Lines, row.line)
	return nil
}

// ragged returns the error of a CSV row whose field count breaks the
// ragged policy, or nil.
func (r *reader) ragged() *ParseError {
	row := &r.row
	if r.width > 0 && len(row.cells) != r.width && r.opts.CSV.Ragged != RaggedPad {
		return &ParseError{Object: r.name, Line: row.line, RowGroup: -1, rowLvl: true,
			Err:  fmt.Errorf("%w: the row has %d fields, the header has %d", ErrCorrupt, len(row.cells), r.width),
			Hint: `fix the row, or set csv.ragged to "pad" to fill missing fields with nulls and drop extra ones`}
	}
	return nil
}

func (r *reader) typeError(col int, c *cell, msg string) *ParseError {
	f := &r.schema.Fields[col]
	pe := &ParseError{Object: r.name, Line: r.row.line, RowGroup: -1, rowLvl: true, Column: f.Name,
		Err: fmt.Errorf("%w: %s", ErrType, msg)}
	if c != nil {
		pe.Value = shared.Shorten(c.b)
	}
	switch {
	case msg == msgNull && r.inferred:
		pe.Hint = "the sample had no nulls in this column: pass a schema with the column nullable"
	case msg == msgNull:
		pe.Hint = "fill the value, or mark the column nullable in the schema"
	case msg == msgUTF8:
		pe.Hint = "set csv.encoding to the object's encoding (e.g. windows-1252)"
	case r.inferred:
		pe.Hint = fmt.Sprintf("the column was inferred as %s from the sample; fix the value, raise sample_rows, or pass a schema with a wider type (e.g. string)", f.Type)
	default:
		pe.Hint = fmt.Sprintf("fix the value, or change the column's type from %s in the schema", f.Type)
	}
	return pe
}

const (
	msgNull = "null in a column that is not nullable"
	msgUTF8 = "invalid UTF-8"
)

// appendCell converts one cell; it returns "" or what is wrong.
func (r *reader) appendCell(v *schema.Vector, c *cell, nullable bool) string {
	if c == nil || c.kind == kNull {
		return r.appendNull(v, nullable)
	}
	b := c.b
	if c.kind == kText {
		// CSV: the hot path. Try the value as is; trim spaces only when
		// that fails.
		if len(b) == 0 || (r.nulls.first[b[0]] && r.nulls.is(b)) {
			if !(c.quoted && v.Type == schema.String) {
				return r.appendNull(v, nullable)
			}
		}
		switch v.Type {
		case schema.String:
			if !r.src.validUTF8() && !utf8.Valid(b) {
				return msgUTF8
			}
			v.AppendBytes(b)
			return ""
		case schema.Int64:
			if x, ok := parseInt(b); ok {
				v.AppendInt(x)
				return ""
			}
		case schema.Float64:
			if x, ok := parseFloat(b); ok {
				v.AppendFloat(x)
				return ""
			}
		case schema.Timestamp:
			if ts, ok := parseTimestamp(b); ok {
				v.AppendInt(ts)
				return ""
			}
		case schema.Date:
			if d, ok := parseDate(b); ok {
				v.AppendInt(d)
				return ""
			}
		case schema.Bool:
			if x, ok := parseBool(b); ok {
				v.AppendBool(x)
				return ""
			}
		}
		return r.appendSlow(v, c)
	}
	// JSON kinds
	switch v.Type {
	case schema.String:
		if c.kind == kStr && !r.src.validUTF8() && !utf8.Valid(b) {
			return msgUTF8
		}
		v.AppendBytes(b)
		return ""
	case schema.Int64:
		if c.kind == kNum {
			if x, ok := parseInt(b); ok {
				v.AppendInt(x)
				return ""
			}
		}
	case schema.Float64:
		if c.kind == kNum {
			if x, ok := parseFloat(b); ok {
				v.AppendFloat(x)
				return ""
			}
		}
	case schema.Bool:
		if c.kind == kBool {
			v.AppendBool(b[0] == 't')
			return ""
		}
	case schema.Timestamp:
		if c.kind == kStr {
			if ts, ok := parseTimestamp(b); ok {
				v.AppendInt(ts)
				return ""
			}
		}
	case schema.Date:
		if c.kind == kStr {
			if d, ok := parseDate(b); ok {
				v.AppendInt(d)
				return ""
			}
		}
	}
	return r.appendSlow(v, c)
}

func (r *reader) appendNull(v *schema.Vector, nullable bool) string {
	if !nullable {
		return msgNull
	}
	v.AppendNull()
	return ""
}

// appendSlow converts everything the hot path does not: trimmed values,
// booleans as numbers, JSON kinds.
func (r *reader) appendSlow(v *schema.Vector, c *cell) string {
	b := c.b
	switch v.Type {
	case schema.String:
		if !r.src.validUTF8() && !utf8.Valid(b) {
			return msgUTF8
		}
		v.AppendBytes(b)
		return ""
	case schema.Int64:
		switch c.kind {
		case kBool:
			v.AppendInt(boolInt(b[0] == 't'))
			return ""
		case kRaw:
			return "not an integer"
		}
		t := trimSpace(b)
		if x, ok := parseInt(t); ok {
			v.AppendInt(x)
			return ""
		}
		if x, ok := parseBool(t); ok && c.kind == kText {
			v.AppendInt(boolInt(x))
			return ""
		}
		return "not an integer"
	case schema.Float64:
		switch c.kind {
		case kBool:
			v.AppendFloat(float64(boolInt(b[0] == 't')))
			return ""
		case kRaw:
			return "not a number"
		}
		t := trimSpace(b)
		if x, ok := parseFloat(t); ok {
			v.AppendFloat(x)
			return ""
		}
		if x, ok := parseBool(t); ok && c.kind == kText {
			v.AppendFloat(float64(boolInt(x)))
			return ""
		}
		return "not a number"
	case schema.Bool:
		switch c.kind {
		case kBool:
			v.AppendBool(b[0] == 't')
			return ""
		case kRaw:
			return "not true/false"
		}
		t := trimSpace(b)
		if x, ok := parseBool(t); ok {
			v.AppendBool(x)
			return ""
		}
		if len(t) == 1 && (t[0] == '0' || t[0] == '1') {
			v.AppendBool(t[0] == '1')
			return ""
		}
		return "not true/false"
	case schema.Date:
		if c.kind == kText || c.kind == kStr {
			if d, ok := parseDate(trimSpace(b)); ok {
				v.AppendInt(d)
				return ""
			}
		}
		return "not a date (YYYY-MM-DD)"
	case schema.Timestamp:
		if c.kind == kText || c.kind == kStr {
			t := trimSpace(b)
			if ts, ok := parseTimestamp(t); ok {
				v.AppendInt(ts)
				return ""
			}
			if d, ok := parseDate(t); ok {
				v.AppendInt(d * 86400e6)
				return ""
			}
		}
		return "not an ISO-8601 timestamp (e.g. 2024-01-02T03:04:05Z)"
	case schema.JSON:
		switch c.kind {
		case kText:
			if !json.Valid(b) {
				return "not valid JSON"
			}
			v.AppendBytes(b)
		case kStr:
			r.jsonBuf = shared.AppendJSONString(r.jsonBuf[:0], b)
			v.AppendBytes(r.jsonBuf)
		default:
			v.AppendBytes(b)
		}
		return ""
	}
	return "unsupported column type " + v.Type.String()
}

func boolInt(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

// utf8Check validates a scanner's buffer chunk by chunk as it is filled, so
// that string values need no check of their own while all input is valid.
type utf8Check struct {
	invalid bool
	end     int // buf[:end] has been checked
}

// check validates buf[u.end:], leaving an incomplete rune at the end for the
// next call unless eof.
func (u *utf8Check) check(buf []byte, eof bool) {
	u.end = max(u.end, 0)
	if u.invalid || u.end >= len(buf) {
		return
	}
	end := len(buf)
	if !eof {
		for i := 1; i <= utf8.UTFMax && end-i >= u.end; i++ {
			if utf8.RuneStart(buf[end-i]) {
				if !utf8.FullRune(buf[end-i:]) {
					end -= i
				}
				break
			}
		}
	}
	if !utf8.Valid(buf[u.end:end]) {
		u.invalid = true
	}
	u.end = end
}

// shift accounts for the buffer being compacted by n bytes.
func (u *utf8Check) shift(n int) { u.end -= n }
