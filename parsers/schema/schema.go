// Package schema holds the leaf types shared by parsers, sinks and job
// results: column types, schemas and typed columnar batches.
//
// It imports nothing from the rest of s3ingest, so every layer can use it.
package schema

import (
	"encoding/json"
	"fmt"
	"strings"
)

// Type is the logical type of a column.
//
// Inference widens along the documented order
//
//	Bool -> Int64 -> Float64 -> String
//	Date -> Timestamp -> String
//	JSON -> String
//
// and any two types that are not on one chain widen to String.
type Type uint8

const (
	// String is UTF-8 text. It is the zero value and the widest type.
	String Type = iota
	// Bool is true/false.
	Bool
	// Int64 is a signed 64-bit integer.
	Int64
	// Float64 is an IEEE-754 double.
	Float64
	// Date is a calendar date, stored as days since 1970-01-01 in Vector.Ints.
	Date
	// Timestamp is an instant, stored as microseconds since 1970-01-01T00:00:00Z
	// in Vector.Ints.
	Timestamp
	// JSON is a JSON document kept as text (nested objects beyond the flattening
	// depth, arrays, Parquet lists/maps/structs).
	JSON
)

var typeNames = [...]string{
	String:    "string",
	Bool:      "bool",
	Int64:     "int64",
	Float64:   "float64",
	Date:      "date",
	Timestamp: "timestamp",
	JSON:      "json",
}

// String returns the type's name as used in payloads and results ("int64").
func (t Type) String() string {
	if int(t) < len(typeNames) {
		return typeNames[t]
	}
	return fmt.Sprintf("type(%d)", uint8(t))
}

// ParseType parses a type name as returned by Type.String.
func ParseType(s string) (Type, error) {
	for i, n := range typeNames {
		if strings.EqualFold(s, n) {
			return Type(i), nil
		}
	}
	return String, fmt.Errorf("unknown column type %q (want one of %s)", s, strings.Join(typeNames[:], ", "))
}

// MarshalText implements encoding.TextMarshaler.
func (t Type) MarshalText() ([]byte, error) { return []byte(t.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (t *Type) UnmarshalText(b []byte) error {
	v, err := ParseType(string(b))
	if err != nil {
		return err
	}
	*t = v
	return nil
}

// Field describes one column.
type Field struct {
	// Name is the column name (dotted for flattened JSON objects).
	Name string `json:"name"`
	// Type is the column's logical type.
	Type Type `json:"type"`
	// Nullable reports whether the column may hold nulls.
	Nullable bool `json:"nullable"`
	// Reason explains why inference chose Type, e.g.
	// `int64: 1000 of 1000 sampled values are integers`.
	Reason string `json:"reason,omitempty"`
}

// Schema is an ordered list of fields.
type Schema struct {
	Fields []Field `json:"fields"`
}

// Index returns the position of the named field, or -1.
func (s *Schema) Index(name string) int {
	for i := range s.Fields {
		if s.Fields[i].Name == name {
			return i
		}
	}
	return -1
}

// Names returns the field names in order.
func (s *Schema) Names() []string {
	out := make([]string, len(s.Fields))
	for i, f := range s.Fields {
		out[i] = f.Name
	}
	return out
}

// Equal reports whether two schemas have the same names, types and
// nullability in the same order (reasons are ignored).
func (s *Schema) Equal(o *Schema) bool {
	if s == nil || o == nil {
		return s == o
	}
	if len(s.Fields) != len(o.Fields) {
		return false
	}
	for i := range s.Fields {
		a, b := s.Fields[i], o.Fields[i]
		if a.Name != b.Name || a.Type != b.Type || a.Nullable != b.Nullable {
			return false
		}
	}
	return true
}

// String renders the schema compactly, e.g. "id int64, name string?".
func (s *Schema) String() string {
	var b strings.Builder
	for i, f := range s.Fields {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(f.Name)
		b.WriteByte(' ')
		b.WriteString(f.Type.String())
		if f.Nullable {
			b.WriteByte('?')
		}
	}
	return b.String()
}

// MarshalJSON keeps the wire form a plain list of fields.
func (s *Schema) MarshalJSON() ([]byte, error) {
	if s == nil {
		return []byte("null"), nil
	}
	f := s.Fields
	if f == nil {
		f = []Field{}
	}
	return json.Marshal(f)
}

// UnmarshalJSON reads the form written by MarshalJSON.
func (s *Schema) UnmarshalJSON(b []byte) error {
	return json.Unmarshal(b, &s.Fields)
}
