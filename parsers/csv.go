package parsers

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"math/bits"
	"strconv"
	"strings"

	"github.com/s3ingest/s3ingest/parsers/schema"
)

// CSV/TSV reading.
//
// The dialect: fields are separated by one delimiter byte; a field that
// starts with '"' is quoted and may hold delimiters, newlines and escaped
// quotes (""); text after a closing quote up to the next delimiter is kept
// (lenient, like encoding/csv's LazyQuotes); a quote inside an unquoted
// field is an ordinary character. Records end with LF or CRLF. Blank lines
// are skipped. A UTF-8 byte order mark is removed.
//
// Delimiter sniffing: each of ',' ';' '\t' '|' splits the first records of
// the head (quote-aware); the delimiter whose records most consistently
// have the same number of fields (at least 2) wins; ties go to the first in
// that order (tab first for a .tsv name).
//
// Header detection (CSVOptions.Header == HeaderAuto): the first record is a
// header when every non-empty field of it is text (not a number, boolean,
// date or timestamp), at least one is non-empty, and either
//   - there is no other record, or
//   - some column of the following sampled records has a non-string type, or
//   - all columns are strings, the first record's non-empty values are
//     distinct and none of them reappears in its column further down.
// With an explicit schema, a first record naming one of its fields is a
// header.
// Header names are trimmed; an empty name becomes c<position> and a repeated
// one gets a suffix (a, a_2, a_3).

var delimCandidates = []byte{',', ';', '\t', '|'}

// csvScanner splits a UTF-8 byte stream into records with bounded memory.
type csvScanner struct {
	r      io.Reader
	buf    []byte
	pos    int // start of unread data
	end    int // end of valid data
	eof    bool
	rerr   error
	line   int64 // line number of buf[pos]
	delim  byte
	maxRec int
	name   string

	unq    []byte   // unescaped quoted fields of the current record
	unqRef []unqRef // cells pointing into unq
	// cut reports, at EOF, that the stream was truncated on purpose (preview
	// of a head): a last record without a newline is then dropped.
	cut     func() bool
	dropped bool
	utf8    utf8Check
	// maxFields bounds the fields of a record: a wider record is skipped
	// and reported (see wideRecord), so that a line of commas cannot make
	// a row of millions of cells.
	maxFields int
}

type unqRef struct{ cell, off, n int }

const csvInitialBuf = 256 << 10

func newCSVScanner(r io.Reader, name string, delim byte, maxRec int) *csvScanner {
	size := csvInitialBuf
	if maxRec+2 < size {
		size = max(maxRec+2, 16)
	}
	return &csvScanner{r: r, buf: make([]byte, size), line: 1, delim: delim, maxRec: maxRec, name: name, maxFields: math.MaxInt32}
}

// fill reads more data, compacting and growing the buffer as needed.
func (s *csvScanner) fill() error {
	if s.rerr != nil {
		return s.rerr
	}
	if s.pos > 0 {
		copy(s.buf, s.buf[s.pos:s.end])
		s.end -= s.pos
		s.utf8.shift(s.pos)
		s.pos = 0
	}
	defer func() { s.utf8.check(s.buf[:s.end], s.eof) }()
	if s.end == len(s.buf) {
		limit := s.maxRec + 2
		if len(s.buf) >= limit {
			return s.tooLarge()
		}
		nb := make([]byte, min(2*len(s.buf), limit))
		copy(nb, s.buf[:s.end])
		s.buf = nb
	}
	for tries := 0; tries < 100; tries++ {
		n, err := s.r.Read(s.buf[s.end:])
		s.end += n
		if err != nil {
			if err == io.EOF {
				s.eof = true
				return nil
			}
			s.rerr = err
			if n > 0 {
				return nil
			}
			return err
		}
		if n > 0 {
			return nil
		}
	}
	s.rerr = io.ErrNoProgress
	return s.rerr
}

func (s *csvScanner) tooLarge() error {
	return &ParseError{Object: s.name, Line: s.line, RowGroup: -1,
		Err:  fmt.Errorf("%w: the record starting on line %d is longer than max_line_bytes (%d bytes)", ErrTooLarge, s.line, s.maxRec),
		Hint: "raise max_line_bytes, or look for an unbalanced quote that starts there"}
}

// peek makes at least n bytes available (fewer at EOF) and returns them.
func (s *csvScanner) peek(n int) ([]byte, error) {
	for s.end-s.pos < n && !s.eof {
		if s.end == len(s.buf) && s.pos == 0 && len(s.buf) >= min(n, s.maxRec+2) {
			break
		}
		if err := s.fill(); err != nil {
			return nil, err
		}
	}
	return s.buf[s.pos:min(s.end, s.pos+n)], nil
}

// read fills row with the next record; io.EOF at the end.
func (s *csvScanner) read(row *rowBuf) error {
	for {
		status, err := s.scan(row)
		switch status {
		case scanOK:
			return nil
		case scanEOF:
			return io.EOF
		case scanErr:
			return err
		}
		if s.eof {
			// scan already treated the data as final
			return io.EOF
		}
		if s.end-s.pos >= s.maxRec+1 {
			return s.tooLarge()
		}
		if err := s.fillMore(); err != nil {
			return err
		}
	}
}

// fillMore reads until the unread data doubles (or the stream ends, or the
// buffer is at its limit), so that a record spanning many reads is scanned
// again a logarithmic number of times, not once per read: linear time
// whatever the size of the stream's reads.
func (s *csvScanner) fillMore() error {
	want := max(2*(s.end-s.pos), 1)
	for {
		if err := s.fill(); err != nil {
			return err
		}
		if s.eof || s.end-s.pos >= want || (s.end == len(s.buf) && len(s.buf) >= s.maxRec+2) {
			return nil
		}
	}
}

type scanStatus uint8

const (
	scanOK scanStatus = iota
	scanMore
	scanEOF
	scanErr
)

// scan parses one record from buf[pos:end]. It consumes nothing unless a
// whole record is there (or the stream ended).
func (s *csvScanner) scan(row *rowBuf) (scanStatus, error) {
	buf := s.buf[:s.end]
	delim := s.delim
	for {
		p := s.pos
		if p >= len(buf) {
			if s.eof {
				return scanEOF, nil
			}
			return scanMore, nil
		}
		nl := bytes.IndexByte(buf[p:], '\n')
		var line []byte
		next := 0
		if nl < 0 {
			if !s.eof {
				return scanMore, nil
			}
			line = buf[p:]
			next = len(buf)
		} else {
			line = buf[p : p+nl]
			next = p + nl + 1
		}
		if q := bytes.IndexByte(line, '"'); q >= 0 {
			return s.scanQuoted(row, p+len(line), p+q)
		}
		if nl < 0 && s.cut != nil && s.cut() {
			// partial last line of a truncated head
			s.pos = next
			s.dropped = true
			return scanEOF, nil
		}
		if len(line) > 0 && line[len(line)-1] == '\r' {
			line = line[:len(line)-1]
		}
		if len(line) > s.maxRec {
			return scanErr, s.tooLarge()
		}
		if len(line) == 0 {
			// blank line
			s.pos = next
			s.line++
			continue
		}
		if len(line) >= s.maxFields {
			if n := bytes.Count(line, []byte{delim}) + 1; n > s.maxFields {
				err := s.wideError(s.line, n)
				s.pos = next
				s.line++
				return scanErr, err
			}
		}
		row.cells = splitLine(row.cells[:0], line, delim)
		row.line = s.line
		row.nbytes = next - p
		s.pos = next
		s.line++
		return scanOK, nil
	}
}

// scanQuoted is the general record parser (quotes, embedded newlines).
// lineEnd is the position of the first newline (or the end of the data),
// quote the position of the first quote before it.
func (s *csvScanner) scanQuoted(row *rowBuf, lineEnd, quote int) (scanStatus, error) {
	buf := s.buf[:s.end]
	delim := s.delim
	pat := uint64(delim) * swarOnes
	p := s.pos
	i := p
	newlines := int64(0)
	cells := row.cells[:0]
	s.unq = s.unq[:0]
	s.unqRef = s.unqRef[:0]
	more := func() (scanStatus, error) {
		if !s.eof {
			return scanMore, nil
		}
		if s.cut != nil && s.cut() {
			s.pos = len(buf)
			s.dropped = true
			return scanEOF, nil
		}
		return scanErr, &ParseError{Object: s.name, Line: s.line, RowGroup: -1,
			Err:  fmt.Errorf("%w: the quoted field starting on line %d is never closed", ErrCorrupt, s.line),
			Hint: "close the quote, or double the quotes inside the field (\"\")"}
	}
	if quote > p && quote-p < s.maxFields {
		// The fields before the first quote hold none: they are split as
		// a line without quotes (fewer than maxFields of them: no more
		// than its bytes), and the loop goes on at the start of the field
		// the quote is in.
		cells = splitLine(cells, buf[p:quote], delim)
		in := cells[len(cells)-1]
		cells = cells[:len(cells)-1]
		i = quote - len(in.b)
	}
	for {
		// start of a field at i
		if i < len(buf) && buf[i] == '"' {
			i++
			seg := i
			escaped := false
			uoff := len(s.unq)
			for {
				j := bytes.IndexByte(buf[i:], '"')
				if j < 0 {
					return more()
				}
				q := i + j
				if q > lineEnd {
					// the field spans lines (no newline lies before
					// lineEnd, the first one at or after where it was found)
					newlines += int64(bytes.Count(buf[i:q], nlSep))
				}
				if q+1 >= len(buf) && !s.eof {
					return scanMore, nil // cannot tell "" from a closing quote yet
				}
				if q+1 < len(buf) && buf[q+1] == '"' {
					s.unq = append(s.unq, buf[seg:q+1]...)
					escaped = true
					i = q + 2
					seg = i
					continue
				}
				// closing quote
				i = q + 1
				// lenient: text after the closing quote up to the delimiter
				k := i
				for k < len(buf) && buf[k] != delim && buf[k] != '\n' {
					k++
				}
				if k == len(buf) && !s.eof {
					return scanMore, nil
				}
				tail := buf[i:k]
				if len(tail) > 0 && tail[len(tail)-1] == '\r' && k < len(buf) {
					tail = tail[:len(tail)-1]
				}
				if escaped || len(tail) > 0 {
					s.unq = append(s.unq, buf[seg:q]...)
					s.unq = append(s.unq, tail...)
					s.unqRef = append(s.unqRef, unqRef{cell: len(cells), off: uoff, n: len(s.unq) - uoff})
					cells = append(cells, cell{kind: kText, quoted: true})
				} else {
					cells = append(cells, cell{b: buf[seg:q:q], kind: kText, quoted: true})
				}
				i = k
				break
			}
		} else {
			if lineEnd < i {
				lineEnd = len(buf)
				if j := bytes.IndexByte(buf[i:], '\n'); j >= 0 {
					lineEnd = i + j
				}
			}
			// a run of unquoted fields, up to the line end or a field that
			// starts with a quote
			start, k := i, i
			quoted := false
			for {
				for k+8 <= lineEnd {
					if m := delimMask(binary.LittleEndian.Uint64(buf[k:]), pat); m != 0 {
						k += bits.TrailingZeros64(m) >> 3
						break
					}
					k += 8
				}
				for k < lineEnd && buf[k] != delim {
					k++
				}
				if k == lineEnd {
					break
				}
				cells = append(cells, cell{b: buf[start:k:k], kind: kText})
				if len(cells) > s.maxFields {
					return s.wideRecord()
				}
				k++
				start = k
				if k < lineEnd && buf[k] == '"' {
					quoted = true
					break
				}
			}
			if quoted {
				i = k
				continue
			}
			if k == len(buf) && !s.eof {
				return scanMore, nil
			}
			f := buf[start:k]
			if k < len(buf) && len(f) > 0 && f[len(f)-1] == '\r' {
				f = f[:len(f)-1]
			}
			cells = append(cells, cell{b: f[:len(f):len(f)], kind: kText})
			i = k
		}
		if i-p > s.maxRec {
			return scanErr, s.tooLarge()
		}
		if i < len(buf) && buf[i] == delim {
			if len(cells) >= s.maxFields {
				return s.wideRecord()
			}
			i++
			continue
		}
		// end of record: newline or EOF
		if i >= len(buf) && s.cut != nil && s.cut() {
			s.pos = len(buf)
			s.dropped = true
			return scanEOF, nil
		}
		if i < len(buf) {
			i++ // the newline
		}
		break
	}
	for _, u := range s.unqRef {
		cells[u.cell].b = s.unq[u.off : u.off+u.n : u.off+u.n]
	}
	row.cells = cells
	row.line = s.line
	row.nbytes = i - p
	s.pos = i
	s.line += 1 + newlines
	return scanOK, nil
}

var nlSep = []byte{'\n'}

// wideRecord skips the record at s.pos, which has more than s.maxFields
// fields, counting its fields without keeping them; it returns a row-level
// error (reading goes on after the record), or scanMore if the record does
// not end in the buffer yet.
func (s *csvScanner) wideRecord() (scanStatus, error) {
	buf := s.buf[:s.end]
	delim := s.delim
	i, fields := s.pos, 1
	newlines := int64(0)
	for {
		if i < len(buf) && buf[i] == '"' { // a quoted field
			i++
			for {
				j := bytes.IndexByte(buf[i:], '"')
				if j < 0 {
					if !s.eof {
						return scanMore, nil
					}
					newlines += int64(bytes.Count(buf[i:], nlSep))
					i = len(buf)
					break
				}
				newlines += int64(bytes.Count(buf[i:i+j], nlSep))
				q := i + j
				if q+1 >= len(buf) && !s.eof {
					return scanMore, nil
				}
				if q+1 < len(buf) && buf[q+1] == '"' {
					i = q + 2
					continue
				}
				i = q + 1
				break
			}
		}
		// the rest of the field, up to a delimiter or the line's end
		for i < len(buf) && buf[i] != delim && buf[i] != '\n' {
			i++
		}
		if i >= len(buf) {
			if !s.eof {
				return scanMore, nil
			}
			if s.cut != nil && s.cut() {
				s.pos = len(buf)
				s.dropped = true
				return scanEOF, nil
			}
			break
		}
		if buf[i] == delim {
			fields++
			i++
			continue
		}
		i++ // the newline
		break
	}
	err := s.wideError(s.line, fields)
	s.pos = i
	s.line += 1 + newlines
	return scanErr, err
}

// wideError is the row-level error of a record with n fields, more than
// s.maxFields.
func (s *csvScanner) wideError(line int64, n int) *ParseError {
	return &ParseError{Object: s.name, Line: line, RowGroup: -1, rowLvl: true,
		Err:  fmt.Errorf("%w: the record has %d fields, more than max_columns (%d)", ErrTooLarge, n, s.maxFields),
		Hint: "check the delimiter, split the object into narrower ones, or raise max_columns"}
}

// csvSource adapts the scanner to the reader.
type csvSource struct {
	sc     *csvScanner
	stream *stream
}

func (c *csvSource) read(row *rowBuf) error { return c.sc.read(row) }
func (c *csvSource) rowErr() *ParseError    { return nil }
func (c *csvSource) close() error           { return c.stream.Close() }
func (c *csvSource) validUTF8() bool        { return !c.sc.utf8.invalid }

// sniffDelimiter picks the delimiter that splits the head most
// consistently. head may end in a partial record unless atEOF.
func sniffDelimiter(head []byte, atEOF bool, tsv bool) (byte, bool) {
	cands := delimCandidates
	if tsv {
		cands = []byte{'\t', ',', ';', '|'}
	}
	best, bestScore, bestMode := cands[0], 0.0, 0
	for _, d := range cands {
		sc := newCSVScanner(bytes.NewReader(head), "", d, len(head)+2)
		var row rowBuf
		counts := map[int]int{}
		total := 0
		for total < 200 {
			err := sc.read(&row)
			if err != nil {
				break
			}
			if !atEOF && sc.eof && sc.pos >= sc.end {
				break // the last record of a cut head may be partial
			}
			counts[len(row.cells)]++
			total++
		}
		mode, modeN := 0, 0
		for n, c := range counts {
			if c > modeN || (c == modeN && n > mode) {
				mode, modeN = n, c
			}
		}
		if mode < 2 || total == 0 {
			continue
		}
		score := float64(modeN) / float64(total)
		if score > bestScore+1e-9 {
			best, bestScore, bestMode = d, score, mode
		}
	}
	return best, bestMode >= 2
}

// newCSVReader sniffs the dialect, reads the sample, infers the schema and
// returns the reader.
func newCSVReader(ctx context.Context, s *stream, opts Options) (Reader, error) {
	text, encName, err := textReader(s, opts.CSV.Encoding, &opts)
	if err != nil {
		return nil, err
	}
	info := Info{Format: FormatCSV, Compression: s.comp, Encoding: encName, RowCount: -1}
	sc := newCSVScanner(text, s.name, ',', opts.MaxLineBytes)
	sc.cut = func() bool { return s.cut }
	sc.maxFields = opts.MaxColumns
	head, err := sc.peek(sniffBytes)
	if err != nil {
		return nil, err
	}
	_, tsv := formatExt(s.name)
	switch d := opts.CSV.Delimiter; {
	case d == 0:
		sc.delim, _ = sniffDelimiter(head, sc.eof && sc.end-sc.pos <= sniffBytes, tsv)
		if tsv && !bytes.ContainsRune(head, rune(sc.delim)) {
			sc.delim = '\t'
		}
	case d > 0 && d < 0x80 && d != '"' && d != '\n' && d != '\r':
		sc.delim = byte(d)
	default:
		return nil, &ParseError{Object: s.name, RowGroup: -1, Err: fmt.Errorf("%w: delimiter %q", ErrUnsupported, d),
			Hint: "set csv.delimiter to a single ASCII character other than a quote or a newline"}
	}
	info.Delimiter = string(rune(sc.delim))

	// the sample
	smp := &sample{}
	var row rowBuf
	nulls := newNullSet(opts.CSV.Nulls)
	limitRows := opts.SampleRows + 1 // + a possible header
	for len(smp.rows) < limitRows && !smp.full(opts.SampleBytes) {
		if len(smp.rows)&255 == 255 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
		err := sc.read(&row)
		if err == io.EOF {
			smp.exhaustive = !s.headTruncated()
			break
		}
		if err != nil {
			pe, ok := err.(*ParseError)
			switch {
			case ok && pe.rowLevel() && len(smp.rows) == 0:
				// the first record (a header, or the one that sets the
				// width) is too wide: the object is
				return nil, &ParseError{Object: s.name, Line: pe.Line, RowGroup: -1, Err: pe.Err,
					Hint: "split the object into narrower ones, or raise max_columns (at most " + strconv.Itoa(MaxMaxColumns) + ")"}
			case ok && pe.rowLevel():
				smp.addReject(pe.Line, pe)
				continue
			case ok && len(smp.rows) > 0:
				smp.fatal = err // rows before it are still read
			default:
				return nil, err
			}
			break
		}
		smp.add(&row, false)
	}
	if sc.dropped {
		opts.warn(fmt.Sprintf("%s: the last line of the head was cut by the preview's byte limit and was left out", s.name))
	}

	// field counts
	counts := map[int]int{}
	maxN := 0
	for _, r := range smp.rows {
		if r.rej != nil {
			continue
		}
		counts[r.n]++
		maxN = max(maxN, r.n)
	}
	mode, modeN := 0, 0
	for n, c := range counts {
		if c > modeN || (c == modeN && n > mode) {
			mode, modeN = n, c
		}
	}

	header := false
	switch opts.CSV.Header {
	case HeaderPresent:
		header = len(smp.rows) > 0
	case HeaderAbsent:
	case HeaderAuto:
		header = detectHeader(smp, nulls, opts.Schema)
	default:
		return nil, &ParseError{Object: s.name, RowGroup: -1, Err: fmt.Errorf("%w: csv.header %q", ErrUnsupported, opts.CSV.Header),
			Hint: `set csv.header to "present", "absent" or leave it empty to detect`}
	}
	info.Header = header

	var names []string
	if header {
		var hr rowBuf
		smp.load(0, &hr, 0)
		if names, err = headerNames(ctx, hr.cells); err != nil {
			return nil, err
		}
	} else {
		n := mode
		if opts.CSV.Ragged == RaggedPad {
			n = maxN
		}
		for i := 1; i <= n; i++ {
			names = append(names, "c"+strconv.Itoa(i))
		}
	}
	width := len(names)
	if width == 0 {
		width = 1
		names = []string{"c1"}
	}

	r := &reader{name: s.name, info: info, src: &csvSource{sc: sc, stream: s}, opts: opts, nulls: nulls,
		width: width, sample: smp, stream: s}
	if header {
		r.replay = 1
	}
	if opts.Schema != nil {
		r.schema = opts.Schema
		r.colMap = make([]int, len(opts.Schema.Fields))
		pos := make(map[string]int, len(names))
		for i := len(names) - 1; i >= 0; i-- {
			pos[names[i]] = i
		}
		rescue, err := opts.rescueIndex(s.name)
		if err != nil {
			return nil, err
		}
		inSchema := make(map[string]bool, len(opts.Schema.Fields))
		warned := 0
		for i, f := range opts.Schema.Fields {
			r.colMap[i] = -1
			if i == rescue {
				// a header field named like the rescue column is rescued
				continue
			}
			inSchema[f.Name] = true
			if j, ok := pos[f.Name]; ok {
				r.colMap[i] = j
				continue
			}
			if warned++; warned <= maxColumnWarnings {
				opts.warn(fmt.Sprintf("column %q of the schema is not in the header: it is null in every row", f.Name))
			}
		}
		if rescue >= 0 {
			known := make([]bool, len(names))
			for _, j := range r.colMap {
				if j >= 0 {
					known[j] = true
				}
			}
			r.initRescue(rescue, names, known)
		}
		for _, n := range names {
			if !inSchema[n] && rescue < 0 {
				if warned++; warned <= maxColumnWarnings {
					opts.warn(fmt.Sprintf("column %q is not in the schema: its values are not loaded", n))
				}
			}
		}
		if warned > maxColumnWarnings {
			opts.warn(fmt.Sprintf("%d columns of the header and the schema do not match; only the first %d are listed", warned, maxColumnWarnings))
		}
	} else {
		r.inferred = true
		inf := make([]colInfer, width)
		for k := r.replay; k < len(smp.rows); k++ {
			if k&255 == 255 {
				if err := ctx.Err(); err != nil {
					return nil, err
				}
			}
			sr := &smp.rows[k]
			if sr.rej != nil || (sr.n != width && opts.CSV.Ragged != RaggedPad) {
				continue
			}
			for j := 0; j < min(sr.n, width); j++ {
				sc := &smp.cells[sr.first+j]
				c := cell{b: smp.arena[sc.off : sc.off+sc.n], kind: sc.kind, quoted: sc.quoted}
				inf[j].add(&c, sr.line, nulls)
			}
			for j := sr.n; j < width; j++ {
				inf[j].nulls++
			}
		}
		sch := &schema.Schema{Fields: make([]schema.Field, width)}
		for j := range inf {
			sch.Fields[j] = inf[j].field(names[j], smp.exhaustive && smp.fatal == nil)
		}
		r.schema = sch
		r.colMap = make([]int, width)
		for j := range r.colMap {
			r.colMap[j] = j
		}
	}
	return r, nil
}

// maxColumnWarnings caps the warnings about columns of a header and a
// schema that do not match.
const maxColumnWarnings = 20

// headerNames makes unique, non-empty column names from a header record:
// an empty name becomes c<position>, and a repeated one gets the first
// suffix _2, _3, ... that no other name of the header has. It is linear in
// the number of names (each base name remembers the next suffix to try, and
// a candidate skipped because it is taken is charged to the one base name
// it extends) and checks ctx as it goes.
func headerNames(ctx context.Context, cells []cell) ([]string, error) {
	names := make([]string, len(cells))
	for i := range cells {
		n := strings.TrimSpace(string(cells[i].b))
		if n == "" {
			n = "c" + strconv.Itoa(i+1)
		}
		names[i] = n
	}
	// explicit names take precedence over generated suffixes
	explicit := make(map[string]struct{}, len(names))
	for _, n := range names {
		explicit[n] = struct{}{}
	}
	used := make(map[string]struct{}, len(names))
	next := map[string]int{} // base name -> next suffix to try
	for i, n := range names {
		if i&1023 == 1023 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
		if _, dup := used[n]; !dup {
			used[n] = struct{}{}
			continue
		}
		k := max(next[n], 2)
		for ; ; k++ {
			c := n + "_" + strconv.Itoa(k)
			_, taken := explicit[c]
			_, dup := used[c]
			if !taken && !dup {
				names[i] = c
				used[c] = struct{}{}
				break
			}
		}
		next[n] = k + 1
	}
	return names, nil
}

// detectHeader applies the rule documented at the top of this file.
func detectHeader(smp *sample, nulls *nullSet, sch *schema.Schema) bool {
	if len(smp.rows) == 0 || smp.rows[0].rej != nil {
		return false
	}
	var first rowBuf
	smp.load(0, &first, 0)
	nonEmpty := 0
	distinct := true
	seen := map[string]bool{}
	for i := range first.cells {
		c := &first.cells[i]
		if len(trimSpace(c.b)) == 0 {
			continue
		}
		if sch != nil && sch.Index(strings.TrimSpace(string(c.b))) >= 0 {
			return true
		}
		class, t, _ := classify(c, nulls)
		if class != classTyped || t != schema.String {
			return false
		}
		if seen[string(c.b)] {
			distinct = false
		}
		seen[string(c.b)] = true
		nonEmpty++
	}
	if nonEmpty == 0 {
		return false
	}
	if len(smp.rows) == 1 {
		return true
	}
	width := len(first.cells)
	inf := make([]colInfer, width)
	reappears := false
	var row rowBuf
	for k := 1; k < len(smp.rows); k++ {
		if smp.load(k, &row, 0) != nil {
			continue
		}
		for j := 0; j < min(width, len(row.cells)); j++ {
			inf[j].add(&row.cells[j], row.line, nulls)
			if !reappears && len(first.cells[j].b) > 0 && bytes.Equal(row.cells[j].b, first.cells[j].b) {
				reappears = true
			}
		}
	}
	for j := range inf {
		if inf[j].any && inf[j].typ != schema.String {
			return true
		}
	}
	return distinct && !reappears
}

const (
	swarOnes = 0x0101010101010101
	swarHigh = 0x8080808080808080
)

// delimMask has the high bit set in each byte of w equal to d's pattern
// (the lowest set bit is exact; higher ones may be false positives after a
// match, so callers clear the lowest bit and recompute).
func delimMask(w, pat uint64) uint64 {
	x := w ^ pat
	return (x - swarOnes) & ^x & swarHigh
}

// splitLine appends the fields of a line without quotes.
func splitLine(cells []cell, line []byte, d byte) []cell {
	pat := uint64(d) * swarOnes
	start, i := 0, 0
	for ; i+8 <= len(line); i += 8 {
		w := binary.LittleEndian.Uint64(line[i:])
		for m := delimMask(w, pat); m != 0; m = delimMask(w, pat) {
			k := i + bits.TrailingZeros64(m)>>3
			cells = append(cells, cell{b: line[start:k:k], kind: kText})
			start = k + 1
			w ^= 0xff << ((k - i) << 3) // this byte no longer equals d
		}
	}
	for ; i < len(line); i++ {
		if line[i] == d {
			cells = append(cells, cell{b: line[start:i:i], kind: kText})
			start = i + 1
		}
	}
	return append(cells, cell{b: line[start:], kind: kText})
}
