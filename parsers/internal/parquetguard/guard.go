// Package parquetguard checks the bytes of a Parquet file before
// parquet-go decodes them, so that a corrupt or hostile file is refused
// with an error instead of exhausting the worker's memory.
//
// # What it defends against
//
// Checked on github.com/parquet-go/parquet-go v0.32.0 (see go.mod), which
// trusts the sizes and counts a file announces and allocates them before
// it knows whether the bytes are there:
//
//   - its thrift decoder sizes a list from the list's header
//     (reflect.MakeSlice in encoding/thrift's decodeFuncSliceOf): a footer
//     of a few bytes that declares a list of 2^31 row groups makes it
//     allocate hundreds of gigabytes, a fatal (not recoverable) out of
//     memory error. CheckFooter walks the footer's thrift encoding first;
//   - it allocates a page's compressed_page_size (FilePages.readPage,
//     up to 2 GiB) before reading the page, sizes decompression buffers
//     from uncompressed_page_size, lets snappy and zstd allocate what their
//     own headers announce, and its LZ4_RAW decoder doubles its buffer
//     forever on corrupt input;
//   - it sizes buffers from counts inside a page's data: an RLE run or a
//     DELTA_BINARY_PACKED header can announce 2^31 values in a few bytes,
//     and parquet-go allocates room for them before noticing that the data
//     is not there (tens of gigabytes); gzip and brotli pages may
//     decompress to far more than their header says.
//
// Guard sits between a column chunk's page reader and the source. It
// follows the chunk's bytes as parquet-go reads them (sequentially), decodes
// each page header itself and checks it before parquet-go sees it: sizes
// within the chunk and within MaxPageBytes, value counts within
// MaxPageValues, PLAIN fixed-width values that fit the page. Then it
// checks the page's content (checkPage, pagecheck.go): the size snappy or
// zstd data announces, and, decompressing the page itself when parquet-go
// would size buffers from what is inside (of a Snappy page of PLAIN
// values, only the level streams at its start), the RLE runs, DELTA counts
// and lengths, and the decompressed size of gzip, brotli and LZ4_RAW data. A
// read that reaches a bad page returns the bytes before it and then the
// error, so the pages before it are still read (and their rows delivered).
//
// Errors wrap the sentinels of parsers/internal/shared (ErrCorrupt,
// ErrTooLarge, ErrUnsupported), which package parsers exports.
//
// # When it can go
//
// TestParquetGoStillTrustsSizes (upstream_test.go) pins the first two
// behaviours above on the unguarded library, with allocations small enough
// to be safe: it fails once a parquet-go upgrade stops allocating what a
// thrift list header or a page header announces. TestCheckedVersion fails
// when go.mod moves to another parquet-go, so that these checks are re-run
// and the version above updated. The guard can be deleted when, for the
// version in go.mod, parquet-go bounds every allocation by the bytes really
// present (thrift lists, page buffers, decompression, RLE and DELTA
// counts): TestParquetGoStillTrustsSizes failing is the signal to check the
// rest, and the corpus and fuzz tests of package parsers (bad_data/,
// TestParquetHostileFooter, FuzzParquet) must still pass without the guard.
package parquetguard

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/parquet-go/parquet-go/encoding/thrift"
	"github.com/parquet-go/parquet-go/format"

	"github.com/s3ingest/s3ingest/parsers/internal/shared"
)

// Limits of what a page may announce.
const (
	// MaxPageBytes bounds a page's compressed and uncompressed sizes.
	MaxPageBytes = 256 << 20
	// MaxPageValues bounds a page's value count.
	MaxPageValues = 16 << 20
	// MaxHeaderBytes bounds a page header.
	MaxHeaderBytes = 16 << 20
)

// Column is what the guard needs to know about a leaf column.
type Column struct {
	Kind   format.Type // physical type
	Size   int         // FIXED_LEN_BYTE_ARRAY length
	MaxDef byte        // maximum definition level
	MaxRep byte        // maximum repetition level
}

// Guard is an io.ReaderAt over one column chunk that checks each page
// before handing its bytes on (see the package doc). It is not safe for
// concurrent use: parquet-go reads a chunk sequentially.
type Guard struct {
	src   io.ReaderAt
	col   Column
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
	snappy   snappyPrefix
}

// New returns a Guard reading the column chunk cc of column col from src.
func New(src io.ReaderAt, col Column, cc *format.ColumnChunk) *Guard {
	start, end := ChunkRange(cc)
	return &Guard{src: src, col: col, codec: cc.MetaData.Codec, start: start, end: end, pos: start, inHeader: true, hdrStart: start, bad: -1}
}

// Err returns the error of the first bad page, or nil. Reads at or past
// that page return it.
func (g *Guard) Err() error { return g.err }

// ChunkRange returns the byte range [start, end) of a column chunk: from
// its dictionary page (if any) or first data page, for its total
// compressed size.
func ChunkRange(cc *format.ColumnChunk) (start, end int64) {
	start = cc.MetaData.DataPageOffset
	if d := cc.MetaData.DictionaryPageOffset; d > 0 && d < start {
		start = d
	}
	return start, start + cc.MetaData.TotalCompressedSize
}

// CodecName names a compression codec for messages.
func CodecName(c format.CompressionCodec) string {
	switch c {
	case format.Uncompressed:
		return "uncompressed"
	case format.Snappy:
		return "snappy"
	case format.Gzip:
		return "gzip"
	case format.LZO:
		return "lzo"
	case format.Brotli:
		return "brotli"
	case format.Lz4:
		return "lz4 (Hadoop framing, deprecated)"
	case format.Zstd:
		return "zstd"
	case format.Lz4Raw:
		return "lz4_raw"
	}
	return fmt.Sprintf("codec %d", c)
}

// plainWidth is the size of a PLAIN-encoded value of a fixed-width
// physical type, or 0.
func plainWidth(c Column) int64 {
	switch c.Kind {
	case format.Int32, format.Float:
		return 4
	case format.Int64, format.Double:
		return 8
	case format.Int96:
		return 12
	case format.FixedLenByteArray:
		return int64(c.Size)
	}
	return 0
}

// ReadAt implements io.ReaderAt for parquet-go's page reader.
func (g *Guard) ReadAt(p []byte, off int64) (int, error) {
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
func (g *Guard) observe(b []byte, off int64) {
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

func (g *Guard) fail(at int64, err error) {
	g.bad, g.err = at, err
}

// header consumes header bytes; it returns the bytes after them.
func (g *Guard) header(b []byte) []byte {
	prev := len(g.pend)
	view := b
	if prev > 0 {
		g.pend = append(g.pend, b[:min(len(b), MaxHeaderBytes-prev)]...)
		view = g.pend
	}
	var h format.PageHeader
	r := g.proto.NewReaderFromBytes(view)
	err := thrift.NewDecoder(r).Decode(&h)
	if err != nil {
		short := errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF)
		switch {
		case short && len(view) < MaxHeaderBytes && g.hdrStart+int64(len(view)) < g.end:
			// the header continues in the next read
			if prev == 0 {
				g.pend = append(g.pend[:0], b...)
			}
			g.pos += int64(len(b))
			return nil
		case short && len(view) >= MaxHeaderBytes:
			g.fail(g.hdrStart, fmt.Errorf("%w: a page header over %d bytes", shared.ErrTooLarge, MaxHeaderBytes))
		default:
			g.fail(g.hdrStart, fmt.Errorf("%w: page header at offset %d: %v", shared.ErrCorrupt, g.hdrStart, err))
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
func (g *Guard) bodyBytes(b []byte) []byte {
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
func (g *Guard) check(h *format.PageHeader, bodyStart int64) error {
	comp, uncomp := int64(h.CompressedPageSize), int64(h.UncompressedPageSize)
	switch {
	case comp < 0 || uncomp < 0:
		return fmt.Errorf("%w: page sizes %d/%d", shared.ErrCorrupt, comp, uncomp)
	case bodyStart+comp > g.end:
		return fmt.Errorf("%w: a page of %d bytes runs past the end of its column chunk", shared.ErrCorrupt, comp)
	case comp > MaxPageBytes || uncomp > MaxPageBytes:
		return fmt.Errorf("%w: a page of %d bytes (%d compressed); the limit is %d", shared.ErrTooLarge, uncomp, comp, MaxPageBytes)
	}
	var values, dense int64 // values, and values known to be non-null
	plain := false
	levels := int64(0)
	compressed := g.codec != format.Uncompressed
	switch h.Type {
	case format.DataPage:
		if !h.DataPageHeader.Valid {
			return fmt.Errorf("%w: a data page without its header", shared.ErrCorrupt)
		}
		values = int64(h.DataPageHeader.V.NumValues)
		plain = h.DataPageHeader.V.Encoding == format.Plain
		if g.col.MaxDef == 0 && g.col.MaxRep == 0 {
			dense = values
		}
	case format.DataPageV2:
		if !h.DataPageHeaderV2.Valid {
			return fmt.Errorf("%w: a v2 data page without its header", shared.ErrCorrupt)
		}
		v := &h.DataPageHeaderV2.V
		values = int64(v.NumValues)
		plain = v.Encoding == format.Plain
		dense = values - int64(v.NumNulls)
		if v.NumNulls < 0 || v.NumRows < 0 || v.DefinitionLevelsByteLength < 0 || v.RepetitionLevelsByteLength < 0 {
			return fmt.Errorf("%w: negative counts in a v2 data page header", shared.ErrCorrupt)
		}
		levels = int64(v.DefinitionLevelsByteLength) + int64(v.RepetitionLevelsByteLength)
		if levels > comp || levels > uncomp {
			return fmt.Errorf("%w: v2 page levels (%d bytes) larger than the page", shared.ErrCorrupt, levels)
		}
		if v.IsCompressed.Valid && !v.IsCompressed.V {
			compressed = false
		}
		if compressed && comp == levels && g.codec != format.Zstd {
			// parquet-go v0.32 decompresses the empty data and fails.
			return fmt.Errorf("%w: a v2 data page with no data bytes, which parquet-go v0.32 cannot read (it tries to decompress them; see apache/arrow-rs#7388)", shared.ErrUnsupported)
		}
	case format.DictionaryPage:
		if !h.DictionaryPageHeader.Valid {
			return fmt.Errorf("%w: a dictionary page without its header", shared.ErrCorrupt)
		}
		values = int64(h.DictionaryPageHeader.V.NumValues)
	default:
		return nil // index pages and unknown types are skipped by parquet-go
	}
	if values < 0 {
		return fmt.Errorf("%w: a page with %d values", shared.ErrCorrupt, values)
	}
	if values > MaxPageValues {
		return fmt.Errorf("%w: a page of %d values; the limit is %d", shared.ErrTooLarge, values, MaxPageValues)
	}
	// PLAIN values of a fixed width must all be there (parquet-go would read
	// past the page otherwise).
	if w := plainWidth(g.col); plain && w > 0 && dense > 0 && dense*w > uncomp-levels {
		return fmt.Errorf("%w: a page of %d bytes cannot hold %d PLAIN values of %d bytes", shared.ErrCorrupt, uncomp-levels, dense, w)
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

// zstdContentSize returns the content size a zstd frame header announces.
func zstdContentSize(b []byte) (uint64, bool) {
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
