package pqwrite

import (
	"bytes"
	"encoding/binary"
	"math"
	"unicode/utf8"

	"github.com/parquet-go/parquet-go/format"
)

// Statistics.
//
// Every page's min and max go into its chunk's column index, and the
// chunk's into its metadata, PLAIN-encoded (byte arrays without their
// length), compared as the column's type orders them (signed integers,
// doubles, booleans false < true, byte arrays unsigned byte by byte: the
// TypeDefinedOrder the footer declares).
//
//   - NaN is in no bound (as the format asks): a page whose values are all
//     NaN has none, and its chunk then gets no column index (a page that
//     is not null must have bounds there); a chunk without a non-NaN
//     value has no min and max. A zero min is written as -0.0, a zero max
//     as +0.0.
//   - Byte arrays: a column index bound is cut to indexBytes (parquet-go's
//     default) at a UTF-8 character boundary; a cut max gets its last
//     character that can be incremented incremented (what follows it
//     dropped), so it stays above every value it stands for and valid
//     UTF-8 (parquet-mr's truncation); a max that cannot be cut so (no such
//     character in its first indexBytes) leaves its chunk without a column
//     index rather than a long bound. The chunk's min and max are left out
//     when either is longer than statsBytes.
//   - Bounds of byte arrays are kept cheaply: each value's first 8 bytes,
//     as a big-endian number, decide against the current min and max, and
//     bytes.Compare runs only when they are equal.
const (
	indexBytes = 16
	statsBytes = 4096
)

// bounds is the min and max of a page or chunk.
type bounds struct {
	has        bool
	i0, i1     int64   // integers, dates, timestamps
	f0, f1     float64 // doubles
	b0, b1     []byte  // byte arrays
	p0, p1     uint64  // prefixes of b0, b1
	sawF, sawT bool    // booleans
}

func (b *bounds) addInts(xs []int64) {
	if len(xs) == 0 {
		return
	}
	lo, hi := xs[0], xs[0]
	if b.has {
		lo, hi = min(lo, b.i0), max(hi, b.i1)
	}
	for _, x := range xs {
		lo = min(lo, x)
		hi = max(hi, x)
	}
	b.i0, b.i1, b.has = lo, hi, true
}

func (b *bounds) addInt(x int64) {
	if !b.has {
		b.i0, b.i1, b.has = x, x, true
		return
	}
	b.i0, b.i1 = min(b.i0, x), max(b.i1, x)
}

func (b *bounds) addFloats(xs []float64) {
	for _, x := range xs {
		b.addFloat(x)
	}
}

func (b *bounds) addFloat(x float64) {
	if x != x { // NaN
		return
	}
	if !b.has {
		b.f0, b.f1, b.has = x, x, true
		return
	}
	if x < b.f0 {
		b.f0 = x
	} else if x > b.f1 {
		b.f1 = x
	}
}

func (b *bounds) addBool(x bool) {
	b.has = true
	if x {
		b.sawT = true
	} else {
		b.sawF = true
	}
}

// prefix8 is the first 8 bytes of x as a big-endian number, zero-padded:
// when two prefixes differ, the values compare as their prefixes do.
func prefix8(x []byte) uint64 {
	if len(x) >= 8 {
		return binary.BigEndian.Uint64(x)
	}
	var p uint64
	for i, c := range x {
		p |= uint64(c) << (56 - 8*i)
	}
	return p
}

func (b *bounds) addBytes(x []byte) {
	p := prefix8(x)
	if !b.has {
		b.b0, b.b1, b.p0, b.p1, b.has = x, x, p, p, true
		return
	}
	if p < b.p0 || (p == b.p0 && bytes.Compare(x, b.b0) < 0) {
		b.b0, b.p0 = x, p
		return // below the min, so not above the max
	}
	if p > b.p1 || (p == b.p1 && bytes.Compare(x, b.b1) > 0) {
		b.b1, b.p1 = x, p
	}
}

// merge widens b (a chunk's) by page bounds o, copying byte arrays.
func (b *bounds) merge(o *bounds) {
	if !o.has {
		return
	}
	if !b.has {
		*b = *o
		b.b0 = append([]byte(nil), o.b0...)
		b.b1 = append([]byte(nil), o.b1...)
		return
	}
	b.i0, b.i1 = min(b.i0, o.i0), max(b.i1, o.i1)
	b.f0, b.f1 = min(b.f0, o.f0), max(b.f1, o.f1)
	b.sawF, b.sawT = b.sawF || o.sawF, b.sawT || o.sawT
	// (an empty string is a bound too, nil or not; other kinds compare
	// nil with nil)
	if bytes.Compare(o.b0, b.b0) < 0 {
		b.b0 = append(b.b0[:0], o.b0...)
	}
	if bytes.Compare(o.b1, b.b1) > 0 {
		b.b1 = append(b.b1[:0], o.b1...)
	}
}

// encode returns the bounds PLAIN-encoded for a column index (byte arrays
// cut to indexBytes; hi nil when a max cannot be cut).
func (b *bounds) encode(kind format.Type) (lo, hi []byte) {
	if kind == format.ByteArray {
		return cutMin(b.b0), cutMax(b.b1)
	}
	return b.plain(kind)
}

// encodeExact returns the bounds PLAIN-encoded for a chunk's statistics;
// nil when byte arrays are too long to keep.
func (b *bounds) encodeExact(kind format.Type) (lo, hi []byte) {
	if kind == format.ByteArray {
		if len(b.b0) > statsBytes || len(b.b1) > statsBytes {
			return nil, nil
		}
		return append([]byte{}, b.b0...), append([]byte{}, b.b1...)
	}
	return b.plain(kind)
}

func (b *bounds) plain(kind format.Type) (lo, hi []byte) {
	switch kind {
	case format.Boolean:
		lo, hi = []byte{1}, []byte{0}
		if b.sawF {
			lo[0] = 0
		}
		if b.sawT {
			hi[0] = 1
		}
	case format.Int32:
		lo = binary.LittleEndian.AppendUint32(nil, uint32(int32(b.i0)))
		hi = binary.LittleEndian.AppendUint32(nil, uint32(int32(b.i1)))
	case format.Int64:
		lo = binary.LittleEndian.AppendUint64(nil, uint64(b.i0))
		hi = binary.LittleEndian.AppendUint64(nil, uint64(b.i1))
	case format.Double:
		f0, f1 := b.f0, b.f1
		if f0 == 0 {
			f0 = math.Copysign(0, -1)
		}
		if f1 == 0 {
			f1 = 0
		}
		lo = binary.LittleEndian.AppendUint64(nil, math.Float64bits(f0))
		hi = binary.LittleEndian.AppendUint64(nil, math.Float64bits(f1))
	}
	return lo, hi
}

// cut returns the longest prefix of x of at most indexBytes bytes that
// ends at a UTF-8 character boundary (x itself when short enough).
func cut(x []byte) []byte {
	if len(x) <= indexBytes {
		return x
	}
	n := indexBytes
	for n > 0 && !utf8.RuneStart(x[n]) {
		n--
	}
	return x[:n]
}

// cutMin returns a copy of x cut for a column index: a prefix is never
// above x.
func cutMin(x []byte) []byte { return append([]byte{}, cut(x)...) }

// cutMax returns a copy of x cut for a column index, above every value
// that starts with the cut (see Statistics); nil when there is none.
func cutMax(x []byte) []byte {
	p := cut(x)
	if len(p) == len(x) {
		return append([]byte{}, x...)
	}
	for end := len(p); end > 0; {
		r, size := utf8.DecodeLastRune(p[:end])
		end -= size
		if r == utf8.RuneError && size <= 1 {
			continue // not a character: drop the byte
		}
		next := r + 1
		if next == 0xD800 {
			next = 0xE000 // past the surrogates
		}
		if next > utf8.MaxRune {
			continue
		}
		return utf8.AppendRune(append([]byte{}, p[:end]...), next)
	}
	return nil
}

// boundaryOrder tells whether the pages' bounds ascend or descend (pages
// of nulls only aside), for readers that binary-search the column index.
func boundaryOrder(kind format.Type, pages []page) format.BoundaryOrder {
	asc, desc := true, true
	var prev *page
	for i := range pages {
		p := &pages[i]
		if p.min == nil {
			continue
		}
		if prev != nil {
			cmin, cmax := compare(kind, p.min, prev.min), compare(kind, p.max, prev.max)
			asc = asc && cmin >= 0 && cmax >= 0
			desc = desc && cmin <= 0 && cmax <= 0
		}
		prev = p
	}
	switch {
	case prev == nil:
		return format.Unordered
	case asc:
		return format.Ascending
	case desc:
		return format.Descending
	}
	return format.Unordered
}

// compare compares two PLAIN-encoded bounds of a column of kind.
func compare(kind format.Type, x, y []byte) int {
	switch kind {
	case format.Int32:
		a, b := int32(binary.LittleEndian.Uint32(x)), int32(binary.LittleEndian.Uint32(y))
		return cmpOrdered(a, b)
	case format.Int64:
		a, b := int64(binary.LittleEndian.Uint64(x)), int64(binary.LittleEndian.Uint64(y))
		return cmpOrdered(a, b)
	case format.Double:
		a, b := math.Float64frombits(binary.LittleEndian.Uint64(x)), math.Float64frombits(binary.LittleEndian.Uint64(y))
		return cmpOrdered(a, b)
	}
	return bytes.Compare(x, y)
}

func cmpOrdered[T int32 | int64 | float64](a, b T) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
