package parsers

import (
	"bytes"
	"io"
)

// Cutting a CSV or NDJSON stream into chunks at record boundaries.
//
// After the sample, the feeder reads the (decompressed, UTF-8) stream into
// chunk buffers of Options.ChunkBytes and cuts each at the last record
// boundary it holds; the bytes after it start the next chunk. A boundary
// is exact, so a worker parsing a chunk from its first line reads the same
// records, lines and errors as one parser reading the whole stream:
//
//   - NDJSON: a line is a document, so every newline ends a record.
//   - CSV: the scanner's own dialect decides. Outside a quoted field every
//     newline ends a record (blank lines are records of nothing), and a
//     quote opens a quoted field only at the start of a field: at the
//     start of a record or right after a delimiter; elsewhere (inside an
//     unquoted field, or in the text after a closing quote) it is an
//     ordinary character. A quoted field ends at a quote not followed by
//     another ("" is an escaped quote). Tracking this from a known record
//     start (the end of the sample) is exact for the lenient dialect too,
//     where a scan of quote parity alone would not be.
//
// One parser reads the rest of the stream (as it would have read all of
// it) when no boundary is certain: a chunk buffer without a boundary (a
// record longer than a chunk, e.g. an unclosed quote, so that errors
// about it are the same), a quote at a buffer's end (it may be the first
// of ""), or a read error (the records before it are read first). Not
// split at all: JSON arrays and concatenated documents (a document may
// span lines), and text transcoded from another encoding.

// parallelWorkers returns how many workers parse r's object: 1 (the feeder
// parses) unless it can be cut into chunks.
func (r *reader) parallelWorkers() int {
	w := r.opts.Parallelism
	if w < 2 || r.info.Encoding != "utf-8" {
		return 1
	}
	switch src := r.src.(type) {
	case *csvSource:
		return w
	case *jsonSource:
		if src.array || src.concat {
			return 1
		}
		return w
	}
	return 1
}

// splitter reads the rest of a stream after the sample for the feeder.
type splitter struct {
	r     io.Reader
	carry []byte // bytes read and not yet in a chunk (in the previous buffer, at most a chunk)
	eof   bool
	err   error // a read error, after the bytes before it
	line  int64
	csv   bool
	delim byte
	segs  []int // scratch of csvBoundary
}

// feed is the feeder's work (pr is the producer copy of the reader).
func (pr *reader) feed(p *pipeline) {
	if p.work == nil {
		pr.runSeq(p.ctx, p, pr.first(p))
		return
	}
	// the sample first, then the chunks
	j := pr.first(p)
	if j == nil {
		return
	}
	target := pr.chunkTarget(p.chunkSize)
	pr.sampleOnly = true
	ok := pr.runSeq(p.ctx, p, j)
	pr.sampleOnly, pr.eof = false, false
	if !ok || pr.err != nil {
		return
	}
	sp := pr.newSplitter()
	for {
		buf, ok := p.chunkBuf()
		if !ok {
			return
		}
		n := copy(buf, sp.carry)
		sp.carry = nil
		// read up to the target first, the whole buffer if that holds
		// no boundary
		cut := -1
		for _, limit := range []int{max(min(target, len(buf)), n), len(buf)} {
			if sp.eof || sp.err != nil || n >= limit {
				continue
			}
			if n > 0 {
				if c := sp.boundary(buf[:n]); c > 0 {
					cut = c
					break
				}
			}
			m, err := readFull(p.ctx, sp.r, buf[n:limit])
			n += m
			if err == io.EOF {
				sp.eof = true
			} else if err != nil {
				sp.err = err
			}
		}
		data := buf[:n]
		if n == 0 && sp.eof {
			p.releaseChunk(buf)
			return
		}
		switch {
		case sp.eof:
			cut = n
		case cut < 0:
			cut = sp.boundary(data)
		}
		if cut == 0 || sp.err != nil && cut < n {
			// no certain boundary: one parser reads the rest (the
			// records of data before cut first, as a chunk)
			rest := append([]byte(nil), data[cut:]...)
			if cut == 0 {
				p.releaseChunk(buf)
			} else if !pr.sendChunk(p, sp, buf, data[:cut]) {
				return
			}
			pr.fallback(p, sp, rest)
			return
		}
		sp.carry = data[cut:]
		if !pr.sendChunk(p, sp, buf, data[:cut]) {
			return
		}
	}
}

// chunkTarget is how many bytes a chunk is filled with: about one batch
// of rows as the sample measures them (at least 64 KiB, at most size), so
// that a worker hands its chunk over in one batch and goes on with the
// next instead of waiting for the consumer to take the first.
func (pr *reader) chunkTarget(size int) int {
	rows, n := 0, 0
	if s := pr.sample; s != nil {
		for i := range s.rows {
			if s.rows[i].rej == nil {
				rows++
				n += s.rows[i].nbytes
			}
		}
	}
	if rows == 0 {
		return size
	}
	return min(size, max(64<<10, pr.batchRows*(n/rows+1)))
}

// first queues the first job (the sample, and the rest with one parser).
func (pr *reader) first(p *pipeline) *job {
	j := newJob()
	if !p.enqueue(j, false) {
		return nil
	}
	return j
}

// sendChunk queues a chunk for the workers.
func (pr *reader) sendChunk(p *pipeline, sp *splitter, buf, data []byte) bool {
	j := newJob()
	j.buf, j.data, j.line = buf, data, sp.line
	sp.line += int64(bytes.Count(data, nlSep))
	p.sent++
	return p.enqueue(j, true)
}

// newSplitter takes the rest of the stream from pr's source: the bytes its
// buffer holds after the sample (no longer used by the source), then its
// reader (or its read error).
func (pr *reader) newSplitter() *splitter {
	sp := &splitter{}
	var left []byte
	var r io.Reader
	var eof bool
	var err error
	switch src := pr.src.(type) {
	case *csvSource:
		sc := src.sc
		sp.csv, sp.delim = true, sc.delim
		left, r, eof, err, sp.line = sc.buf[sc.pos:sc.end], sc.r, sc.eof, sc.rerr, sc.line
	case *jsonSource:
		left, r, eof, sp.line = src.buf[src.pos:src.end], src.r, src.eof, src.line
	}
	if s := pr.stream; s != nil && s.ahead != nil && s.comp == CompressionNone && !eof && err == nil {
		// the workers parse while the splitter reads: no read-ahead
		// (and no copy out of its buffers) needed
		s.ahead.goDirect()
	}
	sp.r = bytes.NewReader(left)
	switch {
	case err != nil:
		sp.r = io.MultiReader(sp.r, failReader{err})
	case !eof:
		sp.r = io.MultiReader(sp.r, r)
	}
	return sp
}

// fallback reads the rest of the stream, rest and then the splitter's
// reader (or its error), with one parser, as a job of its own.
func (pr *reader) fallback(p *pipeline, sp *splitter, rest []byte) {
	if s := pr.stream; s != nil && s.ahead != nil {
		s.ahead.goAhead() // one parser: let fetching overlap it again
	}
	var r io.Reader = bytes.NewReader(rest)
	switch {
	case sp.err != nil:
		r = io.MultiReader(r, failReader{sp.err})
	case !sp.eof:
		r = io.MultiReader(r, sp.r)
	}
	switch src := pr.src.(type) {
	case *csvSource:
		old := src.sc
		sc := newCSVScanner(r, old.name, old.delim, old.maxRec)
		sc.line, sc.maxFields = sp.line, old.maxFields
		pr.src = &csvSource{sc: sc, stream: src.stream}
	case *jsonSource:
		js := &jsonSource{stream: src.stream, r: r, name: src.name, line: sp.line, maxDoc: src.maxDoc,
			buf: make([]byte, min(256<<10, src.maxDoc+2)), p: src.p, decided: src.decided}
		pr.src = js
	}
	pr.eof, pr.err = false, nil
	p.fallbacks++
	j := newJob()
	if !p.enqueue(j, false) {
		return
	}
	pr.runSeq(p.ctx, p, j)
}

// failReader returns its error.
type failReader struct{ err error }

func (e failReader) Read([]byte) (int, error) { return 0, e.err }

// boundary returns the end of the last whole record of data (which starts
// at a record boundary and is not the end of the stream), or 0 if there
// is none that is certain.
func (sp *splitter) boundary(data []byte) int {
	if !sp.csv {
		return bytes.LastIndexByte(data, '\n') + 1
	}
	var cut int
	cut, sp.segs = csvBoundary(data, sp.delim, sp.segs)
	return cut
}

// csvBoundary returns the end of the last whole CSV record of data, which
// starts at a record boundary, or 0 (see the top of this file). segs is
// scratch space: the segments outside quoted fields, searched for the
// last newline from the end when it holds maxSegs of them and once the
// scan is done.
func csvBoundary(data []byte, delim byte, segs []int) (int, []int) {
	segs = segs[:0]
	last := 0
	lastNewline := func() int {
		for s := len(segs) - 2; s >= 0; s -= 2 {
			if nl := bytes.LastIndexByte(data[segs[s]:segs[s+1]], '\n'); nl >= 0 {
				return segs[s] + nl + 1
			}
		}
		return last
	}
	i := 0 // outside a quoted field
scan:
	for {
		if len(segs) >= 2*maxSegs {
			last = lastNewline()
			segs = segs[:0]
		}
		q := bytes.IndexByte(data[i:], '"')
		if q < 0 {
			segs = append(segs, i, len(data))
			break
		}
		q += i
		segs = append(segs, i, q)
		if q > 0 && data[q-1] != delim && data[q-1] != '\n' {
			i = q + 1 // an ordinary quote
			continue
		}
		// a quoted field: find its closing quote
		k := q + 1
		for {
			e := bytes.IndexByte(data[k:], '"')
			if e < 0 || e+k+1 >= len(data) {
				// the field goes on past the buffer, or "" or a
				// closing quote at its end: the next buffer tells
				break scan
			}
			e += k
			if data[e+1] == '"' {
				k = e + 2
				continue
			}
			i = e + 1
			break
		}
	}
	return lastNewline(), segs
}

// maxSegs bounds the scratch of csvBoundary (32 KiB).
const maxSegs = 2048

// worker returns a copy of the producer pr for a worker: its own row,
// rescue state and (JSON) parser over the chunks it is given.
func (pr *reader) worker() *reader {
	wr := &reader{}
	*wr = *pr
	wr.feeder = false
	wr.row = rowBuf{}
	wr.jsonBuf = nil
	wr.sample = nil
	wr.resc = pr.resc.clone()
	switch src := pr.src.(type) {
	case *csvSource:
		old := src.sc
		sc := &csvScanner{delim: old.delim, maxRec: old.maxRec, name: old.name, maxFields: old.maxFields}
		wr.src = &csvSource{sc: sc}
	case *jsonSource:
		js := &jsonSource{name: src.name, maxDoc: src.maxDoc, p: src.p.fresh(), decided: src.decided}
		js.p.cols = wr.colsCopy(src.p.cols)
		wr.src = js
	}
	return wr
}

// work parses the chunks of the work queue.
func (wr *reader) work(p *pipeline) {
	for {
		var j *job
		select {
		case j0, ok := <-p.work:
			if !ok {
				return
			}
			j = j0
		case <-p.ctx.Done():
			return
		}
		switch src := wr.src.(type) {
		case *csvSource:
			src.sc.setChunk(j.data, j.line)
		case *jsonSource:
			src.setChunk(j.data, j.line)
		}
		wr.eof, wr.err = false, nil
		wr.runSeq(p.ctx, p, j)
		p.releaseChunk(j.buf)
		if p.ctx.Err() != nil {
			return
		}
	}
}

// setChunk makes the scanner read the records of one chunk, whose first
// byte is on line line.
func (s *csvScanner) setChunk(data []byte, line int64) {
	s.buf, s.pos, s.end, s.eof, s.rerr, s.line = data, 0, len(data), true, nil, line
	s.utf8 = utf8Check{}
	s.utf8.check(data, true)
}

// setChunk makes the source read the documents of one chunk, whose first
// byte is on line line.
func (s *jsonSource) setChunk(data []byte, line int64) {
	s.buf, s.pos, s.end, s.eof, s.line = data, 0, len(data), true, line
	s.bufOff, s.lineOff = 0, 0
	s.utf8 = utf8Check{}
	s.utf8.check(data, true)
}

// fresh returns a copy of the parser's settings with buffers of its own.
func (p *jsonParser) fresh() jsonParser {
	np := *p
	np.strs = arena{}
	np.buf, np.cells, np.extras, np.path, np.cur = nil, nil, nil, nil, nil
	return np
}

// clone returns a rescue state with the same names and its own buffers.
func (rs rescueState) clone() rescueState {
	return rescueState{names: rs.names, known: rs.known}
}
