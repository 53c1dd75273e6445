package parquetguard

import (
	"errors"
	"fmt"

	"github.com/s3ingest/s3ingest/parsers/internal/shared"
)

// parquet-go's thrift decoder sizes a list from its header before reading
// its elements: a footer of a few bytes that declares a list of 2^31
// elements makes it allocate hundreds of gigabytes, which is a fatal (not
// recoverable) out-of-memory error. CheckFooter walks the footer's thrift
// compact encoding first, without decoding it: every list, set, map and
// binary must be backed by bytes that are really there, nesting is bounded,
// and the memory the decoded structures would take is estimated and
// bounded.

const (
	maxThriftDepth = 64
	// MaxFooterMemory bounds the memory a footer's decoded structures may
	// take (estimated), part of a Parquet object's memory budget.
	MaxFooterMemory = 256 << 20
	// structElementCost is the Go memory of a struct in a list, as
	// parquet-go decodes it and builds its own objects from it (measured:
	// ~2.7 KiB per row group of one column chunk, i.e. per two structs,
	// on parquet-go v0.32): a footer of 87,000 row groups of one column, or
	// of 85,000 column chunks, is refused.
	structElementCost = 1536
)

var errThriftShort = errors.New("truncated")

type thriftWalker struct {
	b    []byte
	pos  int
	cost int64
	// count: only walk (FooterColumns), charge nothing
	count bool
}

// CheckFooter validates the thrift structure of a footer (FileMetaData,
// without the length and magic that follow it) before parquet-go decodes
// it. Its errors wrap shared.ErrCorrupt or shared.ErrTooLarge.
func CheckFooter(footer []byte) error {
	w := &thriftWalker{b: footer}
	if err := w.structure(0); err != nil {
		if errors.Is(err, shared.ErrTooLarge) {
			return err
		}
		return fmt.Errorf("%w: footer: %v", shared.ErrCorrupt, err)
	}
	return nil
}

func (w *thriftWalker) byte() (byte, error) {
	if w.pos >= len(w.b) {
		return 0, errThriftShort
	}
	c := w.b[w.pos]
	w.pos++
	return c, nil
}

func (w *thriftWalker) uvarint() (uint64, error) {
	var v uint64
	for shift := uint(0); shift < 64; shift += 7 {
		c, err := w.byte()
		if err != nil {
			return 0, err
		}
		v |= uint64(c&0x7f) << shift
		if c < 0x80 {
			return v, nil
		}
	}
	return 0, errors.New("varint too long")
}

func (w *thriftWalker) skip(n uint64) error {
	if n > uint64(len(w.b)-w.pos) {
		return fmt.Errorf("%d bytes declared, %d left", n, len(w.b)-w.pos)
	}
	w.pos += int(n)
	return nil
}

func (w *thriftWalker) charge(n int64) error {
	if w.count {
		return nil
	}
	w.cost += n
	if w.cost > MaxFooterMemory {
		return fmt.Errorf("%w: the footer would decode to more than %d bytes", shared.ErrTooLarge, MaxFooterMemory)
	}
	return nil
}

// structure walks a struct up to its STOP field.
func (w *thriftWalker) structure(depth int) error {
	if depth > maxThriftDepth {
		return errors.New("nested too deeply")
	}
	for {
		h, err := w.byte()
		if err != nil {
			return err
		}
		if h == 0 {
			return nil
		}
		if h>>4 == 0 { // long form: the field id follows as a zigzag varint
			if _, err := w.uvarint(); err != nil {
				return err
			}
		}
		t := h & 0x0f
		if t == 1 || t == 2 { // a bool field holds its value in its type
			continue
		}
		if err := w.value(t, depth); err != nil {
			return err
		}
	}
}

// value walks one value of compact type t.
func (w *thriftWalker) value(t byte, depth int) error {
	switch t {
	case 1, 2, 3: // bool (in a list: one byte), byte
		_, err := w.byte()
		return err
	case 4, 5, 6: // i16, i32, i64
		_, err := w.uvarint()
		return err
	case 7: // double
		return w.skip(8)
	case 8: // binary
		n, err := w.uvarint()
		if err != nil {
			return err
		}
		return w.skip(n)
	case 9, 10: // list, set
		h, err := w.byte()
		if err != nil {
			return err
		}
		n := uint64(h >> 4)
		if n == 15 {
			if n, err = w.uvarint(); err != nil {
				return err
			}
		}
		et := h & 0x0f
		if n > uint64(len(w.b)-w.pos) { // every element takes a byte at least
			return fmt.Errorf("a list of %d elements in %d bytes", n, len(w.b)-w.pos)
		}
		cost := int64(8)
		switch et {
		case 8:
			cost = 24
		case 9, 10, 11:
			cost = 24
		case 12:
			cost = structElementCost
		}
		if err := w.charge(int64(n) * cost); err != nil {
			return err
		}
		for range n {
			if err := w.value(et, depth+1); err != nil {
				return err
			}
		}
		return nil
	case 11: // map
		n, err := w.uvarint()
		if err != nil || n == 0 {
			return err
		}
		kv, err := w.byte()
		if err != nil {
			return err
		}
		if n > uint64(len(w.b)-w.pos)/2 {
			return fmt.Errorf("a map of %d entries in %d bytes", n, len(w.b)-w.pos)
		}
		if err := w.charge(int64(n) * 64); err != nil {
			return err
		}
		for range n {
			if err := w.value(kv>>4, depth+1); err != nil {
				return err
			}
			if err := w.value(kv&0x0f, depth+1); err != nil {
				return err
			}
		}
		return nil
	case 12: // struct
		return w.structure(depth + 1)
	}
	return fmt.Errorf("unknown thrift type %d", t)
}

// FooterColumns counts the leaf columns a footer (FileMetaData, as given to
// CheckFooter) declares: the elements of its schema list, after the root,
// that have a physical type. It walks the thrift encoding without decoding
// it, in time linear in the footer's size and without allocating, so a
// footer declaring a million columns is refused (by its column count, before
// CheckFooter's estimate) before parquet-go builds a schema of them.
func FooterColumns(footer []byte) (int, error) {
	w := &thriftWalker{b: footer, count: true}
	n, err := w.countLeaves()
	if err != nil {
		return 0, fmt.Errorf("%w: footer: %v", shared.ErrCorrupt, err)
	}
	return n, nil
}

// fieldHeader reads a struct field header: its type (0 for STOP) and id,
// given the id of the previous field.
func (w *thriftWalker) fieldHeader(last int16) (byte, int16, error) {
	h, err := w.byte()
	if err != nil || h == 0 {
		return 0, 0, err
	}
	id := last + int16(h>>4)
	if h>>4 == 0 { // long form: the id follows as a zigzag varint
		v, err := w.uvarint()
		if err != nil {
			return 0, 0, err
		}
		id = int16(int64(v>>1) ^ -int64(v&1))
	}
	return h & 0x0f, id, nil
}

// countLeaves walks FileMetaData and counts the schema's leaves.
func (w *thriftWalker) countLeaves() (int, error) {
	leaves := 0
	var id int16
	for {
		t, fid, err := w.fieldHeader(id)
		if err != nil {
			return 0, err
		}
		if t == 0 {
			return leaves, nil
		}
		id = fid
		if t == 1 || t == 2 {
			continue
		}
		if id != 2 || t != 9 {
			if err := w.value(t, 0); err != nil {
				return 0, err
			}
			continue
		}
		// schema: list<SchemaElement>
		h, err := w.byte()
		if err != nil {
			return 0, err
		}
		n := uint64(h >> 4)
		if n == 15 {
			if n, err = w.uvarint(); err != nil {
				return 0, err
			}
		}
		if et := h & 0x0f; et != 12 {
			for range n {
				if err := w.value(et, 1); err != nil {
					return 0, err
				}
			}
			continue
		}
		for i := range n {
			typed, err := w.elementTyped()
			if err != nil {
				return 0, err
			}
			if typed && i > 0 {
				leaves++
			}
		}
	}
}

// elementTyped walks a SchemaElement and reports whether it has a type
// (field 1): a leaf.
func (w *thriftWalker) elementTyped() (bool, error) {
	typed := false
	var id int16
	for {
		t, fid, err := w.fieldHeader(id)
		if err != nil {
			return false, err
		}
		if t == 0 {
			return typed, nil
		}
		id = fid
		if id == 1 {
			typed = true
		}
		if t == 1 || t == 2 {
			continue
		}
		if err := w.value(t, 1); err != nil {
			return false, err
		}
	}
}
