package parquet

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"unicode/utf8"

	parquetgo "github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/deprecated"
	"github.com/parquet-go/parquet-go/encoding"
	"github.com/parquet-go/parquet-go/format"

	"github.com/s3ingest/s3ingest/parsers/internal/parquetguard"
	"github.com/s3ingest/s3ingest/parsers/internal/shared"
	"github.com/s3ingest/s3ingest/parsers/schema"
)

// Columns are read page by page with parquet-go's page readers: a page's
// definition and repetition levels and its dense values (page.Data(), or the
// dictionary indexes and the dictionary's values) are used directly, so a
// flat column is copied into its schema.Vector with typed loops and no
// per-value allocation.

// pageValues are the dense values of a page or of a dictionary.
type pageValues struct {
	n    int
	bits []byte // BOOLEAN, bit-packed LSB first
	i32  []int32
	i64  []int64
	i96  []deprecated.Int96
	f32  []float32
	f64  []float64
	ba   []byte // BYTE_ARRAY data
	off  []uint32
	fl   []byte // FIXED_LEN_BYTE_ARRAY data
	size int
	// utf8 caches, per value, 1 for valid UTF-8 and 2 for invalid (0:
	// unknown); used for dictionaries, whose values repeat.
	utf8 []uint8
	// allText is set when every value is known to be valid (UTF-8, or
	// text for binary columns), checked once for the whole page.
	allText bool
}

// checkAll validates all BYTE_ARRAY values of a page at once: the data
// is valid UTF-8 and no value starts inside a character (so no character
// straddles two values), or, for binary, text without control characters.
func (v *pageValues) checkAll(binary bool) {
	v.allText = false
	if v.off == nil {
		return
	}
	data := v.ba[v.off[0]:v.off[v.n]]
	if binary {
		if !isText(data) {
			return
		}
	} else if !utf8.Valid(data) {
		return
	}
	for _, o := range v.off[:v.n] {
		if int(o) < len(v.ba) && !utf8.RuneStart(v.ba[o]) {
			return
		}
	}
	v.allText = true
}

// load takes the values of data, of the column's physical type.
func (v *pageValues) load(l *leaf, data encoding.Values) error {
	*v = pageValues{utf8: v.utf8[:0]}
	want := kindOf(l.kind)
	if data.Kind() != want {
		return fmt.Errorf("%w: page values are %s, the column is %s", shared.ErrCorrupt, data.Kind(), want)
	}
	switch l.kind {
	case format.Boolean:
		v.bits = data.Boolean()
		v.n = len(v.bits) * 8
	case format.Int32:
		v.i32 = data.Int32()
		v.n = len(v.i32)
	case format.Int64:
		v.i64 = data.Int64()
		v.n = len(v.i64)
	case format.Int96:
		v.i96 = data.Int96()
		v.n = len(v.i96)
	case format.Float:
		v.f32 = data.Float()
		v.n = len(v.f32)
	case format.Double:
		v.f64 = data.Double()
		v.n = len(v.f64)
	case format.ByteArray:
		v.ba, v.off = data.ByteArray()
		if len(v.off) > 0 {
			v.n = len(v.off) - 1
			// offsets must be non-decreasing and inside the data
			prev := v.off[0]
			for _, o := range v.off {
				if o < prev {
					return fmt.Errorf("%w: byte array offsets go backwards", shared.ErrCorrupt)
				}
				prev = o
			}
			if int(prev) > len(v.ba) {
				return fmt.Errorf("%w: byte array offsets past the page data", shared.ErrCorrupt)
			}
		}
	case format.FixedLenByteArray:
		v.fl, v.size = data.FixedLenByteArray()
		if v.size != l.size || v.size <= 0 {
			return fmt.Errorf("%w: fixed-length values of %d bytes in a column of %d", shared.ErrCorrupt, v.size, l.size)
		}
		v.n = len(v.fl) / v.size
	}
	return nil
}

func kindOf(t format.Type) encoding.Kind {
	switch t {
	case format.Boolean:
		return encoding.Boolean
	case format.Int32:
		return encoding.Int32
	case format.Int64:
		return encoding.Int64
	case format.Int96:
		return encoding.Int96
	case format.Float:
		return encoding.Float
	case format.Double:
		return encoding.Double
	case format.ByteArray:
		return encoding.ByteArray
	case format.FixedLenByteArray:
		return encoding.FixedLenByteArray
	}
	return encoding.Undefined
}

// bytesAt returns BYTE_ARRAY or FIXED_LEN_BYTE_ARRAY value i.
func (v *pageValues) bytesAt(i int) []byte {
	if v.off != nil {
		return v.ba[v.off[i]:v.off[i+1]]
	}
	return v.fl[i*v.size : (i+1)*v.size]
}

// validUTF8 reports whether bytes value i is UTF-8 (text, with binary
// set: UTF-8 without control characters other than tab, newline and
// carriage return), caching the answer when the values are a dictionary's.
func (v *pageValues) validUTF8(i int, cache, binary bool) bool {
	if v.allText {
		return true
	}
	check := utf8.Valid
	if binary {
		check = isText
	}
	if cache && len(v.utf8) == v.n {
		switch v.utf8[i] {
		case 1:
			return true
		case 2:
			return false
		}
		ok := check(v.bytesAt(i))
		v.utf8[i] = 2
		if ok {
			v.utf8[i] = 1
		}
		return ok
	}
	return check(v.bytesAt(i))
}

// isText reports whether b is UTF-8 text: valid UTF-8 without NUL, DEL
// or control characters other than tab, newline and carriage return. Bytes
// without a logical type that are not text are base64-encoded.
func isText(b []byte) bool {
	for i, c := range b {
		if c >= 0x80 {
			return utf8.Valid(b[i:]) && noControls(b[i:])
		}
		if (c < 0x20 && c != '\t' && c != '\n' && c != '\r') || c == 0x7f {
			return false
		}
	}
	return true
}

func noControls(b []byte) bool {
	for _, c := range b {
		if (c < 0x20 && c != '\t' && c != '\n' && c != '\r') || c == 0x7f {
			return false
		}
	}
	return true
}

// rowErr is a value of one row that does not convert.
type rowErr struct {
	row   int // index in the batch
	col   int // output column; -1: a rescued file column, named by name
	name  string
	value string
	msg   string
	hint  string
}

// chunk reads the pages of one column chunk.
type chunk struct {
	leaf  *leaf
	guard *parquetguard.Guard
	pages parquetgo.Pages
	page  parquetgo.Page
	eof   bool

	n      int // entries (levels) in the page
	defs   []byte
	reps   []byte
	pos    int // next entry
	vpos   int // next dense value
	nvals  int // dense values in the page
	vals   *pageValues
	idx    []int32 // dictionary indexes, nil for plain pages
	plain  pageValues
	dict   parquetgo.Dictionary
	dvals  pageValues
	pageNo int
}

// open starts reading pages of a chunk.
func (c *chunk) open(leaf *leaf, pages parquetgo.Pages) {
	c.close()
	c.leaf = leaf
	c.pages = pages
	c.eof = false
	c.n, c.pos, c.vpos, c.nvals, c.pageNo = 0, 0, 0, 0, 0
	c.dict = nil
}

// close releases the chunk's page reader and current page.
func (c *chunk) close() {
	if c.page != nil {
		parquetgo.Release(c.page)
		c.page = nil
	}
	if c.pages != nil {
		c.pages.Close()
		c.pages = nil
	}
	c.defs, c.reps, c.idx, c.vals = nil, nil, nil, nil
	c.plain = pageValues{utf8: c.plain.utf8[:0]}
	c.dvals = pageValues{utf8: c.dvals.utf8[:0]}
	c.dict = nil
	c.guard = nil
}

// nextPage loads the next page; it returns io.EOF after the last one.
func (c *chunk) nextPage() error {
	if c.page != nil {
		parquetgo.Release(c.page)
		c.page = nil
	}
	c.n, c.pos, c.vpos, c.nvals = 0, 0, 0, 0
	if c.eof {
		return io.EOF
	}
	p, err := c.pages.ReadPage()
	if err != nil {
		if err == io.EOF {
			c.eof = true
		}
		return err
	}
	c.page = p
	c.pageNo++
	return c.setPage(p)
}

func (c *chunk) setPage(p parquetgo.Page) error {
	l := c.leaf
	c.defs, c.reps = nil, nil
	n := int(p.NumValues())
	if l.maxDef > 0 {
		c.defs = p.DefinitionLevels()
		n = len(c.defs)
	}
	if l.maxRep > 0 {
		c.reps = p.RepetitionLevels()
		if len(c.reps) != n {
			return fmt.Errorf("%w: page %d has %d repetition levels for %d values", shared.ErrCorrupt, c.pageNo, len(c.reps), n)
		}
	}
	if n < 0 {
		return fmt.Errorf("%w: page %d has %d values", shared.ErrCorrupt, c.pageNo, n)
	}
	nvals := n
	if c.defs != nil {
		nvals = 0
		for _, d := range c.defs {
			if d == l.maxDef {
				nvals++
			} else if d > l.maxDef {
				return fmt.Errorf("%w: definition level %d above the column's maximum %d", shared.ErrCorrupt, d, l.maxDef)
			}
		}
	}
	if c.reps != nil {
		for _, r := range c.reps {
			if r > l.maxRep {
				return fmt.Errorf("%w: repetition level %d above the column's maximum %d", shared.ErrCorrupt, r, l.maxRep)
			}
		}
	}
	c.n, c.nvals = n, nvals
	c.idx = nil
	if l.conv == cvNull || nvals == 0 {
		c.vals = &c.plain
		c.plain = pageValues{utf8: c.plain.utf8[:0]}
		if l.conv == cvNull {
			c.nvals = 0
		}
		return nil
	}
	data := p.Data()
	if dict := p.Dictionary(); dict != nil {
		if data.Kind() != encoding.Int32 {
			return fmt.Errorf("%w: dictionary indexes of kind %s", shared.ErrCorrupt, data.Kind())
		}
		idx := data.Int32()
		if len(idx) < nvals {
			return fmt.Errorf("%w: page %d has %d dictionary indexes for %d values", shared.ErrCorrupt, c.pageNo, len(idx), nvals)
		}
		idx = idx[:nvals]
		if dict != c.dict {
			if err := c.dvals.load(l, dict.Page().Data()); err != nil {
				return err
			}
			c.dict = dict
			if c.dvals.off != nil || c.dvals.fl != nil {
				c.dvals.utf8 = append(c.dvals.utf8[:0], make([]uint8, c.dvals.n)...)
			}
		}
		lim := uint32(c.dvals.n)
		for _, k := range idx {
			if uint32(k) >= lim {
				return fmt.Errorf("%w: dictionary index %d out of range [0, %d)", shared.ErrCorrupt, k, lim)
			}
		}
		c.idx = idx
		c.vals = &c.dvals
		return nil
	}
	if err := c.plain.load(l, data); err != nil {
		return err
	}
	if l.conv == cvString || l.conv == cvBytes {
		c.plain.checkAll(l.conv == cvBytes)
	}
	if c.plain.n < nvals {
		return fmt.Errorf("%w: page %d has %d values for %d non-null entries", shared.ErrCorrupt, c.pageNo, c.plain.n, nvals)
	}
	c.vals = &c.plain
	return nil
}

// vi maps dense value k of the page to an index into c.vals.
func (c *chunk) vi(k int) int {
	if c.idx != nil {
		return int(c.idx[k])
	}
	return k
}

// drain checks that the chunk has no values beyond its row group's rows.
func (c *chunk) drain() error {
	if c.pos < c.n {
		return fmt.Errorf("%w: the column chunk has more values than the row group has rows", shared.ErrCorrupt)
	}
	for {
		err := c.nextPage()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if c.n > 0 {
			return fmt.Errorf("%w: the column chunk has more values than the row group has rows", shared.ErrCorrupt)
		}
	}
}

var errShortChunk = errors.New("the column chunk has fewer values than the row group has rows")

// fillFlat appends the next n rows of a flat (non-repeated leaf) column to
// dst. Values that do not convert become nulls and are reported in errs.
func (c *chunk) fillFlat(dst *schema.Vector, n, col int, text bool, errs *[]rowErr) error {
	maxDef := c.leaf.maxDef
	for n > 0 {
		if c.pos >= c.n {
			if err := c.nextPage(); err != nil {
				if err == io.EOF {
					return fmt.Errorf("%w: %v", shared.ErrCorrupt, errShortChunk)
				}
				return err
			}
			continue
		}
		m := min(n, c.n-c.pos)
		if c.defs == nil {
			c.appendValues(dst, m, col, text, errs)
		} else {
			defs := c.defs[c.pos : c.pos+m]
			for i := 0; i < len(defs); {
				j := i
				if defs[i] == maxDef {
					for j < len(defs) && defs[j] == maxDef {
						j++
					}
					c.appendValues(dst, j-i, col, text, errs)
				} else {
					for j < len(defs) && defs[j] != maxDef {
						j++
					}
					appendNulls(dst, j-i)
				}
				i = j
			}
		}
		c.pos += m
		n -= m
	}
	return nil
}

// appendNulls appends n nulls.
func appendNulls(v *schema.Vector, n int) {
	v.Nulls = appendBools(v.Nulls, n, true)
	switch v.Type {
	case schema.Bool:
		v.Bools = appendBools(v.Bools, n, false)
	case schema.Int64, schema.Date, schema.Timestamp:
		v.Ints = growZero(v.Ints, n)
	case schema.Float64:
		v.Floats = growZero(v.Floats, n)
	default:
		if len(v.Offsets) == 0 {
			v.Offsets = append(v.Offsets, 0)
		}
		end := int32(len(v.Bytes))
		for range n {
			v.Offsets = append(v.Offsets, end)
		}
	}
}

func appendBools(s []bool, n int, val bool) []bool {
	s = growZero(s, n)
	if val {
		t := s[len(s)-n:]
		for i := range t {
			t[i] = true
		}
	}
	return s
}

// growZero appends n zero values.
func growZero[T any](s []T, n int) []T {
	if cap(s)-len(s) < n {
		s = append(s[:cap(s)], make([]T, n-(cap(s)-len(s)))...)[:len(s)]
	}
	s = s[:len(s)+n]
	clear(s[len(s)-n:])
	return s
}

// appendValues appends the next m dense values of the page.
func (c *chunk) appendValues(dst *schema.Vector, m, col int, text bool, errs *[]rowErr) {
	from := c.vpos
	c.vpos += m
	if text {
		c.appendText(dst, from, m, col, errs)
		return
	}
	v, idx := c.vals, c.idx
	var ix []int32
	if idx != nil {
		ix = idx[from : from+m]
	}
	switch c.leaf.conv {
	case cvNull:
		appendNulls(dst, m)
		return
	case cvBool:
		dst.Nulls = appendBools(dst.Nulls, m, false)
		for k := from; k < from+m; k++ {
			i := c.vi(k)
			dst.Bools = append(dst.Bools, v.bits[i>>3]&(1<<(i&7)) != 0)
		}
		return
	case cvInt32, cvDate:
		dst.Nulls = appendBools(dst.Nulls, m, false)
		out := growZero(dst.Ints, m)
		o := out[len(out)-m:]
		if ix == nil {
			for i, x := range v.i32[from : from+m] {
				o[i] = int64(x)
			}
		} else {
			for i, k := range ix {
				o[i] = int64(v.i32[k])
			}
		}
		dst.Ints = out
		return
	case cvUint32:
		dst.Nulls = appendBools(dst.Nulls, m, false)
		out := growZero(dst.Ints, m)
		o := out[len(out)-m:]
		if ix == nil {
			for i, x := range v.i32[from : from+m] {
				o[i] = int64(uint32(x))
			}
		} else {
			for i, k := range ix {
				o[i] = int64(uint32(v.i32[k]))
			}
		}
		dst.Ints = out
		return
	case cvInt64, cvTsMicros:
		dst.Nulls = appendBools(dst.Nulls, m, false)
		if ix == nil {
			dst.Ints = append(dst.Ints, v.i64[from:from+m]...)
		} else {
			for _, k := range ix {
				dst.Ints = append(dst.Ints, v.i64[k])
			}
		}
		return
	case cvTsNanos:
		dst.Nulls = appendBools(dst.Nulls, m, false)
		for k := from; k < from+m; k++ {
			dst.Ints = append(dst.Ints, nanosToMicros(v.i64[c.vi(k)]))
		}
		return
	case cvDouble:
		dst.Nulls = appendBools(dst.Nulls, m, false)
		if ix == nil {
			dst.Floats = append(dst.Floats, v.f64[from:from+m]...)
		} else {
			for _, k := range ix {
				dst.Floats = append(dst.Floats, v.f64[k])
			}
		}
		return
	case cvFloat:
		dst.Nulls = appendBools(dst.Nulls, m, false)
		out := growZero(dst.Floats, m)
		o := out[len(out)-m:]
		if ix == nil {
			for i, x := range v.f32[from : from+m] {
				o[i] = float64(x)
			}
		} else {
			for i, k := range ix {
				o[i] = float64(v.f32[k])
			}
		}
		dst.Floats = out
		return
	case cvFloat16:
		dst.Nulls = appendBools(dst.Nulls, m, false)
		for k := from; k < from+m; k++ {
			dst.Floats = append(dst.Floats, float16(v.bytesAt(c.vi(k))))
		}
		return
	case cvString, cvBytes:
		if len(dst.Offsets) == 0 {
			dst.Offsets = append(dst.Offsets, 0)
		}
		dict := idx != nil
		for k := from; k < from+m; k++ {
			i := c.vi(k)
			b := v.bytesAt(i)
			switch {
			case v.validUTF8(i, dict, c.leaf.conv == cvBytes):
				dst.Bytes = append(dst.Bytes, b...)
			case c.leaf.conv == cvBytes:
				dst.Bytes = appendBase64(dst.Bytes, b)
			default:
				c.rowErr(dst, col, errs, string(b), "invalid UTF-8 in a STRING value",
					"the file's writer stored bytes that are not UTF-8 in a STRING column")
				continue
			}
			dst.Nulls = append(dst.Nulls, false)
			dst.Offsets = append(dst.Offsets, int32(len(dst.Bytes)))
		}
		return
	}
	// The rest converts value by value, with possible row errors.
	for k := from; k < from+m; k++ {
		c.appendOne(dst, c.vi(k), col, errs)
	}
}

// rowErr records that the value of the row being appended does not convert
// and appends a null in its place.
func (c *chunk) rowErr(dst *schema.Vector, col int, errs *[]rowErr, value, msg, hint string) {
	*errs = append(*errs, rowErr{row: dst.Len(), col: col, value: value, msg: msg, hint: hint})
	appendNulls(dst, 1)
}

// appendOne converts value i (an index into c.vals) of the slower types.
func (c *chunk) appendOne(dst *schema.Vector, i, col int, errs *[]rowErr) {
	v := c.vals
	switch c.leaf.conv {
	case cvUint64:
		x := v.i64[i]
		if !uint64Fits(x) {
			c.rowErr(dst, col, errs, strconv.FormatUint(uint64(x), 10),
				fmt.Sprintf("UINT64 value above %d does not fit int64", int64(math.MaxInt64)),
				"pass a schema with this column as string to keep exact values")
			return
		}
		dst.AppendInt(x)
	case cvTsMillis:
		us, ok := millisToMicros(v.i64[i])
		if !ok {
			c.rowErr(dst, col, errs, strconv.FormatInt(v.i64[i], 10), "timestamp (milliseconds) out of range",
				"pass a schema with this column as int64 or string to keep the raw value")
			return
		}
		dst.AppendInt(us)
	case cvInt96:
		dst.AppendInt(int96Micros(v.i96[i]))
	default:
		// text types
		buf, msg := c.render(dst.Bytes, i, false)
		if msg != "" {
			c.rowErr(dst, col, errs, c.rawText(i), msg, "")
			return
		}
		if len(dst.Offsets) == 0 {
			dst.Offsets = append(dst.Offsets, 0)
		}
		dst.Bytes = buf
		dst.Nulls = append(dst.Nulls, false)
		dst.Offsets = append(dst.Offsets, int32(len(dst.Bytes)))
	}
}

// appendText appends m values rendered as text to a String vector (a
// column read as string through Config.Schema).
func (c *chunk) appendText(dst *schema.Vector, from, m, col int, errs *[]rowErr) {
	if len(dst.Offsets) == 0 {
		dst.Offsets = append(dst.Offsets, 0)
	}
	for k := from; k < from+m; k++ {
		i := c.vi(k)
		if c.leaf.conv == cvNull {
			appendNulls(dst, 1)
			continue
		}
		buf, msg := c.render(dst.Bytes, i, false)
		if msg != "" {
			c.rowErr(dst, col, errs, c.rawText(i), msg, "")
			continue
		}
		dst.Bytes = buf
		dst.Nulls = append(dst.Nulls, false)
		dst.Offsets = append(dst.Offsets, int32(len(dst.Bytes)))
	}
}

// rawText is a value's raw form for error messages.
func (c *chunk) rawText(i int) string {
	v := c.vals
	switch c.leaf.kind {
	case format.Boolean:
		return strconv.FormatBool(v.bits[i>>3]&(1<<(i&7)) != 0)
	case format.Int32:
		return strconv.FormatInt(int64(v.i32[i]), 10)
	case format.Int64:
		return strconv.FormatInt(v.i64[i], 10)
	case format.Int96:
		return fmt.Sprint(v.i96[i])
	case format.Float:
		return strconv.FormatFloat(float64(v.f32[i]), 'g', -1, 32)
	case format.Double:
		return strconv.FormatFloat(v.f64[i], 'g', -1, 64)
	}
	return string(v.bytesAt(i))
}

// render appends value i as text (json false) or as a JSON value (json
// true). It returns a message when the value does not convert.
func (c *chunk) render(dst []byte, i int, asJSON bool) ([]byte, string) {
	v := c.vals
	l := c.leaf
	quote := func(b []byte) []byte {
		if asJSON {
			return shared.AppendJSONString(dst, b)
		}
		return append(dst, b...)
	}
	quoted := func(f func([]byte) []byte) []byte {
		if !asJSON {
			return f(dst)
		}
		d := append(dst, '"')
		d = f(d)
		return append(d, '"')
	}
	switch l.conv {
	case cvNull:
		return append(dst, "null"...), ""
	case cvBool:
		return strconv.AppendBool(dst, v.bits[i>>3]&(1<<(i&7)) != 0), ""
	case cvInt32:
		return strconv.AppendInt(dst, int64(v.i32[i]), 10), ""
	case cvUint32:
		return strconv.AppendUint(dst, uint64(uint32(v.i32[i])), 10), ""
	case cvInt64:
		return strconv.AppendInt(dst, v.i64[i], 10), ""
	case cvUint64:
		return strconv.AppendUint(dst, uint64(v.i64[i]), 10), ""
	case cvFloat:
		if asJSON {
			return appendFloatJSON(dst, float64(v.f32[i]), 32), ""
		}
		return strconv.AppendFloat(dst, float64(v.f32[i]), 'g', -1, 32), ""
	case cvDouble:
		if asJSON {
			return appendFloatJSON(dst, v.f64[i], 64), ""
		}
		return strconv.AppendFloat(dst, v.f64[i], 'g', -1, 64), ""
	case cvFloat16:
		f := float16(v.bytesAt(i))
		if asJSON {
			return appendFloatJSON(dst, f, 32), ""
		}
		return strconv.AppendFloat(dst, f, 'g', -1, 32), ""
	case cvDate:
		return quoted(func(d []byte) []byte { return append(d, schema.FormatDate(int64(v.i32[i]))...) }), ""
	case cvTsMillis:
		us, ok := millisToMicros(v.i64[i])
		if !ok {
			return dst, "timestamp (milliseconds) out of range"
		}
		return quoted(func(d []byte) []byte { return append(d, schema.FormatTimestamp(us)...) }), ""
	case cvTsMicros:
		return quoted(func(d []byte) []byte { return append(d, schema.FormatTimestamp(v.i64[i])...) }), ""
	case cvTsNanos:
		return quoted(func(d []byte) []byte {
			return appendTimestampText(d, timeFromNanos(v.i64[i]))
		}), ""
	case cvInt96:
		t := int96Time(v.i96[i])
		return quoted(func(d []byte) []byte { return appendTimestampText(d, t) }), ""
	case cvTimeMillis, cvTimeMicros, cvTimeNanos:
		var x, per int64
		switch l.conv {
		case cvTimeMillis:
			x, per = int64(v.i32[i]), 1000
		case cvTimeMicros:
			x, per = v.i64[i], 1000*1000
		default:
			x, per = v.i64[i], 1000*1000*1000
		}
		ok := true
		out := quoted(func(d []byte) []byte {
			d, ok = appendTime(d, x, per)
			return d
		})
		if !ok {
			return dst, "TIME value outside 00:00:00 to 24:00:00"
		}
		return out, ""
	case cvDecimal32:
		return appendDecimal(dst, int64(v.i32[i]), l.scale), ""
	case cvDecimal64:
		return appendDecimal(dst, v.i64[i], l.scale), ""
	case cvDecimalBytes:
		out, ok := appendDecimalBE(dst, v.bytesAt(i), l.scale)
		if !ok {
			return dst, "empty DECIMAL value"
		}
		return out, ""
	case cvString:
		b := v.bytesAt(i)
		if !v.validUTF8(i, c.idx != nil, false) {
			return dst, "invalid UTF-8 in a STRING value"
		}
		return quote(b), ""
	case cvJSON:
		b := v.bytesAt(i)
		if !json.Valid(b) {
			return dst, "invalid JSON in a JSON value"
		}
		if asJSON {
			return append(dst, b...), ""
		}
		return append(dst, b...), ""
	case cvBytes:
		b := v.bytesAt(i)
		if v.validUTF8(i, c.idx != nil, true) {
			return quote(b), ""
		}
		return quoted(func(d []byte) []byte { return appendBase64(d, b) }), ""
	case cvBase64:
		b := v.bytesAt(i)
		return quoted(func(d []byte) []byte { return appendBase64(d, b) }), ""
	case cvUUID:
		return quoted(func(d []byte) []byte { return appendUUID(d, v.bytesAt(i)) }), ""
	case cvInterval:
		return quoted(func(d []byte) []byte { return appendInterval(d, v.bytesAt(i)) }), ""
	}
	return dst, fmt.Sprintf("unsupported conversion %d", l.conv)
}
