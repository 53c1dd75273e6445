package pqwrite

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"slices"
	"sort"
	"sync"
	"unsafe"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/encoding/delta"
	"github.com/parquet-go/parquet-go/encoding/rle"
	"github.com/parquet-go/parquet-go/encoding/thrift"
	"github.com/parquet-go/parquet-go/format"

	"github.com/s3ingest/s3ingest/parsers/schema"
)

// column is one column's open page and open chunk.
type column struct {
	opt      *Options
	typ      schema.Type
	optional bool
	kind     format.Type     // physical type
	enc      format.Encoding // of the values
	width    int             // bytes of a value in vals; 0: byte arrays
	compress bool

	// The open page; pb is nil between pages (see pageBuf).
	rows  int // rows (levels) in the page
	nulls int // null rows in the page
	pb    *pageBuf
	st    bounds // the page's min and max

	// The open chunk.
	buf        io.ReadWriteSeeker // pages from Options.Buffers; nil: mem
	mem        []*[]byte          // pages in memory, in blocks
	chunkRows  int64
	chunkNulls int64
	size       int64 // bytes of pages in the chunk, headers included
	unc        int64 // the same, uncompressed
	pages      []page
	chunk      bounds // min and max of the chunk, bytes copied
	noIndex    bool   // a page had values without bounds (only NaN) or a max that cannot be cut

	err error // sticky
}

// pageBuf holds the values of an open page. It comes from a pool when a
// page starts and goes back when the page is written, so a column holds
// no page memory between pages: a wide file that ends every column's page
// after each batch keeps only the pages being written in memory, however
// many columns it has.
type pageBuf struct {
	defs []byte   // definition levels, optional columns only
	vals []byte   // PLAIN values (booleans: a byte each; byte arrays: their bytes)
	offs []uint32 // byte arrays: offsets into vals, one more than values
}

var pageBufs = sync.Pool{New: func() any { return &pageBuf{offs: []uint32{0}} }}

// putPageBuf returns pb to the pool, unless a huge value made it far
// larger than a page (then the garbage collector takes it).
func putPageBuf(pb *pageBuf, pageBytes int) {
	if cap(pb.vals) > 4*pageBytes || cap(pb.offs) > pageBytes || cap(pb.defs) > 8*pageBytes {
		return
	}
	pb.defs, pb.vals, pb.offs = pb.defs[:0], pb.vals[:0], pb.offs[:1]
	pageBufs.Put(pb)
}

// encodeBuf is the scratch of writePage: taken for one page's encoding,
// so there is one per goroutine writing a page, not one per column.
type encodeBuf struct {
	levels, plain, comp []byte
}

var encodeBufs = sync.Pool{New: func() any { return new(encodeBuf) }}

func putEncodeBuf(eb *encodeBuf, pageBytes int) {
	if cap(eb.plain) > 4*pageBytes || cap(eb.comp) > 4*pageBytes || cap(eb.levels) > 4*pageBytes {
		return
	}
	encodeBufs.Put(eb)
}

// page is what the chunk's column and offset index say of one page.
type page struct {
	offset   int64 // from the start of the chunk
	size     int32 // header included
	firstRow int64 // in the row group
	nulls    int64
	rows     int64
	min, max []byte // encoded bounds; nil: none (only nulls)
}

func newColumn(f schema.Field, e format.SchemaElement, opt *Options) (*column, error) {
	c := &column{opt: opt, typ: f.Type, optional: f.Nullable, compress: opt.Codec.CompressionCodec() != format.Uncompressed}
	want := format.ByteArray
	c.enc = format.Plain
	switch f.Type {
	case schema.Bool:
		want, c.width = format.Boolean, 1
	case schema.Int64, schema.Timestamp:
		want, c.width = format.Int64, 8
	case schema.Date:
		want, c.width = format.Int32, 4
	case schema.Float64:
		want, c.width = format.Double, 8
	default:
		c.enc = format.DeltaLengthByteArray
	}
	c.kind = want
	if t, ok := e.Type.Get(); !ok || t != want {
		return nil, fmt.Errorf("pqwrite: column %q of type %s has Parquet type %v", f.Name, f.Type, e.Type)
	}
	rep, _ := e.RepetitionType.Get()
	if (rep == format.Optional) != f.Nullable || rep == format.Repeated {
		return nil, fmt.Errorf("pqwrite: column %q (nullable %t) is %v in the Parquet schema", f.Name, f.Nullable, rep)
	}
	return c, nil
}

// used is the page's size as far as ending it goes: its values and, for
// pages of nulls only, an eighth of a byte per row (what RLE levels take at
// most), so that such a page ends too.
func (c *column) used() int {
	if c.pb == nil {
		return 0
	}
	return len(c.pb.vals) + c.rows/8
}

// write appends the rows of v, ending the page each time it is full.
func (c *column) write(v *schema.Vector) error {
	if c.err != nil {
		return c.err
	}
	if v.Type != c.typ {
		c.err = fmt.Errorf("pqwrite: a %s vector for a %s column", v.Type, c.typ)
		return c.err
	}
	n := v.Len()
	if n > 0 && c.pb == nil {
		c.pb = pageBufs.Get().(*pageBuf)
	}
	for i := 0; i < n; {
		k := c.fit(v, i, n)
		c.appendRows(v, i, i+k)
		i += k
		if c.used() >= c.opt.PageBytes {
			if err := c.flushPage(); err != nil {
				return err
			}
			if i < n {
				c.pb = pageBufs.Get().(*pageBuf)
			}
		}
	}
	return nil
}

// fit returns how many rows from i (at least one) fit the open page.
func (c *column) fit(v *schema.Vector, i, n int) int {
	room := c.opt.PageBytes - c.used()
	if c.width > 0 {
		return max(1, min(n-i, room/c.width))
	}
	off := v.Offsets
	base := off[i]
	// the first k with off[i+k]-base > room, minus one
	k := sort.Search(n-i, func(k int) bool { return int(off[i+k+1]-base) > room })
	return max(1, k)
}

// appendRows appends rows lo..hi of v to the open page.
func (c *column) appendRows(v *schema.Vector, lo, hi int) {
	pb := c.pb
	nulls := v.Nulls[lo:hi]
	nullCount := 0 // a required column has none (the caller checks)
	if c.optional {
		d := len(pb.defs)
		pb.defs = slices.Grow(pb.defs, hi-lo)[:d+hi-lo]
		for j, null := range nulls {
			pb.defs[d+j] = 1
			if null {
				pb.defs[d+j] = 0
				nullCount++
			}
		}
	}
	hasNull := nullCount > 0
	c.nulls += nullCount
	c.rows += hi - lo
	switch c.typ {
	case schema.Int64, schema.Timestamp:
		src := v.Ints[lo:hi]
		if !hasNull {
			pb.vals = appendInt64s(pb.vals, src)
			c.st.addInts(src)
			return
		}
		for j, x := range src {
			if !nulls[j] {
				pb.vals = binary.LittleEndian.AppendUint64(pb.vals, uint64(x))
				c.st.addInt(x)
			}
		}
	case schema.Date:
		for j, x := range v.Ints[lo:hi] {
			if !hasNull || !nulls[j] {
				pb.vals = binary.LittleEndian.AppendUint32(pb.vals, uint32(int32(x)))
				c.st.addInt(x)
			}
		}
	case schema.Float64:
		src := v.Floats[lo:hi]
		if !hasNull {
			pb.vals = appendFloat64s(pb.vals, src)
			c.st.addFloats(src)
			return
		}
		for j, x := range src {
			if !nulls[j] {
				pb.vals = binary.LittleEndian.AppendUint64(pb.vals, math.Float64bits(x))
				c.st.addFloat(x)
			}
		}
	case schema.Bool:
		for j, x := range v.Bools[lo:hi] {
			if !hasNull || !nulls[j] {
				b := byte(0)
				if x {
					b = 1
				}
				pb.vals = append(pb.vals, b)
				c.st.addBool(x)
			}
		}
	default:
		off := v.Offsets
		first := len(pb.offs) - 1 // the first value appended here
		if !hasNull {
			base := len(pb.vals)
			pb.vals = append(pb.vals, v.Bytes[off[lo]:off[hi]]...)
			shift := uint32(base) - uint32(off[lo])
			for _, o := range off[lo+1 : hi+1] {
				pb.offs = append(pb.offs, uint32(o)+shift)
			}
		} else {
			for j := lo; j < hi; j++ {
				if !nulls[j-lo] {
					pb.vals = append(pb.vals, v.Bytes[off[j]:off[j+1]]...)
					pb.offs = append(pb.offs, uint32(len(pb.vals)))
				}
			}
		}
		// Bounds once the bytes are in vals (appending may move them).
		offs := pb.offs
		for k := first; k < len(offs)-1; k++ {
			c.st.addBytes(pb.vals[offs[k]:offs[k+1]])
		}
	}
}

// flushPage encodes, compresses and appends the open page to the chunk.
func (c *column) flushPage() error {
	if c.err != nil {
		return c.err
	}
	if c.rows == 0 {
		return nil
	}
	if err := c.writePage(); err != nil {
		c.err = err
		return err
	}
	return nil
}

func (c *column) writePage() error {
	pb := c.pb
	eb := encodeBufs.Get().(*encodeBuf)
	defer putEncodeBuf(eb, c.opt.PageBytes)
	values := pb.vals
	var err error
	switch {
	case c.typ == schema.Bool:
		eb.plain = packBits(eb.plain[:0], pb.vals)
		values = eb.plain
	case c.width == 0:
		eb.plain, err = new(delta.LengthByteArrayEncoding).EncodeByteArray(eb.plain[:0], pb.vals, pb.offs)
		if err != nil {
			return fmt.Errorf("pqwrite: encode page: %w", err)
		}
		values = eb.plain
	}
	body := values
	if c.compress {
		eb.comp, err = c.opt.Codec.Encode(eb.comp[:0], values)
		if err != nil {
			return fmt.Errorf("pqwrite: compress page: %w", err)
		}
		body = eb.comp
	}
	eb.levels = eb.levels[:0]
	if c.optional {
		eb.levels, err = (&rle.Encoding{BitWidth: 1}).EncodeLevels(eb.levels, pb.defs)
		if err != nil {
			return fmt.Errorf("pqwrite: encode levels: %w", err)
		}
	}
	unc := len(eb.levels) + len(values)
	if unc > math.MaxInt32 || len(eb.levels)+len(body) > math.MaxInt32 {
		return fmt.Errorf("pqwrite: a page of %d bytes", unc)
	}
	crc := crc32.Update(crc32.ChecksumIEEE(eb.levels), crc32.IEEETable, body)
	h := format.PageHeader{
		Type:                 format.DataPageV2,
		UncompressedPageSize: int32(unc),
		CompressedPageSize:   int32(len(eb.levels) + len(body)),
		CRC:                  int32(crc),
		DataPageHeaderV2: thrift.New(format.DataPageHeaderV2{
			NumValues:                  int32(c.rows),
			NumNulls:                   int32(c.nulls),
			NumRows:                    int32(c.rows),
			Encoding:                   c.enc,
			DefinitionLevelsByteLength: int32(len(eb.levels)),
			IsCompressed:               thrift.New(c.compress),
			// Written whatever it holds (the field is writezero): the
			// null count, not a wrong 0; min and max are in the
			// column index.
			Statistics: format.Statistics{NullCount: int64(c.nulls)},
		}),
	}
	hdr, err := thrift.Marshal(new(thrift.CompactProtocol), &h)
	if err != nil {
		return fmt.Errorf("pqwrite: encode page header: %w", err)
	}
	p := page{
		offset:   c.size,
		size:     int32(len(hdr) + len(eb.levels) + len(body)),
		firstRow: c.chunkRows,
		nulls:    int64(c.nulls),
		rows:     int64(c.rows),
	}
	if c.st.has {
		p.min, p.max = c.st.encode(c.kind)
		if p.max == nil {
			c.noIndex = true // a max with no bound short enough
		}
		c.chunk.merge(&c.st)
	} else if c.nulls < c.rows {
		c.noIndex = true // values, but only NaN: no bounds
	}
	for _, b := range [...][]byte{hdr, eb.levels, body} {
		if err := c.appendChunk(b); err != nil {
			return fmt.Errorf("pqwrite: buffer page: %w", err)
		}
	}
	c.pages = append(c.pages, p)
	c.size += int64(p.size)
	c.unc += int64(len(hdr) + unc)
	c.chunkRows += int64(c.rows)
	c.chunkNulls += int64(c.nulls)
	c.rows, c.nulls = 0, 0
	putPageBuf(pb, c.opt.PageBytes)
	c.pb = nil
	c.st = bounds{}
	return nil
}

// A chunk's pages are kept (without Options.Buffers) in memory blocks of
// smallBlock bytes while the chunk is under bigBlock, then of bigBlock: a
// chunk takes at most one block more than its pages, a small chunk (a
// narrow file of many columns, a short row group) little more. Blocks go
// back to their pool once their row group is written.
const (
	smallBlock = 16 << 10
	bigBlock   = 256 << 10
)

var (
	smallBlocks = sync.Pool{New: func() any { b := make([]byte, 0, smallBlock); return &b }}
	bigBlocks   = sync.Pool{New: func() any { b := make([]byte, 0, bigBlock); return &b }}
)

func getBlock(chunkSize int64) *[]byte {
	if chunkSize < bigBlock {
		return smallBlocks.Get().(*[]byte)
	}
	return bigBlocks.Get().(*[]byte)
}

func putBlock(b *[]byte) {
	*b = (*b)[:0]
	switch cap(*b) {
	case smallBlock:
		smallBlocks.Put(b)
	case bigBlock:
		bigBlocks.Put(b)
	}
}

// appendChunk appends b to the chunk's pages.
func (c *column) appendChunk(b []byte) error {
	if c.opt.Buffers != nil {
		if c.buf == nil {
			c.buf = c.opt.Buffers.GetBuffer()
		}
		_, err := c.buf.Write(b)
		return err
	}
	for len(b) > 0 {
		if len(c.mem) == 0 || len(*c.mem[len(c.mem)-1]) == cap(*c.mem[len(c.mem)-1]) {
			c.mem = append(c.mem, getBlock(c.size))
		}
		last := c.mem[len(c.mem)-1]
		n := min(len(b), cap(*last)-len(*last))
		*last = append(*last, b[:n]...)
		b = b[n:]
	}
	return nil
}

// sealed is the pages of one column chunk whose metadata is done, to be
// written to the file.
type sealed struct {
	buf  io.ReadWriteSeeker // from Options.Buffers
	mem  []*[]byte
	size int64
}

// write writes the chunk's pages to w.
func (s *sealed) write(w *Writer) error {
	if s.buf == nil {
		for _, b := range s.mem {
			if err := w.write(*b); err != nil {
				return err
			}
		}
		return nil
	}
	if _, err := s.buf.Seek(0, io.SeekStart); err != nil {
		return err
	}
	n, err := io.Copy(writerFunc(w.write), s.buf)
	if err == nil && n != s.size {
		err = fmt.Errorf("copied %d bytes of %d", n, s.size)
	}
	return err
}

// release returns the chunk's memory.
func (s *sealed) release(pool parquet.BufferPool) {
	if s.buf != nil {
		pool.PutBuffer(s.buf)
		s.buf = nil
	}
	for _, b := range s.mem {
		putBlock(b)
	}
	s.mem = nil
}

// writerFunc adapts Writer.write to io.Writer.
type writerFunc func([]byte) error

func (f writerFunc) Write(p []byte) (int, error) {
	if err := f(p); err != nil {
		return 0, err
	}
	return len(p), nil
}

// endChunk returns the metadata and the encoded page index of the chunk,
// to be written at start, and its pages, and starts the next chunk.
func (c *column) endChunk(start int64, name string) (format.ColumnChunk, chunkIndex, sealed, error) {
	md := format.ColumnMetaData{
		Type:                  c.kind,
		Encoding:              []format.Encoding{c.enc, format.RLE},
		PathInSchema:          []string{name},
		Codec:                 c.opt.Codec.CompressionCodec(),
		NumValues:             c.chunkRows,
		TotalUncompressedSize: c.unc,
		TotalCompressedSize:   c.size,
		DataPageOffset:        start,
		Statistics:            format.Statistics{NullCount: c.chunkNulls},
		EncodingStats:         []format.PageEncodingStats{{PageType: format.DataPageV2, Encoding: c.enc, Count: int32(len(c.pages))}},
	}
	switch {
	case !c.optional:
		md.Encoding = []format.Encoding{c.enc}
	case c.enc == format.Plain:
		md.Encoding = []format.Encoding{format.Plain, format.RLE}
	default:
		md.Encoding = []format.Encoding{format.RLE, c.enc}
	}
	if c.chunk.has {
		md.Statistics.MinValue, md.Statistics.MaxValue = c.chunk.encodeExact(c.kind)
	}
	var idx chunkIndex
	var err error
	if !c.noIndex {
		ci := c.columnIndex()
		if idx.column, err = thrift.Marshal(new(thrift.CompactProtocol), &ci); err != nil {
			return format.ColumnChunk{}, idx, sealed{}, fmt.Errorf("encode column index: %w", err)
		}
	}
	oi := format.OffsetIndex{PageLocations: make([]format.PageLocation, len(c.pages))}
	for i, p := range c.pages {
		oi.PageLocations[i] = format.PageLocation{Offset: start + p.offset, CompressedPageSize: p.size, FirstRowIndex: p.firstRow}
	}
	if idx.offsetIndex, err = thrift.Marshal(new(thrift.CompactProtocol), &oi); err != nil {
		return format.ColumnChunk{}, idx, sealed{}, fmt.Errorf("encode offset index: %w", err)
	}
	cc := format.ColumnChunk{FileOffset: start, MetaData: md}
	s := sealed{buf: c.buf, mem: c.mem, size: c.size}
	c.buf, c.mem = nil, nil
	c.resetChunk()
	return cc, idx, s, nil
}

// columnIndex builds the chunk's column index from its pages' bounds.
func (c *column) columnIndex() format.ColumnIndex {
	ci := format.ColumnIndex{
		NullPages:  make([]bool, len(c.pages)),
		MinValues:  make([][]byte, len(c.pages)),
		MaxValues:  make([][]byte, len(c.pages)),
		NullCounts: make([]int64, len(c.pages)),
	}
	for i, p := range c.pages {
		ci.NullCounts[i] = p.nulls
		if p.min == nil {
			ci.NullPages[i] = true
			ci.MinValues[i], ci.MaxValues[i] = []byte{}, []byte{}
			continue
		}
		ci.MinValues[i], ci.MaxValues[i] = p.min, p.max
	}
	ci.BoundaryOrder = boundaryOrder(c.kind, c.pages)
	return ci
}

// resetChunk starts the next chunk (its pages were taken: sealed).
func (c *column) resetChunk() {
	c.chunkRows, c.chunkNulls, c.size, c.unc = 0, 0, 0, 0
	clear(c.pages) // their bounds
	c.pages = c.pages[:0]
	c.chunk = bounds{}
	c.noIndex = false
}

// release returns the open chunk's memory and the open page's.
func (c *column) release() {
	if c.pb != nil {
		putPageBuf(c.pb, c.opt.PageBytes)
		c.pb = nil
	}
	s := sealed{buf: c.buf, mem: c.mem}
	s.release(c.opt.Buffers)
	c.buf, c.mem = nil, nil
}

// packBits packs one byte per boolean (0 or 1) into bits, LSB first
// (PLAIN booleans).
func packBits(dst, src []byte) []byte {
	n := (len(src) + 7) / 8
	dst = slices.Grow(dst[:0], n)[:n]
	clear(dst)
	for i, b := range src {
		dst[i>>3] |= b << (i & 7)
	}
	return dst
}

// littleEndian: the machine stores integers as PLAIN does, so slices of
// them are copied as bytes.
var littleEndian = binary.NativeEndian.Uint16([]byte{1, 0}) == 1

func appendInt64s(dst []byte, src []int64) []byte {
	if littleEndian && len(src) > 0 {
		return append(dst, unsafe.Slice((*byte)(unsafe.Pointer(&src[0])), 8*len(src))...)
	}
	for _, x := range src {
		dst = binary.LittleEndian.AppendUint64(dst, uint64(x))
	}
	return dst
}

func appendFloat64s(dst []byte, src []float64) []byte {
	if littleEndian && len(src) > 0 {
		return append(dst, unsafe.Slice((*byte)(unsafe.Pointer(&src[0])), 8*len(src))...)
	}
	for _, x := range src {
		dst = binary.LittleEndian.AppendUint64(dst, math.Float64bits(x))
	}
	return dst
}
