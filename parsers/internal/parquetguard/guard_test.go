package parquetguard

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/snappy"
	"github.com/klauspost/compress/zstd"
	"github.com/parquet-go/parquet-go/encoding/thrift"
	"github.com/parquet-go/parquet-go/format"
	"github.com/pierrec/lz4/v4"

	"github.com/s3ingest/s3ingest/parsers/internal/shared"
)

func TestZstdContentSize(t *testing.T) {
	enc, err := zstd.NewWriter(nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{0, 1, 255, 256, 300, 70000, 1 << 20} {
		frame := enc.EncodeAll(make([]byte, n), nil)
		got, ok := zstdContentSize(frame)
		if ok && got != uint64(n) || !ok && n >= 256 { // small frames may omit the size
			t.Errorf("%d bytes: %d %v", n, got, ok)
		}
	}
	if _, ok := zstdContentSize([]byte("not zstd")); ok {
		t.Error("not a zstd frame")
	}
}

// page encodes a page header followed by body.
func page(t *testing.T, h format.PageHeader, body []byte) []byte {
	t.Helper()
	h.CompressedPageSize = int32(len(body))
	b, err := thrift.Marshal(new(thrift.CompactProtocol), &h)
	if err != nil {
		t.Fatal(err)
	}
	return append(b, body...)
}

func v1(values int32, uncompressed int, enc format.Encoding) format.PageHeader {
	return format.PageHeader{Type: format.DataPage, UncompressedPageSize: int32(uncompressed),
		DataPageHeader: thrift.New(format.DataPageHeader{NumValues: values, Encoding: enc})}
}

// TestGuard feeds column chunks through the page guard in small reads
// (headers split across reads) and checks where it stops.
func TestGuard(t *testing.T) {
	col := Column{Kind: format.Int32}
	plain := make([]byte, 40)
	good := page(t, v1(10, 40, format.Plain), plain)
	snappyBody := snappy.Encode(nil, plain)
	lz4Body := make([]byte, lz4.CompressBlockBound(len(plain)))
	n, err := lz4.CompressBlock(plain, lz4Body, nil)
	if err != nil || n == 0 {
		t.Fatal(n, err)
	}
	lz4Body = lz4Body[:n]
	v2 := func(values, nulls int32, levels int32, uncompressed int) format.PageHeader {
		return format.PageHeader{Type: format.DataPageV2, UncompressedPageSize: int32(uncompressed),
			DataPageHeaderV2: thrift.New(format.DataPageHeaderV2{NumValues: values, NumNulls: nulls, NumRows: values, DefinitionLevelsByteLength: levels})}
	}
	cases := []struct {
		name  string
		codec format.CompressionCodec
		pages [][]byte
		bad   int // index of the first bad page, -1 for none
		want  error
		msg   string
	}{
		{"good", format.Uncompressed, [][]byte{good, good, good}, -1, nil, ""},
		{"too large", format.Uncompressed, [][]byte{good, page(t, v1(10, 1<<30, format.Plain), plain)}, 1, shared.ErrTooLarge, "a page of 1073741824 bytes"},
		{"too many values", format.Uncompressed, [][]byte{page(t, v1(1<<30, 40, format.RLE), plain)}, 0, shared.ErrTooLarge, "values"},
		{"plain too short", format.Uncompressed, [][]byte{good, page(t, v1(11, 40, format.Plain), plain)}, 1, shared.ErrCorrupt, "cannot hold 11 PLAIN values"},
		{"snappy ok", format.Snappy, [][]byte{page(t, v1(10, 40, format.Plain), snappyBody)}, -1, nil, ""},
		{"snappy bomb", format.Snappy, [][]byte{page(t, v1(10, 40, format.Plain), append([]byte{0xff, 0xff, 0xff, 0xff, 0x0f}, snappyBody[1:]...))}, 0, shared.ErrCorrupt, "snappy data announces"},
		{"lz4 ok", format.Lz4Raw, [][]byte{page(t, v1(10, 40, format.Plain), lz4Body)}, -1, nil, ""},
		{"lz4 corrupt", format.Lz4Raw, [][]byte{good[:0], page(t, v1(10, 40, format.Plain), append([]byte{0xf0}, lz4Body[1:]...))}, 1, shared.ErrCorrupt, "page data (lz4_raw)"},
		{"v2 empty data", format.Snappy, [][]byte{page(t, v2(1, 1, 2, 2), []byte{2, 0})}, 0, shared.ErrUnsupported, "unsupported: a v2 data page with no data bytes"},
		{"v2 levels too long", format.Uncompressed, [][]byte{page(t, v2(1, 0, 99, 10), make([]byte, 10))}, 0, shared.ErrCorrupt, "levels"},
		{"past the chunk", format.Uncompressed, [][]byte{good, good[:len(good)-1]}, 1, shared.ErrCorrupt, "runs past the end"},
		{"garbage header", format.Uncompressed, [][]byte{good, bytes.Repeat([]byte{0xff}, 30)}, 1, shared.ErrCorrupt, "page header"},
	}
	for _, tc := range cases {
		for _, window := range []int{1, 3, 7, 64, 1 << 20} {
			var chunk []byte
			starts := []int{}
			for _, p := range tc.pages {
				starts = append(starts, 4+len(chunk))
				chunk = append(chunk, p...)
			}
			file := append(append([]byte("PAR1"), chunk...), "tail"...)
			cc := &format.ColumnChunk{MetaData: format.ColumnMetaData{DataPageOffset: 4, TotalCompressedSize: int64(len(chunk)), Codec: tc.codec}}
			g := New(bytes.NewReader(file), col, cc)
			var read int
			var err error
			buf := make([]byte, window)
			for off := int64(4); off < int64(4+len(chunk)); {
				p := buf[:min(window, 4+len(chunk)-int(off))]
				var k int
				k, err = g.ReadAt(p, off)
				read += k
				off += int64(k)
				if err != nil {
					break
				}
			}
			if tc.bad < 0 {
				if err != nil || read != len(chunk) {
					t.Fatalf("%s (window %d): %v after %d of %d bytes", tc.name, window, err, read, len(chunk))
				}
				continue
			}
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("%s (window %d): %v, want %v containing %q", tc.name, window, err, tc.want, tc.msg)
			}
			// the bytes before the bad page are delivered
			if read != starts[tc.bad]-4 && !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Fatalf("%s (window %d): %d bytes delivered, the bad page starts at %d", tc.name, window, read, starts[tc.bad]-4)
			}
		}
	}
}

// TestPageCheck checks the page contents parquet-go would size its
// buffers from.
func TestPageCheck(t *testing.T) {
	uv := func(b []byte, v uint64) []byte { return binary.AppendUvarint(b, v) }
	le32 := func(b []byte) []byte { return binary.LittleEndian.AppendUint32(nil, uint32(len(b))) }
	rle := func(runs ...[2]uint64) []byte { // {count, bitpacked?}
		var b []byte
		for _, r := range runs {
			if r[1] == 1 {
				b = uv(b, r[0]<<1|1)
				b = append(b, make([]byte, r[0])...) // bit width 1: a byte per group of 8
			} else {
				b = uv(b, r[0]<<1)
				b = append(b, 1)
			}
		}
		return b
	}
	dbp := func(total uint64, first int64, deltas ...byte) []byte {
		b := uv(uv(uv(nil, 128), 4), total)
		b = binary.AppendVarint(b, first)
		if total > 1 {
			b = binary.AppendVarint(b, 0) // min delta
			b = append(b, 8, 0, 0, 0)     // widths: 8 bits for the first miniblock
			body := make([]byte, 32)      // 32 values of 8 bits
			copy(body, deltas)
			b = append(b, body...)
		}
		return b
	}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(make([]byte, 1<<20))
	zw.Close()
	optional := Column{Kind: format.Int32, MaxDef: 1}
	rleLevels := func(h format.PageHeader) format.PageHeader {
		h.DataPageHeader.V.DefinitionLevelEncoding = format.RLE
		return h
	}
	byteArray := Column{Kind: format.ByteArray}
	nested := Column{Kind: format.Int32, MaxDef: 1, MaxRep: 1}
	type pageCase struct {
		name  string
		col   Column
		codec format.CompressionCodec
		h     format.PageHeader
		body  []byte
		want  error
		msg   string
	}
	cases := []pageCase{
		{"levels ok", optional, format.Uncompressed, rleLevels(v1(10, 0, format.Plain)), append(append(le32(rle([2]uint64{10, 0})), rle([2]uint64{10, 0})...), make([]byte, 40)...), nil, ""},
		{"levels run too long", optional, format.Uncompressed, rleLevels(v1(10, 0, format.Plain)), append(le32(rle([2]uint64{1 << 31, 0})), rle([2]uint64{1 << 31, 0})...), shared.ErrCorrupt, "definition levels: RLE data with more than the page's 10 values"},
		{"levels bit-packed past the data", optional, format.Uncompressed, rleLevels(v1(10, 0, format.Plain)), append(le32([]byte{0xff, 0x01}), 0xff, 0x01), shared.ErrCorrupt, "definition levels: an RLE bit-packed run"},
		{"dictionary indexes", Column{Kind: format.Int32}, format.Uncompressed, v1(10, 0, format.RLEDictionary), append([]byte{3}, rle([2]uint64{1 << 40, 0})...), shared.ErrCorrupt, "RLE_DICTIONARY values: RLE data with more than"},
		{"dictionary bit width 0", Column{Kind: format.Int32}, format.Uncompressed, v1(16, 0, format.RLEDictionary), []byte{0, 0x05}, nil, ""},
		{"delta count", Column{Kind: format.Int64}, format.Uncompressed, v1(10, 0, format.DeltaBinaryPacked), dbp(1<<34, 0), shared.ErrCorrupt, "DELTA_BINARY_PACKED values: 17179869184 values in a page of 10"},
		{"delta lengths ok", byteArray, format.Uncompressed, v1(3, 0, format.DeltaLengthByteArray), append(dbp(3, 2, 1, 1), "aabbbcccc"...), nil, ""},
		{"delta lengths past the data", byteArray, format.Uncompressed, v1(3, 0, format.DeltaLengthByteArray), append(dbp(3, 2, 100, 100), "aabbbcccc"...), shared.ErrCorrupt, "DELTA_LENGTH_BYTE_ARRAY values"},
		{"delta prefixes ok", byteArray, format.Uncompressed, v1(2, 0, format.DeltaByteArray), append(append(dbp(2, 0, 2), dbp(2, 2, 0)...), "abcd"...), nil, ""},
		{"delta prefix longer than the value before", byteArray, format.Uncompressed, v1(2, 0, format.DeltaByteArray), append(append(dbp(2, 0, 200), dbp(2, 2, 0)...), "abcd"...), shared.ErrCorrupt, "prefix 200"},
		{"repetition and definition levels ok", nested, format.Uncompressed, rleLevels(v1(10, 0, format.Plain)), append(append(append(le32(rle([2]uint64{10, 0})), rle([2]uint64{10, 0})...), append(le32(rle([2]uint64{10, 0})), rle([2]uint64{10, 0})...)...), make([]byte, 40)...), nil, ""},
		{"definition levels after repetition levels run too long", nested, format.Uncompressed, rleLevels(v1(10, 0, format.Plain)), append(append(le32(rle([2]uint64{10, 0})), rle([2]uint64{10, 0})...), append(le32(rle([2]uint64{1 << 31, 0})), rle([2]uint64{1 << 31, 0})...)...), shared.ErrCorrupt, "definition levels: RLE data with more than the page's 10 values"},
		{"levels longer than the page", optional, format.Uncompressed, rleLevels(v1(10, 0, format.Plain)), append(binary.LittleEndian.AppendUint32(nil, 1000), rle([2]uint64{10, 0})...), shared.ErrCorrupt, "definition levels of 1000 bytes past the page"},
		{"levels truncated", optional, format.Uncompressed, rleLevels(v1(10, 0, format.Plain)), []byte{2, 0}, shared.ErrCorrupt, "definition levels: truncated"},
		{"gzip bomb", Column{Kind: format.Int32}, format.Gzip, v1(10, 40, format.Plain), gz.Bytes(), shared.ErrCorrupt, "decompresses to more than the page header's 40 bytes"},
		{"gzip garbage", Column{Kind: format.Int32}, format.Gzip, v1(10, 40, format.Plain), []byte("not gzip"), shared.ErrCorrupt, "page data (gzip)"},
	}
	// Every uncompressed case again in Snappy: the guard decodes only the
	// level streams of PLAIN pages (snappyLevels), all of the others.
	for _, tc := range slices.Clone(cases) {
		if tc.codec != format.Uncompressed {
			continue
		}
		tc.name += " (snappy)"
		tc.codec = format.Snappy
		if tc.h.UncompressedPageSize == 0 {
			tc.h.UncompressedPageSize = int32(len(tc.body))
		}
		tc.body = snappy.Encode(nil, tc.body)
		cases = append(cases, tc)
	}
	snappyLevels := append(le32(rle([2]uint64{10, 0})), rle([2]uint64{10, 0})...)
	// S2 blocks (repeat codes the Snappy prefix decoder does not take),
	// which parquet-go's Snappy decoder (klauspost's, S2's) accepts.
	// Long, repetitive levels: bit-packed runs of a repeating pattern, so
	// that the encoders use repeat codes inside the level stream itself.
	bitPacked := func(runs int) []byte {
		var b []byte
		for range runs {
			b = uv(b, 16<<1|1) // 16 groups of 8 values, bit width 1
			b = append(b, bytes.Repeat([]byte{0xf0, 0x0f, 0x33, 0x5a}, 4)...)
		}
		return b
	}
	values := bytes.Repeat([]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13}, 400)
	s2Levels := bitPacked(64) // 64 × 128 values
	s2Page := append(append(le32(s2Levels), s2Levels...), values...)
	s2Levels = append(bitPacked(64), rle([2]uint64{1 << 31, 0})...)
	s2Bad := append(append(le32(s2Levels), s2Levels...), values...)
	for name, enc := range map[string]func([]byte) []byte{
		"s2":        func(b []byte) []byte { return s2.Encode(nil, b) },
		"s2 better": func(b []byte) []byte { return s2.EncodeBetter(nil, b) },
		"s2 best":   func(b []byte) []byte { return s2.EncodeBest(nil, b) },
	} {
		cases = append(cases,
			pageCase{name + " block, levels ok", optional, format.Snappy, rleLevels(v1(64*128, len(s2Page), format.Plain)), enc(s2Page), nil, ""},
			pageCase{name + " block, levels run too long", optional, format.Snappy, rleLevels(v1(64*128, len(s2Bad), format.Plain)), enc(s2Bad), shared.ErrCorrupt, "definition levels: RLE data with more than the page's 8192 values"})
	}
	cases = append(cases,
		pageCase{"snappy levels, then corrupt values", optional, format.Snappy, rleLevels(v1(10, len(snappyLevels)+40, format.Plain)),
			append(binary.AppendUvarint(nil, uint64(len(snappyLevels)+40)), append([]byte{byte(len(snappyLevels)-1) << 2}, append(snappyLevels, 0xff)...)...), nil, ""},
		pageCase{"snappy levels corrupt", optional, format.Snappy, rleLevels(v1(10, 100, format.Plain)), []byte{100, 2 | 3<<2, 1, 0}, shared.ErrCorrupt, "page data (snappy)"},
		pageCase{"snappy announcing more than the header", optional, format.Snappy, rleLevels(v1(10, 100, format.Plain)), snappy.Encode(nil, make([]byte, 200)), shared.ErrCorrupt, "snappy data announces 200 bytes, the page header 100"},
	)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := tc.h
			h.CompressedPageSize = int32(len(tc.body))
			if h.UncompressedPageSize == 0 {
				h.UncompressedPageSize = int32(len(tc.body))
			}
			g := &Guard{col: tc.col, codec: tc.codec}
			err := g.checkPage(&h, tc.body)
			if tc.want == nil {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("%v, want %v containing %q", err, tc.want, tc.msg)
			}
		})
	}
}
