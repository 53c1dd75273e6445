package parquet

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/parquet-go/parquet-go/deprecated"
	"github.com/parquet-go/parquet-go/format"

	"github.com/s3ingest/s3ingest/parsers/internal/parquetguard"
	"github.com/s3ingest/s3ingest/parsers/internal/shared"
	"github.com/s3ingest/s3ingest/parsers/schema"
)

// Parquet type mapping. Every top-level field of the file becomes one column,
// in file order; the Reason of each schema.Field names the Parquet type it
// came from:
//
//	BOOLEAN                                   -> bool
//	INT32, INT64, INT(8|16|32|64, signed)     -> int64
//	INT(8|16|32, unsigned)                    -> int64
//	INT(64, unsigned)                         -> int64; a value above MaxInt64 is a
//	                                             row-level ErrType error (read the
//	                                             column as string to keep it)
//	FLOAT, DOUBLE, FLOAT16                    -> float64
//	DATE                                      -> date (epoch days)
//	TIMESTAMP(MILLIS|MICROS|NANOS, UTC|local) -> timestamp (epoch µs; nanoseconds
//	                                             are truncated toward -inf; a local,
//	                                             i.e. not adjusted to UTC, wall-clock
//	                                             time is read as if it were UTC)
//	INT96                                     -> timestamp (legacy Impala/Spark)
//	TIME(MILLIS|MICROS)                       -> string "15:04:05.000000"
//	TIME(NANOS)                               -> string "15:04:05.000000000"
//	DECIMAL(p,s) on INT32/INT64/FIXED/BINARY  -> string, the exact decimal text
//	                                             ("-12.30" for unscaled -1230, s=2)
//	STRING, ENUM                              -> string (invalid UTF-8: row error)
//	UUID                                      -> string "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx"
//	JSON                                      -> json (invalid JSON: row error)
//	BYTE_ARRAY, FIXED_LEN_BYTE_ARRAY (no      -> string: UTF-8 text (no control characters
//	logical type)                                but tab, CR, LF) as is, any other value
//	                                             base64 (std) encoded
//	BSON, GEOMETRY, GEOGRAPHY                 -> string, base64 of the bytes (WKB)
//	INTERVAL                                  -> string "P<months>M<days>DT<s.mmm>S"
//	UNKNOWN (NULL logical type)               -> string, always null
//	group, LIST, MAP, repeated field          -> json text of the whole field
//	                                             (see nested.go)
//	VARIANT                                   -> unsupported
//
// An OPTIONAL field is Nullable; a REQUIRED or REPEATED one is not.

// conv says how the values of a leaf column are converted.
type conv uint8

const (
	cvNull conv = iota // UNKNOWN logical type: always null
	cvBool
	cvInt32
	cvUint32
	cvInt64
	cvUint64
	cvFloat
	cvDouble
	cvFloat16
	cvDate
	cvTsMillis
	cvTsMicros
	cvTsNanos
	cvInt96
	cvTimeMillis
	cvTimeMicros
	cvTimeNanos
	cvDecimal32
	cvDecimal64
	cvDecimalBytes // big-endian two's complement, BYTE_ARRAY or FIXED
	cvString       // UTF-8 text (STRING, ENUM)
	cvJSON         // JSON text
	cvBytes        // UTF-8 text as is, other bytes base64
	cvBase64       // always base64
	cvUUID
	cvInterval
)

// leaf is a leaf column of the file (a column chunk per row group).
type leaf struct {
	index  int // leaf index = column chunk index in a row group
	name   string
	path   string // dotted path, for errors
	kind   format.Type
	size   int // FIXED_LEN_BYTE_ARRAY length
	conv   conv
	scale  int // DECIMAL scale
	typ    schema.Type
	reason string
	maxDef byte
	maxRep byte
}

// guardColumn is what parquetguard needs to know about l.
func (l *leaf) guardColumn() parquetguard.Column {
	return parquetguard.Column{Kind: l.kind, Size: l.size, MaxDef: l.maxDef, MaxRep: l.maxRep}
}

type groupKind uint8

const (
	gkStruct groupKind = iota
	gkList
	gkMap
)

// node is a node of the file's schema tree.
type node struct {
	name     string
	el       *format.SchemaElement
	repeated bool
	optional bool
	children []*node
	leaf     *leaf // nil for groups
	group    groupKind
	defLevel int // definition level of a present value of this node
	repLevel int // repetition level of this node
	first    int // first leaf index under the node
	nleaves  int
}

// column is a top-level field of the file, one output column.
type column struct {
	node  *node
	field schema.Field
	flat  bool // a single non-repeated leaf
}

// parseSchema builds the schema tree from the footer's flattened schema. The
// walk mirrors parquet-go's (depth first, children in file order) and checks
// every count, since the footer is untrusted.
func parseSchema(elems []format.SchemaElement) (root *node, leaves []*leaf, err error) {
	if len(elems) == 0 {
		return nil, nil, fmt.Errorf("%w: the footer has no schema", shared.ErrCorrupt)
	}
	next := 0
	var walk func(depth, def, rep int, path string) (*node, error)
	walk = func(depth, def, rep int, path string) (*node, error) {
		if next >= len(elems) {
			return nil, fmt.Errorf("%w: the schema declares more children than it has elements", shared.ErrCorrupt)
		}
		if depth > 64 {
			return nil, fmt.Errorf("%w: schema nested deeper than 64 levels", shared.ErrUnsupported)
		}
		el := &elems[next]
		next++
		n := &node{name: el.Name, el: el, first: len(leaves)}
		if depth > 0 {
			switch r := el.RepetitionType; {
			case !r.Valid || r.V == format.Required:
			case r.V == format.Optional:
				n.optional = true
				def++
			case r.V == format.Repeated:
				n.repeated = true
				def++
				rep++
			default:
				return nil, fmt.Errorf("%w: field %q has repetition type %d", shared.ErrCorrupt, el.Name, r.V)
			}
		}
		if def > 255 || rep > 255 {
			return nil, fmt.Errorf("%w: schema nested too deeply", shared.ErrUnsupported)
		}
		n.defLevel, n.repLevel = def, rep
		name := el.Name
		if path != "" {
			name = path + "." + el.Name
		}
		if depth > 0 && el.Type.Valid {
			l := &leaf{index: len(leaves), name: el.Name, path: name, kind: el.Type.V, maxDef: byte(def), maxRep: byte(rep)}
			if el.TypeLength.Valid {
				l.size = int(el.TypeLength.V)
			}
			if err := mapLeaf(l, el); err != nil {
				return nil, &columnError{column: name, err: err}
			}
			n.leaf = l
			leaves = append(leaves, l)
			n.nleaves = 1
			return n, nil
		}
		if depth > 0 {
			if _, ok := el.LogicalType.Value.(*format.VariantType); ok {
				return nil, &columnError{column: name, err: fmt.Errorf("%w: a VARIANT column", shared.ErrUnsupported)}
			}
			n.group = groupKindOf(el)
		}
		nc := 0
		if el.NumChildren.Valid {
			nc = int(el.NumChildren.V)
		}
		if nc < 0 || nc > len(elems)-next {
			return nil, fmt.Errorf("%w: group %q declares %d children", shared.ErrCorrupt, el.Name, nc)
		}
		if depth > 0 && nc == 0 {
			return nil, fmt.Errorf("%w: group %q has no fields", shared.ErrUnsupported, name)
		}
		n.children = make([]*node, 0, nc)
		childPath := name
		if depth == 0 {
			childPath = ""
		}
		for range nc {
			c, err := walk(depth+1, def, rep, childPath)
			if err != nil {
				return nil, err
			}
			n.children = append(n.children, c)
		}
		n.nleaves = len(leaves) - n.first
		return n, nil
	}
	root, err = walk(0, 0, 0, "")
	if err != nil {
		return nil, nil, err
	}
	if next != len(elems) {
		return nil, nil, fmt.Errorf("%w: the schema has %d elements outside the root", shared.ErrCorrupt, len(elems)-next)
	}
	return root, leaves, nil
}

// columnError is a problem with one column of the schema.
type columnError struct {
	column string
	err    error
}

func (e *columnError) Error() string { return fmt.Sprintf("column %q: %v", e.column, e.err) }
func (e *columnError) Unwrap() error { return e.err }

func groupKindOf(el *format.SchemaElement) groupKind {
	switch el.LogicalType.Value.(type) {
	case *format.ListType:
		return gkList
	case *format.MapType:
		return gkMap
	}
	if el.ConvertedType.Valid {
		switch el.ConvertedType.V {
		case deprecated.List:
			return gkList
		case deprecated.Map, deprecated.MapKeyValue:
			return gkMap
		}
	}
	return gkStruct
}

// columnsOf maps the top-level fields to output columns.
func columnsOf(root *node) []column {
	cols := make([]column, 0, len(root.children))
	seen := make(map[string]int, len(root.children))
	for _, n := range root.children {
		c := column{node: n}
		name := n.name
		if k := seen[name]; k > 0 {
			// Duplicate top-level names are legal Parquet but not a
			// usable table: later ones get a numeric suffix.
			for {
				k++
				cand := name + "_" + strconv.Itoa(k)
				if _, dup := seen[cand]; !dup {
					seen[name] = k
					name = cand
					break
				}
			}
		}
		seen[name]++
		if n.leaf != nil && !n.repeated {
			c.flat = true
			c.field = schema.Field{Name: name, Type: n.leaf.typ, Nullable: n.optional || n.leaf.conv == cvNull, Reason: n.leaf.reason}
		} else {
			c.field = schema.Field{Name: name, Type: schema.JSON, Nullable: n.optional, Reason: "json: " + nestedDesc(n) + ", the whole field as JSON text"}
		}
		if name != n.name {
			c.field.Reason += fmt.Sprintf("; renamed from %q (a duplicate name)", n.name)
		}
		cols = append(cols, c)
	}
	return cols
}

// nestedDesc describes a nested field for its Reason.
func nestedDesc(n *node) string {
	switch {
	case n.leaf != nil:
		return "Parquet repeated " + physical(n.leaf) + logicalSuffix(n.el)
	case n.group == gkList:
		return "Parquet group LIST"
	case n.group == gkMap:
		return "Parquet group MAP"
	case n.repeated:
		return "Parquet repeated group"
	}
	return "Parquet group (struct)"
}

func logicalSuffix(el *format.SchemaElement) string {
	if s := el.LogicalType.String(); s != "" {
		return " " + s
	}
	return ""
}

func physical(l *leaf) string {
	if l.kind == format.FixedLenByteArray {
		return fmt.Sprintf("FIXED_LEN_BYTE_ARRAY(%d)", l.size)
	}
	return l.kind.String()
}

func unitName(u format.TimeUnit) (string, bool) {
	switch u.Value.(type) {
	case *format.MilliSeconds:
		return "MILLIS", true
	case *format.MicroSeconds:
		return "MICROS", true
	case *format.NanoSeconds:
		return "NANOS", true
	}
	return "", false
}

func uTC(utc bool) string {
	if utc {
		return "UTC"
	}
	return "local"
}

// mapLeaf chooses the conversion and the schema type of a leaf column and
// says why in l.reason.
func mapLeaf(l *leaf, el *format.SchemaElement) error {
	phys := physical(l)
	if l.kind == format.FixedLenByteArray && (l.size <= 0 || l.size > 1<<20) {
		return fmt.Errorf("%w: FIXED_LEN_BYTE_ARRAY of length %d", shared.ErrCorrupt, l.size)
	}
	set := func(conv conv, typ schema.Type, desc string) {
		l.conv, l.typ = conv, typ
		l.reason = typ.String() + ": Parquet " + phys
		if desc != "" {
			l.reason += " " + desc
		}
	}
	is := func(kinds ...format.Type) bool {
		for _, k := range kinds {
			if l.kind == k {
				return true
			}
		}
		return false
	}
	ignored := "" // an annotation that does not fit the physical type
	decimal := func(scale, precision int32, desc string) bool {
		if scale < 0 || scale > 1000 || precision <= 0 {
			ignored = desc
			return false
		}
		l.scale = int(scale)
		switch {
		case l.kind == format.Int32:
			set(cvDecimal32, schema.String, desc+", exact decimal text (a float would round)")
		case l.kind == format.Int64:
			set(cvDecimal64, schema.String, desc+", exact decimal text (a float would round)")
		case is(format.ByteArray, format.FixedLenByteArray):
			set(cvDecimalBytes, schema.String, desc+", exact decimal text (a float would round)")
		default:
			ignored = desc
			return false
		}
		return true
	}

	switch lt := el.LogicalType.Value.(type) {
	case *format.StringType, *format.EnumType:
		if is(format.ByteArray, format.FixedLenByteArray) {
			set(cvString, schema.String, lt.String())
			return nil
		}
		ignored = lt.String()
	case *format.JsonType:
		if is(format.ByteArray, format.FixedLenByteArray) {
			set(cvJSON, schema.JSON, "JSON")
			return nil
		}
		ignored = "JSON"
	case *format.BsonType:
		if is(format.ByteArray, format.FixedLenByteArray) {
			set(cvBase64, schema.String, "BSON, base64 text")
			return nil
		}
		ignored = "BSON"
	case *format.GeometryType, *format.GeographyType:
		if is(format.ByteArray, format.FixedLenByteArray) {
			name := "GEOMETRY"
			if _, ok := lt.(*format.GeographyType); ok {
				name = "GEOGRAPHY"
			}
			set(cvBase64, schema.String, name+", WKB as base64 text")
			return nil
		}
		ignored = lt.String()
	case *format.UUIDType:
		if l.kind == format.FixedLenByteArray && l.size == 16 {
			set(cvUUID, schema.String, "UUID, canonical 8-4-4-4-12 text")
			return nil
		}
		ignored = "UUID"
	case *format.Float16Type:
		if l.kind == format.FixedLenByteArray && l.size == 2 {
			set(cvFloat16, schema.Float64, "FLOAT16")
			return nil
		}
		ignored = "FLOAT16"
	case *format.DateType:
		if l.kind == format.Int32 {
			set(cvDate, schema.Date, "DATE")
			return nil
		}
		ignored = "DATE"
	case *format.TimeType:
		unit, ok := unitName(lt.Unit)
		desc := fmt.Sprintf("TIME(%s, %s)", unit, uTC(lt.IsAdjustedToUTC))
		switch {
		case ok && unit == "MILLIS" && l.kind == format.Int32:
			set(cvTimeMillis, schema.String, desc+", as text 15:04:05.000000")
			return nil
		case ok && unit == "MICROS" && l.kind == format.Int64:
			set(cvTimeMicros, schema.String, desc+", as text 15:04:05.000000")
			return nil
		case ok && unit == "NANOS" && l.kind == format.Int64:
			set(cvTimeNanos, schema.String, desc+", as text 15:04:05.000000000")
			return nil
		}
		ignored = desc
	case *format.TimestampType:
		unit, ok := unitName(lt.Unit)
		desc := fmt.Sprintf("TIMESTAMP(%s, %s)", unit, uTC(lt.IsAdjustedToUTC))
		if !lt.IsAdjustedToUTC {
			desc += ", a wall-clock time read as UTC"
		}
		if ok && l.kind == format.Int64 {
			switch unit {
			case "MILLIS":
				set(cvTsMillis, schema.Timestamp, desc)
			case "MICROS":
				set(cvTsMicros, schema.Timestamp, desc)
			case "NANOS":
				set(cvTsNanos, schema.Timestamp, desc+", nanoseconds truncated to microseconds")
			}
			return nil
		}
		ignored = desc
	case *format.IntType:
		desc := fmt.Sprintf("INT(%d, signed)", lt.BitWidth)
		if !lt.IsSigned {
			desc = fmt.Sprintf("INT(%d, unsigned)", lt.BitWidth)
		}
		switch {
		case l.kind == format.Int32 && lt.BitWidth <= 32 && lt.IsSigned:
			set(cvInt32, schema.Int64, desc)
			return nil
		case l.kind == format.Int32 && lt.BitWidth <= 32:
			set(cvUint32, schema.Int64, desc)
			return nil
		case l.kind == format.Int64 && lt.IsSigned:
			set(cvInt64, schema.Int64, desc)
			return nil
		case l.kind == format.Int64:
			set(cvUint64, schema.Int64, desc+fmt.Sprintf("; a value above %d is rejected (read the column as string to keep it)", uint64(math.MaxInt64)))
			return nil
		}
		ignored = desc
	case *format.DecimalType:
		if decimal(lt.Scale, lt.Precision, fmt.Sprintf("DECIMAL(%d, %d)", lt.Precision, lt.Scale)) {
			return nil
		}
	case *format.NullType:
		set(cvNull, schema.String, "UNKNOWN (null) logical type, always null")
		return nil
	case nil:
		// no logical type: the legacy converted type, then the physical type
		if el.ConvertedType.Valid {
			if ok := mapConverted(l, el, set, decimal, is); ok {
				return nil
			}
			ignored = convertedName(el.ConvertedType.V)
		}
	default:
		ignored = lt.String()
	}

	// The physical type alone.
	switch l.kind {
	case format.Boolean:
		set(cvBool, schema.Bool, "")
	case format.Int32:
		set(cvInt32, schema.Int64, "")
	case format.Int64:
		set(cvInt64, schema.Int64, "")
	case format.Int96:
		set(cvInt96, schema.Timestamp, "(legacy Impala/Spark timestamp)")
	case format.Float:
		set(cvFloat, schema.Float64, "")
	case format.Double:
		set(cvDouble, schema.Float64, "")
	case format.ByteArray, format.FixedLenByteArray:
		set(cvBytes, schema.String, "without logical type: UTF-8 text as is, other (binary) values base64-encoded")
	default:
		return fmt.Errorf("%w: invalid physical type %d", shared.ErrCorrupt, l.kind)
	}
	if ignored != "" {
		l.reason += fmt.Sprintf(" (the annotation %s does not fit %s and is ignored)", ignored, phys)
	}
	return nil
}

// mapConverted maps the legacy ConvertedType annotation.
func mapConverted(l *leaf, el *format.SchemaElement, set func(conv, schema.Type, string),
	decimal func(int32, int32, string) bool, is func(...format.Type) bool) bool {
	const legacy = " (legacy converted type)"
	ct := el.ConvertedType.V
	ctName := convertedName(ct)
	name := ctName + legacy
	switch ct {
	case deprecated.UTF8, deprecated.Enum:
		if is(format.ByteArray, format.FixedLenByteArray) {
			set(cvString, schema.String, name)
			return true
		}
	case deprecated.Json:
		if is(format.ByteArray, format.FixedLenByteArray) {
			set(cvJSON, schema.JSON, name)
			return true
		}
	case deprecated.Bson:
		if is(format.ByteArray, format.FixedLenByteArray) {
			set(cvBase64, schema.String, ctName+", base64 text"+legacy)
			return true
		}
	case deprecated.Decimal:
		if el.Scale.Valid && el.Precision.Valid {
			return decimal(el.Scale.V, el.Precision.V, fmt.Sprintf("DECIMAL(%d, %d)%s", el.Precision.V, el.Scale.V, legacy))
		}
		if el.Precision.Valid { // scale defaults to 0
			return decimal(0, el.Precision.V, fmt.Sprintf("DECIMAL(%d, 0)%s", el.Precision.V, legacy))
		}
	case deprecated.Date:
		if l.kind == format.Int32 {
			set(cvDate, schema.Date, name)
			return true
		}
	case deprecated.TimeMillis:
		if l.kind == format.Int32 {
			set(cvTimeMillis, schema.String, ctName+", as text 15:04:05.000000"+legacy)
			return true
		}
	case deprecated.TimeMicros:
		if l.kind == format.Int64 {
			set(cvTimeMicros, schema.String, ctName+", as text 15:04:05.000000"+legacy)
			return true
		}
	case deprecated.TimestampMillis:
		if l.kind == format.Int64 {
			set(cvTsMillis, schema.Timestamp, name)
			return true
		}
	case deprecated.TimestampMicros:
		if l.kind == format.Int64 {
			set(cvTsMicros, schema.Timestamp, name)
			return true
		}
	case deprecated.Int8, deprecated.Int16, deprecated.Int32:
		if l.kind == format.Int32 {
			set(cvInt32, schema.Int64, name)
			return true
		}
	case deprecated.Uint8, deprecated.Uint16, deprecated.Uint32:
		if l.kind == format.Int32 {
			set(cvUint32, schema.Int64, name)
			return true
		}
	case deprecated.Int64:
		if l.kind == format.Int64 {
			set(cvInt64, schema.Int64, name)
			return true
		}
	case deprecated.Uint64:
		if l.kind == format.Int64 {
			set(cvUint64, schema.Int64, name+fmt.Sprintf("; a value above %d is rejected (read the column as string to keep it)", uint64(math.MaxInt64)))
			return true
		}
	case deprecated.Interval:
		if l.kind == format.FixedLenByteArray && l.size == 12 {
			set(cvInterval, schema.String, ctName+", as text P<months>M<days>DT<seconds>S"+legacy)
			return true
		}
	}
	return false
}

// describeType is a short description of a column for error hints.
func describeType(c *column) string {
	r := c.field.Reason
	if i := strings.Index(r, ": "); i >= 0 {
		r = r[i+2:]
	}
	return r
}

var convertedNames = [...]string{
	deprecated.UTF8: "UTF8", deprecated.Map: "MAP", deprecated.MapKeyValue: "MAP_KEY_VALUE",
	deprecated.List: "LIST", deprecated.Enum: "ENUM", deprecated.Decimal: "DECIMAL",
	deprecated.Date: "DATE", deprecated.TimeMillis: "TIME_MILLIS", deprecated.TimeMicros: "TIME_MICROS",
	deprecated.TimestampMillis: "TIMESTAMP_MILLIS", deprecated.TimestampMicros: "TIMESTAMP_MICROS",
	deprecated.Uint8: "UINT_8", deprecated.Uint16: "UINT_16", deprecated.Uint32: "UINT_32",
	deprecated.Uint64: "UINT_64", deprecated.Int8: "INT_8", deprecated.Int16: "INT_16",
	deprecated.Int32: "INT_32", deprecated.Int64: "INT_64", deprecated.Json: "JSON",
	deprecated.Bson: "BSON", deprecated.Interval: "INTERVAL",
}

func convertedName(ct deprecated.ConvertedType) string {
	if ct >= 0 && int(ct) < len(convertedNames) {
		return convertedNames[ct]
	}
	return fmt.Sprintf("converted type %d", ct)
}
