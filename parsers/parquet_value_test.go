package parsers

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"math"
	"strings"
	"testing"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/snappy"
	"github.com/klauspost/compress/zstd"
	"github.com/parquet-go/parquet-go/deprecated"
	"github.com/parquet-go/parquet-go/encoding/thrift"
	"github.com/parquet-go/parquet-go/format"
	"github.com/pierrec/lz4/v4"
)

func TestPQDecimalText(t *testing.T) {
	for _, tc := range []struct {
		v     int64
		scale int
		want  string
	}{
		{0, 0, "0"}, {0, 2, "0.00"}, {5, 2, "0.05"}, {-5, 2, "-0.05"}, {12345, 2, "123.45"}, {-12345, 5, "-0.12345"},
		{-12345, 7, "-0.0012345"}, {math.MaxInt64, 0, "9223372036854775807"}, {math.MinInt64, 3, "-9223372036854775.808"},
	} {
		if got := string(pqAppendDecimal(nil, tc.v, tc.scale)); got != tc.want {
			t.Errorf("%d scale %d: %s, want %s", tc.v, tc.scale, got, tc.want)
		}
	}
	for _, tc := range []struct {
		b     []byte
		scale int
		want  string
		ok    bool
	}{
		{[]byte{0x01, 0x00}, 1, "25.6", true},
		{[]byte{0xff}, 0, "-1", true},
		{[]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe}, 2, "-0.02", true},
		{[]byte{0x00, 0x80, 0, 0, 0, 0, 0, 0, 0}, 0, "9223372036854775808", true},
		{[]byte{0xff, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, 0, "-9223372036854775809", true},
		{nil, 2, "", false},
	} {
		got, ok := pqAppendDecimalBE(nil, tc.b, tc.scale)
		if string(got) != tc.want || ok != tc.ok {
			t.Errorf("%x scale %d: %s %v, want %s %v", tc.b, tc.scale, got, ok, tc.want, tc.ok)
		}
	}
}

func TestPQFloat16(t *testing.T) {
	for _, tc := range []struct {
		bits uint16
		want float64
	}{
		{0x3c00, 1}, {0xc000, -2}, {0x0000, 0}, {0x7bff, 65504}, {0x0001, 5.960464477539063e-08}, {0x03ff, 6.097555160522461e-05},
		{0x3555, 0.333251953125}, {0x7c00, math.Inf(1)}, {0xfc00, math.Inf(-1)},
	} {
		b := []byte{byte(tc.bits), byte(tc.bits >> 8)}
		if got := pqFloat16(b); got != tc.want {
			t.Errorf("%04x: %v, want %v", tc.bits, got, tc.want)
		}
	}
	if !math.IsNaN(pqFloat16([]byte{0x01, 0x7e})) || !math.Signbit(pqFloat16([]byte{0x00, 0x80})) {
		t.Error("NaN or -0")
	}
}

func TestPQTextHelpers(t *testing.T) {
	check := func(what, got, want string) {
		t.Helper()
		if got != want {
			t.Errorf("%s: %q, want %q", what, got, want)
		}
	}
	var u [16]byte
	for i := range u {
		u[i] = byte(0xf0 + i)
	}
	check("uuid", string(pqAppendUUID(nil, u[:])), "f0f1f2f3-f4f5-f6f7-f8f9-fafbfcfdfeff")
	iv := make([]byte, 12)
	binary.LittleEndian.PutUint32(iv, 14)
	binary.LittleEndian.PutUint32(iv[4:], 3)
	binary.LittleEndian.PutUint32(iv[8:], 3004)
	check("interval", string(pqAppendInterval(nil, iv)), "P14M3DT3.004S")
	for _, tc := range []struct {
		v, per int64
		want   string
		ok     bool
	}{
		{0, 1000, "00:00:00.000000", true}, {86399999, 1000, "23:59:59.999000", true}, {86400000, 1000, "", false}, {-1, 1000, "", false},
		{45296789012, 1e6, "12:34:56.789012", true}, {45296789012345, 1e9, "12:34:56.789012345", true},
	} {
		got, ok := pqAppendTime(nil, tc.v, tc.per)
		if string(got) != tc.want || ok != tc.ok {
			t.Errorf("time %d/%d: %q %v", tc.v, tc.per, got, ok)
		}
	}
	check("json string", string(pqAppendJSONString(nil, []byte("a\"b\\c\n\t\x01é"))), `"a\"b\\c\n\t\u0001é"`)
	for s, want := range map[string]bool{"abc": true, "tab\tnl\ncr\r": true, "héllo": true, "\x00": false, "a\x7f": false,
		"\xff": false, "é\x01": false, "": true} {
		if pqIsText([]byte(s)) != want {
			t.Errorf("pqIsText(%q) = %v", s, !want)
		}
	}
	// INT96: nanoseconds of the day, then the Julian day
	check("int96", pqInt96Time(deprecated.Int96{1001, 0, 2460311}).Format("2006-01-02T15:04:05.999999999Z07:00"), "2024-01-01T00:00:00.000001001Z")
	if got := pqNanosToMicros(-1001); got != -2 {
		t.Errorf("nanos to micros: %d", got)
	}
	if _, ok := pqMillisToMicros(math.MaxInt64 / 10); ok {
		t.Error("millis overflow not detected")
	}
}

func TestPQZstdContentSize(t *testing.T) {
	enc, err := zstd.NewWriter(nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{0, 1, 255, 256, 300, 70000, 1 << 20} {
		frame := enc.EncodeAll(make([]byte, n), nil)
		got, ok := pqZstdContentSize(frame)
		if ok && got != uint64(n) || !ok && n >= 256 { // small frames may omit the size
			t.Errorf("%d bytes: %d %v", n, got, ok)
		}
	}
	if _, ok := pqZstdContentSize([]byte("not zstd")); ok {
		t.Error("not a zstd frame")
	}
}

// pqPage encodes a page header followed by body.
func pqPage(t *testing.T, h format.PageHeader, body []byte) []byte {
	t.Helper()
	h.CompressedPageSize = int32(len(body))
	b, err := thrift.Marshal(new(thrift.CompactProtocol), &h)
	if err != nil {
		t.Fatal(err)
	}
	return append(b, body...)
}

func pqV1(values int32, uncompressed int, enc format.Encoding) format.PageHeader {
	return format.PageHeader{Type: format.DataPage, UncompressedPageSize: int32(uncompressed),
		DataPageHeader: thrift.New(format.DataPageHeader{NumValues: values, Encoding: enc})}
}

// TestPQGuard feeds column chunks through the page guard in small reads
// (headers split across reads) and checks where it stops.
func TestPQGuard(t *testing.T) {
	leaf := &pqLeaf{kind: format.Int32}
	plain := make([]byte, 40)
	good := pqPage(t, pqV1(10, 40, format.Plain), plain)
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
		{"too large", format.Uncompressed, [][]byte{good, pqPage(t, pqV1(10, 1<<30, format.Plain), plain)}, 1, ErrTooLarge, "a page of 1073741824 bytes"},
		{"too many values", format.Uncompressed, [][]byte{pqPage(t, pqV1(1<<30, 40, format.RLE), plain)}, 0, ErrTooLarge, "values"},
		{"plain too short", format.Uncompressed, [][]byte{good, pqPage(t, pqV1(11, 40, format.Plain), plain)}, 1, ErrCorrupt, "cannot hold 11 PLAIN values"},
		{"snappy ok", format.Snappy, [][]byte{pqPage(t, pqV1(10, 40, format.Plain), snappyBody)}, -1, nil, ""},
		{"snappy bomb", format.Snappy, [][]byte{pqPage(t, pqV1(10, 40, format.Plain), append([]byte{0xff, 0xff, 0xff, 0xff, 0x0f}, snappyBody[1:]...))}, 0, ErrCorrupt, "snappy data announces"},
		{"lz4 ok", format.Lz4Raw, [][]byte{pqPage(t, pqV1(10, 40, format.Plain), lz4Body)}, -1, nil, ""},
		{"lz4 corrupt", format.Lz4Raw, [][]byte{good[:0], pqPage(t, pqV1(10, 40, format.Plain), append([]byte{0xf0}, lz4Body[1:]...))}, 1, ErrCorrupt, "page data (lz4_raw)"},
		{"v2 empty data", format.Snappy, [][]byte{pqPage(t, v2(1, 1, 2, 2), []byte{2, 0})}, 0, ErrUnsupported, "unsupported: a v2 data page with no data bytes"},
		{"v2 levels too long", format.Uncompressed, [][]byte{pqPage(t, v2(1, 0, 99, 10), make([]byte, 10))}, 0, ErrCorrupt, "levels"},
		{"past the chunk", format.Uncompressed, [][]byte{good, good[:len(good)-1]}, 1, ErrCorrupt, "runs past the end"},
		{"garbage header", format.Uncompressed, [][]byte{good, bytes.Repeat([]byte{0xff}, 30)}, 1, ErrCorrupt, "page header"},
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
			g := newPQGuard(bytes.NewReader(file), leaf, cc)
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

// TestPQPageCheck checks the page contents parquet-go would size its
// buffers from.
func TestPQPageCheck(t *testing.T) {
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
	optional := &pqLeaf{kind: format.Int32, maxDef: 1}
	rleLevels := func(h format.PageHeader) format.PageHeader {
		h.DataPageHeader.V.DefinitionLevelEncoding = format.RLE
		return h
	}
	byteArray := &pqLeaf{kind: format.ByteArray}
	cases := []struct {
		name  string
		leaf  *pqLeaf
		codec format.CompressionCodec
		h     format.PageHeader
		body  []byte
		want  error
		msg   string
	}{
		{"levels ok", optional, format.Uncompressed, rleLevels(pqV1(10, 0, format.Plain)), append(append(le32(rle([2]uint64{10, 0})), rle([2]uint64{10, 0})...), make([]byte, 40)...), nil, ""},
		{"levels run too long", optional, format.Uncompressed, rleLevels(pqV1(10, 0, format.Plain)), append(le32(rle([2]uint64{1 << 31, 0})), rle([2]uint64{1 << 31, 0})...), ErrCorrupt, "definition levels: RLE data with more than the page's 10 values"},
		{"levels bit-packed past the data", optional, format.Uncompressed, rleLevels(pqV1(10, 0, format.Plain)), append(le32([]byte{0xff, 0x01}), 0xff, 0x01), ErrCorrupt, "definition levels: an RLE bit-packed run"},
		{"dictionary indexes", &pqLeaf{kind: format.Int32}, format.Uncompressed, pqV1(10, 0, format.RLEDictionary), append([]byte{3}, rle([2]uint64{1 << 40, 0})...), ErrCorrupt, "RLE_DICTIONARY values: RLE data with more than"},
		{"dictionary bit width 0", &pqLeaf{kind: format.Int32}, format.Uncompressed, pqV1(16, 0, format.RLEDictionary), []byte{0, 0x05}, nil, ""},
		{"delta count", &pqLeaf{kind: format.Int64}, format.Uncompressed, pqV1(10, 0, format.DeltaBinaryPacked), dbp(1<<34, 0), ErrCorrupt, "DELTA_BINARY_PACKED values: 17179869184 values in a page of 10"},
		{"delta lengths ok", byteArray, format.Uncompressed, pqV1(3, 0, format.DeltaLengthByteArray), append(dbp(3, 2, 1, 1), "aabbbcccc"...), nil, ""},
		{"delta lengths past the data", byteArray, format.Uncompressed, pqV1(3, 0, format.DeltaLengthByteArray), append(dbp(3, 2, 100, 100), "aabbbcccc"...), ErrCorrupt, "DELTA_LENGTH_BYTE_ARRAY values"},
		{"delta prefixes ok", byteArray, format.Uncompressed, pqV1(2, 0, format.DeltaByteArray), append(append(dbp(2, 0, 2), dbp(2, 2, 0)...), "abcd"...), nil, ""},
		{"delta prefix longer than the value before", byteArray, format.Uncompressed, pqV1(2, 0, format.DeltaByteArray), append(append(dbp(2, 0, 200), dbp(2, 2, 0)...), "abcd"...), ErrCorrupt, "prefix 200"},
		{"gzip bomb", &pqLeaf{kind: format.Int32}, format.Gzip, pqV1(10, 40, format.Plain), gz.Bytes(), ErrCorrupt, "decompresses to more than the page header's 40 bytes"},
		{"gzip garbage", &pqLeaf{kind: format.Int32}, format.Gzip, pqV1(10, 40, format.Plain), []byte("not gzip"), ErrCorrupt, "page data (gzip)"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := tc.h
			h.CompressedPageSize = int32(len(tc.body))
			if h.UncompressedPageSize == 0 {
				h.UncompressedPageSize = int32(len(tc.body))
			}
			g := &pqGuard{leaf: tc.leaf, codec: tc.codec}
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
