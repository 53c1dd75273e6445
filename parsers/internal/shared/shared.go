// Package shared holds what package parsers (the CSV and JSON readers) and
// its Parquet engine (parsers/internal/parquet) must agree on, so that a
// value or an error comes out the same whatever the format: the error
// sentinels, the bound on a batch's text, how a value is shortened in an
// error and how a string is written as JSON.
package shared

import (
	"errors"
	"unicode/utf8"
)

// Sentinel causes of content errors; package parsers exports them as
// parsers.ErrUnsupported, parsers.ErrCorrupt, parsers.ErrTooLarge and
// parsers.ErrType (the same values, so errors.Is matches either name).
var (
	// ErrUnsupported marks input that is well-formed but uses something
	// s3ingest cannot read (e.g. an encrypted Parquet file).
	ErrUnsupported = errors.New("unsupported")
	// ErrCorrupt marks input that is not valid for its format.
	ErrCorrupt = errors.New("corrupt")
	// ErrTooLarge marks a line, record or decompressed stream over its limit.
	ErrTooLarge = errors.New("too large")
	// ErrType marks a value that does not convert to its column's type.
	ErrType = errors.New("wrong type")
)

// MaxBatchBytes bounds the text held by one batch: a batch is handed over
// early once its string and JSON values pass this size, whatever its row
// count.
const MaxBatchBytes = 32 << 20

// MaxValueBytes is the longest value an error quotes (see Shorten).
const MaxValueBytes = 64

// Shorten returns s as a string of at most MaxValueBytes bytes, cut at a
// rune boundary and ending in "..." when it was cut.
func Shorten[S ~string | ~[]byte](s S) string {
	if len(s) <= MaxValueBytes {
		return string(s)
	}
	n := MaxValueBytes - 3
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return string(s[:n]) + "..."
}

// AppendJSONString appends s as a JSON string literal: '"' and '\' are
// escaped with a backslash, newline, carriage return and tab as \n, \r and
// \t, the other control characters as \u00XX; every other byte, invalid
// UTF-8 included, is copied as is (callers pass valid UTF-8). Every reader
// writes JSON strings with it, so the same value reads the same from CSV,
// JSON or Parquet.
func AppendJSONString(dst []byte, s []byte) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		dst = append(dst, s[start:i]...)
		switch c {
		case '"', '\\':
			dst = append(dst, '\\', c)
		case '\n':
			dst = append(dst, '\\', 'n')
		case '\r':
			dst = append(dst, '\\', 'r')
		case '\t':
			dst = append(dst, '\\', 't')
		default:
			dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		}
		start = i + 1
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
