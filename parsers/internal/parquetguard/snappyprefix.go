package parquetguard

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// snappyPrefix decodes the start of a Snappy block, as far as asked and no
// further. Checking a v1 data page of PLAIN values only needs its level
// streams, which come first and are small; decoding the whole page (as
// parquet-go does again right after) would double the cost of
// decompression for most pages of most files (measured: the guard's full
// decompression was a tenth of a Parquet → Parquet run's CPU).
//
// The block format (github.com/google/snappy, format_description.txt): a
// uvarint of the decoded length, then elements, each a tag byte whose low
// two bits say what follows: a literal (its length in the tag or in the 1–4
// bytes after it, then the bytes), or a copy of earlier output (length and
// offset in the tag and 1, 2 or 4 bytes after it). Every length and offset
// is checked against the data and the output; corrupt data returns an
// error, never a panic or an allocation beyond the decoded length (which
// the caller bounds first).
type snappyPrefix struct {
	src []byte // the elements not decoded yet
	out []byte // decoded so far; cap is the whole decoded length
}

var errSnappyCorrupt = errors.New("corrupt snappy data")

// reset starts decoding src into buf (grown to the decoded length, which
// must not exceed limit).
func (s *snappyPrefix) reset(src []byte, limit int, buf []byte) error {
	n, k := binary.Uvarint(src)
	if k <= 0 {
		return errSnappyCorrupt
	}
	if n > uint64(limit) {
		return fmt.Errorf("snappy data announces %d bytes, the page header %d", n, limit)
	}
	if cap(buf) < int(n) {
		buf = make([]byte, 0, n)
	}
	s.src, s.out = src[k:], buf[:0:n]
	return nil
}

// fill decodes until at least want bytes are out or the data ends; it
// returns what is decoded (possibly more than want, never more than the
// decoded length).
func (s *snappyPrefix) fill(want int) ([]byte, error) {
	for len(s.out) < want && len(s.src) > 0 {
		if err := s.element(); err != nil {
			return s.out, err
		}
	}
	return s.out, nil
}

// element decodes one element.
func (s *snappyPrefix) element() error {
	src := s.src
	tag := src[0]
	var length, offset, used int
	switch tag & 3 {
	case 0: // literal
		length, used = int(tag>>2)+1, 1
		if x := int(tag >> 2); x >= 60 {
			nb := x - 59 // 1 to 4 bytes of length-1
			if len(src) < 1+nb {
				return errSnappyCorrupt
			}
			var v uint64
			for i := nb; i >= 1; i-- {
				v = v<<8 | uint64(src[i])
			}
			if v >= uint64(cap(s.out)) {
				return errSnappyCorrupt
			}
			length, used = int(v)+1, 1+nb
		}
		if length > len(src)-used || length > cap(s.out)-len(s.out) {
			return errSnappyCorrupt
		}
		s.out = append(s.out, src[used:used+length]...)
		s.src = src[used+length:]
		return nil
	case 1: // copy, 1-byte offset
		if len(src) < 2 {
			return errSnappyCorrupt
		}
		length, offset, used = 4+int(tag>>2&7), int(tag>>5)<<8|int(src[1]), 2
	case 2: // copy, 2-byte offset
		if len(src) < 3 {
			return errSnappyCorrupt
		}
		length, offset, used = 1+int(tag>>2), int(binary.LittleEndian.Uint16(src[1:])), 3
	default: // copy, 4-byte offset
		if len(src) < 5 {
			return errSnappyCorrupt
		}
		o := binary.LittleEndian.Uint32(src[1:])
		if uint64(o) > uint64(len(s.out)) {
			return errSnappyCorrupt
		}
		length, offset, used = 1+int(tag>>2), int(o), 5
	}
	d := len(s.out)
	if offset <= 0 || offset > d || length > cap(s.out)-d {
		return errSnappyCorrupt
	}
	// Forward byte by byte: a copy may overlap its own output (a run).
	s.out = s.out[:d+length]
	for i := range length {
		s.out[d+i] = s.out[d-offset+i]
	}
	s.src = src[used:]
	return nil
}
