package parquetguard

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/bits"
	"sync"

	"github.com/andybalholm/brotli"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/snappy"
	"github.com/klauspost/compress/zstd"
	"github.com/parquet-go/parquet-go/format"
	"github.com/pierrec/lz4/v4"

	"github.com/s3ingest/s3ingest/parsers/internal/shared"
)

// parquet-go sizes its buffers from counts inside a page's (decompressed)
// data, not only from the page header: an RLE run or a DELTA_BINARY_PACKED
// header can announce 2^31 values in a few bytes, and parquet-go allocates
// room for them before noticing that the data is not there — up to tens of
// gigabytes, a fatal out-of-memory error. gzip and brotli pages may also
// decompress to far more than their header says. So the guard decompresses
// each page itself, into a buffer bounded by the header's size, and checks
// the streams parquet-go will decode: definition and repetition levels, RLE
// dictionary indexes and booleans, and the DELTA encodings' counts and
// lengths. Of a Snappy v1 page whose values are not checked (PLAIN values
// of an optional column, the common case), only the level streams at its
// start are decoded (snappyprefix.go). The checks bound what the data may announce; they do not decode
// values (parquet-go does that, and reports what else is wrong).

var errTruncated = errors.New("truncated")

// decompress decompresses src (a page's data) into buf, which is grown to
// size; the result may not exceed size bytes.
func decompress(codec format.CompressionCodec, src []byte, size int, buf []byte) ([]byte, error) {
	if cap(buf) < size+1 {
		buf = make([]byte, size+1)
	}
	buf = buf[:size+1]
	var n int
	var err error
	switch codec {
	case format.Snappy:
		var d int
		if d, err = snappy.DecodedLen(src); err == nil {
			if d > size {
				return nil, fmt.Errorf("snappy data announces %d bytes, the page header %d", d, size)
			}
			var out []byte
			out, err = snappy.Decode(buf[:d], src)
			n = len(out)
		}
	case format.Zstd:
		if fcs, ok := zstdContentSize(src); ok && fcs > uint64(size) {
			return nil, fmt.Errorf("zstd data announces %d bytes, the page header %d", fcs, size)
		}
		d := zstdDecoders.Get().(*zstd.Decoder)
		var out []byte
		out, err = d.DecodeAll(src, buf[:0])
		zstdDecoders.Put(d)
		n = len(out)
		if n > size {
			return nil, fmt.Errorf("zstd data decompresses to more than the page header's %d bytes", size)
		}
		if n > 0 && &out[0] != &buf[0] {
			copy(buf, out)
		}
	case format.Gzip:
		var zr *gzip.Reader
		if zr, err = gzip.NewReader(bytes.NewReader(src)); err == nil {
			n, err = readUpTo(zr, buf)
		}
	case format.Brotli:
		n, err = readUpTo(brotli.NewReader(bytes.NewReader(src)), buf)
	case format.Lz4Raw:
		n, err = lz4.UncompressBlock(src, buf[:size])
	default:
		return nil, fmt.Errorf("codec %d", codec)
	}
	if err != nil {
		return nil, err
	}
	if n > size {
		return nil, fmt.Errorf("the data decompresses to more than the page header's %d bytes", size)
	}
	return buf[:n], nil
}

var zstdDecoders = sync.Pool{New: func() any {
	d, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(MaxPageBytes+1))
	if err != nil {
		panic(err)
	}
	return d
}}

// checkAnnounced checks the size snappy or zstd data announces.
func checkAnnounced(codec format.CompressionCodec, src []byte, size int) error {
	switch codec {
	case format.Snappy:
		d, err := snappy.DecodedLen(src)
		if err != nil {
			return err
		}
		if d > size {
			return fmt.Errorf("snappy data announces %d bytes, the page header %d", d, size)
		}
	case format.Zstd:
		if fcs, ok := zstdContentSize(src); ok && fcs > uint64(size) {
			return fmt.Errorf("zstd data announces %d bytes, the page header %d", fcs, size)
		}
	}
	return nil
}

// readUpTo reads r into buf until buf is full or r ends.
func readUpTo(r io.Reader, buf []byte) (int, error) {
	n, err := io.ReadFull(r, buf)
	if err == io.ErrUnexpectedEOF || err == io.EOF {
		err = nil // shorter than buf: fine
	}
	return n, err
}

// checkRLE checks an RLE/bit-packed hybrid stream of values of bitWidth
// bits: no run starts after the page's max values, an RLE run ends at most
// 8 values past them, a bit-packed run at most maxRLEPadding values past
// them, and bit-packed groups are within the data. Writers pad the last
// bit-packed run (DuckDB to a whole block of 256 values) and readers ignore
// the padding; the bound keeps what parquet-go allocates for a run (it
// sizes its output by the run's declared count) within the page's values.
func checkRLE(b []byte, bitWidth int, max int64) error {
	var total int64
	tooMany := func() error { return fmt.Errorf("RLE data with more than the page's %d values", max) }
	for i := 0; i < len(b); {
		if total > max {
			return tooMany()
		}
		u, n := binary.Uvarint(b[i:])
		if n <= 0 {
			return fmt.Errorf("bad RLE run header at byte %d", i)
		}
		i += n
		count := u >> 1
		if u&1 != 0 { // count groups of 8 bit-packed values
			if bitWidth > 0 && count > uint64(len(b)) { // each group takes bitWidth bytes
				return fmt.Errorf("an RLE bit-packed run of %d groups in %d bytes", count, len(b))
			}
			size := int64(count) * int64(bitWidth)
			if size > int64(len(b)-i) {
				return fmt.Errorf("an RLE bit-packed run of %d bytes past the data", size)
			}
			if count > uint64(max+maxRLEPadding-total)/8 {
				return tooMany()
			}
			total += 8 * int64(count)
			i += int(size)
		} else {
			if count > uint64(max+8-total) {
				return tooMany()
			}
			total += int64(count)
			i += (bitWidth + 7) / 8
		}
	}
	return nil
}

// maxRLEPadding is how many values past the page's the last bit-packed run
// of an RLE/bit-packed stream may declare: the padding of a block of 256.
const maxRLEPadding = 256

// dbpHeader is a DELTA_BINARY_PACKED stream's header.
type dbpHeader struct {
	blockSize, miniBlocks int
	total                 int64
	first                 int64
}

func readDBPHeader(b []byte) (h dbpHeader, rest []byte, err error) {
	var v [3]uint64
	for k := range v {
		x, n := binary.Uvarint(b)
		if n <= 0 {
			return h, nil, fmt.Errorf("bad DELTA_BINARY_PACKED header")
		}
		v[k], b = x, b[n:]
	}
	first, n := binary.Varint(b)
	if n <= 0 {
		return h, nil, fmt.Errorf("bad DELTA_BINARY_PACKED header")
	}
	b = b[n:]
	if v[0] == 0 || v[0]%128 != 0 || v[0] > 1<<20 || v[1] == 0 || v[0]%v[1] != 0 || (v[0]/v[1])%32 != 0 || v[2] > 1<<40 {
		return h, nil, fmt.Errorf("bad DELTA_BINARY_PACKED header (block %d, miniblocks %d, values %d)", v[0], v[1], v[2])
	}
	return dbpHeader{blockSize: int(v[0]), miniBlocks: int(v[1]), total: int64(v[2]), first: first}, b, nil
}

// decodeDBP decodes a DELTA_BINARY_PACKED stream of at most max values
// into out; it returns the values and the bytes after the stream.
func decodeDBP(b []byte, max int64, out []int64) ([]int64, []byte, error) {
	h, b, err := readDBPHeader(b)
	if err != nil {
		return out, nil, err
	}
	if h.total > max {
		return out, nil, fmt.Errorf("DELTA_BINARY_PACKED data with %d values in a page of %d", h.total, max)
	}
	out = out[:0]
	if h.total == 0 {
		return out, b, nil
	}
	out = append(out, h.first)
	prev := h.first
	left := h.total - 1
	perMini := h.blockSize / h.miniBlocks
	for left > 0 {
		minDelta, n := binary.Varint(b)
		if n <= 0 {
			return out, nil, errTruncated
		}
		b = b[n:]
		if len(b) < h.miniBlocks {
			return out, nil, errTruncated
		}
		widths := b[:h.miniBlocks]
		b = b[h.miniBlocks:]
		for _, w := range widths {
			if left == 0 {
				break // the unneeded miniblocks have a width but no body
			}
			if w > 64 {
				return out, nil, fmt.Errorf("DELTA_BINARY_PACKED miniblock of width %d", w)
			}
			size := perMini * int(w) / 8
			if size > len(b) {
				return out, nil, errTruncated
			}
			body := b[:size]
			b = b[size:]
			k := min(int64(perMini), left)
			for j := range int(k) {
				var d uint64
				if w > 0 {
					d = unpack(body, j*int(w), int(w))
				}
				prev += minDelta + int64(d)
				out = append(out, prev)
			}
			left -= k
		}
	}
	return out, b, nil
}

// unpack reads w bits (LSB first) at bit offset off.
func unpack(b []byte, off, w int) uint64 {
	var v uint64
	for got := 0; got < w; {
		byteIdx, bit := (off+got)/8, (off+got)%8
		take := min(8-bit, w-got)
		v |= uint64(b[byteIdx]>>bit&(1<<take-1)) << got
		got += take
	}
	return v
}

// needsDecoding reports whether checking a page needs its data
// decompressed: the codecs parquet-go does not bound (LZ4_RAW loops on
// corrupt data, gzip and brotli decompress whatever the data holds), and the
// streams inside compressed data parquet-go sizes buffers from (v1 levels,
// dictionary indexes, RLE booleans, DELTA encodings). Other pages (PLAIN
// values of a required column, v2 levels, dictionaries) are checked on
// their raw bytes, without decompressing them twice.
func (g *Guard) needsDecoding(h *format.PageHeader) bool {
	switch g.codec {
	case format.Uncompressed:
		return false
	case format.Lz4Raw, format.Gzip, format.Brotli:
		return true
	}
	var enc format.Encoding
	switch h.Type {
	case format.DataPage:
		if g.col.MaxDef > 0 || g.col.MaxRep > 0 {
			return true
		}
		enc = h.DataPageHeader.V.Encoding
	case format.DataPageV2:
		if v := h.DataPageHeaderV2.V.IsCompressed; v.Valid && !v.V {
			return false
		}
		enc = h.DataPageHeaderV2.V.Encoding
	default:
		return false
	}
	switch enc {
	case format.Plain, format.ByteStreamSplit, format.BitPacked:
		return false
	}
	return true
}

// checkPage checks a page whose header is h and body is body (the whole
// page, levels included for v2), read from a column chunk of codec.
func (g *Guard) checkPage(h *format.PageHeader, body []byte) error {
	l := g.col
	var values int64
	var levels []byte // v2: the uncompressed levels
	data := body
	compressed := g.codec != format.Uncompressed
	var enc format.Encoding
	size := int(h.UncompressedPageSize)
	switch h.Type {
	case format.DataPage:
		values = int64(h.DataPageHeader.V.NumValues)
		enc = h.DataPageHeader.V.Encoding
	case format.DataPageV2:
		v := &h.DataPageHeaderV2.V
		values = int64(v.NumValues)
		enc = v.Encoding
		n := int(v.RepetitionLevelsByteLength + v.DefinitionLevelsByteLength)
		levels, data = body[:n], body[n:]
		size -= n
		if v.IsCompressed.Valid && !v.IsCompressed.V {
			compressed = false
		}
	case format.DictionaryPage:
		enc = format.Plain
	default:
		return nil
	}
	deep := compressed && g.needsDecoding(h)
	switch {
	case deep && g.codec == format.Snappy && h.Type == format.DataPage && !valuesChecked(enc, l.Kind):
		// Only the level streams at the start are checked: decode them,
		// not the values after them (see snappyPrefix). Data the prefix
		// decoder does not take (S2's extensions, which parquet-go's
		// decoder accepts in Snappy pages) is decompressed whole.
		out, err := g.snappyLevels(data, size)
		if errors.Is(err, errSnappyCorrupt) {
			if out, err = decompress(g.codec, data, size, g.scratch); err == nil {
				g.scratch = out[:0]
			}
		}
		if err != nil {
			return fmt.Errorf("%w: page data (%s): %v", shared.ErrCorrupt, CodecName(g.codec), err)
		}
		data = out
	case deep:
		out, err := decompress(g.codec, data, size, g.scratch)
		if err != nil {
			return fmt.Errorf("%w: page data (%s): %v", shared.ErrCorrupt, CodecName(g.codec), err)
		}
		g.scratch = out[:0]
		data = out
	case compressed:
		// parquet-go decompresses into a buffer of the header's size; snappy
		// and zstd may allocate what their own header announces.
		if err := checkAnnounced(g.codec, data, size); err != nil {
			return fmt.Errorf("%w: page data (%s): %v", shared.ErrCorrupt, CodecName(g.codec), err)
		}
	}
	if h.Type == format.DictionaryPage {
		return nil // PLAIN values, bounded by the data
	}
	repWidth, defWidth := bits.Len8(l.MaxRep), bits.Len8(l.MaxDef)
	if compressed && !deep {
		data = nil // PLAIN values: bounded by the header's sizes
	}
	if h.Type == format.DataPageV2 {
		v := &h.DataPageHeaderV2.V
		if l.MaxRep > 0 {
			if err := checkRLE(levels[:v.RepetitionLevelsByteLength], repWidth, values); err != nil {
				return fmt.Errorf("%w: repetition levels: %v", shared.ErrCorrupt, err)
			}
		}
		if l.MaxDef > 0 {
			if err := checkRLE(levels[v.RepetitionLevelsByteLength:], defWidth, values); err != nil {
				return fmt.Errorf("%w: definition levels: %v", shared.ErrCorrupt, err)
			}
		}
	} else if data != nil {
		dh := &h.DataPageHeader.V
		for _, lv := range []struct {
			max   byte
			width int
			enc   format.Encoding
			what  string
		}{{l.MaxRep, repWidth, dh.RepetitionLevelEncoding, "repetition"}, {l.MaxDef, defWidth, dh.DefinitionLevelEncoding, "definition"}} {
			if lv.max == 0 {
				continue
			}
			if len(data) < 4 {
				return fmt.Errorf("%w: %s levels: %v", shared.ErrCorrupt, lv.what, errTruncated)
			}
			n := int64(binary.LittleEndian.Uint32(data))
			if n > int64(len(data)-4) {
				return fmt.Errorf("%w: %s levels of %d bytes past the page", shared.ErrCorrupt, lv.what, n)
			}
			if lv.enc == format.RLE {
				if err := checkRLE(data[4:4+n], lv.width, values); err != nil {
					return fmt.Errorf("%w: %s levels: %v", shared.ErrCorrupt, lv.what, err)
				}
			}
			data = data[4+n:]
		}
	}
	if data == nil {
		return nil
	}
	if err := g.checkValues(enc, data, values); err != nil {
		if errors.Is(err, shared.ErrTooLarge) {
			return err
		}
		return fmt.Errorf("%w: %s values: %v", shared.ErrCorrupt, encodingName(enc), err)
	}
	return nil
}

// valuesChecked reports whether checkValues looks at the values of a page
// of encoding enc in a column of physical type kind.
func valuesChecked(enc format.Encoding, kind format.Type) bool {
	switch enc {
	case format.RLEDictionary, format.PlainDictionary,
		format.DeltaBinaryPacked, format.DeltaLengthByteArray, format.DeltaByteArray:
		return true
	case format.RLE:
		return kind == format.Boolean
	}
	return false
}

// snappyLevels decodes the start of the Snappy data of a v1 data page: its
// repetition and definition level streams (each a 4-byte length and that
// many bytes), as far as the column has them, and returns them. If the
// data ends before a stream does, it returns what there is, and the level
// checks report the stream running past the page.
func (g *Guard) snappyLevels(data []byte, size int) ([]byte, error) {
	sp := &g.snappy
	if cap(g.scratch) < size+1 {
		g.scratch = make([]byte, 0, size+1) // as decompress sizes it
	}
	if err := sp.reset(data, size, g.scratch); err != nil {
		return nil, err
	}
	want := 0
	for _, max := range []byte{g.col.MaxRep, g.col.MaxDef} {
		if max == 0 {
			continue
		}
		out, err := sp.fill(want + 4)
		if err != nil {
			return nil, err
		}
		if len(out) < want+4 {
			return out, nil
		}
		n := int64(binary.LittleEndian.Uint32(out[want:]))
		if n > int64(size-want-4) {
			return out, nil // reported by the level checks
		}
		want += 4 + int(n)
		if out, err = sp.fill(want); err != nil {
			return nil, err
		}
	}
	sp.src = nil // the page's bytes are not ours to keep
	return sp.out[:min(want, len(sp.out))], nil
}

// checkValues checks the encoded values of a data page.
func (g *Guard) checkValues(enc format.Encoding, data []byte, values int64) error {
	switch enc {
	case format.RLEDictionary, format.PlainDictionary:
		if len(data) == 0 {
			return nil
		}
		if data[0] > 32 {
			return fmt.Errorf("index bit width %d", data[0])
		}
		return checkRLE(data[1:], int(data[0]), values)
	case format.RLE:
		if g.col.Kind != format.Boolean || len(data) <= 4 {
			return nil
		}
		n := int64(binary.LittleEndian.Uint32(data))
		if n > int64(len(data)-4) {
			return fmt.Errorf("%d bytes past the page", n)
		}
		return checkRLE(data[4:4+n], 1, values)
	case format.DeltaBinaryPacked:
		h, _, err := readDBPHeader(data)
		if err != nil {
			return err
		}
		if h.total > values {
			return fmt.Errorf("%d values in a page of %d", h.total, values)
		}
	case format.DeltaLengthByteArray:
		lengths, _, err := decodeDBP(data, values, g.ints[:0])
		g.ints = lengths[:0]
		if err != nil {
			return err
		}
		var sum int64
		for _, n := range lengths {
			if n < 0 || n > int64(len(data)) {
				return fmt.Errorf("a value of %d bytes", n)
			}
			sum += n
		}
		if sum > int64(len(data)) {
			return fmt.Errorf("values of %d bytes in %d", sum, len(data))
		}
	case format.DeltaByteArray:
		prefixes, rest, err := decodeDBP(data, values, g.ints[:0])
		g.ints = prefixes[:0]
		if err != nil {
			return err
		}
		suffixes, _, err := decodeDBP(rest, values, g.ints2[:0])
		g.ints2 = suffixes[:0]
		if err != nil {
			return err
		}
		if len(prefixes) != len(suffixes) {
			return fmt.Errorf("%d prefixes for %d suffixes", len(prefixes), len(suffixes))
		}
		var prev, total, suffix int64
		for k, p := range prefixes {
			s := suffixes[k]
			if p < 0 || s < 0 || p > prev || s > int64(len(data)) {
				return fmt.Errorf("value %d: prefix %d (previous value %d bytes), suffix %d", k, p, prev, s)
			}
			suffix += s
			prev = p + s
			total += prev
			if total > MaxPageBytes {
				return fmt.Errorf("%w: values of more than %d bytes in one page", shared.ErrTooLarge, MaxPageBytes)
			}
		}
		if suffix > int64(len(data)) {
			return fmt.Errorf("suffixes of %d bytes in %d", suffix, len(data))
		}
	}
	return nil
}

func encodingName(e format.Encoding) string {
	switch e {
	case format.Plain:
		return "PLAIN"
	case format.PlainDictionary:
		return "PLAIN_DICTIONARY"
	case format.RLE:
		return "RLE"
	case format.BitPacked:
		return "BIT_PACKED"
	case format.DeltaBinaryPacked:
		return "DELTA_BINARY_PACKED"
	case format.DeltaLengthByteArray:
		return "DELTA_LENGTH_BYTE_ARRAY"
	case format.DeltaByteArray:
		return "DELTA_BYTE_ARRAY"
	case format.RLEDictionary:
		return "RLE_DICTIONARY"
	case format.ByteStreamSplit:
		return "BYTE_STREAM_SPLIT"
	}
	return fmt.Sprintf("encoding %d", e)
}
