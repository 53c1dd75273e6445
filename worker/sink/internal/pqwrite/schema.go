package pqwrite

import (
	"fmt"
	"reflect"
	"strings"
	"unicode"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/compress"
	"github.com/parquet-go/parquet-go/encoding"

	"github.com/s3ingest/s3ingest/parsers/schema"
)

// Schema returns the Parquet schema of a file of fields. Columns keep the
// schema's order (parquet.Group would sort them by name), so leaf column i
// of the file is field i of the schema.
//
//	Bool      -> BOOLEAN
//	Int64     -> INT64
//	Float64   -> DOUBLE
//	Date      -> INT32 (DATE)
//	Timestamp -> INT64 (TIMESTAMP(MICROS, isAdjustedToUTC=true))
//	String    -> BYTE_ARRAY (STRING)
//	JSON      -> BYTE_ARRAY (JSON)
//
// Nullable fields are OPTIONAL, the others REQUIRED.
func Schema(fields []schema.Field) *parquet.Schema {
	g := make(orderedGroup, len(fields))
	for i, f := range fields {
		n := parquetLeaf(f.Type)
		if f.Nullable {
			n = parquet.Optional(n)
		} else {
			n = parquet.Required(n)
		}
		g[i] = &orderedField{Node: n, name: f.Name}
	}
	return parquet.NewSchema("s3ingest", g)
}

func parquetLeaf(t schema.Type) parquet.Node {
	switch t {
	case schema.Bool:
		return parquet.Leaf(parquet.BooleanType)
	case schema.Int64:
		return parquet.Leaf(parquet.Int64Type)
	case schema.Float64:
		return parquet.Leaf(parquet.DoubleType)
	case schema.Date:
		return parquet.Date()
	case schema.Timestamp:
		return parquet.Timestamp(parquet.Microsecond)
	case schema.JSON:
		return parquet.JSON()
	default:
		return parquet.String()
	}
}

// orderedGroup is a Parquet group whose fields keep their given order.
type orderedGroup []parquet.Field

var groupType = parquet.Group{}.Type()

func (g orderedGroup) ID() int                                 { return 0 }
func (g orderedGroup) String() string                          { return printNode(g) }
func (g orderedGroup) Type() parquet.Type                      { return groupType }
func (g orderedGroup) Optional() bool                          { return false }
func (g orderedGroup) Repeated() bool                          { return false }
func (g orderedGroup) Required() bool                          { return true }
func (g orderedGroup) Leaf() bool                              { return false }
func (g orderedGroup) Fields() []parquet.Field                 { return g }
func (g orderedGroup) Encoding() encoding.Encoding             { return nil }
func (g orderedGroup) Compression() compress.Codec             { return nil }
func (g orderedGroup) GoType() reflect.Type                    { return goStructOf(g) }
func (f *orderedField) Name() string                           { return f.name }
func (f *orderedField) Value(base reflect.Value) reflect.Value { return fieldValue(base, f.name) }

// orderedField is one named column of an orderedGroup.
type orderedField struct {
	parquet.Node
	name string
}

func printNode(n parquet.Node) string {
	var b strings.Builder
	_ = parquet.PrintSchema(&b, "s3ingest", n)
	return b.String()
}

// goStructOf returns a struct type matching the group (only used by
// parquet-go when converting Go values, which the sink never does).
func goStructOf(g orderedGroup) reflect.Type {
	fields := make([]reflect.StructField, len(g))
	used := make(map[string]bool, len(g))
	for i, f := range g {
		name := goFieldName(f.Name(), i)
		for used[name] {
			name += "_"
		}
		used[name] = true
		fields[i] = reflect.StructField{Name: name, Type: f.GoType()}
	}
	return reflect.StructOf(fields)
}

func goFieldName(name string, i int) string {
	var b strings.Builder
	b.WriteString("F")
	fmt.Fprint(&b, i)
	for _, r := range name {
		if unicode.IsLetter(r) || unicode.IsDigit(r) || r == '_' {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	return b.String()
}

func fieldValue(base reflect.Value, name string) reflect.Value {
	for base.Kind() == reflect.Interface || base.Kind() == reflect.Pointer {
		if base.IsNil() {
			return reflect.Value{}
		}
		base = base.Elem()
	}
	if base.Kind() == reflect.Map {
		return base.MapIndex(reflect.ValueOf(name))
	}
	return reflect.Value{}
}
