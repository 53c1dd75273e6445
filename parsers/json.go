package parsers

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/bits"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/s3ingest/s3ingest/parsers/internal/shared"
	"github.com/s3ingest/s3ingest/parsers/schema"
)

// JSON reading.
//
// Layouts: "ndjson" (one document per line; blank lines are skipped; an
// invalid line is a row-level ParseError with its line and byte, and reading
// goes on at the next line), "array" (a top-level array of objects, read
// element by element; a syntax error in it is fatal) and "concatenated"
// (chosen when the first document does not end on its first line: objects
// separated by white space that may span lines, e.g. one pretty-printed
// object; a syntax error is fatal). Each document must be
// an object; its nested objects are flattened into dotted column names up to
// JSONOptions.MaxDepth levels, and arrays and deeper objects are kept as
// JSON text. The columns are the union of the sampled documents' keys in the
// order first seen; a key first seen after the sample is ignored, with one
// warning per key (OnWarning). Documents are scanned in place: no per-value
// allocation.

const maxNesting = 10000

// arena hands out byte slices that stay valid until reset (unescaped
// strings point into it).
type arena struct {
	chunks [][]byte
	cur    int
}

func (a *arena) reset() {
	for i := 0; i <= a.cur && i < len(a.chunks); i++ {
		a.chunks[i] = a.chunks[i][:0]
	}
	a.cur = 0
}

// alloc returns an empty slice with room for n bytes.
func (a *arena) alloc(n int) []byte {
	for ; a.cur < len(a.chunks); a.cur++ {
		c := a.chunks[a.cur]
		if cap(c)-len(c) >= n {
			return c[len(c):len(c):cap(c)]
		}
	}
	c := make([]byte, 0, max(n, 64<<10))
	a.chunks = append(a.chunks, c)
	a.cur = len(a.chunks) - 1
	return c
}

// commit records that b (from alloc) is in use.
func (a *arena) commit(b []byte) {
	c := a.chunks[a.cur]
	a.chunks[a.cur] = c[:len(c)+len(b)]
}

// jsonCols maps flattened key paths to column indexes.
type jsonCols struct {
	names  []string
	index  map[string]int
	frozen bool
	guess  int
	// rawPaths are columns of an explicit schema that take a nested object
	// as JSON text instead of flattening it.
	rawPaths map[string]bool
	// unknown keys met after the sample (warned once each)
	unknown map[string]bool
	warn    func(string)
	// onUnknown, when set, receives the unknown keys instead (see
	// unknownKey).
	onUnknown func(string)
	obj       string
	// max bounds the columns (Options.MaxColumns); over is set when a
	// new key was met with max columns already known.
	max  int
	over bool
	// rescue keeps the keys outside the frozen columns (as the parser's
	// extras) instead of warning about them: Options.RescueColumn.
	rescue bool
}

func (c *jsonCols) lookup(path []byte) int {
	// guess: the column after the last one found, or the first after the
	// last column (a document's first key, when documents keep one order).
	g := c.guess
	if g >= len(c.names) {
		g = 0
	}
	if g < len(c.names) && c.names[g] == string(path) {
		c.guess = g + 1
		return g
	}
	if i, ok := c.index[string(path)]; ok {
		c.guess = i + 1
		return i
	}
	if c.frozen {
		if !c.rescue {
			c.unknownKey(path)
		}
		return -1
	}
	i := len(c.names)
	if c.max > 0 && i >= c.max {
		c.over = true
		return -1
	}
	k := string(path)
	c.names = append(c.names, k)
	c.index[k] = i
	return i
}

// jsonParser parses one document from a window of bytes into row cells.
type jsonParser struct {
	buf   []byte
	cols  *jsonCols
	cells []cell
	// extras are the keys outside the columns and their values, kept
	// when cols.rescue; seq numbers the values of a document in order.
	extras   []extraCell
	seq      int32
	path     []byte
	cur      []byte // the current key's full path (p.path or a slice of buf)
	maxDepth int
	strs     arena
	// errOff and errMsg describe a syntax error; more is set when the window
	// ended before the document did.
	errOff int
	errMsg string
	more   bool
	nested int
	// final says the window holds the whole input: a number may end at its
	// end.
	final bool
	// scalars says the documents are not objects (e.g. [1, 2, 3] or an
	// NDJSON of strings): each is the value of the one column "value", as
	// DuckDB's read_json does.
	scalars bool
}

// scalarColumn names the column of a JSON stream of scalars.
var scalarColumn = []byte("value")

var errJSON = errors.New("json syntax")

const errNotObject = "the document is not a JSON object"

func (p *jsonParser) fail(off int, msg string) error {
	if off >= len(p.buf) {
		p.more = true
		msg = "unexpected end of input"
	}
	p.errOff, p.errMsg = off, msg
	return errJSON
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func (p *jsonParser) ws(i int) int {
	for i < len(p.buf) && isSpace(p.buf[i]) {
		i++
	}
	return i
}

// document parses an object starting at i and returns the offset after it.
// cells must have been reset by the caller.
func (p *jsonParser) document(i int) (int, error) {
	p.more = false
	p.path = p.path[:0]
	p.nested = 0
	p.seq = 0
	p.strs.reset()
	if i >= len(p.buf) {
		return i, p.fail(i, "")
	}
	if p.scalars {
		return p.scalar(i)
	}
	if p.buf[i] != '{' {
		end, err := p.skip(i)
		if err != nil {
			return end, err
		}
		return end, p.fail(i, errNotObject)
	}
	return p.object(i, 0)
}

// scalar parses a document of a stream of scalars: any value at i, the
// value of the column "value" (an object or array as JSON text).
func (p *jsonParser) scalar(i int) (int, error) {
	p.cur = scalarColumn
	var c cell
	var err error
	end := i
	switch b := p.buf[i]; {
	case b == '"':
		var s []byte
		end, s, err = p.str(i)
		c = cell{b: s, kind: kStr}
	case b == '{' || b == '[':
		end, err = p.skip(i)
		c = cell{b: p.buf[i:end:end], kind: kRaw}
	case b == 't' || b == 'f':
		end, err = p.literal(i)
		c = cell{b: p.buf[i:end:end], kind: kBool}
	case b == 'n':
		end, err = p.literal(i)
		c = cell{kind: kNull}
	default:
		end, err = p.number(i)
		c = cell{b: p.buf[i:end:end], kind: kNum}
	}
	if err != nil {
		return end, err
	}
	p.setCell(c)
	return end, nil
}

func (p *jsonParser) setCell(c cell) {
	c.seq = p.seq
	p.seq++
	col := p.cols.lookup(p.cur)
	if col < 0 {
		if p.cols.rescue {
			k := p.strs.alloc(len(p.cur))
			k = append(k, p.cur...)
			p.strs.commit(k)
			p.extras = append(p.extras, extraCell{key: k[:len(k):len(k)], c: c})
		}
		return
	}
	if col >= len(p.cells) {
		for len(p.cells) <= col {
			p.cells = append(p.cells, cell{})
		}
	}
	p.cells[col] = c
}

// object parses {...} at i whose keys extend p.path.
func (p *jsonParser) object(i int, depth int) (int, error) {
	p.nested++
	if p.nested > maxNesting {
		p.nested--
		return i, p.fail(i, "nested too deeply")
	}
	end, err := p.objectBody(i, depth)
	p.nested--
	return end, err
}

func (p *jsonParser) objectBody(i int, depth int) (int, error) {
	buf := p.buf
	base := len(p.path)
	i = p.ws(i + 1)
	if i < len(buf) && buf[i] == '}' {
		return i + 1, nil
	}
	for {
		if i >= len(buf) || buf[i] != '"' {
			return i, p.fail(i, "expected a key (a string in double quotes)")
		}
		// key: a top-level key without escapes is used in place; others
		// are appended to the dotted path
		p.path = p.path[:base]
		var err error
		if q, esc := scanString(buf, i+1); base == 0 && q >= 0 && !esc {
			p.cur = buf[i+1 : q]
			i = q + 1
		} else {
			if base > 0 {
				p.path = append(p.path, '.')
			}
			if i, err = p.key(i); err != nil {
				return i, err
			}
			p.cur = p.path
		}
		i = p.ws(i)
		if i >= len(buf) || buf[i] != ':' {
			return i, p.fail(i, "expected ':' after the key")
		}
		i = p.ws(i + 1)
		if i >= len(buf) {
			return i, p.fail(i, "")
		}
		start := i
		switch c := buf[i]; {
		case c == '"':
			var s []byte
			i, s, err = p.str(i)
			if err != nil {
				return i, err
			}
			p.setCell(cell{b: s, kind: kStr})
		case c == '{':
			if depth < p.maxDepth && !(p.cols.rawPaths != nil && p.cols.rawPaths[string(p.cur)]) {
				if base == 0 {
					p.path = append(p.path[:0], p.cur...)
				}
				i, err = p.object(i, depth+1)
				if err != nil {
					return i, err
				}
			} else {
				i, err = p.skip(i)
				if err != nil {
					return i, err
				}
				p.setCell(cell{b: buf[start:i:i], kind: kRaw})
			}
		case c == '[':
			i, err = p.skip(i)
			if err != nil {
				return i, err
			}
			p.setCell(cell{b: buf[start:i:i], kind: kRaw})
		case c == 't' || c == 'f':
			i, err = p.literal(i)
			if err != nil {
				return i, err
			}
			p.setCell(cell{b: buf[start:i:i], kind: kBool})
		case c == 'n':
			i, err = p.literal(i)
			if err != nil {
				return i, err
			}
			p.setCell(cell{kind: kNull})
		default:
			i, err = p.number(i)
			if err != nil {
				return i, err
			}
			p.setCell(cell{b: buf[start:i:i], kind: kNum})
		}
		i = p.ws(i)
		if i >= len(buf) {
			return i, p.fail(i, "")
		}
		switch buf[i] {
		case ',':
			i = p.ws(i + 1)
		case '}':
			p.path = p.path[:base]
			return i + 1, nil
		default:
			return i, p.fail(i, "expected ',' or '}' after a value")
		}
	}
}

// key appends the key at i (a string) to p.path.
func (p *jsonParser) key(i int) (int, error) {
	buf := p.buf
	q, esc := scanString(buf, i+1)
	if q < 0 {
		return len(buf), p.fail(len(buf), "")
	}
	if !esc {
		p.path = append(p.path, buf[i+1:q]...)
		return q + 1, nil
	}
	end, s, err := p.str(i)
	if err != nil {
		return end, err
	}
	p.path = append(p.path, s...)
	return end, nil
}

// str parses the string at i; s aliases the buffer or the arena.
func (p *jsonParser) str(i int) (int, []byte, error) {
	buf := p.buf
	start := i + 1
	q, esc := scanString(buf, start)
	if q < 0 {
		return len(buf), nil, p.fail(len(buf), "")
	}
	if !esc {
		return q + 1, buf[start:q:q], nil
	}
	// slow path: unescape
	out := p.strs.alloc(len(buf) - start)
	k := start
	for {
		if k >= len(buf) {
			return k, nil, p.fail(k, "")
		}
		c := buf[k]
		switch {
		case c == '"':
			p.strs.commit(out)
			return k + 1, out[:len(out):len(out)], nil
		case c != '\\':
			// copy a run of plain bytes
			n := k + 1
			for n < len(buf) && buf[n] != '"' && buf[n] != '\\' {
				n++
			}
			out = append(out, buf[k:n]...)
			k = n
			continue
		}
		if k+1 >= len(buf) {
			return k, nil, p.fail(len(buf), "")
		}
		switch e := buf[k+1]; e {
		case '"', '\\', '/':
			out = append(out, e)
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			r, ok := hex4(buf, k+2)
			if !ok {
				return k, nil, p.fail(min(k+6, len(buf)), "invalid \\u escape")
			}
			k += 6
			if utf16.IsSurrogate(r) {
				if r2, ok := hex4(buf, k+2); ok && k+1 < len(buf) && buf[k] == '\\' && buf[k+1] == 'u' {
					if d := utf16.DecodeRune(r, r2); d != utf8.RuneError {
						out = utf8.AppendRune(out, d)
						k += 6
						continue
					}
				}
				r = utf8.RuneError
			}
			out = utf8.AppendRune(out, r)
			continue
		default:
			return k, nil, p.fail(k+1, "invalid escape in a string")
		}
		k += 2
	}
}

func hex4(b []byte, i int) (rune, bool) {
	if i+4 > len(b) {
		return 0, false
	}
	var r rune
	for _, c := range b[i : i+4] {
		switch {
		case c >= '0' && c <= '9':
			r = r<<4 | rune(c-'0')
		case c >= 'a' && c <= 'f':
			r = r<<4 | rune(c-'a'+10)
		case c >= 'A' && c <= 'F':
			r = r<<4 | rune(c-'A'+10)
		default:
			return 0, false
		}
	}
	return r, true
}

func (p *jsonParser) literal(i int) (int, error) {
	buf := p.buf
	var want string
	switch buf[i] {
	case 't':
		want = "true"
	case 'f':
		want = "false"
	default:
		want = "null"
	}
	for k := 0; k < len(want); k++ {
		if i+k >= len(buf) {
			return i + k, p.fail(i+k, "")
		}
		if buf[i+k] != want[k] {
			return i + k, p.fail(i+k, "invalid literal (want true, false or null)")
		}
	}
	return i + len(want), nil
}

// number validates a JSON number at i.
func (p *jsonParser) number(i int) (int, error) {
	buf := p.buf
	k := i
	if k < len(buf) && buf[k] == '-' {
		k++
	}
	if k >= len(buf) {
		return k, p.fail(k, "")
	}
	switch {
	case buf[k] == '0':
		k++
	case buf[k] >= '1' && buf[k] <= '9':
		for k < len(buf) && buf[k] >= '0' && buf[k] <= '9' {
			k++
		}
	default:
		return k, p.fail(k, "invalid value (want a string, number, object, array, true, false or null)")
	}
	if k < len(buf) && buf[k] == '.' {
		k++
		d := k
		for k < len(buf) && buf[k] >= '0' && buf[k] <= '9' {
			k++
		}
		if k == d {
			return k, p.fail(k, "invalid number: no digit after '.'")
		}
	}
	if k < len(buf) && (buf[k] == 'e' || buf[k] == 'E') {
		k++
		if k < len(buf) && (buf[k] == '+' || buf[k] == '-') {
			k++
		}
		d := k
		for k < len(buf) && buf[k] >= '0' && buf[k] <= '9' {
			k++
		}
		if k == d {
			return k, p.fail(k, "invalid number: no digit in the exponent")
		}
	}
	if k >= len(buf) && !p.final {
		// a number may go on in the next chunk
		return k, p.fail(k, "")
	}
	return k, nil
}

// skip validates and skips any value at i.
func (p *jsonParser) skip(i int) (int, error) {
	buf := p.buf
	if i >= len(buf) {
		return i, p.fail(i, "")
	}
	switch c := buf[i]; {
	case c == '"':
		j := i + 1
		for {
			k := bytes.IndexByte(buf[j:], '"')
			if k < 0 {
				return len(buf), p.fail(len(buf), "")
			}
			// count the backslashes before the quote
			q := j + k
			n := 0
			for q-1-n >= i+1 && buf[q-1-n] == '\\' {
				n++
			}
			if n%2 == 0 {
				return q + 1, nil
			}
			j = q + 1
		}
	case c == '{' || c == '[':
		p.nested++
		if p.nested > maxNesting {
			return i, p.fail(i, "nested too deeply")
		}
		defer func() { p.nested-- }()
		closer := byte('}')
		if c == '[' {
			closer = ']'
		}
		i = p.ws(i + 1)
		if i < len(buf) && buf[i] == closer {
			return i + 1, nil
		}
		for {
			var err error
			if c == '{' {
				if i >= len(buf) || buf[i] != '"' {
					return i, p.fail(i, "expected a key (a string in double quotes)")
				}
				if i, err = p.skip(i); err != nil {
					return i, err
				}
				i = p.ws(i)
				if i >= len(buf) || buf[i] != ':' {
					return i, p.fail(i, "expected ':' after the key")
				}
				i = p.ws(i + 1)
			}
			if i, err = p.skip(i); err != nil {
				return i, err
			}
			i = p.ws(i)
			if i >= len(buf) {
				return i, p.fail(i, "")
			}
			if buf[i] == ',' {
				i = p.ws(i + 1)
				continue
			}
			if buf[i] == closer {
				return i + 1, nil
			}
			return i, p.fail(i, fmt.Sprintf("expected ',' or '%c'", closer))
		}
	case c == 't' || c == 'f' || c == 'n':
		return p.literal(i)
	default:
		return p.number(i)
	}
}

// jsonSource reads documents from the stream.
type jsonSource struct {
	stream *stream
	r      io.Reader
	name   string
	buf    []byte
	pos    int
	end    int
	eof    bool
	line   int64
	maxDoc int
	array  bool
	concat bool // documents may span lines (whitespace-separated)
	// bufOff is the stream offset of buf[0]; lineOff that of the start of
	// line s.line (array layout positions).
	bufOff  int64
	lineOff int64
	utf8    utf8Check
	state   int // array: 0 before '[', 1 first element, 2 after an element, 3 after ']'
	p       jsonParser
	rerr    *ParseError
	cut     func() bool
	// dropped is set when a partial last document of a preview head was left out.
	dropped bool
	// decided is set once the first document has said whether the stream
	// holds objects or scalars (jsonParser.scalars).
	decided bool
}

func (s *jsonSource) rowErr() *ParseError { return s.rerr }
func (s *jsonSource) close() error        { return s.stream.Close() }
func (s *jsonSource) validUTF8() bool     { return !s.utf8.invalid }

func (s *jsonSource) fill() error {
	if s.pos > 0 {
		s.bufOff += int64(s.pos)
		s.utf8.shift(s.pos)
		copy(s.buf, s.buf[s.pos:s.end])
		s.end -= s.pos
		s.pos = 0
	}
	defer func() { s.utf8.check(s.buf[:s.end], s.eof) }()
	if s.end == len(s.buf) {
		nb := make([]byte, min(2*len(s.buf), s.maxDoc+2))
		if len(nb) <= len(s.buf) {
			return s.tooLarge()
		}
		copy(nb, s.buf[:s.end])
		s.buf = nb
	}
	for tries := 0; tries < 100; tries++ {
		n, err := s.r.Read(s.buf[s.end:])
		s.end += n
		if err == io.EOF {
			s.eof = true
			return nil
		}
		if err != nil {
			return err
		}
		if n > 0 {
			return nil
		}
	}
	return io.ErrNoProgress
}

// fillMore reads until the unread data doubles (or the stream ends, or the
// buffer is at its limit), so that a document spanning many reads is parsed
// again a logarithmic number of times, not once per read.
func (s *jsonSource) fillMore() error {
	want := max(2*(s.end-s.pos), 1)
	for {
		if err := s.fill(); err != nil {
			return err
		}
		if s.eof || s.end-s.pos >= want || (s.end == len(s.buf) && len(s.buf) >= s.maxDoc+2) {
			return nil
		}
	}
}

func (s *jsonSource) tooLarge() error {
	return &ParseError{Object: s.name, Line: s.line, RowGroup: -1,
		Err:  fmt.Errorf("%w: the JSON document starting on line %d is longer than max_line_bytes (%d bytes)", ErrTooLarge, s.line, s.maxDoc),
		Hint: "raise max_line_bytes"}
}

func (s *jsonSource) resetCells(row *rowBuf) {
	n := len(s.p.cols.names)
	row.cells = resizeCells(row.cells, n)
	clear(row.cells)
	s.p.cells = row.cells
	s.p.extras = row.extras[:0]
}

func (s *jsonSource) read(row *rowBuf) error {
	switch {
	case s.array:
		return s.readArray(row)
	case s.concat:
		return s.readConcat(row)
	}
	return s.readLine(row)
}

func (s *jsonSource) layout() string {
	switch {
	case s.array:
		return "array"
	case s.concat:
		return "concatenated"
	}
	return "ndjson"
}

func (s *jsonSource) docNoun() string {
	if s.array {
		return "array element"
	}
	return "document"
}

// multiLine reports whether the first document does not end on its first
// line (a pretty-printed object, or concatenated multi-line documents).
func (s *jsonSource) multiLine(maxDepth, maxCols int, scalars bool) (bool, error) {
	for {
		if bytes.IndexByte(s.buf[s.pos:s.end], '\n') >= 0 || s.eof || s.end-s.pos > s.maxDoc {
			break
		}
		if err := s.fillMore(); err != nil {
			return false, err
		}
	}
	line := s.buf[s.pos:s.end]
	if nl := bytes.IndexByte(line, '\n'); nl >= 0 {
		line = line[:nl]
	}
	tp := jsonParser{cols: &jsonCols{index: map[string]int{}, max: maxCols}, maxDepth: maxDepth, final: true, buf: line, scalars: scalars}
	_, err := tp.document(0)
	return err != nil && tp.more && !(s.eof && s.pos+len(line) == s.end), nil
}

// readLine reads one NDJSON line.
func (s *jsonSource) readLine(row *rowBuf) error {
	skipping := false
	for {
		nl := bytes.IndexByte(s.buf[s.pos:s.end], '\n')
		if nl < 0 && !s.eof {
			if s.end-s.pos > s.maxDoc {
				// a line over the limit: drop it and reject it as a row
				skipping = true
				s.pos = s.end
			}
			if err := s.fillMore(); err != nil {
				return err
			}
			continue
		}
		var line []byte
		next := s.end
		if nl >= 0 {
			line = s.buf[s.pos : s.pos+nl]
			next = s.pos + nl + 1
		} else {
			line = s.buf[s.pos:s.end]
			if len(line) == 0 {
				return io.EOF
			}
			if s.cut != nil && s.cut() {
				s.pos = s.end
				s.dropped = true
				return io.EOF
			}
		}
		lineNo := s.line
		s.pos = next
		s.line++
		if skipping {
			s.rerr = &ParseError{Object: s.name, Line: lineNo, RowGroup: -1, rowLvl: true,
				Err:  fmt.Errorf("%w: line %d is longer than max_line_bytes (%d bytes)", ErrTooLarge, lineNo, s.maxDoc),
				Hint: "raise max_line_bytes"}
			return errRowRejected
		}
		start := s.p.wsIn(line, 0)
		if start == len(line) {
			continue // blank line
		}
		s.resetCells(row)
		s.p.buf = line
		s.p.final = true
		end, err := s.p.document(start)
		if err == nil {
			if e := s.p.wsIn(line, end); e < len(line) {
				err = s.p.fail(e, "unexpected data after the document (one JSON object per line expected)")
			}
		}
		row.cells = s.p.cells
		row.extras = s.p.extras
		row.line = lineNo
		row.nbytes = len(line)
		if err != nil {
			msg := s.p.errMsg
			if s.p.more {
				msg = "unexpected end of line inside the document (one JSON object per line expected)"
			}
			s.rerr = &ParseError{Object: s.name, Line: lineNo, Byte: int64(s.p.errOff) + 1, RowGroup: -1, rowLvl: true,
				Value: shared.Shorten(line), Err: fmt.Errorf("%w: invalid JSON: %s", ErrCorrupt, msg),
				Hint: "fix the line; every line must hold one complete JSON object"}
			return errRowRejected
		}
		return nil
	}
}

func (p *jsonParser) wsIn(b []byte, i int) int {
	for i < len(b) && isSpace(b[i]) {
		i++
	}
	return i
}

// advance consumes buf[pos:i], counting lines.
func (s *jsonSource) advance(i int) {
	seg := s.buf[s.pos:i]
	if n := bytes.Count(seg, nlSep); n > 0 {
		s.line += int64(n)
		s.lineOff = s.bufOff + int64(s.pos+bytes.LastIndexByte(seg, '\n')+1)
	}
	s.pos = i
}

// skipWS skips white space, reading more as needed; false at EOF.
func (s *jsonSource) skipWS() (bool, error) {
	for {
		i := s.pos
		for i < s.end && isSpace(s.buf[i]) {
			i++
		}
		s.advance(i)
		if i < s.end {
			return true, nil
		}
		if s.eof {
			return false, nil
		}
		if err := s.fill(); err != nil {
			return false, err
		}
	}
}

// position returns the line and 1-based byte in line of buffer offset off.
func (s *jsonSource) position(off int) (int64, int64) {
	off = min(off, s.end)
	seg := s.buf[s.pos:off]
	if n := bytes.Count(seg, nlSep); n > 0 {
		return s.line + int64(n), int64(len(seg) - bytes.LastIndexByte(seg, '\n'))
	}
	return s.line, s.bufOff + int64(off) - s.lineOff + 1
}

func (s *jsonSource) syntaxError(off int, msg string) error {
	line, col := s.position(off)
	val := s.buf[off:min(off+32, s.end)]
	return &ParseError{Object: s.name, Line: line, Byte: col, RowGroup: -1, Value: shared.Shorten(val),
		Err: fmt.Errorf("%w: invalid JSON %s: %s", ErrCorrupt, s.layout(), msg), Hint: "fix the JSON syntax at that position, or write one JSON object per line (NDJSON)"}
}

// readArray reads the next element of a top-level array.
func (s *jsonSource) readArray(row *rowBuf) error {
	for {
		ok, err := s.skipWS()
		if err != nil {
			return err
		}
		if !ok {
			if s.state == 3 || (s.state == 0) {
				return io.EOF
			}
			if s.cut != nil && s.cut() {
				s.dropped = true
				return io.EOF
			}
			return s.syntaxError(s.end, "unexpected end of input: the array is not closed with ']'")
		}
		c := s.buf[s.pos]
		switch s.state {
		case 0:
			if c != '[' {
				return s.syntaxError(s.pos, "expected '[' to start the array")
			}
			s.advance(s.pos + 1)
			s.state = 1
			continue
		case 1:
			if c == ']' {
				s.advance(s.pos + 1)
				s.state = 3
				continue
			}
			if !s.decided {
				// the first element decides: objects, or scalars
				s.decided = true
				s.p.scalars = c != '{'
			}
		case 2:
			switch c {
			case ',':
				s.advance(s.pos + 1)
				s.state = 1
				if ok, err := s.skipWS(); err != nil {
					return err
				} else if !ok {
					continue
				}
				if s.buf[s.pos] == ']' {
					return s.syntaxError(s.pos, "a ',' before ']'")
				}
			case ']':
				s.advance(s.pos + 1)
				s.state = 3
				continue
			default:
				return s.syntaxError(s.pos, "expected ',' or ']' after an element")
			}
		case 3:
			return s.syntaxError(s.pos, "unexpected data after the end of the array")
		}
		return s.readDoc(row)
	}
}

// readConcat reads the next of a stream of whitespace-separated documents
// that may span lines.
func (s *jsonSource) readConcat(row *rowBuf) error {
	ok, err := s.skipWS()
	if err != nil {
		return err
	}
	if !ok {
		return io.EOF
	}
	return s.readDoc(row)
}

// readDoc reads the document (array element) at s.pos, reading more data
// as needed.
func (s *jsonSource) readDoc(row *rowBuf) error {
	for {
		s.resetCells(row)
		s.p.buf = s.buf[:s.end]
		s.p.final = s.eof
		end, err := s.p.document(s.pos)
		row.cells = s.p.cells
		row.extras = s.p.extras
		switch {
		case err == nil:
			lineNo, _ := s.position(s.pos)
			row.line = lineNo
			row.nbytes = end - s.pos
			s.advance(end)
			s.state = 2
			return nil
		case s.p.more && !s.eof:
			// the document goes on past the buffer: read more
			if s.end-s.pos > s.maxDoc {
				return s.tooLarge()
			}
			if err := s.fillMore(); err != nil {
				return err
			}
		case s.p.more && s.cut != nil && s.cut():
			// a preview's head ends inside the document
			s.dropped = true
			s.state = 3
			s.pos = s.end
			return io.EOF
		case s.p.errMsg == errNotObject:
			lineNo, col := s.position(s.pos)
			s.advance(end)
			s.state = 2
			s.rerr = &ParseError{Object: s.name, Line: lineNo, Byte: col, RowGroup: -1, rowLvl: true,
				Err: fmt.Errorf("%w: the %s is not a JSON object", ErrCorrupt, s.docNoun()), Hint: "each row must be a JSON object"}
			return errRowRejected
		default:
			return s.syntaxError(s.p.errOff, s.p.errMsg)
		}
	}
}

// unknownKey warns about a key met after the sample outside the columns,
// once per key and for the first 20 keys. With onUnknown set (a producer
// of a pipeline) the key is handed to it instead, for the consumer's
// jsonCols to warn about in row order.
func (c *jsonCols) unknownKey(path []byte) {
	if len(c.unknown) >= 20 || c.unknown[string(path)] {
		return
	}
	if c.unknown == nil {
		c.unknown = map[string]bool{}
	}
	k := string(path)
	c.unknown[k] = true
	if c.onUnknown != nil {
		c.onUnknown(k)
		return
	}
	msg := fmt.Sprintf("%s: key %q is not among the sampled columns and is ignored (raise sample_rows or pass a schema to read it)", c.obj, k)
	if len(c.unknown) == 20 {
		msg += "; further unknown keys are ignored without warning"
	}
	c.warn(msg)
}

// newJSONReader sniffs the layout, samples, infers and returns the reader.
func newJSONReader(ctx context.Context, s *stream, opts Options) (Reader, error) {
	text, encName, err := textReader(s, "", &opts)
	if err != nil {
		return nil, err
	}
	info := Info{Format: FormatJSON, Compression: s.comp, Encoding: encName, RowCount: -1}
	src := &jsonSource{stream: s, r: text, name: s.name, line: 1, maxDoc: opts.MaxLineBytes,
		buf: make([]byte, min(256<<10, opts.MaxLineBytes+2)), cut: func() bool { return s.cut }}
	cols := &jsonCols{index: map[string]int{}, warn: opts.warn, obj: s.name, max: opts.MaxColumns}
	src.p = jsonParser{cols: cols, maxDepth: opts.JSON.MaxDepth}
	rescue, err := opts.rescueIndex(s.name)
	if err != nil {
		return nil, err
	}
	cols.rescue = rescue >= 0
	if opts.Schema != nil {
		for _, f := range opts.Schema.Fields {
			cols.index[f.Name] = len(cols.names)
			cols.names = append(cols.names, f.Name)
			if f.Type == schema.JSON || f.Type == schema.String {
				if cols.rawPaths == nil {
					cols.rawPaths = map[string]bool{}
				}
				cols.rawPaths[f.Name] = true
			}
		}
		cols.frozen = true
	}
	// layout
	if ok, err := src.skipWS(); err != nil {
		return nil, err
	} else if ok && src.buf[src.pos] == '[' {
		src.array = true
	} else if ok {
		src.decided = true
		src.p.scalars = src.buf[src.pos] != '{'
		if src.concat, err = src.multiLine(opts.JSON.MaxDepth, opts.MaxColumns, src.p.scalars); err != nil {
			return nil, err
		}
	}
	info.JSONLayout = src.layout()

	smp := &sample{}
	var row rowBuf
	for len(smp.rows) < opts.SampleRows && !smp.full(opts.SampleBytes) {
		if len(smp.rows)&255 == 255 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
		err := src.read(&row)
		if cols.over {
			return nil, &ParseError{Object: s.name, Line: row.line, RowGroup: -1,
				Err: fmt.Errorf("%w: the sampled documents have more than %d distinct keys (nested keys count once per path), more than max_columns allows",
					ErrTooLarge, cols.max),
				Hint: "lower json.max_depth to keep nested objects as JSON text, or raise max_columns (at most " + strconv.Itoa(MaxMaxColumns) + ")"}
		}
		if err == io.EOF {
			smp.exhaustive = !s.headTruncated()
			break
		}
		if err == errRowRejected {
			smp.addReject(src.rerr.Line, src.rerr)
			continue
		}
		if err != nil {
			if _, ok := err.(*ParseError); ok {
				smp.fatal = err
				break
			}
			return nil, err
		}
		smp.add(&row, true)
	}
	if src.dropped {
		opts.warn(fmt.Sprintf("%s: the last document of the head was cut by the preview's byte limit and was left out", s.name))
	}
	cols.frozen = true
	if opts.Schema == nil {
		// A schema inferred from no document at all would call the
		// object fine: an object in which no sampled document parses
		// fails.
		var rej []*ParseError
		good := 0
		for k := range smp.rows {
			if pe := smp.rows[k].rej; pe == nil {
				good++
			} else if len(rej) < 3 {
				rej = append(rej, pe)
			}
		}
		if good == 0 && len(rej) > 0 {
			n := len(smp.rows)
			if smp.fatal != nil {
				// the error that stopped the sample is listed too
				if pe, ok := smp.fatal.(*ParseError); ok && len(rej) < 3 {
					rej = append(rej, pe)
				}
			}
			return nil, noRowParses(n, rej)
		}
	}
	r := &reader{name: s.name, info: info, src: src, opts: opts, nulls: newNullSet(nil), sample: smp,
		sparse: max(len(cols.names), 1), stream: s, cols: cols}
	if opts.Schema != nil {
		r.schema = opts.Schema
		if rescue >= 0 {
			r.initRescue(rescue, opts.Schema.Names(), nil)
		}
	} else {
		r.inferred = true
		inf := make([]colInfer, len(cols.names))
		present := make([]int, len(cols.names)) // per column: sampled rows that have it
		good := 0
		for k := range smp.rows {
			if k&255 == 255 {
				if err := ctx.Err(); err != nil {
					return nil, err
				}
			}
			sr := &smp.rows[k]
			if sr.rej != nil {
				continue
			}
			good++
			for j := 0; j < sr.n; j++ {
				sc := &smp.cells[sr.first+j]
				c := cell{b: smp.arena[sc.off : sc.off+sc.n], kind: sc.kind}
				inf[sc.col].add(&c, sr.line, r.nulls)
				present[sc.col]++
			}
		}
		// missing keys are nulls
		for c := range inf {
			inf[c].nulls += good - present[c]
		}
		sch := &schema.Schema{Fields: make([]schema.Field, len(cols.names))}
		names := columnNames(cols.names)
		for j := range inf {
			sch.Fields[j] = inf[j].field(names[j], smp.exhaustive && smp.fatal == nil)
		}
		r.schema = sch
	}
	r.colMap = make([]int, len(r.schema.Fields))
	for j := range r.colMap {
		r.colMap[j] = j
	}
	return r, nil
}

// columnNames returns the key paths as column names: the empty key becomes
// c<position>, made unique like CSV header names.
func columnNames(paths []string) []string {
	out := make([]string, len(paths))
	empty := false
	for i, p := range paths {
		out[i] = p
		empty = empty || p == ""
	}
	if !empty {
		return out
	}
	taken := make(map[string]bool, len(paths))
	for _, p := range paths {
		taken[p] = true
	}
	for i, p := range paths {
		if p != "" {
			continue
		}
		n := "c" + strconv.Itoa(i+1)
		for k := 2; taken[n]; k++ {
			n = "c" + strconv.Itoa(i+1) + "_" + strconv.Itoa(k)
		}
		taken[n] = true
		out[i] = n
	}
	return out
}

// scanString finds the closing quote of a string whose content starts at
// i, eight bytes at a time. It reports whether the string has escapes (then
// the returned position is that of the first backslash's string end, found
// by the slow path). It returns -1 if the string does not end in buf.
func scanString(buf []byte, i int) (int, bool) {
	const quotes = '"' * swarOnes
	const slashes = '\\' * swarOnes
	for ; i+8 <= len(buf); i += 8 {
		w := binary.LittleEndian.Uint64(buf[i:])
		mq := delimMask(w, quotes)
		ms := delimMask(w, slashes)
		if mq|ms != 0 {
			// the lowest set bit of each mask is exact
			kq, ks := bits.TrailingZeros64(mq), bits.TrailingZeros64(ms)
			if kq < ks {
				return i + kq>>3, false
			}
			return endOfEscaped(buf, i+ks>>3), true
		}
	}
	for ; i < len(buf); i++ {
		switch buf[i] {
		case '"':
			return i, false
		case '\\':
			return endOfEscaped(buf, i), true
		}
	}
	return -1, false
}

// endOfEscaped finds the closing quote of a string from a backslash at i.
func endOfEscaped(buf []byte, i int) int {
	for i < len(buf) {
		switch buf[i] {
		case '\\':
			i += 2
			continue
		case '"':
			return i
		}
		i++
	}
	return -1
}
