package parsers

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/parquet-go/parquet-go/encoding/thrift"
	"github.com/parquet-go/parquet-go/format"
)

// parquet-go trusts page headers: it allocates compressed_page_size and
// uncompressed_page_size bytes (up to 2 GiB each) before reading a page,
// lets snappy and zstd allocate whatever their headers announce, and its
// LZ4_RAW decoder doubles its buffer forever on corrupt input. A corrupt or
// hostile file could thus exhaust the worker's memory.
//
// pqGuard sits between a column chunk's page reader and the source. It
// follows the chunk's bytes as parquet-go reads them (sequentially), decodes
// each page header itself and checks it before parquet-go sees it: sizes
// within the chunk and within pqMaxPageBytes, value counts within
// pqMaxPageValues, PLAIN fixed-width values that fit the page. Then it
// checks the page's content (checkPage, parquet_pagecheck.go): the size
// snappy or zstd data announces, and, decompressing the page itself when
// parquet-go would size buffers from what is inside, the RLE runs, DELTA
// counts and lengths, and the decompressed size of gzip, brotli and LZ4_RAW
// data. A read that reaches a bad page returns the bytes before it and then
// the error, so the pages before it are still read (and their rows
// delivered).
const (
	pqMaxPageBytes   = 256 << 20
	pqMaxPageValues  = 16 << 20
	pqMaxHeaderBytes = 16 << 20
)

type pqGuard struct {
	src   io.ReaderAt
	leaf  *pqLeaf
	codec format.CompressionCodec
	start int64 // chunk [start, end)
	end   int64

	pos      int64 // every byte before pos has been seen
	inHeader bool  // pos is inside a header that starts at hdrStart
	hdrStart int64
	pend     []byte // header bytes seen so far
	bodyEnd  int64  // end of the current page's body
	inspect  int64  // [inspect, inspect+len(need)) of the body is checked
	need     int    // bytes of the body to collect for the check
	body     []byte
	hdr      format.PageHeader // the header of the page being checked
	ints     []int64           // scratch for DELTA lengths
	ints2    []int64
	lost     bool
	bad      int64 // offset of the first bad byte, or -1
	err      error
	proto    thrift.CompactProtocol
	scratch  []byte
}

func newPQGuard(src io.ReaderAt, leaf *pqLeaf, cc *format.ColumnChunk) *pqGuard {
	start, end := pqChunkRange(cc)
	return &pqGuard{src: src, leaf: leaf, codec: cc.MetaData.Codec, start: start, end: end, pos: start, inHeader: true, hdrStart: start, bad: -1}
}

// pqPlainWidth is the size of a PLAIN-encoded value of a fixed-width
// physical type, or 0.
func pqPlainWidth(l *pqLeaf) int64 {
	switch l.kind {
	case format.Int32, format.Float:
		return 4
	case format.Int64, format.Double:
		return 8
	case format.Int96:
		return 12
	case format.FixedLenByteArray:
		return int64(l.size)
	}
	return 0
}

// ReadAt implements io.ReaderAt for parquet-go's page reader.
func (g *pqGuard) ReadAt(p []byte, off int64) (int, error) {
	if g.bad >= 0 {
		if off >= g.bad {
			return 0, g.err
		}
		if off+int64(len(p)) > g.bad {
			n, err := g.src.ReadAt(p[:g.bad-off], off)
			if err == nil {
				err = g.err
			}
			return n, err
		}
	}
	n, err := g.src.ReadAt(p, off)
	if n > 0 && !g.lost && g.bad < 0 {
		g.observe(p[:n], off)
		if g.bad >= 0 && off+int64(n) > g.bad {
			return int(g.bad - off), g.err
		}
	}
	return n, err
}

// observe follows the bytes [off, off+len(b)).
func (g *pqGuard) observe(b []byte, off int64) {
	if off > g.pos {
		// Not sequential (a seek): stop checking rather than guess.
		g.lost = true
		return
	}
	if off+int64(len(b)) <= g.pos {
		return
	}
	b = b[g.pos-off:]
	for len(b) > 0 && g.pos < g.end && g.bad < 0 {
		if g.inHeader {
			b = g.header(b)
		} else {
			b = g.bodyBytes(b)
		}
	}
}

func (g *pqGuard) fail(at int64, err error) {
	g.bad, g.err = at, err
}

// header consumes header bytes; it returns the bytes after them.
func (g *pqGuard) header(b []byte) []byte {
	prev := len(g.pend)
	view := b
	if prev > 0 {
		g.pend = append(g.pend, b[:min(len(b), pqMaxHeaderBytes-prev)]...)
		view = g.pend
	}
	var h format.PageHeader
	r := g.proto.NewReaderFromBytes(view)
	err := thrift.NewDecoder(r).Decode(&h)
	if err != nil {
		short := errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF)
		switch {
		case short && len(view) < pqMaxHeaderBytes && g.hdrStart+int64(len(view)) < g.end:
			// the header continues in the next read
			if prev == 0 {
				g.pend = append(g.pend[:0], b...)
			}
			g.pos += int64(len(b))
			return nil
		case short && len(view) >= pqMaxHeaderBytes:
			g.fail(g.hdrStart, fmt.Errorf("%w: a page header over %d bytes", ErrTooLarge, pqMaxHeaderBytes))
		default:
			g.fail(g.hdrStart, fmt.Errorf("%w: page header at offset %d: %v", ErrCorrupt, g.hdrStart, err))
		}
		return nil
	}
	used := r.BytesRead()
	g.pend = g.pend[:0]
	bodyStart := g.hdrStart + int64(used)
	if err := g.check(&h, bodyStart); err != nil {
		g.fail(g.hdrStart, err)
		return nil
	}
	g.pos = bodyStart
	g.bodyEnd = bodyStart + int64(h.CompressedPageSize)
	g.inHeader = false
	return b[used-prev:]
}

// bodyBytes consumes page body bytes, checking the page once all of it
// has been seen (without a copy when one read holds it).
func (g *pqGuard) bodyBytes(b []byte) []byte {
	n := int64(len(b))
	if rest := g.bodyEnd - g.pos; n > rest {
		n = rest
	}
	if g.need > 0 {
		s := max(g.inspect, g.pos)
		e := min(g.inspect+int64(g.need), g.pos+n)
		var whole []byte
		switch {
		case s < e && len(g.body) == 0 && s == g.inspect && e == g.inspect+int64(g.need):
			whole = b[s-g.pos : e-g.pos]
		case s < e:
			g.body = append(g.body, b[s-g.pos:e-g.pos]...)
			if len(g.body) == g.need {
				whole = g.body
			}
		}
		if whole != nil {
			err := g.checkPage(&g.hdr, whole)
			g.need, g.body = 0, g.body[:0]
			if cap(g.body) > 16<<20 {
				g.body = nil
			}
			if err != nil {
				g.fail(g.hdrStart, err)
				return nil
			}
		}
	}
	g.pos += n
	if g.pos >= g.bodyEnd {
		g.inHeader = true
		g.hdrStart = g.pos
	}
	return b[n:]
}

// check validates a page header whose body starts at bodyStart.
func (g *pqGuard) check(h *format.PageHeader, bodyStart int64) error {
	comp, uncomp := int64(h.CompressedPageSize), int64(h.UncompressedPageSize)
	switch {
	case comp < 0 || uncomp < 0:
		return fmt.Errorf("%w: page sizes %d/%d", ErrCorrupt, comp, uncomp)
	case bodyStart+comp > g.end:
		return fmt.Errorf("%w: a page of %d bytes runs past the end of its column chunk", ErrCorrupt, comp)
	case comp > pqMaxPageBytes || uncomp > pqMaxPageBytes:
		return fmt.Errorf("%w: a page of %d bytes (%d compressed); the limit is %d", ErrTooLarge, uncomp, comp, pqMaxPageBytes)
	}
	var values, dense int64 // values, and values known to be non-null
	plain := false
	levels := int64(0)
	compressed := g.codec != format.Uncompressed
	switch h.Type {
	case format.DataPage:
		if !h.DataPageHeader.Valid {
			return fmt.Errorf("%w: a data page without its header", ErrCorrupt)
		}
		values = int64(h.DataPageHeader.V.NumValues)
		plain = h.DataPageHeader.V.Encoding == format.Plain
		if g.leaf.maxDef == 0 && g.leaf.maxRep == 0 {
			dense = values
		}
	case format.DataPageV2:
		if !h.DataPageHeaderV2.Valid {
			return fmt.Errorf("%w: a v2 data page without its header", ErrCorrupt)
		}
		v := &h.DataPageHeaderV2.V
		values = int64(v.NumValues)
		plain = v.Encoding == format.Plain
		dense = values - int64(v.NumNulls)
		if v.NumNulls < 0 || v.NumRows < 0 || v.DefinitionLevelsByteLength < 0 || v.RepetitionLevelsByteLength < 0 {
			return fmt.Errorf("%w: negative counts in a v2 data page header", ErrCorrupt)
		}
		levels = int64(v.DefinitionLevelsByteLength) + int64(v.RepetitionLevelsByteLength)
		if levels > comp || levels > uncomp {
			return fmt.Errorf("%w: v2 page levels (%d bytes) larger than the page", ErrCorrupt, levels)
		}
		if v.IsCompressed.Valid && !v.IsCompressed.V {
			compressed = false
		}
		if compressed && comp == levels && g.codec != format.Zstd {
			// parquet-go v0.32 decompresses the empty data and fails.
			return fmt.Errorf("%w: a v2 data page with no data bytes, which parquet-go v0.32 cannot read (it tries to decompress them; see apache/arrow-rs#7388)", ErrUnsupported)
		}
	case format.DictionaryPage:
		if !h.DictionaryPageHeader.Valid {
			return fmt.Errorf("%w: a dictionary page without its header", ErrCorrupt)
		}
		values = int64(h.DictionaryPageHeader.V.NumValues)
	default:
		return nil // index pages and unknown types are skipped by parquet-go
	}
	if values < 0 {
		return fmt.Errorf("%w: a page with %d values", ErrCorrupt, values)
	}
	if values > pqMaxPageValues {
		return fmt.Errorf("%w: a page of %d values; the limit is %d", ErrTooLarge, values, pqMaxPageValues)
	}
	// PLAIN values of a fixed width must all be there (parquet-go would read
	// past the page otherwise).
	if w := pqPlainWidth(g.leaf); plain && w > 0 && dense > 0 && dense*w > uncomp-levels {
		return fmt.Errorf("%w: a page of %d bytes cannot hold %d PLAIN values of %d bytes", ErrCorrupt, uncomp-levels, dense, w)
	}
	// The whole page is checked once its bytes are in (see checkPage).
	g.hdr = *h
	g.inspect = bodyStart
	g.need = int(comp)
	g.body = g.body[:0]
	if g.need == 0 {
		return g.checkPage(h, nil)
	}
	return nil
}

// pqZstdContentSize returns the content size a zstd frame header announces.
func pqZstdContentSize(b []byte) (uint64, bool) {
	if len(b) < 6 || binary.LittleEndian.Uint32(b) != 0xFD2FB528 {
		return 0, false
	}
	fhd := b[4]
	fcsFlag := fhd >> 6
	single := fhd&0x20 != 0
	dictFlag := fhd & 3
	p := 5
	if !single {
		p++ // window descriptor
	}
	p += [4]int{0, 1, 2, 4}[dictFlag]
	var size int
	switch fcsFlag {
	case 0:
		if !single {
			return 0, false
		}
		size = 1
	case 1:
		size = 2
	case 2:
		size = 4
	case 3:
		size = 8
	}
	if p+size > len(b) {
		return 0, false
	}
	var v uint64
	for i := size - 1; i >= 0; i-- {
		v = v<<8 | uint64(b[p+i])
	}
	if size == 2 {
		v += 256
	}
	return v, true
}
