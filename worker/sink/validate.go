package sink

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"unicode/utf8"

	"github.com/s3ingest/s3ingest/ident"
	"github.com/s3ingest/s3ingest/parsers/schema"
)

// MaxDatasetName is the longest dataset name accepted (ident.MaxDataset).
const MaxDatasetName = ident.MaxDataset

// MaxWorkspaceID is the longest workspace ID accepted (ident.MaxWorkspaceID).
const MaxWorkspaceID = ident.MaxWorkspaceID

// ValidateWorkspace checks a workspace ID with ident.Workspace, the rule
// jobs and credstore apply too: 1 to MaxWorkspaceID bytes of ASCII letters,
// digits and '.', '_', ':', '@', '-'. Such an ID may still be "." or ".."
// or start with '-': each sink maps it to a safe directory or schema name
// (see FileSink and Postgres). Errors wrap ErrInvalidDataset and name the
// workspace.
func ValidateWorkspace(ws string) error { return datasetErr(ident.Workspace(ws)) }

// ValidateDataset checks a dataset name with ident.Dataset, the rule jobs
// applies too: 1 to MaxDatasetName bytes of ASCII letters, digits, '_', '-'
// and '.', not starting with '.' or '-' and without "..", which makes it
// safe as a directory name and, quoted, as a table name. Errors wrap
// ErrInvalidDataset and name the dataset.
func ValidateDataset(name string) error { return datasetErr(ident.Dataset(name)) }

// datasetErr turns an identifier error into ErrInvalidDataset naming the
// field ("workspace" or "dataset").
func datasetErr(err error) error {
	var ie *ident.Error
	if errors.As(err, &ie) {
		return fmt.Errorf("%w: %s: %s", ErrInvalidDataset, ie.Field, ie.Detail())
	}
	return err
}

// valueRules are the per-sink limits checked by checkBatch.
type valueRules struct {
	// noNUL rejects NUL bytes in strings and \u0000 escapes in JSON
	// (PostgreSQL text and jsonb cannot store them).
	noNUL bool
	// minDate and maxDate bound Date values (epoch days).
	minDate, maxDate int64
	// minTimestamp bounds Timestamp values (epoch microseconds).
	minTimestamp int64
}

var parquetRules = valueRules{minDate: math.MinInt32, maxDate: math.MaxInt32, minTimestamp: math.MinInt64}

// checkBatch validates a whole batch against the writer's schema before
// anything of it is written. Shape mismatches are programming errors and wrap
// ErrInvalidSchema; bad values are *ValueError.
func checkBatch(b *schema.Batch, fields []schema.Field, rules valueRules) error {
	if b == nil {
		return fmt.Errorf("%w: batch is nil", ErrInvalidSchema)
	}
	if len(b.Cols) != len(fields) {
		return fmt.Errorf("%w: batch has %d columns, the writer's schema %d", ErrInvalidSchema, len(b.Cols), len(fields))
	}
	n := b.Len()
	for c := range b.Cols {
		v, f := &b.Cols[c], &fields[c]
		if v.Type != f.Type {
			return fmt.Errorf("%w: batch column %d (%q) is %s, the writer's schema says %s", ErrInvalidSchema, c+1, f.Name, v.Type, f.Type)
		}
		if err := checkShape(v, n); err != nil {
			return fmt.Errorf("%w: batch column %q: %v", ErrInvalidSchema, f.Name, err)
		}
		if !f.Nullable {
			for i, null := range v.Nulls {
				if null {
					return valueErr(b, f, i, "null in a column that is not nullable")
				}
			}
		}
		if err := checkValues(b, c, f, v, n, rules); err != nil {
			return err
		}
	}
	return nil
}

func checkShape(v *schema.Vector, n int) error {
	if len(v.Nulls) != n {
		return fmt.Errorf("%d null flags for %d rows", len(v.Nulls), n)
	}
	var got int
	switch v.Type {
	case schema.Bool:
		got = len(v.Bools)
	case schema.Int64, schema.Date, schema.Timestamp:
		got = len(v.Ints)
	case schema.Float64:
		got = len(v.Floats)
	default:
		if n == 0 && len(v.Offsets) == 0 {
			return nil
		}
		if len(v.Offsets) != n+1 {
			return fmt.Errorf("%d offsets for %d rows", len(v.Offsets), n)
		}
		if v.Offsets[0] < 0 || int(v.Offsets[n]) > len(v.Bytes) {
			return fmt.Errorf("offsets out of range")
		}
		for i := 0; i < n; i++ {
			if v.Offsets[i] > v.Offsets[i+1] {
				return fmt.Errorf("offsets decrease at row %d", i)
			}
		}
		return nil
	}
	if got != n {
		return fmt.Errorf("%d values for %d rows", got, n)
	}
	return nil
}

func checkValues(b *schema.Batch, c int, f *schema.Field, v *schema.Vector, n int, rules valueRules) error {
	switch v.Type {
	case schema.Date:
		for i := 0; i < n; i++ {
			if !v.Nulls[i] && (v.Ints[i] < rules.minDate || v.Ints[i] > rules.maxDate) {
				return valueErr(b, f, i, fmt.Sprintf("date %d days from 1970-01-01 is out of range", v.Ints[i]))
			}
		}
	case schema.Timestamp:
		for i := 0; i < n; i++ {
			if !v.Nulls[i] && v.Ints[i] < rules.minTimestamp {
				return valueErr(b, f, i, fmt.Sprintf("timestamp %d µs from the epoch is out of range", v.Ints[i]))
			}
		}
	case schema.String, schema.JSON:
		if n == 0 {
			return nil
		}
		data := v.Bytes[v.Offsets[0]:v.Offsets[n]]
		// Fast path over the whole buffer: if it is valid UTF-8 and every
		// row starts at a rune boundary (not on a continuation byte), each
		// row is valid. Otherwise check row by row to find the bad one.
		if !utf8.Valid(data) || !rowsStartOnRunes(v, n) {
			for i := 0; i < n; i++ {
				if !v.Nulls[i] && !utf8.Valid(v.BytesAt(i)) {
					return valueErr(b, f, i, "not valid UTF-8")
				}
			}
		}
		if rules.noNUL && bytes.IndexByte(data, 0) >= 0 {
			for i := 0; i < n; i++ {
				if !v.Nulls[i] && bytes.IndexByte(v.BytesAt(i), 0) >= 0 {
					return valueErr(b, f, i, "contains a NUL byte, which PostgreSQL text cannot store")
				}
			}
		}
		if v.Type == schema.JSON {
			for i := 0; i < n; i++ {
				if v.Nulls[i] {
					continue
				}
				val := v.BytesAt(i)
				if !json.Valid(val) {
					return valueErr(b, f, i, "not a valid JSON document")
				}
				if rules.noNUL && hasNULEscape(val) {
					return valueErr(b, f, i, `contains \u0000, which PostgreSQL jsonb cannot store`)
				}
			}
		}
	}
	return nil
}

// rowsStartOnRunes reports whether no row of a string vector starts with a
// UTF-8 continuation byte.
func rowsStartOnRunes(v *schema.Vector, n int) bool {
	for i := 1; i < n; i++ {
		if o := v.Offsets[i]; int(o) < len(v.Bytes) && o < v.Offsets[n] && v.Bytes[o]&0xC0 == 0x80 {
			return false
		}
	}
	return true
}

// hasNULEscape reports whether a JSON text contains the escape \u0000 (an
// unescaped backslash followed by u0000).
func hasNULEscape(b []byte) bool {
	for i := 0; i < len(b); i++ {
		if b[i] != '\\' {
			continue
		}
		if i+1 < len(b) && b[i+1] == 'u' && i+5 < len(b) && string(b[i+2:i+6]) == "0000" {
			return true
		}
		i++ // skip the escaped character
	}
	return false
}

func valueErr(b *schema.Batch, f *schema.Field, row int, reason string) error {
	var line int64
	if row < len(b.Lines) {
		line = b.Lines[row]
	}
	return &ValueError{Column: f.Name, Line: line, Row: row, Reason: reason}
}
